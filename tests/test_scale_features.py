"""features.workers: the store is byte-identical for any number of worker processes (issue 5)."""

from __future__ import annotations

import hashlib
import pickle

import numpy as np
import pytest

from musicml.errors import ConfigError, InputError
from musicml.features import FEATURES_FILE, INDEX_FILE, MelConfig, extract_to_store, open_store
from test_features import CFG, events_for, session_wav


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def events(tmp_path):
    pairs = []
    for k in range(5):  # five files, hits in shuffled order: rows must land where they belong
        path = tmp_path / f"s{k}.wav"
        onsets = [0.05 + 0.15 * i for i in range(5)]
        session_wav(path, onsets, seconds=1.0)
        pairs += [(path, o) for o in onsets]
    order = np.random.default_rng(0).permutation(len(pairs))
    return events_for([pairs[i] for i in order])


def test_one_and_two_workers_give_byte_identical_stores(events, tmp_path):
    extract_to_store(events, tmp_path / "w1", CFG, workers=1)
    extract_to_store(events, tmp_path / "w2", CFG, workers=2)
    for name in (FEATURES_FILE, INDEX_FILE):
        assert md5(tmp_path / "w1" / name) == md5(tmp_path / "w2" / name)
    features, index = open_store(tmp_path / "w2")
    assert features.shape == (len(events), 1, CFG.n_mels, CFG.n_frames)
    assert np.all(features.max(axis=(1, 2, 3)) > 0)  # every row was written
    assert index["event_id"].tolist() == events["event_id"].tolist()


def test_worker_error_reaches_the_caller_as_input_error(events, tmp_path):
    bad = events.copy()
    bad.loc[3, "onset_s"] = 9.0  # past the end of a 1 s file
    with pytest.raises(InputError, match="past the end"):
        extract_to_store(bad, tmp_path / "out", CFG, workers=2)
    assert not (tmp_path / "out").exists()


def test_input_error_pickles_with_its_fields():
    err = pickle.loads(pickle.dumps(InputError("a.jsonl", "bad", line=3, field="onset_s")))
    assert (err.path, err.line, err.field, str(err)) == ("a.jsonl", 3, "onset_s", "a.jsonl:3: field 'onset_s': bad")


def test_workers_param_is_checked_and_left_out_of_the_mel_config(events, tmp_path):
    with pytest.raises(ConfigError, match="workers"):
        extract_to_store(events, tmp_path / "x", CFG, workers=0)
    assert MelConfig.from_params({**CFG.to_dict(), "workers": 4}) == CFG
    with pytest.raises(TypeError):
        MelConfig.from_params({**CFG.to_dict(), "n_melz": 3})  # a typo still fails


def test_float16_store_halves_the_file_and_keeps_the_images(events, tmp_path):
    extract_to_store(events, tmp_path / "f32", CFG)
    extract_to_store(events, tmp_path / "f16", CFG, dtype="float16", workers=2)
    full, _ = open_store(tmp_path / "f32")
    half, index = open_store(tmp_path / "f16")
    assert half.dtype == np.float16 and half.shape == full.shape and len(index) == len(events)
    # The same rows, rounded to float16: images in [0, 1] lose at most half a float16 step (2.4e-4).
    assert np.array_equal(half, full.astype(np.float16))
    assert np.abs(half.astype(np.float32) - full).max() <= 2.5e-4
    data_bytes = full.size * 2
    assert (tmp_path / "f32" / FEATURES_FILE).stat().st_size - (tmp_path / "f16" / FEATURES_FILE).stat().st_size \
        == data_bytes
    with pytest.raises(ConfigError, match="features.dtype"):
        extract_to_store(events, tmp_path / "x", CFG, dtype="float64")
    assert not (tmp_path / "x").exists()
    assert MelConfig.from_params({**CFG.to_dict(), "dtype": "float16"}) == CFG


def test_shard_stores_of_different_dtypes_are_refused(events, tmp_path):
    from musicml.shards import merge_feature_stores

    extract_to_store(events.iloc[:10], tmp_path / "a", CFG)
    extract_to_store(events.iloc[10:18], tmp_path / "b", CFG, dtype="float16")
    extract_to_store(events.iloc[18:], tmp_path / "c", CFG, dtype="float16")
    with pytest.raises(InputError, match="dtype"):
        merge_feature_stores([tmp_path / "a", tmp_path / "b"], tmp_path / "m")
    assert merge_feature_stores([tmp_path / "b", tmp_path / "c"], tmp_path / "m16") == len(events) - 10
    merged, _ = open_store(tmp_path / "m16")
    assert merged.dtype == np.float16


def test_a_single_process_extracts_with_one_blas_thread_too(events, tmp_path, monkeypatch):
    # With the machine's BLAS pool the mel products differ in their last bits from the workers'
    # (one thread each): the store would depend on `workers` and on the core count.
    from threadpoolctl import threadpool_info

    from musicml import features

    seen, extract = [], features._extract_file

    def recording(task):
        seen.append({p["num_threads"] for p in threadpool_info()})
        return extract(task)

    monkeypatch.setattr(features, "_extract_file", recording)
    extract_to_store(events, tmp_path / "w1", CFG, workers=1)
    assert len(seen) == 5 and all(threads == {1} for threads in seen)
