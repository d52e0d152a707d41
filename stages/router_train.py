"""Stage router_train: TF-IDF + logistic regression baseline and the MiniLM-embedding head."""

from pathlib import Path

import numpy as np
import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.router.examples import read_examples
from musicml.router.models import HeadConfig
from musicml.router.training import save_baseline, save_head, train_models


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `router.train`."),
    data: Path = typer.Option("data/interim/router/dataset.jsonl", help="Split examples."),
    embeddings: Path = typer.Option("data/processed/router/embeddings.npz", help="Cached sentence embeddings."),
    baseline_out: Path = typer.Option("models/router/baseline.pkl", help="Fitted baseline + thresholds."),
    head_out: Path = typer.Option("models/router/head.pt", help="Embedding head + thresholds."),
    metrics: Path = typer.Option("metrics/router_train.json", help="Validation figures of both models."),
) -> None:
    """Both models train on `train`; thresholds and the head's epoch are chosen on `val` (held-out templates).

    With `router.train.refit_on_val` the shipped models are then refitted on train + val with those choices.
    """
    p = load_yaml(params)
    cfg = section(p, "router.train")
    config = HeadConfig.from_params(cfg["head"])
    with np.load(embeddings) as arrays:
        vectors, layers = arrays["dataset"], [int(k) for k in arrays["layers"]]
    models, report = train_models(read_examples(data), vectors, baseline_c=float(cfg["baseline_c"]), head=config,
                                  seed=int(section(p, "seed")), refit_on_val=bool(cfg["refit_on_val"]))
    save_baseline(*models["baseline"], baseline_out)
    save_head(*models["embedding"], config, head_out, layers=layers)
    write_json(metrics, report)
    print(f"router_train: val exact match baseline {report['baseline']['val']['exact_match']:.3f}, "
          f"embedding {report['embedding']['val']['exact_match']:.3f}")


if __name__ == "__main__":
    stage(main)
