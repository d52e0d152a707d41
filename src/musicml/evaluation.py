"""Classification metrics and bootstrap confidence intervals (pure NumPy / scikit-learn)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from musicml.errors import ConfigError


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def energy_score(logits: np.ndarray) -> np.ndarray:
    """Negative free energy ``logsumexp(logits)``: high for in-distribution inputs."""
    top = logits.max(axis=1)
    return top + np.log(np.exp(logits - top[:, None]).sum(axis=1))


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]) -> dict:
    """Accuracy, macro-F1 and per-class precision / recall / F1 / support.

    Macro averages run over the classes present in ``y_true``: a held-out kit
    without, say, a sidestick cannot score on it either way.
    """
    present = np.unique(y_true)
    if len(y_true):
        precision, recall, f1, support = precision_recall_fscore_support(
            y_true, y_pred, labels=np.arange(len(classes)), zero_division=0)
    else:  # scikit-learn rejects empty input; an empty split scores 0 (events: 0 says why)
        precision = recall = f1 = np.zeros(len(classes))
        support = np.zeros(len(classes), dtype=np.int64)
    return {
        "events": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "macro_f1": float(np.mean(f1[present])) if len(present) else 0.0,
        "macro_recall": float(np.mean(recall[present])) if len(present) else 0.0,
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                   "support": int(support[i])}
            for i, name in enumerate(classes)
        },
    }


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    return confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))


def _macro_f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, present: np.ndarray) -> np.ndarray:
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp, dtype=np.float64), where=denom > 0)
    return (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def bootstrap_ci(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    *,
    classes: Sequence[str],
    iterations: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> dict:
    """Percentile bootstrap CIs for accuracy, macro-F1 and per-class recall.

    Parameters
    ----------
    groups : ndarray, optional
        A session id per event. When given, whole sessions are resampled
        (cluster bootstrap), which respects the correlation of hits in one kit.

    Returns
    -------
    dict
        ``{metric: {"point", "low", "high"}}`` for ``accuracy``, ``macro_f1`` and
        ``recall_<class>``, plus ``iterations``, ``confidence`` and ``cluster``.
    """
    if iterations < 1 or not 0 < confidence < 1:
        raise ConfigError(f"bootstrap needs iterations >= 1 and 0 < confidence < 1, got {iterations}, {confidence}")
    n, k = len(y_true), len(classes)
    rng = np.random.default_rng(seed)
    if groups is None:
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=iterations)  # (iterations, n) resample weights
    else:
        _, group_of = np.unique(groups, return_inverse=True)
        n_groups = group_of.max() + 1
        group_counts = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=iterations)
        counts = group_counts[:, group_of]
    true_onehot = np.eye(k)[y_true]        # (n, k)
    pred_onehot = np.eye(k)[y_pred]
    hit = (y_true == y_pred).astype(np.float64)
    tp = counts @ (true_onehot * hit[:, None])
    support = counts @ true_onehot
    predicted = counts @ pred_onehot
    fn, fp = support - tp, predicted - tp
    present = support > 0
    acc = (counts @ hit) / counts.sum(axis=1)
    macro = _macro_f1_from_counts(tp, fp, fn, present)
    recall = np.divide(tp, support, out=np.full_like(tp, np.nan), where=present)

    alpha = (1 - confidence) / 2
    point = classification_metrics(y_true, y_pred, classes)

    def interval(samples: np.ndarray, value: float) -> dict:
        samples = samples[np.isfinite(samples)]
        if samples.size == 0:
            return {"point": value, "low": None, "high": None}
        low, high = np.quantile(samples, [alpha, 1 - alpha])
        return {"point": value, "low": float(low), "high": float(high)}

    report = {
        "iterations": int(iterations), "confidence": float(confidence), "cluster": groups is not None,
        "accuracy": interval(acc, point["accuracy"]),
        "macro_f1": interval(macro, point["macro_f1"]),
    }
    for i, name in enumerate(classes):
        if point["per_class"][name]["support"]:
            report[f"recall_{name}"] = interval(recall[:, i], point["per_class"][name]["recall"])
    return report


def credit_extra_labels(y_true: np.ndarray, y_pred: np.ndarray, extra: Sequence[Sequence[int]]) -> np.ndarray:
    """Scoring rule for hits that carry extra labels (e.g. two cymbals struck together).

    A prediction that names the primary label *or any extra label* is correct:
    the returned truth takes the predicted class for such hits and keeps the
    primary label otherwise. Training always uses the primary label.
    """
    truth = np.array(y_true, copy=True)
    for i, labels in enumerate(extra):
        if len(labels) and y_pred[i] in labels:
            truth[i] = y_pred[i]
    return truth
