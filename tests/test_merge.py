"""Unit tests of musicml.drums.merge: concatenation, de-duplication, stable ids and the summary."""

from __future__ import annotations

import pytest

from musicml.drums.merge import merge_manifests
from musicml.errors import InputError
from musicml.manifest import COLUMNS, empty_events, events_frame, make_event_id


def ev(onset, *, audio="a.wav", source="synth", session="s1", label="kick", **extra):
    return {"source": source, "session_id": session, "kit": "k", "audio_path": audio, "onset_s": onset,
            "label": label, **extra}


def test_concatenates_sources_in_canonical_order():
    synth = events_frame([ev(0.5), ev(0.1, session="s2", audio="b.wav")])
    hydrogen = events_frame([ev(0.0, source="hydrogen", audio="h.wav", label="snare")])
    merged, summary = merge_manifests({"synth": synth, "hydrogen": hydrogen})
    assert list(merged.columns) == list(COLUMNS)
    assert list(zip(merged["source"], merged["session_id"], merged["onset_s"])) == [
        ("hydrogen", "s1", 0.0), ("synth", "s1", 0.5), ("synth", "s2", 0.1)]
    assert merged.index.tolist() == [0, 1, 2]
    assert summary["events"] == 3 and summary["duplicates_dropped"] == 0
    assert summary["events_per_source"] == {"hydrogen": 1, "synth": 2}
    assert summary["sessions_per_source"] == {"hydrogen": 1, "synth": 2}


def test_extra_columns_are_dropped():
    df = events_frame([ev(0.5)])
    df["split"] = "train"
    merged, _ = merge_manifests({"synth": df})
    assert "split" not in merged.columns


def test_near_duplicates_on_same_audio_are_dropped():
    df = events_frame([ev(1.0005, velocity=50), ev(1.0, velocity=100), ev(1.002), ev(3.0)])
    merged, summary = merge_manifests({"synth": df})
    assert merged["onset_s"].tolist() == [1.0, 1.002, 3.0]  # 0.5 ms apart: one hit; 2 ms apart: two hits
    assert merged.loc[0, "velocity"] == 100  # the earlier hit is kept, whatever the input order
    assert summary["duplicates_dropped"] == 1 and summary["events"] == 3


def test_same_onset_on_different_files_is_not_a_duplicate():
    df = events_frame([ev(1.0, audio="a.wav"), ev(1.0, audio="b.wav")])
    merged, summary = merge_manifests({"synth": df})
    assert len(merged) == 2 and summary["duplicates_dropped"] == 0


def test_duplicates_across_sources_on_same_audio():
    a = events_frame([ev(1.0, source="synth")])
    b = events_frame([ev(1.0003, source="hydrogen")])
    merged, summary = merge_manifests({"synth": a, "hydrogen": b})
    assert len(merged) == 1 and summary["duplicates_dropped"] == 1


def test_tolerance_is_a_parameter():
    df = events_frame([ev(1.0), ev(1.002)])
    assert len(merge_manifests({"s": df}, dedup_tolerance_s=0.005)[0]) == 1
    assert len(merge_manifests({"s": df}, dedup_tolerance_s=0.001)[0]) == 2


def test_event_ids_are_recomputed():
    df = events_frame([ev(0.25, event_id="whatever-a-source-wrote")])
    merged, _ = merge_manifests({"synth": df})
    assert merged["event_id"].tolist() == [make_event_id("synth", "a.wav", 0.25)]


def test_exact_repeats_collapse_to_one():
    df = events_frame([ev(0.25, event_id="x"), ev(0.25, event_id="y")])
    merged, summary = merge_manifests({"synth": df})
    assert len(merged) == 1 and summary["duplicates_dropped"] == 1


def test_list_columns_and_extra_label_count():
    df = events_frame([ev(0.1, techniques=["flam", "ghost", "flam"], extra_labels=["crash"]),
                       ev(0.5, techniques=["rimshot"])])
    merged, summary = merge_manifests({"synth": df})
    assert merged.loc[0, "techniques"] == ["flam", "ghost"]  # sorted, de-duplicated
    assert merged.loc[0, "extra_labels"] == ["crash"]
    assert summary["events_with_extra_labels"] == 1


def test_no_events_is_an_input_error():
    with pytest.raises(InputError, match="no events"):
        merge_manifests({"synth": empty_events(), "hydrogen": empty_events()})
    with pytest.raises(InputError, match="no events"):
        merge_manifests({})


def test_empty_source_beside_a_full_one_is_fine():
    merged, summary = merge_manifests({"synth": events_frame([ev(0.1)]), "manifest": empty_events()})
    assert len(merged) == 1 and summary["events_per_source"] == {"synth": 1}


def test_missing_column_names_the_source_and_column():
    df = events_frame([ev(0.1)]).drop(columns=["kit"])
    with pytest.raises(InputError) as info:
        merge_manifests({"hydrogen": df})
    assert info.value.path == "hydrogen" and info.value.field == "kit"
