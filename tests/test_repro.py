"""One end-to-end `dvc repro` in a temporary copy of the repo, on a tiny params override."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, tiny_params

pytestmark = pytest.mark.slow

OUTPUTS = [
    "data/raw/synth", "data/interim/sources/synth.parquet", "data/interim/events.parquet",
    "data/interim/grooves", "data/interim/sources/grooves.parquet", "data/interim/sources/audio_midi.parquet",
    "data/interim/split.parquet", "data/interim/dataset.parquet", "data/interim/weights.csv",
    "data/interim/augmented.parquet", "data/processed/features/features.npy", "models/drum_classifier.pt",
    "models/drum_classifier.onnx", "data/processed/predictions.parquet",
    "metrics/merge.json", "metrics/health.json", "metrics/health.html", "metrics/weights.json",
    "metrics/train.json", "metrics/train/metrics.json", "metrics/eval.json", "metrics/plots/confusion.csv",
    "metrics/bootstrap.json", "metrics/export.json",
    "metrics/openset.json", "metrics/plots/openset_roc.csv", "data/processed/hard_negatives.jsonl",
    "metrics/hard_negatives.json", "metrics/interpret/embedding_pca.svg", "metrics/readiness.json",
    "metrics/report.html",
    "metrics/align_qc.json", "data/interim/align/synth/session.json",
    "data/processed/boundary/labels.jsonl", "metrics/boundary.json",
    "data/raw/genmeta/default", "data/processed/genmeta/export/train.jsonl", "metrics/gen_stats.json",
    "metrics/plots/gen_quality_hist.csv",
]


def _git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.email=ci@musicml", "-c", "user.name=ci", *args], cwd=cwd, check=True,
                   capture_output=True)


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line and (ROOT / line).is_file()]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A fresh copy of the repository's source files with tiny params, committed to git."""
    dest = tmp_path_factory.mktemp("repo")
    for rel in _tracked_files():
        if rel.startswith(("metrics/", "dvc.lock")):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    (dest / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    _git("init", "-q", cwd=dest)
    _git("config", "user.email", "ci@musicml", cwd=dest)  # for the commits `dvc exp run` makes
    _git("config", "user.name", "ci", cwd=dest)
    _git("add", "-A", cwd=dest)
    _git("commit", "-qm", "tiny", cwd=dest)
    return dest


def _dvc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           # `dvc exp run` commits experiments: give git an identity on machines without one.
           "GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@musicml", "GIT_COMMITTER_NAME": "ci",
           "GIT_COMMITTER_EMAIL": "ci@musicml"}
    return subprocess.run([str(bin_dir / "dvc"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=1200)


def test_repro_builds_every_output_then_does_nothing(repo):
    first = _dvc("repro", cwd=repo)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for rel in OUTPUTS:
        assert (repo / rel).exists(), rel
    evaluation = json.loads((repo / "metrics/eval.json").read_text())
    assert 0.0 <= evaluation["macro_f1"] <= 1.0 and "baseline_macro_f1" in evaluation
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert set(lock["stages"]) >= {"ingest_synth", "ingest_grooves", "merge_manifests", "health", "train", "export"}
    # The grooves carry the groove-level techniques: the required-techniques gate passes on default data.
    health = json.loads((repo / "metrics/health.json").read_text())
    gate = next(g for g in health["gating_results"] if g["gate"] == "required_techniques")
    assert gate["passed"] and {"metric_modulation", "variable_meter"} <= set(gate["threshold"]), gate
    assert json.loads((repo / "metrics/merge.json").read_text())["events_per_source"]["grooves"] > 0

    second = _dvc("repro", cwd=repo)
    assert second.returncode == 0, second.stderr
    assert "Running stage" not in second.stdout
    status = _dvc("status", cwd=repo)
    assert "Data and pipelines are up to date" in status.stdout

    # Metrics are comparable across commits with dvc's own tools.
    _git("add", "-A", cwd=repo)
    _git("commit", "-qm", "baseline", cwd=repo)
    exp = _dvc("exp", "run", "-S", "train.lr=0.0005", "-n", "lower-lr", cwd=repo)
    assert exp.returncode == 0, exp.stderr[-3000:]
    show = _dvc("exp", "show", "--json", cwd=repo)
    assert show.returncode == 0 and "lower-lr" in show.stdout and "0.0005" in show.stdout
    metrics_diff = _dvc("metrics", "diff", "--json", cwd=repo)
    assert metrics_diff.returncode == 0, metrics_diff.stderr
    plots = _dvc("plots", "diff", "--json", cwd=repo)
    assert plots.returncode == 0 and "confusion" in plots.stdout


DATA_STAGES = ("ingest_synth", "ingest_hydrogen", "ingest_soundfont", "ingest_manifest", "ingest_grooves",
               "ingest_audio_midi", "merge_manifests", "split", "health", "weights", "augment", "features")


def test_data_stages_are_deterministic(repo, tmp_path):
    """Re-running every data stage from scratch reproduces the hashes in dvc.lock."""
    lock_before = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    proc = _dvc("repro", "--force", "--single-item", *DATA_STAGES, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("Running stage") == len(DATA_STAGES), proc.stdout
    lock_after = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    for stage in DATA_STAGES:
        assert lock_after[stage]["outs"] == lock_before[stage]["outs"], stage


def test_changed_audio_reruns_the_stages_that_read_it(repo):
    """Features and augment read the audio the manifest points at: new audio, same manifest, must re-run them."""
    import soundfile as sf

    wav = sorted((repo / "data/raw/synth").glob("*.wav"))[0]
    audio, sr = sf.read(wav, dtype="float32")
    try:
        sf.write(wav, audio * 0.5, sr)
        status = _dvc("status", "--json", cwd=repo)
        assert status.returncode == 0, status.stderr
        changed = set(json.loads(status.stdout))
        assert {"augment", "features"} <= changed, changed
    finally:
        sf.write(wav, audio, sr)
        _dvc("checkout", "--force", "data/raw/synth", cwd=repo)
