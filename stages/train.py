"""Stage train: the DrumClassifierCNN on the training split, early-stopped on validation macro-F1.

Also runs as N DDP processes: ``torchrun --nproc_per_node N stages/train.py``.
"""

import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import typer

from musicml.atomic import write_json
from musicml.config import load_taxonomy, load_yaml, section
from musicml.console import stage
from musicml.drums.checkpoint import save_model
from musicml.drums.distributed import process_group
from musicml.drums.training import TrainConfig, predict_outputs, train_classifier
from musicml.drums.weights import event_weights
from musicml.errors import ConfigError
from musicml.features import MelConfig, open_store
from musicml.release.openset import FeatureDensity
from musicml.taxonomy import UNKNOWN


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `train`, `features`."),
    taxonomy: Path = typer.Option("configs/taxonomy.yaml", help="Taxonomy file (class list)."),
    store: Path = typer.Option("data/processed/features", help="Feature store."),
    weights: Path = typer.Option("data/interim/weights.csv", help="Per-session sampling weights."),
    model_out: Path = typer.Option("models/drum_classifier.pt", help="Best model (torch)."),
    checkpoint: Path = typer.Option("models/checkpoint.pt", help="Per-epoch checkpoint (for train.resume)."),
    metrics: Path = typer.Option("metrics/train.json", help="Summary metrics."),
    live_dir: Path = typer.Option("metrics/train", help="DVCLive folder (per-epoch curves)."),
    device: str = typer.Option(None, help="Override train.device: auto | cpu | cuda."),
) -> None:
    """Weighted sampling, AdamW + cosine schedule, checkpoints every epoch, DVCLive curves.

    Under `torchrun --nproc_per_node N` it trains with DDP (gloo on CPU, NCCL on GPU);
    rank 0 alone writes the checkpoint, model, metrics and curves.
    """
    from dvclive import Live

    p = load_yaml(params)
    config = TrainConfig.from_params(p)
    if device:
        config = replace(config, device=device)
    classes = list(load_taxonomy(taxonomy).classes)
    features, index = open_store(store)
    labels = index["label"].astype(str)
    known = labels.isin(classes).to_numpy()
    in_train = (index["split"] == "train").to_numpy()
    # Outlier exposure: the `unknown` hits split.outlier_exposure left in training (label -1).
    outliers = (labels == UNKNOWN).to_numpy() & in_train if config.oe_weight > 0 else np.zeros(len(index), bool)
    train_idx = np.flatnonzero((known | outliers) & in_train)
    val_idx = np.flatnonzero(known & (index["split"] == "val").to_numpy())
    if not (known & in_train).any() or len(val_idx) == 0:
        raise ConfigError(f"need training and validation hits, got {int((known & in_train).sum())} and {len(val_idx)}")
    y = labels.map({c: i for i, c in enumerate(classes)}).fillna(-1).astype(int).to_numpy()
    # Known hits take their session's weight; outliers are drawn uniformly at train.oe_share of the draws
    # (training.sampling_weights), so a kit made only of non-drum instruments needs no session weight.
    sample_w = np.ones(len(train_idx))
    is_known = known[train_idx]
    sample_w[is_known] = event_weights(index.iloc[train_idx[is_known]], pd.read_csv(weights, dtype={"session_id": str}))

    started = time.perf_counter()
    with process_group(config.device) as dist:
        # A fresh DVCLive folder every run; a resumed run replays the checkpoint's history into it, so the
        # curves hold each epoch once wherever the previous run was killed.
        live_ctx = Live(str(live_dir), dvcyaml=None, save_dvc_exp=False, report=None, resume=False) \
            if dist.is_main else nullcontext()
        with live_ctx as live:
            def log(m: dict, *, echo: bool = True) -> None:
                for key, value in m.items():
                    if key != "epoch":
                        live.log_metric(key, value)
                live.next_step()
                if echo:
                    print(f"epoch {m['epoch']:3d}  loss {m['train_loss']:.4f}  val_acc {m['val_accuracy']:.4f}  "
                          f"val_macro_f1 {m['val_macro_f1']:.4f}", flush=True)

            def replay(history: list[dict]) -> None:
                for m in history:
                    log(m, echo=False)
                print(f"resumed from {checkpoint} after epoch {len(history)}", flush=True)

            model, result = train_classifier(features, train_idx, y[train_idx], sample_w, val_idx, y[val_idx],
                                             n_classes=len(classes), config=config, checkpoint_path=checkpoint,
                                             on_epoch=log, on_resume=replay, dist=dist,
                                             classes=classes)
        if not dist.is_main:
            return
    # The open-set feature density (class means + shared covariance of the penultimate
    # features) from the known training hits, saved with the model it describes.
    fit_idx = np.flatnonzero(known & in_train)
    _, embedded = predict_outputs(model, features, fit_idx, device=torch.device("cpu"))
    density = FeatureDensity.fit(embedded, y[fit_idx], len(classes))
    save_model(model_out, model, classes=classes, mel=MelConfig.from_params(section(p, "features")),
               feature_density=density.to_dict())
    write_json(metrics, {"best_epoch": result.best_epoch, "best_val_macro_f1": result.best_val_macro_f1,
                         "kept_epoch": result.kept_epoch,
                         "epochs_run": result.epochs_run, "n_parameters": result.n_parameters,
                         "train_events": int(len(train_idx)), "val_events": int(len(val_idx)),
                         "train_outliers": int(outliers.sum()), "oe_weight": config.oe_weight})
    print(f"train: best val macro-F1 {result.best_val_macro_f1:.4f} at epoch {result.best_epoch}, "
          f"kept epoch {result.kept_epoch} (train.keep={config.keep}) "
          f"({time.perf_counter() - started:.0f} s) -> {model_out}")


if __name__ == "__main__":
    stage(main)
