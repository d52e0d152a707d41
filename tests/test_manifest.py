"""Unit tests of musicml.manifest: row validation, ids, JSONL/Parquet I/O and manifest folders."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from musicml.errors import InputError
from musicml.manifest import (
    COLUMNS,
    events_frame,
    make_event_id,
    normalize_row,
    read_events,
    read_jsonl,
    read_manifest_folder,
    write_events,
    write_jsonl,
)

SR = 8000


def row(**overrides):
    base = {"source": "manifest", "session_id": "s1", "kit": "k1", "audio_path": "a.wav",
            "onset_s": 0.25, "label": "kick"}
    base.update(overrides)
    return base


def without(name):
    r = row()
    del r[name]
    return r


def write_wav(path, seconds=1.0, sr=SR):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.full(int(seconds * sr), 0.1, dtype=np.float32), sr)
    return path


def write_lines(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


# --- normalize_row / events_frame -------------------------------------------------------------


def test_normalize_row_fills_optional_columns_and_derives_id():
    out = normalize_row(row(), path="m.jsonl", line=3)
    assert list(out) == list(COLUMNS)
    assert out["extra_labels"] == [] and out["techniques"] == []
    assert out["velocity"] is None and out["openness"] is None
    assert out["event_id"] == make_event_id("manifest", "a.wav", 0.25)


def test_normalize_row_keeps_given_values():
    out = normalize_row(row(event_id="mine", velocity=100.0, openness=0.5, techniques=("flam",),
                            extra_labels=["crash"]), path="m", line=1)
    assert out["event_id"] == "mine"
    assert out["velocity"] == 100 and isinstance(out["velocity"], int)
    assert out["openness"] == 0.5
    assert out["techniques"] == ["flam"] and out["extra_labels"] == ["crash"]


@pytest.mark.parametrize("field", ["source", "session_id", "kit", "audio_path", "onset_s", "label"])
def test_missing_required_field_names_file_line_and_field(field):
    with pytest.raises(InputError) as info:
        normalize_row(without(field), path="data/m.jsonl", line=7)
    err = info.value
    assert (err.path, err.line, err.field) == ("data/m.jsonl", 7, field)
    assert str(err).startswith("data/m.jsonl:7:")
    assert f"'{field}'" in str(err)


@pytest.mark.parametrize("field", ["label", "session_id", "audio_path"])
@pytest.mark.parametrize("value", ["", "   ", 5])
def test_empty_or_non_string_text_fields_rejected(field, value):
    with pytest.raises(InputError) as info:
        normalize_row(row(**{field: value}), path="m", line=2)
    assert info.value.field == field


@pytest.mark.parametrize("onset", [-0.001, float("nan"), float("inf"), "0.5", True])
def test_bad_onset_rejected(onset):
    with pytest.raises(InputError) as info:
        normalize_row(row(onset_s=onset), path="m", line=4)
    # NaN counts as missing, the rest as out of range / wrong type; both name the field.
    assert info.value.field == "onset_s" and info.value.line == 4


def test_onset_zero_and_integer_accepted():
    assert normalize_row(row(onset_s=0), path="m", line=1)["onset_s"] == 0.0
    assert isinstance(normalize_row(row(onset_s=2), path="m", line=1)["onset_s"], float)


@pytest.mark.parametrize("velocity", [0, 128, 64.5, "100", True, float("inf"), -1])
def test_bad_velocity_rejected(velocity):
    with pytest.raises(InputError) as info:
        normalize_row(row(velocity=velocity), path="m", line=5)
    assert info.value.field == "velocity"


@pytest.mark.parametrize("velocity", [1, 127, 64.0])
def test_velocity_range_edges_accepted(velocity):
    assert normalize_row(row(velocity=velocity), path="m", line=1)["velocity"] == int(velocity)


def test_missing_velocity_and_openness_are_null():
    out = normalize_row(row(velocity=None, openness=float("nan")), path="m", line=1)
    assert out["velocity"] is None and out["openness"] is None


@pytest.mark.parametrize("openness", [-0.1, 1.01, "open", False])
def test_bad_openness_rejected(openness):
    with pytest.raises(InputError) as info:
        normalize_row(row(openness=openness), path="m", line=1)
    assert info.value.field == "openness"


@pytest.mark.parametrize("field", ["extra_labels", "techniques"])
@pytest.mark.parametrize("value", ["flam", [1, 2], ["ok", None], {"a": 1}])
def test_list_fields_must_be_lists_of_strings(field, value):
    with pytest.raises(InputError) as info:
        normalize_row(row(**{field: value}), path="m", line=1)
    assert info.value.field == field


def test_events_frame_numbers_rows_from_one_and_types_columns():
    with pytest.raises(InputError) as info:
        events_frame([row(), row(), row(label="")], origin="src")
    assert (info.value.path, info.value.line, info.value.field) == ("src", 3, "label")

    df = events_frame([row(velocity=90), row(onset_s=0.5)])
    assert list(df.columns) == list(COLUMNS)
    assert df["onset_s"].dtype == np.float64
    assert str(df["velocity"].dtype) == "Int64" and df["velocity"].isna().tolist() == [False, True]
    assert str(df["openness"].dtype) == "Float64"
    assert str(df["label"].dtype) == "string"


def test_events_frame_of_nothing_has_columns():
    df = events_frame([])
    assert len(df) == 0 and list(df.columns) == list(COLUMNS)


# --- make_event_id ----------------------------------------------------------------------------


def test_event_id_stable_and_sensitive():
    a = make_event_id("synth", "x.wav", 1.0)
    assert a == make_event_id("synth", "x.wav", 1.0) and len(a) == 16
    int(a, 16)  # hex
    assert a == make_event_id("synth", "x.wav", 1.00001)  # below 0.1 ms resolution
    assert a == make_event_id("synth", "x.wav", 1)  # int and float onset alike
    assert a != make_event_id("synth", "x.wav", 1.001)
    assert a != make_event_id("hydrogen", "x.wav", 1.0)
    assert a != make_event_id("synth", "y.wav", 1.0)


def test_event_id_is_a_pure_function_of_its_key():
    # A fixed value guards against accidental changes of the key format (ids are stored in DVC outputs).
    import hashlib

    assert make_event_id("s", "p", 0.5) == hashlib.sha1(b"s|p|0.5000").hexdigest()[:16]


# --- read_jsonl -------------------------------------------------------------------------------


def test_read_jsonl_skips_blank_lines(tmp_path):
    path = write_lines(tmp_path / "m.jsonl", [json.dumps(row()), "", "   ", json.dumps(row(onset_s=0.5))])
    df = read_jsonl(path)
    assert df["onset_s"].tolist() == [0.25, 0.5]


def test_read_jsonl_malformed_json_names_file_and_line(tmp_path):
    path = write_lines(tmp_path / "m.jsonl", [json.dumps(row()), "", '{"source": "x",'])
    with pytest.raises(InputError) as info:
        read_jsonl(path)
    assert info.value.line == 3 and info.value.path == str(path)
    assert str(info.value).startswith(f"{path}:3:") and "not valid JSON" in str(info.value)


def test_read_jsonl_non_object_line(tmp_path):
    path = write_lines(tmp_path / "m.jsonl", [json.dumps(row()), "[1, 2]"])
    with pytest.raises(InputError) as info:
        read_jsonl(path)
    assert info.value.line == 2 and "JSON object" in info.value.message


def test_read_jsonl_bad_field_names_physical_line(tmp_path):
    path = write_lines(tmp_path / "m.jsonl", ["", json.dumps(row()), json.dumps(row(velocity=300))])
    with pytest.raises(InputError) as info:
        read_jsonl(path)
    assert (info.value.line, info.value.field) == (3, "velocity")


def test_read_jsonl_infinite_velocity_is_an_input_error(tmp_path):
    # Python's json accepts Infinity; it must give a file:line error, not an OverflowError.
    path = write_lines(tmp_path / "m.jsonl", ['{"source": "m", "session_id": "s", "kit": "k", "audio_path": "a",'
                                              ' "onset_s": 0, "label": "kick", "velocity": Infinity}'])
    with pytest.raises(InputError) as info:
        read_jsonl(path)
    assert (info.value.line, info.value.field) == (1, "velocity")


def test_read_jsonl_missing_file(tmp_path):
    with pytest.raises(InputError) as info:
        read_jsonl(tmp_path / "nope.jsonl")
    assert "cannot open" in info.value.message


# --- write_events / read_events / write_jsonl -------------------------------------------------


def sample_events():
    return events_frame([
        row(session_id="s2", onset_s=0.5, extra_labels=["crash", "ride"], techniques=["flam"], velocity=80,
            openness=0.25),
        row(session_id="s1", onset_s=0.75),
        row(session_id="s1", onset_s=0.1, source="synth", techniques=["ghost"]),
        row(session_id="s1", onset_s=0.3),
    ])


def test_write_read_events_round_trip_with_lists_and_extra_columns(tmp_path):
    df = sample_events()
    df["split"] = pd.array(["train", "val", "test", "openset"], dtype="string")
    write_events(df, tmp_path / "e.parquet")
    back = read_events(tmp_path / "e.parquet")
    assert list(back.columns) == list(COLUMNS) + ["split"]
    # Rows come back in canonical order: source, session, audio, onset.
    assert list(zip(back["source"], back["session_id"], back["onset_s"])) == [
        ("manifest", "s1", 0.3), ("manifest", "s1", 0.75), ("manifest", "s2", 0.5), ("synth", "s1", 0.1)]
    first_s2 = back[back["session_id"] == "s2"].iloc[0]
    assert first_s2["extra_labels"] == ["crash", "ride"] and isinstance(first_s2["extra_labels"], list)
    assert first_s2["techniques"] == ["flam"]
    assert first_s2["velocity"] == 80 and first_s2["openness"] == 0.25
    assert first_s2["split"] == "train"
    assert back["extra_labels"].map(type).eq(list).all()
    assert back.loc[back["session_id"] == "s1", "velocity"].isna().all()
    expected = df.set_index("event_id").loc[back["event_id"], "split"].tolist()
    assert back["split"].tolist() == expected  # extra column stays with its row


def test_write_events_canonical_bytes_whatever_input_order(tmp_path):
    df = sample_events()
    write_events(df, tmp_path / "a.parquet")
    write_events(df.sample(frac=1.0, random_state=3), tmp_path / "b.parquet")
    write_events(df.iloc[::-1], tmp_path / "c.parquet")
    a = (tmp_path / "a.parquet").read_bytes()
    assert a == (tmp_path / "b.parquet").read_bytes() == (tmp_path / "c.parquet").read_bytes()


def test_read_events_jsonl_and_errors(tmp_path):
    path = write_lines(tmp_path / "m.jsonl", [json.dumps(row())])
    assert read_events(path)["label"].tolist() == ["kick"]
    with pytest.raises(InputError, match="not found"):
        read_events(tmp_path / "missing.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="Parquet"):
        read_events(tmp_path / "bad.parquet")
    pd.DataFrame({"label": ["kick"]}).to_parquet(tmp_path / "partial.parquet")
    with pytest.raises(InputError) as info:
        read_events(tmp_path / "partial.parquet")
    assert info.value.field == "event_id"


def test_write_jsonl_round_trips_through_read_jsonl(tmp_path):
    df = sample_events()
    write_jsonl(df, tmp_path / "out.jsonl")
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == 4
    first = json.loads(lines[0])
    assert list(first) == sorted(first)  # sorted keys
    assert first["velocity"] == 80 and first["extra_labels"] == ["crash", "ride"]
    assert json.loads(lines[1])["velocity"] is None and json.loads(lines[1])["openness"] is None
    back = read_jsonl(tmp_path / "out.jsonl")
    pd.testing.assert_frame_equal(back, df)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# --- read_manifest_folder ---------------------------------------------------------------------


def test_manifest_folder_resolves_audio_relative_to_jsonl(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_wav(tmp_path / "raw" / "kit1" / "audio" / "hits.wav", seconds=1.0)
    write_wav(tmp_path / "shared.wav", seconds=2.0)
    write_lines(tmp_path / "raw" / "kit1" / "events.jsonl", [
        json.dumps(row(audio_path="audio/hits.wav", onset_s=0.5)),   # relative to the JSONL folder
        json.dumps(row(audio_path="shared.wav", onset_s=1.5)),       # relative to the repo root (cwd)
    ])
    df = read_manifest_folder("raw")
    assert df["audio_path"].tolist() == ["raw/kit1/audio/hits.wav", "shared.wav"]
    assert df["onset_s"].tolist() == [0.5, 1.5]


def test_manifest_folder_reads_every_jsonl_recursively(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_wav(tmp_path / "raw" / "a" / "x.wav")
    write_wav(tmp_path / "raw" / "b" / "c" / "y.wav")
    write_lines(tmp_path / "raw" / "a" / "m.jsonl", [json.dumps(row(audio_path="x.wav", session_id="a"))])
    write_lines(tmp_path / "raw" / "b" / "c" / "m.jsonl", [json.dumps(row(audio_path="y.wav", session_id="b"))])
    df = read_manifest_folder(tmp_path / "raw")
    assert sorted(df["session_id"]) == ["a", "b"]


def test_manifest_folder_missing_audio_names_jsonl_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_wav(tmp_path / "raw" / "ok.wav")
    jsonl = write_lines(tmp_path / "raw" / "m.jsonl", [
        json.dumps(row(audio_path="ok.wav")), "", json.dumps(row(audio_path="gone.wav"))])
    with pytest.raises(InputError) as info:
        read_manifest_folder("raw")
    err = info.value
    assert err.path == str(jsonl.relative_to(tmp_path)) and err.line == 3 and err.field == "audio_path"
    assert "gone.wav" in err.message


def test_manifest_folder_onset_past_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_wav(tmp_path / "raw" / "short.wav", seconds=0.5)
    write_lines(tmp_path / "raw" / "m.jsonl", [json.dumps(row(audio_path="short.wav", onset_s=0.4)),
                                               json.dumps(row(audio_path="short.wav", onset_s=0.5))])
    with pytest.raises(InputError) as info:
        read_manifest_folder("raw")
    assert (info.value.line, info.value.field) == (2, "onset_s")
    assert "past the end" in info.value.message


@pytest.mark.parametrize("content", [b"", b"RIFF\x00\x00\x00\x00WAVEjunkjunk", b"hello, not audio"])
def test_manifest_folder_unreadable_audio_names_line(tmp_path, monkeypatch, content):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "bad.wav").write_bytes(content)
    write_lines(tmp_path / "raw" / "m.jsonl", [json.dumps(row(audio_path="bad.wav", onset_s=0.0))])
    with pytest.raises(InputError) as info:
        read_manifest_folder("raw")
    assert (info.value.line, info.value.field) == (1, "audio_path")
    assert info.value.path.endswith("m.jsonl") and "bad.wav" in info.value.message


def test_manifest_folder_audio_with_no_samples(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "raw").mkdir()
    sf.write(tmp_path / "raw" / "empty.wav", np.zeros(0, dtype=np.float32), SR)
    write_lines(tmp_path / "raw" / "m.jsonl", [json.dumps(row(audio_path="empty.wav", onset_s=0.0))])
    with pytest.raises(InputError, match="no samples") as info:
        read_manifest_folder("raw")
    assert info.value.line == 1


def test_manifest_folder_empty_source(tmp_path):
    (tmp_path / "raw").mkdir()
    with pytest.raises(InputError, match="empty source"):
        read_manifest_folder(tmp_path / "raw")
    with pytest.raises(InputError, match="empty source"):
        read_manifest_folder(tmp_path / "does-not-exist")
    write_lines(tmp_path / "raw" / "m.jsonl", ["", ""])
    with pytest.raises(InputError, match="empty source"):
        read_manifest_folder(tmp_path / "raw")


def test_nan_helpers_sanity():
    # NaN onset is reported as missing (not silently kept as a float).
    with pytest.raises(InputError, match="missing"):
        normalize_row(row(onset_s=math.nan), path="m", line=1)
