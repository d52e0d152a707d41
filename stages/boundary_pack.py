"""Stage boundary_pack: streaming-window labels of the held-out takes (which events, which near an edge)."""

import warnings
from pathlib import Path

import pandas as pd
import typer

from musicml.audio import audio_duration
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.boundary import held_out_takes, pack_windows
from musicml.manifest import read_events, write_jsonl


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `boundary` and `transcribe` (windows)."),
    dataset: Path = typer.Option("data/interim/dataset.parquet", help="Gated, split events manifest."),
    extra: Path = typer.Option("data/interim/transcriber/heldout.parquet",
                               help="More takes of the held-out kits (transcriber_grooves); may be empty. Their "
                                    "windows are marked `extra`."),
    out: Path = typer.Option("data/processed/boundary/labels.jsonl", help="One JSON object per window."),
) -> None:
    """Windows of `transcribe.window_ms` every `transcribe.hop_ms` over each held-out take of
    `boundary.source` (split `boundary.split`) of the dataset and of --extra; events within
    `boundary.margin_ms` of an edge are flagged."""
    p = load_yaml(params)
    cfg, stream = section(p, "boundary"), section(p, "transcribe")
    base = held_out_takes(read_events(dataset), source=cfg["source"], split=cfg["split"], origin=str(dataset))
    more = held_out_takes(read_events(extra), source=cfg["source"], split=cfg["split"], origin=str(extra))
    events = pd.concat([base, more], ignore_index=True) if len(more) else base
    if events.empty:  # e.g. the source is switched off: an empty pack, which boundary_eval reports as 0 takes
        warnings.warn(f"boundary_pack: no events with source '{cfg['source']}' and split '{cfg['split']}' "
                      f"in {dataset}; the pack is empty")
    durations = {path: audio_duration(path) for path in sorted(events["audio_path"].unique())}
    rows = pack_windows(events, durations, window_s=stream["window_ms"] / 1000, hop_s=stream["hop_ms"] / 1000,
                        margin_s=cfg["margin_ms"] / 1000)
    extra_takes = set(more["audio_path"].astype(str))
    rows = [{**row, "extra": row["take"] in extra_takes} for row in rows]
    write_jsonl(pd.DataFrame(rows, columns=["take", "session_id", "window", "start_s", "end_s", "events",
                                            "n_boundary", "extra"]), out)
    print(f"boundary_pack: {len(durations)} takes ({len(extra_takes)} extra), {len(rows)} windows, {len(events)} events, "
          f"{sum(r['n_boundary'] for r in rows)} window-edge events -> {out}")


if __name__ == "__main__":
    stage(main)
