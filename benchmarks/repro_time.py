"""Wall-clock of a from-scratch default `dvc repro`, per stage, and of a no-op one.

Runs in a temporary copy of the repository (source files only), so the
working copy's outputs are untouched. Needs the venv (`make setup`). A stage's
time runs from DVC's "Running stage" line to the next one, so it includes
DVC's own hashing and caching of that stage's outputs.

    python benchmarks/repro_time.py [--keep] [--top N] [STAGE ...]

With STAGE names, only those stages and what they depend on are reproduced,
e.g. the drum classifier's pipeline alone (the scope of the original 10-minute
target, before the router, MIDI, generation-metadata and transcriber stages
joined the graph):

    python benchmarks/repro_time.py export bootstrap_eval interpret hard_negatives
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from scratch_repo import DVC, finish, make_scratch, scratch_env


STAGE_LINE = re.compile(r"Running stage '([^']+)'")


def run(cmd: list[str], cwd: Path) -> tuple[float, list[tuple[str, float]]]:
    """Run ``cmd``; return its wall time and ``(stage, seconds)`` in the order DVC ran them."""
    start = time.perf_counter()
    marks: list[tuple[str, float]] = []
    tail: list[str] = []
    with subprocess.Popen(cmd, cwd=cwd, env=scratch_env(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, bufsize=1) as proc:
        for line in proc.stdout:
            tail = (tail + [line])[-40:]
            found = STAGE_LINE.search(line)
            if found:
                marks.append((found.group(1), time.perf_counter()))
    total = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{''.join(tail)}")
    ends = [t for _, t in marks[1:]] + [start + total]
    return total, [(name, end - began) for (name, began), end in zip(marks, ends)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy and print its path")
    parser.add_argument("--top", type=int, default=15, help="print the N slowest stages (0: none)")
    parser.add_argument("stages", nargs="*", help="reproduce only these stages and their upstream (default: all)")
    args = parser.parse_args()
    scratch = make_scratch("musicml-repro-")
    full, stages = run([DVC, "repro", *args.stages], scratch)
    noop, _ = run([DVC, "repro", *args.stages], scratch)
    scope = " ".join(args.stages) or "all stages"
    print(f"repro from scratch ({scope}): {full:.0f} s ({len(stages)} stages) on {os.cpu_count()} cores")
    print(f"repro no-op:        {noop:.1f} s")
    for name, seconds in sorted(stages, key=lambda item: -item[1])[:args.top]:
        print(f"  {seconds:7.1f} s  {name}")
    finish(scratch, args.keep)


if __name__ == "__main__":
    main()
