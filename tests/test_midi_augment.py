"""Augmentation: labels follow the transforms; drums stay put; copies are reproducible."""

from __future__ import annotations

import pretty_midi
import pytest

from midi_helpers import C_MAJOR_CADENCE, chord_midi
from musicml.errors import ConfigError
from musicml.midi.analysis import analyse, file_tempo, midi_bytes
from musicml.midi.augment import MidiAugmentConfig, augment_sample, transform, transpose_labels


def test_transposing_c_major_by_3_gives_e_flat_major_with_shifted_chords():
    pm = chord_midi(C_MAJOR_CADENCE)
    before = analyse(pm)
    assert (before.key, before.mode, before.chords) == ("C", "major", ["C", "F", "G", "C"])
    labels = transpose_labels({"key": "C", "mode": "major", "chord_progression": before.chords, "tempo_bpm": 120},
                              3, 1.0)
    assert labels["key"] == "Eb" and labels["chord_progression"] == ["Eb", "Ab", "Bb", "Eb"]
    after = analyse(transform(pm, transpose=3))
    assert (after.key, after.mode, after.chords) == ("Eb", "major", ["Eb", "Ab", "Bb", "Eb"])


def test_time_stretch_scales_tempo_label_and_file_tempo():
    pm = chord_midi(C_MAJOR_CADENCE, tempo=120)
    out = transform(pm, stretch=1.1)
    assert file_tempo(out) == pytest.approx(120 / 1.1)
    assert out.get_end_time() == pytest.approx(pm.get_end_time() * 1.1, rel=1e-3)
    assert transpose_labels({"tempo_bpm": 120.0}, 0, 1.1)["tempo_bpm"] == pytest.approx(109.09, abs=0.01)
    # Beat positions are unchanged, so the groove measured on the stretched file stays the same.
    assert analyse(out).swing_ratio == analyse(pm).swing_ratio


def test_drums_are_not_transposed_and_velocity_scales_within_midi_range():
    pm = chord_midi([[36, 42]], drum=True, velocity=120)
    out = transform(pm, transpose=5, velocity=1.2)
    assert sorted(n.pitch for n in out.instruments[0].notes) == [36, 42]
    assert all(n.velocity == 127 for n in out.instruments[0].notes)


def test_dropout_and_jitter():
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(program=0)
    inst.notes = [pretty_midi.Note(velocity=80, pitch=60, start=i * 0.25, end=i * 0.25 + 0.2) for i in range(400)]
    pm.instruments.append(inst)
    import numpy as np

    out = transform(pm, dropout=0.02, jitter_ms=5.0, rng=np.random.default_rng(0))
    kept = len(out.instruments[0].notes)
    assert 370 <= kept < 400
    starts = sorted(n.start for n in out.instruments[0].notes)
    grid = np.array(starts) / 0.25
    assert np.max(np.abs(grid - np.round(grid))) * 0.25 <= 0.005 + 1e-9


def test_copies_are_reproducible_per_sample_and_index():
    pm = chord_midi(C_MAJOR_CADENCE)
    labels = {"key": "C", "mode": "major", "chord_progression": ["C", "F", "G", "C"], "tempo_bpm": 120.0}
    config = MidiAugmentConfig(multiplier=2)
    a = augment_sample(pm, labels, sample_id="abc", index=0, seed=1, config=config)
    b = augment_sample(pm, labels, sample_id="abc", index=0, seed=1, config=config)
    c = augment_sample(pm, labels, sample_id="abc", index=1, seed=1, config=config)
    assert midi_bytes(a[0]) == midi_bytes(b[0]) and a[1] == b[1]
    assert midi_bytes(a[0]) != midi_bytes(c[0])
    new_pm, new_labels, drawn = a
    assert -6 <= drawn["transpose"] <= 6 and 0.9 <= drawn["stretch"] <= 1.1 and 0.8 <= drawn["velocity"] <= 1.2
    measured = analyse(new_pm)
    assert measured.chords == new_labels["chord_progression"]
    assert measured.tempo_bpm == pytest.approx(new_labels["tempo_bpm"], abs=0.01)


@pytest.mark.parametrize("kwargs", [{"multiplier": -1}, {"stretch_min": 1.2, "stretch_max": 1.1},
                                    {"dropout": 1.0}, {"transpose": 13}])
def test_bad_augment_params(kwargs):
    with pytest.raises(ConfigError):
        MidiAugmentConfig(**kwargs)
