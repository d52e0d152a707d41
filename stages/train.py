"""Stage train: the DrumClassifierCNN on the training split, early-stopped on validation macro-F1."""

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import typer

from musicml.atomic import write_json
from musicml.config import load_taxonomy, load_yaml, section
from musicml.console import stage
from musicml.drums.checkpoint import save_model
from musicml.drums.training import TrainConfig, train_classifier
from musicml.drums.weights import event_weights
from musicml.errors import ConfigError
from musicml.features import MelConfig, open_store


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
    """Weighted sampling, AdamW + cosine schedule, checkpoints every epoch, DVCLive curves."""
    from dvclive import Live

    p = load_yaml(params)
    cfg = dict(section(p, "train"))
    finetune, masks = cfg.pop("finetune"), cfg.pop("spec_augment")
    config = TrainConfig(**cfg, seed=p["seed"], finetune_checkpoint=finetune["checkpoint"] if finetune["enabled"]
                         else None, freeze_blocks=finetune["freeze_blocks"], finetune_lr=finetune["lr"],
                         freq_masks=masks["freq_masks"], freq_mask_width=masks["freq_width"],
                         time_masks=masks["time_masks"], time_mask_width=masks["time_width"])
    if device:
        config = replace(config, device=device)
    classes = list(load_taxonomy(taxonomy).classes)
    features, index = open_store(store)
    labels = index["label"].astype(str)
    known = labels.isin(classes).to_numpy()
    train_idx = np.flatnonzero(known & (index["split"] == "train").to_numpy())
    val_idx = np.flatnonzero(known & (index["split"] == "val").to_numpy())
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise ConfigError(f"need training and validation hits, got {len(train_idx)} and {len(val_idx)}")
    y = labels.map({c: i for i, c in enumerate(classes)}).fillna(-1).astype(int).to_numpy()
    sample_w = event_weights(index.iloc[train_idx], pd.read_csv(weights, dtype={"session_id": str}))

    started = time.perf_counter()
    with Live(str(live_dir), dvcyaml=None, save_dvc_exp=False, report=None, resume=config.resume) as live:
        def log(m: dict) -> None:
            for key, value in m.items():
                if key != "epoch":
                    live.log_metric(key, value)
            live.next_step()
            print(f"epoch {m['epoch']:3d}  loss {m['train_loss']:.4f}  val_acc {m['val_accuracy']:.4f}  "
                  f"val_macro_f1 {m['val_macro_f1']:.4f}", flush=True)

        model, result = train_classifier(features, train_idx, y[train_idx], sample_w, val_idx, y[val_idx],
                                         n_classes=len(classes), config=config, checkpoint_path=checkpoint,
                                         on_epoch=log)
    save_model(model_out, model, classes=classes, mel=MelConfig.from_params(section(p, "features")),
               dropout=config.dropout, input_pool=config.input_pool)
    write_json(metrics, {"best_epoch": result.best_epoch, "best_val_macro_f1": result.best_val_macro_f1,
                         "epochs_run": result.epochs_run, "n_parameters": result.n_parameters,
                         "train_events": int(len(train_idx)), "val_events": int(len(val_idx))})
    print(f"train: best val macro-F1 {result.best_val_macro_f1:.4f} at epoch {result.best_epoch} "
          f"({time.perf_counter() - started:.0f} s) -> {model_out}")


if __name__ == "__main__":
    stage(main)
