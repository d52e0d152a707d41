"""Stage router_generate: requests from the template library, with the target category shares."""

from pathlib import Path

import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.router.examples import write_examples
from musicml.router.library import generate, load_library


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `router.size`, `router.shares`."),
    templates: Path = typer.Option("configs/router_templates.yaml", help="Template library."),
    out: Path = typer.Option("data/interim/router/generated.jsonl", help="Generated examples (JSONL)."),
    summary: Path = typer.Option("metrics/router_generate.json", help="Counts per category and template."),
) -> None:
    """`router.size` examples, categories in `router.shares`, each template family used evenly."""
    p = load_yaml(params)
    cfg = section(p, "router")
    library = load_library(str(templates))
    df = generate(library, size=int(cfg["size"]), shares=cfg["shares"], seed=int(section(p, "seed")))
    write_examples(df, out)
    stats = {"examples": len(df), "templates": len(library.templates),
             "patterns": sum(len(t.patterns) for t in library.templates),
             "distinct_texts": int(df["question"].str.lower().nunique()),
             "categories": df["category"].value_counts().sort_index().to_dict(),
             "operations": df["operation"].value_counts().sort_index().to_dict()}
    write_json(summary, stats)
    print(f"router_generate: {len(df)} examples from {stats['templates']} templates "
          f"({stats['patterns']} patterns) -> {out}")


if __name__ == "__main__":
    stage(main)
