"""Stage router_train: TF-IDF + logistic regression baseline and the MiniLM-embedding head."""

from pathlib import Path

import numpy as np
import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.router.examples import read_examples
from musicml.router.finetune import FineTuneConfig
from musicml.router.models import HeadConfig
from musicml.router.training import save_baseline, save_head, train_models


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `seed`, `router.train`."),
    data: Path = typer.Option("data/interim/router/dataset.jsonl", help="Split examples."),
    embeddings: Path = typer.Option("data/processed/router/embeddings.npz", help="Cached sentence embeddings."),
    baseline_out: Path = typer.Option("models/router/baseline.pkl", help="Fitted baseline + thresholds."),
    head_out: Path = typer.Option("models/router/head.pt", help="Embedding head + thresholds."),
    metrics: Path = typer.Option("metrics/router_train.json", help="Cross-validated figures of both models."),
) -> None:
    """Both models are chosen by cross-validation over template families of train + val, then fitted on them.

    Out-of-fold figures choose the baseline's thresholds and the embedding router's head epochs, blend weight
    (`router.train.blend_weights`: the head's share against the n-gram baseline) and thresholds. Test stays out.
    With `router.train.finetune.top_layers` > 0 the top MiniLM layers are fine-tuned with the head on
    `router.train.finetune.cv_folds` of the folds, and shipped (in the head file) only if that beats the frozen
    head out of fold on the same rows.
    """
    import torch

    # The head is a small MLP: torch's thread pool only spin-waits on it (costly on a shared machine),
    # and one thread keeps the result the same on any machine.
    torch.set_num_threads(1)
    p = load_yaml(params)
    cfg = section(p, "router.train")
    config = HeadConfig.from_params(cfg["head"])
    with np.load(embeddings) as arrays:
        vectors, layers = arrays["dataset"], [int(k) for k in arrays["layers"]]
    models, report = train_models(read_examples(data), vectors, baseline_c=float(cfg["baseline_c"]), head=config,
                                  seed=int(section(p, "seed")), cv_folds=int(cfg["cv_folds"]),
                                  blend_weights=[float(w) for w in cfg["blend_weights"]],
                                  finetune=FineTuneConfig.from_params(cfg["finetune"]), layers=layers)
    save_baseline(*models["baseline"], baseline_out)
    head, thresholds, weight, tuned = models["embedding"]
    save_head(head, thresholds, HeadConfig(**report["embedding"]["head"]), head_out, layers=layers,
              blend_weight=weight, tuned=tuned)
    write_json(metrics, report)
    print(f"router_train: cross-validated exact match baseline {report['baseline']['cv']['exact_match']:.3f}, "
          f"embedding {report['embedding']['cv']['exact_match']:.3f} (blend weight {weight}, "
          f"{'fine-tuned' if tuned else 'frozen'} encoder)")


if __name__ == "__main__":
    stage(main)
