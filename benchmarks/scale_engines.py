"""The hot spots of the drum data stages in three table engines: pandas + Arrow, polars, DuckDB.

`benchmarks/scale.py` times the stages as they are; this script times the
operations that dominate them, each written the natural way in every engine,
on the same generated manifest, so the engine the stages use is chosen by
measurement (docs/scaling.md):

- ``read``: the whole manifest from Parquet into the engine's table;
- ``event_ids``: the SHA-1 event id of every hit (the first 16 hex digits of
  ``sha1("source|audio_path|onset")``), which merge_manifests recomputes;
- ``dedup``: the merge's duplicate rule (sort by audio, onset, source, id; a
  hit within 1 ms of the previous one on the same audio is dropped);
- ``groups``: events per session and sessions per source (split, weights, health).

Every engine's event ids are checked against the library's before they are
timed. polars and DuckDB are optional here: an engine that is not installed is
reported as such (``pip install polars`` to include it; DuckDB is a dependency).

    python benchmarks/scale_engines.py --events 1000000 --sessions 6760
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale  # noqa: E402  (the generator of the production-shaped manifest)

TOLERANCE_S = 0.001


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Best wall and CPU seconds (all threads) of ``repeat`` calls, and the last result."""
    best_wall = best_cpu = float("inf")
    result = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, result


def onset_text(onsets: np.ndarray) -> pa.Array:
    """``f"{round(x, 4):.4f}"`` of every onset, column-wise (exact for the generated onsets)."""
    whole = np.round(onsets * 1e4).astype(np.int64)
    return pc.binary_join_element_wise(pa.array(whole // 10_000).cast(pa.string()),
                                       pc.utf8_lpad(pa.array(whole % 10_000).cast(pa.string()), 4, "0"), ".")


# --------------------------------------------------------------------------- pandas + Arrow


def pandas_ops(path: Path) -> dict[str, Callable[[], object]]:
    df = pd.read_parquet(path)

    def event_ids():  # what the library did before DuckDB: hashlib once per row, keys built in Arrow
        keys = pc.binary_join_element_wise(pa.array(df["source"], pa.string()), pa.array(df["audio_path"], pa.string()),
                                           onset_text(df["onset_s"].to_numpy()), "|").cast(pa.binary()).to_pylist()
        return [hashlib.sha1(k).hexdigest()[:16] for k in keys]

    def dedup():
        order = pc.sort_indices(pa.table({"a": pa.array(df["audio_path"]), "o": df["onset_s"].to_numpy(),
                                          "s": pa.array(df["source"]), "e": pa.array(df["event_id"])}),
                                sort_keys=[("a", "ascending"), ("o", "ascending"), ("s", "ascending"),
                                           ("e", "ascending")]).to_numpy()
        paths = pd.factorize(df["audio_path"])[0][order]
        onsets = df["onset_s"].to_numpy()[order]
        return int(((paths[1:] == paths[:-1]) & (np.diff(onsets) < TOLERANCE_S)).sum())

    def groups():
        return (df.groupby("session_id").size(), df.groupby("source")["session_id"].nunique())

    return {"read": lambda: pd.read_parquet(path), "event_ids": event_ids, "dedup": dedup, "groups": groups}


# --------------------------------------------------------------------------- polars


def polars_ops(path: Path) -> dict[str, Callable[[], object]]:
    import polars as pl

    df = pl.read_parquet(path)

    def event_ids():  # polars has no SHA-1 expression: a Python call per row is the only way
        keys = df.select(pl.concat_str([pl.col("source"), pl.col("audio_path"),
                                        pl.Series(onset_text(df["onset_s"].to_numpy()))], separator="|"))
        return keys.to_series().map_elements(lambda k: hashlib.sha1(k.encode()).hexdigest()[:16],
                                             return_dtype=pl.String).to_list()

    def dedup():
        s = df.select("audio_path", "onset_s", "source", "event_id").sort(
            ["audio_path", "onset_s", "source", "event_id"], maintain_order=True)
        near = (s["audio_path"] == s["audio_path"].shift(1)) & ((s["onset_s"] - s["onset_s"].shift(1)) < TOLERANCE_S)
        return int(near.fill_null(False).sum())

    def groups():
        return (df.group_by("session_id").len(), df.group_by("source").agg(pl.col("session_id").n_unique()))

    return {"read": lambda: pl.read_parquet(path), "event_ids": event_ids, "dedup": dedup, "groups": groups}


# --------------------------------------------------------------------------- DuckDB


def duckdb_ops(path: Path) -> dict[str, Callable[[], object]]:
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE TABLE events AS SELECT * FROM read_parquet('{path}')")

    def event_ids():  # the key text built as in the library, then DuckDB's sha1 over the column
        table = con.sql("SELECT source, audio_path, onset_s FROM events").to_arrow_table()
        keys = pa.table({"key": pc.binary_join_element_wise(table["source"].cast(pa.string()),
                                                            table["audio_path"].cast(pa.string()),
                                                            onset_text(table["onset_s"].to_numpy()), "|")})
        con.register("event_keys", keys)
        ids = con.sql("SELECT substr(sha1(key), 1, 16) AS id FROM event_keys").to_arrow_table()["id"].to_pylist()
        con.unregister("event_keys")
        return ids

    def dedup():
        return con.sql(f"""
            SELECT count(*) FROM (
              SELECT audio_path = lag(audio_path) OVER w AND onset_s - lag(onset_s) OVER w < {TOLERANCE_S} AS near
              FROM events WINDOW w AS (ORDER BY audio_path, onset_s, source, event_id)) WHERE near""").fetchone()[0]

    def groups():
        return (con.sql("SELECT session_id, count(*) FROM events GROUP BY session_id").to_arrow_table(),
                con.sql("SELECT source, count(DISTINCT session_id) FROM events GROUP BY source").to_arrow_table())

    return {"read": lambda: con.sql(f"SELECT * FROM read_parquet('{path}')").to_arrow_table(),
            "event_ids": event_ids, "dedup": dedup, "groups": groups}


ENGINES = {"pandas+arrow": pandas_ops, "polars": polars_ops, "duckdb": duckdb_ops}


def reference_ids(path: Path, n: int) -> list[str]:
    """The library's ids of the first ``n`` rows (scalar function), to check every engine against."""
    from musicml.manifest import make_event_id

    head = pq.read_table(path, columns=["source", "audio_path", "onset_s"]).slice(0, n).to_pylist()
    return [make_event_id(r["source"], r["audio_path"], r["onset_s"]) for r in head]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events to generate")
    parser.add_argument("--sessions", type=int, default=6_760, help="session groups to generate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each operation; the best is printed")
    parser.add_argument("--engines", nargs="+", choices=list(ENGINES), default=list(ENGINES))
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "musicml-scale",
                        help="folder for the generated manifest (shared with benchmarks/scale.py)")
    args = parser.parse_args()
    path = args.cache / f"v2-{args.events}-{args.sessions}-{args.seed}" / "input.parquet"
    if not path.exists():
        scale.generate(path, events=args.events, sessions=args.sessions, seed=args.seed)
    rows = pq.ParquetFile(path).metadata.num_rows
    expected = reference_ids(path, 1000)
    print(f"scale_engines: {rows:,} events, {os.cpu_count()} CPUs, load average {scale.load_average()}")
    print(f"  {'engine':14s} {'operation':10s} {'wall s':>8s} {'CPU s':>8s}")
    for engine in args.engines:
        try:
            ops = ENGINES[engine](path)
        except ImportError as exc:
            print(f"  {engine:14s} not installed ({exc.name})")
            continue
        for name, fn in ops.items():
            wall, cpu, result = timed(fn, args.repeat)
            if name == "event_ids" and list(result[:1000]) != expected:
                sys.exit(f"{engine}: event ids differ from musicml.manifest.make_event_id")
            print(f"  {engine:14s} {name:10s} {wall:8.2f} {cpu:8.2f}", flush=True)
    print(f"  load average after: {scale.load_average()}")


if __name__ == "__main__":
    main()
