"""Regression guards between a baseline's metrics and the workspace's (musicml.compare)."""

from __future__ import annotations

import copy
import json
import subprocess

import pytest

from musicml.compare import CompareConfig, compare_metrics, format_checks, metrics_sources, read_metrics_at
from musicml.errors import ConfigError, InputError

CONFIG = CompareConfig.from_params({
    "guards": [{"name": "macro_f1", "source": "metrics/eval.json", "key": "macro_f1", "tolerance": 0.01},
               {"name": "fpr", "source": "metrics/openset.json", "key": "fpr_at_tpr", "tolerance": 0.02,
                "higher_is_better": False}],
    "max_drop": 25, "ignore_labels": ["aux"],
    "gate_sources": ["metrics/readiness.json", "metrics/health.json"],
})

REF = {
    "metrics/eval.json": {"macro_f1": 0.70},
    "metrics/openset.json": {"fpr_at_tpr": 0.10},
    "metrics/health.json": {"class_counts": {"kick": 640, "snare": 640, "aux": 100}, "taxonomy_drift": 0,
                            "gating_results": [{"gate": "min_class_count", "passed": True},
                                               {"gate": "required_techniques", "passed": False}]},
    "metrics/readiness.json": {"passed": True, "gates": {"health": {"passed": True}, "openset_auroc": {"passed": True}}},
}


def _status(result, kind, name):
    return next(c["status"] for c in result["checks"] if c["kind"] == kind and c["name"] == name)


def test_identical_metrics_pass():
    result = compare_metrics(REF, copy.deepcopy(REF), CONFIG)
    assert result["passed"] and result["failures"] == []
    assert _status(result, "count", "kick") == "pass"
    assert all(c["name"] != "aux" for c in result["checks"])  # ignored label


def test_macro_f1_drop_beyond_tolerance_fails_within_passes():
    cur = copy.deepcopy(REF)
    cur["metrics/eval.json"]["macro_f1"] = 0.695
    assert compare_metrics(REF, cur, CONFIG)["passed"]
    cur["metrics/eval.json"]["macro_f1"] = 0.685
    result = compare_metrics(REF, cur, CONFIG)
    assert not result["passed"] and _status(result, "guard", "macro_f1") == "fail"
    assert "macro_f1" in result["failures"][0]


def test_lower_is_better_guard():
    cur = copy.deepcopy(REF)
    cur["metrics/openset.json"]["fpr_at_tpr"] = 0.05  # better
    assert compare_metrics(REF, cur, CONFIG)["passed"]
    cur["metrics/openset.json"]["fpr_at_tpr"] = 0.15
    assert _status(compare_metrics(REF, cur, CONFIG), "guard", "fpr") == "fail"


def test_class_count_drop_over_max_drop_fails_ignored_labels_do_not():
    cur = copy.deepcopy(REF)
    cur["metrics/health.json"]["class_counts"].update(kick=615, aux=0)
    assert compare_metrics(REF, cur, CONFIG)["passed"]  # kick -25 is at the tolerance, aux is ignored
    cur["metrics/health.json"]["class_counts"]["snare"] = 600
    result = compare_metrics(REF, cur, CONFIG)
    assert _status(result, "count", "snare") == "fail" and not result["passed"]
    del cur["metrics/health.json"]["class_counts"]["snare"]  # a label that vanished counts as 0
    assert _status(compare_metrics(REF, cur, CONFIG), "count", "snare") == "fail"


def test_a_gate_that_passed_on_ref_and_fails_now_is_a_regression():
    cur = copy.deepcopy(REF)
    cur["metrics/health.json"]["gating_results"][1]["passed"] = False  # failed on ref too: not a regression
    cur["metrics/readiness.json"]["gates"]["openset_auroc"]["passed"] = False
    result = compare_metrics(REF, cur, CONFIG)
    assert _status(result, "gate", "metrics/readiness.json:openset_auroc") == "fail"
    assert not any(c["name"].endswith("required_techniques") for c in result["checks"])
    cur = copy.deepcopy(REF)
    cur["metrics/health.json"]["gating_results"][0]["passed"] = False
    assert _status(compare_metrics(REF, cur, CONFIG), "gate", "metrics/health.json:min_class_count") == "fail"


def test_more_unknown_labels_fail():
    cur = copy.deepcopy(REF)
    cur["metrics/health.json"]["taxonomy_drift"] = 2
    assert _status(compare_metrics(REF, cur, CONFIG), "unknown", "taxonomy_drift") == "fail"


def test_missing_baseline_metrics_are_skipped_not_failed():
    ref = {"metrics/health.json": REF["metrics/health.json"], "metrics/eval.json": None}
    result = compare_metrics(ref, REF, CONFIG)
    assert result["passed"] and _status(result, "guard", "macro_f1") == "skipped"
    text = format_checks(result, ref_name="main")
    assert "regression guards vs main: PASS" in text and "skipped" in text


def test_config_errors():
    with pytest.raises(ConfigError, match="tolerance"):
        CompareConfig.from_params({"guards": [{"name": "x", "source": "f", "key": "k"}]})
    with pytest.raises(ConfigError, match="max_drop"):
        CompareConfig.from_params({"max_drop": -1})
    assert metrics_sources(CONFIG)[0] == "metrics/eval.json"


def test_read_metrics_at_a_git_ref(tmp_path):
    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    git("init", "-q")
    (tmp_path / "m.json").write_text(json.dumps({"v": 1}))
    git("add", "m.json")
    git("commit", "-qm", "one")
    (tmp_path / "m.json").write_text(json.dumps({"v": 2}))
    assert read_metrics_at("HEAD", ["m.json", "absent.json"], cwd=str(tmp_path)) == {"m.json": {"v": 1},
                                                                                    "absent.json": None}
    assert read_metrics_at(None, ["m.json"], cwd=str(tmp_path)) == {"m.json": {"v": 2}}
    with pytest.raises(InputError, match="not a git commit"):
        read_metrics_at("no-such-branch", ["m.json"], cwd=str(tmp_path))

    # Bad JSON names where it was read (the file, or ref:file) and the line.
    (tmp_path / "m.json").write_text('{\n  "v": 1,\n}')
    with pytest.raises(InputError, match=r"m\.json:3: not valid JSON"):
        read_metrics_at(None, ["m.json"], cwd=str(tmp_path))
    git("commit", "-qam", "broken")
    with pytest.raises(InputError, match=r"^HEAD:m\.json:3: not valid JSON"):
        read_metrics_at("HEAD", ["m.json"], cwd=str(tmp_path))
