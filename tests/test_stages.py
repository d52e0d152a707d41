"""Every stage script: a usable --help; its outputs, as conftest's one `dvc repro` on tiny params made
them (slow: that run is shared with the other end-to-end tests); its errors on bad input, run as DVC runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import ROOT, tiny_params

STAGES = sorted(p.stem for p in (ROOT / "stages").glob("*.py") if not p.stem.startswith("_"))


# Runs each stage script as __main__ with `--help`, as `python stages/<name>.py --help` would, in ONE
# interpreter: the imports (torch, librosa, ...) are paid once instead of once per stage.
HELP_ALL = """
import contextlib, io, json, runpy, sys
results = {}
for path in sys.argv[1:]:
    sys.argv, out, err, code = [path, "--help"], io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(path, run_name="__main__")
        except SystemExit as exc:
            code = exc.code or 0
    results[path] = {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def helps(tmp_path_factory) -> dict:
    """``{stage: {code, stdout, stderr}}`` of every stage script's ``--help``."""
    import os

    scripts = [str(ROOT / "stages" / f"{stage}.py") for stage in STAGES]
    proc = subprocess.run([sys.executable, "-c", HELP_ALL, *scripts], cwd=tmp_path_factory.mktemp("help"),
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {Path(path).stem: result for path, result in json.loads(proc.stdout).items()}


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_has_a_usable_help(stage, helps):
    result = helps[stage]
    assert result["code"] == 0, result["stderr"]
    assert "Usage:" in result["stdout"] and "--params" in result["stdout"]


@pytest.fixture(scope="module")
def pipeline(reproduced):
    """Every stage's outputs, from conftest's one `dvc repro` of the pipeline on tiny params (read only)."""
    return reproduced.root


@pytest.mark.slow
def test_ingest_and_merge_outputs(pipeline):
    synth = pd.read_parquet(pipeline / "data/interim/sources/synth.parquet")
    assert synth["session_id"].nunique() == 8
    assert len(list((pipeline / "data/raw/synth").glob("*.wav"))) == 8
    assert len(pd.read_parquet(pipeline / "data/interim/sources/hydrogen.parquet")) == 0
    assert len(pd.read_parquet(pipeline / "data/interim/sources/soundfont.parquet")) == 0
    merge = json.loads((pipeline / "metrics/merge.json").read_text())
    assert merge["events"] == len(pd.read_parquet(pipeline / "data/interim/events.parquet"))
    grooves = pd.read_parquet(pipeline / "data/interim/sources/grooves.parquet")
    assert set(grooves["session_id"]) == set(synth["session_id"])
    assert len(list((pipeline / "data/interim/grooves").glob("*.mid"))) == 8
    assert len(pd.read_parquet(pipeline / "data/interim/sources/audio_midi.parquet")) == 0
    assert merge["events_per_source"] == {"grooves": len(grooves), "synth": len(synth)}


@pytest.mark.slow
def test_split_holds_out_whole_sessions(pipeline):
    df = pd.read_parquet(pipeline / "data/interim/split.parquet")
    known = df[df["label"] != "unknown"]
    assert (known.groupby("session_id")["split"].nunique() == 1).all()
    assert set(known["split"]) == {"train", "val", "test"}
    # split.outlier_exposure (default on): an unknown hit follows its kit, but a test kit's goes to openset.
    unknown = df[df["label"] == "unknown"]
    kit_split = known.groupby("session_id")["split"].first()
    assert (unknown["split"].to_numpy() == unknown["session_id"].map(kit_split).replace("test", "openset")).all()
    assert set(unknown["split"]) == {"train", "val", "openset"}


@pytest.mark.slow
def test_health_reports_and_gated_dataset(pipeline):
    report = json.loads((pipeline / "metrics/health.json").read_text())
    assert report["gating_results"] and "passed" in report
    html = (pipeline / "metrics/health.html").read_text()
    assert "min_class_count" in html
    assert len(pd.read_parquet(pipeline / "data/interim/dataset.parquet")) == report["events"]


@pytest.mark.slow
def test_weights_augment_features(pipeline):
    weights = pd.read_csv(pipeline / "data/interim/weights.csv")
    dataset = pd.read_parquet(pipeline / "data/interim/dataset.parquet")
    assert set(weights["session_id"]) == set(dataset.loc[dataset["split"] == "train", "session_id"])
    augmented = pd.read_parquet(pipeline / "data/interim/augmented.parquet")
    assert len(augmented) == (dataset["split"] == "train").sum()
    features = np.load(pipeline / "data/processed/features/features.npy", mmap_mode="r")
    assert features.shape == (len(dataset) + len(augmented), 1, 128, 128)
    assert np.isfinite(features[:50]).all() and features[:50].max() > 0.5


@pytest.mark.slow
def test_train_evaluate_bootstrap_export(pipeline):
    train = json.loads((pipeline / "metrics/train.json").read_text())
    assert train["epochs_run"] == train["kept_epoch"] == 2 and train["n_parameters"] > 300_000
    dataset = pd.read_parquet(pipeline / "data/interim/dataset.parquet")
    augmented = pd.read_parquet(pipeline / "data/interim/augmented.parquet")
    train_unknowns = ((dataset["split"] == "train") & (dataset["label"] == "unknown")).sum()
    assert train["train_outliers"] == train_unknowns + (augmented["label"] == "unknown").sum() > 0
    model = torch.load(pipeline / "models/drum_classifier.pt", weights_only=True)
    assert np.asarray(model["feature_density"]["means"]).shape == (12, 256)
    predictions = pd.read_parquet(pipeline / "data/processed/predictions.parquet")
    assert {"mahalanobis", "knn"} <= set(predictions.columns) and np.isfinite(predictions["knn"]).all()
    assert set(predictions["split"]) == {"val", "test", "openset"}
    openset = json.loads((pipeline / "metrics/openset.json").read_text())
    assert openset["chosen_on"] == "val" and openset["val_unknown_events"] > 0
    assert (pipeline / "metrics/train/plots/metrics/val_macro_f1.tsv").exists()
    evaluation = json.loads((pipeline / "metrics/eval.json").read_text())
    assert {"macro_f1", "baseline_macro_f1", "accuracy", "per_class", "by_source"} <= set(evaluation)
    confusion = pd.read_csv(pipeline / "metrics/plots/confusion.csv")
    assert list(confusion.columns) == ["actual", "predicted"] and len(confusion) == evaluation["events"]
    boot = json.loads((pipeline / "metrics/bootstrap.json").read_text())
    ci = boot["all"]["model"]["macro_f1"]
    assert ci["low"] <= ci["point"] <= ci["high"] and boot["all"]["model"]["iterations"] == 50
    export = json.loads((pipeline / "metrics/export.json").read_text())
    assert export["parity_passed"] and export["parity_max_abs_logit_diff"] < 1e-4


@pytest.mark.slow
def test_predict_cli_on_exported_model(pipeline, tmp_path):
    events = pd.read_parquet(pipeline / "data/interim/dataset.parquet").head(5)
    requests = tmp_path / "hits.jsonl"
    requests.write_text("".join(json.dumps({"audio_path": str(pipeline / p), "onset_s": o}) + "\n"
                                for p, o in zip(events["audio_path"], events["onset_s"])))
    out = tmp_path / "preds.jsonl"
    proc = subprocess.run([sys.executable, "-m", "musicml.cli", "predict", "--model",
                           str(pipeline / "models/drum_classifier.onnx"), "--manifest", str(requests),
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 5
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-4 and 0 <= r["unknown_score"] <= 1 for r in rows)


@pytest.mark.slow
def test_strict_health_fails_with_one_line_and_keeps_reports(pipeline, run_stage, tmp_path):
    params = tiny_params(**{"health.strict": True, "health.min_class_count": 10_000})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "dataset.parquet"
    proc = run_stage("health", "--params", str(tmp_path / "params.yaml"), "--report-json", str(tmp_path / "h.json"),
                     "--report-html", str(tmp_path / "h.html"), "--out", str(out), cwd=pipeline, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "min_class_count" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert json.loads((tmp_path / "h.json").read_text())["passed"] is False
    assert (tmp_path / "h.html").exists()
    assert not out.exists()


@pytest.mark.parametrize("bad_line, expected", [
    ('{"source": "x", "session_id": "s", "kit": "k", "audio_path": "a.wav", "onset_s": -1, "label": "kick"}',
     "onset_s"),
    ('{"source": "x", "session_id": "s", "kit": "k", "audio_path": "a.wav", "onset_s": 0.1}', "label"),
    ('{"source": "x", "session_id": "s", "kit": "k", "audio_path": "a.wav", "onset_s": 9.0, "label": "kick"}',
     "past the end"),
    ('{"source": "x", "session_id": "s", "kit": "k", "audio_path": "missing.wav", "onset_s": 0, "label": "kick"}',
     "not found"),
    ("{not json", "not valid JSON"),
])
def test_ingest_manifest_bad_input(bad_line, expected, run_stage, tmp_path):
    import soundfile as sf

    folder = tmp_path / "data/raw/manifest/mine"
    folder.mkdir(parents=True)
    sf.write(folder / "a.wav", np.zeros(22050, dtype=np.float32) + 0.1, 22050)
    good = '{"source": "x", "session_id": "s", "kit": "k", "audio_path": "a.wav", "onset_s": 0.1, "label": "kick"}'
    (folder / "events.jsonl").write_text(good + "\n" + bad_line + "\n")
    params = tiny_params(**{"sources.manifest.enabled": True})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = run_stage("ingest_manifest", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    message = proc.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message and "Traceback" not in message
    assert "events.jsonl:2" in message and expected in message
    assert not (tmp_path / "data/interim/sources/manifest.parquet").exists()


def test_ingest_manifest_reads_a_valid_folder(run_stage, tmp_path):
    import soundfile as sf

    folder = tmp_path / "data/raw/manifest/mine"
    folder.mkdir(parents=True)
    sf.write(folder / "a.wav", np.zeros(22050, dtype=np.float32) + 0.1, 22050)
    rows = [{"source": "mine", "session_id": "s1", "kit": "k", "audio_path": "a.wav", "onset_s": t, "label": "kick",
             "velocity": 100} for t in (0.1, 0.5)]
    (folder / "events.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params(**{"sources.manifest.enabled": True})))
    run_stage("ingest_manifest", cwd=tmp_path)
    df = pd.read_parquet(tmp_path / "data/interim/sources/manifest.parquet")
    assert list(df["audio_path"]) == ["data/raw/manifest/mine/a.wav"] * 2


def test_hydrogen_stage_with_a_broken_kit_fails_cleanly(run_stage, tmp_path):
    kit = tmp_path / "data/raw/hydrogen/Broken"
    kit.mkdir(parents=True)
    (kit / "drumkit.xml").write_text("<drumkit_info><name>Broken</name><instrumentList>\n<instrument>")
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params(**{"sources.hydrogen.enabled": True})))
    proc = run_stage("ingest_hydrogen", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "drumkit.xml" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "data/interim/sources/hydrogen.parquet").exists()


def test_merge_rejects_empty_sources(run_stage, tmp_path):
    from musicml.manifest import empty_events, write_events

    paths = []
    for name in ("a", "b"):
        write_events(empty_events(), tmp_path / f"{name}.parquet")
        paths += ["--input", str(tmp_path / f"{name}.parquet")]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params()))
    proc = run_stage("merge_manifests", *paths, cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "no events" in proc.stderr
    assert not (tmp_path / "data/interim/events.parquet").exists()
