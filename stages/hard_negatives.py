"""Stage hard_negatives: confident false positives of the test predictions -> a manifest to label."""

from pathlib import Path

import pandas as pd
import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.manifest import read_events, write_jsonl
from musicml.release.negatives import mine_hard_negatives, negatives_summary


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `hard_negatives`."),
    predictions: Path = typer.Option("data/processed/predictions.parquet", help="Per-hit predictions (evaluate)."),
    events: Path = typer.Option("data/interim/dataset.parquet", help="Events manifest the predictions came from."),
    out: Path = typer.Option("data/processed/hard_negatives.jsonl",
                             help="Negatives manifest: event fields + predicted_label, confidence, split."),
    metrics: Path = typer.Option("metrics/hard_negatives.json", help="Counts per predicted and per true label."),
) -> None:
    """Hits predicted with max probability >= `hard_negatives.min_confidence` as a class they are not.

    At most `hard_negatives.max_per_label` per predicted label (the most
    confident); `hard_negatives.splits` says which predictions to mine.
    """
    cfg = section(load_yaml(params), "hard_negatives")
    negatives, candidates = mine_hard_negatives(
        pd.read_parquet(predictions), read_events(events), min_confidence=cfg["min_confidence"],
        max_per_label=cfg["max_per_label"], splits=list(cfg["splits"]), origin=str(predictions))
    write_jsonl(negatives, out)
    summary = negatives_summary(negatives, candidates=candidates)
    write_json(metrics, {**summary, "min_confidence": cfg["min_confidence"], "max_per_label": cfg["max_per_label"]})
    print(f"hard_negatives: {summary['negatives']} of {candidates} confident false positives -> {out}")


if __name__ == "__main__":
    stage(main)
