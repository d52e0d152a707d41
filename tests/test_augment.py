"""Unit tests of musicml.drums.augment: one copy of a clip, and the augmented session files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from musicml.audio import load_audio
from musicml.drums.augment import AugmentConfig, augment_clip, augment_events
from musicml.errors import ConfigError
from musicml.manifest import COLUMNS, events_frame

SR = 8000
CLIP_S, PRE_S = 0.3, 0.01
ALWAYS = AugmentConfig(prob=1.0)  # every transform applied to every copy
QUIET = AugmentConfig(noise_max=0.0)  # no noise: onsets are measurable in the rendered audio


def burst(seed, seconds=0.2):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.2 * rng.standard_normal(t.size) * np.exp(-t * 40)).astype(np.float32)


def clip(seed=0):
    out = np.zeros(int(CLIP_S * SR), dtype=np.float32)
    b = burst(seed)
    out[80:80 + b.size] = b
    return out


def session_file(path, onsets, seed=0):
    audio = np.zeros(2 * SR, dtype=np.float32)
    for i, onset in enumerate(onsets):
        b = burst(seed + i)
        start = int(round(onset * SR))
        audio[start:start + b.size] += b[: audio.size - start]
    sf.write(path, audio, SR, subtype="FLOAT")


def test_augment_clip_keeps_length_and_range():
    x = clip()
    for seed in range(3):
        out, _ = augment_clip(x, sr=SR, rng=np.random.default_rng(seed), config=ALWAYS)
        assert out.shape == x.shape and out.dtype == np.float32
        assert np.all(np.abs(out) <= 1.0)
        assert not np.allclose(out, x)


def test_augment_clip_deterministic_per_seed():
    x = clip()
    a, pa = augment_clip(x, sr=SR, rng=np.random.default_rng(42), config=ALWAYS)
    b, pb = augment_clip(x, sr=SR, rng=np.random.default_rng(42), config=ALWAYS)
    c, pc = augment_clip(x, sr=SR, rng=np.random.default_rng(43), config=ALWAYS)
    np.testing.assert_array_equal(a, b)
    assert pa == pb and pa != pc
    assert not np.array_equal(a, c)


def test_augment_clip_parameters_within_configured_ranges():
    config = AugmentConfig(prob=1.0, pitch_semitones=1.5, stretch_min=0.95, stretch_max=1.05, noise_max=0.002,
                           gain_min=0.5, gain_max=0.7)
    x = clip()
    drawn = [augment_clip(x, sr=SR, rng=np.random.default_rng(s), config=config)[1] for s in range(12)]
    for params in drawn:
        assert set(params) == {"semitones", "rate", "noise", "gain", "eq"}
        assert -1.5 <= params["semitones"] <= 1.5
        assert 0.95 <= params["rate"] <= 1.05
        assert 0.0 <= params["noise"] <= 0.002
        assert 0.5 <= params["gain"] <= 0.7
    # The draws spread over the range (not a constant).
    assert np.ptp([p["semitones"] for p in drawn]) > 1.0


def test_augment_clip_applies_each_transform_with_probability_prob():
    config = AugmentConfig(prob=0.5, stretch_min=0.8, stretch_max=0.9, gain_min=0.5, gain_max=0.7)
    neutral = {"semitones": 0.0, "rate": 1.0, "noise": 0.0, "gain": 1.0}
    x = clip()
    drawn = [augment_clip(x, sr=SR, rng=np.random.default_rng(s), config=config)[1] for s in range(40)]
    for name, value in neutral.items():
        applied = [p[name] != value for p in drawn]
        assert 8 <= sum(applied) <= 32, name  # about half of 40 (binomial, p=0.5)
    assert all(0.8 <= p["rate"] <= 0.9 for p in drawn if p["rate"] != 1.0)
    assert all(0.5 <= p["gain"] <= 0.7 for p in drawn if p["gain"] != 1.0)


def test_augment_clip_with_prob_zero_is_identity():
    x = clip()
    out, params = augment_clip(x, sr=SR, rng=np.random.default_rng(0), config=AugmentConfig(prob=0.0))
    assert params == {"semitones": 0.0, "rate": 1.0, "noise": 0.0, "gain": 1.0, "eq": []}
    np.testing.assert_array_equal(out, x)


def test_augment_clip_applies_the_drawn_gain():
    x = clip()
    fixed = dict(prob=1.0, pitch_semitones=0.7, stretch_min=1.02, stretch_max=1.02, noise_max=0.0)
    half, _ = augment_clip(x, sr=SR, rng=np.random.default_rng(5),
                           config=AugmentConfig(**fixed, gain_min=0.25, gain_max=0.25))
    full, _ = augment_clip(x, sr=SR, rng=np.random.default_rng(5),
                           config=AugmentConfig(**fixed, gain_min=1.0, gain_max=1.0))
    np.testing.assert_allclose(half, 0.25 * full, atol=1e-6)


def test_augment_events_writes_one_wav_per_session_with_copy_onsets(tmp_path):
    session_file(tmp_path / "s1.wav", [0.2, 0.9, 1.5])
    session_file(tmp_path / "s2.wav", [0.5], seed=10)
    events = events_frame([
        {"source": "synth", "session_id": "s1", "kit": "k1", "audio_path": str(tmp_path / "s1.wav"),
         "onset_s": 0.9, "label": "snare", "techniques": ["flam"], "velocity": 90},
        {"source": "synth", "session_id": "s1", "kit": "k1", "audio_path": str(tmp_path / "s1.wav"),
         "onset_s": 0.2, "label": "kick", "extra_labels": ["crash"], "openness": 0.0},
        {"source": "synth", "session_id": "s1", "kit": "k1", "audio_path": str(tmp_path / "s1.wav"),
         "onset_s": 1.5, "label": "crash"},
        {"source": "hydrogen", "session_id": "s2", "kit": "k2", "audio_path": str(tmp_path / "s2.wav"),
         "onset_s": 0.5, "label": "hihat_open", "openness": 0.8},
    ])
    out_dir = tmp_path / "aug"
    config = AugmentConfig(multiplier=2, prob=1.0, noise_max=0.0)
    out = augment_events(events, out_dir, config=config, sr=SR, clip_s=CLIP_S, pre_onset_s=PRE_S, seed=3)

    assert sorted(p.name for p in out_dir.iterdir()) == ["s1.wav", "s2.wav"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert list(out.columns) == list(COLUMNS)
    assert len(out) == 2 * len(events)
    assert set(out["audio_path"]) == {str(out_dir / "s1.wav"), str(out_dir / "s2.wav")}

    # Labels, session and the other fields travel with each copy; source is suffixed.
    for _, src in events.iterrows():
        copies = out[(out["session_id"] == src["session_id"]) & (out["label"] == src["label"])]
        assert len(copies) == 2
        assert (copies["kit"] == src["kit"]).all()
        assert all(c == src["extra_labels"] for c in copies["extra_labels"])
        assert all(c == src["techniques"] for c in copies["techniques"])
    assert set(out["source"]) == {"synth+aug", "hydrogen+aug"}
    assert out.loc[out["session_id"] == "s2", "label"].tolist() == ["hihat_open"] * 2
    assert out["event_id"].nunique() == len(out)

    # Each copy's onset points at the start of its energy in the rendered file (first sample within
    # 20 dB of the copy's peak; the stretcher's faint pre-echo lies below that).
    clip_len, gap = int(CLIP_S * SR), SR // 10
    for session, n_copies in (("s1", 6), ("s2", 2)):
        audio = load_audio(out_dir / f"{session}.wav", sr=SR)
        assert audio.shape == (n_copies * (clip_len + gap),)
        rows = out[out["session_id"] == session].sort_values("onset_s")
        for k, onset in enumerate(rows["onset_s"]):
            window = np.abs(audio[k * (clip_len + gap): k * (clip_len + gap) + clip_len])
            first = np.flatnonzero(window >= window.max() * 10 ** (-20 / 20))[0]
            assert abs((k * (clip_len + gap) + first) / SR - onset) < 0.003
            assert np.all(audio[k * (clip_len + gap) + clip_len: (k + 1) * (clip_len + gap)] == 0)  # the gap


def test_augment_events_same_seed_same_bytes(tmp_path):
    session_file(tmp_path / "s.wav", [0.3, 1.0])
    events = events_frame([
        {"source": "synth", "session_id": "s", "kit": "k", "audio_path": str(tmp_path / "s.wav"),
         "onset_s": o, "label": "kick"} for o in (0.3, 1.0)])

    def render(name, seed):
        out = augment_events(events, tmp_path / name, config=ALWAYS, sr=SR, clip_s=CLIP_S,
                             pre_onset_s=PRE_S, seed=seed)
        return (tmp_path / name / "s.wav").read_bytes(), out

    a, out_a = render("a", 1)
    b, out_b = render("b", 1)
    c, _ = render("c", 2)
    assert a == b and a != c
    assert out_a["onset_s"].tolist() == out_b["onset_s"].tolist()


def test_augment_events_same_bytes_for_any_number_of_workers(tmp_path):
    events = []
    for k in range(3):
        session_file(tmp_path / f"s{k}.wav", [0.3, 1.0], seed=k)
        events += [{"source": "synth", "session_id": f"s{k}", "kit": f"k{k}", "audio_path": str(tmp_path / f"s{k}.wav"),
                    "onset_s": o, "label": "kick"} for o in (0.3, 1.0)]
    events = events_frame(events)

    def render(name, workers):
        out = augment_events(events, tmp_path / name, config=ALWAYS, sr=SR, clip_s=CLIP_S,
                             pre_onset_s=PRE_S, seed=5, workers=workers)
        return {p.name: p.read_bytes() for p in (tmp_path / name).iterdir()}, out

    one, out_one = render("one", 1)
    two, out_two = render("two", 2)
    assert sorted(one) == ["s0.wav", "s1.wav", "s2.wav"]
    assert one == two
    where = ["audio_path", "event_id"]  # the folders differ, and the event id hashes the path
    assert out_one.drop(columns=where).equals(out_two.drop(columns=where))
    assert out_two["session_id"].tolist() == ["s0", "s0", "s1", "s1", "s2", "s2"]


def test_augment_events_single_process_uses_one_blas_thread(tmp_path, monkeypatch):
    from threadpoolctl import threadpool_info

    from musicml.drums import augment

    seen, real = [], augment.augment_clip

    def recording(*args, **kwargs):
        seen.append({p["num_threads"] for p in threadpool_info()})
        return real(*args, **kwargs)

    monkeypatch.setattr(augment, "augment_clip", recording)
    session_file(tmp_path / "s.wav", [0.3, 1.0])
    events = events_frame([{"source": "synth", "session_id": "s", "kit": "k", "audio_path": str(tmp_path / "s.wav"),
                            "onset_s": o, "label": "kick"} for o in (0.3, 1.0)])
    augment_events(events, tmp_path / "aug", config=ALWAYS, sr=SR, clip_s=CLIP_S, pre_onset_s=PRE_S, seed=0)
    assert len(seen) == 2 and all(threads == {1} for threads in seen)


@pytest.mark.parametrize("workers", [0, -1, 1.5])
def test_augment_events_rejects_a_bad_worker_count(tmp_path, workers):
    session_file(tmp_path / "s.wav", [0.3])
    events = events_frame([{"source": "synth", "session_id": "s", "kit": "k", "audio_path": str(tmp_path / "s.wav"),
                            "onset_s": 0.3, "label": "kick"}])
    with pytest.raises(ConfigError, match="augment.workers must be an integer >= 1"):
        augment_events(events, tmp_path / "aug", config=ALWAYS, sr=SR, clip_s=CLIP_S, pre_onset_s=PRE_S,
                       seed=0, workers=workers)
    assert not (tmp_path / "aug").exists()


def test_augment_events_multiplier_zero_writes_nothing(tmp_path):
    session_file(tmp_path / "s.wav", [0.3])
    events = events_frame([{"source": "synth", "session_id": "s", "kit": "k",
                            "audio_path": str(tmp_path / "s.wav"), "onset_s": 0.3, "label": "kick"}])
    out = augment_events(events, tmp_path / "aug", config=AugmentConfig(multiplier=0), sr=SR, clip_s=CLIP_S,
                         pre_onset_s=PRE_S, seed=0)
    assert len(out) == 0 and list(out.columns) == list(COLUMNS)
    assert list((tmp_path / "aug").iterdir()) == []


@pytest.mark.parametrize("onset", [0.0, 1.95])
def test_augment_events_pads_clips_at_file_edges(tmp_path, onset):
    session_file(tmp_path / "s.wav", [onset])
    events = events_frame([{"source": "synth", "session_id": "s", "kit": "k",
                            "audio_path": str(tmp_path / "s.wav"), "onset_s": onset, "label": "kick"}])
    out = augment_events(events, tmp_path / "aug", config=QUIET, sr=SR, clip_s=CLIP_S, pre_onset_s=PRE_S, seed=0)
    assert len(out) == 1
    assert sf.info(tmp_path / "aug" / "s.wav").frames == int(CLIP_S * SR) + SR // 10


def test_random_eq_changes_the_spectrum_within_its_range():
    rng = np.random.default_rng(3)
    clip = (rng.standard_normal(22050) * 0.05).astype(np.float32)
    config = AugmentConfig(prob=1.0, pitch_semitones=0.0, stretch_min=1.0, stretch_max=1.0, noise_max=0.0,
                           gain_min=1.0, gain_max=1.0, eq_db=9.0)
    out, params = augment_clip(clip, sr=22050, rng=np.random.default_rng(7), config=config)
    assert len(params["eq"]) == 3 and all(abs(gain) <= 9.0 for _, gain in params["eq"])
    spectrum_in, spectrum_out = np.abs(np.fft.rfft(clip)), np.abs(np.fft.rfft(out))
    ratio_db = 20 * np.log10((spectrum_out[100:] + 1e-9) / (spectrum_in[100:] + 1e-9))
    assert np.percentile(np.abs(ratio_db), 90) > 1.0       # the EQ did something
    assert np.median(np.abs(ratio_db)) < 3 * 9.0           # and stayed within a few times its range
