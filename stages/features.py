"""Stage features: 128-band log-mel x 128 frames per hit, in a memory-mapped store."""

from pathlib import Path

import pandas as pd
import typer

from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.features import MelConfig, extract_to_store
from musicml.manifest import read_events
from musicml.shards import select_shard


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `features` and `shard`."),
    dataset: Path = typer.Option("data/interim/dataset.parquet", help="Gated, split manifest."),
    augmented: Path = typer.Option("data/interim/augmented.parquet", help="Augmented training hits."),
    out: Path = typer.Option("data/processed/features", help="Store folder (features.npy + index.parquet)."),
) -> None:
    """Every audio file is decoded once, however many hits it holds; progress is shown.

    `features.workers` processes share the work (same store for any number);
    `features.dtype` float16 halves the store (for millions of hits). With
    `shard.shard_count` > 1 only the sessions of shard `shard.shard_index` are
    extracted; `musicml shards merge-features` joins the shard stores.
    """
    p = load_yaml(params)
    cfg = section(p, "features")
    mel = MelConfig.from_params(cfg)
    events = pd.concat([read_events(dataset), read_events(augmented)], ignore_index=True)
    events = select_shard(events, **section(p, "shard"))
    dtype = cfg.get("dtype", "float32")
    extract_to_store(events, out, mel, workers=cfg.get("workers", 1), dtype=dtype, progress=True)
    print(f"features: {len(events)} hits x {mel.n_mels} mels x {mel.n_frames} frames ({dtype}) -> {out}")


if __name__ == "__main__":
    stage(main)
