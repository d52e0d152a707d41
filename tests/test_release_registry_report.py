"""`musicml release` (refuses unless readiness passed, then GTO) and `musicml report` (report.md),
each in a throw-away git repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

BIN = Path(sys.executable).parent


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t"}


def _run(*args, cwd, check=True):
    proc = subprocess.run(list(args), cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _musicml(*args, cwd, check=True):
    return _run(sys.executable, "-m", "musicml.cli", *args, cwd=cwd, check=check)


def _readiness(passed: bool) -> dict:
    return {"passed": passed, "gates": {
        "health": {"passed": True, "value": True, "threshold": True, "op": "==", "source": "metrics/health.json",
                   "key": "passed"},
        "openset_auroc": {"passed": passed, "value": 0.95 if passed else 0.8, "threshold": 0.9, "op": ">=",
                          "source": "metrics/openset.json", "key": "auroc"}}}


@pytest.fixture
def repo(tmp_path):
    _run("git", "init", "-q", "-b", "main", cwd=tmp_path)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  evaluate:\n    cmd: echo\n    metrics:\n      - metrics/eval.json:\n          cache: false\n"
        "    plots:\n      - metrics/plots/roc.csv:\n          x: fpr\n          y: tpr\n          cache: false\n"
        "artifacts:\n  drum-classifier:\n    path: models/drum_classifier.onnx\n    type: model\n")
    (tmp_path / "params.yaml").write_text("train:\n  lr: 0.001\n")
    return tmp_path


def _commit(repo: Path, message: str):
    _run("git", "add", "-A", cwd=repo)
    _run("git", "commit", "-qm", message, cwd=repo)


def test_release_refuses_unless_readiness_passed_then_registers(repo):
    (repo / "metrics/readiness.json").write_text(json.dumps(_readiness(False)))
    _commit(repo, "not ready")
    refused = _musicml("release", "v0.1.0", cwd=repo, check=False)
    assert refused.returncode == 1
    assert "release refused" in refused.stderr and "openset_auroc: 0.8 not >= 0.9" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert _run("git", "tag", cwd=repo).stdout.strip() == ""

    (repo / "metrics/readiness.json").write_text(json.dumps(_readiness(True)))
    uncommitted = _musicml("release", "v0.1.0", cwd=repo, check=False)
    assert uncommitted.returncode == 1 and "uncommitted" in uncommitted.stderr
    _commit(repo, "ready")
    bad = _musicml("release", "0.1", cwd=repo, check=False)
    assert bad.returncode == 1 and "semantic version" in bad.stderr

    _musicml("release", "v0.1.0", cwd=repo)
    assert "drum-classifier@v0.1.0" in _run("git", "tag", cwd=repo).stdout
    show = _run(str(BIN / "gto"), "show", "--json", cwd=repo)
    assert "v0.1.0" in show.stdout and "drum-classifier" in show.stdout


def test_report_markdown_has_readiness_metrics_and_plots_diff(repo):
    _run(str(BIN / "dvc"), "init", "-q", cwd=repo)
    (repo / "metrics/plots").mkdir()
    (repo / "metrics/eval.json").write_text(json.dumps({"macro_f1": 0.60}))
    (repo / "metrics/plots/roc.csv").write_text("fpr,tpr\n0,0\n0.5,0.8\n1,1\n")
    _commit(repo, "baseline")
    (repo / "metrics/eval.json").write_text(json.dumps({"macro_f1": 0.65}))
    (repo / "metrics/plots/roc.csv").write_text("fpr,tpr\n0,0\n0.5,0.9\n1,1\n")
    (repo / "params.yaml").write_text("train:\n  lr: 0.0005\n")
    (repo / "metrics/readiness.json").write_text(json.dumps(_readiness(False)))
    _commit(repo, "change")

    (repo / "guards.txt").write_text("regression guards vs HEAD~1: PASS\nstatus kind name\npass guard macro_f1\n")
    _musicml("report", "--base", "HEAD~1", "--out", "report.md", "--plots-dir", "out/plots", "--guards", "guards.txt",
             cwd=repo)
    text = (repo / "report.md").read_text()
    assert text.startswith("## Drum classifier: this change vs HEAD~1")
    assert "<details><summary>regression guards vs HEAD~1: PASS</summary>" in text and "pass guard macro_f1" in text
    assert "**Readiness: FAIL**" in text and "| openset_auroc | ❌ fail | 0.8 | `auroc >= 0.9` |" in text
    assert "metrics/eval.json" in text and "macro_f1" in text and "0.05" in text  # the metrics diff table
    assert "train.lr" in text and "0.0005" in text                               # the params diff table
    assert (repo / "out/plots/index.html").exists()
    specs = list((repo / "out/plots/images").glob("*.vl.json"))
    assert specs, "a vega-lite spec per plot"
    assert "out/plots/index.html" in text


def test_compare_metrics_command_fails_on_a_regression(repo):
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    (repo / "params.yaml").write_text(yaml.safe_dump({"compare": params["compare"]}))
    health = {"passed": True, "class_counts": {"kick": 640, "snare": 640}, "taxonomy_drift": 0,
              "gating_results": [{"gate": "min_class_count", "passed": True}]}
    (repo / "metrics/health.json").write_text(json.dumps(health))
    (repo / "metrics/eval.json").write_text(json.dumps({"macro_f1": 0.70}))
    _commit(repo, "baseline")
    (repo / "metrics/eval.json").write_text(json.dumps({"macro_f1": 0.695}))
    ok = _musicml("compare-metrics", "--ref", "main", "--json-output", "out/diff.json", cwd=repo)
    assert "regression guards vs main: PASS" in ok.stdout
    assert json.loads((repo / "out/diff.json").read_text())["passed"] is True

    (repo / "metrics/eval.json").write_text(json.dumps({"macro_f1": 0.65}))
    health["class_counts"]["snare"] = 600
    (repo / "metrics/health.json").write_text(json.dumps(health))
    bad = _musicml("compare-metrics", "--ref", "main", "--json-output", "out/diff.json", cwd=repo, check=False)
    assert bad.returncode == 1 and "2 regression(s) vs main" in bad.stderr and "Traceback" not in bad.stderr
    diff = json.loads((repo / "out/diff.json").read_text())
    assert diff["ref"] == "main" and {f.split(":")[0] for f in diff["failures"]} == {"guard macro_f1", "count snare"}


def test_cml_workflow_uses_the_make_targets_and_posts_the_report():
    import yaml

    workflow = yaml.safe_load((ROOT / ".github/workflows/cml.yaml").read_text())
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on:` as true
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    steps = workflow["jobs"]["report"]["steps"]
    script = "\n".join(s.get("run", "") for s in steps)
    for needed in ("make setup", "make repro", "make report", "make compare", "cml comment create",
                   "dvc pull", "musicml deps check"):
        assert needed in script, needed
    # The deps check takes seconds; it runs before the repro, so a stale dvc.yaml fails fast.
    assert script.index("musicml deps check") < script.index("make repro")
    makefile = (ROOT / "Makefile").read_text()
    for target in ("compare:", "report:", "release:", "sweep:"):
        assert f"\n{target}" in makefile, target
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads and "metrics/*.html" in uploads[0]["with"]["path"]
