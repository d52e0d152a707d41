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


AUDIO = {"prob": 1.0, "pitch_semitones": 2.0, "stretch_min": 0.9, "stretch_max": 1.1, "noise_max": 0.005,
         "gain_min": 0.8, "gain_max": 1.2}


def _emotion_entry(tmp_path):
    from midi_helpers import write_midi

    path = write_midi(chord_midi(C_MAJOR_CADENCE, tempo=120), tmp_path / "in" / "e1.mid")
    labels = {"emotion": "happy", "valence": 0.8, "arousal": 0.6, "key": "C", "mode": "major", "tempo_bpm": 120.0,
              "chord_progression": ["C", "F", "G", "C"]}
    return {"sample_id": "e1", "file_path": str(path), "source": "synth", "family": "block", "origin": "o1",
            "annotations": labels}


def test_emotion_audio_goes_through_the_drum_augmenter_seeded_per_clip_labels_kept(tmp_path):
    import numpy as np
    import soundfile as sf

    from musicml.midi.augment import augment_dataset
    from musicml.midi.synth import render_audio

    entry = _emotion_entry(tmp_path)
    config = MidiAugmentConfig(multiplier=2)
    render = {"sr": 22050, "soundfont": None, "gain": 0.8}
    rows = augment_dataset("emotion", [entry], out_dir=tmp_path / "a", seed=7, config=config, audio=AUDIO,
                           render=render)
    again = augment_dataset("emotion", [entry], out_dir=tmp_path / "b", seed=7, config=config, audio=AUDIO,
                            render=render)
    assert len(rows) == 2
    for row, twin in zip(rows, again):
        a = row["audio_params"]
        # prob 1: every transform applied, inside the seed's ranges.
        assert 0 < abs(a["semitones"]) <= 2 and 0.9 <= a["rate"] <= 1.1 and a["rate"] != 1.0
        assert 0 < a["noise"] <= 0.005 and 0.8 <= a["gain"] <= 1.2
        for label in ("emotion", "valence", "arousal"):
            assert row["annotations"][label] == entry["annotations"][label]
        assert twin["audio_params"] == a
        assert (tmp_path / "a/emotion/e1-a0.wav").read_bytes() != b""
    assert rows[0]["audio_params"] != rows[1]["audio_params"]
    wav_a = (tmp_path / "a" / "emotion" / "e1-a0.wav").read_bytes()
    assert wav_a == (tmp_path / "b" / "emotion" / "e1-a0.wav").read_bytes()  # same seed, same clip
    clip, sr = sf.read(tmp_path / "a" / "emotion" / "e1-a0.wav", dtype="float32")
    plain = render_audio(load_copy(rows[0], entry), sr=22050)
    assert sr == 22050 and clip.shape == plain.shape  # stretch keeps the length
    assert np.abs(clip - plain).mean() > 0.01  # pitch-shifted and stretched, not only noise


def test_any_number_of_workers_gives_the_same_files_and_rows_in_entry_order(tmp_path):
    from musicml.midi.augment import augment_dataset

    base = _emotion_entry(tmp_path)
    entries = [{**base, "sample_id": f"e{k}"} for k in range(3)]
    kwargs = dict(seed=7, config=MidiAugmentConfig(multiplier=2), audio=AUDIO,
                  render={"sr": 22050, "soundfont": None, "gain": 0.8})
    one = augment_dataset("emotion", entries, out_dir=tmp_path / "w1", workers=1, **kwargs)
    two = augment_dataset("emotion", entries, out_dir=tmp_path / "w2", workers=2, **kwargs)
    assert [r["sample_id"] for r in two] == ["e0-a0", "e0-a1", "e1-a0", "e1-a1", "e2-a0", "e2-a1"]
    for a, b in zip(one, two):
        assert {k: v for k, v in a.items() if k not in ("file_path", "audio_path")} == \
            {k: v for k, v in b.items() if k not in ("file_path", "audio_path")}
        for key in ("file_path", "audio_path"):
            assert open(a[key], "rb").read() == open(b[key], "rb").read()


@pytest.mark.parametrize("workers", [0, 1.5])
def test_a_bad_worker_count_is_a_config_error(tmp_path, workers):
    from musicml.errors import ConfigError
    from musicml.midi.augment import augment_dataset

    with pytest.raises(ConfigError, match="midi.augment.workers must be an integer >= 1"):
        augment_dataset("emotion", [_emotion_entry(tmp_path)], out_dir=tmp_path / "a", seed=7,
                        config=MidiAugmentConfig(multiplier=1), workers=workers)
    assert not (tmp_path / "a").exists()


def load_copy(row, entry, *, seed=7, config=None):
    """The copy's MIDI as augment_dataset made it (before it was written to a file)."""
    from pathlib import Path

    from musicml.midi.analysis import load_midi

    pm = load_midi(Path(entry["file_path"]).read_bytes())
    index = int(row["sample_id"].rsplit("-a", 1)[1])
    return augment_sample(pm, entry["annotations"], sample_id=entry["sample_id"], index=index, seed=seed,
                          config=config or MidiAugmentConfig(multiplier=index + 1))[0]


def test_no_audio_transforms_with_prob_zero_gives_the_plain_render(tmp_path):
    import numpy as np
    import soundfile as sf

    from musicml.midi.augment import augment_dataset
    from musicml.midi.synth import render_audio

    entry = _emotion_entry(tmp_path)
    rows = augment_dataset("emotion", [entry], out_dir=tmp_path / "a", seed=7,
                           config=MidiAugmentConfig(multiplier=1), audio={**AUDIO, "prob": 0.0},
                           render={"sr": 22050, "soundfont": None, "gain": 0.8})
    assert rows[0]["audio_params"]["semitones"] == 0.0 and rows[0]["audio_params"]["gain"] == 1.0
    clip, _ = sf.read(rows[0]["audio_path"], dtype="float32")
    plain = render_audio(load_copy(rows[0], entry), sr=22050)
    assert np.abs(clip - plain).max() <= 1 / 32767 + 1e-6  # only 16-bit rounding


@pytest.mark.parametrize("change, match", [({"prob": 1.5}, "prob"), ({"pitch_semitones": 13}, "pitch_semitones"),
                                           ({"stretch_min": 1.2}, "stretch_min"), ({"gain_min": 0}, "gain_min"),
                                           ({"noise_max": None}, "noise_max")])
def test_bad_audio_augment_params(change, match):
    from musicml.midi.augment import audio_augment_config

    audio = {**AUDIO, **change}
    if audio["noise_max"] is None:
        del audio["noise_max"]
    with pytest.raises(ConfigError, match=match):
        audio_augment_config(audio)
