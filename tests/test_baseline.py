"""Unit tests of musicml.drums.baseline: MFCC summaries from stored log-mels, and the estimators."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from sklearn.metrics import f1_score

from musicml.drums.baseline import make_baseline, mfcc_summary
from musicml.errors import ConfigError


def images(n, n_mels=32, n_frames=24, seed=0):
    return np.random.default_rng(seed).random((n, 1, n_mels, n_frames), dtype=np.float32)


@pytest.mark.parametrize("shape", [(5, 1, 32, 24), (5, 32, 24)])
def test_mfcc_summary_shape(shape):
    x = images(5).reshape(shape)
    assert mfcc_summary(x, n_mfcc=20).shape == (5, 80)
    assert mfcc_summary(x, n_mfcc=13).shape == (5, 52)


def test_mfcc_summary_matches_librosa_mfcc():
    x = images(3, seed=1)
    summary = mfcc_summary(x, n_mfcc=20)
    for i in range(3):
        reference = librosa.feature.mfcc(S=x[i, 0], n_mfcc=20)  # DCT-II, ortho, along the mel axis
        assert reference.shape == (20, 24)
        np.testing.assert_allclose(summary[i, :20], reference.mean(axis=1), atol=1e-4)
        np.testing.assert_allclose(summary[i, 20:40], reference.std(axis=1), atol=1e-4)
        np.testing.assert_allclose(summary[i, 40:60], reference.min(axis=1), atol=1e-4)
        np.testing.assert_allclose(summary[i, 60:80], reference.max(axis=1), atol=1e-4)


def test_mfcc_summary_rows_are_independent():
    x = images(4, seed=2)
    np.testing.assert_allclose(mfcc_summary(x)[2], mfcc_summary(x[2:3])[0], atol=1e-6)


def test_make_baseline_unknown_estimator():
    with pytest.raises(ConfigError, match="svm"):
        make_baseline("svm", seed=0)


def separable(n_per_class=30, seed=0):
    """Class 0: energy in low mel bands; class 1: in high bands; class 2: spread evenly."""
    rng = np.random.default_rng(seed)
    x = rng.random((3 * n_per_class, 1, 32, 16), dtype=np.float32) * 0.2
    x[:n_per_class, :, :8] += 0.8
    x[n_per_class:2 * n_per_class, :, -8:] += 0.8
    x[2 * n_per_class:] += 0.4
    y = np.repeat(np.arange(3), n_per_class)
    return x, y


@pytest.mark.parametrize("estimator", ["random_forest", "logistic_regression"])
def test_baselines_learn_a_separable_problem(estimator):
    x_train, y_train = separable(seed=0)
    x_test, y_test = separable(n_per_class=10, seed=1)
    model = make_baseline(estimator, seed=0, n_trees=20)
    model.fit(mfcc_summary(x_train), y_train)
    pred = model.predict(mfcc_summary(x_test))
    assert f1_score(y_test, pred, average="macro") > 0.95


def test_random_forest_is_seeded():
    x, y = separable(seed=3)
    features = mfcc_summary(x)
    a = make_baseline("random_forest", seed=4, n_trees=10).fit(features, y).predict_proba(features[:5])
    b = make_baseline("random_forest", seed=4, n_trees=10).fit(features, y).predict_proba(features[:5])
    np.testing.assert_array_equal(a, b)
    rf = make_baseline("random_forest", seed=4, n_trees=7)
    assert rf.n_estimators == 7 and rf.random_state == 4 and rf.n_jobs == -1
    # It fits on every core, and the forest is the one a single core grows.
    single = make_baseline("random_forest", seed=4, n_trees=10).set_params(n_jobs=1)
    np.testing.assert_array_equal(single.fit(features, y).predict_proba(features[:5]), a)
