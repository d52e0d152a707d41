"""Sharding by session (issue 5, past one machine): N shards concatenated equal the unsharded output."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from musicml.drums.synth import synthesize
from musicml.errors import ConfigError, InputError
from musicml.features import FEATURES_FILE, INDEX_FILE, extract_to_store
from musicml.manifest import write_events
from musicml.shards import (in_shard, merge_feature_stores, merge_manifest_shards, select_shard, session_filter,
                            shard_of)
from test_features import CFG, events_for, session_wav
from test_scale_manifest import random_events


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_shard_of_is_stable_and_balanced():
    # Fixed values: the assignment must never change between runs, machines or Python versions.
    assert [shard_of(s, 4) for s in ("synth-kit-000", "synth-kit-001", "a")] == \
        [shard_of(s, 4) for s in ("synth-kit-000", "synth-kit-001", "a")]
    assert shard_of("synth-kit-000", 7) == int(hashlib.sha1(b"synth-kit-000").hexdigest()[:16], 16) % 7
    counts = np.bincount([shard_of(f"s{i}", 4) for i in range(4000)], minlength=4)
    assert counts.min() > 900


def test_every_session_in_exactly_one_shard():
    events = random_events(300)
    masks = np.array([in_shard(events["session_id"], shard_count=3, shard_index=i) for i in range(3)])
    assert (masks.sum(axis=0) == 1).all()
    for i in range(3):  # a session never straddles shards
        assert events.loc[masks[i], "session_id"].nunique() == len(set(events.loc[masks[i], "session_id"]))
        assert not set(events.loc[masks[i], "session_id"]) & set(events.loc[~masks[i], "session_id"])
    assert len(select_shard(events, shard_count=1, shard_index=0)) == len(events)


@pytest.mark.parametrize("count,index", [(0, 0), (2, 2), (2, -1), (1.5, 0)])
def test_bad_shard_params(count, index):
    with pytest.raises(ConfigError, match="shard"):
        in_shard(pd.Series(["a"]), shard_count=count, shard_index=index)


def test_manifest_shards_concatenate_to_the_unsharded_bytes(tmp_path):
    # A manifest with a repeated event_id is unreadable: keep the first of each (the fixture has ties).
    events = random_events(400).drop_duplicates("event_id").reset_index(drop=True)
    write_events(events, tmp_path / "all.parquet")
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"shard{i}.parquet")
        write_events(select_shard(events, shard_count=3, shard_index=i), paths[-1])
    write_events(merge_manifest_shards(paths), tmp_path / "merged.parquet")
    assert md5(tmp_path / "merged.parquet") == md5(tmp_path / "all.parquet")
    with pytest.raises(InputError, match="also in shard"):
        merge_manifest_shards([paths[0], paths[0]])


def test_feature_store_shards_concatenate_to_the_unsharded_store(tmp_path):
    pairs = []
    for k in range(6):
        path = tmp_path / f"kit{k}.wav"
        session_wav(path, [0.1, 0.4, 0.7])
        pairs += [(path, o) for o in (0.1, 0.4, 0.7)]
    events = events_for(pairs)
    events["session_id"] = [f"kit{k}" for k in range(6) for _ in range(3)]
    extract_to_store(events, tmp_path / "all", CFG)
    stores = []
    for i in range(2):
        stores.append(tmp_path / f"shard{i}")
        extract_to_store(select_shard(events, shard_count=2, shard_index=i), stores[-1], CFG)
    merge_feature_stores(stores, tmp_path / "merged", order=events[["event_id"]])
    for name in (FEATURES_FILE, INDEX_FILE):
        assert md5(tmp_path / "merged" / name) == md5(tmp_path / "all" / name)
    assert merge_feature_stores(stores, tmp_path / "plain", block_rows=2) == len(events)  # shard order
    with pytest.raises(InputError, match="two stores"):
        merge_feature_stores([stores[0], stores[0]], tmp_path / "dup")


def test_sharded_synth_merges_to_the_unsharded_manifest(tmp_path, monkeypatch):
    """Synth kits rendered as 2 shards, merged with `musicml shards merge-manifests`: the unsharded bytes."""
    monkeypatch.chdir(tmp_path)
    outs = []
    for count, index in ((1, 0), (2, 0), (2, 1)):
        events = synthesize("data/raw/synth", n_kits=5, hits_per_class=1, unknown_hits=0, seed=3,
                            keep_session=session_filter(shard_count=count, shard_index=index))
        outs.append(tmp_path / f"synth-{count}-{index}.parquet")
        write_events(events, outs[-1])
    assert 0 < len(pd.read_parquet(outs[1])) < len(pd.read_parquet(outs[0]))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-m", "musicml.cli", "shards", "merge-manifests", str(outs[1]),
                           str(outs[2]), "--out", str(tmp_path / "merged.parquet")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert md5(tmp_path / "merged.parquet") == md5(outs[0])
