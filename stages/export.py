"""Stage export: ONNX model, onnxruntime parity on the test features, latency."""

from pathlib import Path

import numpy as np
import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.checkpoint import load_feature_density, load_model
from musicml.drums.export import export_onnx, latency_ms, parity
from musicml.errors import GateError, InputError
from musicml.features import open_store
from musicml.release.gates import read_metrics


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `export`."),
    model_path: Path = typer.Option("models/drum_classifier.pt", "--model", help="Trained model."),
    store: Path = typer.Option("data/processed/features", help="Feature store (test rows give the parity check)."),
    out: Path = typer.Option("models/drum_classifier.onnx", help="ONNX file."),
    metrics: Path = typer.Option("metrics/export.json", help="Parity and latency figures."),
    openset: Path = typer.Option("metrics/openset.json",
                                 help="openset_eval figures: the chosen unknown score is stored in the model."),
) -> None:
    """Fails when max |logit difference| exceeds `export.parity_tolerance`.

    The model has two outputs, `logits` and `features` (penultimate); with the
    mahalanobis open-set score its class means and precision go into the metadata.
    """
    import onnxruntime as ort

    cfg = section(load_yaml(params), "export")
    model, classes, mel = load_model(model_path)
    chosen = read_metrics(openset)
    spec = {"score": chosen["score"], "threshold": chosen["threshold"]}
    if chosen["score"] == "mahalanobis":
        density = load_feature_density(model_path)
        if density is None:
            raise InputError(model_path, "openset chose mahalanobis but the model has no feature density; "
                                         "re-run the train stage")
        spec["density"] = density
    export_onnx(model, out, classes=classes, mel=mel, opset=cfg["opset"], unknown_score=spec)
    features, index = open_store(store)
    test = np.flatnonzero((index["split"] == "test").to_numpy())
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # latency per hit on one core: comparable across machines
    session = ort.InferenceSession(str(out), options, providers=["CPUExecutionProvider"])
    differences = parity(model, session, features[test])
    worst = differences["logits"]
    figures = {"parity_max_abs_logit_diff": worst, "parity_events": int(len(test)),
               "parity_max_abs_feature_diff": differences["features"],
               "parity_tolerance": cfg["parity_tolerance"], "parity_passed": worst < cfg["parity_tolerance"],
               "latency_ms_batch1": latency_ms(session, features[test[0]], batch=1, runs=cfg["latency_runs"]),
               "latency_ms_batch64": latency_ms(session, features[test[0]], batch=64, runs=cfg["latency_runs"])}
    figures["latency_ms_per_hit_batch64"] = figures["latency_ms_batch64"] / 64
    write_json(metrics, figures)
    print(f"export: parity {worst:.2e}, {figures['latency_ms_batch1']:.2f} ms/hit at batch 1 -> {out}")
    if not figures["parity_passed"]:
        raise GateError(f"export parity gate failed: max |logit diff| {worst:.3g} >= {cfg['parity_tolerance']}")


if __name__ == "__main__":
    stage(main)
