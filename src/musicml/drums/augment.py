"""Augmented copies of training hits, each reproducible from its own seed.

The transforms are audiomentations' (Signalsmith Stretch for pitch and time,
Gaussian noise, gain). Their parameters are drawn from a NumPy generator
seeded by ``(seed, event index, copy)`` and handed to each transform as a
fixed value, so no global random state is involved and one clip can be
re-created alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import audiomentations as A
import numpy as np
import pandas as pd
import soundfile as sf

from musicml.atomic import atomic_path
from musicml.audio import load_audio, segment
from musicml.manifest import events_frame
from musicml.parallel import check_workers, process_map


@dataclass(frozen=True)
class AugmentConfig:
    multiplier: int = 1
    prob: float = 0.5
    pitch_semitones: float = 2.0
    stretch_min: float = 0.9
    stretch_max: float = 1.1
    noise_max: float = 0.005
    gain_min: float = 0.8
    gain_max: float = 1.2
    eq_db: float = 0.0


def _fixed(transform_cls, **values):
    """An audiomentations transform whose random range collapses onto ``values``."""
    kwargs = {}
    for name, value in values.items():
        kwargs[f"min_{name}"] = kwargs[f"max_{name}"] = value
    return transform_cls(**kwargs, p=1.0)


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def draw_params(rng: np.random.Generator, config: AugmentConfig) -> dict:
    """Parameters of one copy; each transform is applied with probability ``config.prob``
    (as the seed does), and an unapplied one takes its neutral value."""
    def maybe(value: float, neutral: float) -> float:
        return value if rng.random() < config.prob else neutral

    return {
        "semitones": maybe(float(rng.uniform(-config.pitch_semitones, config.pitch_semitones)), 0.0),
        "rate": maybe(float(rng.uniform(config.stretch_min, config.stretch_max)), 1.0),
        "noise": maybe(float(rng.uniform(0.0, config.noise_max)), 0.0),
        "gain": maybe(float(rng.uniform(config.gain_min, config.gain_max)), 1.0),
        # A random three-band EQ (low shelf, peak, high shelf) stands in for the
        # different drums, microphones and rooms of real recordings.
        "eq": maybe([
            (_log_uniform(rng, 60.0, 400.0), float(rng.uniform(-config.eq_db, config.eq_db))),
            (_log_uniform(rng, 200.0, 6000.0), float(rng.uniform(-config.eq_db, config.eq_db))),
            (_log_uniform(rng, 2000.0, 8000.0), float(rng.uniform(-config.eq_db, config.eq_db))),
        ], []) if config.eq_db > 0 else [],
    }


def _fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """Crop or zero-pad ``audio`` to ``n`` samples."""
    if audio.shape[0] >= n:
        return audio[:n]
    return np.concatenate([audio, np.zeros(n - audio.shape[0], dtype=audio.dtype)])


def augment_clip(clip: np.ndarray, *, sr: int, rng: np.random.Generator, config: AugmentConfig) -> tuple[np.ndarray, dict]:
    """One augmented copy of ``clip`` and the parameters drawn for it.

    Returns
    -------
    audio : ndarray, float32
        Same length as ``clip`` (time stretch is cropped or zero-padded).
    params : dict
        ``semitones``, ``rate``, ``noise`` (amplitude), ``gain`` (ratio), ``eq``
        (``[(Hz, dB)]`` of low shelf, peak and high shelf; empty when off).
    """
    params = draw_params(rng, config)
    out = np.asarray(clip, dtype=np.float32)
    if params["semitones"]:
        s = params["semitones"]
        out = A.PitchShift(min_semitones=s, max_semitones=s, p=1.0)(out, sr)
    if params["rate"] != 1.0:
        r = params["rate"]
        out = A.TimeStretch(min_rate=r, max_rate=r, leave_length_unchanged=True, p=1.0)(out, sr)
    out = _fit_length(out, clip.shape[0])
    if params["eq"]:
        (f_low, g_low), (f_mid, g_mid), (f_high, g_high) = params["eq"]
        for transform in (_fixed(A.LowShelfFilter, center_freq=f_low, gain_db=g_low, q=0.707),
                          _fixed(A.PeakingFilter, center_freq=f_mid, gain_db=g_mid, q=1.0),
                          _fixed(A.HighShelfFilter, center_freq=f_high, gain_db=g_high, q=0.707)):
            out = transform(out.astype(np.float32), sr)
    out = out + rng.normal(0.0, params["noise"], size=out.shape[0]) if params["noise"] else out
    out = out * params["gain"]
    return np.clip(out, -1.0, 1.0).astype(np.float32), params


def _augment_session(session: str, group: pd.DataFrame, *, tmp: Path, out_dir: Path, config: AugmentConfig, sr: int,
                     clip_len: int, pre: int, seed: int, source_suffix: str) -> list[dict]:
    """Render one session's copies into ``tmp/<session>.wav``; return their manifest rows."""
    gap = sr // 10  # a little silence between copies keeps neighbours out of each other's window
    pieces, cursor, rows = [], 0, []
    for path, by_file in group.groupby("audio_path", sort=True):
        audio = load_audio(path, sr=sr)
        for idx, event in by_file.iterrows():
            clip = segment(audio, int(round(event["onset_s"] * sr)) - pre, clip_len)
            for copy in range(config.multiplier):
                rng = np.random.default_rng([seed, int(idx), copy])
                augmented, params = augment_clip(clip, sr=sr, rng=rng, config=config)
                onset = (cursor + pre / params["rate"]) / sr
                pieces += [augmented, np.zeros(gap, dtype=np.float32)]
                cursor += clip_len + gap
                rows.append({
                    **{k: event[k] for k in ("session_id", "kit", "label", "extra_labels",
                                             "techniques", "velocity", "openness")},
                    "source": f"{event['source']}{source_suffix}",
                    "audio_path": str(out_dir / f"{session}.wav"),
                    "onset_s": onset,
                })
    if pieces:
        sf.write(tmp / f"{session}.wav", np.concatenate(pieces), sr, subtype="PCM_16", format="WAV")
    return rows


def augment_events(
    events: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    config: AugmentConfig,
    sr: int,
    clip_s: float,
    pre_onset_s: float,
    seed: int,
    source_suffix: str = "+aug",
    workers: int = 1,
) -> pd.DataFrame:
    """Render ``config.multiplier`` augmented copies of every event into ``out_dir``.

    Copies of one session are concatenated into one WAV file
    (``out_dir/<session_id>.wav``, 0.1 s of silence between clips), so the
    output stays a few files however many hits it holds. The returned manifest
    keeps each copy's labels and session, with ``source`` suffixed by
    ``source_suffix`` and ``onset_s`` pointing at the copy's (stretched) onset.
    ``workers`` processes render whole sessions side by side (one BLAS thread
    each); every clip's randomness comes from its own seed, so the output is
    byte-identical for any number of workers.
    """
    check_workers(workers, "augment.workers")
    out_dir = Path(out_dir)
    events = events.reset_index(drop=True)
    sessions = list(events.groupby("session_id", sort=True))
    with atomic_path(out_dir, is_dir=True) as tmp:
        render = partial(_augment_session, tmp=Path(tmp), out_dir=out_dir, config=config, sr=sr,
                         clip_len=int(round(clip_s * sr)), pre=int(round(pre_onset_s * sr)), seed=seed,
                         source_suffix=source_suffix)
        # One BLAS thread per process, in one process too: see musicml.parallel.
        per_session = list(process_map(render, *zip(*sessions), workers=workers))
    return events_frame([row for rows in per_session for row in rows], origin=str(out_dir))
