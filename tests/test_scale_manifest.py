"""The column-wise manifest code paths (issue 5, large manifests) against the row-wise originals.

Each fast path must give exactly what the plain per-row pandas code gave: the
same ids, the same row order, the same Parquet bytes, the same reports.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from musicml.drums.health import HealthThresholds, _duplicate_count, health_report
from musicml.drums.merge import merge_manifests
from musicml.errors import InputError
from musicml.manifest import (COLUMNS, events_frame, flatten_lists, hex_id_numbers, id_keys, is_sorted, list_lengths,
                              make_event_id, make_event_ids, read_events, repeated, sort_events, sort_order,
                              write_events)

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["kick", "snare", "hihat_closed", "hihat_open"]


def random_events(n: int, *, seed: int = 0, techniques: bool = True) -> pd.DataFrame:
    """A manifest with the awkward cases: ties, near-duplicate onsets, unicode, nulls, repeated list items."""
    rng = np.random.default_rng(seed)
    sessions = rng.integers(0, max(2, n // 15), size=n)
    onsets = np.round(rng.integers(0, 400, size=n) * 0.25 + rng.choice([0.0, 0.0003, 0.00005], size=n), 5)
    rows = []
    for i in range(n):
        s = int(sessions[i])
        rows.append({
            "source": ["synth", "hydrogen", "zé manifest"][s % 3], "session_id": f"kit-{s:03d}",
            "kit": f"k{s % 4}", "audio_path": f"data/raw/ü{s % 7}/{s}.wav", "onset_s": float(onsets[i]),
            "label": ["kick", "snare", "hihat_closed", "hihat_open", "unknown"][i % 5],
            "extra_labels": ["crash"] if i % 11 == 0 else [],
            "techniques": (["rimshot", "flam", "rimshot"] if i % 13 == 0 else ["ghost"] if i % 7 == 0 else [])
            if techniques else [],
            "velocity": None if i % 6 == 0 else int(rng.integers(1, 128)),
            "openness": None if i % 4 else float(rng.random()),
        })
    return events_frame(rows)


def old_merge(manifests: dict[str, pd.DataFrame], tolerance_s: float = 0.001) -> pd.DataFrame:
    """merge_manifests as it was before the column-wise rewrite (per-row Python), for comparison."""
    merged = pd.concat([df[list(COLUMNS)] for df in manifests.values()], ignore_index=True)
    merged["event_id"] = [make_event_id(s, p, o)
                          for s, p, o in zip(merged["source"], merged["audio_path"], merged["onset_s"])]
    df = merged.sort_values(["audio_path", "onset_s", "source", "event_id"], kind="mergesort")
    duplicate = (df["audio_path"].eq(df["audio_path"].shift()) & (df["onset_s"].diff() < tolerance_s)).to_numpy()
    df = df.loc[~duplicate].drop_duplicates("event_id", keep="first")
    df = df.sort_values(["source", "session_id", "audio_path", "onset_s", "event_id"], kind="mergesort") \
        .reset_index(drop=True)
    df["extra_labels"] = df["extra_labels"].map(list)
    df["techniques"] = df["techniques"].map(lambda v: sorted(set(v)))
    return df


def old_write(df: pd.DataFrame, path: Path) -> None:
    """write_events as it was: pandas sort, then DataFrame.to_parquet."""
    extra = [c for c in df.columns if c not in COLUMNS]
    df = df[list(COLUMNS) + extra].sort_values(
        ["source", "session_id", "audio_path", "onset_s", "event_id"], kind="mergesort").reset_index(drop=True)
    df.to_parquet(path, index=False, engine="pyarrow")


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_event_ids_match_the_scalar_function_on_awkward_onsets():
    onsets = np.r_[np.arange(0, 1, 0.00005), [0.0, -0.0, 2.5e-5, 0.00015, 1.00005, 123456.78905, 1e15, 7e-9],
                   np.random.default_rng(0).random(5000) * 600, [np.nan, np.inf]]
    sources = pd.Series(["synth", "hy|drogen"] * (len(onsets) // 2) + ["x"] * (len(onsets) % 2), dtype="string")
    paths = pd.Series(["a/ü b.wav"] * len(onsets), dtype="string")
    fast = make_event_ids(sources, paths, pd.Series(onsets))
    assert str(fast.dtype) == "str"
    assert fast.tolist() == [make_event_id(s, p, o) for s, p, o in zip(sources, paths, onsets)]


def test_sort_order_is_pandas_stable_mergesort():
    df = random_events(600)
    df["event_id"] = "same"  # full ties on the last key: stability decides
    keys = ["source", "session_id", "audio_path", "onset_s", "event_id"]
    expected = df.sort_values(keys, kind="mergesort").index.to_numpy()
    assert sort_order(df, keys).tolist() == expected.tolist()
    assert not is_sorted(df, keys) and is_sorted(df.loc[expected], keys)
    assert is_sorted(df.iloc[:1], keys) and not is_sorted(df.loc[expected[::-1]], keys)


def test_sort_order_with_missing_text_and_numbers_is_pandas_order():
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"a": pd.array(rng.choice(["b", "a", "ä", "A", "", None, "ab"], 3000), dtype="str"),
                       "x": rng.choice([0.1, np.nan, 0.2, -0.0, 0.0], 3000),
                       "b": pd.Series(rng.choice(["x", "y", None], 3000), dtype=object),
                       "e": pd.array([f"{i % 97:03d}" for i in range(3000)], dtype="str")})
    for keys in (["a", "x", "b", "e"], ["b", "a", "e"], ["x", "a"], ["a"]):
        expected = df.sort_values(keys, kind="mergesort", na_position="last").index.to_numpy()
        assert sort_order(df, keys).tolist() == expected.tolist(), keys


def test_hex_ids_as_numbers_keep_equality_and_order():
    ids = pd.Series([make_event_id("s", f"a{i % 40}.wav", i * 0.01) for i in range(400)] + ["0" * 16, "f" * 16],
                    dtype="str")
    numbers = hex_id_numbers(ids)
    assert numbers is not None and numbers.dtype == np.uint64
    assert numbers[-2] == 0 and numbers[-1] == np.iinfo(np.uint64).max
    assert (np.argsort(numbers, kind="stable") == np.argsort(ids.to_numpy(dtype=object), kind="stable")).all()
    assert [int(v) for v in numbers[:3]] == [int(i, 16) for i in ids[:3]]
    # Any other form falls back to ranks of the strings, with the same equality and order.
    for odd in ("ABCDEF0123456789", "kit-1", "0123456789abcdeg", "0123456789abcdef0"):
        other = pd.Series(list(ids[:50]) + [odd, ids[3]], dtype="str")
        assert hex_id_numbers(other) is None
        keys = id_keys(other)
        assert (np.argsort(keys, kind="stable") == np.argsort(other.to_numpy(dtype=object), kind="stable")).all()
        assert keys[-1] == keys[3]
    assert hex_id_numbers(pd.Series([None, "0" * 16], dtype="str")) is None
    assert hex_id_numbers(pd.Series([], dtype="str")) is None


def test_repeated_is_series_duplicated():
    keys = np.random.default_rng(5).integers(0, 300, 2000).astype(np.uint64)
    assert repeated(keys).tolist() == pd.Series(keys).duplicated().tolist()
    assert repeated(np.array([], dtype=np.int64)).tolist() == []


@pytest.mark.parametrize("techniques", [True, False])  # False: an all-empty list column (list<null> in Parquet)
def test_write_events_bytes_equal_plain_pandas_writer(tmp_path, techniques):
    # read_events refuses a Parquet manifest with a repeated event_id: keep the first of each.
    df = random_events(400, techniques=techniques).drop_duplicates("event_id").reset_index(drop=True)
    df["split"] = pd.array((["train", "val", None, "test"] * 100)[:len(df)], dtype="string")
    old_write(df, tmp_path / "old.parquet")
    write_events(df, tmp_path / "new.parquet")
    assert md5(tmp_path / "new.parquet") == md5(tmp_path / "old.parquet")
    arrow = read_events(tmp_path / "old.parquet", arrow_lists=True)
    assert isinstance(arrow["techniques"].dtype, pd.ArrowDtype)
    write_events(arrow, tmp_path / "arrow.parquet")
    assert md5(tmp_path / "arrow.parquet") == md5(tmp_path / "old.parquet")


def test_read_events_lists_both_ways_and_columns(tmp_path):
    df = random_events(50)
    write_events(df, tmp_path / "m.parquet")
    plain = read_events(tmp_path / "m.parquet")
    arrow = read_events(tmp_path / "m.parquet", arrow_lists=True)
    assert plain["techniques"].tolist() == arrow["techniques"].tolist()
    assert all(type(v) is list for v in plain["extra_labels"])
    assert list_lengths(plain["techniques"]).tolist() == list_lengths(arrow["techniques"]).tolist()
    rows_p, items_p = flatten_lists(plain["techniques"])
    rows_a, items_a = flatten_lists(arrow["techniques"])
    assert rows_p.tolist() == rows_a.tolist() and items_p.tolist() == items_a.tolist()
    assert list(read_events(tmp_path / "m.parquet", columns=["session_id", "source"]).columns) == \
        ["session_id", "source"]
    with pytest.raises(InputError, match="missing columns"):
        read_events(tmp_path / "m.parquet", columns=["session_id", "nope"])


def test_null_lists_read_as_empty_both_ways(tmp_path):
    table = pq.read_table(_written(tmp_path, random_events(5)))
    lists = pa.array([None, ["a"], None, [], ["b", "c"]], pa.list_(pa.string()))
    pq.write_table(table.set_column(table.schema.get_field_index("techniques"), "techniques", lists),
                   tmp_path / "nulls.parquet")
    for arrow_lists in (False, True):
        got = read_events(tmp_path / "nulls.parquet", arrow_lists=arrow_lists)["techniques"].tolist()
        assert got == [[], ["a"], [], [], ["b", "c"]]


def test_trusted_read_skips_the_value_checks_not_the_schema_checks(tmp_path):
    table = pq.read_table(_written(tmp_path, random_events(20)))
    velocity = table.schema.get_field_index("velocity")
    pq.write_table(table.set_column(velocity, "velocity", pa.array([300] * 20, pa.int64())), tmp_path / "bad.parquet")
    with pytest.raises(InputError) as err:
        read_events(tmp_path / "bad.parquet")
    assert err.value.line == 1 and err.value.field == "velocity"
    # a pipeline output is not checked value by value again ...
    assert read_events(tmp_path / "bad.parquet", trusted=True)["velocity"].tolist() == [300] * 20
    # ... but a wrong column type or a missing column is still refused
    pq.write_table(table.set_column(velocity, "velocity", pa.array(["x"] * 20)), tmp_path / "typed.parquet")
    with pytest.raises(InputError, match="expected numbers"):
        read_events(tmp_path / "typed.parquet", trusted=True)
    pq.write_table(table.drop_columns(["label"]), tmp_path / "short.parquet")
    with pytest.raises(InputError, match="missing columns"):
        read_events(tmp_path / "short.parquet", trusted=True)
    good = _written(tmp_path, random_events(20))
    assert read_events(good, trusted=True).equals(read_events(good))


def _written(tmp_path: Path, df: pd.DataFrame) -> Path:
    write_events(df, tmp_path / "base.parquet")
    return tmp_path / "base.parquet"


@pytest.mark.parametrize("arrow_lists", [False, True])
def test_merge_equals_the_row_wise_original(tmp_path, arrow_lists):
    a, b = random_events(500, seed=1), random_events(300, seed=2)
    b["source"] = "other"
    if arrow_lists:
        a = read_events(_written(tmp_path, a), arrow_lists=True)
    merged, summary = merge_manifests({"a": a, "b": b})
    expected = old_merge({"a": a, "b": b})
    write_events(merged, tmp_path / "new.parquet")
    old_write(expected, tmp_path / "old.parquet")
    assert md5(tmp_path / "new.parquet") == md5(tmp_path / "old.parquet")
    assert summary["events"] == len(expected)
    assert summary["events_with_extra_labels"] == int(expected["extra_labels"].map(len).gt(0).sum())


@pytest.mark.parametrize("hex_ids", [True, False])  # False: hand-written ids (the string fallback)
def test_duplicate_count_equals_pairwise_definition(hex_ids):
    df = random_events(300, seed=3)
    if not hex_ids:
        df["event_id"] = "hit-" + df["event_id"].str[:6]
    df.loc[5, "event_id"] = df.loc[200, "event_id"]  # an id repeat joins two otherwise distinct hits
    # Reference: union-find over "same id" and "same file, onsets within tolerance" (chained).
    parent = list(range(len(df)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    rows = list(df[["event_id", "audio_path", "onset_s"]].itertuples(index=False))
    for i in range(len(rows)):
        for j in range(i + 1, len(rows)):
            same = rows[i][0] == rows[j][0] or (rows[i][1] == rows[j][1] and abs(rows[i][2] - rows[j][2]) <= 0.001)
            if same:
                parent[find(i)] = find(j)
    expected = len(df) - len({find(i) for i in range(len(df))})
    assert expected > 0
    assert _duplicate_count(df, 0.001) == expected


def test_health_report_same_for_python_and_arrow_lists(tmp_path):
    path = _written(tmp_path, random_events(400, seed=4).drop_duplicates("event_id").assign(split="train"))
    thresholds = HealthThresholds(required_techniques=["flam"])
    durations = pd.DataFrame({"audio_path": [f"data/raw/ü{i}/x.wav" for i in range(3)], "duration_s": [1.5, 2, 3]})
    plain = health_report(read_events(path), classes=CLASSES, thresholds=thresholds, durations=durations)
    arrow = health_report(read_events(path, arrow_lists=True), classes=CLASSES, thresholds=thresholds,
                          durations=durations)
    assert plain == arrow
    # a repeated item is counted once
    assert plain["technique_counts"]["rimshot"] == int(read_events(path)["techniques"].map(lambda t: "rimshot" in t).sum())


def test_scale_benchmark_runs_small(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--events", "3000", "--sessions",
                           "40", "--cache", str(tmp_path)], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    for name in ("merge_manifests", "split", "health", "weights", "total"):
        assert name in proc.stdout
    merged = pd.read_parquet(next(tmp_path.rglob("events.parquet")))
    assert 2900 < len(merged) < 3100 and merged["event_id"].is_unique
    assert sort_events(merged).equals(merged)


def test_scale_engines_benchmark_runs_small(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "scale_engines.py"), "--events", "2000",
                           "--sessions", "30", "--repeat", "1", "--cache", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr  # exits non-zero when an engine's ids differ from the library's
    for engine in ("pandas+arrow", "duckdb"):
        for operation in ("read", "event_ids", "dedup", "groups"):
            assert any(line.split()[:2] == [engine, operation] for line in proc.stdout.splitlines()), proc.stdout
    assert "polars" in proc.stdout  # timed, or reported as not installed
