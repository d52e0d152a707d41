"""Training both router models; choices by cross-validation over template families, test held out."""

from __future__ import annotations

import os
from dataclasses import replace
import pickle
from typing import Any

import numpy as np
import pandas as pd

from musicml.atomic import atomic_path, save_torch
from musicml.errors import InputError
from musicml.router.examples import LABELS
from musicml.router.models import (HeadConfig, build_head, config_dict, decide, exact_match, fit_baseline,
                                   train_head, tune_thresholds)
from musicml.router.scoring import score


def labels_of(df: pd.DataFrame) -> np.ndarray:
    return df[list(LABELS)].to_numpy(dtype=bool)


def blend(head_proba_: np.ndarray, baseline_proba: np.ndarray, weight: float) -> np.ndarray:
    """The hybrid router's probabilities: ``weight`` of the embedding head, the rest from the n-gram baseline."""
    return weight * np.asarray(head_proba_) + (1.0 - weight) * np.asarray(baseline_proba)


def cross_validate(texts: list[str], x: np.ndarray, y: np.ndarray, weights: np.ndarray, families: np.ndarray,
                   categories: np.ndarray, *, folds: int, baseline_c: float, head: HeadConfig,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities over whole template families.

    Folds never split a template family (``StratifiedGroupKFold`` with the
    category as stratum, so every fold holds families of every category): each
    row is scored by models that saw no phrasing of its family, as the
    held-out test is.

    Returns
    -------
    (baseline, head): ``(n, labels)`` and, per epoch of the head, ``(epochs, n, labels)``.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    if len(set(families)) < folds:
        raise InputError("dataset", f"{len(set(families))} template families for {folds} cross-validation folds; "
                                    "lower router.train.cv_folds")
    baseline_oof = np.zeros(y.shape)
    head_oof = np.zeros((head.epochs, *y.shape))
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit, held in splitter.split(x, categories, families):
        model = fit_baseline([texts[i] for i in fit], y[fit].astype(int), c=baseline_c, seed=seed,
                             sample_weight=weights[fit])
        baseline_oof[held] = model.predict_proba([texts[i] for i in held])
        _, history = train_head(x[fit], y[fit], config=head, seed=seed, weights=weights[fit], x_val=x[held],
                                y_val=y[held], keep_best=False)
        for epoch, record in enumerate(history):
            head_oof[epoch][held] = record["val_proba"]
    return baseline_oof, head_oof


def choose_hybrid(y: np.ndarray, baseline_oof: np.ndarray, head_oof: np.ndarray,
                  blend_weights: list[float]) -> dict[str, Any]:
    """The head's epoch count, blend weight and thresholds of best out-of-fold exact match.

    Ties go to fewer epochs, then to the larger share of the embedding head.
    """
    best: tuple | None = None
    for epoch in range(len(head_oof)):
        for weight in sorted(blend_weights, reverse=True):
            proba = blend(head_oof[epoch], baseline_oof, weight)
            thresholds = tune_thresholds(y, proba)
            accuracy = exact_match(y, decide(proba, thresholds)[0])
            if best is None or accuracy > best[0] + 1e-12:
                best = (accuracy, epoch + 1, float(weight), thresholds)
    accuracy, epochs, weight, thresholds = best
    return {"cv_exact_match": round(accuracy, 5), "epochs": epochs, "blend_weight": weight, "thresholds": thresholds}


def finetune_oof(cache, y: np.ndarray, weights: np.ndarray, families: np.ndarray, categories: np.ndarray, *,
                 folds: int, use_folds: int, config, head: HeadConfig, seed: int,
                 bert=None) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities of the fine-tune, per epoch, on the first ``use_folds`` folds.

    The folds are those of :func:`cross_validate` (same splitter, seed and
    strata), so the frozen head's out-of-fold figures of the same rows compare
    with these. Fine-tuning costs far more than training the head, so fewer
    folds than ``folds`` may be scored.

    Returns
    -------
    (proba, scored): ``(epochs, n, labels)`` and the boolean mask of the rows scored.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    from musicml.router.finetune import finetune

    if not 1 <= use_folds <= folds:
        raise InputError("params", f"router.train.finetune.cv_folds: expected 1..{folds}, got {use_folds}")
    oof = np.zeros((config.epochs, *y.shape))
    scored = np.zeros(len(y), dtype=bool)
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (fit, held) in enumerate(splitter.split(np.zeros((len(y), 1)), categories, families)):
        if k >= use_folds:
            break
        _, _, history = finetune(cache, fit, y[fit], config=config, head_config=head, seed=seed,
                                 weights=weights[fit], score_rows=held, bert=bert)
        for epoch, record in enumerate(history):
            oof[epoch][held] = record["proba"]
        scored[held] = True
    return oof, scored


def train_models(df: pd.DataFrame, embeddings: np.ndarray, *, baseline_c: float, head: HeadConfig, seed: int,
                 cv_folds: int, blend_weights: list[float], finetune=None, layers: list[int] | None = None,
                 cache=None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Choose by cross-validation over template families of ``train`` + ``val``, then fit on all of them.

    Cross-validation (:func:`cross_validate`) chooses the baseline's
    thresholds and, for the embedding router, the head's epoch count, the
    blend weight between head and baseline (1.0: the head alone) and the
    thresholds of the blend. Both models are then fitted on every
    ``train`` + ``val`` row; ``test`` stays held out.

    With a ``finetune`` config of ``top_layers`` > 0 (and ``cache``, the
    :func:`musicml.router.finetune.cache_bottom` of the ``train`` + ``val``
    rows in order; computed from ``layers`` when None), the top encoder layers are fine-tuned with the head on the
    first ``finetune.cv_folds`` folds (:func:`finetune_oof`); the fine-tune
    is shipped only when its out-of-fold exact match (epochs, blend weight and
    thresholds chosen as for the frozen head) beats the frozen head's on the
    same rows.

    Returns
    -------
    (models, report): ``{"baseline": (model, thresholds), "embedding": (head, thresholds, blend_weight, tuned)}``
    (``tuned``: ``{"top_layers", "state"}`` of the fine-tuned encoder layers, or None) and the out-of-fold
    figures of both.
    """
    if len(embeddings) != len(df):
        raise InputError("embeddings", f"{len(embeddings)} rows for {len(df)} examples; rerun router_embed")
    pool = df["split"].isin(["train", "val"]).to_numpy()
    if not pool.any():
        raise InputError("dataset", "the split has no train or val rows")
    data = df[pool].reset_index(drop=True)
    x, y = embeddings[pool], labels_of(data)
    weights = data["confidence"].to_numpy(dtype=float)
    texts = data["question"].tolist()
    categories = data["category"].to_numpy()
    baseline_oof, head_oof = cross_validate(texts, x, y, weights, data["template_id"].to_numpy(), categories,
                                            folds=cv_folds, baseline_c=baseline_c, head=head, seed=seed)
    baseline_thresholds = tune_thresholds(y, baseline_oof)
    chosen = choose_hybrid(y, baseline_oof, head_oof, blend_weights)
    hybrid_oof = blend(head_oof[chosen["epochs"] - 1], baseline_oof, chosen["blend_weight"])
    head_alone = max(range(len(head_oof)), key=lambda e: exact_match(y, decide(head_oof[e],
                                                                               tune_thresholds(y, head_oof[e]))[0]))

    tuned_report, tuned = None, None
    if finetune is not None and finetune.top_layers > 0:
        if cache is None:
            from musicml.router.finetune import cache_bottom

            cache = cache_bottom(texts, layers=layers or [6], top_layers=finetune.top_layers)
        tuned_report, tuned_choice, tuned_oof = _compare_finetune(
            cache, y, weights, data["template_id"].to_numpy(), categories, baseline_oof, head_oof,
            folds=cv_folds, config=finetune, head=head, seed=seed, blend_weights=blend_weights)
        if tuned_report["chosen"]:
            chosen = tuned_choice
            hybrid_oof = blend(tuned_oof, baseline_oof, chosen["blend_weight"])

    baseline = fit_baseline(texts, y.astype(int), c=baseline_c, seed=seed, sample_weight=weights)
    if tuned_report is not None and tuned_report["chosen"]:
        from musicml.router.finetune import finetune as run_finetune, top_state

        top, model, history = run_finetune(cache, np.arange(len(y)), y,
                                           config=replace(finetune, epochs=chosen["epochs"]), head_config=head,
                                           seed=seed, weights=weights)
        tuned = {"top_layers": finetune.top_layers, "state": top_state(top)}
        scored = tuned_report["scored"]
    else:
        model, history = train_head(x, y, config=replace(head, epochs=chosen["epochs"]), seed=seed, weights=weights)
        scored = np.ones(len(y), dtype=bool)
    if tuned_report is not None:
        tuned_report.pop("scored")
    category_list = categories.tolist()
    report = {
        "rows": int(pool.sum()), "families": int(data["template_id"].nunique()), "cv_folds": cv_folds,
        "baseline": {"thresholds": baseline_thresholds, "C": baseline_c,
                     "cv": score(y, decide(baseline_oof, baseline_thresholds)[0], category_list)},
        "embedding": {"thresholds": chosen["thresholds"], "blend_weight": chosen["blend_weight"],
                      "head": config_dict(replace(head, epochs=chosen["epochs"])),
                      "final_train_loss": round(history[-1]["loss"], 5),
                      "fine_tuned": tuned is not None,
                      "cv": score(y[scored], decide(hybrid_oof[scored], chosen["thresholds"])[0],
                                  [c for c, keep in zip(category_list, scored) if keep])},
        "head_alone_cv": {"epochs": head_alone + 1, "exact_match": round(exact_match(
            y, decide(head_oof[head_alone], tune_thresholds(y, head_oof[head_alone]))[0]), 5)},
    }
    if tuned_report is not None:
        report["finetune"] = tuned_report
    models = {"baseline": (baseline, baseline_thresholds),
              "embedding": (model, chosen["thresholds"], chosen["blend_weight"], tuned)}
    return models, report


def _compare_finetune(cache, y, weights, families, categories, baseline_oof, head_oof, *, folds: int, config,
                      head: HeadConfig, seed: int, blend_weights: list[float]):
    """Fine-tune out of fold and choose between it and the frozen head on the same rows.

    Returns
    -------
    (report, choice, oof): figures of both (``chosen``: the fine-tune wins; ``scored``: the mask of the rows
    compared), the fine-tune's :func:`choose_hybrid` choice, its probabilities at the chosen epoch (all rows,
    zero where not scored).
    """
    from musicml.router.finetune import config_dict as finetune_dict

    if cache is None or len(cache.states) != len(y):
        raise InputError("cache", "fine-tuning needs the bottom-layer cache of every train + val row")
    oof, scored = finetune_oof(cache, y, weights, families, categories, folds=folds, use_folds=config.cv_folds,
                               config=config, head=head, seed=seed)
    frozen = choose_hybrid(y[scored], baseline_oof[scored], head_oof[:, scored], blend_weights)
    tuned = choose_hybrid(y[scored], baseline_oof[scored], oof[:, scored], blend_weights)
    per_epoch = [round(exact_match(y[scored], decide(oof[e][scored], tune_thresholds(y[scored], oof[e][scored]))[0]),
                       5) for e in range(len(oof))]
    report = {"config": finetune_dict(config), "rows_compared": int(scored.sum()),
              "frozen": frozen, "tuned": tuned, "tuned_alone_exact_match_per_epoch": per_epoch,
              "chosen": tuned["cv_exact_match"] > frozen["cv_exact_match"], "scored": scored}
    return report, tuned, oof[tuned["epochs"] - 1]


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
              layers: list[int], blend_weight: float = 1.0, tuned: dict | None = None) -> None:
    """Save the head with its thresholds, blend weight and the encoder layers its features come from.

    The thresholds apply to :func:`blend` of the head and the baseline with
    ``blend_weight``. ``tuned`` (``{"top_layers", "state"}``) holds the
    fine-tuned encoder layers the head was trained with (None: the packaged encoder).
    """
    save_torch({"state_dict": model.state_dict(), "thresholds": thresholds, "config": config_dict(config),
                "dim": int(model[0].in_features), "labels": list(LABELS), "layers": list(layers),
                "blend_weight": float(blend_weight), "tuned": tuned}, path)


def load_head(path: str | os.PathLike):
    """``(head, thresholds, layers, blend_weight)`` of :func:`save_head`, the head in eval mode."""
    import torch

    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        model = build_head(saved["dim"], HeadConfig(**saved["config"]))
        model.load_state_dict(saved["state_dict"])
    except (OSError, RuntimeError, KeyError) as exc:
        raise InputError(path, f"not a saved router head: {exc}") from exc
    return model.eval(), saved["thresholds"], saved["layers"], float(saved.get("blend_weight", 1.0))


def load_tuned(path: str | os.PathLike) -> dict | None:
    """The fine-tuned encoder layers saved with the head (``{"top_layers", "state"}``); None: the packaged encoder."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True).get("tuned")
    except (OSError, RuntimeError, AttributeError) as exc:
        raise InputError(path, f"not a saved router head: {exc}") from exc


def family_cv(df: pd.DataFrame, embeddings: np.ndarray, *, folds: int, seeds: list[int], baseline_c: float,
              head: HeadConfig, blend_weights: list[float], subset: np.ndarray | None = None) -> dict[str, Any]:
    """All-family cross-validation: every template family of ``df`` (all splits) held out once per seed.

    The template-held-out test holds out a few dozen families, drawn anew
    whenever the library changes, and the draw moves its figure by more than
    most changes do. Here :func:`cross_validate` runs over every row, each
    seed choosing the head's epochs, blend weight and thresholds out of fold
    (:func:`choose_hybrid`) as router_train does, so every family is scored by
    models that never saw it. An estimate to read beside the test, never used
    to choose the shipped models.

    Returns
    -------
    dict
        ``folds``, ``seeds``, ``families``, ``rows``; ``embedding`` and ``baseline`` exact match
        (``mean`` and ``per_seed``); ``by_category``: the embedding router's mean exact match per category;
        with a boolean row mask ``subset``, ``subset``: the embedding router's exact match on those rows.
    """
    if len(embeddings) != len(df):
        raise InputError("embeddings", f"{len(embeddings)} rows for {len(df)} examples; rerun router_embed")
    y, families, categories = labels_of(df), df["template_id"].to_numpy(), df["category"].to_numpy()
    texts, weights = df["question"].tolist(), df["confidence"].to_numpy(dtype=float)
    embedding, baseline, by_category, on_subset = [], [], [], []
    for seed in seeds:
        baseline_oof, head_oof = cross_validate(texts, embeddings, y, weights, families, categories, folds=folds,
                                                baseline_c=baseline_c, head=head, seed=seed)
        chosen = choose_hybrid(y, baseline_oof, head_oof, blend_weights)
        pred = decide(blend(head_oof[chosen["epochs"] - 1], baseline_oof, chosen["blend_weight"]),
                      chosen["thresholds"])[0]
        embedding.append(exact_match(y, pred))
        baseline.append(exact_match(y, decide(baseline_oof, tune_thresholds(y, baseline_oof))[0]))
        by_category.append(score(y, pred, categories.tolist())["by_category"])
        if subset is not None:
            on_subset.append(exact_match(y[subset], pred[subset]))
    report = {
        "folds": folds, "seeds": list(seeds), "families": int(len(set(families))), "rows": int(len(df)),
        "embedding": {"mean": round(float(np.mean(embedding)), 5), "per_seed": [round(v, 5) for v in embedding]},
        "baseline": {"mean": round(float(np.mean(baseline)), 5), "per_seed": [round(v, 5) for v in baseline]},
        "by_category": {c: round(float(np.mean([b[c] for b in by_category])), 5) for c in by_category[0]},
    }
    if subset is not None:
        report["subset"] = {"mean": round(float(np.mean(on_subset)), 5), "per_seed": [round(v, 5) for v in on_subset]}
    return report
