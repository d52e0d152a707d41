"""Feature extraction speed and memory: clips/s and peak RSS for 1 and 2 worker processes.

Extracts the log-mels of the first N hits of data/interim/dataset.parquet (run
`make repro` first), or of freshly synthesised kits when that is absent, once
per worker count (`features.workers`), each run in its own process so that its
peak resident memory is its own. Peak RSS is that of the main process and of
the largest worker. Run it with two sizes to see memory stay flat as the
number of events grows (clips are streamed to the store, never kept).

    python benchmarks/features.py [--events 2000] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from musicml.features import MelConfig, extract_to_store


def load_events(n: int, tmp: Path) -> pd.DataFrame:
    dataset = Path("data/interim/dataset.parquet")
    if dataset.exists():
        events = pd.read_parquet(dataset)
    else:
        from musicml.drums.synth import synthesize

        events = synthesize(tmp / "synth", n_kits=8, hits_per_class=20, unknown_hits=0, seed=0)
    # Repeat the table when more hits are asked for than exist: memory must not grow with it.
    while len(events) < n:
        events = pd.concat([events, events], ignore_index=True)
    return events.head(n)


def run_once(n: int, workers: int) -> dict:
    mel = MelConfig.from_params(yaml.safe_load(Path("params.yaml").read_text())["features"])
    with tempfile.TemporaryDirectory() as tmp:
        events = load_events(n, Path(tmp))
        start = time.perf_counter()
        extract_to_store(events, Path(tmp) / "store", mel, workers=workers)
        seconds = time.perf_counter() - start
    return {
        "clips": len(events), "seconds": seconds,
        "main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_once(args.events, args.child)))
        return
    for workers in args.workers:
        proc = subprocess.run([sys.executable, __file__, "--events", str(args.events), "--child", str(workers)],
                              capture_output=True, text=True, check=True)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        worker = f", largest worker {r['worker_mb']:.0f} MB" if workers > 1 else ""
        print(f"features: {r['clips']} clips, {workers} worker(s): {r['seconds']:.1f} s = "
              f"{r['clips'] / r['seconds']:.0f} clips/s; peak RSS main {r['main_mb']:.0f} MB{worker}", flush=True)


if __name__ == "__main__":
    main()
