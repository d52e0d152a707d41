"""Stage transcriber_export: ONNX export of the frame transcriber, onnxruntime parity on validation windows."""

from pathlib import Path

import numpy as np
import typer

from musicml.atomic import write_json
from musicml.config import load_yaml, section
from musicml.console import stage
from musicml.drums.boundary import held_out_takes
from musicml.drums.frame_transcription import FrameConfig
from musicml.drums.transcriber import (TranscriberConfig, export_transcriber, load_checkpoint, load_takes,
                                       onnx_parity, take_windows)
from musicml.errors import GateError
from musicml.manifest import read_events


def main(
    params: Path = typer.Option("params.yaml", help="Params file; reads `export` (opset, parity tolerance), "
                                                    "`transcribe` (windows) and `boundary.source`."),
    model_path: Path = typer.Option("models/transcriber.pt", "--model", help="Trained transcriber."),
    dataset: Path = typer.Option("data/interim/dataset.parquet", help="Events manifest: the validation takes "
                                                                      "give the parity check's windows."),
    out: Path = typer.Option("models/transcriber.onnx", help="ONNX file (classes, frames, thresholds inside)."),
    metrics: Path = typer.Option("metrics/transcriber_export.json", help="Parity and latency figures."),
) -> None:
    """Fails when max |activation difference| between torch and onnxruntime exceeds `export.parity_tolerance`."""
    import time

    import onnxruntime as ort

    p = load_yaml(params)
    cfg, stream = section(p, "export"), section(p, "transcribe")
    model, state = load_checkpoint(model_path)
    frames = FrameConfig(**state["frames"])
    export_transcriber(model, out, classes=state["classes"], frames=frames, thresholds=state["thresholds"],
                       min_gap_ms=state["min_gap_ms"], opset=cfg["opset"])
    window_s, hop_s = stream["window_ms"] / 1000, stream["hop_ms"] / 1000
    tcfg = TranscriberConfig(frames=frames)
    events = read_events(dataset)
    val = held_out_takes(events, source=section(p, "boundary.source"), split="val", origin=str(dataset))
    takes = load_takes(val, state["classes"], tcfg, pad=int(round(window_s * frames.fps)) + 2)
    inputs = np.concatenate([take_windows(t, tcfg, window_s=window_s, hop_s=hop_s)[1] for t in takes]) if takes \
        else np.zeros((1, int(round(window_s * frames.fps)), frames.n_mels), np.float32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # latency on one core: comparable across machines
    session = ort.InferenceSession(str(out), options, providers=["CPUExecutionProvider"])
    worst = onnx_parity(model, session, inputs)
    one = inputs[:1]
    session.run(["activations"], {"log_mel": one})  # warm-up
    times = []
    for _ in range(cfg["latency_runs"]):
        start = time.perf_counter()
        session.run(["activations"], {"log_mel": one})
        times.append((time.perf_counter() - start) * 1000.0)
    figures = {"parity_max_abs_activation_diff": worst, "parity_windows": int(len(inputs)),
               "parity_tolerance": cfg["parity_tolerance"], "parity_passed": worst < cfg["parity_tolerance"],
               "latency_ms_per_window": float(np.median(times)), "window_frames": int(one.shape[1])}
    write_json(metrics, figures)
    print(f"transcriber_export: parity {worst:.2e} over {len(inputs)} windows, "
          f"{figures['latency_ms_per_window']:.2f} ms per window -> {out}")
    if not figures["parity_passed"]:
        raise GateError(f"transcriber export parity gate failed: max |activation diff| {worst:.3g} >= "
                        f"{cfg['parity_tolerance']}")


if __name__ == "__main__":
    stage(main)
