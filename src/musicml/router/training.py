"""Training both router models on the template-held-out split, thresholds tuned on validation."""

from __future__ import annotations

import os
from dataclasses import replace
import pickle
from typing import Any

import numpy as np
import pandas as pd

from musicml.atomic import atomic_path
from musicml.errors import InputError
from musicml.router.examples import LABELS
from musicml.router.models import (HeadConfig, build_head, config_dict, decide, fit_baseline, head_proba,
                                   train_head, tune_thresholds)
from musicml.router.scoring import score


def labels_of(df: pd.DataFrame) -> np.ndarray:
    return df[list(LABELS)].to_numpy(dtype=bool)


def train_models(df: pd.DataFrame, embeddings: np.ndarray, *, baseline_c: float, head: HeadConfig,
                 seed: int, refit_on_val: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit the baseline and the embedding head on ``split == train``; thresholds on ``val``.

    With ``refit_on_val`` both models are then fitted again on train + val with
    what validation chose (the head's best epoch count, both models'
    thresholds): more template families for the shipped model, while test
    stays held out. The validation figures reported are those before the refit.

    Returns
    -------
    (models, report): ``{"baseline": (model, thresholds), "embedding": (head, thresholds)}``
    and the validation figures of both.
    """
    if len(embeddings) != len(df):
        raise InputError("embeddings", f"{len(embeddings)} rows for {len(df)} examples; rerun router_embed")
    train, val = (df["split"] == "train").to_numpy(), (df["split"] == "val").to_numpy()
    if not train.any() or not val.any():
        raise InputError("dataset", "the split has no train or no val rows")
    y = labels_of(df)
    weights = df["confidence"].to_numpy(dtype=float)
    texts = df["question"].tolist()
    train_texts = [t for t, keep in zip(texts, train) if keep]
    val_texts = [t for t, keep in zip(texts, val) if keep]

    baseline = fit_baseline(train_texts, y[train].astype(int), c=baseline_c, seed=seed, sample_weight=weights[train])
    baseline_val = baseline.predict_proba(val_texts)
    baseline_thresholds = tune_thresholds(y[val], baseline_val)

    model, history = train_head(embeddings[train], y[train], config=head, seed=seed, weights=weights[train],
                                x_val=embeddings[val], y_val=y[val])
    head_val = head_proba(model, embeddings[val])
    head_thresholds = tune_thresholds(y[val], head_val)

    categories = df.loc[val, "category"].tolist()
    report = {
        "train_rows": int(train.sum()), "val_rows": int(val.sum()),
        "baseline": {"thresholds": baseline_thresholds, "C": baseline_c,
                     "val": score(y[val], decide(baseline_val, baseline_thresholds)[0], categories)},
        "embedding": {"thresholds": head_thresholds, "head": config_dict(head),
                      "best_epoch": int(max(history, key=lambda h: h["val_exact_match"])["epoch"]),
                      "final_train_loss": round(history[-1]["loss"], 5),
                      "val": score(y[val], decide(head_val, head_thresholds)[0], categories)},
    }
    if refit_on_val:
        both = train | val
        baseline = fit_baseline([t for t, keep in zip(texts, both) if keep], y[both].astype(int), c=baseline_c,
                                seed=seed, sample_weight=weights[both])
        epochs = report["embedding"]["best_epoch"]
        model, _ = train_head(embeddings[both], y[both], config=replace(head, epochs=epochs), seed=seed,
                              weights=weights[both])
        report["refit_on_val"] = {"rows": int(both.sum()), "head_epochs": epochs}
    models = {"baseline": (baseline, baseline_thresholds), "embedding": (model, head_thresholds)}
    return models, report


def save_baseline(model, thresholds: list[float], path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        pickle.dump({"model": model, "thresholds": thresholds, "labels": list(LABELS)}, handle)


def load_baseline(path: str | os.PathLike):
    """``(model, thresholds)`` of :func:`save_baseline`."""
    try:
        with open(path, "rb") as handle:
            saved = pickle.load(handle)
        return saved["model"], saved["thresholds"]
    except (OSError, pickle.UnpicklingError, KeyError, EOFError) as exc:
        raise InputError(path, f"not a saved router baseline: {exc}") from exc


def save_head(model, thresholds: list[float], config: HeadConfig, path: str | os.PathLike, *,
              layers: list[int]) -> None:
    """Save the head with its thresholds and the encoder layers its features come from."""
    import torch

    with atomic_path(path) as tmp:
        torch.save({"state_dict": model.state_dict(), "thresholds": thresholds, "config": config_dict(config),
                    "dim": int(model[0].in_features), "labels": list(LABELS), "layers": list(layers)}, tmp)


def load_head(path: str | os.PathLike):
    """``(head, thresholds, layers)`` of :func:`save_head`, the head in eval mode."""
    import torch

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = build_head(saved["dim"], HeadConfig(**saved["config"]))
        model.load_state_dict(saved["state_dict"])
    except (OSError, RuntimeError, KeyError) as exc:
        raise InputError(path, f"not a saved router head: {exc}") from exc
    return model.eval(), saved["thresholds"], saved["layers"]
