"""Stage router_import: logged real requests joined with generated ones, category shares kept."""

from pathlib import Path

import pandas as pd
import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.router.examples import frame, read_examples, write_examples
from musicml.router.mixing import mix, read_requests


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `router.size`, `router.shares`."),
    generated: Path = typer.Option("data/interim/router/generated.jsonl", help="Generated examples."),
    requests: Path = typer.Option("data/raw/router/requests", help="Folder of logged requests (*.jsonl, *.csv)."),
    out: Path = typer.Option("data/interim/router/mixed.jsonl", help="Real + generated examples."),
    unlabelled: Path = typer.Option("data/interim/router/unlabelled.jsonl", help="Real requests without labels."),
    summary: Path = typer.Option("metrics/router_import.json", help="Counts per category: target, real, generated."),
) -> None:
    """Real labelled requests are all kept; generated ones fill each category up to its share of `router.size`."""
    cfg = section(load_yaml(params), "router")
    files = sorted(f for f in requests.glob("*") if f.suffix.lower() in (".jsonl", ".csv")) if requests.is_dir() else []
    labelled, unlabelled_parts = [], []
    for path in files:
        good, todo = read_requests(path)
        labelled.append(good)
        unlabelled_parts.append(todo)
    real = pd.concat(labelled, ignore_index=True) if labelled else frame([])
    mixed, stats = mix(read_examples(generated), real, size=int(cfg["size"]), shares=cfg["shares"])
    todo = pd.concat(unlabelled_parts, ignore_index=True) if unlabelled_parts else frame([])
    write_examples(mixed, out)
    write_examples(todo, unlabelled)
    write_json(summary, {**stats, "files": [f.name for f in files], "unlabelled": len(todo)})
    print(f"router_import: {stats['real']} real labelled + {stats['examples'] - stats['real']} generated, "
          f"{len(todo)} unlabelled set aside -> {out}")


if __name__ == "__main__":
    stage(main)
