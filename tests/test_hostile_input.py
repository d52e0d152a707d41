"""Hostile input, property-based (hypothesis): the manifest readers (JSONL, Parquet) and the audio
readers, fed random, malformed, oddly encoded, huge, mistyped and duplicated data, either return a
well-formed result or raise the repo's one-line InputError naming the file (and line/row, field) —
never another exception, never a traceback."""

from __future__ import annotations

import io
import json
import math
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from musicml.audio import audio_duration, audio_info, load_audio
from musicml.errors import InputError
from musicml.manifest import (
    COLUMNS,
    events_frame,
    read_events,
    read_jsonl,
    read_manifest_folder,
    sort_events,
    write_events,
)

# Small budgets: the whole file runs in well under 30 s on a busy 2-core machine.
# Derandomized and without an example database, so CI is reproducible and writes nothing into the repo.
FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FIELDS = ("event_id",) + tuple(c for c in COLUMNS if c != "event_id")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("hostile")


def fresh(scratch: Path, suffix: str) -> Path:
    return scratch / f"{uuid.uuid4().hex}{suffix}"


def valid_row(i: int = 0) -> dict:
    return {"source": "user", "session_id": f"s{i % 3}", "kit": "k", "audio_path": "a.wav", "onset_s": 0.5 + i,
            "label": "kick", "techniques": ["ghost"], "velocity": 100, "openness": None}


def check_frame(df: pd.DataFrame) -> None:
    """What a reader returns is a well-formed manifest: it writes to Parquet and reads back the same."""
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert df["onset_s"].map(math.isfinite).all() and (df["onset_s"] >= 0).all()


def assert_clean_error(exc: InputError, path: Path) -> None:
    text = str(exc)
    assert text.startswith(str(path)) and "\n" not in text and len(text) < 600, text


def read_or_error(reader, path: Path):
    try:
        return reader(path)
    except InputError as exc:
        assert_clean_error(exc, path)
        return exc


# --- JSONL ------------------------------------------------------------------------------------

json_scalars = (st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
                | st.integers().map(lambda n: n * 10**400)  # far past a float
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
                | st.sampled_from(["\ud800", "kick\udfff", "", "   ", "\x00", "ü", "👍"]))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)


@FAST
@given(data=st.binary(max_size=400))
def test_random_bytes_as_jsonl(scratch, data):
    path = fresh(scratch, ".jsonl")
    path.write_bytes(data)
    result = read_or_error(read_jsonl, path)
    if not isinstance(result, InputError):
        check_frame(result)


@FAST
@given(rows=st.lists(st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), json_values, max_size=12),
                     max_size=4))
def test_random_objects_as_jsonl(scratch, rows):
    path = fresh(scratch, ".jsonl")
    # json.dumps writes NaN/Infinity and \\ud800 escapes as some tools do; the reader must cope.
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = read_or_error(read_jsonl, path)
    if not isinstance(result, InputError):
        check_frame(result)
        write_events(result, fresh(scratch, ".parquet"))  # what was accepted can be stored


@FAST
@given(n=st.integers(1, 5), bad_line=st.data(), field=st.sampled_from(["source", "session_id", "kit", "audio_path",
                                                                       "label", "onset_s", "velocity", "openness",
                                                                       "techniques", "event_id"]),
       value=json_values)
def test_one_bad_value_is_reported_at_its_line_and_field(scratch, n, bad_line, field, value):
    rows = [valid_row(i) for i in range(n)]
    line = bad_line.draw(st.integers(0, n - 1))
    rows[line][field] = value
    path = fresh(scratch, ".jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = read_or_error(read_jsonl, path)
    if isinstance(result, InputError):
        assert result.line == line + 1 and result.field == field, str(result)
    else:  # the value was acceptable for that field (null for an optional one, a list of strings, ...)
        check_frame(result)
        assert len(result) == n


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "latin-1", "cp1252"])
def test_other_encodings_are_a_clear_error(tmp_path, encoding):
    row = {**valid_row(), "kit": "Kölner Kit"}
    path = tmp_path / "m.jsonl"
    path.write_bytes((json.dumps(row, ensure_ascii=False) + "\n").encode(encoding))
    with pytest.raises(InputError, match=r"m.jsonl:1: not UTF-8 text"):
        read_jsonl(path)


def test_utf8_bom_and_crlf_are_accepted(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(json.dumps(valid_row(i)).encode() for i in range(2)) + b"\r\n")
    assert len(read_jsonl(path)) == 2


@pytest.mark.parametrize("text,expected", [
    ('{"onset_s": ' + "9" * 5000 + "}", "not valid JSON"),  # past Python's int-string limit
    ("[" * 100_000 + "]" * 100_000, "not valid JSON"),  # nesting past the recursion limit
    (json.dumps({**valid_row(), "onset_s": 10**400}), "field 'onset_s': expected a finite number"),
    (json.dumps({**valid_row(), "label": "\ud800"}), "field 'label': not valid Unicode"),
    (json.dumps({**valid_row(), "techniques": ["ok", "\udfff"]}), "field 'techniques': not valid Unicode"),
    (json.dumps({**valid_row(), "onset_s": "x" * 10_000}), r"\(10002 characters\)"),  # a huge bad value is cut
])
def test_pathological_lines(tmp_path, text, expected):
    path = tmp_path / "m.jsonl"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=expected) as info:
        read_jsonl(path)
    assert info.value.line == 1
    assert_clean_error(info.value, path)


def test_duplicate_explicit_event_ids_name_both_lines(tmp_path):
    rows = [{**valid_row(0), "event_id": "a"}, {**valid_row(1), "event_id": "b"}, {**valid_row(2), "event_id": "a"}]
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    expected = r"m.jsonl:3: field 'event_id': duplicate event_id 'a' \(first at .*m.jsonl:1\)"
    with pytest.raises(InputError, match=expected):
        read_jsonl(path)
    # Hits at the same onset without explicit ids share a derived id on purpose (merge keeps one).
    path.write_text("".join(json.dumps(valid_row(0)) + "\n" for _ in range(2)))
    assert read_jsonl(path)["event_id"].nunique() == 1


def test_duplicate_ids_across_files_of_a_manifest_folder(tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros(22050, dtype=np.float32), 22050)
    (tmp_path / "one.jsonl").write_text(json.dumps({**valid_row(), "onset_s": 0.1, "event_id": "x"}) + "\n")
    (tmp_path / "two.jsonl").write_text(json.dumps({**valid_row(), "onset_s": 0.2, "event_id": "x"}) + "\n")
    with pytest.raises(InputError, match=r"two.jsonl:1: field 'event_id': duplicate event_id 'x' \(first at .*one"):
        read_manifest_folder(tmp_path)


# --- Parquet ----------------------------------------------------------------------------------


def good_frame(n: int = 4) -> pd.DataFrame:
    return events_frame([valid_row(i) for i in range(n)])


@FAST
@given(data=st.binary(max_size=300))
def test_random_bytes_as_parquet(scratch, data):
    path = fresh(scratch, ".parquet")
    path.write_bytes(data)
    assert isinstance(read_or_error(read_events, path), InputError)


@FAST
@given(cut=st.integers(0, 10_000))
def test_truncated_parquet(scratch, cut):
    buf = io.BytesIO()
    good_frame().to_parquet(buf, index=False)
    whole = buf.getvalue()
    assume(cut < len(whole))
    path = fresh(scratch, ".parquet")
    path.write_bytes(whole[:cut])
    assert isinstance(read_or_error(read_events, path), InputError)


column_values = st.sampled_from([
    pa.array([1, 2, 3, 4]), pa.array([1.5, None, -1.0, 2.0]), pa.array([True, False, True, False]),
    pa.array(["a", "b", None, "d"]), pa.array(["", " ", "x", "y"]), pa.array([[1], [2], None, []]),
    pa.array([["a"], None, [], ["b", "c"]]), pa.array([None, None, None, None], type=pa.null()),
    pa.array([b"\xff", b"a", b"b", b"c"]), pa.array([float("nan"), float("inf"), 0.0, 1e308]),
    pa.array([10**18, -(10**18), 0, 127]), pa.array(["x", "x", "y", "y"]),
    pa.array([{"a": 1}, {"a": 2}, None, {"a": 3}]), pa.array([0.1, 0.2, 0.3, 0.4]),
    pa.array([128, 1, 2, 3], type=pa.int64()), pa.array([1.0, 2.5, 3.0, 4.0]),
])


@FAST
@given(replaced=st.dictionaries(st.sampled_from(COLUMNS), column_values, min_size=1, max_size=4),
       dropped=st.sets(st.sampled_from(COLUMNS), max_size=1))
def test_parquet_with_mistyped_columns(scratch, replaced, dropped):
    table = pa.Table.from_pandas(good_frame(), preserve_index=False)
    for name, values in replaced.items():
        table = table.set_column(table.schema.get_field_index(name), name, values)
    for name in dropped:
        table = table.drop_columns([name])
    path = fresh(scratch, ".parquet")
    pq.write_table(table, path)
    result = read_or_error(read_events, path)
    if isinstance(result, InputError):
        assert result.field is not None
    else:
        check_frame(result)
        assert result["event_id"].is_unique
        for name in ("techniques", "extra_labels"):
            assert all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in result[name])
        write_events(result, fresh(scratch, ".parquet"))


def test_parquet_round_trip_is_untouched(tmp_path):
    df = good_frame()
    write_events(df, tmp_path / "m.parquet")
    back = read_events(tmp_path / "m.parquet")
    pd.testing.assert_frame_equal(back, sort_events(df), check_dtype=False)


@pytest.mark.parametrize("column,value,expected", [
    ("onset_s", -1.0, "expected a finite number >= 0"),
    ("velocity", 300, "expected an integer 1-127 or null"),
    ("label", None, "expected a non-empty string"),
    ("event_id", "dup", "duplicate event_id 'dup' \\(first at row 1\\)"),
])
def test_parquet_bad_row_is_named(tmp_path, column, value, expected):
    df = good_frame()
    if column == "event_id":
        df[column] = df[column].astype(object)
        df.loc[[0, 2], column] = value
    else:
        df[column] = df[column].astype(object)
        df.loc[2, column] = value
    df.to_parquet(tmp_path / "m.parquet", index=False)
    with pytest.raises(InputError, match=expected) as info:
        read_events(tmp_path / "m.parquet")
    assert info.value.line == 3 and info.value.field == column


# --- audio ------------------------------------------------------------------------------------


def wav_bytes(fmt: str = "WAV", subtype: str = "PCM_16", frames: int = 2205, channels: int = 1) -> bytes:
    buf = io.BytesIO()
    audio = np.sin(np.linspace(0, 200, frames * channels)).reshape(frames, channels).astype(np.float32) * 0.5
    sf.write(buf, audio, 22050, format=fmt, subtype=subtype)
    return buf.getvalue()


def check_audio(path: Path) -> None:
    for reader in (lambda p: load_audio(p, sr=22050), audio_duration, audio_info):
        try:
            result = reader(path)
        except InputError as exc:
            assert_clean_error(exc, path)
            continue
        if isinstance(result, np.ndarray):
            assert result.dtype == np.float32 and result.ndim == 1 and len(result) > 0
            assert np.all(np.isfinite(result))
        elif isinstance(result, float):
            assert result > 0


@FAST
@given(kind=st.sampled_from([("WAV", "PCM_16"), ("WAV", "FLOAT"), ("FLAC", "PCM_16"), ("OGG", "VORBIS")]),
       cut=st.integers(0, 5000))
def test_truncated_audio(scratch, kind, cut):
    path = fresh(scratch, "." + kind[0].lower())
    path.write_bytes(wav_bytes(*kind)[:cut])
    check_audio(path)


@FAST
@given(data=st.data())
def test_corrupted_wav_header(scratch, data):
    raw = bytearray(wav_bytes(frames=200))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, 43))] = data.draw(st.integers(0, 255))
    path = fresh(scratch, ".wav")
    path.write_bytes(bytes(raw))
    check_audio(path)


@FAST
@given(data=st.binary(max_size=200), suffix=st.sampled_from([".wav", ".flac", ".mp3", ".ogg", ""]))
def test_random_bytes_as_audio(scratch, data, suffix):
    path = fresh(scratch, suffix)
    path.write_bytes(data)
    check_audio(path)


@pytest.mark.parametrize("content", [b"", b'{"not": "audio"}\n', b"RIFF"])
def test_empty_and_wrong_format_audio(tmp_path, content):
    path = tmp_path / "x.wav"
    path.write_bytes(content)
    for reader in (lambda p: load_audio(p, sr=22050), audio_duration):
        with pytest.raises(InputError, match="x.wav"):
            reader(path)


def test_audio_with_nan_samples_and_a_folder(tmp_path):
    sf.write(tmp_path / "nan.wav", np.array([0.1, np.nan, 0.2], dtype=np.float32), 22050, subtype="FLOAT")
    with pytest.raises(InputError, match="NaN"):
        load_audio(tmp_path / "nan.wav", sr=22050)
    (tmp_path / "dir.wav").mkdir()
    for reader in (lambda p: load_audio(p, sr=22050), audio_duration):
        with pytest.raises(InputError, match="dir.wav"):
            reader(tmp_path / "dir.wav")
