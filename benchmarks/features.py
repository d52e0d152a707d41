"""Feature extraction speed and memory on the default data.

Prints clips per second on one core and the peak resident memory while
extracting the log-mels of the first N hits of data/interim/dataset.parquet
(run `make repro` first), or of freshly synthesised kits when that is absent.

    python benchmarks/features.py [--events 2000]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from musicml.features import MelConfig, extract_to_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    params = yaml.safe_load(Path("params.yaml").read_text())
    mel = MelConfig(**params["features"])
    dataset = Path("data/interim/dataset.parquet")
    with tempfile.TemporaryDirectory() as tmp:
        if dataset.exists():
            events = pd.read_parquet(dataset).head(args.events)
        else:
            from musicml.drums.synth import synthesize

            events = synthesize(Path(tmp) / "synth", n_kits=8, hits_per_class=20, unknown_hits=0, seed=0).head(
                args.events)
        start = time.perf_counter()
        extract_to_store(events, Path(tmp) / "store", mel)
        seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"features: {len(events)} clips in {seconds:.1f} s = {len(events) / seconds:.0f} clips/s on one core")
    print(f"features: peak RSS {peak_mb:.0f} MB (process total, incl. imports)")


if __name__ == "__main__":
    main()
