"""Wall-clock of a from-scratch default `dvc repro` and of a no-op one.

Runs in a temporary copy of the repository (source files only), so the
working copy's outputs are untouched. Needs the venv (`make setup`).

    python benchmarks/repro_time.py [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from scratch_repo import DVC, ENV, finish, make_scratch


def run(cmd: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy and print its path")
    args = parser.parse_args()
    scratch = make_scratch("musicml-repro-")
    full, log = run([DVC, "repro"], scratch)
    stage_times = re.findall(r"Running stage '([^']+)'", log)
    noop, _ = run([DVC, "repro"], scratch)
    print(f"repro from scratch: {full:.0f} s ({len(stage_times)} stages) on {os.cpu_count()} cores")
    print(f"repro no-op:        {noop:.1f} s")
    finish(scratch, args.keep)


if __name__ == "__main__":
    main()
