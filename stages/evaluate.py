"""Stage evaluate: the model and a scikit-learn baseline on the held-out test kits."""

from pathlib import Path

import numpy as np
import pandas as pd
import typer

from musicml.atomic import atomic_path, write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.baseline import make_baseline, mfcc_summary
from musicml.drums.checkpoint import load_feature_density, load_model
from musicml.drums.training import predict_outputs
from musicml.errors import InputError
from musicml.evaluation import classification_metrics, credit_extra_labels, energy_score, softmax
from musicml.features import open_store
from musicml.release.openset import FeatureDensity, knn_score
from musicml.taxonomy import UNKNOWN


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `evaluate`."),
    model_path: Path = typer.Option("models/drum_classifier.pt", "--model", help="Trained model."),
    store: Path = typer.Option("data/processed/features", help="Feature store."),
    metrics: Path = typer.Option("metrics/eval.json", help="Test metrics (model and baseline)."),
    confusion_csv: Path = typer.Option("metrics/plots/confusion.csv", help="actual,predicted rows (dvc plot)."),
    predictions: Path = typer.Option("data/processed/predictions.parquet", help="Per-hit predictions and open-set scores: test, open-set, validation kits."),
) -> None:
    """Accuracy, macro-F1, per-class P/R/F1, per-source figures, confusion matrix; baseline side by side."""
    p = load_yaml(params)
    cfg = section(p, "evaluate")
    model, classes, _ = load_model(model_path)
    features, index = open_store(store)
    to_id = {c: i for i, c in enumerate(classes)}
    labels = index["label"].astype(str)
    split = index["split"].astype(str).to_numpy()
    known = labels.isin(classes).to_numpy()
    train_idx = np.flatnonzero(known & (split == "train"))
    # Test hits and the open-set, plus the validation kits' hits, known and `unknown` (the validation
    # open-set of split.outlier_exposure): openset_eval chooses the score on those, never on test.
    scored_idx = np.flatnonzero((known & (split == "test")) | (split == "openset")
                                | ((known | (labels == UNKNOWN).to_numpy()) & (split == "val")))
    y = labels.map(to_id).fillna(-1).astype(int).to_numpy()

    device = model.fc.weight.device
    logits, embedded = predict_outputs(model, features, scored_idx, device=device)
    density_doc = load_feature_density(model_path)
    if density_doc is None:
        raise InputError(model_path, "model saved without its feature density; re-run the train stage")
    # The k-NN bank: an evenly strided subset of the known training hits (the distance to the k-th
    # neighbour needs no more to rank hits, and the forward pass over all of them is the cost).
    bank_idx = train_idx[np.linspace(0, len(train_idx) - 1, min(cfg["knn_bank"], len(train_idx))).astype(int)]
    bank = predict_outputs(model, features, bank_idx, device=device)[1]
    probs = softmax(logits)
    pred = probs.argmax(1)
    baseline = make_baseline(cfg["baseline_estimator"], seed=p["seed"], n_trees=cfg["baseline_trees"])
    baseline.fit(mfcc_summary(features[train_idx], n_mfcc=cfg["n_mfcc"]), y[train_idx])
    base_pred = baseline.predict(mfcc_summary(features[scored_idx], n_mfcc=cfg["n_mfcc"]))

    rows = index.iloc[scored_idx].reset_index(drop=True)
    extra = [[to_id[e] for e in ex if e in to_id] for ex in rows["extra_labels"]]
    table = pd.DataFrame({
        "event_id": rows["event_id"].astype(str), "session_id": rows["session_id"].astype(str),
        "source": rows["source"].astype(str), "split": rows["split"].astype(str), "label": rows["label"].astype(str),
        "true_index": credit_extra_labels(y[scored_idx], pred, extra), "pred_index": pred,
        "baseline_true_index": credit_extra_labels(y[scored_idx], base_pred, extra), "baseline_pred_index": base_pred,
        "predicted": [classes[i] for i in pred], "max_softmax": probs.max(1), "energy": energy_score(logits),
        "mahalanobis": FeatureDensity.from_dict(density_doc).score(embedded),
        "knn": knn_score(embedded, bank, k=cfg["knn_k"]),
    })
    test = table[table["split"] == "test"]
    report = classification_metrics(test["true_index"].to_numpy(), test["pred_index"].to_numpy(), classes)
    base = classification_metrics(test["baseline_true_index"].to_numpy(), test["baseline_pred_index"].to_numpy(),
                                  classes)
    report.update({"baseline_accuracy": base["accuracy"], "baseline_macro_f1": base["macro_f1"],
                   "baseline_estimator": cfg["baseline_estimator"], "by_source": {}})
    for source, part in test.groupby("source"):
        m = classification_metrics(part["true_index"].to_numpy(), part["pred_index"].to_numpy(), classes)
        b = classification_metrics(part["baseline_true_index"].to_numpy(), part["baseline_pred_index"].to_numpy(),
                                   classes)
        report["by_source"][source] = {"events": m["events"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                                       "baseline_macro_f1": b["macro_f1"]}
    write_json(metrics, report)
    with atomic_path(confusion_csv) as tmp:
        pd.DataFrame({"actual": [classes[i] for i in test["true_index"]],
                      "predicted": [classes[i] for i in test["pred_index"]]}).to_csv(tmp, index=False)
    with atomic_path(predictions) as tmp:
        table.to_parquet(tmp, index=False)
    print(f"evaluate: test macro-F1 {report['macro_f1']:.4f} (baseline {base['macro_f1']:.4f}), "
          f"accuracy {report['accuracy']:.4f} on {len(test)} hits")


if __name__ == "__main__":
    stage(main)
