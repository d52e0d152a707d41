"""Each gen_ stage script end to end on a tiny snapshot, and their one-line errors."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import ROOT
from gen_helpers import TINY_SYNTH


def gen_params(**synth) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["gen"]["synth"] = {**TINY_SYNTH, **synth}
    return {"seed": 3, "gen": params["gen"]}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("gen_stages")


def test_stages_in_order(workdir, run_stage):
    (workdir / "params.yaml").write_text(yaml.safe_dump(gen_params()))
    out = run_stage("gen_synth", cwd=workdir).stdout
    assert "10 generations" in out
    snap = workdir / "data/raw/genmeta/default"
    assert len(list((snap / "audio").iterdir())) == 10 and (snap / "truth.jsonl").exists()

    run_stage("gen_analyze", cwd=workdir)
    analysed = [json.loads(x) for x in (workdir / "data/interim/genmeta/analyzed.jsonl").read_text().splitlines()]
    assert len(analysed) == 10
    assert sum("analysisError" in r["analysisMetadata"] for r in analysed) == 1
    m = json.loads((workdir / "metrics/gen_analyze.json").read_text())
    assert m["unreadable"] == 1 and m["accuracy"]["evaluated"] == 8  # no truth for silent or unreadable clips
    assert 0 <= m["accuracy"]["tempo_accuracy"] <= m["accuracy"]["tempo_accuracy_octave"] <= 1

    run_stage("gen_feedback", cwd=workdir)
    fb = json.loads((workdir / "metrics/gen_feedback.json").read_text())
    assert fb["unknown_ids"] == 2 and fb["applied"] > 0

    run_stage("gen_quality", cwd=workdir)
    scored = [json.loads(x) for x in (workdir / "data/interim/genmeta/scored.jsonl").read_text().splitlines()]
    assert all(0 <= r["qualityScore"] <= 1 for r in scored)

    run_stage("gen_export", cwd=workdir)
    export = workdir / "data/processed/genmeta/export"
    assert (export / "train.jsonl").exists() and (export / "analysis.csv").read_text().startswith("generationId,")
    ids = json.loads((export / "exported_ids.json").read_text())
    expected = sorted(r["generationId"] for r in scored if r["qualityScore"] >= 0.5)
    assert ids["analysis"] == expected

    run_stage("gen_stats", cwd=workdir)
    stats = json.loads((workdir / "metrics/gen_stats.json").read_text())
    assert stats["totalGenerations"] == 10 and stats["missingAnalysis"] == 1
    assert set(stats) >= {"byProvider", "withFeedback", "averageQualityScore", "usedForTraining", "byGenre",
                          "feedbackRate", "analyzerAccuracy"}
    hist = (workdir / "metrics/plots/gen_quality_hist.csv").read_text().splitlines()
    assert hist[0] == "bin_start,bin_end,count" and sum(int(x.split(",")[2]) for x in hist[1:]) == 10


def test_synth_is_deterministic(tmp_path, run_stage):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "params.yaml").write_text(yaml.safe_dump(gen_params(n_generations=4)))
        run_stage("gen_synth", cwd=tmp_path / name)
    snap = "data/raw/genmeta/default"
    for rel in ("records.jsonl", "feedback.jsonl", "truth.jsonl"):
        assert (tmp_path / "a" / snap / rel).read_bytes() == (tmp_path / "b" / snap / rel).read_bytes()
    for f in (tmp_path / "a" / snap / "audio").iterdir():
        assert f.read_bytes() == (tmp_path / "b" / snap / "audio" / f.name).read_bytes()


def test_malformed_snapshot_line_fails_cleanly(tmp_path, run_stage):
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "records.jsonl").write_text('{"userId": "u", "generationId": "g", "userPrompt": "p", '
                                        '"audioUrl": "a.wav", "audioPath": "a.wav", "provider": "suno", '
                                        '"duration": -1}\n')
    params = gen_params()
    params["gen"]["snapshot"] = str(snap)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = run_stage("gen_analyze", cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: {snap}/records.jsonl:1: field 'duration': Input should be greater than 0"
    assert not (tmp_path / "data/interim/genmeta/analyzed.jsonl").exists()


def test_bad_quality_params_fail_cleanly(workdir, run_stage, tmp_path):
    params = gen_params()
    params["gen"]["quality"]["rhythm"] = 0.3
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    proc = run_stage("gen_quality", "--records", str(workdir / "data/interim/genmeta/with_feedback.jsonl"),
                     cwd=tmp_path, check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: gen.quality: unknown key(s) rhythm")
