"""Streaming transcription (musicml.drums.transcribe) and `musicml transcribe`."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import soundfile as sf

from musicml.drums import transcribe as tr
from musicml.drums.boundary import match_onsets
from musicml.errors import ConfigError, InputError
from musicml.features import MelConfig, log_mel, log_mel_batch
from musicml.inference import OnnxClassifier
from transcribe_helpers import MEL, export_random_model, onset_errors, run_cli, write_take


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    return export_random_model(tmp_path_factory.mktemp("model") / "drums.onnx")


@pytest.fixture(scope="module")
def model(model_path):
    return OnnxClassifier.load(model_path, threads=1)


@pytest.fixture(scope="module")
def take(tmp_path_factory):
    path = tmp_path_factory.mktemp("take") / "take.wav"
    hits = write_take(path, seconds=12.0, bpm=118, seed=3, kit_index=2)
    return path, hits


def distinct_onsets(hits, gap=0.03):
    times = sorted({h.onset_s for h in hits})
    return [t for i, t in enumerate(times) if i == 0 or t - times[i - 1] > gap]


def test_log_mel_batch_matches_log_mel():
    mel = MelConfig(sr=16000, n_mels=32, n_frames=32, n_fft=512, hop_length=256)
    rng = np.random.default_rng(0)
    clips = rng.standard_normal((3, mel.clip_samples)).astype(np.float32) * np.array([[1.0], [1e-3], [0.0]],
                                                                                      np.float32)
    batch = log_mel_batch(clips, mel)
    assert batch.shape == (3, 32, 32)
    for clip, image in zip(clips, batch):
        np.testing.assert_allclose(image, log_mel(clip, mel), atol=2e-5)
    assert not batch[2].any()  # a silent clip is all zeros, as log_mel makes it
    assert log_mel_batch(np.zeros((0, mel.clip_samples)), mel).shape == (0, 32, 32)


@pytest.mark.parametrize("n", [1, 5000, 32768, 32769, 200_000, 16000 * 61 + 7])
def test_owned_spans_tile_the_file(n):
    windows = tr.plan_windows(n, sr=16000, window_s=2.048, hop_s=0.512)
    assert windows[0].owned_start == 0 and windows[-1].owned_end == n
    for a, b in zip(windows, windows[1:]):
        assert a.owned_end == b.owned_start
        assert b.start - a.start == round(0.512 * 16000)
    for w in windows:  # what a window reports lies inside it (the last one may own the file's tail)
        assert w.start <= w.owned_start <= w.owned_end and (w.owned_end <= w.end or w is windows[-1])
    if n < 2.048 * 16000:
        assert len(windows) == 1


def test_finds_every_onset_once(take, model):
    path, hits = take
    events = list(tr.transcribe_file(path, model, tr.StreamConfig(extra_label_min_prob=1.0)))
    times = [e.time_s for e in events]
    truth = distinct_onsets(hits)
    assert times == sorted(times) and len(set(times)) == len(times)
    errors = onset_errors(times, truth)
    # A soft closed hi-hat right under a crash's ring may be missed; nothing else may be.
    assert np.mean(errors <= 0.02) >= 0.97, f"missed onsets at {np.array(truth)[errors > 0.02]}"
    assert len(match_onsets(truth, times, tolerance_s=0.05)) == len(times)  # no false onsets
    assert all(e.label in model.classes and 0 < e.confidence <= 1 for e in events)


def test_same_onsets_whatever_the_windowing(take, model):
    """Overlap is invisible: no window length or hop adds, loses or doubles an onset."""
    path, _ = take
    reference = [e.time_s for e in tr.transcribe_file(path, model, tr.StreamConfig(extra_label_min_prob=1.0))]
    for window_ms, hop_ms in ((512, 512), (4096, 256), (3000, 1000)):
        config = tr.StreamConfig(window_ms=window_ms, hop_ms=hop_ms, extra_label_min_prob=1.0)
        assert [e.time_s for e in tr.transcribe_file(path, model, config)] == reference


def test_extra_labels_at_one_onset(take, model):
    path, _ = take
    single = list(tr.transcribe_file(path, model, tr.StreamConfig(extra_label_min_prob=1.0)))
    multi = list(tr.transcribe_file(path, model, tr.StreamConfig(extra_label_min_prob=0.01)))
    assert len(multi) > len(single)
    assert sorted({e.time_s for e in multi}) == [e.time_s for e in single]
    first = [e for e in multi if e.time_s == single[0].time_s]
    assert first[0].label == single[0].label and len({e.label for e in first}) == len(first)


def test_memory_stays_about_one_window(tmp_path, model, monkeypatch):
    path = tmp_path / "long.wav"
    write_take(path, seconds=40.0, seed=1)
    peak = []
    original = tr.BlockReader.get

    def spy(self, a, b):
        out = original(self, a, b)
        peak.append(self.buffered_samples)
        return out

    monkeypatch.setattr(tr.BlockReader, "get", spy)
    events = list(tr.transcribe_file(path, model, tr.StreamConfig()))
    assert events and max(peak) < 4.0 * MEL.sr  # the file is 40 s; a window plus context is under 4 s


def test_silence_and_noise_give_no_events(tmp_path, model):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(MEL.sr * 5, np.float32), MEL.sr)
    assert list(tr.transcribe_file(silent, model, tr.StreamConfig())) == []
    hiss = tmp_path / "hiss.wav"
    sf.write(hiss, np.random.default_rng(0).standard_normal(MEL.sr * 5).astype(np.float32) * 3e-4, MEL.sr)
    assert list(tr.transcribe_file(hiss, model, tr.StreamConfig())) == []


def test_audio_shorter_than_one_window(tmp_path, model):
    path = tmp_path / "short.wav"
    hits = write_take(path, seconds=1.0, bpm=200, seed=4)  # 0.5 s of hits, 1.5 s of audio
    events = list(tr.transcribe_file(path, model, tr.StreamConfig(extra_label_min_prob=1.0)))
    assert np.all(onset_errors([e.time_s for e in events], distinct_onsets(hits)) <= 0.02)


def test_other_sample_rates_and_channels(tmp_path, take, model):
    path, _ = take
    audio, sr = sf.read(path, dtype="float32")
    import librosa

    stereo = np.stack([librosa.resample(audio, orig_sr=sr, target_sr=44100)] * 2, axis=1)
    other = tmp_path / "take44k.flac"
    sf.write(other, stereo, 44100)
    base = [e.time_s for e in tr.transcribe_file(path, model, tr.StreamConfig(extra_label_min_prob=1.0))]
    resampled = [e.time_s for e in tr.transcribe_file(other, model, tr.StreamConfig(extra_label_min_prob=1.0))]
    assert len(resampled) == len(base)
    assert np.max(np.abs(np.array(resampled) - np.array(base))) <= 0.01


def test_bad_files(tmp_path, model):
    with pytest.raises(InputError, match="missing.wav"):
        list(tr.transcribe_file(tmp_path / "missing.wav", model, tr.StreamConfig()))
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(InputError, match="unreadable audio"):
        list(tr.transcribe_file(junk, model, tr.StreamConfig()))
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), MEL.sr)
    with pytest.raises(InputError, match="no samples"):
        list(tr.transcribe_file(empty, model, tr.StreamConfig()))


@pytest.mark.parametrize("bad", [{"window_ms": 0}, {"hop_ms": 4096}, {"extra_label_min_prob": 0},
                                 {"onset_threshold": "high"}, {"window": 2048}])
def test_bad_config(bad):
    with pytest.raises(ConfigError):
        tr.StreamConfig.from_params(bad)


def test_cli_without_torch(tmp_path, take, model_path):
    path, hits = take
    out = tmp_path / "events.jsonl"
    proc = run_cli("transcribe", path, "--model", model_path, "--out", out, "--probabilities", "--progress",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and set(rows[0]) == {"time_s", "label", "confidence", "probabilities"}
    assert abs(sum(rows[0]["probabilities"].values()) - 1) < 1e-4
    assert "transcribe take.wav" in proc.stderr and f"{len(rows)} events" in proc.stderr


def test_cli_bad_audio_is_one_line_and_writes_nothing(tmp_path, model_path, monkeypatch, capsys):
    from musicml.cli import main

    junk = tmp_path / "song.wav"
    junk.write_bytes(b"\x00" * 100)
    out = tmp_path / "events.jsonl"
    monkeypatch.setattr(sys, "argv", ["musicml", "transcribe", str(junk), "--model", str(model_path),
                                      "--out", str(out)])
    with pytest.raises(SystemExit) as done:
        main()
    err = capsys.readouterr().err
    assert done.value.code == 1
    assert err.startswith("error: ") and "song.wav" in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".events.jsonl*"))
