"""Shared fixtures: the repo root and a runner for stage scripts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def tiny_params(**overrides) -> dict:
    """params.yaml shrunk so the whole pipeline runs in about a minute on 2 cores."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["sources"]["synth"].update(n_kits=8, hits_per_class=4, unknown_hits=3)
    if "grooves" in params["sources"]:  # one short take per kit: every form and technique, few events
        params["sources"]["grooves"].update(take_s=6.0, layer_prob=1.0)
    params["health"].update(strict=False)
    params["augment"].update(multiplier=1)
    params["train"].update(epochs=2, samples_per_epoch=96, batch_size=16)
    params["evaluate"].update(baseline_trees=10)
    params["bootstrap"].update(iterations=50)
    params["export"].update(latency_runs=2)
    if "interpret" in params:  # release readiness: a few attributed hits, a coarse path
        params["interpret"].update(hits_per_class=2, ig_steps=4)
    if "gen" in params:  # generation metadata: a dozen short clips
        params["gen"]["synth"].update(n_generations=12, seconds=2.0)
    router = params["router"]
    router["size"] = 240
    router["augment"]["per_category"] = 8
    router["validate"].update(min_examples=100, max_share_deviation=0.2)
    router["train"]["head"].update(epochs=4, hidden=16)
    router["train"]["cv_folds"] = 3
    router["export"]["parity_examples"] = 8
    if "midi" in params:
        params["midi"]["synth"].update(per_category=4)
        params["midi"]["augment"].update(multiplier=1)
        params["midi"]["validate"].update(strict=False)  # 4 samples per category cannot cover 12 keys
        params["midi"]["eval"].update(trees=10, bootstrap_iterations=50)
    if "align" in params:  # a 4-second multi-mic take
        params["align"]["synth"].update(seconds=4, sr=16000)
    for dotted, value in overrides.items():
        node = params
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return params


@pytest.fixture
def run_stage():
    """Run ``stages/<name>.py`` with arguments in ``cwd``; returns the CompletedProcess."""

    def run(name: str, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        proc = subprocess.run([sys.executable, str(ROOT / "stages" / f"{name}.py"), *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"stage {name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    return run
