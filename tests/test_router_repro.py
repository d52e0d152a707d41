"""The router pipeline end to end through `dvc repro` (conftest's session-wide ``reproduced``, tiny params, with
a few logged requests); then `musicml route`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

pytestmark = pytest.mark.slow

STAGES = ["router_generate", "router_import", "router_augment", "router_validate", "router_split", "router_embed",
          "router_train", "router_evaluate", "router_export"]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)


def test_router_pipeline_repro_and_route(reproduced, tmp_path):
    dvc = str(Path(sys.executable).parent / "dvc")
    repo = reproduced.root
    for stage in STAGES:
        assert f"Running stage '{stage}'" in reproduced.stdout
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert set(STAGES) <= set(lock["stages"])
    imported = json.loads((repo / "metrics/router_import.json").read_text())
    assert imported["real"] == 2 and imported["unlabelled"] == 1
    validation = json.loads((repo / "metrics/router_validation.json").read_text())
    assert validation["passed"] and validation["spot_check_examples"] >= 100
    evaluation = json.loads((repo / "metrics/router_eval.json").read_text())
    for model in ("baseline", "embedding"):
        for name in ("test", "natural"):
            assert 0.0 <= evaluation[model][name]["exact_match"] <= 1.0
    assert evaluation["embedding"]["natural"]["examples"] >= 150
    cv = evaluation["family_cv"]  # every family held out once per seed, beside the test
    assert cv["rows"] == sum(1 for _ in open(repo / "data/interim/router/dataset.jsonl"))
    assert 0.0 <= cv["embedding"]["mean"] <= 1.0 and len(cv["embedding"]["per_seed"]) == len(cv["seeds"]) > 0
    export = json.loads((repo / "metrics/router_export.json").read_text())
    assert export["parity_passed"] and export["parity_max_abs_embedding_diff"] < 1e-3
    trained = json.loads((repo / "metrics/router_train.json").read_text())
    served = json.loads((repo / "models/router/serving/router.json").read_text())
    assert served["blend_weight"] == trained["embedding"]["blend_weight"]
    assert served["thresholds"] == trained["embedding"]["thresholds"]
    if served["blend_weight"] < 1.0:  # the NumPy n-gram scorer is the scikit-learn baseline
        assert export["parity_max_abs_ngram_prob_diff"] < 1e-9

    second = _run([dvc, "repro", "router_evaluate", "router_export"], repo)
    assert second.returncode == 0 and "didn't change" in second.stdout and "Running stage" not in second.stdout

    musicml = [sys.executable, "-m", "musicml.cli", "route"]
    one = _run([*musicml, "add a ii-V-I to the piano track at bar 9"], repo)
    assert one.returncode == 0, one.stderr
    result = json.loads(one.stdout)
    assert set(result) == {"needsDAW", "needsArranger", "confidence"} and 0.0 <= result["confidence"] <= 1.0
    # Requests and predictions live outside the shared repository: other tests read it.
    requests, preds = tmp_path / "requests.txt", tmp_path / "preds.jsonl"
    requests.write_text("mute track 2\nthanks!\nwrite a bassline in E minor\n")
    out = _run([*musicml, "--file", str(requests), "--out", str(preds)], repo)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["mute track 2", "thanks!", "write a bassline in E minor"]
    assert all(set(r) == {"text", "needsDAW", "needsArranger", "confidence"} for r in rows)
    stdout = _run([*musicml, "--file", str(requests)], repo)
    assert [json.loads(line) for line in stdout.stdout.splitlines()] == rows
    # The served router does not import torch.
    probe = _run([sys.executable, "-c", "import sys; from musicml.router.serving import OnnxRouter; "
                  "OnnxRouter.load('models/router/serving').route(['mute track 2']); "
                  "print('torch' in sys.modules, 'sklearn' in sys.modules)"], repo)
    assert probe.returncode == 0 and probe.stdout.strip() == "False False", probe.stderr
