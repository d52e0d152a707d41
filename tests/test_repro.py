"""The end-to-end `dvc repro` of the whole pipeline on tiny params (conftest's session-wide
``reproduced``): every output, a second repro that does nothing, experiments, determinism."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import commit_all, dvc

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
    "data/interim/transcriber/grooves.parquet", "data/interim/transcriber/heldout.parquet", "models/transcriber.pt", "models/transcriber.onnx", "metrics/transcriber_train.json",
    "metrics/plots/transcriber_curve.csv", "metrics/transcriber_export.json", "metrics/transcriber_validation.json",
    "data/raw/genmeta/default", "data/processed/genmeta/export/train.jsonl", "metrics/gen_stats.json",
    "metrics/plots/gen_quality_hist.csv",
]


def test_repro_builds_every_output_then_does_nothing(reproduced):
    repo = reproduced.root
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
    # The transcriber's extra takes are played on training kits only (the split by kit holds), and
    # boundary_eval scores the method params choose.
    import pandas as pd

    dataset = pd.read_parquet(repo / "data/interim/dataset.parquet")
    extra = pd.read_parquet(repo / "data/interim/transcriber/grooves.parquet")
    assert len(extra) and set(extra["session_id"]) <= set(dataset.loc[dataset["split"] == "train", "session_id"])
    # ... and the held-out takes on validation and test kits, each in its kit's split, joining the boundary pack.
    held = pd.read_parquet(repo / "data/interim/transcriber/heldout.parquet")
    split_of = dict(zip(dataset["session_id"], dataset["split"]))
    assert len(held) and set(held["split"]) <= {"val", "test"}
    assert all(split_of[s] == x for s, x in zip(held["session_id"], held["split"]))
    assert "base_takes" in json.loads((repo / "metrics/boundary.json").read_text())
    assert json.loads((repo / "metrics/boundary.json").read_text())["method"] == "frames"
    validation = json.loads((repo / "metrics/transcriber_validation.json").read_text())
    assert {"frames", "onsets", "better"} <= set(validation)

    second = dvc("repro", cwd=repo)
    assert second.returncode == 0, second.stderr
    assert "Running stage" not in second.stdout
    status = dvc("status", cwd=repo)
    assert "Data and pipelines are up to date" in status.stdout


def test_experiments_and_metrics_compare_across_commits(reproduced, tmp_path):
    """Metrics are comparable across commits with dvc's own tools."""
    repo = reproduced.copy(tmp_path / "repo")
    commit_all(repo, "baseline")
    # Target `train`: the experiment re-trains (DVCLive under `dvc exp run`) without re-running every
    # downstream stage, which the shared repro already ran.
    exp = dvc("exp", "run", "-S", "train.lr=0.0005", "-n", "lower-lr", "train", cwd=repo)
    assert exp.returncode == 0, exp.stderr[-3000:]
    assert "Running stage 'train'" in exp.stdout, exp.stdout[-3000:]
    show = dvc("exp", "show", "--json", cwd=repo)
    assert show.returncode == 0 and "lower-lr" in show.stdout and "0.0005" in show.stdout
    metrics_diff = dvc("metrics", "diff", "--json", cwd=repo)
    assert metrics_diff.returncode == 0, metrics_diff.stderr
    plots = dvc("plots", "diff", "--json", cwd=repo)
    assert plots.returncode == 0 and "confusion" in plots.stdout


DATA_STAGES = ("ingest_synth", "ingest_hydrogen", "ingest_soundfont", "ingest_manifest", "ingest_grooves",
               "ingest_audio_midi", "merge_manifests", "split", "health", "weights", "augment", "features",
               "transcriber_grooves")


def test_data_stages_are_deterministic(reproduced, tmp_path):
    """Re-running every data stage from scratch reproduces the hashes in dvc.lock."""
    reproduced.assert_reruns_reproduce(DATA_STAGES, tmp_path / "repo")


def test_changed_audio_reruns_the_stages_that_read_it(reproduced, tmp_path):
    """Features and augment read the audio the manifest points at: new audio, same manifest, must re-run them."""
    import soundfile as sf

    repo = reproduced.copy(tmp_path / "repo")
    wav = sorted((repo / "data/raw/synth").glob("*.wav"))[0]
    audio, sr = sf.read(wav, dtype="float32")
    sf.write(wav, audio * 0.5, sr)
    status = dvc("status", "--json", cwd=repo)
    assert status.returncode == 0, status.stderr
    changed = set(json.loads(status.stdout))
    assert {"augment", "features"} <= changed, changed


# Figures that measure the machine, not the model: they differ between any two runs.
TIMING_KEYS = ("latency_", "train_seconds")


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items()
                if not (k.startswith(TIMING_KEYS) and not k.endswith("_of_audio"))}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def test_every_other_stage_is_deterministic(reproduced, tmp_path):
    """Same commit, same params, same hashes: the training, evaluation, release, router, generation
    and transcriber stages re-run from scratch write what dvc.lock records, except figures of time.

    (The router's pickled baseline once held a memory address and moved on every run.)"""
    from test_midi_repro import RERUN_STAGES as MIDI_STAGES

    stages = [name for name in yaml.safe_load((reproduced.root / "dvc.yaml").read_text())["stages"]
              if name not in DATA_STAGES and name not in MIDI_STAGES]
    repo = reproduced.copy(tmp_path / "repo")
    before = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    timed = {}
    for stage in stages:
        for out in before[stage]["outs"]:
            if out["path"].startswith("metrics/") and out["path"].endswith(".json"):
                text = (repo / out["path"]).read_text()
                if _without_timings(json.loads(text)) != json.loads(text):
                    timed[out["path"]] = _without_timings(json.loads(text))
    proc = dvc("repro", "--force", "--single-item", *stages, cwd=repo, timeout=2400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    for stage in stages:
        for old, new in zip(before[stage]["outs"], after[stage]["outs"], strict=True):
            if old["path"] in timed:
                assert _without_timings(json.loads((repo / old["path"]).read_text())) == timed[old["path"]], stage
            else:
                assert new == old, f"{stage}: {old['path']}"


# Stages that read a whole section but list only some of its keys, on purpose: train and augment build
# MelConfig from `features` and leave out how the store is made (features.RUN_KEYS: workers, dtype), which
# changes the speed, not the images (test_dvc_yaml.test_only_the_features_stage_depends_on_how_the_store_is_made).
PARTLY_LISTED = {("train", "features"), ("augment", "features")}


def _listed_params(stage: dict) -> list[str]:
    keys = []
    for entry in stage.get("params") or []:
        if isinstance(entry, str):
            keys.append(entry)
        else:
            keys += entry.get("params.yaml") or []
    return keys


def test_every_stage_lists_the_params_it_reads(reproduced):
    """DVC re-runs a stage when a params key it lists changes; a key the stage reads but does not list
    is a change `dvc repro` cannot see. The shared repro ran every stage with params.yaml's reads
    noted (tests/params_trace); each leaf read, and each section walked whole, must be listed."""
    from collections import defaultdict
    from pathlib import Path

    from musicml.stagedeps import stage_scripts

    stages = yaml.safe_load((reproduced.root / "dvc.yaml").read_text())["stages"]
    by_script = {Path(script).stem: name for name, stage in stages.items() for script in stage_scripts(stage["cmd"])}
    reads = defaultdict(set)
    for trace in reproduced.params_trace.glob("*.json"):
        script = trace.name.split(".")[0]
        if script in by_script:
            reads[by_script[script]] |= {tuple(read) for read in json.loads(trace.read_text())}
    reading = {name for name, stage in stages.items() if _listed_params(stage)}
    assert reading <= set(reads), f"no trace from {sorted(reading - set(reads))}"

    lacking = {}
    for name, found in sorted(reads.items()):
        listed = _listed_params(stages[name])
        keys = sorted({key for key, kind in found if kind in ("value", "iter") and key
                       and not any(key == k or key.startswith(k + ".") for k in listed)
                       and (name, key) not in PARTLY_LISTED})
        if keys:
            lacking[name] = keys
    assert lacking == {}
