"""Stage weights: per-session sampling weights of the training split."""

from pathlib import Path

import typer

from musicml.atomic import atomic_path, write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.weights import session_weights
from musicml.manifest import read_events
from musicml.taxonomy import UNKNOWN


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `weights`."),
    dataset: Path = typer.Option("data/interim/dataset.parquet", help="Gated, split manifest."),
    out: Path = typer.Option("data/interim/weights.csv", help="One row per session: weight, events, clamped."),
    summary: Path = typer.Option("metrics/weights.json", help="Summary (groups, events, clamped)."),
) -> None:
    """Inverse-frequency weights per session, normalised and clamped to [min_weight, max_weight]."""
    cfg = section(load_yaml(params), "weights")
    df = read_events(dataset, columns=["session_id", "source", "split", "label"], trusted=True)
    # Known-class hits only: outliers (split.outlier_exposure) are drawn at their own share
    # (train.oe_share), so they must not shift the weights of the known classes' sessions.
    table, stats = session_weights(df[(df["split"] == "train") & (df["label"] != UNKNOWN)], min_weight=cfg["min_weight"],
                                   max_weight=cfg["max_weight"], balance_sources=cfg["balance_sources"])
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False, float_format="%.8g")
    write_json(summary, stats)
    print(f"weights: {stats['session_groups']} sessions, {stats['clamped_low']} clamped low, "
          f"{stats['clamped_high']} clamped high")


if __name__ == "__main__":
    stage(main)
