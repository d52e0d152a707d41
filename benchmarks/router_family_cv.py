"""All-family cross-validation of the intent router: every template family held out once per seed.

The template-held-out test holds out ~27 families, drawn anew whenever the
library changes, so its figure moves with the draw by more than most changes
do. :func:`musicml.router.training.family_cv` reads every family instead: 5
folds over all rows of the dataset (train, val and test alike), stratified by
category, no fold splitting a family; per seed, the blend weight, epoch count
and thresholds are chosen out of fold as router_train chooses them
(router_evaluate writes the same figure as ``family_cv`` in
metrics/router_eval.json). With ``--families FILE`` (one template id per
line) it also prints the exact match on those families' rows alone: the
like-for-like figure when a change adds families. Needs `dvc repro
router_embed` first.

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
    from musicml.router.models import HeadConfig
    from musicml.router.training import family_cv

    cfg = section(load_yaml(args.params), "router.train")
    df = read_examples(args.data)
    with np.load(args.embeddings) as arrays:
        x = arrays["dataset"]
    subset = None
    if args.families:
        with open(args.families) as handle:
            subset = np.isin(df["template_id"].to_numpy(), handle.read().split())
    report = family_cv(df, x, folds=args.folds, seeds=args.seeds, baseline_c=float(cfg["baseline_c"]),
                       head=HeadConfig.from_params(cfg["head"]), blend_weights=list(cfg["blend_weights"]),
                       subset=subset)
    print(f"{report['rows']} rows, {report['families']} families, {report['folds']} folds, seeds {report['seeds']}")
    for name in ("embedding", "baseline"):
        print(f"{name}: mean {report[name]['mean']:.4f}, per seed {report[name]['per_seed']}")
    print(f"embedding by category: {report['by_category']}")
    if "subset" in report:
        print(f"--families rows ({int(subset.sum())}): mean {report['subset']['mean']:.4f}, "
              f"per seed {report['subset']['per_seed']}")


if __name__ == "__main__":
    main()
