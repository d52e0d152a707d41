"""Log-mel features of drum hits and their memory-mapped store.

Pure NumPy/librosa (no torch), so torch-free inference reuses exactly the same
transform as training.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

import librosa
import numpy as np
import pandas as pd
import scipy.fft

from musicml.atomic import atomic_path
from musicml.audio import check_onset, load_audio, segment

FEATURES_FILE = "features.npy"
INDEX_FILE = "index.parquet"


@dataclass(frozen=True)
class MelConfig:
    """How a hit becomes an ``(n_mels, n_frames)`` log-mel image."""

    sr: int = 22050
    n_mels: int = 128
    n_frames: int = 128
    n_fft: int = 1024
    hop_length: int = 128
    fmin: float = 20.0
    pre_onset_s: float = 0.01

    @property
    def clip_samples(self) -> int:
        """Samples per clip: exactly ``n_frames`` STFT frames with ``center=False``."""
        return (self.n_frames - 1) * self.hop_length + self.n_fft

    @property
    def pre_onset_samples(self) -> int:
        return int(round(self.pre_onset_s * self.sr))

    def to_dict(self) -> dict:
        return asdict(self)


def cut_clip(audio: np.ndarray, onset_s: float, config: MelConfig) -> np.ndarray:
    """The clip of ``config.clip_samples`` samples starting ``pre_onset_s`` before the onset.

    Parts outside the audio are zero-padded.
    """
    return segment(audio, int(round(onset_s * config.sr)) - config.pre_onset_samples, config.clip_samples)


def log_mel(clip: np.ndarray, config: MelConfig) -> np.ndarray:
    """Level-invariant log-mel image of one clip, values in [0, 1].

    The dB scale is relative to the clip's own peak (80 dB range), so the model
    sees timbre, not recording level: the same hit recorded louder gives the same image.

    Returns
    -------
    ndarray, shape (n_mels, n_frames), float32
    """
    mel = librosa.feature.melspectrogram(
        y=clip, sr=config.sr, n_fft=config.n_fft, hop_length=config.hop_length,
        n_mels=config.n_mels, fmin=config.fmin, center=False, power=2.0,
    )
    if not np.any(mel > 0):
        return np.zeros((config.n_mels, config.n_frames), dtype=np.float32)
    db = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
    return ((db + 80.0) / 80.0).astype(np.float32)


@lru_cache(maxsize=8)
def _stft_kernels(config: MelConfig) -> tuple[np.ndarray, np.ndarray]:
    """The periodic Hann window and mel basis librosa uses for ``config`` (built once: building costs ms)."""
    window = librosa.filters.get_window("hann", config.n_fft, fftbins=True).astype(np.float32)
    basis = librosa.filters.mel(sr=config.sr, n_fft=config.n_fft, n_mels=config.n_mels, fmin=config.fmin)
    return window, basis.astype(np.float32)


def log_mel_batch(clips: np.ndarray, config: MelConfig) -> np.ndarray:
    """:func:`log_mel` of many clips at once, for streaming inference.

    The same STFT (periodic Hann, ``center=False``), mel basis and per-clip
    peak-relative dB scale as :func:`log_mel`, computed as batched matrix
    products; results agree with :func:`log_mel` to float32 rounding.

    Parameters
    ----------
    clips : ndarray, shape (n_clips, config.clip_samples)

    Returns
    -------
    ndarray, shape (n_clips, n_mels, n_frames), float32
    """
    clips = np.asarray(clips, dtype=np.float32)
    if clips.shape[0] == 0:
        return np.zeros((0, config.n_mels, config.n_frames), dtype=np.float32)
    window, basis = _stft_kernels(config)
    frames = np.lib.stride_tricks.sliding_window_view(clips, config.n_fft, axis=1)[:, ::config.hop_length]
    frames = frames[:, :config.n_frames]
    spec = scipy.fft.rfft(frames * window, axis=2)  # (n, n_frames, n_fft // 2 + 1), complex64
    power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
    # One (n * n_frames, bins) x (bins, n_mels) product: a single BLAS call, then (n, n_mels, n_frames).
    mel = (power.reshape(-1, power.shape[2]) @ basis.T).reshape(clips.shape[0], config.n_frames, config.n_mels)
    mel = mel.transpose(0, 2, 1)
    peak = mel.max(axis=(1, 2), keepdims=True)
    # power_to_db(ref=np.max, top_db=80) per clip, then the [0, 1] scale of log_mel.
    db = 10.0 * np.log10(np.maximum(mel, 1e-10)) - 10.0 * np.log10(np.maximum(peak, 1e-10))
    out = ((np.maximum(db, -80.0) + 80.0) / 80.0).astype(np.float32)
    out[peak[:, 0, 0] <= 0] = 0.0  # silent clips: as log_mel, an all-zero image
    return out


def iter_event_features(
    events: pd.DataFrame, config: MelConfig, *, loader: Callable[[str], np.ndarray] | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(row position, log-mel)`` for every event, reading each audio file once.

    Events are grouped by ``audio_path``, so a session file holding hundreds of
    hits is decoded a single time.
    """
    load = loader or (lambda p: load_audio(p, sr=config.sr))
    positions = np.arange(len(events))
    for path, group in events.assign(_pos=positions).groupby("audio_path", sort=True):
        audio = load(path)
        duration = audio.shape[0] / config.sr
        for pos, onset, event_id in zip(group["_pos"], group["onset_s"], group["event_id"]):
            check_onset(float(onset), duration, path=str(path), event_id=str(event_id))
            yield int(pos), log_mel(cut_clip(audio, float(onset), config), config)


def extract_to_store(
    events: pd.DataFrame, out_dir: str | os.PathLike, config: MelConfig, *, progress: bool = False
) -> None:
    """Compute features of ``events`` into ``out_dir`` (``features.npy`` + ``index.parquet``).

    ``features.npy`` is a ``(n_events, 1, n_mels, n_frames)`` float32 array written
    through a memory map, so memory stays flat however many events there are.
    Row ``i`` belongs to ``index.parquet`` row ``i`` (the events, in the given order).
    The directory appears atomically.
    """
    events = events.reset_index(drop=True)
    shape = (len(events), 1, config.n_mels, config.n_frames)
    with atomic_path(out_dir, is_dir=True) as tmp:
        store = np.lib.format.open_memmap(tmp / FEATURES_FILE, mode="w+", dtype=np.float32, shape=shape)
        iterator = iter_event_features(events, config)
        if progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, total=len(events), desc="features", unit="hit", mininterval=2.0)
        for pos, image in iterator:
            store[pos, 0] = image
        store.flush()
        del store
        events.to_parquet(tmp / INDEX_FILE, index=False)


def open_store(store_dir: str | os.PathLike) -> tuple[np.ndarray, pd.DataFrame]:
    """Open a feature store read-only: ``(features memmap, index frame)``."""
    store_dir = Path(store_dir)
    features = np.load(store_dir / FEATURES_FILE, mmap_mode="r")
    index = pd.read_parquet(store_dir / INDEX_FILE)
    return features, index
