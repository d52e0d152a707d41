"""Stage ingest_synth: render the procedural drum kits (the embedded default source)."""

from pathlib import Path

import typer

from musicml.config import load_taxonomy, load_yaml, section
from musicml.console import stage
from musicml.drums.synth import synthesize
from musicml.manifest import empty_events, write_events
from musicml.shards import session_filter


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `sources.synth` and `shard`."),
    taxonomy: Path = typer.Option("configs/taxonomy.yaml", help="Taxonomy file (class list)."),
    audio_dir: Path = typer.Option("data/raw/synth", help="Folder for the rendered kits (one WAV per kit)."),
    out: Path = typer.Option("data/interim/sources/synth.parquet", help="Events manifest to write."),
) -> None:
    """Render one audio file per virtual kit and write its events manifest.

    With `shard.shard_count` > 1 only the kits of shard `shard.shard_index` are rendered.
    """
    p = load_yaml(params)
    cfg = section(p, "sources.synth")
    if not cfg["enabled"]:
        audio_dir.mkdir(parents=True, exist_ok=True)
        write_events(empty_events(), out)
        return
    events = synthesize(
        audio_dir, n_kits=cfg["n_kits"], hits_per_class=cfg["hits_per_class"], unknown_hits=cfg["unknown_hits"],
        sr=cfg["sr"], seed=p["seed"], technique_prob=cfg["technique_prob"],
        classes=load_taxonomy(taxonomy).classes, progress=True,
        keep_session=session_filter(**section(p, "shard")), workers=cfg.get("workers", 1),
    )
    write_events(events, out)
    print(f"synth: {len(events)} events in {events['session_id'].nunique()} kits -> {out}")


if __name__ == "__main__":
    stage(main)
