"""Unit tests of musicml.drums.health: counts, duplicates, drift, gates, durations and the HTML report."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from musicml.drums.health import HealthThresholds, check_gates, health_report, render_html, write_reports
from musicml.errors import ConfigError, GateError
from musicml.manifest import events_frame

CLASSES = ("kick", "snare", "hihat_closed", "hihat_open", "crash")
# Every gate passes on a tiny manifest unless a test lowers or raises one threshold.
LOOSE = dict(max_duplication_rate=0.0, min_class_count=0, max_taxonomy_drift=0)


def event(label, onset, *, audio="a.wav", source="synth", session="s1", kit="k1", **extra):
    return {"source": source, "session_id": session, "kit": kit, "audio_path": audio,
            "onset_s": onset, "label": label, **extra}


def frame(*rows, split=None, duration=None):
    df = events_frame(rows)
    if split is not None:
        df["split"] = split
    if duration is not None:
        df["duration_s"] = duration
    return df


def report_of(df, durations=None, **thresholds):
    return health_report(df, classes=CLASSES, thresholds=HealthThresholds(**{**LOOSE, **thresholds}),
                         durations=durations)


def gate(report, name):
    (found,) = [g for g in report["gating_results"] if g["gate"] == name]
    return found


def test_counts_sessions_kits_sources():
    df = frame(event("kick", 0.0), event("kick", 1.0, session="s2", kit="k2"),
               event("snare", 0.0, source="hydrogen", session="s1", audio="b.wav"))
    r = report_of(df)
    assert (r["events"], r["kits"], r["sources"]) == (3, 2, 2)
    assert r["sessions"] == 3  # s1 of synth and s1 of hydrogen are different sessions
    assert r["class_counts"] == {"kick": 2, "snare": 1, "hihat_closed": 0, "hihat_open": 0, "crash": 0, "unknown": 0}
    assert r["class_counts_by_source"]["hydrogen"]["snare"] == 1
    assert r["events_by_source"] == {"hydrogen": 1, "synth": 2}
    assert "class_counts_by_split" not in r


def test_duplicates_within_one_millisecond_and_by_event_id():
    df = frame(event("kick", 1.0), event("kick", 1.0005), event("kick", 1.005),
               event("snare", 1.0, audio="b.wav"), event("snare", 2.0, audio="c.wav", event_id="same"),
               event("snare", 3.0, audio="d.wav", event_id="same"))
    r = report_of(df, max_duplication_rate=0.5)
    assert r["duplicate_events"] == 2  # 1.0005 repeats 1.0; the second "same" id repeats the first
    assert r["duplication_rate"] == pytest.approx(2 / 6)
    assert gate(r, "duplication_rate")["passed"]


def test_duplication_gate_fails_above_threshold():
    r = report_of(frame(event("kick", 0.0), event("kick", 0.0)), max_duplication_rate=0.005)
    g = gate(r, "duplication_rate")
    assert not g["passed"] and g["value"] == 0.5 and g["threshold"] == 0.005
    assert not r["passed"]


def test_unknown_is_open_set_not_drift():
    df = frame(event("unknown", 0.0), event("cowbell", 1.0), event("cowbell", 2.0), event("Kick", 3.0))
    r = report_of(df)
    assert r["unknown_events"] == 1 and r["class_counts"]["unknown"] == 1
    assert r["taxonomy_drift"] == 3 and r["drift_labels"] == ["Kick", "cowbell"]
    g = gate(r, "taxonomy_drift")
    assert not g["passed"] and "taxonomy_drift 3 > 0" in g["message"]
    assert gate(report_of(frame(event("unknown", 0.0))), "taxonomy_drift")["passed"]


def test_min_class_count_covers_every_taxonomy_class():
    df = frame(*[event(c, float(i)) for i, c in enumerate(CLASSES)], event("kick", 9.0))
    assert gate(report_of(df, min_class_count=1), "min_class_count")["passed"]
    g = gate(report_of(df, min_class_count=2), "min_class_count")
    assert not g["passed"] and g["value"] == 1 and g["threshold"] == 2
    assert "snare has 1 < 2" in g["message"] and "kick" not in g["message"]


def test_min_counts_gate_per_label():
    df = frame(event("hihat_open", 0.0), event("hihat_open", 1.0))
    r = report_of(df, min_counts={"hihat_open": 2, "snare": 1})
    assert gate(r, "min_counts:hihat_open")["passed"]
    g = gate(r, "min_counts:snare")
    assert not g["passed"] and (g["value"], g["threshold"]) == (0, 1)


def test_required_labels_and_techniques():
    df = frame(event("kick", 0.0, techniques=["flam", "ghost"]), event("snare", 1.0, techniques=["flam"]))
    r = report_of(df, required_labels=["kick", "hihat_open"], required_techniques=["flam", "hihat_bark"])
    assert r["technique_counts"] == {"flam": 2, "ghost": 1, "hihat_bark": 0}
    labels, techniques = gate(r, "required_labels"), gate(r, "required_techniques")
    assert not labels["passed"] and labels["value"] == ["hihat_open"]
    assert not techniques["passed"] and techniques["value"] == ["hihat_bark"]
    ok = report_of(df, required_labels=["kick"], required_techniques=["ghost"])
    assert gate(ok, "required_labels")["passed"] and gate(ok, "required_techniques")["passed"] and ok["passed"]


def test_threshold_labels_outside_taxonomy_are_config_errors():
    with pytest.raises(ConfigError, match="hihat-open"):
        report_of(frame(event("kick", 0.0)), required_labels=["hihat-open"])
    with pytest.raises(ConfigError, match="min_counts"):
        report_of(frame(event("kick", 0.0)), min_counts={"cowbell": 1})


def test_extra_labels_velocity_and_openness():
    df = frame(event("crash", 0.0, extra_labels=["kick"]), event("kick", 1.0, velocity=1),
               event("kick", 2.0, velocity=127), event("hihat_open", 3.0, openness=0.9),
               event("hihat_closed", 4.0, openness=0.0), event("hihat_closed", 5.0))
    r = report_of(df)
    assert r["extra_label_events"] == 1 and r["extra_label_counts"] == {"kick": 1}
    v = r["velocity"]
    assert (v["count"], v["missing"], v["min"], v["max"], v["mean"]) == (2, 4, 1, 127, 64.0)
    assert len(v["histogram"]) == 8 and v["histogram"]["001-016"] == 1 and v["histogram"]["113-127"] == 1
    o = r["openness"]
    assert o["labels"] == ["hihat_closed", "hihat_open"]
    assert (o["count"], o["missing"]) == (2, 1) and o["mean"] == pytest.approx(0.45)
    assert o["histogram"] == {"0.0-0.2": 1, "0.2-0.4": 0, "0.4-0.6": 0, "0.6-0.8": 0, "0.8-1.0": 1}
    assert o["by_label"]["hihat_open"] == {"count": 1, "mean": 0.9}


def test_per_split_counts():
    df = frame(event("kick", 0.0), event("snare", 1.0), event("kick", 2.0, session="s2"),
               event("unknown", 3.0, session="s3"), split=["train", "train", "test", "openset"])
    r = report_of(df)
    assert list(r["class_counts_by_split"]) == ["train", "test", "openset"]
    assert r["class_counts_by_split"]["train"] == {"kick": 1, "snare": 1, "hihat_closed": 0, "hihat_open": 0,
                                                   "crash": 0, "unknown": 0}
    assert r["class_counts_by_split"]["openset"]["unknown"] == 1
    assert r["events_by_split"] == {"train": 2, "test": 1, "openset": 1}


def test_durations_count_each_shared_file_once():
    df = frame(event("kick", 0.0, audio="kit1.wav"), event("snare", 1.0, audio="kit1.wav"),
               event("kick", 0.0, audio="kit2.wav", session="s2"),
               event("kick", 0.0, audio="kit3.wav", source="hydrogen", session="s3"),
               split=["train", "train", "val", "val"])
    durations = pd.DataFrame({"audio_path": ["kit1.wav", "kit2.wav", "kit3.wav"], "duration_s": [10.0, 4.0, 1.5]})
    d = report_of(df, durations=durations)["durations"]
    assert d["total_s"] == 15.5 and d["files"] == 3 and d["missing_files"] == 0
    assert d["by_split"] == {"train": 10.0, "val": 5.5}
    assert d["by_source"] == {"hydrogen": 1.5, "synth": 14.0}


def test_durations_from_column_and_missing():
    df = frame(event("kick", 0.0, audio="x.wav"), event("kick", 1.0, audio="x.wav"), event("kick", 0.0, audio="y.wav"),
               duration=[2.0, 2.0, None])
    d = report_of(df)["durations"]
    assert (d["total_s"], d["files"], d["missing_files"]) == (2.0, 2, 1)
    assert report_of(frame(event("kick", 0.0)))["durations"] is None


def test_check_gates_message_names_each_failing_gate_and_figure():
    df = frame(event("kick", 0.0), event("kick", 0.0), event("snare", 1.0))
    r = report_of(df, min_class_count=1, max_duplication_rate=0.005)
    with pytest.raises(GateError) as info:
        check_gates(r)
    message = str(info.value)
    assert message.startswith("health gate failed: ")
    assert "min_class_count: hihat_closed has 0 < 1, hihat_open has 0 < 1, crash has 0 < 1" in message
    assert "duplication_rate 0.3333 > 0.005" in message
    assert "taxonomy_drift" not in message and "\n" not in message
    check_gates(report_of(frame(event("kick", 0.0))))


def test_report_is_strict_json_even_when_empty():
    empty = report_of(frame())
    json.dumps(empty, allow_nan=False)
    assert empty["duplication_rate"] == 0.0 and empty["velocity"]["mean"] is None
    assert empty["gating_results"] and empty["passed"]
    full = report_of(frame(event("kick", 0.0, velocity=90, openness=0.5), split=["train"], duration=[1.0]))
    json.dumps(full, allow_nan=False)


def test_html_lists_gates_and_escapes_labels():
    df = frame(event("kick", 0.0), event("<b>cowbell</b>", 1.0, source="<i>src</i>"), split=["train", "val"])
    r = report_of(df, min_counts={"snare": 1}, required_labels=["kick"])
    html = render_html(r)
    for g in r["gating_results"]:
        assert g["gate"] in html
    assert "PASS" in html and "FAIL" in html
    assert "<b>cowbell</b>" not in html and "&lt;b&gt;cowbell&lt;/b&gt;" in html
    assert "<i>src</i>" not in html
    assert "<script" not in html and "http" not in html


def test_html_renders_a_report_read_back_from_json():
    df = frame(event("kick", 0.0, velocity=64), split=["train"], duration=[3.0])
    reloaded = json.loads(json.dumps(report_of(df), sort_keys=True))
    html = render_html(reloaded)
    assert html.index("001-016") < html.index("113-127")


def test_write_reports_writes_json_and_html(tmp_path):
    r = report_of(frame(event("kick", 0.0)))
    write_reports(r, tmp_path / "m" / "health.json", tmp_path / "m" / "health.html")
    assert json.loads((tmp_path / "m" / "health.json").read_text())["events"] == 1
    assert (tmp_path / "m" / "health.html").read_text().startswith("<!DOCTYPE html>")
