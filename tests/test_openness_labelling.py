"""`musicml normalize-openness` (CC4 -> openness per vendor) and `musicml label-hit` (one hand-labelled hit)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from conftest import ROOT
from musicml.cli import app
from musicml.drums.labelling import label_hit
from musicml.drums.openness import load_calibration, normalize_openness
from musicml.errors import ConfigError, InputError
from musicml.manifest import read_jsonl

CLASSES = ("kick", "snare", "hihat_closed", "hihat_open")
ROW = {"source": "edrum", "session_id": "s1", "kit": "td", "audio_path": "take.wav", "onset_s": 0.5,
       "label": "hihat_open"}


def _calibration(tmp_path, vendors, default=None):
    doc = {"vendors": {name: {"points": points} for name, points in vendors.items()}}
    if default:
        doc["default_vendor"] = default
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(doc))
    return path


def test_default_calibration_is_the_gm_foot_controller():
    curve = load_calibration(ROOT / "configs/openness_calibration.json").curve()
    assert curve(0) == 1.0 and curve(127) == 0.0 and curve(63.5) == pytest.approx(0.5)
    assert curve.inverse(0.0) == 127 and curve.inverse(1.0) == 0 and curve.inverse(0.5) in (63, 64)


def test_piecewise_curves_and_bad_calibration_files(tmp_path):
    cal = load_calibration(_calibration(tmp_path, {"a": [[0, 1.0], [20, 0.9], [90, 0.0]], "b": [[0, 0.0], [127, 1.0]]},
                                        default="b"))
    a = cal.curve("a")
    assert a(10) == pytest.approx(0.95) and a(55) == pytest.approx(0.45) and a(120) == 0.0
    assert cal.curve()(127) == 1.0
    with pytest.raises(ConfigError, match="no openness curve for vendor 'zz'"):
        cal.curve("zz")
    for points, match in (([[0, 1.0]], "at least two"), ([[0, 1.0], [0, 0.5]], "increase strictly"),
                          ([[0, 1.0], [200, 0.0]], "cc4 0-127"), ([[0, 1.5], [127, 0.0]], "openness 0-1")):
        with pytest.raises(InputError, match=rf"cal.json: field 'vendors.v.points':.*{match}"):
            load_calibration(_calibration(tmp_path, {"v": points}))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(InputError, match="broken.json:1: not valid JSON"):
        load_calibration(tmp_path / "broken.json")


def _manifest(tmp_path, rows):
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_normalize_sets_openness_per_vendor_keeps_fields_and_dry_run_writes_nothing(tmp_path):
    cal = load_calibration(_calibration(tmp_path, {"generic": [[0, 1.0], [127, 0.0]], "td": [[0, 1.0], [90, 0.0]]}))
    rows = [{**ROW, "cc4": 45, "vendor": "td"}, {**ROW, "onset_s": 1.0, "cc4": 127},
            {**ROW, "onset_s": 1.5, "label": "kick"}]
    path = _manifest(tmp_path, rows)
    before = path.read_bytes()
    changes = normalize_openness(path, cal, dry_run=True)
    assert [(c.line, c.vendor, c.new) for c in changes] == [(1, "td", 0.5), (2, "generic", 0.0)]
    assert path.read_bytes() == before
    out = tmp_path / "calibrated.jsonl"
    normalize_openness(path, cal, out=out)
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r.get("openness") for r in written] == [0.5, 0.0, None]
    assert written[0]["cc4"] == 45 and written[0]["vendor"] == "td"  # raw fields kept
    assert read_jsonl(out)["openness"].tolist()[:2] == [0.5, 0.0]
    assert normalize_openness(out, cal) == []  # already calibrated: nothing to change
    bad = _manifest(tmp_path, [{**ROW, "cc4": 300}])
    with pytest.raises(InputError, match=r"events.jsonl:1: field 'cc4'"):
        normalize_openness(bad, cal)


def test_normalize_openness_command(tmp_path):
    cal = _calibration(tmp_path, {"generic": [[0, 1.0], [127, 0.0]]})
    path = _manifest(tmp_path, [{**ROW, "cc4": 0}])
    runner = CliRunner()
    dry = runner.invoke(app, ["normalize-openness", str(path), "--calibration", str(cal), "--dry-run"])
    assert dry.exit_code == 0 and "would change 1 rows" in dry.output and "openness null -> 1.0000" in dry.output
    assert "openness" not in json.loads(path.read_text())
    done = runner.invoke(app, ["normalize-openness", str(path), "--calibration", str(cal)])
    assert done.exit_code == 0 and json.loads(path.read_text())["openness"] == 1.0


@pytest.fixture
def audio(tmp_path):
    path = tmp_path / "data" / "take.wav"
    path.parent.mkdir()
    sf.write(path, np.zeros(22050, np.float32), 22050)  # 1 s
    return path


def test_label_hit_appends_a_valid_row_atomically(tmp_path, audio):
    manifest = tmp_path / "data" / "manifest.jsonl"
    row, added = label_hit(audio, 0.25, "snare", manifest=manifest, classes=CLASSES, velocity=90)
    assert added and row["audio_path"] == "take.wav" and row["session_id"] == "take" and row["velocity"] == 90
    label_hit(audio, 0.5, "kick", manifest=manifest, classes=CLASSES)
    assert read_jsonl(manifest)["label"].tolist() == ["snare", "kick"]
    assert label_hit(audio, 0.25, "snare", manifest=manifest, classes=CLASSES)[1] is False
    before = manifest.read_bytes()
    for args, match in (((audio, 0.25, "kick"), r"manifest.jsonl:1: field 'label': this hit is already labelled"),
                        ((audio, 0.3, "cowbell"), "not a taxonomy class"),
                        ((audio, 1.5, "kick"), r"manifest.jsonl:3: field 'onset_s': onset 1.500 s is past the end"),
                        ((audio, -1.0, "kick"), "field 'onset_s'"),
                        ((tmp_path / "nope.wav", 0.1, "kick"), "nope.wav: field 'audio_path': audio file not found")):
        with pytest.raises(InputError, match=match):
            label_hit(*args, manifest=manifest, classes=CLASSES)
    assert manifest.read_bytes() == before


def test_label_hit_command(tmp_path, audio):
    manifest = tmp_path / "m.jsonl"
    runner = CliRunner()
    ok = runner.invoke(app, ["label-hit", str(audio), "0.1", "hihat_open", "--manifest", str(manifest),
                             "--openness", "0.7", "--technique", "hihat_bark"])
    assert ok.exit_code == 0, ok.output
    row = read_jsonl(manifest).iloc[0]
    assert row["label"] == "hihat_open" and row["openness"] == 0.7 and list(row["techniques"]) == ["hihat_bark"]
    bad = runner.invoke(app, ["label-hit", str(audio), "0.1", "gong", "--manifest", str(manifest)])
    assert bad.exit_code == 1 and isinstance(bad.exception, InputError)
