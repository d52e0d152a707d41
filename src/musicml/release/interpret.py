"""Interpretability of the drum classifier: Integrated Gradients per class and a 2-D embedding.

* Attribution maps: Integrated Gradients (Sundararajan et al., 2017; Captum) of each
  class's logit with respect to the log-mel input, averaged over correctly
  classified test hits of that class. Red cells push towards the class.
* Embedding: the penultimate features (the 256 pooled channels the linear
  layer reads) of the held-out test kits, projected to 2-D with PCA.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from musicml.drums.training import predict_logits
from musicml.errors import ConfigError


def integrated_gradients(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, *,
                         baseline: float, steps: int = 16) -> torch.Tensor:
    """Integrated Gradients (Captum) of ``model(x)[target]`` along the straight path from ``baseline``.

    Midpoint Riemann sum over ``steps`` points (Captum's ``riemann_middle``).

    Parameters
    ----------
    inputs : Tensor, shape (n, 1, n_mels, n_frames)
    target : Tensor of int64, shape (n,)
        The class whose logit is attributed, per input.
    baseline : float
        The "no signal" reference value of every cell (e.g. the log-mel floor).

    Returns
    -------
    Tensor, shape of ``inputs``
        Attributions; their sum per input approximates ``f(x) - f(baseline)``.
    """
    from captum.attr import IntegratedGradients

    if steps < 1:
        raise ConfigError(f"interpret: ig_steps must be >= 1, got {steps}")
    model.eval()
    return IntegratedGradients(model).attribute(inputs, baselines=float(baseline), target=target, n_steps=steps,
                                                method="riemann_middle")


def class_attributions(model: nn.Module, features: np.ndarray, indices: np.ndarray, labels: np.ndarray,
                       classes: Sequence[str], *, per_class: int, steps: int, pool: int = 4,
                       seed: int = 0) -> dict[str, np.ndarray]:
    """Mean IG map per class over up to ``per_class`` of its correctly classified hits.

    Parameters
    ----------
    features : ndarray, shape (N, 1, n_mels, n_frames)
        The feature store (memory-mapped is fine).
    indices, labels : ndarray
        Rows of correctly classified hits and their class index.
    pool : int
        Average-pool the map by this factor (a 128x128 map is 16k SVG cells).
    seed : int
        Which hits are drawn when a class has more than ``per_class``.

    Returns
    -------
    dict
        ``{class: (n_mels // pool, n_frames // pool) array}`` for each class with at least one hit.
    """
    rng = np.random.default_rng(seed)
    baseline = float(np.min(features[np.sort(indices)])) if len(indices) else 0.0
    maps: dict[str, np.ndarray] = {}
    for c, name in enumerate(classes):
        rows = indices[labels == c]
        if len(rows) == 0:
            continue
        rows = np.sort(rng.choice(rows, size=min(per_class, len(rows)), replace=False))
        x = torch.from_numpy(np.asarray(features[rows], dtype=np.float32))
        attr = integrated_gradients(model, x, torch.full((len(rows),), c, dtype=torch.int64), baseline=baseline,
                                    steps=steps)
        mean = attr.mean(dim=0, keepdim=True)            # (1, 1, n_mels, n_frames)
        maps[name] = nn.functional.avg_pool2d(mean, pool)[0, 0].detach().numpy() if pool > 1 else mean[0, 0].numpy()
    return maps


def penultimate_features(model: nn.Module, features: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """The input of the final linear layer for each row of ``indices`` (in that order), ``(n, 256)``.

    Read with a forward hook, so the model's code and weights stay as trained.
    """
    order = np.argsort(indices, kind="stable")
    captured: list[np.ndarray] = []
    hook = model.fc.register_forward_hook(lambda module, inp, out: captured.append(inp[0].detach().cpu().numpy()))
    try:
        with torch.no_grad():
            predict_logits(model, features, indices[order], device=torch.device("cpu"))
    finally:
        hook.remove()
    if not captured:
        return np.zeros((0, model.fc.in_features), dtype=np.float32)
    out = np.empty((len(indices), model.fc.in_features), dtype=np.float32)
    out[order] = np.concatenate(captured)
    return out


def embed_2d(vectors: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """PCA to 2-D (standardised first); returns the points and the explained variance ratios."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    if len(vectors) < 3:
        raise ConfigError(f"interpret: a 2-D embedding needs at least 3 test hits, got {len(vectors)}")
    pca = PCA(n_components=2, svd_solver="full")
    points = pca.fit_transform(StandardScaler().fit_transform(vectors))
    # PCA's sign is arbitrary: fix it (largest |loading| positive) so reruns draw the same picture.
    signs = np.sign(pca.components_[np.arange(2), np.abs(pca.components_).argmax(axis=1)])
    return points * signs, [float(v) for v in pca.explained_variance_ratio_]
