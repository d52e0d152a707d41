"""Intent-router serving speed on one core: latency per request (batch 1), requests/s (batch 256), size.

Both models: the exported ONNX router (onnxruntime, intra-op threads 1) and the
TF-IDF baseline (scikit-learn). Needs `dvc repro router_export` first.

    python benchmarks/router_latency.py [--runs 100] [--model models/router/serving]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from musicml.router.examples import read_examples


def _median_s(fn, runs: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100, help="Timed calls at batch 1 (batch 256: runs / 10).")
    parser.add_argument("--model", default="models/router/serving")
    parser.add_argument("--baseline", default="models/router/baseline.pkl")
    parser.add_argument("--data", default="data/interim/router/dataset.jsonl")
    args = parser.parse_args()

    from musicml.router.export import folder_size
    from musicml.router.serving import OnnxRouter
    from musicml.router.training import load_baseline

    texts = read_examples(args.data)["question"].tolist()
    one, batch = texts[:1], (texts * 2)[:256]
    router = OnnxRouter.load(args.model, threads=1)
    baseline, _ = load_baseline(args.baseline)
    os.environ["OMP_NUM_THREADS"] = "1"
    rows = [
        ("embedding (ONNX)", lambda: router.probabilities(one), lambda: router.probabilities(batch),
         folder_size(args.model)),
        ("baseline (TF-IDF+LR)", lambda: baseline.predict_proba(one), lambda: baseline.predict_proba(batch),
         os.path.getsize(args.baseline)),
    ]
    print(f"{'model':<22} {'batch-1 ms/request':>19} {'batch-256 requests/s':>21} {'size MB':>8}")
    for name, single, many, size in rows:
        latency = _median_s(single, args.runs) * 1000
        throughput = 256 / _median_s(many, max(3, args.runs // 10))
        print(f"{name:<22} {latency:>19.2f} {throughput:>21.0f} {size / 2**20:>8.1f}")


if __name__ == "__main__":
    main()
