"""Frame-level drum transcription without torch: log-mel frames, onset targets, windows, peak picking.

The frame transcriber (ADTOF / madmom CRNN style) sees a recording as a
sequence of log-mel frames (about 100 per second) and outputs, for every frame
and every class, the probability that a stroke of that class starts there.
This module holds everything around the network that training and serving
share, in NumPy only, so ``musicml transcribe`` needs onnxruntime and not torch:

* :class:`FrameConfig`, :func:`mel_power`, :func:`compress`, :func:`padded_log_mel`: the frames.
  Frame ``g`` is centred on sample ``g * hop_length``, so any span of frames
  can be computed from the samples around it and equals the same frames of
  the whole file (what makes window-by-window streaming exact).
* :func:`onset_targets`: per-class onset activations from labelled events.
* :func:`frame_windows`: the seed's streaming windows (2048 ms every 512 ms)
  in frames, each owning the frames of its middle hop.
* :func:`pick_peaks`, :class:`StreamingPeaks`, :func:`choose_thresholds`:
  activations to events, and the per-class thresholds chosen on validation takes.
* :class:`FrameTranscriber` and :func:`transcribe_frames`: the exported
  network (onnxruntime) streamed over a recording.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from typing import Iterator, Mapping, Sequence

import numpy as np
import scipy.fft

from musicml.drums.boundary import match_onsets, onset_scores
from musicml.drums.transcribe import BlockReader, Event, plan_windows
from musicml.errors import ConfigError, InputError
from musicml.features import MelConfig, _stft_kernels

#: log-mel floor: power below this (about -100 dB re full scale) is silence.
_FLOOR = 1e-10


@dataclass(frozen=True)
class FrameConfig:
    """How audio becomes log-mel frames for the frame transcriber.

    Attributes
    ----------
    sr : int
        Sample rate the audio is resampled to.
    n_fft, hop_length : int
        STFT size and hop (220 samples at 22,050 Hz: 100.2 frames per second).
    n_mels : int
        Mel bands.
    fmin : float
        Lowest mel frequency (Hz).
    """

    sr: int = 22050
    n_fft: int = 2048
    hop_length: int = 220
    n_mels: int = 80
    fmin: float = 30.0

    def __post_init__(self) -> None:
        for name in ("sr", "n_fft", "hop_length", "n_mels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ConfigError(f"transcriber.frames.{name} must be an integer > 0, got {value!r}")
        if not 0 <= self.fmin < self.sr / 2:
            raise ConfigError(f"transcriber.frames.fmin must be in [0, sr/2), got {self.fmin!r}")

    @property
    def fps(self) -> float:
        return self.sr / self.hop_length

    def to_dict(self) -> dict:
        return asdict(self)

    def _mel(self) -> MelConfig:
        # The classifier's STFT kernels (periodic Hann, librosa's mel basis), built once per config.
        return MelConfig(sr=self.sr, n_mels=self.n_mels, n_fft=self.n_fft, hop_length=self.hop_length,
                         fmin=self.fmin)

    def span(self, first: int, count: int) -> tuple[int, int]:
        """Sample range ``[a, b)`` that frames ``first .. first + count - 1`` are computed from."""
        a = first * self.hop_length - self.n_fft // 2
        return a, a + (count - 1) * self.hop_length + self.n_fft

    def frames_of(self, n_samples: int) -> int:
        """Frames of a recording of ``n_samples``: one per hop that starts inside it."""
        return max(1, -(-n_samples // self.hop_length))


def mel_power(samples: np.ndarray, config: FrameConfig) -> np.ndarray:
    """Mel power of the frames of ``samples`` (as cut by :meth:`FrameConfig.span`).

    Returns
    -------
    ndarray, shape (n_frames, n_mels), float32
        ``n_frames = (len(samples) - n_fft) // hop_length + 1``.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if samples.size < config.n_fft:
        return np.zeros((0, config.n_mels), np.float32)
    window, basis = _stft_kernels(config._mel())
    frames = np.lib.stride_tricks.sliding_window_view(samples, config.n_fft)[::config.hop_length]
    spec = scipy.fft.rfft(frames * window, axis=1)
    power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
    return (power @ basis.T).astype(np.float32)


def compress(power: np.ndarray) -> np.ndarray:
    """Log compression of mel power to roughly [0, 1]: 0 at -100 dB, 1 at 0 dB re full scale.

    A fixed reference (not the window's peak), so a quiet hit stays quiet next
    to a loud one; training varies the gain so the network copes with levels.
    """
    return ((10.0 * np.log10(np.maximum(power, _FLOOR)) + 100.0) / 100.0).astype(np.float32)


def onset_targets(onsets: Sequence[float], labels: Sequence[Sequence[str]], classes: Sequence[str], *,
                  n_frames: int, fps: float, widen: float = 0.5) -> np.ndarray:
    """Per-class onset activations of labelled events.

    Parameters
    ----------
    onsets : sequence of float
        Event times (s).
    labels : sequence of sequence of str
        Every event's labels (primary plus extra labels: two cymbals at once are
        two targets); labels outside ``classes`` (e.g. ``unknown``) are ignored.
    classes : sequence of str
        Output classes, in column order.
    n_frames : int
        Length of the target.
    fps : float
        Frames per second; an onset lands on the nearest frame.
    widen : float
        Target of the frames either side of an onset (0 = none): softer targets
        there tolerate the quantisation of the onset to frames.

    Returns
    -------
    ndarray, shape (n_frames, len(classes)), float32
    """
    column = {c: i for i, c in enumerate(classes)}
    target = np.zeros((n_frames, len(classes)), np.float32)
    for onset, names in zip(onsets, labels):
        g = int(round(float(onset) * fps))
        for name in names:
            c = column.get(name)
            if c is None or not 0 <= g < n_frames:
                continue
            for d in (-1, 1):
                if 0 <= g + d < n_frames:
                    target[g + d, c] = max(target[g + d, c], widen)
            target[g, c] = 1.0
    return target


@dataclass(frozen=True)
class FrameWindow:
    """One streaming window in frames: ``count`` frames from ``first``; it reports ``[owned_lo, owned_hi)``."""

    first: int
    count: int
    owned_lo: int
    owned_hi: int


def frame_windows(n_samples: int, config: FrameConfig, *, window_s: float, hop_s: float) -> list[FrameWindow]:
    """The windows of :func:`musicml.drums.transcribe.plan_windows` on the frame grid.

    Every window has the same number of frames (the network sees equal inputs);
    their owned frame spans tile ``[0, frames_of(n_samples))``.
    """
    hop = config.hop_length
    count = int(round(window_s * config.sr / hop))
    n = config.frames_of(n_samples)
    out = []
    for w in plan_windows(n_samples, sr=config.sr, window_s=window_s, hop_s=hop_s):
        first = int(round(w.start / hop))
        lo = 0 if w.owned_start == 0 else -(-w.owned_start // hop)
        hi = n if w.owned_end >= n_samples else -(-w.owned_end // hop)
        out.append(FrameWindow(first, count, min(lo, n), min(max(lo, hi), n)))
    return out


def _is_peak(act: np.ndarray, before: np.ndarray, after: np.ndarray, radius: int) -> np.ndarray:
    """Frames of ``act`` (T, C) that are the first maximum within ``radius`` frames either side."""
    full = np.concatenate([before, act, after])
    windows = np.lib.stride_tricks.sliding_window_view(full, 2 * radius + 1, axis=0)  # (T, C, 2r+1)
    prev = full[radius - 1:radius - 1 + act.shape[0]]
    return (act >= windows.max(axis=2)) & (act > prev)


def pick_peaks(activations: np.ndarray, thresholds: np.ndarray, *, radius: int) -> list[tuple[int, int, float]]:
    """Onsets in per-class activations: local maxima at or above the class's threshold.

    A frame is an onset of class ``c`` when its activation is at least
    ``thresholds[c]``, the largest within ``radius`` frames either side, and
    above the frame before (a flat top reports its first frame).

    Returns
    -------
    list of (frame, class index, activation), in frame then class order.
    """
    act = np.asarray(activations, dtype=np.float32)
    if act.shape[0] == 0:
        return []
    pad = np.full((radius, act.shape[1]), -1.0, np.float32)
    keep = _is_peak(act, pad, pad, radius) & (act >= np.asarray(thresholds, np.float32)[None, :])
    frames, classes = np.nonzero(keep)
    return [(int(g), int(c), float(act[g, c])) for g, c in zip(frames, classes)]


class StreamingPeaks:
    """:func:`pick_peaks` over activations that arrive block by block; same results as on the whole.

    A frame's decision needs ``radius`` frames after it, so each :meth:`push`
    reports the peaks it can decide and keeps ``2 * radius`` frames back.
    """

    def __init__(self, thresholds: np.ndarray, *, radius: int):
        self.thresholds = np.asarray(thresholds, np.float32)
        self.radius = radius
        self._buf = np.full((radius, self.thresholds.size), -1.0, np.float32)  # frames before 0: none
        self._start = -radius  # frame index of _buf[0]

    def push(self, block: np.ndarray) -> list[tuple[int, int, float]]:
        """Append the next frames' activations; returns the peaks decided so far (not yet reported)."""
        self._buf = np.concatenate([self._buf, np.asarray(block, np.float32)])
        return self._decide(final=False)

    def flush(self) -> list[tuple[int, int, float]]:
        """The peaks of the last frames (the recording has ended)."""
        self._buf = np.concatenate([self._buf, np.full((self.radius, self.thresholds.size), -1.0, np.float32)])
        return self._decide(final=True)

    def _decide(self, *, final: bool) -> list[tuple[int, int, float]]:
        r = self.radius
        n = self._buf.shape[0] - 2 * r  # frames with r frames known on both sides
        if n <= 0:
            return []
        act = self._buf[r:r + n]
        keep = _is_peak(act, self._buf[:r], self._buf[r + n:r + n + r], r) & (act >= self.thresholds[None, :])
        frames, classes = np.nonzero(keep)
        base = self._start + r
        out = [(int(base + g), int(c), float(act[g, c])) for g, c in zip(frames, classes)]
        self._buf = self._buf[n:]
        self._start += n
        return out


def peak_radius(min_gap_ms: float, config: FrameConfig) -> int:
    """Frames either side a peak must dominate: strokes of one class closer than ``min_gap_ms`` are one."""
    return max(1, int(round(min_gap_ms / 1000 * config.fps)))


def class_scores(activations: Mapping[str, np.ndarray], references: Mapping[str, Sequence[tuple[float, int]]], *,
                 thresholds: np.ndarray, radius: int, fps: float, tolerance_s: float,
                 n_classes: int) -> list[dict]:
    """Per-class onset precision / recall / F over takes (mir_eval matching within ``tolerance_s``).

    ``activations`` maps a take to its ``(T, C)`` activations; ``references``
    maps it to ``(onset_s, class index)`` pairs.
    """
    counts = np.zeros((n_classes, 3), np.int64)  # references, estimates, matched
    for take, act in activations.items():
        peaks = pick_peaks(act, thresholds, radius=radius)
        refs = references.get(take, [])
        for c in range(n_classes):
            r = [t for t, k in refs if k == c]
            e = [g / fps for g, k, _ in peaks if k == c]
            counts[c] += (len(r), len(e), len(match_onsets(r, e, tolerance_s=tolerance_s)))
    return [{**onset_scores(*map(int, row)), "references": int(row[0]), "estimates": int(row[1]),
             "matched": int(row[2])} for row in counts]


def f_beta(precision: float, recall: float, beta: float) -> float:
    """The F-beta measure (beta = 1: F-measure); 0 when precision and recall are."""
    denominator = beta ** 2 * precision + recall
    return 0.0 if denominator == 0 else (1 + beta ** 2) * precision * recall / denominator


def choose_thresholds(activations: Mapping[str, np.ndarray], references: Mapping[str, Sequence[tuple[float, int]]],
                      *, grid: Sequence[float], radius: int, fps: float, tolerance_s: float, n_classes: int,
                      beta: float = 1.0, default: float = 0.5) -> tuple[np.ndarray, list[dict]]:
    """Per-class peak-picking thresholds that maximise onset F-beta on the given (validation) takes.

    ``beta`` > 1 weighs recall ``beta`` times as much as precision (the
    boundary gate is a recall gate). Ties go to the lower threshold (more
    recall). A class without references keeps ``default``.

    Returns
    -------
    thresholds : ndarray, shape (n_classes,)
    scores : list of dict
        :func:`class_scores` per class at the chosen threshold.
    """
    best = np.full(n_classes, default, np.float64)
    best_f = np.full(n_classes, -1.0)
    for value in sorted(grid):
        scores = class_scores(activations, references, thresholds=np.full(n_classes, value, np.float32),
                              radius=radius, fps=fps, tolerance_s=tolerance_s, n_classes=n_classes)
        for c, s in enumerate(scores):
            f = f_beta(s["precision"], s["recall"], beta)
            if s["references"] and f > best_f[c] + 1e-12:
                best[c], best_f[c] = value, f
    return best, class_scores(activations, references, thresholds=best, radius=radius, fps=fps,
                              tolerance_s=tolerance_s, n_classes=n_classes)


def stitch(outputs: np.ndarray, windows: Sequence[FrameWindow], n_frames: int) -> np.ndarray:
    """The recording's activations from per-window outputs ``(n_windows, count, C)``: each frame from
    the window that owns it."""
    out = np.zeros((n_frames, outputs.shape[2]), np.float32)
    for k, w in enumerate(windows):
        out[w.owned_lo:w.owned_hi] = outputs[k, w.owned_lo - w.first:w.owned_hi - w.first]
    return out


def silence_value() -> float:
    """The compressed value of silent frames (what frames outside a recording hold)."""
    return float(compress(np.zeros(1, np.float32))[0])


def padded_log_mel(audio: np.ndarray, config: FrameConfig, *, pad: int) -> np.ndarray:
    """Compressed log-mel frames ``-pad .. frames_of(n) + pad - 1`` of a recording (zeros around it).

    Exactly the frames streaming computes for any window reaching up to ``pad``
    frames outside the recording, so training crops and served windows agree.

    Returns
    -------
    ndarray, shape (frames_of(n) + 2 * pad, n_mels), float32
    """
    return compress(padded_mel_power(audio, config, pad=pad))


def padded_mel_power(audio: np.ndarray, config: FrameConfig, *, pad: int) -> np.ndarray:
    """:func:`padded_log_mel` before compression (mel power), for augmentation in the power domain."""
    n = config.frames_of(audio.size)
    a, b = config.span(-pad, n + 2 * pad)
    padded = np.zeros(b - a, np.float32)
    padded[-a:-a + audio.size] = audio
    return mel_power(padded, config)


# --- serving: the exported network and window-by-window transcription (onnxruntime only) ---------------

METADATA_CLASSES = "musicml.classes"
METADATA_FRAMES = "musicml.frames"
#: ``{"thresholds": {class: t}, "min_gap_ms": g}``: how activations become events (chosen on validation takes).
METADATA_PEAKS = "musicml.peaks"


@dataclass
class FrameTranscriber:
    """An onnxruntime session of the exported frame transcriber and the metadata it carries."""

    session: object
    classes: list[str]
    frames: FrameConfig
    thresholds: np.ndarray
    min_gap_ms: float

    @classmethod
    def load(cls, path: str | os.PathLike, *, threads: int | None = None) -> "FrameTranscriber":
        """Open an exported transcriber; ``threads`` caps onnxruntime's intra-op threads (default: all cores)."""
        from musicml.inference import open_session

        path = str(path)
        session = open_session(path, threads=threads)
        meta = session.get_modelmeta().custom_metadata_map
        missing = [k for k in (METADATA_CLASSES, METADATA_FRAMES, METADATA_PEAKS) if k not in meta]
        if missing:
            raise InputError(path, f"not a musicml frame transcriber: metadata {missing} missing "
                                   f"(a one-shot classifier takes --method onsets)")
        classes = json.loads(meta[METADATA_CLASSES])
        peaks = json.loads(meta[METADATA_PEAKS])
        thresholds = np.array([peaks["thresholds"][c] for c in classes], np.float32)
        return cls(session, classes, FrameConfig(**json.loads(meta[METADATA_FRAMES])), thresholds,
                   float(peaks["min_gap_ms"]))

    def activations(self, log_mel: np.ndarray) -> np.ndarray:
        """Onset probabilities ``(batch, frames, classes)`` of ``(batch, frames, n_mels)`` compressed log-mel."""
        return self.session.run(["activations"], {"log_mel": np.asarray(log_mel, dtype=np.float32)})[0]


def transcribe_frames(path: str | os.PathLike, model: FrameTranscriber, *, window_ms: float, hop_ms: float,
                      progress: bool | None = None) -> Iterator[Event]:
    """Transcribe a recording with the frame transcriber, window by window, yielding events in time order.

    Each window (``window_ms`` every ``hop_ms``) is read, turned into log-mel
    frames and run through the network; only the frames of its middle hop (its
    owned span) are kept, so every frame's activation comes from a window that
    sees at least ``(window_ms - hop_ms) / 2`` of context either side. Peaks
    are picked on the stitched activations as they arrive, with the per-class
    thresholds stored in the model; the recording is never held whole.

    Yields
    ------
    Event
        ``time_s`` (the onset frame's centre), ``label``, ``confidence`` (the
        activation); strokes of several classes at one time are several events.
        Silent audio yields nothing.

    Raises
    ------
    InputError
        For a missing, unreadable or empty file, or NaN samples.
    """
    path = str(path)
    cfg = model.frames
    reader = BlockReader(path, sr=cfg.sr)
    windows = frame_windows(reader.n_samples, cfg, window_s=window_ms / 1000, hop_s=hop_ms / 1000)
    picker = StreamingPeaks(model.thresholds, radius=peak_radius(model.min_gap_ms, cfg))
    if progress is None:
        progress = reader.n_samples > 30 * cfg.sr
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(windows), desc=f"transcribe {os.path.basename(path)}", unit="window",
                   mininterval=2.0, file=sys.stderr)

    def events(peaks: list[tuple[int, int, float]]) -> Iterator[Event]:
        for g, c, value in peaks:
            yield Event(round(g / cfg.fps, 4), model.classes[c], round(value, 6))

    try:
        for k, w in enumerate(windows):
            a, b = cfg.span(w.first, w.count)
            act = model.activations(compress(mel_power(reader.get(a, b), cfg))[None])[0]
            yield from events(picker.push(act[w.owned_lo - w.first:w.owned_hi - w.first]))
            if k + 1 < len(windows):
                reader.release(cfg.span(windows[k + 1].first, 1)[0])
            if bar is not None:
                bar.update(1)
        yield from events(picker.flush())
    finally:
        reader.close()
        if bar is not None:
            bar.close()
