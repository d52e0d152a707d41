"""Audio analysis of one generation with librosa: rhythm, spectrum, key, dynamics, embedding.

:func:`analyze_file` measures only what it can from the signal. The seed's
vocal and style descriptors (``vocalCharacteristics``, ``styleMetadata``) are
never produced here: a record keeps them when its producer supplied them
(:func:`merge_analysis`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Iterable

import numpy as np
import soundfile as sf

from musicml.audio import audio_info, mono_at_rate
from musicml.errors import InputError
from musicml.genmeta.keys import estimate_key
from musicml.parallel import check_workers, one_blas_thread, process_map

ANALYZER_VERSION = "1"
N_MFCC = 13
# A sample this close to full scale counts as clipped (16-bit full scale is 32767/32768).
CLIP_LEVEL = 0.999
# Frames quieter than this are silence, not "dynamics": they would inflate the range.
SILENCE_DB = -60.0

# The embedding is the feature vector mapped by fixed reference centres and
# scales, so a record analysed by the stage and one analysed by the API on
# another day are comparable without refitting anything. Centres and scales
# are typical values of produced music at 22,050 Hz (log-frequency features
# are in octaves).
EMBEDDING_NAMES: tuple[str, ...] = (
    ("tempo_octaves", "rhythm_confidence", "tempo_stability", "centroid_octaves", "rolloff_octaves",
     "dynamic_range_db", "clipping_ratio")
    + tuple(f"mfcc_{i}" for i in range(N_MFCC)) + tuple(f"chroma_{i}" for i in range(12))
)
_CENTRE = np.array([0.0, 0.5, 0.5, 0.0, 0.0, 20.0, 0.0] + [-200.0] + [0.0] * (N_MFCC - 1) + [0.4] * 12)
_SCALE = np.array([0.5, 0.25, 0.25, 1.0, 1.0, 10.0, 0.01] + [100.0] + [30.0] * (N_MFCC - 1) + [0.2] * 12)


@dataclass(frozen=True)
class AnalysisSettings:
    """Analysis resolution; the defaults are librosa's."""

    sr: int = 22050
    hop_length: int = 512
    n_fft: int = 2048
    rolloff_percent: float = 0.85
    chroma_hop_length: int = 2048


def _rhythm(mel_db: np.ndarray, s: AnalysisSettings) -> dict[str, float]:
    """Tempo (bpm), rhythm confidence and tempo stability from a log-mel spectrogram; all 0 for silence."""
    import librosa

    oenv = librosa.onset.onset_strength(S=mel_db, sr=s.sr, hop_length=s.hop_length)
    if oenv.size < 4 or float(oenv.max()) <= 1e-6:
        return {"tempo": 0.0, "rhythmConfidence": 0.0, "tempoStability": 0.0, "beatCount": 0}
    tempo, beats = librosa.beat.beat_track(onset_envelope=oenv, sr=s.sr, hop_length=s.hop_length)
    tempo = float(np.atleast_1d(tempo)[0])
    # Confidence: normalised autocorrelation of the onset envelope at the beat period -
    # 1 for a perfectly periodic pulse, near 0 for no pulse.
    centred = oenv - oenv.mean()
    ac = librosa.autocorrelate(centred)
    confidence = 0.0
    if tempo > 0 and ac[0] > 0:
        lag = 60.0 * s.sr / (s.hop_length * tempo)
        window = [int(np.floor(lag)), int(np.ceil(lag))]
        window = [w for w in window if 0 < w < ac.size]
        if window:
            confidence = float(np.clip(max(ac[w] for w in window) / ac[0], 0.0, 1.0))
    # Stability: 1 - coefficient of variation of the inter-beat intervals.
    stability = 0.0
    if len(beats) >= 3:
        ibi = np.diff(beats).astype(np.float64)
        stability = float(np.clip(1.0 - ibi.std() / ibi.mean(), 0.0, 1.0))
    return {"tempo": round(tempo, 3), "rhythmConfidence": round(confidence, 4),
            "tempoStability": round(stability, 4), "beatCount": int(len(beats))}


def _dynamics(raw: np.ndarray, y: np.ndarray, s: AnalysisSettings) -> dict[str, float]:
    """RMS level and dynamic range (95th - 5th percentile of non-silent frames, dB), clipping."""
    import librosa

    rms = librosa.feature.rms(y=y, frame_length=s.n_fft, hop_length=s.hop_length)[0]
    db = 20 * np.log10(np.maximum(rms, 1e-10))
    loud = db[db > SILENCE_DB]
    dyn_range = float(np.percentile(loud, 95) - np.percentile(loud, 5)) if loud.size else 0.0
    return {"rmsDb": round(float(db.max()) if db.size else -200.0, 3),
            "rmsDynamicRangeDb": round(dyn_range, 3),
            "clippingRatio": round(float(np.mean(np.abs(raw) >= CLIP_LEVEL)), 6),
            "peak": round(float(np.abs(raw).max()), 6)}


def embedding(features: dict[str, Any]) -> list[float]:
    """The standardised feature vector (order :data:`EMBEDDING_NAMES`) of an analysis.

    Parameters
    ----------
    features : dict
        The result of :func:`analyze_file`.
    """
    rhythm = features["analysisMetadata"]["rhythmCharacteristics"]
    dyn = features["analysisMetadata"]["dynamics"]
    spec = features["spectralFeatures"]
    raw = np.array(
        [np.log2(max(rhythm["tempo"], 1.0) / 120.0) if rhythm["tempo"] > 0 else 0.0,
         rhythm["rhythmConfidence"], rhythm["tempoStability"],
         np.log2(max(spec["spectralCentroid"], 1.0) / 1000.0), np.log2(max(spec["spectralRolloff"], 1.0) / 2000.0),
         dyn["rmsDynamicRangeDb"], dyn["clippingRatio"], *spec["mfcc"], *spec["chromagram"]], dtype=np.float64)
    return [round(float(v), 5) for v in (raw - _CENTRE) / _SCALE]


def analyze_file(path: str | os.PathLike, settings: AnalysisSettings = AnalysisSettings()) -> dict[str, Any]:
    """Analyse one audio file.

    Returns
    -------
    dict
        ``duration`` (s), ``format`` (lower-case container, e.g. ``"wav"``),
        ``sampleRate`` (of the file), ``analysisMetadata``
        (``rhythmCharacteristics``: tempo, rhythmConfidence, tempoStability,
        beatCount; ``keyDetection``: key, correlation; ``dynamics``: rmsDb,
        rmsDynamicRangeDb, clippingRatio, peak; ``analyzer``),
        ``spectralFeatures`` (spectralCentroid and spectralRolloff in Hz, 13
        ``mfcc`` means, 12-bin ``chromagram``, C first) and ``audioEmbedding``.

    Raises
    ------
    InputError
        For a missing, unreadable or empty file.
    """
    import librosa

    path = str(path)
    info = audio_info(path)
    try:
        raw, _ = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # a header that parses over data that does not
        raise InputError(path, f"unreadable audio: {exc}") from exc
    # The file is read once: the raw samples give clipping and peak, the
    # resampled mono signal everything else.
    y = mono_at_rate(raw, info.samplerate, sr=settings.sr, path=path)
    # One magnitude STFT feeds the spectral shape, the mel bands, MFCCs and onsets.
    mag = np.abs(librosa.stft(y, n_fft=settings.n_fft, hop_length=settings.hop_length))
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=mag ** 2, sr=settings.sr))
    rhythm = _rhythm(mel_db, settings)
    centroid = librosa.feature.spectral_centroid(S=mag, sr=settings.sr, n_fft=settings.n_fft)[0]
    rolloff = librosa.feature.spectral_rolloff(S=mag, sr=settings.sr, n_fft=settings.n_fft,
                                               roll_percent=settings.rolloff_percent)[0]
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=N_MFCC).mean(axis=1)
    silent = float(np.abs(y).max()) < 1e-6
    # Key needs pitch resolution, not time resolution: a constant-Q chroma over
    # the five octaves from C2 where bass and chords live, at a coarse hop.
    chroma = np.zeros(12) if silent else librosa.feature.chroma_cqt(
        y=y, sr=settings.sr, hop_length=settings.chroma_hop_length, fmin=librosa.note_to_hz("C2"),
        n_octaves=5).mean(axis=1)
    key, key_r = estimate_key(chroma)
    result = {
        "duration": round(info.frames / info.samplerate, 4),
        "format": str(info.format).lower(),
        "sampleRate": int(info.samplerate),
        "analysisMetadata": {
            "rhythmCharacteristics": rhythm,
            "keyDetection": {"key": key, "correlation": round(key_r, 4)},
            "dynamics": _dynamics(raw.mean(axis=1) if raw.shape[1] > 1 else raw[:, 0], y, settings),
            "audio": {"format": str(info.format).lower(), "sampleRate": int(info.samplerate),
                      "channels": int(info.channels), "duration": round(info.frames / info.samplerate, 4)},
            "analyzer": {"version": ANALYZER_VERSION, "sampleRate": settings.sr},
        },
        "spectralFeatures": {
            "spectralCentroid": round(float(centroid.mean()), 3),
            "spectralRolloff": round(float(rolloff.mean()), 3),
            "mfcc": [round(float(v), 4) for v in mfcc],
            "chromagram": [round(float(v), 4) for v in chroma],
        },
    }
    result["audioEmbedding"] = embedding(result)
    return result


def merge_analysis(record: dict[str, Any], result: dict[str, Any] | None, *, error: str | None = None) -> dict:
    """A copy of ``record`` with an analysis (or its error) applied.

    The producer's own ``analysisMetadata`` entries (vocal and style
    descriptors) are kept; measured ones replace earlier measurements. The
    producer's ``duration`` is replaced by the measured one, ``format`` too.
    With ``error``, ``analysisMetadata.analysisError`` says why and the
    feature fields stay empty.
    """
    out = dict(record)
    # analysisError and the service's "status" describe an earlier attempt: a new result replaces them.
    meta = {k: v for k, v in (record.get("analysisMetadata") or {}).items() if k not in ("analysisError", "status")}
    if error is not None:
        meta["analysisError"] = error
        out.update(analysisMetadata=meta, spectralFeatures=None, audioEmbedding=None)
        return out
    meta.update(result["analysisMetadata"])
    out.update(analysisMetadata=meta, spectralFeatures=result["spectralFeatures"],
               audioEmbedding=result["audioEmbedding"], duration=result["duration"], format=result["format"])
    return out


def is_analysed(record: dict[str, Any]) -> bool:
    """True when the record carries a successful analysis."""
    meta = record.get("analysisMetadata") or {}
    return "rhythmCharacteristics" in meta and "analysisError" not in meta and bool(record.get("audioEmbedding"))


def analyze_one(record: dict[str, Any], audio: str | os.PathLike,
                settings: AnalysisSettings = AnalysisSettings()) -> dict[str, Any]:
    """``record`` with the analysis of ``audio`` merged in; an unreadable file marks the record instead.

    Runs on one BLAS thread, as gen_analyze's worker processes do: the pool's
    size changes the last bits of the mel and MFCC products, and the service
    (``musicml gen serve``) must give the stage's figures for the same file.
    """
    with one_blas_thread():
        try:
            return merge_analysis(record, analyze_file(audio, settings))
        except InputError as exc:
            return merge_analysis(record, None, error=str(exc))


def analyze_records(records: list[dict[str, Any]], snapshot: str | os.PathLike,
                    settings: AnalysisSettings = AnalysisSettings(), *,
                    progress: Callable[[Iterable], Iterable] = lambda it: it, workers: int = 1) -> list[dict[str, Any]]:
    """Analyse every record of a snapshot (audio under ``snapshot``/``audioPath``), in order.

    ``workers`` processes analyse records side by side, each on one BLAS thread
    (:func:`musicml.parallel.process_map`), so the figures are the same for any number.
    """
    from musicml.genmeta.records import audio_file

    check_workers(workers, "gen.analyze.workers")
    audio = [audio_file(snapshot, r) for r in records]
    return list(progress(process_map(partial(analyze_one, settings=settings), records, audio, workers=workers)))
