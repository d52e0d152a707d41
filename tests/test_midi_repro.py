"""The midi_ stages end to end through `dvc repro` (conftest's session-wide ``reproduced``, tiny params)."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import dvc

pytestmark = pytest.mark.slow

MIDI_STAGES = ("midi_synth", "midi_import", "midi_annotate", "midi_split", "midi_augment", "midi_features",
               "midi_validate", "midi_train", "midi_eval")


# The MIDI stages whose re-run from scratch must reproduce dvc.lock (test_repro checks every other stage).
RERUN_STAGES = ("midi_synth", "midi_annotate", "midi_split", "midi_augment", "midi_features")


def test_midi_repro_then_nothing_to_do_then_same_hashes(reproduced, tmp_path):
    repo = reproduced.root
    for stage in MIDI_STAGES:
        assert f"Running stage '{stage}'" in reproduced.stdout
    # The drum pipeline is not upstream: a forced dry run of the midi targets lists no drum stage.
    upstream = dvc("repro", "--dry", "--force", "midi_eval", "midi_validate", cwd=repo)
    assert upstream.returncode == 0, upstream.stderr
    assert "Running stage 'midi_synth'" in upstream.stdout and "Running stage 'train'" not in upstream.stdout
    validate = json.loads((repo / "metrics/midi_validate.json").read_text())
    assert set(validate["datasets"]) == {"emotion", "melody", "harmony", "dynamics", "groove"}
    assert "groove" in json.loads((repo / "metrics/midi_eval.json").read_text())

    second = dvc("repro", "midi_eval", "midi_validate", cwd=repo)
    assert second.returncode == 0 and "Running stage" not in second.stdout

    reproduced.assert_reruns_reproduce(RERUN_STAGES, tmp_path / "repo")


def test_import_command_then_repro_reports_real_data_separately(reproduced, tmp_path):
    from test_midi_import import make_collection
    import os
    import subprocess
    import sys

    repo = reproduced.copy(tmp_path / "repo")
    make_collection(tmp_path / "incoming")
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "musicml.cli", "midi", "import", str(tmp_path / "incoming"),
                           "--source", "real", "--dataset", "emotion", "--test"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (repo / "data/raw/midi/real.dvc").exists()  # tracked by DVC, not git
    params = yaml.safe_load((repo / "params.yaml").read_text())
    # The strict default gate would stop at 4 of 9 files skipped: this collection is dirty on purpose.
    params["midi"]["import"]["max_skipped_share"] = 0.5
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run = dvc("repro", "midi_eval", "midi_validate", cwd=repo)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((repo / "metrics/midi_import.json").read_text())
    assert report["imported"] == 4 and report["duplicates"] == 1 and report["skipped"] == 4
    evaluation = json.loads((repo / "metrics/midi_eval.json").read_text())
    assert evaluation["emotion"]["real"]["emotion"]["n_test"] == 3
