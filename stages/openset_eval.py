"""Stage openset_eval: known hits against the unknown (open-set) hits, per score; chosen on validation."""

from pathlib import Path

import pandas as pd
import typer

from musicml.atomic import atomic_path, write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.errors import GateError, InputError
from musicml.release.gates import Gate, evaluate_gates, failed_summary
from musicml.release.openset import SCORES, SERVABLE, better_score, roc_table, score_report
from musicml.taxonomy import UNKNOWN


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `openset`."),
    predictions: Path = typer.Option("data/processed/predictions.parquet",
                                     help="Per-hit predictions with every open-set score (evaluate)."),
    metrics: Path = typer.Option("metrics/openset.json", help="AUROC, FPR@TPR per score, the chosen score, gates."),
    roc_csv: Path = typer.Option("metrics/plots/openset_roc.csv", help="Test ROC curves on one FPR grid (dvc plot)."),
) -> None:
    """AUROC and FPR at `openset.tpr_target` TPR of every score, on validation and test kits.

    Test: known = split test (a taxonomy class), unknown = split openset (the
    test kits' `unknown` hits with split.outlier_exposure, else all of them).
    Validation: the known and `unknown` hits of the validation kits. The score
    served as `unknown_score` (max_softmax, energy or mahalanobis; k-NN is
    measured only) is the best on VALIDATION, and its threshold (TPR target on
    validation) is stored; without a validation open-set it is chosen on test,
    as before outlier exposure, and the file says so (`chosen_on`). Gates
    `openset.min_auroc` and `openset.max_fpr` apply to the chosen score's test
    figures; `openset.strict` makes a failed gate fail the stage (metrics are written first).
    """
    cfg = section(load_yaml(params), "openset")
    table = pd.read_parquet(predictions)
    missing = [c for c in ("split", "label", *SCORES) if c not in table.columns]
    if missing:
        raise InputError(predictions, f"missing columns {missing}; re-run the evaluate stage", field=missing[0])
    known, unknown = table[table["split"] == "test"], table[table["split"] == "openset"]
    val = table[table["split"] == "val"]
    val_known, val_unknown = val[val["label"] != UNKNOWN], val[val["label"] == UNKNOWN]

    def reports(k: pd.DataFrame, u: pd.DataFrame) -> dict:
        return {name: score_report(k[name].to_numpy(), u[name].to_numpy(), tpr_target=cfg["tpr_target"],
                                   origin=str(predictions)) for name in SCORES}

    test = reports(known, unknown)
    validation = reports(val_known, val_unknown) if len(val_known) and len(val_unknown) else None
    chosen_on = "val" if validation else "test"
    chosen = better_score({name: (validation or test)[name] for name in SERVABLE})
    best = test[chosen]
    figures = {"score": chosen, "chosen_on": chosen_on, "auroc": best.auroc, "fpr_at_tpr": best.fpr_at_tpr,
               # The serving threshold (unknown_score 0.5) is the chosen split's: never tuned on test with a
               # validation open-set.
               "threshold": (validation or test)[chosen].threshold,
               "tpr_target": cfg["tpr_target"], "known_events": int(len(known)), "unknown_events": int(len(unknown)),
               "val_known_events": int(len(val_known)), "val_unknown_events": int(len(val_unknown)),
               "scores": {name: {"auroc": r.auroc, "fpr_at_tpr": r.fpr_at_tpr, "threshold": r.threshold,
                                 **({"val_auroc": validation[name].auroc,
                                     "val_fpr_at_tpr": validation[name].fpr_at_tpr} if validation else {})}
                          for name, r in test.items()}}
    gates = [Gate("auroc", str(metrics), "auroc", ">=", cfg["min_auroc"]),
             Gate("fpr_at_tpr", str(metrics), "fpr_at_tpr", "<=", cfg["max_fpr"])]
    checked = evaluate_gates(gates, read=lambda _: figures)
    figures.update(gates=checked["gates"], passed=checked["passed"])
    write_json(metrics, figures)
    with atomic_path(roc_csv) as tmp:
        pd.DataFrame(roc_table(test, points=cfg["roc_points"])).round(6).to_csv(tmp, index=False)
    print(f"openset_eval: {chosen} chosen on {chosen_on}, test AUROC {best.auroc:.4f}, FPR@{cfg['tpr_target']:.0%} "
          f"TPR {best.fpr_at_tpr:.4f} ({len(known)} known, {len(unknown)} unknown hits)")
    if cfg["strict"] and not checked["passed"]:
        raise GateError(f"openset gate failed: {failed_summary(checked)}")


if __name__ == "__main__":
    stage(main)
