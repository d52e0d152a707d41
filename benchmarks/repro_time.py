"""Wall-clock of a from-scratch default `dvc repro` and of a no-op one.

Runs in a temporary copy of the repository (source files only), so the
working copy's outputs are untouched. Needs the venv (`make setup`).

    python benchmarks/repro_time.py [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], cwd: Path) -> tuple[float, str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - start, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy and print its path")
    args = parser.parse_args()
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    scratch = Path(tempfile.mkdtemp(prefix="musicml-repro-"))
    for rel in files:
        if rel == "dvc.lock" or not (ROOT / rel).is_file():
            continue
        (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, scratch / rel)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=b@m", "-c", "user.name=b", "commit", "-qm", "bench"]):
        subprocess.run(cmd, cwd=scratch, check=True, capture_output=True)
    dvc = str(Path(sys.executable).parent / "dvc")
    full, log = run([dvc, "repro"], scratch)
    stage_times = re.findall(r"Running stage '([^']+)'", log)
    noop, _ = run([dvc, "repro"], scratch)
    print(f"repro from scratch: {full:.0f} s ({len(stage_times)} stages) on {os.cpu_count()} cores")
    print(f"repro no-op:        {noop:.1f} s")
    if args.keep:
        print(f"scratch copy: {scratch}")
    else:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
