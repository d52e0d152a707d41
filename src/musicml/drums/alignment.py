"""Multi-microphone alignment QC: each file's time offset against the session's reference.

A session manifest (JSON) lists the files of one take::

    {"session_id": "take_001",
     "reference": "overhead_l.wav",
     "files": [{"path": "kick.wav", "mic": "kick", "known_offset_ms": 1.5}, ...]}

Paths are relative to the manifest's folder (or absolute); ``known_offset_ms``
is optional (synthetic takes know their delays, so the estimate can be checked).
The offset of a file is the delay that best lines it up with the reference:
positive means the file is *late* (``file(t) = reference(t - offset)``). It is
the peak of the generalised cross-correlation with phase transform (GCC-PHAT),
computed with FFTs over a bounded lag range and refined between samples by a
parabola through the peak and its neighbours, so the resolution is well below
one sample (0.045 ms at 22.05 kHz). PHAT whitens both spectra, so different
microphone colourings and gains do not pull the peak.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from musicml.audio import audio_info, mono_at_rate
from musicml.config import load_json
from musicml.errors import ConfigError, InputError


def estimate_offset(reference: np.ndarray, other: np.ndarray, *, sr: int, max_lag_s: float) -> tuple[float, float]:
    """Delay of ``other`` relative to ``reference`` (seconds) and the strength of the match.

    Parameters
    ----------
    reference, other : ndarray, shape (n,) and (m,)
        Mono signals at ``sr`` Hz.
    max_lag_s : float
        Only delays within ``+-max_lag_s`` are considered.

    Returns
    -------
    offset_s : float
        Positive when ``other`` lags ``reference``.
    peak : float
        The PHAT correlation at the peak, relative to the mean absolute correlation
        over the searched lags (a sharp, trustworthy peak scores far above 1).
    """
    max_lag = max(1, int(math.ceil(max_lag_s * sr)))
    n = reference.size + other.size + 1
    nfft = 1 << (n - 1).bit_length()
    cross = np.fft.rfft(other, nfft) * np.conj(np.fft.rfft(reference, nfft))
    cross /= np.maximum(np.abs(cross), 1e-12)
    corr = np.fft.irfft(cross, nfft)
    # Lags -max_lag..max_lag: negative lags sit at the end of the circular result.
    lags = np.concatenate([corr[-max_lag:], corr[:max_lag + 1]])
    k = int(np.argmax(lags))
    frac = 0.0
    if 0 < k < lags.size - 1:
        a, b, c = lags[k - 1], lags[k], lags[k + 1]
        denom = a - 2 * b + c
        if denom < 0:
            frac = float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))
    offset = (k - max_lag + frac) / sr
    strength = float(lags[k] / max(np.mean(np.abs(lags)), 1e-12))
    return float(offset), strength


@dataclass(frozen=True)
class SessionFile:
    path: str
    mic: str
    known_offset_ms: float | None


@dataclass(frozen=True)
class Session:
    manifest: str
    session_id: str
    reference: str
    files: tuple[SessionFile, ...]


def read_session(manifest: str | os.PathLike) -> Session:
    """Parse and check a session manifest; every listed file must exist.

    Raises
    ------
    InputError
        For an unreadable or malformed manifest (naming the field), or naming
        every missing audio file at once.
    """
    manifest = str(manifest)
    data = load_json(manifest)
    if not isinstance(data, dict):
        raise InputError(manifest, "expected a JSON object with session_id, reference and files")
    for name, kind in (("session_id", str), ("reference", str), ("files", list)):
        if name not in data:
            raise InputError(manifest, "missing required field", field=name)
        if not isinstance(data[name], kind) or not data[name]:
            raise InputError(manifest, f"expected a non-empty {kind.__name__}, got {data[name]!r}", field=name)
    base = Path(manifest).parent

    def resolve(p: str) -> str:
        return str(p if os.path.isabs(p) else base / p)

    files = []
    for i, entry in enumerate(data["files"]):
        where = f"files[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"]:
            raise InputError(manifest, "expected an object with a non-empty 'path'", field=where)
        known = entry.get("known_offset_ms")
        if known is not None and (isinstance(known, bool) or not isinstance(known, (int, float))
                                  or not math.isfinite(known)):
            raise InputError(manifest, f"expected a number or null, got {known!r}", field=f"{where}.known_offset_ms")
        files.append(SessionFile(resolve(entry["path"]), str(entry.get("mic") or Path(entry["path"]).stem),
                                 None if known is None else float(known)))
    reference = resolve(data["reference"])
    missing = [p for p in [reference] + [f.path for f in files] if not os.path.exists(p)]
    if missing:
        raise InputError(manifest, f"{len(missing)} audio file(s) not found: {', '.join(missing)}", field="files")
    return Session(manifest, data["session_id"], reference, tuple(files))


def _read_head(path: str, *, sr: int | None, seconds: float) -> tuple[np.ndarray, int]:
    """The first ``seconds`` of a file, mono, at ``sr`` (the file's own rate when None)."""
    info = audio_info(path)
    frames = min(info.frames, int(seconds * info.samplerate))
    try:
        audio, file_sr = sf.read(path, frames=frames, dtype="float32", always_2d=True)
    except Exception as exc:  # corrupt data after a valid header
        raise InputError(path, f"unreadable audio: {exc}") from exc
    rate = sr or int(file_sr)
    return mono_at_rate(audio, file_sr, sr=rate, path=path), rate


def align_session(session: Session, *, max_lag_ms: float, analysis_s: float, max_abs_offset_ms: float) -> dict:
    """Estimate every file's offset against the reference and gate on the largest.

    Files are compared at the reference's sample rate over the first
    ``analysis_s`` seconds.

    Returns
    -------
    dict
        ``session_id``, ``reference``, ``files`` (mic, path, estimated_offset_ms,
        known_offset_ms, error_ms, peak), ``max_abs_offset_ms``,
        ``worst_error_ms`` (None without known offsets) and ``passed``.
    """
    if max_lag_ms <= 0 or analysis_s <= 0:
        raise ConfigError(f"align: max_lag_ms and analysis_s must be > 0, got {max_lag_ms}, {analysis_s}")
    reference, sr = _read_head(session.reference, sr=None, seconds=analysis_s)
    if not np.any(reference):
        raise InputError(session.reference, "reference audio is silent: nothing to align against")
    rows = []
    for f in session.files:
        audio, _ = _read_head(f.path, sr=sr, seconds=analysis_s)
        if not np.any(audio):
            raise InputError(f.path, "audio is silent: its offset cannot be estimated")
        offset_s, peak = estimate_offset(reference, audio, sr=sr, max_lag_s=max_lag_ms / 1000)
        estimated = round(offset_s * 1000, 4)
        error = None if f.known_offset_ms is None else round(abs(estimated - f.known_offset_ms), 4)
        rows.append({"mic": f.mic, "path": f.path, "estimated_offset_ms": estimated,
                     "known_offset_ms": f.known_offset_ms, "error_ms": error, "peak": round(peak, 3),
                     "at_lag_limit": bool(abs(estimated) >= max_lag_ms - 1000 / sr)})
    max_abs = max((abs(r["estimated_offset_ms"]) for r in rows), default=0.0)
    errors = [r["error_ms"] for r in rows if r["error_ms"] is not None]
    return {"session_id": session.session_id, "reference": session.reference, "sr": sr, "files": rows,
            "max_abs_offset_ms": max_abs, "worst_error_ms": max(errors) if errors else None,
            "threshold_ms": max_abs_offset_ms, "passed": bool(max_abs <= max_abs_offset_ms)}
