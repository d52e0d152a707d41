"""Baselines: each beats its trivial baseline when the data carries signal, and not when it does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from musicml.midi.baselines import classify, evaluate_dataset, next_chord, regress


def test_classifier_beats_majority_on_separable_data_and_stays_at_chance_on_noise():
    rng = np.random.default_rng(0)
    y = np.array(["a", "b", "c"] * 60)
    X = rng.normal(size=(180, 4)) + (np.searchsorted(["a", "b", "c"], y)[:, None] * 3.0)
    res = classify(X[:120], y[:120], X[120:], y[120:], seed=0, trees=20, iterations=200, confidence=0.95)
    assert res["model_macro_f1"] > 0.9 and res["beats_baseline"]
    assert res["majority_macro_f1"] == pytest.approx(1 / 3 * 0.5, abs=0.01)  # one class of three, F1 0.5 on it
    noise = classify(rng.normal(size=(120, 4)), y[:120], rng.normal(size=(60, 4)), y[120:], seed=0, trees=20,
                     iterations=200, confidence=0.95)
    assert noise["model_macro_f1"] < 0.6  # chance is 1/3


def test_regression_metrics_interval_and_trivial_baseline():
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(400, 3))
    y = 0.5 + 0.25 * X[:, 0] + rng.normal(0, 0.01, 400)
    res = regress(X[:300], y[:300], X[300:], y[300:], trivial=np.full(100, y[:300].mean()), trivial_name="mean",
                  seed=0, trees=30, iterations=200, confidence=0.95, interval=0.9)
    assert res["model_mae"] < res["trivial_mae"] and res["beats_baseline"]
    assert res["model_r2"] > 0.9 and res["trivial_r2"] <= 0.05
    assert 0.75 <= res["interval_coverage"] <= 1.0
    assert res["model_mae_ci"][0] <= res["model_mae"] <= res["model_mae_ci"][1]


def _harmony(n, rng):
    rows = []
    cycle = ["C", "Am", "F", "G"]
    for i in range(n):
        shift = int(rng.integers(0, 4))
        chords = [cycle[(shift + k) % 4] for k in range(8)]
        rows.append({"chord_progression": chords, "key": "C", "mode": "major", "emotion": "happy"})
    return pd.DataFrame(rows)


def test_next_chord_learns_a_deterministic_cycle():
    rng = np.random.default_rng(2)
    res = next_chord(_harmony(40, rng), _harmony(10, rng), seed=0, iterations=100, confidence=0.95)
    assert res["model_top1"] == 1.0 and res["bigram_top1"] == 1.0 and res["model_top3"] == 1.0
    assert res["vocabulary"] == 4 and res["n_test"] == 70


def test_evaluate_dataset_reports_heldout_family_and_real_separately():
    rng = np.random.default_rng(3)
    n = 200
    groove = np.array(["straight", "swing"] * (n // 2))
    swing = np.where(groove == "swing", 0.67, 0.5)
    X = np.column_stack([swing + rng.normal(0, 0.01, n), rng.normal(size=n)])
    split = np.array(["train"] * 120 + ["test"] * 80)
    source = np.array(["synth"] * 160 + ["real"] * 40)
    index = pd.DataFrame({"split": split, "source": source, "groove_type": groove, "swing_ratio": swing})
    report = evaluate_dataset("groove", X, ["swing_ratio", "noise"], index, seed=0, trees=20, iterations=100,
                              confidence=0.95)
    assert set(report) == {"heldout_family", "real"}
    assert report["real"]["groove_type"]["n_test"] == 40
    assert report["heldout_family"]["groove_type"]["model_macro_f1"] == 1.0
    assert "rule-measured" in report["heldout_family"]["swing_ratio"]["trivial"]
