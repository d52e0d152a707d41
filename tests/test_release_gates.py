"""Gates as data: key paths, comparisons, thresholds read from the metrics file, clear errors."""

from __future__ import annotations

import json

import pytest

from musicml.errors import ConfigError, InputError
from musicml.release.gates import Gate, evaluate_gates, failed_summary, lookup

METRICS = {
    "metrics/health.json": {"passed": True},
    "metrics/bootstrap.json": {"all": {"model": {"macro_f1": {"low": 0.55, "point": 0.6}}}},
    "metrics/openset.json": {"auroc": 0.93, "fpr_at_tpr": 0.2,
                             "gates": {"auroc": {"threshold": 0.9}, "fpr_at_tpr": {"threshold": 0.1}}},
}

GATES = [
    {"name": "health", "source": "metrics/health.json", "key": "passed", "op": "==", "threshold": True},
    {"name": "ci_low", "source": "metrics/bootstrap.json", "key": "all.model.macro_f1.low", "op": ">=",
     "threshold": 0.5},
    {"name": "auroc", "source": "metrics/openset.json", "key": "auroc", "op": ">=",
     "threshold_key": "gates.auroc.threshold"},
    {"name": "fpr", "source": "metrics/openset.json", "key": "fpr_at_tpr", "op": "<=",
     "threshold_key": "gates.fpr_at_tpr.threshold"},
]


def test_report_shape_and_verdicts():
    report = evaluate_gates([Gate.from_params(g) for g in GATES], read=METRICS.__getitem__)
    assert report["passed"] is False
    assert {n: g["passed"] for n, g in report["gates"].items()} == {"health": True, "ci_low": True, "auroc": True,
                                                                    "fpr": False}
    fpr = report["gates"]["fpr"]
    assert fpr == {"passed": False, "value": 0.2, "threshold": 0.1, "op": "<=", "source": "metrics/openset.json",
                   "key": "fpr_at_tpr"}
    assert "fpr: 0.2 not <= 0.1" in failed_summary(report)
    json.dumps(report)  # serialisable as is


def test_all_passing_gates_pass():
    gates = [Gate.from_params(g) for g in GATES[:3]]
    assert evaluate_gates(gates, read=METRICS.__getitem__)["passed"] is True


def test_reads_files_from_disk(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"a": [{"b": 3}]}))
    gate = Gate("g", str(path), "a.0.b", ">", 2)
    assert evaluate_gates([gate])["gates"]["g"]["passed"] is True
    with pytest.raises(InputError, match="not found"):
        evaluate_gates([Gate("g", str(tmp_path / "none.json"), "a", ">", 1)])
    path.write_text("{oops")
    with pytest.raises(InputError, match="not valid JSON"):
        evaluate_gates([gate])


def test_missing_key_names_file_and_path():
    with pytest.raises(InputError, match=r"metrics/health.json.*'passed.x'"):
        lookup({"passed": True}, "passed.x", source="metrics/health.json")


def test_bad_gate_params_are_config_errors():
    with pytest.raises(ConfigError, match="lacks op"):
        Gate.from_params({"name": "x", "source": "f", "key": "k", "threshold": 1})
    with pytest.raises(ConfigError, match="op '=>'"):
        Gate.from_params({"name": "x", "source": "f", "key": "k", "op": "=>", "threshold": 1})
    with pytest.raises(ConfigError, match="exactly one"):
        Gate.from_params({"name": "x", "source": "f", "key": "k", "op": ">", "threshold": 1, "threshold_key": "t"})
    with pytest.raises(ConfigError, match="duplicate"):
        evaluate_gates([Gate("x", "f", "k", ">", 1)] * 2, read=lambda _: {"k": 2})


def test_non_numeric_value_and_null_value():
    with pytest.raises(InputError, match="expected a number"):
        evaluate_gates([Gate("x", "f", "k", ">", 1)], read=lambda _: {"k": "high"})
    report = evaluate_gates([Gate("x", "f", "k", ">", 1)], read=lambda _: {"k": None})
    assert report["gates"]["x"]["passed"] is False  # a figure that could not be computed never passes
