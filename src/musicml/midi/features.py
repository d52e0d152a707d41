"""Feature tables of the MIDI datasets (``midi_features``).

One ``<dataset>.npz`` per dataset (``X`` float32 of shape (n_samples,
n_features), ``names``, ``sample_ids``) and a ``<dataset>.parquet`` index
holding, row for row, the sample's identity, split, whether it is an
augmented copy, its labels, and ``chord_sequence``: the chords measured in
the file, one per bar (JSON list of names; a sequence does not fit a
fixed-length row, and it stays comparable with the ``chord_progression``
label, which may come from the generator or a person). MIDI features come from
:func:`musicml.midi.analysis.feature_vector`; audio datasets add log-mel,
MFCC and chroma means and standard deviations of the rendered audio.
"""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from musicml.atomic import atomic_path
from musicml.audio import load_audio
from musicml.errors import InputError
from musicml.midi.analysis import analyse, feature_names, feature_vector, load_midi
from musicml.midi.synth import render_audio
from musicml.parallel import check_workers, process_map


def audio_feature_names(*, n_mels: int, n_mfcc: int) -> list[str]:
    names = []
    for block, size in (("logmel", n_mels), ("mfcc", n_mfcc), ("chroma", 12)):
        names += [f"{block}_{stat}_{i}" for stat in ("mean", "std") for i in range(size)]
    return names


def audio_features(y: np.ndarray, *, sr: int, n_mels: int, n_mfcc: int, hop_length: int = 512) -> np.ndarray:
    """Means and standard deviations over time of log-mel, MFCC and chroma (see :func:`audio_feature_names`)."""
    import librosa

    if y.size < 2048:
        y = np.pad(y, (0, 2048 - y.size))
    # One power spectrogram feeds mel, MFCC and chroma (a second STFT would double the cost).
    power = np.abs(librosa.stft(y, n_fft=2048, hop_length=hop_length)) ** 2
    logmel = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr, n_mels=n_mels), ref=1.0)
    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=n_mfcc)
    # Tuning is known (rendered at A440); estimating it would cost more than the rest together.
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, tuning=0.0)
    parts = []
    for block in (logmel, mfcc, chroma):
        parts += [block.mean(axis=1), block.std(axis=1)]
    return np.concatenate(parts).astype(np.float32)


def sample_features(file_path: str, *, audio_path: str | None, audio: Mapping[str, Any] | None
                    ) -> tuple[np.ndarray, list[str]]:
    """The feature row of one sample (MIDI features, then audio features when ``audio`` is given) and
    its measured chord sequence (one chord name per bar).

    A sample of an audio dataset without ``audio_path`` (imported MIDI) is rendered
    with the corpus's synthesizer first.
    """
    path = Path(file_path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror}") from exc
    pm = load_midi(data, path=str(path))
    analysis = analyse(pm, path=str(path))
    row = feature_vector(analysis)
    if audio is not None:
        # Imported MIDI has no audio: render it as the corpus was rendered, so features compare.
        y = load_audio(audio_path, sr=audio["sr"]) if audio_path else render_audio(
            pm, sr=audio["sr"], soundfont=audio.get("soundfont"), gain=audio.get("gain", 0.8))
        row = np.concatenate([row, audio_features(y, sr=audio["sr"], n_mels=audio["n_mels"], n_mfcc=audio["n_mfcc"])])
    return row, list(analysis.chords)


def build_features(rows: Iterable[Mapping[str, Any]], *, audio: Mapping[str, Any] | None, workers: int = 1
                   ) -> tuple[np.ndarray, list[str], pd.DataFrame]:
    """Feature matrix, column names and index of ``rows``.

    Each row needs ``sample_id``, ``file_path``, ``audio_path``, ``split``,
    ``origin``, ``family``, ``source``, ``augmented`` and ``annotations``.
    ``workers`` processes compute rows side by side, one BLAS thread each
    (:func:`musicml.parallel.process_map`): the table is the same for any number.
    """
    check_workers(workers, "midi.features.workers")
    rows = list(rows)
    names = feature_names() + (audio_feature_names(n_mels=audio["n_mels"], n_mfcc=audio["n_mfcc"]) if audio else [])
    X = np.zeros((len(rows), len(names)), dtype=np.float32)
    index = []
    computed = process_map(partial(_row_features, audio=audio), rows, workers=workers)
    # process_map first in zip: it is then run to its end, which closes its pool (or BLAS limit).
    for i, ((features, chords), row) in enumerate(zip(computed, rows)):
        X[i] = features
        entry = {k: row.get(k) for k in ("sample_id", "parent_id", "split", "origin", "family", "source", "augmented")}
        for name, value in row["annotations"].items():
            entry[name] = json.dumps(value) if isinstance(value, (list, dict)) else value
        entry["chord_sequence"] = json.dumps(chords)
        index.append(entry)
    return X, names, pd.DataFrame(index)


def _row_features(row: Mapping[str, Any], *, audio: Mapping[str, Any] | None) -> tuple[np.ndarray, list[str]]:
    return sample_features(row["file_path"], audio_path=row.get("audio_path"), audio=audio)


def write_features(folder: str | os.PathLike, dataset: str, X: np.ndarray, names: list[str], index: pd.DataFrame
                   ) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / f"{dataset}.npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, X=X, names=np.array(names, dtype=str),
                     sample_ids=np.array([str(s) for s in index["sample_id"]], dtype=str))
    with atomic_path(folder / f"{dataset}.parquet") as tmp:
        index.to_parquet(tmp, index=False)


def read_features(folder: str | os.PathLike, dataset: str) -> tuple[np.ndarray, list[str], pd.DataFrame]:
    folder = Path(folder)
    path = folder / f"{dataset}.npz"
    if not path.exists():
        raise InputError(path, "features missing: run midi_features first")
    with np.load(path, allow_pickle=False) as data:
        X, names = data["X"], [str(n) for n in data["names"]]
    index = pd.read_parquet(folder / f"{dataset}.parquet")
    if len(index) != len(X):
        raise InputError(path, f"{len(X)} feature rows but {len(index)} index rows")
    return X, names, index
