"""Stage transcriber_train: the frame-level drum transcriber, trained on the grooves of the training kits."""

from pathlib import Path

import pandas as pd
import typer

from musicml.atomic import write_json, write_text
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.boundary import held_out_takes
from musicml.drums.transcriber import TranscriberConfig, config_dict, load_takes, save_checkpoint, train_transcriber
from musicml.errors import InputError
from musicml.manifest import read_events


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `transcriber`, `transcribe` "
                                                    "(windows) and `boundary` (source, tolerance)."),
    taxonomy: Path = typer.Option("configs/taxonomy.yaml", help="Taxonomy file; its classes are the outputs."),
    dataset: Path = typer.Option("data/interim/dataset.parquet", help="Gated, split events manifest: the takes "
                                                                      "of `boundary.source` and their labels."),
    extra: Path = typer.Option("data/interim/transcriber/grooves.parquet",
                               help="More takes of the training kits (transcriber_grooves); may be empty."),
    heldout: Path = typer.Option("data/interim/transcriber/heldout.parquet",
                                 help="More takes of the held-out kits (transcriber_grooves): its `val` takes join "
                                      "the validation takes; may be empty."),
    out: Path = typer.Option("models/transcriber.pt", help="Trained weights, classes, frames and thresholds."),
    metrics: Path = typer.Option("metrics/transcriber_train.json", help="Training figures, validation onset "
                                                                       "scores and the chosen thresholds."),
    curve: Path = typer.Option("metrics/plots/transcriber_curve.csv", help="Loss and validation macro F per epoch."),
) -> None:
    """Train on crops of the training takes (split `train`); the validation takes (split `val`) pick the epoch
    and each class's peak threshold by onset F-measure. Test takes are never read."""
    p = load_yaml(params)
    cfg = TranscriberConfig.from_params(section(p, "transcriber"), seed=int(p["seed"]))
    stream, bounds = section(p, "transcribe"), section(p, "boundary")
    classes = list(section(load_yaml(taxonomy), "taxonomy.classes"))
    events = read_events(dataset)
    train = held_out_takes(events, source=bounds["source"], split="train", origin=str(dataset))
    val = held_out_takes(events, source=bounds["source"], split="val", origin=str(dataset))
    more_val = held_out_takes(read_events(heldout), source=bounds["source"], split="val", origin=str(heldout))
    if len(more_val):
        val = pd.concat([val, more_val], ignore_index=True)
    more = read_events(extra)
    if len(more):
        train = pd.concat([train, more.assign(split="train")], ignore_index=True)
    if train.empty:
        raise InputError(str(dataset), f"no '{bounds['source']}' takes in split 'train' to train the transcriber on")
    window_s, hop_s = stream["window_ms"] / 1000, stream["hop_ms"] / 1000
    pad = int(round(window_s * cfg.frames.fps)) + 2  # every window of a take lies inside its padded frames
    train_takes = load_takes(train, classes, cfg, pad=pad)
    val_takes = load_takes(val, classes, cfg, pad=pad)
    print(f"transcriber_train: {len(train_takes)} training takes, {len(val_takes)} validation takes")
    result = train_transcriber(train_takes, val_takes, classes, cfg, window_s=window_s, hop_s=hop_s,
                               tolerance_s=bounds["tolerance_ms"] / 1000)
    save_checkpoint(out, result, classes, cfg)
    lines = ["epoch,loss,val_macro_f"] + [f"{h['epoch']},{h['loss']:.6f},{h.get('val_macro_f', 0.0):.6f}"
                                         for h in result.history]
    write_text(curve, "\n".join(lines) + "\n")
    n_params = sum(t.numel() for t in result.model.parameters())
    write_json(metrics, {
        "train_takes": len(train_takes), "val_takes": len(val_takes),
        "train_seconds_of_audio": round(sum(t.n_samples for t in train_takes) / cfg.frames.sr, 2),
        "epochs_run": len(result.history), "best_epoch": result.best_epoch, "parameters": n_params,
        "train_seconds": round(result.seconds, 1),
        "val_macro_f_measure": result.val_macro_f,
        "val_per_class": {c: {**s, "threshold": float(t)} for c, s, t in
                          zip(classes, result.val_scores, result.thresholds)} if result.val_scores else {},
        "config": config_dict(cfg),
    })
    print(f"transcriber_train: best epoch {result.best_epoch} of {len(result.history)}, validation macro onset F "
          f"{result.val_macro_f:.4f}, {n_params} parameters, {result.seconds:.0f} s -> {out}")


if __name__ == "__main__":
    stage(main)
