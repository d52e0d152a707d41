"""Open-set scores: AUROC, FPR at 95 % TPR, the chosen score, the unknown score predict reports."""

from __future__ import annotations

import numpy as np
import pytest

from musicml.errors import ConfigError, InputError
from musicml.release.openset import better_score, roc_table, score_report, unknown_score


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
