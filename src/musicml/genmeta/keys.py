"""Musical keys: names, relative keys and Krumhansl-Schmuckler key estimation from chroma."""

from __future__ import annotations

import numpy as np

PITCH_CLASSES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
MODES: tuple[str, ...] = ("major", "minor")
# Krumhansl & Kessler (1982) probe-tone profiles, tonic first.
KRUMHANSL_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KRUMHANSL_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def key_name(tonic: int, mode: str) -> str:
    """``"C# minor"`` for ``tonic=1, mode="minor"``."""
    return f"{PITCH_CLASSES[tonic % 12]} {mode}"


def parse_key(key: str) -> tuple[int, str]:
    """``(pitch class, mode)`` of a key name like ``"F# minor"``; raises ValueError otherwise."""
    parts = key.strip().split()
    if len(parts) != 2 or parts[0] not in PITCH_CLASSES or parts[1] not in MODES:
        raise ValueError(f"key {key!r}: expected '<C..B, with #> <major|minor>'")
    return PITCH_CLASSES.index(parts[0]), parts[1]


def relative_key(key: str) -> str:
    """The relative major/minor of ``key`` (``"A minor"`` for ``"C major"``)."""
    tonic, mode = parse_key(key)
    return key_name(tonic + 3, "major") if mode == "minor" else key_name(tonic - 3, "minor")


def estimate_key(chroma: np.ndarray) -> tuple[str, float]:
    """Best of the 24 major/minor keys for a 12-bin chroma vector (Krumhansl-Schmuckler).

    Parameters
    ----------
    chroma : ndarray, shape (12,)
        Mean chroma energy per pitch class, C first.

    Returns
    -------
    key : str
        E.g. ``"A minor"``; ``""`` when the chroma is flat (silence, pure noise).
    correlation : float
        Pearson correlation of the chroma with the winning rotated profile, in [-1, 1].
    """
    chroma = np.asarray(chroma, dtype=np.float64)
    if chroma.shape != (12,) or not np.isfinite(chroma).all() or chroma.std() < 1e-9:
        return "", 0.0
    best = ("", -2.0)
    for mode, profile in (("major", KRUMHANSL_MAJOR), ("minor", KRUMHANSL_MINOR)):
        for tonic in range(12):
            r = float(np.corrcoef(chroma, np.roll(profile, tonic))[0, 1])
            if r > best[1]:
                best = (key_name(tonic, mode), r)
    return best
