"""Torch inference speed of the drum classifier on the CPU: the layout and batch size
``predict_outputs`` uses (channels-last copy, batches of 32) against contiguous batches of 256.

Scores the trained model on the feature store's validation hits, as the train stage does
after every epoch. Needs models/drum_classifier.pt and the feature store (`make repro`).

    python benchmarks/classifier_inference.py [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from musicml.drums.checkpoint import load_model
from musicml.drums.training import predict_outputs
from musicml.features import open_store


@torch.no_grad()
def contiguous_logits(model: torch.nn.Module, features: np.ndarray, indices: np.ndarray, batch_size: int) -> np.ndarray:
    """The plain way: the model as it is, contiguous batches in index order."""
    model.eval()
    out = [model(torch.from_numpy(np.asarray(features[indices[s:s + batch_size]], dtype=np.float32)))
           for s in range(0, len(indices), batch_size)]
    return torch.cat(out).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, _, _ = load_model("models/drum_classifier.pt")
    features, index = open_store("data/processed/features")
    val = np.flatnonzero((index["split"] == "val").to_numpy())
    cpu = torch.device("cpu")
    predict_outputs(model, features, val[:64], device=cpu)  # warm up oneDNN and the page cache

    start = time.perf_counter()
    plain = contiguous_logits(model, features, val, 256)
    plain_s = time.perf_counter() - start
    start = time.perf_counter()
    fast = predict_outputs(model, features, val, device=cpu)[0]
    fast_s = time.perf_counter() - start

    print(f"{len(val)} validation hits, {args.threads} threads")
    print(f"contiguous, batch 256:     {plain_s:6.2f} s, {plain_s / len(val) * 1000:.3f} ms per hit")
    print(f"predict_outputs (CL, 32):  {fast_s:6.2f} s, {fast_s / len(val) * 1000:.3f} ms per hit")
    print(f"max |logit diff| {np.abs(plain - fast).max():.1e}, "
          f"argmax agreement {np.mean(plain.argmax(1) == fast.argmax(1)):.4f}")


if __name__ == "__main__":
    main()
