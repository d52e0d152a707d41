"""Feature tables: what a row measures on tiny files, the measured chord sequence, audio blocks, round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from midi_helpers import C_MAJOR_CADENCE, chord_midi, write_midi
from musicml.errors import ConfigError, InputError
from musicml.midi.analysis import feature_names
from musicml.midi.features import (
    audio_feature_names, audio_features, build_features, read_features, sample_features, write_features,
)

AUDIO = {"sr": 22050, "n_mels": 16, "n_mfcc": 8}


def _row(path, sample_id, **extra):
    return {"sample_id": sample_id, "parent_id": sample_id, "file_path": str(path), "audio_path": None,
            "split": "train", "origin": f"real:{sample_id}", "family": None, "source": "real", "augmented": False,
            "annotations": {"emotion": "happy", "chord_progression": ["C", "F", "G", "C"]}, **extra}


def test_midi_row_measures_pitch_classes_tempo_and_the_chord_sequence(tmp_path):
    path = write_midi(chord_midi(C_MAJOR_CADENCE, tempo=100), tmp_path / "cadence.mid")
    row, chords = sample_features(str(path), audio_path=None, audio=None)
    names = feature_names()
    assert row.shape == (len(names),) and row.dtype == np.float32
    value = dict(zip(names, row))
    assert chords == ["C", "F", "G", "C"]
    profile = np.array([value[f"pc_{i}"] for i in range(12)])
    assert set(np.argsort(profile)[-3:]) == {0, 7, 4} or set(np.argsort(profile)[-3:]) == {0, 7, 5}  # C, G + E/F
    assert profile[[1, 3, 6, 8, 10]].sum() == 0  # no black keys in the cadence
    assert value["tempo_bpm"] == pytest.approx(100, abs=0.5)
    assert value["is_minor"] == 0.0 and value["velocity_mean"] == pytest.approx(80)


def test_audio_block_follows_its_names_and_hears_the_pitch():
    sr = AUDIO["sr"]
    t = np.arange(sr) / sr
    a440 = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    feats = audio_features(a440, sr=sr, n_mels=16, n_mfcc=8)
    names = audio_feature_names(n_mels=16, n_mfcc=8)
    assert feats.shape == (len(names),) == (2 * (16 + 8 + 12),) and np.isfinite(feats).all()
    chroma = np.array([feats[names.index(f"chroma_mean_{i}")] for i in range(12)])
    assert int(np.argmax(chroma)) == 9  # A
    short = audio_features(a440[:100], sr=sr, n_mels=16, n_mfcc=8)  # shorter than one FFT frame: padded
    assert short.shape == feats.shape and np.isfinite(short).all()


def test_build_write_read_round_trip_with_rendered_audio(tmp_path):
    a = write_midi(chord_midi(C_MAJOR_CADENCE), tmp_path / "a.mid")
    b = write_midi(chord_midi([[57, 60, 64], [50, 53, 57, 62]], tempo=80), tmp_path / "b.mid")
    X, names, index = build_features([_row(a, "a"), _row(b, "b", augmented=True, parent_id="a")], audio=AUDIO)
    assert X.shape == (2, len(feature_names()) + len(audio_feature_names(n_mels=16, n_mfcc=8)))
    assert names[-1] == "chroma_std_11" and np.isfinite(X).all()
    # Imported MIDI without audio is rendered first: the audio block is not empty.
    assert X[0, names.index("logmel_mean_0")] != 0
    assert json.loads(index.loc[0, "chord_sequence"]) == ["C", "F", "G", "C"]
    assert json.loads(index.loc[1, "chord_sequence"]) == ["Am", "Dm"]
    assert json.loads(index.loc[0, "chord_progression"]) == ["C", "F", "G", "C"]  # the label, kept apart
    write_features(tmp_path / "features", "emotion", X, names, index)
    X2, names2, index2 = read_features(tmp_path / "features", "emotion")
    np.testing.assert_array_equal(X, X2)
    assert names2 == names
    pd.testing.assert_frame_equal(index, index2)


def test_any_number_of_workers_gives_the_same_table_in_row_order(tmp_path):
    a = write_midi(chord_midi(C_MAJOR_CADENCE), tmp_path / "a.mid")
    b = write_midi(chord_midi([[57, 60, 64], [50, 53, 57, 62]], tempo=80), tmp_path / "b.mid")
    rows = [_row(a, "a"), _row(b, "b"), _row(a, "c", augmented=True, parent_id="a")]
    X1, names1, index1 = build_features(rows, audio=AUDIO, workers=1)
    X2, names2, index2 = build_features(rows, audio=AUDIO, workers=2)
    np.testing.assert_array_equal(X1, X2)
    assert names1 == names2 and index2["sample_id"].tolist() == ["a", "b", "c"]
    pd.testing.assert_frame_equal(index1, index2)
    with pytest.raises(ConfigError, match="midi.features.workers must be an integer >= 1"):
        build_features(rows, audio=None, workers=0)


def test_bad_inputs_name_the_file(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd not midi")
    with pytest.raises(InputError, match="bad.mid.*not a readable MIDI"):
        sample_features(str(bad), audio_path=None, audio=None)
    with pytest.raises(InputError, match="missing.mid.*cannot read"):
        sample_features(str(tmp_path / "missing.mid"), audio_path=None, audio=None)
    with pytest.raises(InputError, match="run midi_features first"):
        read_features(tmp_path / "nowhere", "groove")
    a = write_midi(chord_midi(C_MAJOR_CADENCE), tmp_path / "a.mid")
    X, names, index = build_features([_row(a, "a")], audio=None)
    write_features(tmp_path / "f", "groove", np.vstack([X, X]), names, index)
    with pytest.raises(InputError, match="2 feature rows but 1 index rows"):
        read_features(tmp_path / "f", "groove")
