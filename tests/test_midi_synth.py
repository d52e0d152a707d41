"""The theory corpus: determinism, and labels the annotator recovers."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from midi_helpers import midi_params
from musicml.errors import ConfigError
from musicml.midi.analysis import analyse
from musicml.midi.synth import FAMILIES, audio_renderer, generate, render_audio, synth_config
from musicml.midi.theory import SCALES, pitch_class


TIMGM = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None or not TIMGM.exists(),
                                      reason="needs Debian's fluidsynth and timgm6mb-soundfont")


@pytest.fixture(scope="module")
def config():
    return synth_config(midi_params())


@pytest.fixture(scope="module")
def corpus(config):
    return {ds: generate(ds, per_category=8, config=config, seed=3) for ds in FAMILIES}


def test_same_seed_same_bytes_other_seed_other_bytes(config):
    a = generate("groove", per_category=2, config=config, seed=1)
    b = generate("groove", per_category=2, config=config, seed=1)
    c = generate("groove", per_category=2, config=config, seed=2)
    assert [s.data for s in a] == [s.data for s in b]
    assert [s.data for s in a] != [s.data for s in c]


def test_every_category_per_category_times_and_every_family(corpus, config):
    for ds, samples in corpus.items():
        labels = [s.labels[{"emotion": "emotion", "harmony": "emotion", "melody": "contour",
                            "dynamics": "articulation", "groove": "groove_type"}[ds]] for s in samples]
        assert {label: labels.count(label) for label in set(labels)} == {c: 8 for c in config.categories(ds)}
        assert {s.family for s in samples} == set(FAMILIES[ds])


def test_swing_groove_measures_its_swing_ratio(corpus):
    for sample in corpus["groove"]:
        measured = analyse(sample.midi).swing_ratio
        assert measured == pytest.approx(sample.labels["swing_ratio"], abs=0.02), sample.labels
    swing = [analyse(s.midi).swing_ratio for s in corpus["groove"] if s.labels["groove_type"] == "swing"]
    assert np.mean(swing) == pytest.approx(0.67, abs=0.01)


def test_groove_types_recovered(corpus):
    for sample in corpus["groove"]:
        assert analyse(sample.midi).labels()["groove_type"] == sample.labels["groove_type"]


def test_happy_is_major_sad_is_minor_and_keys_recovered(corpus):
    for ds in ("emotion", "harmony"):
        hits = 0
        for sample in corpus[ds]:
            assert sample.labels["mode"] == {"happy": "major", "sad": "minor"}.get(sample.labels["emotion"],
                                                                                     sample.labels["mode"])
            a = analyse(sample.midi)
            hits += (a.key, a.mode) == (sample.labels["key"], sample.labels["mode"])
            assert a.chords == sample.labels["chord_progression"]
        assert hits / len(corpus[ds]) >= 0.95, ds
    happy = [s for s in corpus["emotion"] if s.labels["emotion"] == "happy"]
    assert all(s.labels["chord_progression"][-1] == s.labels["key"] for s in happy)  # ends on the major tonic


def test_emotion_tempo_velocity_valence_arousal_follow_params(corpus):
    params = midi_params()["emotions"]
    for sample in corpus["emotion"]:
        spec = params[sample.labels["emotion"]]
        assert spec["tempo"][0] <= sample.labels["tempo_bpm"] <= spec["tempo"][1]
        velocities = [n.velocity for i in sample.midi.instruments for n in i.notes]
        assert min(velocities) >= spec["velocity"][0] * 0.8 - 1 and max(velocities) <= spec["velocity"][1] + 1
        assert 0 <= sample.labels["valence"] <= 1 and 0 <= sample.labels["arousal"] <= 1
        assert abs(sample.labels["valence"] - spec["valence"]) < 0.25


def test_melodies_stay_in_scale_with_their_contour_and_range(corpus):
    for sample in corpus["melody"]:
        pcs = {(pitch_class(sample.labels["key"]) + s) % 12 for s in SCALES[sample.labels["mode"]]}
        pitches = [n.pitch for i in sample.midi.instruments for n in i.notes]
        assert all(p % 12 in pcs for p in pitches)
        a = analyse(sample.midi)
        assert a.contour == sample.labels["contour"]
        assert a.range == sample.labels["range"]
        # Voice leading: no leap wider than an octave.
        assert max(abs(np.diff(pitches))) <= 12


def test_dynamics_and_articulation_recovered(corpus):
    for sample in corpus["dynamics"]:
        a = analyse(sample.midi)
        assert (a.articulation, a.dynamics) == (sample.labels["articulation"], sample.labels["dynamics"])


def test_audio_rendering_at_22050(corpus):
    sample = corpus["emotion"][0]
    audio = render_audio(sample.midi, sr=22050)
    assert audio.dtype == np.float32 and np.abs(audio).max() <= 1.0
    end = sample.midi.get_end_time()
    assert end <= len(audio) / 22050 <= end + 1.1  # pretty_midi adds up to a second of release


@needs_fluidsynth
def test_soundfont_rendering_plays_the_midi_louder_with_velocity_and_is_deterministic(corpus):
    from midi_helpers import C_MAJOR_CADENCE, chord_midi

    render = audio_renderer({"sr": 22050, "renderer": "soundfont", "soundfont": str(TIMGM), "soundfont_gain": 0.8})
    assert render["soundfont"] == str(TIMGM)
    sample = corpus["emotion"][0]
    audio = render_audio(sample.midi, **render)
    assert audio.dtype == np.float32 and 0.01 < np.abs(audio).max() <= 1.0
    end = sample.midi.get_end_time()
    assert end <= len(audio) / 22050 <= end + 6.0  # FluidSynth renders until the release tail dies away
    assert np.array_equal(audio, render_audio(sample.midi, **render))
    sine = render_audio(sample.midi, sr=22050)
    assert not np.allclose(audio[:len(sine)], sine[:len(audio)])  # a piano, not sine tones
    soft, loud = (render_audio(chord_midi(C_MAJOR_CADENCE, velocity=v), **render) for v in (40, 110))
    assert np.sqrt(np.mean(loud ** 2)) > 2 * np.sqrt(np.mean(soft ** 2))


def test_renderer_param_sine_default_and_bad_values(monkeypatch, tmp_path):
    assert audio_renderer({"sr": 22050}) == {"sr": 22050, "soundfont": None, "gain": 0.8}
    assert audio_renderer({"sr": 16000, "renderer": "sine", "soundfont": "/nowhere.sf2"})["soundfont"] is None
    with pytest.raises(ConfigError, match="unknown renderer 'fluid'"):
        audio_renderer({"sr": 22050, "renderer": "fluid"})
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/fluidsynth")
    with pytest.raises(ConfigError, match="midi.synth.soundfont: .* is not a SoundFont"):
        audio_renderer({"sr": 22050, "renderer": "soundfont", "soundfont": str(tmp_path / "missing.sf2")})
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ConfigError, match="fluidsynth not found") as info:
        audio_renderer({"sr": 22050, "renderer": "soundfont", "soundfont": str(TIMGM)})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("path, value, match", [
    (("emotions", "happy", "valence"), 1.5, "valence"),
    (("emotions", "sad", "arousal"), -0.1, "arousal"),
    (("emotions", "happy", "tempo"), [0, 120], "tempo"),
    (("emotions", "angry", "tempo"), [120, 450], "tempo"),
    (("emotions", "calm", "mode"), "lydian", "unknown mode"),
    (("emotions", "calm", "progressions"), [["I", "XI"]], "Roman numeral"),
    (("keys",), ["C", "H"], "unknown key name"),
    (("grooves", "swing", "swing_ratio"), 0.3, "swing_ratio"),
    (("melody", "contours"), ["zigzag"], "contours"),
    (("melody", "ranges", "narrow"), [5, 12], "narrow"),
])
def test_bad_params_are_one_line_config_errors(path, value, match):
    params = midi_params()
    node = params
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ConfigError, match=match) as info:
        synth_config(params)
    assert "\n" not in str(info.value)


def test_unknown_dataset_and_family(config):
    with pytest.raises(ConfigError, match="unknown dataset"):
        generate("rhythm", per_category=1, config=config, seed=0)
    with pytest.raises(ConfigError, match="unknown"):
        generate("groove", per_category=1, config=config, seed=0, families=["polka"])
