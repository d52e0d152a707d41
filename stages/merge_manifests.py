"""Stage merge_manifests: one validated, de-duplicated events table from every source."""

from pathlib import Path
from typing import List

import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.merge import merge_manifests
from musicml.manifest import read_events, write_events


def main(
    inputs: List[Path] = typer.Option(
        ["data/interim/sources/synth.parquet", "data/interim/sources/hydrogen.parquet",
         "data/interim/sources/soundfont.parquet", "data/interim/sources/manifest.parquet",
         "data/interim/sources/grooves.parquet", "data/interim/sources/audio_midi.parquet"],
        "--input", help="Source manifests (repeatable)."),
    params: Path = typer.Option("params.yaml", help="Params file; reads `merge`."),
    out: Path = typer.Option("data/interim/events.parquet", help="Merged manifest."),
    summary: Path = typer.Option("metrics/merge.json", help="Per-source counts (metrics)."),
) -> None:
    """Concatenate source manifests, recompute stable event ids, drop duplicate hits."""
    cfg = section(load_yaml(params), "merge")
    merged, counts = merge_manifests({str(p): read_events(p, arrow_lists=True) for p in inputs},
                                     dedup_tolerance_s=cfg["dedup_tolerance_s"])
    write_events(merged, out)
    write_json(summary, counts)
    print(f"merge: {counts['events']} events, {counts['duplicates_dropped']} duplicates dropped -> {out}")


if __name__ == "__main__":
    stage(main)
