"""Time of the midi_ stages of a from-scratch `dvc repro`, per stage, at a chosen augment multiplier.

Runs in a temporary copy of the repository (source files only), so the working
copy's outputs are untouched; the drum pipeline is not upstream of the midi_
stages, so nothing else runs. Each stage runs alone (`dvc repro --single-item`,
in pipeline order) so its wall-clock and CPU time (of its processes) can be
printed. On a shared machine the wall-clock grows with the load; the CPU time
is what an idle machine would need (the stages run one BLAS thread each).

    python benchmarks/midi_repro_time.py [--set midi.augment.multiplier=10 ...] [--keep]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import yaml
from scratch_repo import DVC, ROOT, finish, make_scratch, scratch_env

STAGES = ("midi_synth", "midi_import", "midi_annotate", "midi_split", "midi_augment", "midi_features",
          "midi_validate", "midi_train", "midi_eval")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    """The 1/5/15-minute load averages: the other work the figures shared the CPUs with."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _set(params: dict, dotted: str) -> None:
    """Apply one `a.b.c=value` override (value parsed as YAML); a key params.yaml lacks exits with one line."""
    key, eq, value = dotted.partition("=")
    if not eq or not key:
        sys.exit(f"--set {dotted}: expected KEY=VALUE, e.g. midi.augment.multiplier=10")
    node = params
    for depth, part in enumerate(key.split(".")):
        if not isinstance(node, dict) or part not in node:
            sys.exit(f"--set {dotted}: no key '{'.'.join(key.split('.')[:depth + 1])}' in params.yaml")
        if depth == key.count("."):
            node[part] = yaml.safe_load(value)
        node = node[part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="params override, e.g. midi.augment.multiplier=10 (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy and print its path")
    args = parser.parse_args()
    # Overrides are checked before anything is copied, so a wrong key leaves no scratch copy behind.
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for override in args.set:
        _set(params, override)

    def write_params(scratch: Path) -> None:
        (scratch / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    scratch = make_scratch("musicml-midi-repro-", write_params)
    try:
        _time_stages(scratch, params)
    finally:  # a failed stage (or Ctrl-C) removes the copy too, unless --keep
        finish(scratch, args.keep)


def _time_stages(scratch: Path, params: dict) -> None:
    total_wall = total_cpu = 0.0
    print(f"midi_ stages, multiplier {params['midi']['augment']['multiplier']}, "
          f"per_category {params['midi']['synth']['per_category']}, {os.cpu_count()} cores visible, "
          f"load average {_load()}", flush=True)
    for stage in STAGES:
        cpu0, wall0 = _children_cpu(), time.perf_counter()
        proc = subprocess.run([DVC, "repro", "--single-item", stage], cwd=scratch, env=scratch_env(scratch),
                              capture_output=True, text=True)
        wall, cpu = time.perf_counter() - wall0, _children_cpu() - cpu0
        if proc.returncode != 0:
            sys.exit(f"dvc repro {stage} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        total_wall, total_cpu = total_wall + wall, total_cpu + cpu
        print(f"  {stage:14s} wall {wall:7.1f} s   cpu {cpu:7.1f} s", flush=True)
    print(f"  {'total':14s} wall {total_wall:7.1f} s   cpu {total_cpu:7.1f} s")
    print(f"  load average (1, 5, 15 min) at the end: {_load()}")


if __name__ == "__main__":
    main()
