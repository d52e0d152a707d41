"""Merge per-source manifests into one validated, de-duplicated events table."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from musicml.errors import InputError
from musicml.manifest import COLUMNS, flatten_lists, lists_from_items, list_lengths, make_event_ids, sort_events, \
    sort_order


def _drop_near_duplicates(df: pd.DataFrame, tolerance_s: float) -> tuple[pd.DataFrame, int]:
    """Drop hits on the same audio whose onset lies within ``tolerance_s`` of the previous kept one."""
    df = df.take(sort_order(df, ["audio_path", "onset_s", "source", "event_id"]))
    same_file = df["audio_path"].eq(df["audio_path"].shift())
    gap = df["onset_s"].diff()
    # Chains of near-equal onsets collapse onto their first hit.
    duplicate = (same_file & (gap < tolerance_s)).to_numpy()
    return df.loc[~duplicate], int(duplicate.sum())


def _sorted_unique_lists(column: pd.Series, *, keep_order: bool = False) -> pd.Series:
    """Each list sorted and without repeats (``sorted(set(v))``), as an Arrow list column.

    With ``keep_order`` the items are only copied, as they are. Column-wise: on
    millions of rows a Python call per row would dominate the stage.
    """
    rows, items = flatten_lists(column)
    if not keep_order and len(items):
        pairs = pd.DataFrame({"row": rows, "item": items}).drop_duplicates()
        pairs = pairs.take(sort_order(pairs, ["row", "item"]))
        rows, items = pairs["row"].to_numpy(), pairs["item"].to_numpy()
    return lists_from_items(rows, items, len(column), index=column.index)


def merge_manifests(
    manifests: Mapping[str, pd.DataFrame], *, dedup_tolerance_s: float = 0.001
) -> tuple[pd.DataFrame, dict]:
    """Concatenate source manifests, re-derive stable ids, drop duplicates.

    Parameters
    ----------
    manifests : mapping of str to DataFrame
        Source name → its events manifest (ARCHITECTURE.md columns).
    dedup_tolerance_s : float
        Two hits on the same audio file closer than this are one hit (the first is kept).

    Returns
    -------
    merged : DataFrame
        Canonical columns, canonical row order.
    summary : dict
        ``events``, ``duplicates_dropped``, ``events_per_source``,
        ``sessions_per_source`` and ``events_with_extra_labels``, for ``metrics/merge.json``.
    """
    frames = []
    for name, df in manifests.items():
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise InputError(name, f"manifest lacks columns {missing}", field=missing[0])
        frames.append(df[list(COLUMNS)])
    if not frames or all(len(f) == 0 for f in frames):
        raise InputError(",".join(manifests) or "<no sources>", "no events in any enabled source")
    merged = pd.concat([f for f in frames if len(f)], ignore_index=True)
    # The id is recomputed so it is stable whatever a source wrote.
    merged["event_id"] = make_event_ids(merged["source"], merged["audio_path"], merged["onset_s"]).array
    before = len(merged)
    merged, near_dupes = _drop_near_duplicates(merged, dedup_tolerance_s)
    merged = merged.drop_duplicates("event_id", keep="first")
    merged = sort_events(merged)
    merged["techniques"] = _sorted_unique_lists(merged["techniques"])
    merged["extra_labels"] = _sorted_unique_lists(merged["extra_labels"], keep_order=True)
    summary = {
        "events": int(len(merged)),
        "duplicates_dropped": int(before - len(merged)),
        "events_per_source": {k: int(v) for k, v in merged["source"].value_counts().sort_index().items()},
        "sessions_per_source": {
            k: int(v) for k, v in merged.groupby("source")["session_id"].nunique().sort_index().items()
        },
        "events_with_extra_labels": int(np.sum(list_lengths(merged["extra_labels"]) > 0)),
    }
    return merged, summary
