"""Stage openset_eval: known test hits against the open-set (unknown) hits, per score."""

from pathlib import Path

import pandas as pd
import typer

from musicml.atomic import atomic_path, write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.errors import GateError, InputError
from musicml.release.gates import Gate, evaluate_gates, failed_summary
from musicml.release.openset import SCORES, better_score, roc_table, score_report


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `openset`."),
    predictions: Path = typer.Option("data/processed/predictions.parquet",
                                     help="Per-hit predictions with max_softmax and energy (evaluate)."),
    metrics: Path = typer.Option("metrics/openset.json", help="AUROC, FPR@TPR per score, the chosen score, gates."),
    roc_csv: Path = typer.Option("metrics/plots/openset_roc.csv", help="ROC curves on one FPR grid (dvc plot)."),
) -> None:
    """AUROC and FPR at `openset.tpr_target` TPR of max-softmax and energy; the better one is chosen.

    Known = split test (a taxonomy class), unknown = split openset. Gates
    `openset.min_auroc` and `openset.max_fpr` apply to the chosen score;
    `openset.strict` makes a failed gate fail the stage (metrics are written first).
    """
    cfg = section(load_yaml(params), "openset")
    table = pd.read_parquet(predictions)
    missing = [c for c in ("split", *SCORES) if c not in table.columns]
    if missing:
        raise InputError(predictions, f"missing columns {missing}; re-run the evaluate stage", field=missing[0])
    known, unknown = table[table["split"] == "test"], table[table["split"] == "openset"]
    reports = {name: score_report(known[name].to_numpy(), unknown[name].to_numpy(), tpr_target=cfg["tpr_target"],
                                  origin=str(predictions)) for name in SCORES}
    chosen = better_score(reports)
    best = reports[chosen]
    figures = {"score": chosen, "auroc": best.auroc, "fpr_at_tpr": best.fpr_at_tpr, "threshold": best.threshold,
               "tpr_target": cfg["tpr_target"], "known_events": int(len(known)), "unknown_events": int(len(unknown)),
               "scores": {name: {"auroc": r.auroc, "fpr_at_tpr": r.fpr_at_tpr, "threshold": r.threshold}
                          for name, r in reports.items()}}
    gates = [Gate("auroc", str(metrics), "auroc", ">=", cfg["min_auroc"]),
             Gate("fpr_at_tpr", str(metrics), "fpr_at_tpr", "<=", cfg["max_fpr"])]
    checked = evaluate_gates(gates, read=lambda _: figures)
    figures.update(gates=checked["gates"], passed=checked["passed"])
    write_json(metrics, figures)
    with atomic_path(roc_csv) as tmp:
        pd.DataFrame(roc_table(reports, points=cfg["roc_points"])).round(6).to_csv(tmp, index=False)
    print(f"openset_eval: {chosen} chosen, AUROC {best.auroc:.4f}, FPR@{cfg['tpr_target']:.0%} TPR "
          f"{best.fpr_at_tpr:.4f} ({len(known)} known, {len(unknown)} unknown hits)")
    if cfg["strict"] and not checked["passed"]:
        raise GateError(f"openset gate failed: {failed_summary(checked)}")


if __name__ == "__main__":
    stage(main)
