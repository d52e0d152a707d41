"""The midi_ stages end to end through `dvc repro` in a temporary copy of the repo (tiny params)."""

from __future__ import annotations

import json

import pytest
import yaml

from test_repro import _dvc, _git, _tracked_files  # the drum pipeline's repo-copy helpers
from conftest import ROOT, tiny_params

pytestmark = pytest.mark.slow

MIDI_STAGES = ("midi_synth", "midi_import", "midi_annotate", "midi_split", "midi_augment", "midi_features",
               "midi_validate", "midi_eval")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    import shutil

    dest = tmp_path_factory.mktemp("midi_repo")
    for rel in _tracked_files():
        if rel.startswith(("metrics/", "dvc.lock")):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    (dest / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    _git("init", "-q", cwd=dest)
    _git("add", "-A", cwd=dest)
    _git("commit", "-qm", "tiny", cwd=dest)
    return dest


def test_midi_repro_then_nothing_to_do_then_same_hashes(repo):
    first = _dvc("repro", "midi_eval", "midi_validate", cwd=repo)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for stage in MIDI_STAGES:
        assert f"Running stage '{stage}'" in first.stdout
    assert "Running stage 'train'" not in first.stdout  # the drum pipeline is not upstream
    validate = json.loads((repo / "metrics/midi_validate.json").read_text())
    assert set(validate["datasets"]) == {"emotion", "melody", "harmony", "dynamics", "groove"}
    assert "groove" in json.loads((repo / "metrics/midi_eval.json").read_text())

    second = _dvc("repro", "midi_eval", "midi_validate", cwd=repo)
    assert second.returncode == 0 and "Running stage" not in second.stdout

    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    for stage in ("midi_synth", "midi_annotate", "midi_split", "midi_augment", "midi_features"):
        proc = _dvc("repro", "--force", "--single-item", stage, cwd=repo)
        assert proc.returncode == 0, proc.stderr
    after = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    for stage in ("midi_synth", "midi_annotate", "midi_split", "midi_augment", "midi_features"):
        assert after[stage]["outs"] == lock[stage]["outs"], stage


def test_import_command_then_repro_reports_real_data_separately(repo):
    from test_midi_import import make_collection
    import os
    import subprocess
    import sys

    make_collection(repo.parent / "incoming")
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "musicml.cli", "midi", "import", str(repo.parent / "incoming"),
                           "--source", "real", "--dataset", "emotion", "--test"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (repo / "data/raw/midi/real.dvc").exists()  # tracked by DVC, not git
    params = yaml.safe_load((repo / "params.yaml").read_text())
    # The strict default gate would stop at 4 of 9 files skipped: this collection is dirty on purpose.
    params["midi"]["import"]["max_skipped_share"] = 0.5
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run = _dvc("repro", "midi_eval", "midi_validate", cwd=repo)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((repo / "metrics/midi_import.json").read_text())
    assert report["imported"] == 4 and report["duplicates"] == 1 and report["skipped"] == 4
    evaluation = json.loads((repo / "metrics/midi_eval.json").read_text())
    assert evaluation["emotion"]["real"]["emotion"]["n_test"] == 3
