"""The two router models and their decision thresholds.

* :func:`fit_baseline`: TF-IDF (word 1-2-grams + character 2-5-grams) and one
  logistic regression per label.
* :class:`Head`: a small multi-label MLP over MiniLM sentence embeddings,
  trained with BCE weighted by each example's confidence.

Both give per-label probabilities, shape ``(n, 2)`` in :data:`LABELS` order;
:func:`tune_thresholds` picks each label's threshold on validation data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from musicml.router.examples import LABELS
from musicml.config import scalar_config


def fit_baseline(texts: list[str], y: np.ndarray, *, c: float, seed: int, sample_weight: np.ndarray | None = None):
    """TF-IDF + logistic regression per label; ``predict_proba`` of the result gives ``(n, 2)``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion

    features = FeatureUnion([
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, lowercase=True)),
        ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
    ])
    matrix = features.fit_transform(texts)
    classifiers = []
    for k in range(y.shape[1]):
        clf = LogisticRegression(C=c, max_iter=2000, class_weight="balanced", random_state=seed)
        clf.fit(matrix, y[:, k], sample_weight=sample_weight)
        classifiers.append(clf)
    return Baseline(features, classifiers)


class Baseline:
    """Fitted TF-IDF features and one logistic regression per label."""

    def __init__(self, features, classifiers):
        self.features = features
        self.classifiers = classifiers

    def __getstate__(self) -> dict:
        # A vectorizer that has checked its stop words remembers id(stop_words): a memory address,
        # different in every process, so two runs of the same commit pickled different bytes
        # (models/router/baseline.pkl's DVC hash moved on every re-run). Without it the next
        # transform only checks the stop words again.
        for _, vectorizer in self.features.transformer_list:
            vars(vectorizer).pop("_stop_words_id", None)
        return self.__dict__

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        matrix = self.features.transform(list(texts))
        return np.stack([clf.predict_proba(matrix)[:, 1] for clf in self.classifiers], axis=1)


@dataclass(frozen=True)
class HeadConfig:
    """Hyper-parameters of the embedding head (``router.train.head`` in params)."""

    hidden: int = 128
    dropout: float = 0.2
    epochs: int = 60
    lr: float = 0.003
    weight_decay: float = 0.0001
    batch_size: int = 64
    input_noise: float = 0.0

    @classmethod
    def from_params(cls, cfg: dict[str, Any]) -> "HeadConfig":
        return scalar_config(cls, cfg, "router.train.head")


def build_head(dim: int, config: HeadConfig):
    import torch

    return torch.nn.Sequential(torch.nn.Linear(dim, config.hidden), torch.nn.ReLU(), torch.nn.Dropout(config.dropout),
                               torch.nn.Linear(config.hidden, len(LABELS)))


def head_proba(head, x: np.ndarray) -> np.ndarray:
    """Per-label probabilities of ``head`` on embeddings ``x`` of shape ``(n, dim)``."""
    import torch

    head.eval()
    with torch.no_grad():
        return torch.sigmoid(head(torch.from_numpy(np.asarray(x, dtype=np.float32)))).numpy()


def train_head(x: np.ndarray, y: np.ndarray, *, config: HeadConfig, seed: int, weights: np.ndarray | None = None,
               x_val: np.ndarray | None = None, y_val: np.ndarray | None = None, keep_best: bool = True):
    """Train the head; with validation data the epoch of best validation exact match is kept.

    With ``keep_best=False`` the head of the last epoch is returned and each
    history record also holds ``val_proba``, the validation probabilities after
    that epoch (cross-validation chooses the epoch count from them).

    Returns
    -------
    (head, history): the torch module and per-epoch ``{"epoch", "loss", "val_exact_match"}``.
    """
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    # Features are standardised for training; the affine map is folded into the
    # first layer afterwards, so the saved head takes raw features.
    mean, scale = x.mean(0), x.std(0) + 1e-6
    x = (x - mean) / scale
    x_val = None if x_val is None else (x_val - mean) / scale
    head = build_head(x.shape[1], config)
    optimiser = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    xt = torch.from_numpy(np.asarray(x, dtype=np.float32))
    yt = torch.from_numpy(np.asarray(y, dtype=np.float32))
    wt = torch.from_numpy(np.asarray(weights if weights is not None else np.ones(len(x)), dtype=np.float32))
    # Balanced per-label positive weights: the rarer value of a label must not be ignored.
    pos = yt.mean(0).clamp(0.05, 0.95)
    pos_weight = (1 - pos) / pos
    best, best_state, history = -1.0, None, []
    for epoch in range(config.epochs):
        head.train()
        order = torch.randperm(len(xt), generator=generator)
        total = 0.0
        for start in range(0, len(order), config.batch_size):
            idx = order[start:start + config.batch_size]
            inputs = xt[idx]
            if config.input_noise > 0:
                inputs = inputs + config.input_noise * torch.randn(inputs.shape, generator=generator)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(head(inputs), yt[idx], reduction="none",
                                                                        pos_weight=pos_weight)
            loss = (loss.mean(1) * wt[idx]).sum() / wt[idx].sum()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
        record = {"epoch": epoch + 1, "loss": total / len(xt)}
        if x_val is not None:
            proba = head_proba(head, x_val)
            acc = exact_match(y_val, proba >= 0.5)
            record["val_exact_match"] = acc
            if not keep_best:
                record["val_proba"] = proba
            elif acc > best:
                best, best_state = acc, {k: v.clone() for k, v in head.state_dict().items()}
        history.append(record)
    if best_state is not None:
        head.load_state_dict(best_state)
    fold_standardisation(head[0], mean, scale)
    head.eval()
    return head, history


def fold_standardisation(linear, mean: np.ndarray, scale: np.ndarray) -> None:
    """Make ``linear`` act on raw ``x`` as it did on ``(x - mean) / scale``."""
    import torch

    with torch.no_grad():
        weight = linear.weight / torch.from_numpy(np.asarray(scale, dtype=np.float32))[None, :]
        linear.bias -= weight @ torch.from_numpy(np.asarray(mean, dtype=np.float32))
        linear.weight.copy_(weight)


def exact_match(y: np.ndarray, pred: np.ndarray) -> float:
    """Share of rows whose every label is right."""
    return float(np.mean(np.all(np.asarray(y, bool) == np.asarray(pred, bool), axis=1))) if len(y) else 0.0


def tune_thresholds(y: np.ndarray, proba: np.ndarray, *, grid: np.ndarray | None = None) -> list[float]:
    """Per label, the threshold with the best F1 on ``(y, proba)``; ties go to the one nearest 0.5."""
    grid = np.round(np.arange(0.05, 0.951, 0.025), 4) if grid is None else np.asarray(grid)
    y = np.asarray(y, bool)
    thresholds = []
    for k in range(y.shape[1]):
        # All grid points at once: (thresholds, rows) decisions against the labels.
        pred = np.asarray(proba)[None, :, k] >= grid[:, None]
        tp = (pred & y[None, :, k]).sum(1)
        denominator = pred.sum(1) + y[:, k].sum()
        f1 = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)
        thresholds.append(float(max(zip(np.round(f1, 12), -np.abs(grid - 0.5), grid))[2]))
    return thresholds


def decide(proba: np.ndarray, thresholds: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Decisions ``(n, 2)`` and a confidence per row.

    The confidence is the probability of the decided label pair under the
    per-label probabilities: the product of ``p`` for a yes and ``1 - p`` for a no.
    """
    proba = np.asarray(proba, dtype=np.float64)
    pred = proba >= np.asarray(thresholds)[None, :]
    confidence = np.prod(np.where(pred, proba, 1.0 - proba), axis=1)
    return pred, confidence


def config_dict(config: HeadConfig) -> dict[str, Any]:
    return asdict(config)
