"""`musicml compare-manifests` and `musicml stats` (musicml.drums.manifest_diff)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from musicml.cli import app
from musicml.drums.manifest_diff import compare_manifests, manifest_stats
from musicml.manifest import events_frame, write_events, write_jsonl

runner = CliRunner()


def events(counts: dict, *, session="s1", source="synth", techniques=None):
    rows = []
    for label, n in counts.items():
        for i in range(n):
            rows.append({"source": source, "session_id": session, "kit": "k", "audio_path": f"{session}.wav",
                         "onset_s": float(len(rows)), "label": label,
                         "techniques": (techniques or {}).get(label, [])})
    return events_frame(rows)


def concat(*frames):
    import pandas as pd

    return pd.concat(frames, ignore_index=True)


def test_diff_counts_sessions_labels_techniques():
    a = concat(events({"kick": 40, "snare": 30, "unknown": 2}, session="s1"),
               events({"kick": 10}, session="s2", techniques={"kick": []}))
    b = concat(events({"kick": 12, "snare": 31, "unknown": 5}, session="s1", techniques={"snare": ["ghost"]}),
               events({"crash": 3}, session="s3", source="hydrogen"))
    diff = compare_manifests(a, b, max_drop=25)
    assert diff["events"] == {"a": 82, "b": 51, "delta": -31}
    assert diff["sessions"]["added"] == ["s3"] and diff["sessions"]["removed"] == ["s2"]
    assert diff["sessions"]["changed"] == {"s1": {"a": 72, "b": 48, "delta": -24}}
    assert diff["labels"]["kick"] == {"a": 50, "b": 12, "delta": -38}
    assert diff["labels"]["crash"] == {"a": 0, "b": 3, "delta": 3}
    assert diff["techniques"] == {"ghost": {"a": 0, "b": 31, "delta": 31}}
    assert diff["sources"]["hydrogen"]["b"] == 3 and diff["unknown"]["delta"] == 3
    assert list(diff["label_drops"]) == ["kick"] and not diff["passed"]
    # A drop of exactly max_drop is tolerated; ignored labels never fail.
    assert compare_manifests(a, b, max_drop=38)["passed"]
    assert compare_manifests(a, b, ignore_labels=["kick"])["passed"]


def test_stats_counts_per_label_source_split():
    df = concat(events({"kick": 3, "snare": 1}, session="s1"), events({"kick": 2}, session="s2", source="x"))
    df["split"] = ["train"] * 4 + ["test"] * 2
    table = manifest_stats(df)
    assert table["events"] == 6 and table["sessions"] == 2
    assert table["labels"] == {"kick": 5, "snare": 1} and table["sources"] == {"synth": 4, "x": 2}
    assert table["splits"] == {"test": 2, "train": 4}
    assert table["label_by_split"]["train"] == {"kick": 3, "snare": 1}
    assert "splits" not in manifest_stats(df.drop(columns="split"))


@pytest.fixture
def manifests(tmp_path):
    a = events({"kick": 40, "snare": 10})
    b = events({"kick": 10, "snare": 12, "aux_percussion": 0})
    write_events(a, tmp_path / "a.parquet")
    write_jsonl(b, tmp_path / "b.jsonl")
    return tmp_path / "a.parquet", tmp_path / "b.jsonl"


def test_compare_command(tmp_path, manifests):
    a, b = manifests
    out = tmp_path / "diff.json"
    result = runner.invoke(app, ["compare-manifests", str(a), str(b), "--json-output", str(out)])
    assert result.exit_code == 1  # kick dropped 30 > 25
    assert "DROP kick: 40 -> 10" in result.output and "labels: kick -30, snare +2" in result.output
    diff = json.loads(out.read_text())  # written before failing
    assert diff["candidate"] == str(b) and diff["label_drops"]["kick"]["delta"] == -30
    ok = runner.invoke(app, ["compare-manifests", str(a), str(b), "--ignore-label", "kick"])
    assert ok.exit_code == 0, ok.output
    assert runner.invoke(app, ["compare-manifests", str(a), str(b), "--no-strict"]).exit_code == 0


def test_compare_bad_input(tmp_path, manifests):
    a, _ = manifests
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"source": "s", "session_id": "x", "kit": "k", "audio_path": "a.wav",
                               "label": "kick"}) + "\n")
    result = runner.invoke(app, ["compare-manifests", str(a), str(bad)])
    assert result.exit_code != 0
    assert "bad.jsonl:1: field 'onset_s': missing required field" in str(result.exception)
    missing = runner.invoke(app, ["stats", str(tmp_path / "none.parquet")])
    assert missing.exit_code != 0 and "manifest not found" in str(missing.exception)


def test_stats_command(manifests, tmp_path):
    a, b = manifests
    result = runner.invoke(app, ["stats", str(a)])
    assert result.exit_code == 0 and "50 events, 1 sessions" in result.output and "kick 40" in result.output
    as_json = json.loads(runner.invoke(app, ["stats", str(b), "--json"]).output)
    assert as_json["labels"] == {"kick": 10, "snare": 12}
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert json.loads(runner.invoke(app, ["stats", str(empty), "--json"]).output)["events"] == 0
