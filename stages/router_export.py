"""Stage router_export: the embedding router (ONNX encoder + head, n-gram arrays) for torch-free serving, parity."""

from pathlib import Path

import numpy as np
import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.errors import GateError
from musicml.router.examples import LABELS, read_examples
from musicml.router.export import export_router, folder_size, parity
from musicml.router.training import load_baseline, load_head, load_tuned


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `router.export`."),
    head_path: Path = typer.Option("models/router/head.pt", "--head", help="Trained embedding head."),
    baseline_path: Path = typer.Option("models/router/baseline.pkl", "--baseline",
                                       help="Trained n-gram baseline (blended into the served router)."),
    data: Path = typer.Option("data/interim/router/dataset.jsonl", help="Split examples (test rows check parity)."),
    embeddings: Path = typer.Option("data/processed/router/embeddings.npz", help="Reference (torch) embeddings."),
    out: Path = typer.Option("models/router/serving", help="Folder: encoder.onnx, head.onnx, tokenizer.json, "
                                                           "ngrams.npz, router.json."),
    metrics: Path = typer.Option("metrics/router_export.json", help="Parity and size figures."),
) -> None:
    """Fails when the served probabilities differ from torch's by `router.export.parity_tolerance` or more."""
    cfg = section(load_yaml(params), "router.export")
    head, thresholds, layers, weight = load_head(head_path)
    tuned = load_tuned(head_path)
    baseline, _ = load_baseline(baseline_path)
    export_router(head, out, labels=list(LABELS), thresholds=thresholds, layers=layers, opset=int(cfg["opset"]),
                  baseline=baseline, blend_weight=weight, tuned=tuned)
    df = read_examples(data)
    test = np.flatnonzero((df["split"] == "test").to_numpy())[: int(cfg["parity_examples"])]
    if tuned:
        # The reference of a fine-tuned encoder is its torch module (the cached features are the packaged one's).
        from musicml.router.encoder import embed, load_encoder

        reference = embed(df["question"].iloc[test].tolist(), layers=layers,
                          encoder=load_encoder(layers, tuned=tuned))
    else:
        with np.load(embeddings) as arrays:
            reference = arrays["dataset"][test]
    figures = parity(head, reference, df["question"].iloc[test].tolist(), out, baseline=baseline, blend_weight=weight)
    figures.update({"parity_tolerance": cfg["parity_tolerance"], "size_bytes": folder_size(out),
                    "size_mb": round(folder_size(out) / 2**20, 2), "head_bytes": (out / "head.onnx").stat().st_size})
    figures["parity_passed"] = figures["parity_max_abs_prob_diff"] < cfg["parity_tolerance"]
    write_json(metrics, figures)
    print(f"router_export: parity {figures['parity_max_abs_prob_diff']:.2e}, {figures['size_mb']} MB -> {out}")
    if not figures["parity_passed"]:
        raise GateError(f"router export parity gate failed: max |prob diff| {figures['parity_max_abs_prob_diff']:.3g}"
                        f" >= {cfg['parity_tolerance']}")


if __name__ == "__main__":
    stage(main)
