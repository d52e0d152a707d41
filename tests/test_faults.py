"""Faults and determinism of the train stage: a stage SIGKILLed in the middle of writing leaves
its previous output (or none), never a truncated one, and the next `dvc repro` recovers; training
SIGKILLed mid-run resumes from its last checkpoint (`train.resume`) and finishes exactly as the
uninterrupted run, which two runs with the same seed reproduce bit for bit.

The kill point is deterministic: MUSICML_FAULT_PAUSE (musicml.atomic) stops a writer after its
temporary is written and before the rename, and announces it with a marker file."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from conftest import ROOT, commit_all, git
from ddp_helpers import run_train, stage_env, train_command, write_params, write_training_folder
from musicml.drums.checkpoint import load_model


def start_paused(cmd: list[str], *, cwd: Path, pause: str, marker: Path, env: dict | None = None):
    """Start ``cmd`` in its own process group with the writer of ``pause`` set to stop; wait for the marker."""
    env = {**(env or stage_env()), "MUSICML_FAULT_PAUSE": pause}
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f"{cmd} ended ({proc.returncode}) before pausing:\n{proc.stdout.read()}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f"{cmd} never paused at {pause}")
        time.sleep(0.02)
    return proc


def kill(proc: subprocess.Popen) -> str:
    """SIGKILL the whole process group (dvc and the stage it runs); the output printed so far."""
    os.killpg(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return out


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*.tmp"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One uninterrupted 4-epoch run of the train stage (seed 0)."""
    work = write_training_folder(tmp_path_factory.mktemp("reference"), epochs=4)
    run_train(work)
    return work


def assert_same_model(a: Path, b: Path) -> None:
    model_a, classes_a, _ = load_model(a)
    model_b, classes_b, _ = load_model(b)
    assert classes_a == classes_b
    for key, value in model_a.state_dict().items():
        assert torch.equal(value, model_b.state_dict()[key]), key


def test_stage_killed_mid_write_keeps_the_previous_output_and_a_rerun_reproduces_it(reference, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(reference, work)
    model = work / "models/drum_classifier.pt"
    before = model.read_bytes()
    summary_before = (work / "metrics/train.json").read_text()

    write_params(work, epochs=4, seed=5)  # a different run, killed while it writes its model
    proc = start_paused(train_command(), cwd=work, pause="drum_classifier.pt",
                        marker=work / "models/.drum_classifier.pt.paused.tmp")
    kill(proc)
    assert model.read_bytes() == before  # the previous model, whole
    assert (work / "metrics/train.json").read_text() == summary_before
    assert any(name.startswith(".drum_classifier.pt.") for name in temporaries(work))  # it was mid-write

    # The next run recovers and sweeps the killed writer's temporaries. With the reference's seed it
    # is a second, separate run of the same training: metrics and weights must be identical.
    write_params(work, epochs=4, seed=0)
    (work / "metrics/train.json").unlink()
    model.unlink()
    run_train(work)
    assert temporaries(work) == []
    assert (work / "metrics/train.json").read_text() == summary_before
    assert (work / "metrics/train/metrics.json").read_text() == (reference / "metrics/train/metrics.json").read_text()
    assert_same_model(model, reference / "models/drum_classifier.pt")


def test_training_killed_mid_run_resumes_from_its_checkpoint_and_finishes(reference, tmp_path):
    full = reference
    work = write_training_folder(tmp_path / "killed", epochs=4)
    # Killed while writing epoch 3's checkpoint: epoch 2's is the last complete one.
    proc = start_paused(train_command(), cwd=work, pause="checkpoint.pt:3",
                        marker=work / "models/.checkpoint.pt.paused.tmp")
    out = kill(proc)
    assert [line.split()[1] for line in out.splitlines() if line.startswith("epoch")] == ["1", "2"]
    assert not (work / "models/drum_classifier.pt").exists()
    state = torch.load(work / "models/checkpoint.pt", map_location="cpu", weights_only=False)
    assert state["epoch"] == 2

    write_params(work, epochs=4, resume=True)
    proc = run_train(work)
    assert "resumed from models/checkpoint.pt after epoch 2" in proc.stdout
    assert [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("epoch")] == ["3", "4"]
    # Finished exactly as the uninterrupted run: same summary, same curves (each epoch once), same weights.
    assert (work / "metrics/train.json").read_text() == (full / "metrics/train.json").read_text()
    curves = work / "metrics/train/plots/metrics"
    for tsv in sorted(curves.iterdir()):
        assert tsv.read_text() == (full / tsv.relative_to(work)).read_text(), tsv.name
    assert_same_model(work / "models/drum_classifier.pt", full / "models/drum_classifier.pt")
    assert temporaries(work) == []


# --- through DVC -----------------------------------------------------------------------------


def dvc(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(dvc_command(*args), cwd=cwd, env=env or dvc_env(), capture_output=True, text=True,
                          timeout=600)


def dvc_command(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "dvc"), *args]


def dvc_env() -> dict:
    bin_dir = Path(sys.executable).parent
    return stage_env(PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1")


@pytest.fixture
def train_repo(reference, tmp_path):
    """A git + DVC repository holding the real train stage of dvc.yaml, its code, tiny inputs and
    the reference run's outputs, committed to dvc.lock as if `dvc repro` had made them."""
    repo = tmp_path / "repo"
    shutil.copytree(reference, repo)
    shutil.copytree(ROOT / "src", repo / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (repo / "stages").mkdir()
    shutil.copy(ROOT / "stages/train.py", repo / "stages/train.py")
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"train": stage}}, sort_keys=False))
    git("init", "-q", cwd=repo)
    proc = dvc("init", "-q", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    proc = dvc("commit", "--force", "train", cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    commit_all(repo, "tiny train stage")  # DVCLive wants a commit to compare against
    return repo


@pytest.mark.slow
def test_dvc_repro_killed_mid_write_leaves_no_truncated_output_and_recovers(train_repo):
    repo = train_repo
    model = repo / "models/drum_classifier.pt"
    before = model.read_bytes()

    write_params(repo, epochs=4, seed=9)
    proc = start_paused(dvc_command("repro", "train"), cwd=repo, pause="drum_classifier.pt",
                        marker=repo / "models/.drum_classifier.pt.paused.tmp", env=dvc_env())
    kill(proc)
    # DVC removed the stale output before running the stage; the killed run never renamed its own
    # into place: the model is the previous one or absent, never a truncated file.
    assert not model.exists() or model.read_bytes() == before
    status = dvc("status", "train", cwd=repo)
    assert "changed" in status.stdout, status.stdout + status.stderr

    again = dvc("repro", "train", cwd=repo)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Running stage 'train'" in again.stdout
    load_model(model)
    status = dvc("status", cwd=repo)
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
    assert temporaries(repo / "models") == [] and temporaries(repo / "metrics") == []
    assert json.loads((repo / "metrics/train.json").read_text())["epochs_run"] == 4
