"""Stage ingest_hydrogen: events of the Hydrogen drum kits under `sources.hydrogen.path`."""

from pathlib import Path

import typer

from musicml.config import load_taxonomy, load_yaml, section
from musicml.console import stage
from musicml.drums.hydrogen import parse_kits
from musicml.manifest import empty_events, write_events
from musicml.shards import select_shard


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `sources.hydrogen` and `shard`."),
    taxonomy: Path = typer.Option("configs/taxonomy.yaml", help="Taxonomy file (classes + name rules)."),
    out: Path = typer.Option("data/interim/sources/hydrogen.parquet", help="Events manifest to write."),
) -> None:
    """One event per sample layer of every kit; unmapped instruments stay `unknown`.

    Disabled (the default until `make kits`), it writes an empty manifest. With
    `shard.shard_count` > 1 it keeps the kits of shard `shard.shard_index`.
    """
    p = load_yaml(params)
    cfg = section(p, "sources.hydrogen")
    events = (parse_kits(cfg["path"], taxonomy=load_taxonomy(taxonomy), on_missing=cfg["on_missing"])
              if cfg["enabled"] else empty_events())
    events = select_shard(events, **section(p, "shard"))
    write_events(events, out)
    print(f"hydrogen: {len(events)} events from {events['session_id'].nunique()} kits -> {out}")


if __name__ == "__main__":
    stage(main)
