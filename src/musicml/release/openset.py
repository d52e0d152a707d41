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

#: The scores the evaluate stage writes per hit, each high for in-distribution input:
#: two from the logits and two from the penultimate features (:class:`FeatureDensity`, k-NN).
SCORES: tuple[str, ...] = ("max_softmax", "energy", "mahalanobis", "knn")
#: The scores a served (ONNX) model can compute: k-NN needs the training features, so it is measured only.
SERVABLE: tuple[str, ...] = ("max_softmax", "energy", "mahalanobis")


@dataclass(frozen=True)
class FeatureDensity:
    """Class-conditional Gaussians with a shared covariance on penultimate features (Lee et al., 2018).

    The score of a hit is minus its smallest squared Mahalanobis distance to a
    class mean, so it is high for known hits, like the other scores.

    Attributes
    ----------
    means : ndarray, shape (n_seen_classes, dim)
        Mean feature of each class's training hits (classes without any left out).
    precision : ndarray, shape (dim, dim)
        Inverse of the shared (pooled within-class) covariance, shrunk towards
        its mean variance by ``shrinkage`` so that it exists for any data.
    """

    means: np.ndarray
    precision: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, n_classes: int, *,
            shrinkage: float = 1e-3) -> "FeatureDensity":
        """Fit on the known training hits (``labels`` in ``[0, n_classes)``; others, e.g. -1 outliers, are left out).

        A class without training hits gets no mean (a hit is scored against the classes seen).
        """
        features = np.asarray(features, dtype=np.float64)
        labels = np.asarray(labels)
        known = (labels >= 0) & (labels < n_classes)
        present = np.unique(labels[known])
        if len(present) == 0:
            raise InputError("<training features>", "no known-class training hit to fit the feature density on")
        x, y = features[known], labels[known]
        means = np.stack([x[y == c].mean(axis=0) for c in present])
        centred = x - means[np.searchsorted(present, y)]
        cov = centred.T @ centred / len(x)
        dim = cov.shape[0]
        cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / dim * np.eye(dim)
        return cls(means=means, precision=np.linalg.inv(cov))

    def score(self, features: np.ndarray) -> np.ndarray:
        """``-min_c (f - mu_c)^T P (f - mu_c)`` per row of ``features`` (high = known)."""
        f = np.asarray(features, dtype=np.float64)
        # (f - mu)^T P (f - mu) = f^T P f - 2 f^T P mu + mu^T P mu, for all classes at once.
        fp = f @ self.precision
        dist = (np.einsum("ij,ij->i", fp, f)[:, None] - 2.0 * fp @ self.means.T
                + np.einsum("cj,jk,ck->c", self.means, self.precision, self.means)[None, :])
        return -np.maximum(dist, 0.0).min(axis=1)

    def to_dict(self) -> dict:
        """JSON-ready (float32 precision keeps the ONNX metadata small; scores move by < 1e-4 relative)."""
        return {"means": self.means.astype(np.float32).tolist(),
                "precision": self.precision.astype(np.float32).tolist()}

    @classmethod
    def from_dict(cls, doc: dict) -> "FeatureDensity":
        return cls(means=np.asarray(doc["means"], dtype=np.float64),
                   precision=np.asarray(doc["precision"], dtype=np.float64))


def knn_score(features: np.ndarray, bank: np.ndarray, *, k: int = 10, batch_size: int = 1024) -> np.ndarray:
    """Cosine similarity to the ``k``-th nearest row of ``bank`` (training features; Sun et al., 2022).

    High for known hits. ``bank`` rows and ``features`` are L2-normalised here.
    """
    if not 1 <= k <= len(bank):
        raise ConfigError(f"openset: knn_k must be in [1, {len(bank)}] (training hits), got {k}")

    def unit(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.float32)
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)

    bank, features = unit(bank), unit(features)
    out = np.empty(len(features), dtype=np.float64)
    for start in range(0, len(features), batch_size):
        sims = features[start:start + batch_size] @ bank.T
        out[start:start + batch_size] = np.partition(sims, -k, axis=1)[:, -k]
    return out


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
    ``sigmoid(threshold - energy)``. ``mahalanobis`` (minus a squared distance
    ``d``, threshold ``-T``) gives ``d / (d + T)``: 0 at a class mean, towards 1
    far from every class. For both, 0.5 is the operating point at the chosen
    TPR (95 %), so ``unknown_score > 0.5`` means "rejected there".
    """
    scores = np.asarray(scores, dtype=np.float64)
    if score == "max_softmax":
        return 1.0 - scores
    if score == "energy":
        return 1.0 / (1.0 + np.exp(np.clip(scores - threshold, -60.0, 60.0)))
    if score == "mahalanobis":
        dist, at = np.maximum(-scores, 0.0), max(-float(threshold), 1e-12)
        return dist / (dist + at)
    raise ConfigError(f"unknown open-set score '{score}': expected one of {list(SERVABLE)}")
