"""Stage split: hold out whole kits/sessions for validation and test."""

from pathlib import Path

import typer

from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.split import split_sessions
from musicml.manifest import read_events, write_events


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed` and `split`."),
    events: Path = typer.Option("data/interim/events.parquet", help="Merged manifest."),
    out: Path = typer.Option("data/interim/split.parquet", help="Manifest with a `split` column."),
) -> None:
    """Assign train / val / test by session; `unknown` events go to the open-set split.

    With `split.outlier_exposure`, only the `unknown` events of test sessions go to
    the open-set split; those of training / validation sessions stay in their split.
    """
    p = load_yaml(params)
    cfg = section(p, "split")
    result = split_sessions(read_events(events, arrow_lists=True, trusted=True), val_fraction=cfg["val_fraction"],
                            test_fraction=cfg["test_fraction"], seed=p["seed"], test_sessions=cfg["test_kits"],
                            follow_sources=cfg.get("follow_sources", []),
                            outlier_exposure=cfg.get("outlier_exposure", False))
    write_events(result, out)
    print(result.groupby("split")["session_id"].agg(["size", "nunique"]).rename(
        columns={"size": "events", "nunique": "sessions"}).to_string())


if __name__ == "__main__":
    stage(main)
