"""Baselines: each beats its trivial baseline when the data carries signal, and not when it does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from musicml.errors import ConfigError, InputError
from musicml.midi.baselines import (
    calibration_groups, classify, conformal_interval, evaluate_dataset, interval_floors, load_fits, next_chord, regress,
    save_fits, score_dataset, train_dataset,
)


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
    assert 0.8 <= res["interval_coverage"] <= 1.0
    assert 0 < res["interval_mean_width"] < 0.1  # noise sd 0.01: a tight band
    assert "absolute residuals" in res["interval_method"] and "by sample" in res["interval_calibration"]
    assert res["model_mae_ci"][0] <= res["model_mae"] <= res["model_mae_ci"][1]


def _families(n_families, per_family, rng, *, family_sd):
    """Samples in families: y = smooth function of x0 + a family offset + Gaussian noise (sd 0.05).

    Each family sits in its own region of x1, so a model can learn the offsets of the
    families it saw but not guess those of new ones: a family shift, as between generator families.
    """
    fam = np.repeat(np.arange(n_families), per_family)
    centre = rng.uniform(0, 10, n_families)
    offset = rng.normal(0, family_sd, n_families)
    X = np.column_stack([rng.uniform(size=len(fam)), centre[fam] + rng.normal(0, 0.05, len(fam))])
    y = np.sin(3 * X[:, 0]) + offset[fam] + rng.normal(0, 0.05, len(fam))
    return X, y, fam.astype(str)


def test_conformal_interval_covers_90_percent_on_data_with_known_noise():
    rng = np.random.default_rng(4)
    X_tr, y_tr, g_tr = _families(10, 40, rng, family_sd=0.0)
    X_te, y_te, _ = _families(20, 50, rng, family_sd=0.0)
    band = conformal_interval(X_tr, y_tr, g_tr, X_te, interval=0.9, seed=0, trees=30)
    coverage = np.mean((y_te >= band["low"]) & (y_te <= band["high"]))
    assert abs(coverage - 0.9) <= 0.04
    assert np.all(band["low"] <= band["high"])
    # Gaussian noise of sd 0.05: the ideal 90 % band is 2 x 1.645 x 0.05 = 0.16 wide.
    assert 0.12 <= np.mean(band["high"] - band["low"]) <= 0.3
    assert band["folds"] == 5 and band["n_calibration"] == 400


def test_family_calibration_covers_unseen_families_where_sample_calibration_does_not():
    rng = np.random.default_rng(5)
    X_tr, y_tr, g_tr = _families(40, 10, rng, family_sd=0.3)
    X_te, y_te, _ = _families(60, 20, rng, family_sd=0.3)
    by_family = conformal_interval(X_tr, y_tr, g_tr, X_te, interval=0.9, seed=0, trees=30)
    by_sample = conformal_interval(X_tr, y_tr, np.arange(len(y_tr)).astype(str), X_te, interval=0.9, seed=0,
                                   trees=30)
    cover = {name: np.mean((y_te >= b["low"]) & (y_te <= b["high"])) for name, b in
             (("family", by_family), ("sample", by_sample))}
    assert abs(cover["family"] - 0.9) <= 0.06
    assert cover["sample"] < 0.8  # calibrated on seen families, blind to the shift
    assert by_family["q"] > by_sample["q"]


def test_conformal_interval_needs_two_groups_and_never_turns_inside_out():
    X = np.linspace(0, 1, 40)[:, None]
    y = np.where(X[:, 0] > 0.5, 0.67, 0.5)  # exact, discrete labels (swing ratio): scores are negative
    with pytest.raises(ValueError, match="two groups"):
        conformal_interval(X, y, ["a"] * 40, X, interval=0.9, seed=0)
    with pytest.raises(ValueError, match="unknown method"):
        conformal_interval(X, y, np.arange(40) % 4, X, interval=0.9, seed=0, method="ensemble")
    band = conformal_interval(X, y, np.arange(40) % 4, X, interval=0.9, seed=0, method="quantile")
    assert np.all(band["low"] <= band["high"])
    assert np.mean((y >= band["low"]) & (y <= band["high"])) >= 0.9


def _grid_labels(n, rng):
    """Swing-like labels on three grid values, with a feature that gives them away: the forest is exact."""
    y = rng.choice([0.5, 0.67, 0.75], size=n)
    return np.column_stack([y * 10, rng.normal(size=n)]), y


def test_exact_grid_labels_give_a_zero_quantile_and_the_floor_keeps_the_band_open():
    rng = np.random.default_rng(6)
    X_tr, y_tr = _grid_labels(120, rng)
    X_te, y_te = _grid_labels(40, rng)
    groups = np.arange(120) % 4
    bare = conformal_interval(X_tr, y_tr, groups, X_te, interval=0.9, seed=0, trees=20)
    assert bare["q"] == 0.0 and np.all(bare["high"] == bare["low"])  # the degenerate band of the old behaviour
    # A test label off by less than the measurement resolution (swing within 0.02) is missed without a floor ...
    y_off = y_te + 0.01
    assert np.mean((y_off >= bare["low"]) & (y_off <= bare["high"])) == 0.0
    floored = conformal_interval(X_tr, y_tr, groups, X_te, interval=0.9, seed=0, trees=20, floor=0.02)
    # ... and covered with it: every band is exactly +/-0.02 around the (exact) prediction.
    assert floored["q"] == 0.0 and floored["floored"] == 1.0
    np.testing.assert_allclose(floored["high"] - floored["low"], 0.04)
    np.testing.assert_allclose((floored["high"] + floored["low"]) / 2, bare["low"])
    assert np.all((y_off >= floored["low"]) & (y_off <= floored["high"]))
    with pytest.raises(ValueError, match="floor"):
        conformal_interval(X_tr, y_tr, groups, X_te, interval=0.9, seed=0, trees=20, floor=-0.01)


def test_floor_leaves_bands_wider_than_it_alone():
    rng = np.random.default_rng(4)
    X_tr, y_tr, g_tr = _families(6, 30, rng, family_sd=0.0)
    X_te, _, _ = _families(4, 10, rng, family_sd=0.0)
    kwargs = {"interval": 0.9, "seed": 0, "trees": 20}
    bare = conformal_interval(X_tr, y_tr, g_tr, X_te, **kwargs)
    floored = conformal_interval(X_tr, y_tr, g_tr, X_te, floor=0.01, **kwargs)
    assert bare["q"] > 0.01 and floored["floored"] == 0.0  # noise sd 0.05: q ~0.08, far above the floor
    np.testing.assert_array_equal(bare["low"], floored["low"])
    np.testing.assert_array_equal(bare["high"], floored["high"])


def test_interval_floors_are_checked():
    assert interval_floors(None) == {}
    assert interval_floors({"swing_ratio": 0.02, "valence": 0}) == {"swing_ratio": 0.02, "valence": 0.0}
    for bad, match in (({"swing": 0.02}, "interval_floor.swing: not a regression target"),
                       ({"swing_ratio": -0.1}, "expected a number >= 0"),
                       ({"swing_ratio": "wide"}, "expected a number >= 0"),
                       ([0.02], "must be a mapping")):
        with pytest.raises(ConfigError, match=match):
            interval_floors(bad)


def test_calibration_groups_are_families_when_there_are_two():
    index = pd.DataFrame({"family": ["a", "a", "b"], "origin": ["o1", "o2", "o3"]})
    assert calibration_groups(index)[1] == "family"
    assert list(calibration_groups(index.assign(family="a"))[0]) == ["o1", "o2", "o3"]


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


def _groove_frame():
    rng = np.random.default_rng(3)
    n = 200
    groove = np.array(["straight", "swing"] * (n // 2))
    swing = np.where(groove == "swing", 0.67, 0.5)
    X = np.column_stack([swing + rng.normal(0, 0.01, n), rng.normal(size=n)])
    split = np.array(["train"] * 120 + ["test"] * 80)
    source = np.array(["synth"] * 160 + ["real"] * 40)
    index = pd.DataFrame({"split": split, "source": source, "groove_type": groove, "swing_ratio": swing,
                          "family": np.array(["rock", "funk", "ride"])[np.arange(n) % 3],
                          "origin": [f"o{i}" for i in range(n)]})
    return X, index


def test_evaluate_dataset_reports_heldout_family_and_real_separately():
    X, index = _groove_frame()
    report = evaluate_dataset("groove", X, ["swing_ratio", "noise"], index, seed=0, trees=20, iterations=100,
                              confidence=0.95)
    assert set(report) == {"heldout_family", "real"}
    assert report["real"]["groove_type"]["n_test"] == 40
    assert report["heldout_family"]["groove_type"]["model_macro_f1"] == 1.0
    assert "rule-measured" in report["heldout_family"]["swing_ratio"]["trivial"]
    assert "by family (3 folds" in report["heldout_family"]["swing_ratio"]["interval_calibration"]
    swing = report["heldout_family"]["swing_ratio"]
    assert swing["interval_floor"] == 0.0  # no floor unless configured
    floored = evaluate_dataset("groove", X, ["swing_ratio", "noise"], index, seed=0, trees=20, iterations=100,
                               confidence=0.95, interval_floor={"swing_ratio": 0.02})["heldout_family"]["swing_ratio"]
    assert floored["interval_floor"] == 0.02 and floored["interval_mean_width"] >= 0.04
    assert floored["interval_mean_width"] >= swing["interval_mean_width"]


def test_saved_fits_score_exactly_as_the_fitted_ones_and_need_no_refit(tmp_path):
    X, index = _groove_frame()
    names = ["swing_ratio", "noise"]
    fits = train_dataset("groove", X, names, index, seed=0, trees=20, interval_floor={"swing_ratio": 0.02})
    assert set(fits) == {"groove_type", "swing_ratio"}
    save_fits({"groove": fits}, tmp_path / "models")
    loaded = load_fits(tmp_path / "models", "groove")
    kwargs = {"seed": 0, "iterations": 100, "confidence": 0.95}
    assert score_dataset("groove", loaded, X, names, index, **kwargs) == \
        score_dataset("groove", fits, X, names, index, **kwargs)
    # Scoring uses the saved models only: test labels changed after training change the score, not the fit.
    shuffled = index.assign(groove_type=index["groove_type"].where(index["split"] == "train", "straight"))
    report = score_dataset("groove", loaded, X, names, shuffled, **kwargs)["heldout_family"]["groove_type"]
    assert report["model_accuracy"] == pytest.approx(0.5) and report["n_train"] == 120
    with pytest.raises(InputError, match="midi_train"):
        load_fits(tmp_path / "models", "melody")
