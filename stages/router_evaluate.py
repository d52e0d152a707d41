"""Stage router_evaluate: both models on the template-held-out test set and on the natural set."""

from pathlib import Path

import numpy as np
import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.errors import GateError
from musicml.manifest import write_jsonl
from musicml.router.examples import LABELS, read_examples
from musicml.router.models import HeadConfig, decide, head_proba
from musicml.router.natural import read_natural
from musicml.router.scoring import gates, score
from musicml.router.training import blend, family_cv, labels_of, load_baseline, load_head, load_tuned


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `router.evaluate` and `router.train` "
                                                    "(the models of the all-family cross-validation)."),
    data: Path = typer.Option("data/interim/router/dataset.jsonl", help="Split examples (test rows are scored)."),
    natural: Path = typer.Option("data/raw/router/natural.jsonl", help="Hand-written natural requests."),
    embeddings: Path = typer.Option("data/processed/router/embeddings.npz", help="Cached sentence embeddings."),
    baseline_path: Path = typer.Option("models/router/baseline.pkl", "--baseline", help="Trained baseline."),
    head_path: Path = typer.Option("models/router/head.pt", "--head", help="Trained embedding head."),
    metrics: Path = typer.Option("metrics/router_eval.json", help="Figures of both models on both sets, gates."),
    predictions: Path = typer.Option("data/processed/router/natural_predictions.jsonl",
                                     help="Natural-set predictions of both models (for reading errors)."),
) -> None:
    """Exact match, per-label P/R/F1, confusion per category; the seed's gates on the embedding model's test figures.

    With `router.evaluate.strict` a failing gate fails the stage (after the report is written). Beside the
    test, `family_cv` holds the all-family cross-validation (`router.evaluate.family_cv`: every template
    family of the dataset held out once per seed, on the cached frozen-encoder features), a steadier figure
    for unseen phrasings than the few dozen families the test holds out.
    """
    p = load_yaml(params)
    cfg = section(p, "router.evaluate")
    df = read_examples(data)
    test = (df["split"] == "test").to_numpy()
    nat = read_natural(natural)
    sets = {"test": df[test].reset_index(drop=True), "natural": nat}
    baseline, baseline_thresholds = load_baseline(baseline_path)
    head, head_thresholds, layers, blend_weight = load_head(head_path)
    tuned = load_tuned(head_path)
    with np.load(embeddings) as arrays:  # read once: the test, the natural set and the family cross-validation
        cached = {"dataset": arrays["dataset"], "natural": arrays["natural"]}
    if tuned:
        # The head was trained on fine-tuned encoder layers: the cached (packaged-encoder) features do not apply.
        from musicml.router.encoder import embed, load_encoder

        encoder = load_encoder(layers, tuned=tuned)
        vectors = {name: embed(frame["question"].tolist(), layers=layers, encoder=encoder)
                   for name, frame in sets.items()}
    else:
        vectors = {"test": cached["dataset"][test], "natural": cached["natural"]}
    report: dict = {}
    rows = nat[["question", *LABELS]].copy()
    for name, frame in sets.items():
        y = labels_of(frame)
        baseline_proba = baseline.predict_proba(frame["question"].tolist())
        outputs = {"baseline": decide(baseline_proba, baseline_thresholds),
                   "embedding": decide(blend(head_proba(head, vectors[name]), baseline_proba, blend_weight),
                                       head_thresholds)}
        for model, (pred, confidence) in outputs.items():
            report.setdefault(model, {})[name] = score(y, pred, frame["category"].tolist())
            if name == "natural":
                rows[f"{model}_needsDAW"], rows[f"{model}_needsArranger"] = pred[:, 0], pred[:, 1]
                rows[f"{model}_confidence"] = np.round(confidence, 4)
    floors = {k: float(cfg[k]) for k in ("min_accuracy", "min_precision", "min_recall", "min_f1")}
    report["gating_results"] = gates(report["embedding"]["test"], **floors)
    report["passed"] = all(g["passed"] for g in report["gating_results"])
    report["natural_embedding_beats_baseline"] = (report["embedding"]["natural"]["exact_match"]
                                                  > report["baseline"]["natural"]["exact_match"])
    if cfg["family_cv"]["seeds"]:
        train_cfg = section(p, "router.train")
        report["family_cv"] = family_cv(df, cached["dataset"], folds=int(cfg["family_cv"]["folds"]),
                                        seeds=[int(s) for s in cfg["family_cv"]["seeds"]],
                                        baseline_c=float(train_cfg["baseline_c"]),
                                        head=HeadConfig.from_params(train_cfg["head"]),
                                        blend_weights=[float(w) for w in train_cfg["blend_weights"]])
    write_json(metrics, report)
    write_jsonl(rows, predictions)
    for model in ("baseline", "embedding"):
        print(f"router_evaluate: {model}: test exact match {report[model]['test']['exact_match']:.3f}, "
              f"natural {report[model]['natural']['exact_match']:.3f}")
    if "family_cv" in report:
        cv = report["family_cv"]
        print(f"router_evaluate: all-family cross-validation ({cv['families']} families, seeds {cv['seeds']}): "
              f"embedding {cv['embedding']['mean']:.3f}, baseline {cv['baseline']['mean']:.3f}")
    failed = [g["message"] for g in report["gating_results"] if not g["passed"]]
    if failed and cfg["strict"]:
        raise GateError("router gate failed: " + "; ".join(failed))


if __name__ == "__main__":
    stage(main)
