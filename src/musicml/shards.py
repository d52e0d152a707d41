"""Past one machine: split the work by session into shards, merge the shards by concatenation.

A session goes to shard ``sha1(session_id) mod shard_count`` -- a hash of the
id alone, so the assignment is the same on every machine and in every run
(Python's ``hash()`` is salted per process and would not be). Each worker of a
SLURM array, Kubernetes indexed job or Ray cluster runs the ingest and feature
stages with its own ``shard_index``; the shard outputs are then concatenated:
:func:`merge_manifest_shards` gives exactly the unsharded manifest and
:func:`merge_feature_stores` exactly the unsharded feature store
(docs/scaling.md).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from musicml.atomic import atomic_path
from musicml.errors import ConfigError, InputError
from musicml.manifest import read_events


def check_shard(shard_count: int, shard_index: int) -> None:
    """Raise :class:`ConfigError` unless ``0 <= shard_index < shard_count``."""
    if isinstance(shard_count, bool) or not isinstance(shard_count, int) or shard_count < 1:
        raise ConfigError(f"shard.shard_count must be an integer >= 1, got {shard_count!r}")
    if isinstance(shard_index, bool) or not isinstance(shard_index, int) or not 0 <= shard_index < shard_count:
        raise ConfigError(f"shard.shard_index must be an integer in [0, {shard_count}), got {shard_index!r}")


def shard_of(session_id: str, shard_count: int) -> int:
    """The shard of one session: the first 8 bytes of ``sha1(session_id)`` modulo ``shard_count``."""
    return int.from_bytes(hashlib.sha1(str(session_id).encode()).digest()[:8], "big") % shard_count


def in_shard(session_ids: pd.Series, *, shard_count: int, shard_index: int) -> np.ndarray:
    """Boolean mask of the rows whose session belongs to shard ``shard_index`` of ``shard_count``."""
    check_shard(shard_count, shard_index)
    if shard_count == 1:
        return np.ones(len(session_ids), dtype=bool)
    codes, sessions = pd.factorize(pd.Series(session_ids).astype(str))
    shards = np.fromiter((shard_of(s, shard_count) for s in sessions), dtype=np.int64, count=len(sessions))
    return shards[codes] == shard_index


def session_filter(*, shard_count: int, shard_index: int) -> Callable[[str], bool] | None:
    """A predicate accepting the session ids of shard ``shard_index``; ``None`` (keep all) for one shard."""
    check_shard(shard_count, shard_index)
    if shard_count == 1:
        return None
    return lambda session_id: shard_of(session_id, shard_count) == shard_index


def select_shard(events: pd.DataFrame, *, shard_count: int, shard_index: int) -> pd.DataFrame:
    """The events of the sessions in shard ``shard_index`` (all of them when ``shard_count`` is 1)."""
    if shard_count == 1:
        check_shard(shard_count, shard_index)
        return events
    return events[in_shard(events["session_id"], shard_count=shard_count, shard_index=shard_index)]


def merge_manifest_shards(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate shard manifests; written with ``write_events`` this is the unsharded manifest.

    Raises
    ------
    InputError
        When no shard is given, or a session appears in two shards (shards of
        different runs, or the same shard listed twice).
    """
    if not paths:
        raise InputError("<shards>", "no shard manifests given")
    frames, owner = [], {}
    for path in paths:
        df = read_events(path, arrow_lists=True)
        for session in df["session_id"].astype(str).unique():
            if session in owner:
                raise InputError(path, f"session {session!r} is also in shard {owner[session]}", field="session_id")
            owner[session] = str(path)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def merge_feature_stores(
    stores: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *, order: pd.DataFrame | None = None,
    block_rows: int = 4096,
) -> int:
    """Concatenate shard feature stores into one store; returns its number of rows.

    Rows are copied a block at a time from the memory-mapped shards into the
    new store (memory stays flat). Without ``order`` the rows come shard after
    shard; with ``order`` (the events the unsharded features stage reads, in
    its order) they are put in that order, which makes the result byte-identical
    to the unsharded store.

    Raises
    ------
    InputError
        When the stores differ in feature shape, an event is in two stores, or
        ``order`` lists events the stores do not hold (or misses some).
    """
    from musicml.features import FEATURES_FILE, INDEX_FILE, open_store  # librosa: only when merging stores

    if not stores:
        raise InputError("<stores>", "no feature stores given")
    opened = [open_store(s) for s in stores]
    shapes = {f.shape[1:] for f, _ in opened}
    if len(shapes) != 1:
        raise InputError(stores[0], f"feature stores differ in shape: {sorted(shapes)}")
    dtypes = {f.dtype.str for f, _ in opened}
    if len(dtypes) != 1:
        raise InputError(stores[0], f"feature stores differ in dtype: {sorted(dtypes)} (features.dtype)")
    index = pd.concat([i for _, i in opened], ignore_index=True)
    ids = index["event_id"].astype(str)
    if ids.duplicated().any():
        raise InputError(stores[0], f"event {ids[ids.duplicated()].iloc[0]} is in two stores", field="event_id")
    # (store, row) of every output row, in output order.
    source = np.repeat(np.arange(len(opened)), [len(i) for _, i in opened])
    row = np.concatenate([np.arange(len(i)) for _, i in opened]) if len(index) else np.zeros(0, dtype=np.int64)
    if order is not None:
        position = pd.Series(np.arange(len(index)), index=pd.Index(ids))
        wanted = order["event_id"].astype(str)
        missing = wanted[~wanted.isin(position.index)]
        if len(missing) or len(wanted) != len(index):
            what = f"event {missing.iloc[0]} is in no store" if len(missing) else \
                f"the stores hold {len(index)} events, the order lists {len(wanted)}"
            raise InputError(stores[0], what, field="event_id")
        take = position.loc[wanted.to_numpy()].to_numpy()
        source, row, index = source[take], row[take], index.iloc[take].reset_index(drop=True)
    shape = (len(index),) + next(iter(shapes))
    with atomic_path(out_dir, is_dir=True) as tmp:
        out = np.lib.format.open_memmap(tmp / FEATURES_FILE, mode="w+", dtype=opened[0][0].dtype, shape=shape)
        for start in range(0, len(index), block_rows):
            stop = min(start + block_rows, len(index))
            for s in np.unique(source[start:stop]):
                sel = np.flatnonzero(source[start:stop] == s)
                out[start + sel] = opened[s][0][row[start:stop][sel]]
            out.flush()
        del out
        index.to_parquet(tmp / INDEX_FILE, index=False)
    return len(index)


def read_order(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """The events of ``paths`` concatenated, in the order the features stage reads them."""
    return pd.concat([read_events(Path(p), columns=["event_id"]) for p in paths], ignore_index=True)
