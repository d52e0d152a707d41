"""Open-set rejection: how well a score separates known-class hits from unknown percussion.

Convention: a score is *high for known* hits (in-distribution). Known hits are
the positives, so the true-positive rate is the share of known hits accepted
and the false-positive rate the share of unknown hits accepted at the same
threshold. "FPR at 95 % TPR" is the share of unknowns still accepted when the
threshold keeps 95 % of the known hits (lower is better).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from musicml.errors import ConfigError, InputError

#: The scores the evaluate stage writes per hit, each high for in-distribution input.
SCORES: tuple[str, ...] = ("max_softmax", "energy")


@dataclass(frozen=True)
class ScoreReport:
    """Open-set figures of one score.

    Attributes
    ----------
    auroc : float
        Area under the ROC curve (known = positive).
    fpr_at_tpr : float
        False-positive rate at the first threshold whose TPR reaches ``tpr_target``.
    threshold : float
        That threshold: a hit whose score is >= it counts as known.
    fpr, tpr : ndarray
        The ROC curve (scikit-learn's points, increasing FPR).
    """

    auroc: float
    fpr_at_tpr: float
    threshold: float
    fpr: np.ndarray
    tpr: np.ndarray


def score_report(known: np.ndarray, unknown: np.ndarray, *, tpr_target: float = 0.95,
                 origin: str = "<scores>") -> ScoreReport:
    """AUROC, FPR at ``tpr_target`` and the ROC curve of one score.

    Parameters
    ----------
    known, unknown : ndarray, shape (n,), (m,)
        The score of each known-class and each unknown hit (high = known).
    tpr_target : float
        TPR at which the FPR is read (0.95 for FPR@95).
    origin : str
        Named in errors (the predictions file).
    """
    if not 0 < tpr_target <= 1:
        raise ConfigError(f"openset: tpr_target must be in (0, 1], got {tpr_target}")
    known, unknown = np.asarray(known, dtype=np.float64), np.asarray(unknown, dtype=np.float64)
    if known.size == 0 or unknown.size == 0:
        raise InputError(origin, f"open-set evaluation needs known and unknown hits, got {known.size} known "
                                 f"(split test) and {unknown.size} unknown (split openset)")
    for name, values in (("known", known), ("unknown", unknown)):
        if not np.isfinite(values).all():
            raise InputError(origin, f"non-finite score among the {name} hits")
    y = np.concatenate([np.ones(known.size), np.zeros(unknown.size)])
    s = np.concatenate([known, unknown])
    fpr, tpr, thresholds = roc_curve(y, s, drop_intermediate=False)
    first = int(np.argmax(tpr >= tpr_target - 1e-12))  # tpr ends at 1.0, so some index qualifies
    return ScoreReport(auroc=float(roc_auc_score(y, s)), fpr_at_tpr=float(fpr[first]),
                       threshold=float(thresholds[first]), fpr=fpr, tpr=tpr)


def better_score(reports: dict[str, ScoreReport]) -> str:
    """The score to reject unknowns with: highest AUROC, then lowest FPR@TPR, then name order."""
    return min(reports, key=lambda name: (-reports[name].auroc, reports[name].fpr_at_tpr, name))


def roc_table(reports: dict[str, ScoreReport], *, points: int = 101) -> dict[str, np.ndarray]:
    """ROC curves on one FPR grid (for a single plot of all scores).

    Returns ``{"fpr": grid, "tpr_<score>": tpr at each grid FPR}``; the TPR at an
    FPR is the best TPR reached at or below it (a step curve, as ROC is).
    """
    grid = np.linspace(0.0, 1.0, points)
    table = {"fpr": grid}
    for name, rep in reports.items():
        idx = np.searchsorted(rep.fpr, grid, side="right") - 1
        table[f"tpr_{name}"] = np.where(idx >= 0, np.maximum.accumulate(rep.tpr)[np.maximum(idx, 0)], 0.0)
    return table


def unknown_score(scores: np.ndarray, *, score: str, threshold: float) -> np.ndarray:
    """Map a known-ness score to an unknown score in [0, 1] (high = probably not a known class).

    ``max_softmax`` gives ``1 - p`` (already a probability). ``energy`` is
    unbounded, so it is centred on the open-set threshold and squashed:
    ``sigmoid(threshold - energy)``; 0.5 is the FPR@95 operating point, so
    ``unknown_score > 0.5`` means "rejected at 95 % TPR" for energy.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if score == "max_softmax":
        return 1.0 - scores
    if score == "energy":
        return 1.0 / (1.0 + np.exp(np.clip(scores - threshold, -60.0, 60.0)))
    raise ConfigError(f"unknown open-set score '{score}': expected one of {list(SCORES)}")
