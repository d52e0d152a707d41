"""Open-set scores: AUROC, FPR at 95 % TPR, the chosen score, the unknown score predict reports."""

from __future__ import annotations

import numpy as np
import pytest

from musicml.errors import ConfigError, InputError
from musicml.release.openset import FeatureDensity, better_score, knn_score, roc_table, score_report, unknown_score


def test_separable_scores_are_perfect():
    rep = score_report(np.array([5.0, 6.0, 7.0]), np.array([1.0, 2.0]))
    assert rep.auroc == 1.0 and rep.fpr_at_tpr == 0.0
    assert 2.0 < rep.threshold <= 5.0


def test_fpr_at_95_tpr_counts_unknowns_above_the_threshold():
    # 20 known scores 1..20; the threshold that keeps 19/20 (95 %) is 2.
    known = np.arange(1, 21, dtype=float)
    unknown = np.array([0.5, 1.5, 2.5, 3.5])  # 2.5 and 3.5 pass a threshold of 2 -> FPR 2/4
    rep = score_report(known, unknown)
    assert rep.threshold == 2.0
    assert rep.fpr_at_tpr == pytest.approx(0.5)
    # AUROC = P(known > unknown): pairs with known > unknown.
    wins = sum((k > u) for k in known for u in unknown)
    assert rep.auroc == pytest.approx(wins / (len(known) * len(unknown)))


def test_inverted_score_has_low_auroc():
    rep = score_report(np.array([0.1, 0.2]), np.array([0.8, 0.9]))
    assert rep.auroc == 0.0 and rep.fpr_at_tpr == 1.0


def test_better_score_is_the_higher_auroc_then_lower_fpr():
    good = score_report(np.array([3.0, 4.0]), np.array([1.0, 2.0]))
    bad = score_report(np.array([1.0, 4.0]), np.array([2.0, 3.0]))
    assert better_score({"max_softmax": bad, "energy": good}) == "energy"
    assert better_score({"max_softmax": good, "energy": bad}) == "max_softmax"
    assert better_score({"energy": good, "max_softmax": good}) == "energy"  # tie: name order


def test_roc_table_is_a_monotone_curve_on_one_grid():
    rng = np.random.default_rng(0)
    reports = {"a": score_report(rng.normal(1, 1, 200), rng.normal(0, 1, 100)),
               "b": score_report(rng.normal(2, 1, 200), rng.normal(0, 1, 100))}
    table = roc_table(reports, points=11)
    assert list(table) == ["fpr", "tpr_a", "tpr_b"]
    assert len(table["fpr"]) == 11 and table["fpr"][0] == 0 and table["fpr"][-1] == 1
    for name in ("tpr_a", "tpr_b"):
        assert np.all(np.diff(table[name]) >= 0) and table[name][-1] == 1.0
    assert table["tpr_b"].mean() > table["tpr_a"].mean()  # the better separated score dominates


def test_unknown_score_maps_to_unit_interval():
    assert unknown_score(np.array([0.9, 0.2]), score="max_softmax", threshold=None) == pytest.approx([0.1, 0.8])
    u = unknown_score(np.array([10.0, 3.0, -5.0]), score="energy", threshold=3.0)
    assert u[1] == pytest.approx(0.5) and u[0] < 0.01 and u[2] > 0.99  # high energy = known = low unknown score
    with pytest.raises(ConfigError):
        unknown_score(np.zeros(1), score="entropy", threshold=0.0)


def test_empty_or_non_finite_input_is_a_clear_error():
    with pytest.raises(InputError, match="0 unknown"):
        score_report(np.ones(3), np.array([]), origin="preds.parquet")
    with pytest.raises(InputError, match="non-finite"):
        score_report(np.array([1.0, np.nan]), np.ones(2))
    with pytest.raises(ConfigError):
        score_report(np.ones(2), np.ones(2), tpr_target=0)


def test_feature_density_scores_class_means_highest_and_far_points_lowest():
    rng = np.random.default_rng(0)
    means = np.array([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]])
    labels = np.repeat([0, 1, -1], 500)
    x = np.concatenate([means[0] + rng.normal(0, 1, (500, 3)), means[1] + rng.normal(0, 1, (500, 3)),
                        rng.normal(0, 1, (500, 3)) + [0, 0, 50]])  # outliers (-1) are left out of the fit
    density = FeatureDensity.fit(x, labels, 2)
    np.testing.assert_allclose(density.means, means, atol=0.3)
    # Unit within-class covariance: the precision is about the identity, the score minus a squared distance.
    np.testing.assert_allclose(density.precision, np.eye(3), atol=0.2)
    s = density.score(np.array([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 9.0]]))
    assert s[0] == pytest.approx(0.0, abs=0.2) and s[1] == pytest.approx(0.0, abs=0.2)
    assert s[2] == pytest.approx(-9.0, rel=0.2) and s[3] < -50
    # The dict round trip (float32) scores the same.
    again = FeatureDensity.from_dict(density.to_dict()).score(x[:5])
    np.testing.assert_allclose(again, density.score(x[:5]), rtol=1e-4)


def test_feature_density_scores_against_the_classes_seen_and_needs_one():
    x = np.array([[0.0, 0.0], [0.0, 0.2], [4.0, 4.0], [4.0, 4.2]])
    density = FeatureDensity.fit(x, np.array([0, 0, 2, 2]), 3, shrinkage=0.5)  # class 1 has no hit
    assert density.means.shape == (2, 2)
    np.testing.assert_allclose(density.means, [[0.0, 0.1], [4.0, 4.1]])
    with pytest.raises(InputError, match="no known-class training hit"):
        FeatureDensity.fit(x, -np.ones(4, int), 3)


def test_knn_score_is_cosine_similarity_to_the_kth_neighbour():
    bank = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, -3.0]])
    s = knn_score(np.array([[5.0, 0.0], [1.0, 1.0]]), bank, k=2)
    assert s[0] == pytest.approx(1.0)  # two bank rows point the same way
    assert s[1] == pytest.approx(np.sqrt(0.5))
    with pytest.raises(ConfigError, match="knn_k"):
        knn_score(np.ones((1, 2)), bank, k=5)


def test_mahalanobis_unknown_score_is_half_at_the_threshold_distance():
    u = unknown_score(np.array([0.0, -4.0, -12.0]), score="mahalanobis", threshold=-4.0)
    assert u == pytest.approx([0.0, 0.5, 0.75])
