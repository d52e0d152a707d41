"""Dataset declarations, leak-free splits, validation scores, counts."""

from __future__ import annotations

import pandas as pd
import pytest

from midi_helpers import midi_params
from musicml.errors import ConfigError, InputError
from musicml.midi.datasets import (
    DatasetSpec, assign_splits, read_splits, stats_tables, tempo_bin, write_splits,
)
from musicml.midi.settings import load_settings
from musicml.midi.validate import Gates, balance_score, diversity_score, validate_dataset


def _frame(n_origins=40, copies=3, families=("a", "b", "c", "d")):
    rows = []
    for o in range(n_origins):
        for c in range(copies):  # an origin and its augmented / segmented copies
            rows.append({"sample_id": f"s{o}-{c}", "origin": f"synth:x:{o}", "family": families[o % len(families)],
                         "source": "synth"})
    rows += [{"sample_id": f"r{i}", "origin": f"real:{i // 2}", "family": "import:real", "source": "real"}
             for i in range(6)]
    return pd.DataFrame(rows)


def test_splits_never_put_one_origin_in_two_splits():
    frame = _frame()
    splits = assign_splits(frame, test_family="d", val_fraction=0.2, seed=1)
    assert (pd.DataFrame({"o": frame["origin"], "s": splits}).groupby("o")["s"].nunique() == 1).all()
    assert set(splits[frame["family"] == "d"]) == {"test"}
    assert "test" not in set(splits[frame["family"] != "d"][frame["source"] == "synth"])
    assert set(splits) == {"train", "val", "test"}


def test_imported_source_can_be_its_own_test_set_and_splits_are_seeded():
    frame = _frame()
    splits = assign_splits(frame, test_family="d", val_fraction=0.2, seed=1, test_sources=["real"])
    assert set(splits[frame["source"] == "real"]) == {"test"}
    again = assign_splits(frame, test_family="d", val_fraction=0.2, seed=1, test_sources=["real"])
    other = assign_splits(frame, test_family="d", val_fraction=0.2, seed=2, test_sources=["real"])
    assert splits.equals(again) and not splits.equals(other)
    with pytest.raises(ConfigError, match="val_fraction"):
        assign_splits(frame, test_family="d", val_fraction=1.0, seed=1)


def test_split_files_round_trip_and_reject_a_sample_in_two_files(tmp_path):
    frame = _frame(n_origins=8, copies=1)
    splits = assign_splits(frame, test_family="d", val_fraction=0.25, seed=0)
    counts = write_splits(tmp_path, frame["sample_id"], splits)
    assert sum(counts.values()) == len(frame)
    assert read_splits(tmp_path) == dict(zip(frame["sample_id"], splits))
    (tmp_path / "val.txt").write_text((tmp_path / "train.txt").read_text().splitlines()[0] + "\n")
    with pytest.raises(InputError, match="val.txt:1"):
        read_splits(tmp_path)


def test_balance_of_hand_made_unbalanced_sets():
    assert balance_score(["a"] * 10 + ["b"] * 5, ["a", "b"]) == 0.5
    assert balance_score(["a"] * 4 + ["b"] * 4 + ["c"] * 4, ["a", "b", "c"]) == 1.0
    assert balance_score(["a"] * 4, ["a", "b"]) == 0.0  # a declared category with no sample


def test_diversity_of_hand_made_sets():
    frame = pd.DataFrame({"key": ["C", "G", "D"] * 2, "mode": ["major"] * 6, "tempo_bpm": [50, 70, 100, 130, 160, 100]})
    score, detail = diversity_score(frame, ["key", "mode", "tempo"], tempo_edges=[60, 90, 120, 150])
    assert detail == {"key": 3 / 12, "mode": 0.5, "tempo": 1.0}
    assert score == pytest.approx((0.25 + 0.5 + 1.0) / 3)


def test_tempo_bins_and_stats():
    assert [tempo_bin(t, [60, 90]) for t in (50, 60, 89.9, 90, 200)] == ["<60", "60-90", "60-90", ">=90", ">=90"]
    frame = pd.DataFrame({"emotion": ["happy", "sad", "happy"], "key": ["C", "A", "C"], "mode": ["major", "minor",
                         "major"], "tempo_bpm": [120, 70, 125], "source": ["synth"] * 3, "split": ["train", "test",
                         "train"]})
    tables = stats_tables(frame, category="emotion", tempo_edges=[60, 90, 120])
    assert tables["emotion"] == {"happy": 2, "sad": 1}
    assert tables["tempo_bin"] == {"60-90": 1, ">=120": 2}
    assert tables["split"] == {"test": 1, "train": 2}


def _spec():
    return DatasetSpec(name="emotion", target_model="emotionrecognizer", category="emotion",
                       labels=("emotion", "valence"), diversity=("mode",), test_family="d", categories=("happy", "sad"))


def test_validate_dataset_scores_and_verdict(tmp_path):
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "config.json").write_text("{}")
    rows = []
    for i, (emotion, valence) in enumerate([("happy", 0.8)] * 6 + [("sad", 0.2)] * 3 + [("sad", 1.5)]):
        rows.append({"sample_id": f"s{i}", "origin": f"o{i}", "emotion": emotion, "valence": valence,
                     "mode": "major" if emotion == "happy" else "minor", "measured_n_notes": 10,
                     "measured_checks": {"key": i != 0, "mode": True}})
    frame = pd.DataFrame(rows)
    for field in ("arousal", "key", "tempo_bpm", "groove_type", "swing_ratio", "articulation", "chord_progression",
                  "quality_score", "is_verified", "notes"):
        frame[field] = None
    splits = {f"s{i}": "test" if i in (0, 9) else "train" for i in range(10)}
    report = validate_dataset(frame, folder=tmp_path, splits=splits, spec=_spec(), categories={"emotion": ["happy",
                              "sad"]}, gates=Gates(), tempo_edges=[60, 120])
    assert report["balance_score"] == pytest.approx(4 / 6, abs=1e-4)
    assert report["quality_score"] == pytest.approx(0.9)  # valence 1.5 is out of range
    assert report["diversity_score"] == 1.0
    assert report["consistency_score"] == pytest.approx(19 / 20)
    assert report["structure_score"] == 1.0
    assert not report["valid"] and any(f.startswith("balance") for f in report["failed"])
    assert any("valence" in r for r in report["quality_failure_examples"])


def test_gates_must_be_shares():
    with pytest.raises(ConfigError, match="min_balance"):
        Gates(min_balance=1.5)


@pytest.mark.parametrize("path, value, match", [
    (("datasets", "emotion", "target_model"), "emotionnet", "unknown target model"),
    (("datasets", "groove", "labels"), ["groove_type", "tempo_feel"], "unknown label"),
    (("datasets", "groove", "test_family"), "polka", "test_family"),
    (("datasets", "melody", "category"), "emotion_x", "category"),
    (("seed",), "x", "seed"),
])
def test_bad_dataset_declarations(path, value, match):
    params = midi_params()
    node = params
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ConfigError, match=match):
        load_settings(params)


def test_unknown_dataset_name():
    params = midi_params()
    params["datasets"]["rhythm"] = dict(params["datasets"]["groove"])
    with pytest.raises(ConfigError, match="unknown dataset 'rhythm'"):
        load_settings(params)
