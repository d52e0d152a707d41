"""Shared fixtures: the repo root, a runner for stage scripts, copies of the repository, and ONE
`dvc repro` of the whole pipeline on tiny params that every end-to-end test reads (or copies)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# `dvc exp run` and the copies commit: give git an identity on machines without one.
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@musicml", "GIT_COMMITTER_NAME": "ci",
                "GIT_COMMITTER_EMAIL": "ci@musicml"}


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
    router["train"]["finetune"].update(top_layers=1, epochs=1, cv_folds=1, batch_size=16)
    router["export"]["parity_examples"] = 8
    if "midi" in params:
        params["midi"]["synth"].update(per_category=4)
        params["midi"]["augment"].update(multiplier=1)
        params["midi"]["validate"].update(strict=False)  # 4 samples per category cannot cover 12 keys
        params["midi"]["eval"].update(trees=10, bootstrap_iterations=50)
    if "transcriber" in params:  # the frame transcriber: a few steps of a very small network
        params["transcriber"].update(epochs=1, steps_per_epoch=2, batch_size=4, channels=[8], hidden=8,
                                     threshold_grid=[0.3, 0.5], extra_takes_per_kit=1,
                                     heldout_takes_per_kit=1)
    if "align" in params:  # a 4-second multi-mic take
        params["align"]["synth"].update(seconds=4, sr=16000)
    for dotted, value in overrides.items():
        node = params
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value
    return params


def run_stage_script(name: str, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``stages/<name>.py`` with arguments in ``cwd`` as DVC runs it; returns the CompletedProcess."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / f"{name}.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"stage {name} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def run_stage():
    """:func:`run_stage_script`, as a fixture (session-scoped: module fixtures may use it too)."""
    return run_stage_script


# --- copies of the repository and DVC ---------------------------------------------------------


def dvc_env(**extra: str) -> dict:
    """The environment for dvc: this venv first on PATH (dvc.yaml calls `python stages/...`), no analytics."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
            **GIT_IDENTITY, **extra}


def dvc(*args: str, cwd: Path, timeout: float = 1200, env: dict | None = None) -> subprocess.CompletedProcess:
    """``dvc *args`` in ``cwd`` (``env``: extra variables); the caller asserts on the result."""
    return subprocess.run([str(BIN / "dvc"), *args], cwd=cwd, env=dvc_env(**(env or {})), capture_output=True,
                          text=True, timeout=timeout)


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.email=ci@musicml", "-c", "user.name=ci", *args], cwd=cwd, check=True,
                   capture_output=True)


def commit_all(repo: Path, message: str) -> None:
    git("add", "-A", cwd=repo)
    git("commit", "-qm", message, cwd=repo)


def tracked_files() -> list[str]:
    """The repository's files as a clean clone has them (tracked, or new and not ignored)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line and (ROOT / line).is_file()]


def copy_repo(dest: Path, params: dict | None = None, *, message: str | None = "tiny") -> Path:
    """The repository's source files in a fresh git repo at ``dest``: no dvc.lock and no metrics (a
    first `dvc repro` makes them), ``params`` as params.yaml when given, committed unless ``message``
    is None (the caller adds files first)."""
    for rel in tracked_files():
        if rel.startswith(("metrics/", "dvc.lock")):
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
    if params is not None:
        (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    git("init", "-q", cwd=dest)
    git("config", "user.email", "ci@musicml", cwd=dest)  # for the commits `dvc exp run` makes
    git("config", "user.name", "ci", cwd=dest)
    if message is not None:
        commit_all(dest, message)
    return dest


@dataclass(frozen=True)
class Reproduced:
    """A repository copy after one `dvc repro` of every stage on :func:`tiny_params`. Shared by the
    whole session: tests only read it; a test that changes anything works on :meth:`copy`."""

    root: Path
    stdout: str  # what the first `dvc repro` printed ("Running stage ..." for every stage)
    params_trace: Path  # the params.yaml keys each stage script read (tests/params_trace/sitecustomize.py)

    def copy(self, dest: Path) -> Path:
        """A private copy at ``dest``. Files are copied, except the DVC cache, whose objects are
        hard-linked: they are read-only and content-addressed, so DVC never writes into one."""
        cache = self.root / ".dvc" / "cache"

        def link_cache(src: str, dst: str) -> None:
            if Path(src).is_relative_to(cache):
                os.link(src, dst)
            else:
                shutil.copy2(src, dst)

        def skip_dvc_tmp(folder: str, names: list[str]) -> list[str]:
            # DVC's state and locks (keyed by inode): a copy rebuilds them.
            return ["tmp"] if Path(folder) == self.root / ".dvc" else []

        shutil.copytree(self.root, dest, symlinks=True, copy_function=link_cache, ignore=skip_dvc_tmp)
        return dest

    def assert_reruns_reproduce(self, stages: Sequence[str], dest: Path) -> None:
        """In a copy at ``dest``, re-run ``stages`` from scratch (`dvc repro --force --single-item`): each
        runs once and writes exactly the outputs that dvc.lock records."""
        repo = self.copy(dest)
        before = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
        proc = dvc("repro", "--force", "--single-item", *stages, cwd=repo)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count("Running stage") == len(stages), proc.stdout
        after = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
        for stage in stages:
            assert after[stage]["outs"] == before[stage]["outs"], stage


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory) -> Reproduced:
    """ONE `dvc repro` of the whole pipeline (drum, release, alignment, boundary, generation metadata,
    router, MIDI) in a committed copy of the repository with tiny params."""
    root = copy_repo(tmp_path_factory.mktemp("reproduced"), tiny_params(), message=None)
    # Real logged requests, labelled and not, join the router's generated ones (test_router_repro).
    (root / "data/raw/router/requests/log.csv").write_text(
        "question,needsDAW,needsArranger\nturn the hats down a bit,true,false\nwrite a sad riff,false,true\n"
        "what's a compressor,,\n")
    commit_all(root, "tiny")
    trace = tmp_path_factory.mktemp("params_trace")
    first = dvc("repro", cwd=root, timeout=2400,
                env={"PYTHONPATH": str(ROOT / "tests" / "params_trace"), "MUSICML_PARAMS_TRACE": str(trace)})
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return Reproduced(root, first.stdout, trace)
