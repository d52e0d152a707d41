"""The record contract: one-line errors naming file, line and field."""

from __future__ import annotations

import json

import pytest

from gen_helpers import record
from musicml.errors import InputError
from musicml.genmeta.records import read_feedback_log, read_records


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("bad, field", [
    ({"audioUrl": None}, "audioUrl"),
    ({"provider": ""}, "provider"),
    ({"duration": 0}, "duration"),
    ({"duration": "30"}, "duration"),
    ({"userFeedback": {"rating": 6}}, "userFeedback.rating"),
    ({"generationParams": {"bpm": "fast"}}, "generationParams.bpm"),
    ({"colour": "red"}, "colour"),
])
def test_bad_fields_are_named(tmp_path, bad, field):
    path = write(tmp_path / "records.jsonl", [record("a"), {**record("b"), **bad}])
    with pytest.raises(InputError) as info:
        read_records(path)
    assert str(info.value).startswith(f"{path}:2: field '{field}':")


def test_missing_field_duplicate_and_bad_json(tmp_path):
    rec = record("a")
    del rec["provider"]
    with pytest.raises(InputError, match="field 'provider': required field missing"):
        read_records(write(tmp_path / "r1.jsonl", [rec]))
    with pytest.raises(InputError, match=r":2: field 'generationId': duplicate"):
        read_records(write(tmp_path / "r2.jsonl", [record("a"), record("a")]))
    with pytest.raises(InputError, match=r"r3.jsonl:2: not valid JSON"):
        read_records(write(tmp_path / "r3.jsonl", [record("a"), "{oops"]))


def test_feedback_log_validation(tmp_path):
    ok = write(tmp_path / "f.jsonl", [{"generationId": "a", "rating": 4, "at": "2026-01-01T00:00:00Z"}])
    assert list(read_feedback_log(ok)) == [{"generationId": "a", "rating": 4, "at": "2026-01-01T00:00:00Z"}]
    bad = write(tmp_path / "g.jsonl", [{"generationId": "a", "rating": 0}])
    with pytest.raises(InputError, match=r"g.jsonl:1: field 'rating'"):
        list(read_feedback_log(bad))
