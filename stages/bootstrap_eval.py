"""Stage bootstrap_eval: confidence intervals of the test metrics, model and baseline."""

from pathlib import Path

import pandas as pd
import typer

from musicml.atomic import write_json
from musicml.config import load_taxonomy, load_yaml, section
from musicml.console import stage
from musicml.evaluation import bootstrap_ci


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `bootstrap`."),
    taxonomy: Path = typer.Option("configs/taxonomy.yaml", help="Taxonomy file (class list)."),
    predictions: Path = typer.Option("data/processed/predictions.parquet", help="Per-hit predictions."),
    report: Path = typer.Option("metrics/bootstrap.json", help="CIs for accuracy, macro-F1, per-class recall."),
) -> None:
    """Percentile bootstrap (`bootstrap.iterations` resamples); `bootstrap.cluster` resamples whole sessions."""
    p = load_yaml(params)
    cfg = section(p, "bootstrap")
    classes = list(load_taxonomy(taxonomy).classes)
    table = pd.read_parquet(predictions)
    out = {}
    for scope, part in [("all", table[table["split"] == "test"])] + [
            (source, g) for source, g in table[table["split"] == "test"].groupby("source")]:
        groups = part["session_id"].to_numpy() if cfg["cluster"] else None
        kwargs = dict(classes=classes, iterations=cfg["iterations"], confidence=cfg["confidence"],
                      seed=p["seed"], groups=groups)
        out[scope] = {"model": bootstrap_ci(part["true_index"].to_numpy(), part["pred_index"].to_numpy(), **kwargs),
                      "baseline": bootstrap_ci(part["baseline_true_index"].to_numpy(),
                                               part["baseline_pred_index"].to_numpy(), **kwargs)}
    write_json(report, out)
    m = out["all"]["model"]["macro_f1"]
    print(f"bootstrap: macro-F1 {m['point']:.4f} [{m['low']:.4f}, {m['high']:.4f}]")


if __name__ == "__main__":
    stage(main)
