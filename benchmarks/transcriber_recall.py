"""How far the frame transcriber's boundary recall can go on the VALIDATION grooves: recall vs threshold.

Streams the validation takes (split `val` of `boundary.source`) through the
exported transcriber with every class's peak threshold set to each value
given, and prints boundary macro recall, onset macro F and per-class boundary
recall; then the same at the thresholds stored in the model (chosen by
transcriber_train for onset F). Answers "is the 0.95 gate a threshold away, or
does the network not see those strokes?" without touching the test takes.

With transcriber_grooves' held-out takes (--heldout, split `val`), the
validation takes of the dataset and those are streamed together.

    python benchmarks/transcriber_recall.py [--model models/transcriber.onnx] [--thresholds 0.05 0.1 0.2]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from musicml.audio import audio_duration
from musicml.config import load_yaml, section
from musicml.drums.boundary import evaluate_boundaries, held_out_takes, pack_references, pack_windows
from musicml.drums.frame_transcription import FrameTranscriber, transcribe_frames
from musicml.manifest import read_events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/transcriber.onnx")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--dataset", default="data/interim/dataset.parquet")
    parser.add_argument("--heldout", default="data/interim/transcriber/heldout.parquet",
                        help="more validation takes (transcriber_grooves); '' for the dataset's alone")
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.3])
    args = parser.parse_args()
    p = load_yaml(args.params)
    cfg, stream = section(p, "boundary"), section(p, "transcribe")
    events = held_out_takes(read_events(args.dataset), source=cfg["source"], split="val", origin=args.dataset)
    if args.heldout:
        more = held_out_takes(read_events(args.heldout), source=cfg["source"], split="val", origin=args.heldout)
        events = pd.concat([events, more], ignore_index=True)
    durations = {path: audio_duration(path) for path in sorted(events["audio_path"].unique())}
    references = pack_references(pack_windows(events, durations, window_s=stream["window_ms"] / 1000,
                                              hop_s=stream["hop_ms"] / 1000, margin_s=cfg["margin_ms"] / 1000))
    model = FrameTranscriber.load(args.model, threads=1)
    chosen = model.thresholds.copy()
    print(f"validation: {len(durations)} takes, {sum(r.boundary for r in references)} boundary events")
    rows = []
    for name, thresholds in [(f"all {t}", np.full_like(chosen, t)) for t in args.thresholds] + [("model", chosen)]:
        model.thresholds = thresholds
        table = pd.DataFrame([{"take": take, **e.to_json()} for take in durations
                              for e in transcribe_frames(take, model, window_ms=stream["window_ms"],
                                                         hop_ms=stream["hop_ms"], progress=False)],
                             columns=["take", "time_s", "label", "confidence"])
        report = evaluate_boundaries(references, table, classes=model.classes, tolerance_s=cfg["tolerance_ms"] / 1000,
                                     min_macro_recall=cfg["min_macro_recall"])
        rows.append((name, report))
        print(f"thresholds {name:9s}: boundary macro recall {report['macro_recall']:.3f}, "
              f"onset macro F {report['macro_f_measure']:.3f}, {report['estimates']} events")
    print("per-class boundary recall (boundary events):")
    for c in model.classes:
        n = rows[0][1]["per_class"][c]["boundary_events"]
        if n:
            print(f"  {c:13s} {n:3d}  " + "  ".join(f"{name}: {r['per_class'][c]['boundary_recall']:.2f}"
                                                  for name, r in rows))


if __name__ == "__main__":
    main()
