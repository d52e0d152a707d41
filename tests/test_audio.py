"""Unit tests of musicml.audio: loading, durations and onset helpers."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from musicml.audio import audio_duration, check_onset, first_onset, load_audio
from musicml.errors import InputError


def test_load_audio_mixes_channels_to_mono(tmp_path):
    left = np.linspace(-0.5, 0.5, 800, dtype=np.float32)
    right = np.full(800, 0.25, dtype=np.float32)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), 8000, subtype="FLOAT")
    audio = load_audio(tmp_path / "st.wav", sr=8000)
    assert audio.dtype == np.float32 and audio.ndim == 1 and audio.shape == (800,)
    np.testing.assert_allclose(audio, (left + right) / 2, atol=1e-6)


def test_load_audio_resamples_to_requested_rate(tmp_path):
    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(tmp_path / "tone.wav", tone, 8000, subtype="FLOAT")
    up = load_audio(tmp_path / "tone.wav", sr=16000)
    same = load_audio(tmp_path / "tone.wav", sr=8000)
    assert same.shape == (8000,)
    assert up.shape == (16000,) and up.dtype == np.float32
    # Still a 440 Hz tone: the spectral peak sits at 440 Hz of the new rate.
    peak_hz = np.argmax(np.abs(np.fft.rfft(up))) * 16000 / len(up)
    assert abs(peak_hz - 440) <= 2
    assert up.flags["C_CONTIGUOUS"]


def test_load_audio_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found") as info:
        load_audio(tmp_path / "nope.wav", sr=8000)
    assert info.value.path.endswith("nope.wav")


@pytest.mark.parametrize("content", [b"garbage bytes, not a wav", b"RIFF\x10\x00\x00\x00WAVEfmt "])
def test_load_audio_corrupt_file(tmp_path, content):
    (tmp_path / "bad.wav").write_bytes(content)
    with pytest.raises(InputError, match="unreadable"):
        load_audio(tmp_path / "bad.wav", sr=8000)


def test_load_audio_empty_file(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 8000)
    with pytest.raises(InputError, match="no samples"):
        load_audio(tmp_path / "empty.wav", sr=8000)


def test_load_audio_non_finite_samples(tmp_path):
    data = np.zeros(100, dtype=np.float32)
    data[10] = np.nan
    sf.write(tmp_path / "nan.wav", data, 8000, subtype="FLOAT")
    with pytest.raises(InputError, match="NaN"):
        load_audio(tmp_path / "nan.wav", sr=8000)


def test_audio_duration(tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros(12000, dtype=np.float32), 8000)
    assert audio_duration(tmp_path / "a.wav") == pytest.approx(1.5)
    sf.write(tmp_path / "e.wav", np.zeros(0, dtype=np.float32), 8000)
    with pytest.raises(InputError, match="no samples"):
        audio_duration(tmp_path / "e.wav")
    with pytest.raises(InputError, match="unreadable"):
        audio_duration(tmp_path / "missing.wav")
    (tmp_path / "c.wav").write_bytes(b"xx")
    with pytest.raises(InputError, match="unreadable"):
        audio_duration(tmp_path / "c.wav")


def test_first_onset_finds_first_loud_sample():
    audio = np.zeros(1000, dtype=np.float32)
    audio[250] = 0.001   # -60 dB relative to the peak: below the -50 dB threshold
    audio[400] = 0.01    # -40 dB: counts
    audio[600] = 1.0
    assert first_onset(audio, 1000) == pytest.approx(0.4)
    assert first_onset(audio, 1000, threshold_db=-70) == pytest.approx(0.25)
    assert first_onset(-audio, 1000) == pytest.approx(0.4)  # magnitude, not sign


def test_first_onset_silence_and_empty():
    assert first_onset(np.zeros(100, dtype=np.float32), 1000) == 0.0
    assert first_onset(np.zeros(0, dtype=np.float32), 1000) == 0.0


def test_check_onset():
    check_onset(0.0, 1.0, path="a.wav", event_id="e1")
    check_onset(0.999, 1.0, path="a.wav", event_id="e1")
    with pytest.raises(InputError) as info:
        check_onset(1.0, 1.0, path="a.wav", event_id="e7")
    assert info.value.field == "onset_s" and info.value.path == "a.wav"
    assert "e7" in info.value.message and "past the end" in info.value.message
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(InputError, match="finite number"):
            check_onset(bad, 1.0, path="a.wav", event_id="e1")
