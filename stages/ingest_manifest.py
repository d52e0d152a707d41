"""Stage ingest_manifest: events JSONL files (with their audio) under `sources.manifest.path`."""

from pathlib import Path

import typer

from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.manifest import empty_events, read_manifest_folder, write_events
from musicml.shards import select_shard


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `sources.manifest` and `shard`."),
    out: Path = typer.Option("data/interim/sources/manifest.parquet", help="Events manifest to write."),
) -> None:
    """Validate every `*.jsonl` under the folder (errors name file:line and field) and write one manifest."""
    p = load_yaml(params)
    cfg = section(p, "sources.manifest")
    events = read_manifest_folder(cfg["path"]) if cfg["enabled"] else empty_events()
    events = select_shard(events, **section(p, "shard"))  # shard.shard_count > 1: this shard's sessions
    write_events(events, out)
    print(f"manifest: {len(events)} events -> {out}")


if __name__ == "__main__":
    stage(main)
