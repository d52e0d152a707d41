"""Unit tests of musicml.evaluation: metrics, bootstrap intervals, extra-label credit, scores."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from musicml.errors import ConfigError
from musicml.evaluation import (
    bootstrap_ci,
    classification_metrics,
    confusion,
    credit_extra_labels,
    energy_score,
    softmax,
)

CLASSES = ["kick", "snare", "hihat"]


def test_classification_metrics_hand_computed():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    m = classification_metrics(y_true, y_pred, CLASSES)
    # kick: P 2/2, R 2/3, F1 0.8 ; snare: P 1/2, R 1/2, F1 0.5 ; hihat: P 1/2, R 1/1, F1 2/3
    assert m["events"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["kick"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8),
                                      "support": 3}
    assert m["per_class"]["snare"]["f1"] == pytest.approx(0.5)
    assert m["per_class"]["hihat"]["precision"] == pytest.approx(0.5)
    assert m["per_class"]["hihat"]["f1"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["macro_recall"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)


def test_macro_runs_over_classes_present_in_truth():
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 0, 1, 1])
    m = classification_metrics(y_true, y_pred, CLASSES + ["ride"])
    assert m["macro_f1"] == 1.0 and m["macro_recall"] == 1.0  # hihat and ride absent: not counted as 0
    assert m["per_class"]["ride"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # A class predicted but absent from the truth lowers precision of nothing present, but accuracy.
    m2 = classification_metrics(y_true, np.array([0, 2, 1, 1]), CLASSES)
    assert m2["macro_f1"] == pytest.approx((2 / 3 + 1.0) / 2)


def test_metrics_of_nothing():
    m = classification_metrics(np.array([], dtype=int), np.array([], dtype=int), CLASSES)
    assert m["events"] == 0 and m["accuracy"] == 0.0 and m["macro_f1"] == 0.0


def test_confusion_has_all_classes():
    c = confusion(np.array([0, 1]), np.array([1, 1]), 3)
    np.testing.assert_array_equal(c, [[0, 1, 0], [0, 1, 0], [0, 0, 0]])


def noisy_predictions(n, accuracy, seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 3, size=n)
    wrong = rng.random(n) > accuracy
    y_pred = np.where(wrong, (y_true + 1) % 3, y_true)
    return y_true, y_pred


def test_bootstrap_contains_point_estimates():
    y_true, y_pred = noisy_predictions(300, 0.8, 0)
    ci = bootstrap_ci(y_true, y_pred, classes=CLASSES, iterations=300, seed=1)
    point = classification_metrics(y_true, y_pred, CLASSES)
    assert ci["iterations"] == 300 and ci["confidence"] == 0.95 and ci["cluster"] is False
    assert ci["accuracy"]["point"] == point["accuracy"]
    assert ci["macro_f1"]["point"] == point["macro_f1"]
    for key in ("accuracy", "macro_f1", "recall_kick", "recall_snare", "recall_hihat"):
        assert ci[key]["low"] < ci[key]["point"] < ci[key]["high"], key
    # A 95 % interval of accuracy at n=300 and p=0.8 is about +-0.045.
    assert 0.06 < ci["accuracy"]["high"] - ci["accuracy"]["low"] < 0.12


def test_bootstrap_omits_recall_of_absent_class():
    y_true, y_pred = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    ci = bootstrap_ci(y_true, y_pred, classes=CLASSES, iterations=50, seed=0)
    assert "recall_hihat" not in ci and "recall_kick" in ci


def test_bootstrap_deterministic_per_seed():
    y_true, y_pred = noisy_predictions(100, 0.7, 3)
    a = bootstrap_ci(y_true, y_pred, classes=CLASSES, iterations=200, seed=5)
    b = bootstrap_ci(y_true, y_pred, classes=CLASSES, iterations=200, seed=5)
    c = bootstrap_ci(y_true, y_pred, classes=CLASSES, iterations=200, seed=6)
    assert a == b
    assert a["macro_f1"] != c["macro_f1"]


def test_bootstrap_interval_shrinks_with_more_data():
    small = bootstrap_ci(*noisy_predictions(100, 0.75, 0), classes=CLASSES, iterations=400, seed=0)
    large = bootstrap_ci(*noisy_predictions(3000, 0.75, 0), classes=CLASSES, iterations=400, seed=0)
    width = lambda ci, k: ci[k]["high"] - ci[k]["low"]  # noqa: E731
    assert width(large, "accuracy") < 0.4 * width(small, "accuracy")
    assert width(large, "macro_f1") < 0.4 * width(small, "macro_f1")


def test_cluster_bootstrap_is_wider_on_correlated_sessions():
    # 20 sessions of 30 hits: whole sessions are right or wrong together.
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(20), 30)
    session_good = rng.random(20) < 0.6
    y_true = rng.integers(0, 3, size=groups.size)
    y_pred = np.where(session_good[groups], y_true, (y_true + 1) % 3)
    plain = bootstrap_ci(y_true, y_pred, classes=CLASSES, iterations=500, seed=2)
    cluster = bootstrap_ci(y_true, y_pred, classes=CLASSES, iterations=500, seed=2, groups=groups)
    assert cluster["cluster"] is True
    assert cluster["accuracy"]["point"] == plain["accuracy"]["point"]
    width = lambda ci: ci["accuracy"]["high"] - ci["accuracy"]["low"]  # noqa: E731
    assert width(cluster) >= 2 * width(plain)


def test_cluster_bootstrap_accepts_string_groups():
    y_true, y_pred = noisy_predictions(60, 0.8, 1)
    groups = np.array([f"kit{i % 6}" for i in range(60)])
    ci = bootstrap_ci(y_true, y_pred, classes=CLASSES, iterations=100, seed=0, groups=groups)
    assert ci["accuracy"]["low"] <= ci["accuracy"]["point"] <= ci["accuracy"]["high"]


@pytest.mark.parametrize("kwargs", [{"iterations": 0}, {"confidence": 1.0}, {"confidence": 0.0},
                                    {"confidence": -0.5}])
def test_bootstrap_bad_arguments(kwargs):
    with pytest.raises(ConfigError):
        bootstrap_ci(np.array([0, 1]), np.array([0, 1]), classes=CLASSES, **kwargs)


def test_bootstrap_confidence_controls_width():
    y_true, y_pred = noisy_predictions(200, 0.7, 4)
    wide = bootstrap_ci(y_true, y_pred, classes=CLASSES, iterations=400, seed=0, confidence=0.99)
    narrow = bootstrap_ci(y_true, y_pred, classes=CLASSES, iterations=400, seed=0, confidence=0.5)
    assert wide["accuracy"]["high"] - wide["accuracy"]["low"] > narrow["accuracy"]["high"] - narrow["accuracy"]["low"]


def test_credit_extra_labels():
    y_true = np.array([0, 1, 2, 1])
    y_pred = np.array([2, 2, 0, 0])
    extra = [[2], [], [1], [0, 2]]
    truth = credit_extra_labels(y_true, y_pred, extra)
    # Row 0: predicted an extra label -> credited; row 1: no extras; row 2: wrong extra; row 3: credited.
    np.testing.assert_array_equal(truth, [2, 1, 2, 0])
    np.testing.assert_array_equal(y_true, [0, 1, 2, 1])  # input untouched


def test_softmax_rows_sum_to_one_and_are_stable():
    logits = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, -1000.0]])
    p = softmax(logits)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_allclose(p[0], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())
    np.testing.assert_allclose(p[1], [0.5, 0.5, 0.0], atol=1e-12)
    np.testing.assert_allclose(softmax(logits + 7.0), p)  # shift invariance


def test_energy_score_is_logsumexp():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 4)) * 10
    np.testing.assert_allclose(energy_score(logits), logsumexp(logits, axis=1))
    assert np.isfinite(energy_score(np.array([[1e4, 0.0]]))).all()
    # A confident (peaked) row scores higher than a flat one of the same max.
    assert energy_score(np.array([[5.0, 5.0, 5.0]]))[0] > energy_score(np.array([[5.0, -5.0, -5.0]]))[0]
