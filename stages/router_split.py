"""Stage router_split: train / val / test by whole template family."""

from pathlib import Path

import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.router.examples import read_examples, write_examples
from musicml.router.splits import split_by_template


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `router.split`."),
    data: Path = typer.Option("data/interim/router/validated.jsonl", help="Validated examples."),
    out: Path = typer.Option("data/interim/router/dataset.jsonl", help="Examples with a `split` column."),
    summary: Path = typer.Option("metrics/router_split.json", help="Rows and template ids per split."),
) -> None:
    """Every row of a template id (phrasings and paraphrases) goes to one split."""
    p = load_yaml(params)
    cfg = section(p, "router.split")
    df = read_examples(data)
    df["split"] = split_by_template(df, val_fraction=float(cfg["val_fraction"]),
                                    test_fraction=float(cfg["test_fraction"]), seed=int(section(p, "seed")))
    write_examples(df, out)
    stats = {"rows": df["split"].value_counts().sort_index().to_dict(),
             "rows_by_category": {s: g["category"].value_counts().sort_index().to_dict() for s, g in df.groupby("split")},
             # Real requests have one id each: only template families are listed.
             "templates": {s: sorted(t for t in g["template_id"].unique() if not t.startswith("real-"))
                           for s, g in df.groupby("split")}}
    write_json(summary, stats)
    print(f"router_split: {stats['rows']} -> {out}")


if __name__ == "__main__":
    stage(main)
