"""All-family cross-validation of the intent router: every template family held out once per seed.

The template-held-out test holds out ~27 families, drawn anew whenever the
library changes, so its figure moves with the draw by more than most changes
do. This script reads every family instead: 5 folds over all rows of the
dataset (train, val and test alike), stratified by category, no fold splitting
a family; per seed, the blend weight, epoch count and thresholds are chosen
out of fold as router_train chooses them. It prints the embedding router's
and the baseline's out-of-fold exact match per seed and their mean, per
category, and with ``--families FILE`` (one template id per line) the exact
match on those families' rows alone: the like-for-like figure when a change
adds families. Needs `dvc repro router_embed` first.

    python benchmarks/router_family_cv.py [--seeds 1 2 3] [--families old_ids.txt]
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", default="data/interim/router/dataset.jsonl")
    parser.add_argument("--embeddings", default="data/processed/router/embeddings.npz")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--families", help="File of template ids: also score their rows alone.")
    args = parser.parse_args()

    from musicml.config import load_yaml, section
    from musicml.router.examples import read_examples
    from musicml.router.models import HeadConfig, decide, exact_match, tune_thresholds
    from musicml.router.scoring import score
    from musicml.router.training import blend, choose_hybrid, cross_validate, labels_of

    cfg = section(load_yaml(args.params), "router.train")
    df = read_examples(args.data)
    with np.load(args.embeddings) as arrays:
        x = arrays["dataset"]
    y = labels_of(df)
    families = df["template_id"].to_numpy()
    categories = df["category"].to_numpy()
    subset = None
    if args.families:
        with open(args.families) as handle:
            subset = np.isin(families, handle.read().split())
    print(f"{len(df)} rows, {len(set(families))} families, {args.folds} folds"
          + (f", {int(subset.sum())} rows in --families" if subset is not None else ""))
    embedding, baseline, on_subset = [], [], []
    for seed in args.seeds:
        baseline_oof, head_oof = cross_validate(
            df["question"].tolist(), x, y, df["confidence"].to_numpy(dtype=float), families, categories,
            folds=args.folds, baseline_c=float(cfg["baseline_c"]), head=HeadConfig(**cfg["head"]), seed=seed)
        chosen = choose_hybrid(y, baseline_oof, head_oof, list(cfg["blend_weights"]))
        pred = decide(blend(head_oof[chosen["epochs"] - 1], baseline_oof, chosen["blend_weight"]),
                      chosen["thresholds"])[0]
        embedding.append(exact_match(y, pred))
        baseline.append(exact_match(y, decide(baseline_oof, tune_thresholds(y, baseline_oof))[0]))
        line = (f"seed {seed}: embedding {embedding[-1]:.4f} (blend {chosen['blend_weight']}, "
                f"{chosen['epochs']} epochs), baseline {baseline[-1]:.4f}, by category "
                f"{score(y, pred, categories.tolist())['by_category']}")
        if subset is not None:
            on_subset.append(exact_match(y[subset], pred[subset]))
            line += f", --families rows {on_subset[-1]:.4f}"
        print(line, flush=True)
    print(f"mean: embedding {np.mean(embedding):.4f}, baseline {np.mean(baseline):.4f}"
          + (f", --families rows {np.mean(on_subset):.4f}" if on_subset else ""))


if __name__ == "__main__":
    main()
