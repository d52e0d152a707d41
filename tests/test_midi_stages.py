"""Every midi_ stage script and the `musicml midi` commands, run as a user runs them, on a tiny corpus."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, tiny_params
from test_midi_import import make_collection

STAGES = ("midi_synth", "midi_import", "midi_annotate", "midi_split", "midi_augment", "midi_features",
          "midi_validate", "midi_train", "midi_eval")
DATASETS = ("emotion", "melody", "harmony", "dynamics", "groove")


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _cli(*args, cwd, input=None):
    return subprocess.run([sys.executable, "-m", "musicml.cli", *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, input=input, timeout=300)


def _write_params(work, **overrides):
    params = tiny_params(**overrides)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return params


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """All midi_ stages in order, with an imported real collection held out as test data."""
    work = tmp_path_factory.mktemp("midi")
    make_collection(work / "data" / "raw" / "midi" / "real")
    (work / "configs").mkdir()
    (work / "configs" / "midi_labels.jsonl").write_text("")
    params = tiny_params(**{"midi.import.max_skipped_share": 0.5})
    params["midi"]["import"]["sources"] = {"real": {"enabled": True, "dataset": "emotion",
                                                    "path": "data/raw/midi/real", "test": True}}
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in STAGES:
        proc = subprocess.run([sys.executable, str(ROOT / "stages" / f"{stage}.py")], cwd=work, env=_env(),
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{stage}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    return work


def test_synth_writes_midi_audio_and_index(pipeline):
    rows = [json.loads(line) for line in (pipeline / "data/midi/synth/index.jsonl").read_text().splitlines()]
    counts = {ds: sum(r["dataset"] == ds for r in rows) for ds in DATASETS}
    assert counts == {"emotion": 24, "melody": 20, "harmony": 24, "dynamics": 12, "groove": 20}
    emotion = [r for r in rows if r["dataset"] == "emotion"]
    import soundfile as sf

    assert all((pipeline / r["file_path"]).exists() for r in rows)
    assert sf.info(str(pipeline / emotion[0]["audio_path"])).samplerate == 22050
    assert all(r["audio_path"] is None for r in rows if r["dataset"] != "emotion")


def test_import_report_lists_skips_and_duplicates(pipeline):
    report = json.loads((pipeline / "metrics/midi_import.json").read_text())
    assert report["imported"] == 4 and report["duplicates"] == 1 and report["skipped"] == 4
    assert report["gate_passed"] is True
    assert {s["file"].split("/")[-1] for s in report["skipped_files"]} == {"corrupt.mid", "truncated.mid",
                                                                           "empty.mid", "drums.mid"}


def test_manifests_follow_the_seed_format(pipeline):
    for ds in DATASETS:
        doc = json.loads((pipeline / f"data/midi/datasets/{ds}/manifest.json").read_text())
        config = json.loads((pipeline / f"data/midi/datasets/{ds}/config.json").read_text())
        assert doc["dataset_id"] == f"{ds}_dataset_v1" and config["target_model"] == doc["target_model"]
        for sample in doc["samples"]:
            assert {"sample_id", "file_path", "annotations"} <= set(sample)
            assert {"emotion", "valence", "arousal", "key", "mode", "tempo_bpm", "groove_type", "swing_ratio",
                    "articulation", "chord_progression", "quality_score", "is_verified", "notes"} <= set(
                sample["annotations"])
    real = [s for s in json.loads((pipeline / "data/midi/datasets/emotion/manifest.json").read_text())["samples"]
            if s["source"] == "real"]
    assert len(real) == 4 and {s["annotations"]["emotion"] for s in real} == {"happy", "sad", None}


def test_splits_hold_out_family_and_real_source_without_leakage(pipeline):
    for ds in DATASETS:
        doc = json.loads((pipeline / f"data/midi/datasets/{ds}/manifest.json").read_text())
        split_of = {}
        for name in ("train", "val", "test"):
            for sid in (pipeline / f"data/midi/splits/{ds}/{name}.txt").read_text().split():
                assert sid not in split_of
                split_of[sid] = name
        assert set(split_of) == {s["sample_id"] for s in doc["samples"]}
        test_family = yaml.safe_load((pipeline / "params.yaml").read_text())["midi"]["datasets"][ds]["test_family"]
        for s in doc["samples"]:
            if s["family"] == test_family or s["source"] == "real":
                assert split_of[s["sample_id"]] == "test"
    # Augmented copies: only of train samples, and they keep their parent's origin.
    rows = [json.loads(line) for line in (pipeline / "data/midi/augmented/index.jsonl").read_text().splitlines()]
    train = {}
    for ds in DATASETS:
        train.update({sid: ds for sid in (pipeline / f"data/midi/splits/{ds}/train.txt").read_text().split()})
    assert rows and all(r["parent_id"] in train for r in rows)


def test_features_cover_originals_and_copies(pipeline):
    import numpy as np
    import pandas as pd

    for ds in DATASETS:
        with np.load(pipeline / f"data/midi/features/{ds}.npz") as data:
            X, ids = data["X"], data["sample_ids"]
        index = pd.read_parquet(pipeline / f"data/midi/features/{ds}.parquet")
        assert len(X) == len(index) == len(ids) and np.isfinite(X).all()
        assert set(index.loc[index["augmented"], "split"]) == {"train"}
    with np.load(pipeline / "data/midi/features/emotion.npz") as data:
        assert any(str(n).startswith("mfcc_") for n in data["names"])
    # The measured chord sequence sits beside the chord label; on the corpus's own files they agree.
    harmony = pd.read_parquet(pipeline / "data/midi/features/harmony.parquet")
    originals = harmony[~harmony["augmented"]]
    agree = [json.loads(m) == json.loads(c) for m, c in zip(originals["chord_sequence"], originals["chord_progression"])]
    assert len(agree) > 0 and np.mean(agree) >= 0.95


def test_validate_and_eval_reports(pipeline):
    report = json.loads((pipeline / "metrics/midi_validate.json").read_text())
    for ds in DATASETS:
        r = report["datasets"][ds]
        for score in ("balance_score", "diversity_score", "quality_score", "structure_score", "consistency_score"):
            assert 0.0 <= r[score] <= 1.0
        assert r["structure_checks"]["no_origin_in_two_splits"]
    assert report["datasets"]["groove"]["balance_score"] == 1.0
    # Unlabelled real files (an unmapped folder) lower the emotion quality score.
    assert report["datasets"]["emotion"]["quality_score"] < 1.0
    evaluation = json.loads((pipeline / "metrics/midi_eval.json").read_text())
    assert set(evaluation) == set(DATASETS)
    assert "groove_type" in evaluation["groove"]["heldout_family"]
    assert "next_chord" in evaluation["harmony"]["heldout_family"]
    assert evaluation["emotion"]["real"]["emotion"]["n_test"] == 3  # the labelled real files


def test_validate_strict_fails_after_writing_report(pipeline, tmp_path):
    params = yaml.safe_load((pipeline / "params.yaml").read_text())
    params["midi"]["validate"].update(strict=True, min_diversity=0.99)
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(params))
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, str(ROOT / "stages/midi_validate.py"), "--params", str(bad), "--report",
                           str(report)], cwd=pipeline, env=_env(), capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: midi_validate:") and "diversity" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert json.loads(report.read_text())["all_valid"] is False


def test_import_gate_fails_on_too_many_skips(pipeline, tmp_path):
    params = yaml.safe_load((pipeline / "params.yaml").read_text())
    params["midi"]["import"]["max_skipped_share"] = 0.1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = subprocess.run([sys.executable, str(ROOT / "stages/midi_import.py"), "--params", str(tmp_path / "params.yaml"),
                           "--out", str(tmp_path / "imported.jsonl"), "--report", str(tmp_path / "r.json")],
                          cwd=pipeline, env=_env(), capture_output=True, text=True)
    assert proc.returncode == 1 and "max_skipped_share" in proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["skipped"] == 4


@pytest.mark.parametrize("key, value, match", [
    ("midi.emotions.happy.valence", 1.4, "valence"),
    ("midi.emotions.sad.tempo", [0, 60], "tempo"),
    ("midi.keys", ["C", "X#"], "unknown key name"),
    ("midi.datasets.groove.target_model", "drumnet", "unknown target model"),
    ("midi.synth.per_category", 0, "per_category"),
])
def test_bad_params_give_one_line_error_and_no_output(key, value, match, tmp_path):
    _write_params(tmp_path, **{key: value})
    proc = subprocess.run([sys.executable, str(ROOT / "stages/midi_synth.py")], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True)
    assert proc.returncode == 1 and match in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "data/midi/synth").exists()


def test_cli_stats(pipeline):
    proc = _cli("midi", "stats", "--dataset", "groove", cwd=pipeline)
    assert proc.returncode == 0, proc.stderr
    assert "groove: 20 samples" in proc.stdout and "groove_type: laid_back 4" in proc.stdout
    assert "split:" in proc.stdout and "tempo_bin:" in proc.stdout
    data = json.loads(_cli("midi", "stats", "--dataset", "emotion", "--json", cwd=pipeline).stdout)
    assert data["source"] == {"real": 4, "synth": 24} and sum(data["split"].values()) == 28
    bad = _cli("midi", "stats", "--dataset", "lyrics", cwd=pipeline)
    assert bad.returncode == 1 and "unknown dataset 'lyrics'" in bad.stderr


def test_cli_annotate_by_stdin_then_manual_label_wins(pipeline, tmp_path):
    work = tmp_path / "w"
    import shutil

    shutil.copytree(pipeline, work, symlinks=True)
    proc = _cli("midi", "annotate", "--dataset", "emotion", "--limit", "2", cwd=work, input="calm 0.6 0.2\nq\n")
    assert proc.returncode == 0, proc.stderr
    assert "1 label(s) recorded" in proc.stdout
    row = json.loads((work / "configs/midi_labels.jsonl").read_text())
    assert row["emotion"] == "calm" and row["is_verified"] is True
    # The next annotate stage applies it: the manual label wins over the folder label.
    stage = subprocess.run([sys.executable, str(ROOT / "stages/midi_annotate.py")], cwd=work, env=_env(),
                           capture_output=True, text=True)
    assert stage.returncode == 0, stage.stderr
    doc = json.loads((work / "data/midi/datasets/emotion/manifest.json").read_text())
    sample = next(s for s in doc["samples"] if s["sample_id"] == row["sample_id"])
    assert sample["annotations"]["emotion"] == "calm" and sample["annotations"]["is_verified"] is True
    assert sample["source"] == "real"  # imported samples are asked first


def test_cli_import_copies_and_enables(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    make_collection(tmp_path / "incoming")
    proc = _cli("midi", "import", "incoming", "--source", "mine", "--dataset", "emotion", "--no-track", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "copied incoming -> data/raw/midi/mine" in proc.stdout
    assert "midi.import.sources.mine.enabled: (unset) -> true" in proc.stdout
    again = _cli("midi", "import", "incoming", "--source", "mine", "--dataset", "emotion", "--no-track", cwd=tmp_path)
    assert "already up to date" in again.stdout
    missing = _cli("midi", "import", "nowhere", "--source", "x", "--no-track", cwd=tmp_path)
    assert missing.returncode == 1 and missing.stderr.startswith("error: nowhere: import folder missing")


def test_train_writes_one_model_file_per_dataset_and_eval_reads_them(pipeline, tmp_path):
    from musicml.midi.baselines import ClassifierFit, ChordFit, RegressorFit, load_fits

    models = pipeline / "models/midi"
    assert sorted(p.name for p in models.iterdir()) == sorted(f"{ds}.pkl" for ds in DATASETS)
    groove = load_fits(models, "groove")
    assert isinstance(groove["groove_type"], ClassifierFit) and isinstance(groove["swing_ratio"], RegressorFit)
    assert groove["swing_ratio"].band.floor == pytest.approx(0.02)  # midi.eval.interval_floor reaches the fit
    assert isinstance(load_fits(models, "harmony")["next_chord"], ChordFit)
    # Without the trained models, midi_eval stops with one line naming the missing file and writes nothing.
    report = tmp_path / "eval.json"
    proc = subprocess.run([sys.executable, str(ROOT / "stages/midi_eval.py"), "--models", str(tmp_path / "none"),
                           "--report", str(report)], cwd=pipeline, env=_env(), capture_output=True, text=True)
    assert proc.returncode != 0 and not report.exists()
    assert len(proc.stderr.strip().splitlines()) == 1 and "midi_train" in proc.stderr
    # A corrupt model file is a clear error too.
    bad = tmp_path / "bad"
    bad.mkdir()
    for ds in DATASETS:
        (bad / f"{ds}.pkl").write_bytes(b"not a pickle")
    proc = subprocess.run([sys.executable, str(ROOT / "stages/midi_eval.py"), "--models", str(bad),
                           "--report", str(report)], cwd=pipeline, env=_env(), capture_output=True, text=True)
    assert proc.returncode != 0 and not report.exists() and "not a saved midi_train model file" in proc.stderr
