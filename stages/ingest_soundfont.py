"""Stage ingest_soundfont: the GM drum kits of the SoundFonts under `sources.soundfont.path`."""

from pathlib import Path

import typer

from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.soundfont import gm_drum_map, ingest_soundfonts
from musicml.manifest import empty_events, write_events
from musicml.shards import select_shard


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `sources.soundfont` and `shard`."),
    taxonomy: Path = typer.Option("configs/taxonomy.yaml", help="Taxonomy file; reads `gm_drums` (note -> label)."),
    audio_dir: Path = typer.Option("data/interim/soundfont", help="Rendered hits: one WAV per kit."),
    out: Path = typer.Option("data/interim/sources/soundfont.parquet", help="Events manifest to write."),
) -> None:
    """Play every GM percussion note of every drum kit at each velocity with FluidSynth.

    Labels come from the General MIDI note, not from names. Silent notes and
    hits identical to one already kept (presets sharing samples) are dropped.
    Disabled (the default until `make soundfonts`), it writes an empty manifest
    and an empty audio folder.
    """
    p = load_yaml(params)
    cfg = section(p, "sources.soundfont")
    if cfg["enabled"]:
        events = ingest_soundfonts(cfg["path"], gm_map=gm_drum_map(load_yaml(taxonomy)),
                                   velocities=cfg["velocities"], audio_dir=audio_dir, sr=cfg["sr"],
                                   hit_s=cfg["hit_s"], gain=cfg["gain"], exclude=cfg["exclude_presets"])
    else:
        events = empty_events()
        audio_dir.mkdir(parents=True, exist_ok=True)
    events = select_shard(events, **section(p, "shard"))  # shard.shard_count > 1: this shard's kits
    write_events(events, out)
    print(f"soundfont: {len(events)} events from {events['session_id'].nunique()} kits -> {out}")


if __name__ == "__main__":
    stage(main)
