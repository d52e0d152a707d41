"""Importing real MIDI: folder labels, de-duplication, bad files skipped with reasons, params edit."""

from __future__ import annotations

import json
import shutil

import pretty_midi
import pytest
import yaml

from midi_helpers import C_MAJOR_CADENCE, ROOT, chord_midi, midi_params, write_midi
from musicml.errors import ConfigError, InputError
from musicml.midi.importer import add_midi_source, check_folder_labels, scan_sources
from musicml.midi.settings import load_settings

A_MINOR = [[45, 60, 64, 69], [50, 62, 65, 69], [52, 59, 64, 68], [45, 60, 64, 69]]


def make_collection(root):
    """happy/ and sad/ files, a duplicate, a corrupt and a truncated file, an empty one, a drum-only one."""
    write_midi(chord_midi(C_MAJOR_CADENCE), root / "happy" / "one.mid")
    write_midi(chord_midi(C_MAJOR_CADENCE, tempo=132), root / "happy" / "two.mid")
    write_midi(chord_midi(A_MINOR, tempo=70), root / "sad" / "three.mid")
    shutil.copy(root / "happy" / "one.mid", root / "sad" / "copy_of_one.mid")
    write_midi(chord_midi(A_MINOR, tempo=90), root / "unsorted" / "four.MID")
    (root / "happy" / "corrupt.mid").write_bytes(b"MThd this is not midi")
    good = (root / "happy" / "two.mid").read_bytes()
    (root / "sad" / "truncated.mid").write_bytes(good[: len(good) // 2])
    empty = pretty_midi.PrettyMIDI()
    empty.instruments.append(pretty_midi.Instrument(program=0))
    write_midi(empty, root / "sad" / "empty.mid")
    write_midi(chord_midi([[36, 38, 42]], drum=True), root / "happy" / "drums.mid")
    (root / "notes.txt").write_text("not a midi file, ignored by suffix")
    return root


def test_scan_labels_dedups_and_lists_skips(tmp_path):
    folder = make_collection(tmp_path / "collection")
    rows, report = scan_sources({"mine": {"enabled": True, "dataset": "emotion", "path": str(folder)}},
                                folder_labels=midi_params()["import"]["folder_labels"])
    by_name = {r["file_path"].split("/")[-1]: r for r in rows}
    assert set(by_name) == {"one.mid", "two.mid", "three.mid", "four.MID"}
    assert by_name["one.mid"]["labels"] == {"emotion": "happy"}
    assert by_name["three.mid"]["labels"] == {"emotion": "sad"}
    assert by_name["four.MID"]["labels"] == {}  # unmapped folder: labelled automatically later
    assert report["duplicates"] == 1 and report["files"] == 9
    reasons = {s["file"].split("/")[-1]: s["reason"] for s in report["skipped_files"]}
    assert set(reasons) == {"corrupt.mid", "truncated.mid", "empty.mid", "drums.mid"}
    assert "not a readable MIDI" in reasons["corrupt.mid"]
    assert "no notes" in reasons["empty.mid"]
    assert "drum-only" in reasons["drums.mid"]
    assert report["skipped_share"] == pytest.approx(4 / 9, abs=1e-4)
    # A drum-only file is fine for the groove dataset.
    rows, report = scan_sources({"g": {"enabled": True, "dataset": "groove", "path": str(folder / "happy")}},
                                folder_labels={})
    assert "drums.mid" in {r["file_path"].split("/")[-1] for r in rows}


def test_tempo_out_of_range_is_skipped(tmp_path):
    pm = chord_midi(C_MAJOR_CADENCE, tempo=500)
    write_midi(pm, tmp_path / "src" / "fast.mid")
    _, report = scan_sources({"x": {"enabled": True, "dataset": "emotion", "path": str(tmp_path / "src")}},
                             folder_labels={})
    assert "tempo" in report["skipped_files"][0]["reason"] and "400" in report["skipped_files"][0]["reason"]


def test_zero_tempo_is_skipped_naming_the_tempo(tmp_path):
    import mido

    midi = mido.MidiFile()
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=0), mido.Message("note_on", note=60, velocity=80),
                            mido.Message("note_off", note=60, time=480)])
    midi.tracks.append(track)
    (tmp_path / "src").mkdir()
    midi.save(str(tmp_path / "src" / "zero.mid"))
    rows, report = scan_sources({"x": {"enabled": True, "dataset": "emotion", "path": str(tmp_path / "src")}},
                                folder_labels={})
    assert rows == [] and report["skipped"] == 1
    reason = report["skipped_files"][0]["reason"]
    assert "tempo_bpm" in reason and "infinite BPM" in reason


def test_missing_or_empty_import_folder(tmp_path):
    with pytest.raises(InputError, match="missing"):
        scan_sources({"x": {"enabled": True, "dataset": "emotion", "path": str(tmp_path / "nope")}}, folder_labels={})
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no MIDI file"):
        scan_sources({"x": {"enabled": True, "dataset": "emotion", "path": str(tmp_path / "empty")}}, folder_labels={})
    with pytest.raises(ConfigError, match="unknown dataset"):
        scan_sources({"x": {"enabled": True, "dataset": "lyrics", "path": str(tmp_path)}}, folder_labels={})
    # Disabled sources are not read at all.
    assert scan_sources({"x": {"enabled": False, "dataset": "emotion", "path": "nope"}}, folder_labels={})[0] == []


def test_folder_label_values_are_checked():
    settings = load_settings(midi_params())
    check_folder_labels(midi_params()["import"]["folder_labels"], settings.label_values)
    with pytest.raises(ConfigError, match="folder_labels.joyful.emotion"):
        check_folder_labels({"joyful": {"emotion": "joyful"}}, settings.label_values)
    with pytest.raises(ConfigError, match="valence"):
        check_folder_labels({"happy": {"emotion": "happy", "valence": 2}}, settings.label_values)


def test_add_source_copies_enables_with_comments_and_is_idempotent(tmp_path):
    params = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", params)
    folder = make_collection(tmp_path / "collection")
    changes = add_midi_source(folder, name="lakh_subset", dataset="emotion", root=tmp_path / "raw", params_path=params,
                              test=True, track=False)
    assert changes[0].startswith("copied")
    assert "midi.import.sources.lakh_subset.enabled: (unset) -> true" in changes
    assert (tmp_path / "raw" / "lakh_subset" / "happy" / "one.mid").exists()
    text = params.read_text()
    assert "# Sub-folder name -> labels of the files inside" in text  # comments survive
    source = yaml.safe_load(text)["midi"]["import"]["sources"]["lakh_subset"]
    assert source == {"enabled": True, "dataset": "emotion", "path": f"{tmp_path}/raw/lakh_subset", "test": True}
    assert add_midi_source(folder, name="lakh_subset", dataset="emotion", root=tmp_path / "raw", params_path=params,
                           test=True, track=False) == []
    with pytest.raises(InputError, match="missing"):
        add_midi_source(tmp_path / "nope", name="x", dataset="emotion", params_path=params, track=False)
    with pytest.raises(ConfigError, match="source name"):
        add_midi_source(folder, name="../evil", dataset="emotion", params_path=params, track=False)
    with pytest.raises(ConfigError, match="unknown dataset"):
        add_midi_source(folder, name="x", dataset="lyrics", params_path=params, track=False)
