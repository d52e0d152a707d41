"""Theory rules: keys, Roman numerals, voice leading, key estimation, chord recognition."""

from __future__ import annotations

import numpy as np
import pytest

from musicml.errors import ConfigError
from musicml.midi.theory import (
    Chord, circle_of_fifths, degree_token, estimate_key, key_name, parse_chord, pitch_class, progression,
    recognise_chord, roman_chord, scale_pitches, transpose_chord_name, voice_lead,
)


def test_pitch_class_spellings():
    assert [pitch_class(n) for n in ("C", "C#", "Db", "Eb", "F#", "Bb", "B", "Cb")] == [0, 1, 1, 3, 6, 10, 11, 11]
    assert key_name(3) == "Eb" and key_name(15) == "Eb"


@pytest.mark.parametrize("bad", ["H", "C##", "", "Es", "7"])
def test_unknown_key_name_is_one_line_error(bad):
    with pytest.raises(ConfigError, match="unknown key name"):
        pitch_class(bad)


def test_roman_numerals_follow_the_key_scale():
    assert [c.name for c in progression(["I", "V", "vi", "IV"], 0, "major")] == ["C", "G", "Am", "F"]
    # Minor degrees count along natural minor: III of A minor is C, V is the borrowed major dominant.
    assert [c.name for c in progression(["i", "III", "V", "ii°", "VII"], 9, "minor")] == ["Am", "C", "E", "Bdim", "G"]
    assert roman_chord("bVII", 0, "major").name == "Bb"
    with pytest.raises(ConfigError, match="Roman numeral"):
        roman_chord("VIII", 0, "major")


def test_chord_names_round_trip_and_transpose():
    for name in ("C", "F#m", "Bbdim", "Ab"):
        assert parse_chord(name).name == name
    assert transpose_chord_name("Am", 3) == "Cm"
    assert transpose_chord_name("G", 5) == "C"
    assert degree_token(parse_chord("G"), 0) == "7:maj"


def test_circle_of_fifths():
    assert circle_of_fifths(0, 3) == [0, 7, 2, 9]
    assert circle_of_fifths(0, -2) == [0, 5, 10]


def test_voice_leading_moves_little_and_keeps_chord_tones():
    chords = progression(["I", "vi", "IV", "V", "I"], 0, "major")
    prev = None
    for chord in chords:
        voicing = voice_lead(prev, chord, low=52, high=79)
        assert {p % 12 for p in voicing} == set(chord.pitch_classes)
        assert all(52 <= p <= 79 for p in voicing)
        if prev is not None:
            # Common-practice smoothness: no voice leaps more than a fourth between adjacent triads.
            assert max(abs(a - b) for a, b in zip(voicing, prev)) <= 5
        prev = voicing
    # C -> Am keeps the common tones C and E in place.
    c = voice_lead(None, Chord(0, "maj"))
    am = voice_lead(c, Chord(9, "min"))
    assert len(set(c) & set(am)) == 2


def test_estimate_key_of_scale_profiles():
    for tonic in range(12):
        for mode in ("major", "minor"):
            profile = np.zeros(12)
            for p in scale_pitches(tonic, mode, 60, 71):
                profile[p % 12] += 1.0
            profile[tonic] += 2.0  # the tonic sounds longest, as in music
            assert estimate_key(profile)[:2] == (tonic, mode)
    assert estimate_key(np.zeros(12)) == (0, "major", 0.0)


def test_final_chord_separates_relative_keys():
    profile = np.zeros(12)
    for p in scale_pitches(0, "major", 60, 71):
        profile[p % 12] += 1.0
    assert estimate_key(profile, final_chord=Chord(9, "min"))[:2] == (9, "minor")
    assert estimate_key(profile, final_chord=Chord(0, "maj"))[:2] == (0, "major")


def test_recognise_chord():
    w = np.zeros(12)
    w[[9, 0, 4]] = 1.0
    assert recognise_chord(w).name == "Am"
    w = np.zeros(12)
    w[[11, 2, 5]] = 1.0
    assert recognise_chord(w).name == "Bdim"
    assert recognise_chord(np.zeros(12)) is None
