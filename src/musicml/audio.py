"""Audio loading with clear errors, and onset helpers shared by sources and inference."""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import soundfile as sf

from musicml.errors import InputError


def load_audio(path: str | os.PathLike, *, sr: int) -> np.ndarray:
    """Read an audio file as mono float32 at ``sr`` Hz.

    Raises
    ------
    InputError
        When the file is missing, unreadable, corrupt or holds no samples.
    """
    path = str(path)
    if not os.path.exists(path):
        raise InputError(path, "audio file not found")
    try:
        audio, file_sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError for corrupt data
        raise InputError(path, f"unreadable audio: {exc}") from exc
    if audio.shape[0] == 0:
        raise InputError(path, "audio file holds no samples")
    return mono_at_rate(audio, file_sr, sr=sr, path=path)


def mono_at_rate(audio: np.ndarray, file_sr: int, *, sr: int, path: str) -> np.ndarray:
    """Channels ``(frames, channels)`` already read from ``path`` -> mono float32 at ``sr`` Hz.

    For callers that need the file's own samples too (clipping, peak) and must
    not read it twice.
    """
    mono = audio.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise InputError(path, "audio holds NaN or infinite samples")
    if file_sr != sr:
        import librosa  # imported lazily: resampling is the only use here

        mono = librosa.resample(mono, orig_sr=file_sr, target_sr=sr, res_type="soxr_hq")
    return np.ascontiguousarray(mono, dtype=np.float32)


def audio_info(path: str | os.PathLike):
    """The file header (``soundfile.info``); unreadable or empty files are errors."""
    path = str(path)
    try:
        info = sf.info(path)
    except Exception as exc:  # missing, truncated or not audio at all
        raise InputError(path, f"unreadable audio: {exc}") from exc
    if info.frames == 0:
        raise InputError(path, "audio file holds no samples")
    return info


def audio_duration(path: str | os.PathLike) -> float:
    """Duration in seconds from the file header; unreadable or empty files are errors."""
    info = audio_info(path)
    return info.frames / info.samplerate


@lru_cache(maxsize=4)
def _cached(path: str, sr: int) -> np.ndarray:
    return load_audio(path, sr=sr)


def load_audio_cached(path: str, *, sr: int) -> np.ndarray:
    """:func:`load_audio` with a small cache, for callers that revisit a few files."""
    return _cached(str(path), sr)


def segment(audio: np.ndarray, start: int, length: int) -> np.ndarray:
    """``length`` samples of ``audio`` from sample ``start``; parts outside the audio are zeros."""
    out = np.zeros(length, dtype=np.float32)
    lo, hi = max(start, 0), min(start + length, audio.shape[0])
    if hi > lo:
        out[lo - start: hi - start] = audio[lo:hi]
    return out


def first_onset(audio: np.ndarray, sr: int, *, threshold_db: float = -50.0) -> float:
    """Time (s) of the first sample louder than ``threshold_db`` relative to the peak.

    Used as the onset of a one-shot whose start may hold a little silence.
    A silent buffer gives 0.0.
    """
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 0.0:
        return 0.0
    above = np.flatnonzero(np.abs(audio) >= peak * 10 ** (threshold_db / 20))
    return float(above[0]) / sr


def check_onset(onset_s: float, duration_s: float, *, path: str, event_id: str) -> None:
    """Raise a one-line :class:`InputError` when an onset lies outside its audio."""
    if not np.isfinite(onset_s) or onset_s < 0:
        raise InputError(path, f"event {event_id}: onset {onset_s!r} must be a finite number >= 0", field="onset_s")
    if onset_s >= duration_s:
        raise InputError(
            path, f"event {event_id}: onset {onset_s:.3f} s is past the end of the audio ({duration_s:.3f} s)",
            field="onset_s",
        )
