"""Unit tests of musicml.features: clip cutting, log-mel images and the feature store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from musicml.errors import InputError
from musicml.features import (
    FEATURES_FILE,
    INDEX_FILE,
    MelConfig,
    cut_clip,
    extract_to_store,
    iter_event_features,
    log_mel,
    open_store,
)
from musicml.manifest import events_frame

# Small and fast: 0.1 s clips at 8 kHz.
CFG = MelConfig(sr=8000, n_mels=16, n_frames=12, n_fft=256, hop_length=64, fmin=20.0, pre_onset_s=0.005)


def hit(sr=8000, seconds=0.1, freq=500.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    return (np.sin(2 * np.pi * freq * t) * np.exp(-t * 30) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def session_wav(path, onsets, *, seconds=1.0, sr=8000):
    audio = np.zeros(int(seconds * sr), dtype=np.float32)
    for i, onset in enumerate(onsets):
        h = hit(sr, freq=300 + 200 * i, seed=i)
        start = int(round(onset * sr))
        audio[start:start + h.size] += h[: audio.size - start]
    sf.write(path, audio, sr, subtype="FLOAT")
    return audio


def events_for(paths_onsets):
    return events_frame([
        {"source": "t", "session_id": "s", "kit": "k", "audio_path": str(p), "onset_s": o, "label": "kick"}
        for p, o in paths_onsets
    ])


@pytest.mark.parametrize("n_frames,hop,n_fft", [(12, 64, 256), (128, 128, 1024), (1, 32, 64)])
def test_clip_samples_gives_exactly_n_frames(n_frames, hop, n_fft):
    cfg = MelConfig(sr=8000, n_mels=8, n_frames=n_frames, n_fft=n_fft, hop_length=hop)
    image = log_mel(hit(seconds=3.0)[: cfg.clip_samples], cfg)
    assert cfg.clip_samples <= 3 * 8000
    assert image.shape == (8, n_frames)
    # One sample fewer would lose a frame: the clip length is the minimum for n_frames.
    assert (cfg.clip_samples - 1 - n_fft) // hop + 1 == n_frames - 1


def test_pre_onset_samples_and_to_dict():
    assert CFG.pre_onset_samples == 40
    assert MelConfig(**CFG.to_dict()) == CFG


def test_cut_clip_inside_audio_starts_before_onset():
    audio = np.arange(8000, dtype=np.float32)
    clip = cut_clip(audio, 0.5, CFG)
    assert clip.shape == (CFG.clip_samples,) and clip.dtype == np.float32
    assert clip[0] == 4000 - CFG.pre_onset_samples
    np.testing.assert_array_equal(clip, audio[3960:3960 + CFG.clip_samples])


def test_cut_clip_zero_pads_at_start():
    audio = np.arange(1, 8001, dtype=np.float32)
    clip = cut_clip(audio, 0.0, CFG)  # starts 40 samples before the audio
    assert np.all(clip[:40] == 0)
    np.testing.assert_array_equal(clip[40:], audio[: CFG.clip_samples - 40])


def test_cut_clip_zero_pads_at_end():
    audio = np.ones(1000, dtype=np.float32)
    clip = cut_clip(audio, 900 / 8000, CFG)  # clip starts at sample 860: 140 samples of audio left
    assert clip.shape == (CFG.clip_samples,)
    assert np.all(clip[:140] == 1) and np.all(clip[140:] == 0)


def test_cut_clip_entirely_outside_is_silence():
    assert not np.any(cut_clip(np.ones(100, dtype=np.float32), 5.0, CFG))


def test_log_mel_shape_dtype_and_range():
    image = log_mel(cut_clip(hit(), 0.0, CFG), CFG)
    assert image.shape == (CFG.n_mels, CFG.n_frames) and image.dtype == np.float32
    assert image.min() >= 0.0 and image.max() <= 1.0
    assert image.max() == pytest.approx(1.0)  # the clip's own peak is 0 dB
    assert image.std() > 0.05


def test_log_mel_is_level_invariant():
    clip = cut_clip(hit(), 0.0, CFG)
    loud, quiet = log_mel(clip, CFG), log_mel(0.1 * clip, CFG)
    np.testing.assert_allclose(loud, quiet, atol=1e-4)
    # ... but it does see timbre: another pitch gives another image.
    other = log_mel(cut_clip(hit(freq=2000.0), 0.0, CFG), CFG)
    assert np.abs(loud - other).mean() > 0.05


def test_log_mel_of_silence_is_zeros():
    image = log_mel(np.zeros(CFG.clip_samples, dtype=np.float32), CFG)
    assert image.shape == (CFG.n_mels, CFG.n_frames) and not np.any(image)


def test_iter_event_features_reads_each_file_once(tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    audio = {str(a): session_wav(a, [0.1, 0.4, 0.7]), str(b): session_wav(b, [0.2])}
    events = events_for([(b, 0.2), (a, 0.7), (a, 0.1), (a, 0.4)])
    calls = []

    def loader(path):
        calls.append(str(path))
        return audio[str(path)]

    out = dict(iter_event_features(events, CFG, loader=loader))
    assert sorted(calls) == sorted([str(a), str(b)])
    assert sorted(out) == [0, 1, 2, 3]
    # Each position carries the image of its own event.
    expected = log_mel(cut_clip(audio[str(a)], 0.7, CFG), CFG)
    np.testing.assert_array_equal(out[1], expected)


def test_iter_event_features_onset_past_end_names_event(tmp_path):
    a = tmp_path / "a.wav"
    audio = session_wav(a, [0.1], seconds=0.5)
    events = events_for([(a, 0.1), (a, 0.6)])
    bad_id = events["event_id"][1]
    with pytest.raises(InputError, match=bad_id):
        list(iter_event_features(events, CFG, loader=lambda p: audio))


def test_extract_to_store_and_open_store(tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    audio_a = session_wav(a, [0.1, 0.5])
    session_wav(b, [0.3])
    events = events_for([(b, 0.3), (a, 0.5), (a, 0.1)])
    events.index = [10, 20, 30]  # a non-default index must not matter
    extract_to_store(events, tmp_path / "store", CFG)
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == sorted([FEATURES_FILE, INDEX_FILE])

    features, index = open_store(tmp_path / "store")
    assert features.shape == (3, 1, CFG.n_mels, CFG.n_frames) and features.dtype == np.float32
    assert isinstance(features, np.memmap) and not features.flags.writeable
    # Row i of the store belongs to row i of the index, in the given order.
    assert index["onset_s"].tolist() == [0.3, 0.5, 0.1]
    assert index["audio_path"].tolist() == [str(b), str(a), str(a)]
    np.testing.assert_allclose(features[1, 0], log_mel(cut_clip(audio_a, 0.5, CFG), CFG), atol=1e-6)
    np.testing.assert_allclose(features[2, 0], log_mel(cut_clip(audio_a, 0.1, CFG), CFG), atol=1e-6)
    assert not np.allclose(features[1], features[2])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_extract_to_store_failure_leaves_no_output(tmp_path):
    a = tmp_path / "a.wav"
    session_wav(a, [0.1], seconds=0.5)
    events = events_for([(a, 0.1), (a, 2.0)])
    with pytest.raises(InputError) as info:
        extract_to_store(events, tmp_path / "store", CFG)
    assert events["event_id"][1] in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]  # no store, no temporary folder


def test_extract_to_store_failure_keeps_previous_store(tmp_path):
    a = tmp_path / "a.wav"
    session_wav(a, [0.1], seconds=0.5)
    extract_to_store(events_for([(a, 0.1)]), tmp_path / "store", CFG)
    before = (tmp_path / "store" / FEATURES_FILE).read_bytes()
    with pytest.raises(InputError):
        extract_to_store(events_for([(a, 0.1), (tmp_path / "missing.wav", 0.0)]), tmp_path / "store", CFG)
    assert (tmp_path / "store" / FEATURES_FILE).read_bytes() == before
    assert len(pd.read_parquet(tmp_path / "store" / INDEX_FILE)) == 1
