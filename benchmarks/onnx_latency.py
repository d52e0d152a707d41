"""ONNX inference latency per hit (batch 1 and 64, one thread) and parity with torch.

Needs models/drum_classifier.onnx and .pt (run `make repro` first).

    python benchmarks/onnx_latency.py [--runs 200]
"""

from __future__ import annotations

import argparse

import numpy as np
import onnxruntime as ort

from musicml.drums.checkpoint import load_model
from musicml.drums.export import latency_ms, parity
from musicml.features import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    model, _, _ = load_model("models/drum_classifier.pt")
    features, index = open_store("data/processed/features")
    test = np.flatnonzero((index["split"] == "test").to_numpy())
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession("models/drum_classifier.onnx", options, providers=["CPUExecutionProvider"])
    differences = parity(model, session, features[test])
    print(f"parity: max |logit diff| {differences['logits']:.2e}, max |feature diff| {differences['features']:.2e} "
          f"over {len(test)} test hits")
    for batch in (1, 64):
        ms = latency_ms(session, features[test[0]], batch=batch, runs=args.runs)
        print(f"latency: batch {batch:3d}: {ms:.2f} ms per call, {ms / batch:.3f} ms per hit (1 thread)")


if __name__ == "__main__":
    main()
