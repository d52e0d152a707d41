"""Router metrics (exact match, per-label P/R/F1, confusion per category) and the seed's gates."""

from __future__ import annotations

from typing import Any

import numpy as np

from musicml.router.examples import CATEGORIES, LABELS
from musicml.router.models import exact_match

PREDICTED = ("none", "daw", "arranger", "both")


def _predicted_kind(pred: np.ndarray) -> list[str]:
    return [PREDICTED[int(d) + 2 * int(a)] for d, a in np.asarray(pred, bool)]


def score(y: np.ndarray, pred: np.ndarray, categories: list[str]) -> dict[str, Any]:
    """Figures of decisions ``pred`` against labels ``y`` (both ``(n, 2)``).

    ``confusion`` counts, per true category, the predicted label pair (none,
    daw, arranger, both); ``by_category`` gives exact match per category.
    """
    from sklearn.metrics import precision_recall_fscore_support

    y = np.asarray(y, bool)
    pred = np.asarray(pred, bool)
    figures: dict[str, Any] = {"examples": int(len(y)), "exact_match": round(exact_match(y, pred), 5)}
    for k, label in enumerate(LABELS):
        p, r, f, _ = precision_recall_fscore_support(y[:, k], pred[:, k], average="binary", zero_division=0)
        figures[label] = {"precision": round(float(p), 5), "recall": round(float(r), 5), "f1": round(float(f), 5),
                          "support": int(y[:, k].sum())}
    kinds = _predicted_kind(pred)
    categories = list(categories)
    figures["confusion"] = {c: {k: sum(1 for cat, got in zip(categories, kinds) if cat == c and got == k)
                                for k in PREDICTED} for c in CATEGORIES if c in categories}
    figures["by_category"] = {}
    for c in CATEGORIES:
        mask = np.array([cat == c for cat in categories])
        if mask.any():
            figures["by_category"][c] = round(exact_match(y[mask], pred[mask]), 5)
    return figures


def gates(figures: dict[str, Any], *, min_accuracy: float, min_precision: float, min_recall: float,
          min_f1: float) -> list[dict[str, Any]]:
    """The seed's gates (accuracy, per-label precision, recall and F1) on one set of figures."""
    results = [{"gate": "accuracy", "value": figures["exact_match"], "threshold": min_accuracy,
                "passed": figures["exact_match"] > min_accuracy}]
    for label in LABELS:
        for metric, floor in (("precision", min_precision), ("recall", min_recall), ("f1", min_f1)):
            value = figures[label][metric]
            results.append({"gate": f"{label}_{metric}", "value": value, "threshold": floor, "passed": value > floor})
    for gate in results:
        gate["message"] = f"{gate['gate']} {gate['value']:.4f} {'>' if gate['passed'] else '<='} {gate['threshold']}"
    return results
