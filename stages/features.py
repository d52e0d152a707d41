"""Stage features: 128-band log-mel x 128 frames per hit, in a memory-mapped store."""

from pathlib import Path

import pandas as pd
import typer

from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.features import MelConfig, extract_to_store
from musicml.manifest import read_events


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `features`."),
    dataset: Path = typer.Option("data/interim/dataset.parquet", help="Gated, split manifest."),
    augmented: Path = typer.Option("data/interim/augmented.parquet", help="Augmented training hits."),
    out: Path = typer.Option("data/processed/features", help="Store folder (features.npy + index.parquet)."),
) -> None:
    """Every audio file is decoded once, however many hits it holds; progress is shown."""
    mel = MelConfig(**section(load_yaml(params), "features"))
    events = pd.concat([read_events(dataset), read_events(augmented)], ignore_index=True)
    extract_to_store(events, out, mel, progress=True)
    print(f"features: {len(events)} hits x {mel.n_mels} mels x {mel.n_frames} frames -> {out}")


if __name__ == "__main__":
    stage(main)
