"""Streaming drum transcription: onsets found window by window, each classified by the ONNX model.

A long recording is never decoded whole. :class:`BlockReader` reads it in
blocks with soundfile (resampling on the fly), and :func:`transcribe_file`
walks it in analysis windows (the seed's 2048 ms window, 512 ms hop). Each
window *owns* the middle hop of its span - the first window owns its start,
the last one its end - so the owned spans tile the file and an onset seen by
four overlapping windows is reported by exactly one, with at least 768 ms of
context on either side of it. The onset detection function is computed on a
global frame grid, so every window sees the same values for the same frames.

Each onset's clip is turned into the same log-mel image the model was trained
on (:func:`musicml.features.log_mel_batch`) and classified with onnxruntime
(:class:`musicml.inference.OnnxClassifier`); torch is never imported.
"""

from __future__ import annotations

import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from typing import Iterator

import numpy as np
import scipy.fft
import soundfile as sf
from scipy.ndimage import maximum_filter1d

from musicml.atomic import atomic_path
from musicml.audio import audio_info
from musicml.config import checked_keys
from musicml.errors import ConfigError, InputError
from musicml.evaluation import softmax
from musicml.features import MelConfig, log_mel_batch
from musicml.inference import OnnxClassifier


#: Transcription methods and the model each uses by default.
METHODS = {"frames": "models/transcriber.onnx", "onsets": "models/drum_classifier.onnx"}


@dataclass(frozen=True)
class StreamConfig:
    """How a recording is walked, where onsets are found and which labels are reported.

    Attributes
    ----------
    window_ms, hop_ms : float
        Analysis window and hop (the seed's 2048 ms and 512 ms); ``hop_ms <= window_ms``.
    onset_threshold : float
        Minimum rise of the onset function (mean log-magnitude increase per band)
        above its local average for a frame to be an onset.
    silence_db : float
        Frames quieter than this (dB relative to full scale) never start an onset,
        so background noise and silence give no events.
    min_gap_ms : float
        Two onsets closer than this are one (a flam's grace note and its stroke).
    extra_label_min_prob : float
        Besides the most probable class, every class at least this probable is
        reported at the same time: a kick under a hi-hat is two events. 1 turns it off.
    mask_next_onset : bool
        Silence each clip from the next onset on. The model learned hits that ring
        out alone; in a groove the next stroke (often louder) would otherwise
        dominate the clip. On backbeat takes this triples accuracy at true onsets.
    method : str
        ``frames``: the frame-level transcriber (:mod:`musicml.drums.frame_transcription`,
        default model ``models/transcriber.onnx``) finds and labels strokes in one
        pass; the onset settings above do not apply to it. ``onsets``: onset
        detection, then the one-shot classifier on each onset's clip.
    """

    window_ms: float = 2048.0
    hop_ms: float = 512.0
    onset_threshold: float = 0.1
    silence_db: float = -55.0
    min_gap_ms: float = 30.0
    extra_label_min_prob: float = 0.08
    mask_next_onset: bool = True
    method: str = "onsets"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"transcribe.method must be one of {sorted(METHODS)}, got {self.method!r}")
        for name in ("window_ms", "hop_ms", "onset_threshold", "min_gap_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise ConfigError(f"transcribe.{name} must be a number > 0, got {value!r}")
        if self.hop_ms > self.window_ms:
            raise ConfigError(f"transcribe.hop_ms ({self.hop_ms}) must not exceed window_ms ({self.window_ms})")
        if isinstance(self.silence_db, bool) or not isinstance(self.silence_db, (int, float)):
            raise ConfigError(f"transcribe.silence_db must be a number, got {self.silence_db!r}")
        if not 0 < self.extra_label_min_prob <= 1:
            raise ConfigError(f"transcribe.extra_label_min_prob must be in (0, 1], got {self.extra_label_min_prob!r}")

    @classmethod
    def from_params(cls, params: dict, **overrides) -> "StreamConfig":
        """From the ``transcribe`` params section; ``overrides`` that are not None win."""
        chosen = {k: v for k, v in overrides.items() if v is not None}
        return cls(**{**checked_keys(cls, params, "transcribe"), **chosen})

    def to_dict(self) -> dict:
        return asdict(self)


class BlockReader:
    """Forward-only access to a file's mono samples at ``sr``, holding only a bounded span.

    ``get(a, b)`` returns samples ``a`` to ``b`` (zeros outside the file);
    ``release(a)`` forgets everything before ``a``. Requests must not go back
    before the last release.
    """

    def __init__(self, path: str, *, sr: int, block_s: float = 0.5):
        info = audio_info(path)  # missing, unreadable and empty files fail here, naming the file
        self.path = path
        self.sr = sr
        self.file_sr = int(info.samplerate)
        self.n_samples = int(math.floor(info.frames * sr / self.file_sr))
        self._file = sf.SoundFile(path)
        self._block = max(1, int(block_s * self.file_sr))
        self._resampler = None
        if self.file_sr != sr:
            import soxr  # librosa's own resampler; streaming keeps memory flat on long files

            self._resampler = soxr.ResampleStream(self.file_sr, sr, 1, dtype="float32", quality="HQ")
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0
        self._eof = False

    def close(self) -> None:
        self._file.close()

    def _read_block(self) -> None:
        try:
            data = self._file.read(self._block, dtype="float32", always_2d=True)
        except Exception as exc:  # libsndfile errors on truncated or corrupt data
            raise InputError(self.path, f"unreadable audio: {exc}") from exc
        last = data.shape[0] < self._block
        mono = data.mean(axis=1, dtype=np.float32)
        if not np.all(np.isfinite(mono)):
            raise InputError(self.path, "audio holds NaN or infinite samples")
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(mono, last=last).astype(np.float32)
        self._buf = np.concatenate([self._buf, mono])
        self._eof = last

    def get(self, a: int, b: int) -> np.ndarray:
        if max(a, 0) < self._buf_start:
            raise ValueError(f"samples before {self._buf_start} were released")  # a bug, not bad input
        while not self._eof and self._buf_start + self._buf.size < b:
            self._read_block()
        out = np.zeros(b - a, np.float32)
        lo, hi = max(a, self._buf_start), min(b, self._buf_start + self._buf.size, self.n_samples)
        if hi > lo:
            out[lo - a:hi - a] = self._buf[lo - self._buf_start:hi - self._buf_start]
        return out

    def release(self, a: int) -> None:
        drop = min(max(0, a - self._buf_start), self._buf.size)
        if drop:
            self._buf = self._buf[drop:].copy()
            self._buf_start += drop

    @property
    def buffered_samples(self) -> int:
        return int(self._buf.size)


class OnsetFunction:
    """SuperFlux-style onset detection function on a global frame grid.

    Frame ``g`` covers samples ``[g * hop, g * hop + n_fft)``. Its value is the
    mean over log-compressed mel bands of the rise from the previous frame
    (maximum-filtered across bands, which ignores vibrato and slow sweeps).
    """

    def __init__(self, sr: int, *, n_fft: int = 512, hop: int = 128, n_bands: int = 48):
        import librosa

        self.sr, self.n_fft, self.hop = sr, n_fft, hop
        self._window = np.hanning(n_fft).astype(np.float32)
        self._window_energy = float(np.sum(self._window.astype(np.float64) ** 2))
        self._fb = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_bands, fmin=30.0).astype(np.float32)
        # The Hann-weighted frame reaches half its rise when the attack is near the
        # frame's centre; the onset is reported there.
        self.latency = n_fft // 2

    def frames(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Onset strength and level (dBFS) of every whole frame of ``samples``.

        ``samples`` must start on the grid. The first value compares against the
        frame one hop earlier, so ``samples`` should begin one hop before the
        first frame wanted; that frame is dropped.

        Returns
        -------
        strength : ndarray, shape (n_frames - 1,)
        level_db : ndarray, shape (n_frames - 1,)
        """
        n = (samples.size - self.n_fft) // self.hop + 1
        if n < 2:
            return np.zeros(0, np.float32), np.zeros(0, np.float32)
        frames = np.lib.stride_tricks.sliding_window_view(samples, self.n_fft)[::self.hop][:n]
        spec = np.abs(scipy.fft.rfft(frames * self._window, axis=1))
        bands = np.log1p(100.0 * (spec @ self._fb.T))
        rise = bands[1:] - maximum_filter1d(bands[:-1], size=3, axis=1)
        strength = np.maximum(rise, 0.0).mean(axis=1)
        # Mean square of the windowed frame from its spectrum (Parseval), cheaper than re-reading the samples.
        mean_square = (2 * np.sum(spec[1:] ** 2, axis=1) / (self.n_fft * self._window_energy))
        level = 10 * np.log10(np.maximum(mean_square, 1e-20))
        return strength.astype(np.float32), level.astype(np.float32)


def pick_onsets(strength: np.ndarray, level_db: np.ndarray, *, threshold: float, silence_db: float,
                peak_frames: int, average_frames: int) -> np.ndarray:
    """Indexes of onset peaks in an onset function.

    A frame is an onset when it is the first maximum within ``peak_frames``
    either side, rises at least ``threshold`` above the mean of the
    ``average_frames`` before it, and its level is above ``silence_db``.
    """
    n = strength.size
    if n == 0:
        return np.zeros(0, np.int64)
    padded = np.concatenate([np.full(peak_frames, -1.0, np.float32), strength, np.full(peak_frames, -1.0,
                                                                                         np.float32)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * peak_frames + 1)
    is_max = (strength >= windows.max(axis=1)) & (strength > np.concatenate([[-1.0], strength[:-1]]))
    csum = np.concatenate([[0.0], np.cumsum(strength, dtype=np.float64)])
    idx = np.arange(n)
    lo = np.maximum(idx - average_frames, 0)
    mean_before = np.where(idx > lo, (csum[idx] - csum[lo]) / np.maximum(idx - lo, 1), 0.0)
    keep = is_max & (strength - mean_before >= threshold) & (level_db >= silence_db)
    return np.flatnonzero(keep)


@dataclass(frozen=True)
class Window:
    """One analysis window: its span and the span it reports onsets for (samples)."""

    index: int
    start: int
    end: int
    owned_start: int
    owned_end: int


def plan_windows(n_samples: int, *, sr: int, window_s: float, hop_s: float) -> list[Window]:
    """Windows covering ``n_samples``; their owned spans tile ``[0, n_samples)`` exactly.

    Audio shorter than one window gets one window that owns all of it.
    """
    win, hop = int(round(window_s * sr)), int(round(hop_s * sr))
    lead = (win - hop) // 2
    count = max(1, math.ceil((n_samples - lead - hop) / hop) + 1)
    out = []
    for k in range(count):
        start = k * hop
        owned_start = 0 if k == 0 else start + lead
        owned_end = n_samples if k == count - 1 else start + lead + hop
        out.append(Window(k, start, start + win, owned_start, max(owned_start, owned_end)))
    return out


@dataclass(frozen=True)
class Event:
    """One transcribed strike."""

    time_s: float
    label: str
    confidence: float
    probabilities: dict | None = None

    def to_json(self) -> dict:
        row = {"time_s": self.time_s, "label": self.label, "confidence": self.confidence}
        if self.probabilities is not None:
            row["probabilities"] = self.probabilities
        return row


def _events_of(time_s: float, p: np.ndarray, classes: list[str], config: StreamConfig,
               with_probabilities: bool) -> list[Event]:
    order = np.argsort(-p, kind="stable")
    chosen = [order[0]] + [i for i in order[1:] if p[i] >= config.extra_label_min_prob]
    probs = {c: round(float(v), 6) for c, v in zip(classes, p)} if with_probabilities else None
    return [Event(round(time_s, 4), classes[i], round(float(p[i]), 6), probs) for i in chosen]


# A clip is silenced this long before the next onset: detected onsets scatter by a few ms.
_MASK_LEAD_S = 0.005


def _clip(reader: BlockReader, onset: int, next_onset: int | None, mel: MelConfig) -> np.ndarray:
    """The model's clip of the hit at sample ``onset``; silent from just before ``next_onset`` on."""
    start = onset - mel.pre_onset_samples
    clip = reader.get(start, start + mel.clip_samples)
    if next_onset is not None:
        clip[max(0, next_onset - start - int(_MASK_LEAD_S * mel.sr)):] = 0.0
    return clip


def transcribe_file(path: str | os.PathLike, model: OnnxClassifier, config: StreamConfig, *,
                    with_probabilities: bool = False, progress: bool | None = None) -> Iterator[Event]:
    """Transcribe a recording window by window, yielding events in time order.

    Parameters
    ----------
    path : str or path
        Any format soundfile reads; mixed to mono, resampled to the model's rate.
    model : OnnxClassifier
        The exported classifier; its stored feature config defines the clips.
    config : StreamConfig
        Windowing, onset and reporting settings.
    with_probabilities : bool
        Attach every class's probability to each event.
    progress : bool, optional
        A progress bar on stderr; by default only for recordings longer than 30 s.

    Yields
    ------
    Event
        Silent audio yields nothing; audio shorter than a window is one window.

    Raises
    ------
    InputError
        For a missing, unreadable or empty file, or NaN samples.
    """
    path = str(path)
    mel: MelConfig = model.mel
    sr = mel.sr
    reader = BlockReader(path, sr=sr)
    onset_fn = OnsetFunction(sr)
    hop = onset_fn.hop
    peak_frames = max(1, int(round(config.min_gap_ms / 1000 * sr / hop)))
    average_frames = max(1, int(round(0.1 * sr / hop)))
    context = peak_frames + average_frames + 1  # frames either side a decision looks at
    windows = plan_windows(reader.n_samples, sr=sr, window_s=config.window_ms / 1000, hop_s=config.hop_ms / 1000)
    if progress is None:
        progress = reader.n_samples > 30 * sr
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(windows), desc=f"transcribe {os.path.basename(path)}", unit="window",
                   mininterval=2.0, file=sys.stderr)
    # Frames g_first..g_first+len(strength)-1 of the global grid computed so far.
    strength = np.zeros(0, np.float32)
    level = np.zeros(0, np.float32)
    g_first = -context
    g_next = g_first
    last_time = -math.inf
    try:
        for w in windows:
            # Frames from the owned span (minus decision context) to the window's end: onsets past the
            # owned span are the look-ahead that tells where the next stroke cuts a clip.
            g_lo = (w.owned_start - onset_fn.latency) // hop - context
            g_hi = -(-(max(w.end, w.owned_end) - onset_fn.latency) // hop) + context
            if g_hi > g_next:
                s, lv = onset_fn.frames(reader.get((g_next - 1) * hop, (g_hi - 1) * hop + onset_fn.n_fft))
                strength, level = np.concatenate([strength, s]), np.concatenate([level, lv])
                g_next = g_hi
            # Forget frames no later window needs (keeps memory to about one window).
            drop = max(0, g_lo - g_first)
            strength, level, g_first = strength[drop:], level[drop:], g_first + drop
            peaks = pick_onsets(strength, level, threshold=config.onset_threshold, silence_db=config.silence_db,
                                peak_frames=peak_frames, average_frames=average_frames)
            # Only frames with their whole decision context computed: later windows decide them alike.
            peaks = peaks[g_first + peaks <= g_next - context]
            found = (g_first + peaks) * hop + onset_fn.latency
            onsets, cuts = [], []
            for i, sample in enumerate(found):
                if w.owned_start <= sample < w.owned_end and sample / sr - last_time >= config.min_gap_ms / 1000:
                    onsets.append(int(sample))
                    cuts.append(int(found[i + 1]) if config.mask_next_onset and i + 1 < found.size else None)
                    last_time = sample / sr
            if onsets:
                clips = np.stack([_clip(reader, s, nxt, mel) for s, nxt in zip(onsets, cuts)])
                probs = softmax(model.logits(log_mel_batch(clips, mel)[:, None]))
                for s, p in zip(onsets, probs):
                    yield from _events_of(s / sr, p, model.classes, config, with_probabilities)
            reader.release(min(w.owned_end - mel.pre_onset_samples, (g_next - 1) * hop))
            if bar is not None:
                bar.update(1)
    finally:
        reader.close()
        if bar is not None:
            bar.close()


def write_events_jsonl(events: Iterator[Event], out: str | os.PathLike) -> int:
    """Write events as JSONL atomically (nothing appears if transcription fails); returns the count."""
    count = 0
    with atomic_path(out) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event.to_json(), sort_keys=True) + "\n")
            count += 1
    return count


def method_of(model_path: str | os.PathLike, default: str) -> str:
    """``frames`` or ``onsets``: which method an exported model serves, from its metadata; ``default`` when
    the file cannot be read (loading it then reports why)."""
    import onnx

    try:
        proto = onnx.load(str(model_path), load_external_data=False)
    except Exception:  # missing or not ONNX: the loader's error names the file
        return default
    from musicml.drums.frame_transcription import METADATA_FRAMES

    return "frames" if any(p.key == METADATA_FRAMES for p in proto.metadata_props) else "onsets"


def load_transcriber(config: StreamConfig, model_path: str | os.PathLike | None = None, *,
                     threads: int | None = None):
    """The model ``config.method`` runs: a :class:`~musicml.drums.frame_transcription.FrameTranscriber`
    (``frames``) or an :class:`OnnxClassifier` (``onsets``); ``model_path`` defaults to :data:`METHODS`."""
    path = model_path if model_path is not None else METHODS[config.method]
    if config.method == "frames":
        from musicml.drums.frame_transcription import FrameTranscriber

        return FrameTranscriber.load(path, threads=threads)
    return OnnxClassifier.load(path, threads=threads)


def transcribe(path: str | os.PathLike, model, config: StreamConfig, *, with_probabilities: bool = False,
               progress: bool | None = None) -> Iterator[Event]:
    """Transcribe with whichever model :func:`load_transcriber` gave (same windows, same events)."""
    if isinstance(model, OnnxClassifier):
        return transcribe_file(path, model, config, with_probabilities=with_probabilities, progress=progress)
    from musicml.drums.frame_transcription import transcribe_frames

    if with_probabilities:
        raise ConfigError("--probabilities applies to the onsets method only (the frame transcriber reports "
                          "each class's activation as its confidence)")
    return transcribe_frames(path, model, window_ms=config.window_ms, hop_ms=config.hop_ms, progress=progress)
