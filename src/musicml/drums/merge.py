"""Merge per-source manifests into one validated, de-duplicated events table."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from musicml.errors import InputError
from musicml.manifest import COLUMNS, SORT_KEYS, flatten_lists, id_keys, lists_from_items, list_lengths, \
    make_event_ids, repeated, sort_order


def _rank_keys(keys: pd.DataFrame) -> pd.DataFrame:
    """The sort keys with integers in place of text, ordered as the text is.

    Sorting and comparing 7 M rows by these never touches a string: each text
    column is hashed once here, and the ids (16 hex digits) are read as numbers.
    """
    ranked = pd.DataFrame({name: pd.factorize(keys[name], sort=True)[0].astype(np.int32)
                           for name in ("source", "session_id", "audio_path")})
    ranked["onset_s"] = keys["onset_s"].to_numpy(dtype=np.float64)
    ranked["event_id"] = id_keys(keys["event_id"])
    return ranked


def _kept_rows(ranked: pd.DataFrame, tolerance_s: float) -> tuple[np.ndarray, int]:
    """Positions of the rows that survive de-duplication, and how many were dropped.

    A hit is dropped when its onset lies within ``tolerance_s`` of the previous
    kept one on the same audio (chains of near-equal onsets collapse onto their
    first hit), or when an earlier hit has its ``event_id``; "earlier" is the
    order of (audio_path, onset_s, source, event_id). ``ranked`` holds the keys
    as :func:`_rank_keys` gives them. Only the key columns are sorted and
    compared: the whole table is reordered once, by the caller.
    """
    order = sort_order(ranked, ["audio_path", "onset_s", "source", "event_id"])
    paths = ranked["audio_path"].to_numpy()[order]
    onsets = ranked["onset_s"].to_numpy()[order]
    near = np.r_[False, (paths[1:] == paths[:-1]) & (np.diff(onsets) < tolerance_s)]
    order = order[~near]
    again = repeated(ranked["event_id"].to_numpy()[order])
    return order[~again], int(near.sum() + again.sum())


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
    frames = [f for f in frames if len(f)]

    def column(name: str) -> pd.Series:
        return pd.concat([f[name] for f in frames], ignore_index=True)

    # Column by column, not a whole-table concat and take: on millions of events each of
    # those would hold one more copy of the table at the peak.
    keys = pd.DataFrame({name: column(name) for name in ("source", "session_id", "audio_path", "onset_s")})
    # The id is recomputed so it is stable whatever a source wrote.
    keys["event_id"] = make_event_ids(keys["source"], keys["audio_path"], keys["onset_s"]).array
    ranked = _rank_keys(keys)
    kept, dropped = _kept_rows(ranked, dedup_tolerance_s)
    # Event ids are unique now, so the canonical order of the kept rows is a total
    # order: sort their keys only, then take every column once.
    order = kept[sort_order(ranked.take(kept), SORT_KEYS)]
    del ranked
    merged = pd.DataFrame({name: (keys[name] if name in keys.columns else column(name)).take(order)
                           .reset_index(drop=True) for name in COLUMNS}, copy=False)
    del keys
    merged["techniques"] = _sorted_unique_lists(merged["techniques"])
    merged["extra_labels"] = _sorted_unique_lists(merged["extra_labels"], keep_order=True)
    summary = {
        "events": int(len(merged)),
        "duplicates_dropped": dropped,
        "events_per_source": {k: int(v) for k, v in merged["source"].value_counts().sort_index().items()},
        "sessions_per_source": {
            k: int(v) for k, v in merged.groupby("source")["session_id"].nunique().sort_index().items()
        },
        "events_with_extra_labels": int(np.sum(list_lengths(merged["extra_labels"]) > 0)),
    }
    return merged, summary
