"""Log-mel features of drum hits and their memory-mapped store.

Pure NumPy/librosa (no torch), so torch-free inference reuses exactly the same
transform as training.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import librosa
import numpy as np
import pandas as pd
import scipy.fft

from musicml.atomic import atomic_path
from musicml.audio import check_onset, load_audio, segment
from musicml.errors import ConfigError
from musicml.parallel import check_workers, process_map

FEATURES_FILE = "features.npy"
#: Keys of the ``features`` params section that are not the log-mel transform: how the store is
#: computed (``workers``, never what it holds) and how it is stored (``dtype``).
RUN_KEYS = ("workers", "dtype")
INDEX_FILE = "index.parquet"
#: Store dtypes (``features.dtype``). float16 halves the store (7.4 M hits: 485 GB -> 243 GB); the
#: images lie in [0, 1], where float16 keeps 11 significant bits (at most 2.4e-4 off).
STORE_DTYPES = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2")}


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

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "MelConfig":
        """From the ``features`` params section, leaving out the store's knobs (:data:`RUN_KEYS`)."""
        return cls(**{k: v for k, v in params.items() if k not in RUN_KEYS})


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
        images = file_features(load(path), group["onset_s"], group["event_id"], config, path=str(path))
        yield from zip((int(p) for p in group["_pos"]), images)


def file_features(
    audio: np.ndarray, onsets: Iterable[float], event_ids: Iterable[str], config: MelConfig, *, path: str
) -> Iterator[np.ndarray]:
    """Log-mels of the hits at ``onsets`` in one decoded file; an onset outside the audio raises InputError."""
    duration = audio.shape[0] / config.sr
    for onset, event_id in zip(onsets, event_ids):
        check_onset(float(onset), duration, path=path, event_id=str(event_id))
        yield log_mel(cut_clip(audio, float(onset), config), config)


def extract_to_store(
    events: pd.DataFrame, out_dir: str | os.PathLike, config: MelConfig, *, workers: int = 1,
    dtype: str = "float32", progress: bool = False,
) -> None:
    """Compute features of ``events`` into ``out_dir`` (``features.npy`` + ``index.parquet``).

    ``features.npy`` is a ``(n_events, 1, n_mels, n_frames)`` array of ``dtype``
    (:data:`STORE_DTYPES`); readers convert the rows they take to float32.
    Every clip is written to its row of the file as soon as it is computed
    (``os.pwrite`` at the row's offset), so memory stays flat however many
    events there are: no clip is kept, and no mapped page stays resident.
    Row ``i`` belongs to ``index.parquet`` row ``i`` (the events, in the given order).
    The directory appears atomically.

    Parameters
    ----------
    workers : int
        Processes computing features, one audio file at a time each. Every row
        is computed by the same code whichever process runs it, so the store is
        byte-identical for any number of workers.
    """
    check_workers(workers, "features.workers")
    if dtype not in STORE_DTYPES:
        raise ConfigError(f"features.dtype must be one of {sorted(STORE_DTYPES)}, got {dtype!r}")
    store_dtype = STORE_DTYPES[dtype]
    events = events.reset_index(drop=True)
    shape = (len(events), 1, config.n_mels, config.n_frames)
    with atomic_path(out_dir, is_dir=True) as tmp:
        # open_memmap writes the .npy header and sizes the (sparse) file; rows are filled below.
        store = np.lib.format.open_memmap(tmp / FEATURES_FILE, mode="w+", dtype=store_dtype, shape=shape)
        layout = _StoreLayout(str(tmp / FEATURES_FILE), int(store.offset),
                              int(np.prod(shape[1:])) * store_dtype.itemsize, store_dtype.str)
        del store
        tasks = _file_tasks(events)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(events), desc="features", unit="hit", mininterval=2.0)
        try:
            for count in process_map(_extract_file, tasks, workers=workers, initializer=_init_writer,
                                     initargs=(layout, config)):
                bar is not None and bar.update(count)
        finally:
            _close_writer()  # this process's descriptor, where it wrote the rows itself
        if bar is not None:
            bar.close()
        events.to_parquet(tmp / INDEX_FILE, index=False)


@dataclass(frozen=True)
class _StoreLayout:
    """Where row ``i`` of the store lives: ``offset + i * row_bytes`` in ``path``, as ``dtype``."""

    path: str
    offset: int
    row_bytes: int
    dtype: str = "<f4"


@dataclass(frozen=True)
class _FileTask:
    """The hits of one audio file: their store rows, onsets and ids."""

    audio_path: str
    rows: np.ndarray
    onsets: np.ndarray
    event_ids: list[str]


def _file_tasks(events: pd.DataFrame) -> list[_FileTask]:
    """One task per audio file (sorted by path), so each file is decoded once, by one process."""
    codes, paths = pd.factorize(events["audio_path"].astype(str), sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(codes, minlength=len(paths)))]
    onsets = events["onset_s"].to_numpy(dtype=np.float64)
    ids = events["event_id"].astype(str).to_numpy()
    return [_FileTask(str(path), order[a:b], onsets[order[a:b]], ids[order[a:b]].tolist())
            for path, a, b in zip(paths, bounds[:-1], bounds[1:])]


# Per-process writer state: the store's file descriptor and the mel settings.
_WRITER: dict = {}


def _init_writer(layout: _StoreLayout, config: MelConfig) -> None:
    _WRITER.update(fd=os.open(layout.path, os.O_WRONLY), layout=layout, config=config)


def _close_writer() -> None:
    fd = _WRITER.pop("fd", None)
    if fd is not None:
        os.close(fd)


def _extract_file(task: _FileTask) -> int:
    """Compute and write the log-mels of one file's hits; returns how many."""
    fd, layout, config = _WRITER["fd"], _WRITER["layout"], _WRITER["config"]
    audio = load_audio(task.audio_path, sr=config.sr)
    images = file_features(audio, task.onsets, task.event_ids, config, path=task.audio_path)
    for row, image in zip(task.rows, images):
        os.pwrite(fd, np.ascontiguousarray(image, dtype=layout.dtype).tobytes(),
                  layout.offset + int(row) * layout.row_bytes)
    return len(task.rows)


def open_store(store_dir: str | os.PathLike) -> tuple[np.ndarray, pd.DataFrame]:
    """Open a feature store read-only: ``(features memmap, index frame)``."""
    store_dir = Path(store_dir)
    features = np.load(store_dir / FEATURES_FILE, mmap_mode="r")
    index = pd.read_parquet(store_dir / INDEX_FILE)
    return features, index
