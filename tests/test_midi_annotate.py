"""Labels: measured, from the source, manual (which wins); the manual-labels file and the prompt."""

from __future__ import annotations

import json

import pytest

from midi_helpers import C_MAJOR_CADENCE, chord_midi, midi_params
from musicml.errors import InputError
from musicml.midi.analysis import midi_bytes
from musicml.midi.annotate import annotate_sample, append_manual_label, prompt_labels, read_manual_labels
from musicml.midi.settings import load_settings

CATEGORIES = load_settings(midi_params()).label_values


def test_auto_labels_fill_gaps_source_labels_win_then_manual_labels_win():
    data = midi_bytes(chord_midi(C_MAJOR_CADENCE))
    auto = annotate_sample("emotion", data=data, path="x.mid", source_labels={}, manual=None, swing_tolerance=0.02)
    a = auto["annotations"]
    assert (a["key"], a["mode"], a["tempo_bpm"], a["chord_progression"]) == ("C", "major", 120.0, ["C", "F", "G", "C"])
    assert a["emotion"] is None and a["is_verified"] is False and "key" in auto["auto_fields"]

    src = annotate_sample("emotion", data=data, path="x.mid", source_labels={"emotion": "happy", "key": "A",
                          "mode": "minor"}, manual=None, swing_tolerance=0.02)
    assert src["annotations"]["key"] == "A" and src["annotations"]["emotion"] == "happy"
    assert src["measured"]["checks"] == {"key": False, "mode": False}
    assert src["annotations"]["quality_score"] == 0.0

    man = annotate_sample("emotion", data=data, path="x.mid", source_labels={"emotion": "happy"},
                          manual={"emotion": "calm", "valence": 0.6, "is_verified": True}, swing_tolerance=0.02)
    assert man["annotations"]["emotion"] == "calm" and man["annotations"]["valence"] == 0.6
    assert man["annotations"]["is_verified"] is True


def test_manual_labels_file_round_trip_and_errors(tmp_path):
    path = tmp_path / "labels.jsonl"
    assert read_manual_labels(path, categories=CATEGORIES) == {}
    append_manual_label(path, {"dataset": "emotion", "sample_id": "abc", "emotion": "sad", "is_verified": True})
    append_manual_label(path, {"dataset": "emotion", "sample_id": "abc", "valence": 0.1})
    assert read_manual_labels(path, categories=CATEGORIES) == {
        ("emotion", "abc"): {"emotion": "sad", "is_verified": True, "valence": 0.1}}
    for line, match in [('{"dataset": "emotion", "sample_id": "a", "valence": 1.5}', "field 'valence'"),
                        ('{"dataset": "emotion", "sample_id": "a", "arousal": -1}', "field 'arousal'"),
                        ('{"dataset": "emotion", "sample_id": "a", "key": "H"}', "unknown key name"),
                        ('{"dataset": "emotion", "sample_id": "a", "emotion": "bored"}', "unknown emotion"),
                        ('{"dataset": "lyrics", "sample_id": "a"}', "unknown dataset"),
                        ('{"dataset": "emotion", "sample_id": "a", "mood": "x"}', "field 'mood'"),
                        ('{"dataset": "emotion", "sample_id": "a", "tempo_bpm": 0}', "tempo_bpm"),
                        ('{"dataset": "emotion"', "not valid JSON")]:
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"dataset": "emotion", "sample_id": "ok", "emotion": "sad"}\n' + line + "\n")
        with pytest.raises(InputError, match=match) as info:
            read_manual_labels(bad, categories=CATEGORIES)
        assert "bad.jsonl:2" in str(info.value)


def _samples():
    return [{"sample_id": f"s{i}", "file_path": f"f{i}.mid", "source": "synth" if i < 3 else "real",
             "annotations": {"emotion": None, "is_verified": i == 1}, "measured": {"key": "C", "mode": "major"}}
            for i in range(5)]


def test_prompt_asks_unverified_imported_first_and_records(tmp_path):
    path = tmp_path / "labels.jsonl"
    answers = iter(["joyful", "happy 0.9 0.7", "", "sad", "q"])
    said = []
    n = prompt_labels(_samples(), dataset="emotion", category="emotion", allowed=CATEGORIES["emotion"]["emotion"],
                      manual={}, labels_file=path, limit=10, ask=lambda _: next(answers), say=said.append)
    assert n == 2
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    # s3 and s4 are imported (asked first); s1 is verified already, never asked.
    assert rows == [{"dataset": "emotion", "sample_id": "s3", "emotion": "happy", "valence": 0.9, "arousal": 0.7,
                     "is_verified": True},
                    {"dataset": "emotion", "sample_id": "s0", "emotion": "sad", "is_verified": True}]
    assert any("unknown emotion 'joyful'" in line for line in said)
    # Already-verified manual labels are not asked again; end of input stops cleanly.
    manual = read_manual_labels(path, categories=CATEGORIES)
    n = prompt_labels(_samples(), dataset="emotion", category="emotion", allowed=CATEGORIES["emotion"]["emotion"],
                      manual=manual, labels_file=path, limit=10, ask=lambda _: None, say=said.append)
    assert n == 0 and not any("s3" in line for line in said[-1:])
