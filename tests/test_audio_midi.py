"""Audio + MIDI pairs: the labelling rules, the importer (tested on grooves output), bad input, the command."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from typer.testing import CliRunner

from conftest import ROOT
from drum_midi_helpers import CURVE, RULES, SR, groove_config
from musicml.cli import app
from musicml.drums import grooves as g
from musicml.drums.audio_midi import (AudioMidiWarning, DrumMidi, MidiRules, Note, find_pairs, ingest_audio_midi,
                                      midi_events, modulation_times)
from musicml.drums.synth import synthesize
from musicml.errors import ConfigError, InputError
from musicml.manifest import read_events



def _events(notes, *, cc4=(), tempos=((0.0, 120.0),), meters=((0.0, 4, 4),), rules=RULES):
    midi = DrumMidi(notes=[Note(*n) for n in notes], cc4=list(cc4), tempos=list(tempos), meters=list(meters))
    return midi_events(midi, rules)


def test_simultaneous_notes_are_one_event_labelled_by_priority():
    (event,) = _events([(1.0, 42, 80), (1.004, 36, 100)])
    assert event["onset_s"] == 1.0 and event["label"] == "kick" and event["extra_labels"] == ["hihat_closed"]
    assert event["openness"] is None and event["velocity"] == 100
    assert len(_events([(1.0, 42, 80), (1.02, 36, 100)])) == 2  # 20 ms apart: two onsets


def test_flam_ghost_layered_cymbals_and_bark():
    flam, ghost = _events([(1.0, 38, 40), (1.03, 38, 100), (2.0, 38, 30)])
    assert flam["techniques"] == ["flam"] and flam["onset_s"] == 1.0 and flam["extra_labels"] == []
    assert ghost["techniques"] == ["ghost"]
    (crash,) = _events([(1.0, 49, 110), (1.003, 57, 100)])
    assert crash["techniques"] == ["multi_cymbal_same_class"] and crash["extra_labels"] == ["crash"]
    # The second crash lands after a hi-hat opened a new onset: still the same layered cymbal.
    events = _events([(1.0, 36, 110), (1.006, 49, 100), (1.012, 42, 90), (1.014, 57, 100)])
    assert [e["label"] for e in events] == ["kick", "hihat_closed"]
    assert "multi_cymbal_same_class" in events[0]["techniques"] and events[0]["extra_labels"] == ["crash", "crash"]
    opened, _ = _events([(1.0, 46, 90), (1.2, 44, 70)], cc4=[(1.0, 0), (1.2, 127)])
    assert opened["techniques"] == ["hihat_bark"] and opened["openness"] == 1.0
    late, _ = _events([(1.0, 46, 90), (1.5, 44, 70)], cc4=[(1.0, 64)])
    assert late["techniques"] == [] and late["openness"] == pytest.approx(CURVE(64), abs=1e-4)


def test_meter_and_tempo_maps_tag_groove_level_techniques():
    notes = [(0.5, 36, 100), (3.0, 36, 100), (5.0, 36, 100)]
    assert all(e["techniques"] == [] for e in _events(notes))
    assert all(e["techniques"] == ["variable_meter"] for e in _events(notes, meters=[(0.0, 7, 8)]))
    assert all("variable_meter" in e["techniques"] for e in _events(notes, meters=[(0.0, 4, 4), (2.0, 3, 4)]))
    modulated = _events(notes, tempos=[(0.0, 100.0), (2.0, 150.0), (4.0, 150.0 * 1.02)])
    assert [e["techniques"] for e in modulated] == [[], ["metric_modulation"], []]
    assert modulation_times([(0.0, 120.0), (1.0, 121.0)]) == []  # a drift is not a modulation


def test_unknown_note_skips_with_a_warning_or_fails():
    with pytest.warns(AudioMidiWarning, match="GM note 81"):
        events = _events([(1.0, 81, 90), (1.5, 36, 90)])
    assert [e["label"] for e in events] == ["kick"]
    strict = MidiRules(gm_map=RULES.gm_map, curve=CURVE, on_unknown_note="error")
    with pytest.raises(InputError, match="GM note 81.*not in the drum map"):
        _events([(1.0, 81, 90)], rules=strict)
    with pytest.raises(ConfigError):
        MidiRules(gm_map=RULES.gm_map, curve=CURVE, on_unknown_note="maybe")


@pytest.fixture(scope="module")
def groove_folder(tmp_path_factory):
    """Grooves of two synthetic kits: the importer's test data (the same format)."""
    root = tmp_path_factory.mktemp("am")
    kits = synthesize(root / "kits", n_kits=2, hits_per_class=3, unknown_hits=0, sr=SR, seed=2, technique_prob=0.2)
    events = g.render_grooves(kits, root / "grooves", cfg=groove_config(take_s=6.0), rules=RULES, takes_per_kit=1, sr=SR, seed=4)
    return root / "grooves", events


def test_importer_reads_grooves_output_exactly(groove_folder):
    folder, grooves = groove_folder
    imported = ingest_audio_midi(folder, RULES)
    assert set(imported["session_id"]) == {f"audio_midi:{p.name}" for p in find_pairs(folder)}
    columns = ["onset_s", "label", "extra_labels", "techniques", "velocity", "openness"]
    a = imported.assign(take=imported["audio_path"].str.rsplit("/", n=1).str[-1])
    b = grooves.assign(take=grooves["audio_path"].str.rsplit("/", n=1).str[-1])
    key = ["take", "onset_s"]
    a, b = a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a[["take"] + columns], b[["take"] + columns])


def _copy(folder, tmp_path):
    dest = tmp_path / "pairs"
    shutil.copytree(folder, dest)
    return dest


def test_bad_pairs_fail_with_one_line_naming_the_file(groove_folder, tmp_path):
    folder, _ = groove_folder
    bad = _copy(folder, tmp_path)
    wav = sorted(bad.glob("*.wav"))[0]
    wav.unlink()
    with pytest.raises(InputError, match=rf"{wav.stem}\.mid.*no audio"):
        ingest_audio_midi(bad, RULES)
    shutil.copy(folder / wav.name, wav)
    mid = sorted(bad.glob("*.mid"))[0]
    mid.write_bytes(b"not midi at all")
    with pytest.raises(InputError, match=rf"{mid.name}: not a readable MIDI file"):
        ingest_audio_midi(bad, RULES)
    shutil.copy(folder / mid.name, mid)
    audio, sr = sf.read(wav, dtype="float32")
    sf.write(wav, audio[: sr * 2], sr)  # the MIDI now runs past the audio
    with pytest.raises(InputError, match=r"past the end of .*not aligned"):
        ingest_audio_midi(bad, RULES)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="empty source"):
        ingest_audio_midi(tmp_path / "empty", RULES)


def _params_in(tmp_path):
    """params.yaml in ``tmp_path`` (comments kept), its calibration path pointing into the repo."""
    text = (ROOT / "params.yaml").read_text().replace(
        "calibration: configs/openness_calibration.json", f"calibration: {ROOT / 'configs/openness_calibration.json'}")
    (tmp_path / "params.yaml").write_text(text)


def test_stage_and_add_command(groove_folder, tmp_path, monkeypatch, run_stage):
    folder, grooves = groove_folder
    _params_in(tmp_path)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    taxonomy = ["--taxonomy", str(ROOT / "configs/taxonomy.yaml")]
    result = runner.invoke(app, ["audio-midi", "add", str(folder), "--name", "takes", "--no-track", *taxonomy])
    assert result.exit_code == 0, result.output
    assert "sources.audio_midi.enabled: false -> true" in result.output
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["sources"]["audio_midi"]["enabled"] is True
    again = runner.invoke(app, ["audio-midi", "add", str(folder), "--name", "takes", "--no-track", *taxonomy])
    assert again.exit_code == 0 and "already up to date" in again.output
    run_stage("ingest_audio_midi", *taxonomy, cwd=tmp_path)
    events = read_events(tmp_path / "data/interim/sources/audio_midi.parquet")
    assert len(events) == len(grooves) and events["audio_path"].str.startswith("data/raw/audio_midi/takes/").all()
    # Bad input: one line on stderr, exit 1, the previous output kept.
    next((tmp_path / "data/raw/audio_midi/takes").glob("*.wav")).unlink()
    proc = run_stage("ingest_audio_midi", *taxonomy, cwd=tmp_path, check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "no audio" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert len(read_events(tmp_path / "data/interim/sources/audio_midi.parquet")) == len(grooves)


def test_bad_source_is_not_added(tmp_path, monkeypatch):
    _params_in(tmp_path)
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "incoming"
    src.mkdir()
    sf.write(src / "a.wav", np.zeros(SR, np.float32), SR)
    result = CliRunner().invoke(app, ["audio-midi", "add", str(src), "--no-track", "--taxonomy",
                                      str(ROOT / "configs/taxonomy.yaml")])
    assert result.exit_code == 1 and "no MIDI (.mid) partner" in str(result.exception or result.output)
    assert not (tmp_path / "data/raw/audio_midi/incoming").exists()
    assert yaml.safe_load((tmp_path / "params.yaml").read_text())["sources"]["audio_midi"]["enabled"] is False
