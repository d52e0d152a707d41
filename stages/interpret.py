"""Stage interpret: per-class Integrated-Gradients maps and a 2-D embedding of the test kits, as SVG."""

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import typer

from musicml.atomic import atomic_path, write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.checkpoint import load_model
from musicml.errors import InputError
from musicml.features import open_store
from musicml.release.interpret import class_attributions, embed_2d, penultimate_features
from musicml.release.svg import heatmap, scatter


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `interpret`."),
    model_path: Path = typer.Option("models/drum_classifier.pt", "--model", help="Trained model."),
    store: Path = typer.Option("data/processed/features", help="Feature store."),
    predictions: Path = typer.Option("data/processed/predictions.parquet", help="Per-hit predictions (evaluate)."),
    out: Path = typer.Option("metrics/interpret", help="Folder of SVG figures (shown in metrics/report.html)."),
    metrics: Path = typer.Option("metrics/interpret.json", help="Hits used per class, PCA explained variance."),
) -> None:
    """IG maps averaged over up to `interpret.hits_per_class` correct test hits per class; PCA of test features."""
    p = load_yaml(params)
    cfg = section(p, "interpret")
    torch.manual_seed(p["seed"])
    model, classes, _ = load_model(model_path)
    features, index = open_store(store)
    table = pd.read_parquet(predictions)
    test = table[table["split"] == "test"]
    row_of = pd.Series(np.arange(len(index)), index=index["event_id"].astype(str))
    missing = ~test["event_id"].isin(row_of.index)
    if missing.any():
        raise InputError(predictions, f"event {test['event_id'][missing].iloc[0]} is not in the feature store {store}",
                         field="event_id")
    rows = row_of[test["event_id"].astype(str)].to_numpy()
    correct = (test["true_index"] == test["pred_index"]).to_numpy()
    maps = class_attributions(model, features, rows[correct], test["true_index"].to_numpy()[correct], classes,
                              per_class=cfg["hits_per_class"], steps=cfg["ig_steps"], pool=cfg["map_pool"],
                              seed=p["seed"])
    points, variance = embed_2d(penultimate_features(model, features, rows))
    with atomic_path(out, is_dir=True) as tmp:
        for i, (name, m) in enumerate(maps.items()):
            (tmp / f"ig_{i:02d}_{name}.svg").write_text(heatmap(m, title=f"IG attribution: {name}"))
        (tmp / "embedding_pca.svg").write_text(scatter(
            points, [classes[i] for i in test["true_index"]], classes=classes,
            title=f"Test kits, penultimate features, PCA ({variance[0]:.0%} + {variance[1]:.0%} variance)"))
    counts = pd.Series([classes[i] for i in test["true_index"].to_numpy()[correct]]).value_counts()
    write_json(metrics, {"ig_steps": cfg["ig_steps"], "embedding": "pca", "explained_variance": variance,
                         "embedded_hits": int(len(rows)),
                         "attributed_hits": {c: int(min(cfg["hits_per_class"], counts.get(c, 0))) for c in maps}})
    print(f"interpret: {len(maps)} class maps, embedding of {len(rows)} test hits -> {out}")


if __name__ == "__main__":
    stage(main)
