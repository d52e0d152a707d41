"""Open-set scores of a drum model on the validation and test kits, optionally after training one with
outlier exposure, on an existing feature store (no re-extraction).

Validation open-set: the `unknown` hits of the validation kits against their known hits; test: those
of the test kits against theirs (kits' splits read from the store's known hits, so it works on a store
split with or without `split.outlier_exposure`). Prints AUROC and FPR@95 of max-softmax, energy,
Mahalanobis (class means + shared covariance of the training hits' penultimate features) and k-NN
(cosine, k-th neighbour among training hits), and the test macro-F1 with its 95 % bootstrap CI.

    python benchmarks/openset_scores.py --model models/drum_classifier.pt
    python benchmarks/openset_scores.py --train-oe-weight 0.5 --save /tmp/oe.pt   # train first (params.yaml)
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from musicml.config import load_taxonomy, load_yaml, section
from musicml.drums.checkpoint import load_model, save_model
from musicml.drums.training import TrainConfig, predict_outputs, train_classifier
from musicml.drums.weights import event_weights, session_weights
from musicml.evaluation import bootstrap_ci, classification_metrics, credit_extra_labels, energy_score, softmax
from musicml.features import MelConfig, open_store
from musicml.release.openset import FeatureDensity, knn_score, score_report
from musicml.taxonomy import UNKNOWN

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="a trained model (.pt); without it, --train-oe-weight trains one")
    ap.add_argument("--train-oe-weight", type=float, help="train with this oe_weight (train params from params.yaml)")
    ap.add_argument("--save", type=Path, help="where to save the model trained here")
    ap.add_argument("--store", type=Path, default=ROOT / "data/processed/features")
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--bank", type=int, default=4000, help="training hits in the density / k-NN bank (strided)")
    args = ap.parse_args()

    p = load_yaml(args.params)
    classes = list(load_taxonomy(ROOT / "configs/taxonomy.yaml").classes)
    features, index = open_store(args.store)
    labels = index["label"].astype(str).to_numpy()
    known = np.isin(labels, classes)
    y = pd.Series(labels).map({c: i for i, c in enumerate(classes)}).fillna(-1).astype(int).to_numpy()
    kit_split = index[known].groupby("session_id")["split"].first()
    kit = index["session_id"].map(kit_split).astype(str).to_numpy()  # the split of each hit's kit
    train_known = np.flatnonzero(known & (kit == "train"))

    if args.model is None:
        config = replace(TrainConfig.from_params(p), oe_weight=args.train_oe_weight)
        outliers = np.flatnonzero((labels == UNKNOWN) & (kit == "train")) if args.train_oe_weight > 0 else []
        train_idx = np.concatenate([train_known, outliers]).astype(int)
        sw = session_weights(index.iloc[train_known], min_weight=p["weights"]["min_weight"],
                             max_weight=p["weights"]["max_weight"])[0]
        w = np.ones(len(train_idx))
        w[:len(train_known)] = event_weights(index.iloc[train_known], sw)
        val_idx = np.flatnonzero(known & (kit == "val"))
        started = time.perf_counter()
        model, result = train_classifier(features, train_idx, y[train_idx], w, val_idx, y[val_idx],
                                         n_classes=len(classes), config=config, classes=classes,
                                         checkpoint_path=Path("/tmp/openset_scores_ckpt.pt"),
                                         on_epoch=lambda m: print(m, flush=True))
        print(f"trained {result.epochs_run} epochs in {time.perf_counter() - started:.0f} s, "
              f"{len(outliers)} outliers, best val macro-F1 {result.best_val_macro_f1:.4f}")
        if args.save:
            save_model(args.save, model, classes=classes, mel=MelConfig.from_params(section(p, "features")))
    else:
        model, _, _ = load_model(args.model)

    cpu = torch.device("cpu")
    bank_idx = train_known[np.linspace(0, len(train_known) - 1, min(args.bank, len(train_known))).astype(int)]
    _, bank = predict_outputs(model, features, bank_idx, device=cpu)
    density = FeatureDensity.fit(bank, y[bank_idx], len(classes))
    scores = {}
    for split in ("val", "test"):
        for part, mask in (("known", known), ("unknown", labels == UNKNOWN)):
            idx = np.flatnonzero(mask & (kit == split))
            logits, emb = predict_outputs(model, features, idx, device=cpu)
            scores[split, part] = {"max_softmax": softmax(logits).max(1), "energy": energy_score(logits),
                                   "mahalanobis": density.score(emb), "knn": knn_score(emb, bank, k=10),
                                   "pred": logits.argmax(1), "y": y[idx]}
            # As the evaluate stage scores them: a prediction of one of a hit's extra labels is right.
            extra = [[classes.index(e) for e in ex if e in classes] for ex in index["extra_labels"].iloc[idx]]
            scores[split, part]["y"] = credit_extra_labels(y[idx], scores[split, part]["pred"], extra)
    for name in ("max_softmax", "energy", "mahalanobis", "knn"):
        row = []
        for split in ("val", "test"):
            r = score_report(scores[split, "known"][name], scores[split, "unknown"][name])
            row.append(f"{split} AUROC {r.auroc:.3f} FPR@95 {r.fpr_at_tpr:.3f}")
        print(f"{name:12s} " + " | ".join(row))
    t = scores["test", "known"]
    f1 = classification_metrics(t["y"], t["pred"], classes)["macro_f1"]
    ci = bootstrap_ci(t["y"], t["pred"], classes=classes, iterations=1000, seed=p["seed"])["macro_f1"]
    print(f"test macro-F1 {f1:.4f} [{ci['low']:.4f}, {ci['high']:.4f}]  n={len(t['y'])} known, "
          f"{len(scores['test', 'unknown']['y'])} unknown; val {len(scores['val', 'known']['y'])} known, "
          f"{len(scores['val', 'unknown']['y'])} unknown")


if __name__ == "__main__":
    main()
