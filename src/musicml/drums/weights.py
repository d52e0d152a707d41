"""Per-session sampling weights: sessions with many hits must not dominate training."""

from __future__ import annotations

import numpy as np
import pandas as pd

from musicml.errors import ConfigError


def session_weights(
    events: pd.DataFrame, *, min_weight: float = 0.05, max_weight: float = 0.5, balance_sources: bool = False
) -> tuple[pd.DataFrame, dict]:
    """Inverse-frequency weights per session group, normalised, then clamped.

    A session's raw weight is ``1 / n_events``. It is scaled so that the
    median-sized session gets the geometric middle of the range,
    ``sqrt(min_weight * max_weight)``, then clamped to ``[min_weight,
    max_weight]`` (the seed's ``[0.05, 0.5]``). Every hit is sampled with its
    session's weight (:func:`event_weights`), so sessions within a factor of
    ``sqrt(max_weight / min_weight)`` of the median weigh alike in total; a much
    smaller session is up-weighted at most that much, a much larger one
    down-weighted at most that much.

    Anchoring on the median, not on a sum of 1 or on the smallest session,
    keeps the weights meaningful at any scale and robust to a few tiny
    sessions: with 50,000 sessions a sum-to-one weight would be ~2e-5 and
    every session would clamp to the floor.

    With ``balance_sources``, the clamped weights of each source's sessions are
    then rescaled so every source holds the same total sampling mass: a few
    real recorded kits are not drowned by many synthetic ones. Weights may then
    leave ``[min_weight, max_weight]``; the ratio between sessions of one source
    stays bounded.

    Returns
    -------
    weights : DataFrame
        One row per session: ``session_id``, ``source``, ``events``, ``weight``, ``clamped``
        (``"low"`` or ``"high"`` where a bound applied, else ``""``).
    summary : dict
        ``session_groups``, ``events_counted``, ``clamped_low``, ``clamped_high``,
        ``min_weight``, ``max_weight``, for ``metrics/weights.json``.
    """
    if not 0 < min_weight <= max_weight:
        raise ConfigError(f"weights need 0 < min_weight <= max_weight, got {min_weight}, {max_weight}")
    if len(events) == 0:
        raise ConfigError("no training events to weight")
    counts = events.groupby("session_id").size().sort_index()
    sources = events.groupby("session_id")["source"].first().reindex(counts.index).astype(str).to_numpy()
    n = counts.to_numpy(dtype=np.float64)
    normalised = np.sqrt(min_weight * max_weight) * np.median(n) / n
    clamped = np.clip(normalised, min_weight, max_weight)
    weight = _balance(clamped, n, sources) if balance_sources else clamped
    table = pd.DataFrame({
        "session_id": counts.index.astype(str),
        "source": sources,
        "events": counts.to_numpy(dtype=np.int64),
        "weight": weight,
        "clamped": np.where(normalised < min_weight, "low", np.where(normalised > max_weight, "high", "")),
    })
    summary = {
        "session_groups": int(len(table)),
        "events_counted": int(counts.sum()),
        "clamped_low": int((table["clamped"] == "low").sum()),
        "clamped_high": int((table["clamped"] == "high").sum()),
        "min_weight": float(weight.min()),
        "max_weight": float(weight.max()),
        "mass_share_per_source": {
            src: float(share) for src, share in
            (pd.Series(weight * n).groupby(sources).sum() / float(np.sum(weight * n))).sort_index().items()
        },
    }
    return table, summary


def _balance(weights: np.ndarray, counts: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Rescale per source so each source's total mass (weight x hits) is equal; total mass kept."""
    mass = weights * counts
    per_source = pd.Series(mass).groupby(sources).transform("sum").to_numpy()
    target = mass.sum() / len(set(sources))
    return weights * target / per_source


def event_weights(events: pd.DataFrame, weights: pd.DataFrame) -> np.ndarray:
    """Per-hit sampling weights: every hit takes its session's weight.

    With session weights proportional to ``1 / n_events`` (before clamping),
    each session's total sampling mass is then about equal, whatever its size:
    a kit with 2,000 hits does not drown one with 50. Clamping bounds how far
    a tiny session can be up-weighted. Augmented copies count as hits of their
    session, so augmentation scales every training session alike.
    """
    sessions = events["session_id"].astype(str)
    mapped = sessions.map(weights.set_index(weights["session_id"].astype(str))["weight"])
    if mapped.isna().any():
        raise ConfigError(f"no sampling weight for sessions {sorted(set(sessions[mapped.isna()]))[:5]}")
    return mapped.to_numpy(dtype=np.float64)
