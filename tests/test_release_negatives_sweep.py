"""Hard-negative mining and the sweep grid (command lines only: nothing is trained)."""

from __future__ import annotations

import pandas as pd
import pytest

from musicml.errors import ConfigError, InputError
from musicml.manifest import COLUMNS, events_frame
from musicml.release.negatives import mine_hard_negatives, negatives_summary
from musicml.sweep import expand_grid, experiment_name, queue_commands, rank_command, start_command


def _events(n):
    return events_frame([{"source": "synth", "session_id": f"s{i % 2}", "kit": "k", "audio_path": "a.wav",
                          "onset_s": float(i), "label": "unknown" if i >= 6 else "kick"} for i in range(n)])


def _predictions(events):
    # rows: 0 correct & confident, 1 wrong & confident, 2 wrong & unsure, 3-5 wrong & confident (snare),
    # 6 unknown taken for a snare, 7 unknown unsure
    spec = [(0, 0, "kick", 0.95), (0, 1, "snare", 0.90), (0, 1, "snare", 0.60), (0, 1, "snare", 0.80),
            (0, 1, "snare", 0.75), (0, 2, "clap", 0.71), (-1, 1, "snare", 0.99), (-1, 0, "kick", 0.5)]
    return pd.DataFrame({
        "event_id": events["event_id"].astype(str), "split": ["test"] * 6 + ["openset"] * 2,
        "label": events["label"].astype(str), "true_index": [s[0] for s in spec], "pred_index": [s[1] for s in spec],
        "predicted": [s[2] for s in spec], "max_softmax": [s[3] for s in spec]})


def test_confident_false_positives_capped_per_label():
    events = _events(8)
    preds = _predictions(events)
    neg, candidates = mine_hard_negatives(preds, events, min_confidence=0.7, max_per_label=2,
                                          splits=["test", "openset"])
    assert candidates == 5  # rows 1, 3, 4, 5, 6
    assert list(neg["predicted_label"]) == ["clap", "snare", "snare"]
    assert list(neg["confidence"]) == [0.71, 0.99, 0.9]  # most confident snares kept
    assert list(neg["label"]) == ["kick", "unknown", "kick"]
    assert set(COLUMNS) <= set(neg.columns) and {"split", "confidence"} <= set(neg.columns)
    summary = negatives_summary(neg, candidates=candidates)
    assert summary == {"negatives": 3, "candidates_above_confidence": 5,
                       "by_predicted_label": {"clap": 1, "snare": 2}, "by_true_label": {"kick": 2, "unknown": 1}}
    only_test, _ = mine_hard_negatives(preds, events, min_confidence=0.7, max_per_label=150, splits=["test"])
    assert "unknown" not in set(only_test["label"]) and len(only_test) == 4


def test_bad_predictions_are_clear_errors():
    events = _events(8)
    preds = _predictions(events)
    with pytest.raises(InputError, match="missing columns"):
        mine_hard_negatives(preds.drop(columns="max_softmax"), events, min_confidence=0.7, max_per_label=1,
                            splits=["test"], origin="p.parquet")
    with pytest.raises(InputError, match="not in the events manifest"):
        mine_hard_negatives(preds, events.iloc[:2], min_confidence=0.7, max_per_label=1, splits=["test"])
    with pytest.raises(ConfigError):
        mine_hard_negatives(preds, events, min_confidence=1.5, max_per_label=1, splits=["test"])
    empty, n = mine_hard_negatives(preds.iloc[:0], events, min_confidence=0.7, max_per_label=1, splits=["test"])
    assert n == 0 and len(empty) == 0  # no predictions: an empty manifest, not an error


def test_grid_expansion_and_command_lines():
    grid = {"train.lr": [0.001, 0.0005], "train.dropout": [0.3, 0.5], "augment.multiplier": [1]}
    points = expand_grid(grid)
    assert len(points) == 4 and points[0] == {"train.lr": 0.001, "train.dropout": 0.3, "augment.multiplier": 1}
    assert points[1]["train.dropout"] == 0.5 and points[2]["train.lr"] == 0.0005  # first key varies slowest
    cmds = queue_commands(grid, prefix="sweep")
    assert cmds[0] == ["dvc", "exp", "run", "--queue", "-n", "sweep-lr-0.001-dropout-0.3-multiplier-1",
                       "-S", "train.lr=0.001", "-S", "train.dropout=0.3", "-S", "augment.multiplier=1"]
    assert len({c[5] for c in cmds}) == 4  # unique experiment names
    assert start_command(3) == ["dvc", "queue", "start", "-j", "3"]
    assert rank_command("metrics/eval.json:macro_f1")[-4:] == ["--sort-by", "metrics/eval.json:macro_f1",
                                                               "--sort-order", "desc"]


def test_grid_values_keep_yaml_types():
    cmd = queue_commands({"train.device": ["cpu"], "health.required_labels": [["kick", "snare"]],
                          "train.resume": [True]})[0]
    assert "train.device=cpu" in cmd and "health.required_labels=[kick, snare]" in cmd and "train.resume=true" in cmd
    assert experiment_name("s", {"a.b": "x y/z"}) == "s-b-x_y_z"


def test_bad_grids_are_config_errors():
    with pytest.raises(ConfigError, match="empty"):
        expand_grid({})
    with pytest.raises(ConfigError, match="train.lr"):
        expand_grid({"train.lr": 0.001})
    with pytest.raises(ConfigError, match="SWEEP_JOBS"):
        start_command(0)


def test_sweep_dry_run_prints_the_queue_and_start_commands(tmp_path):
    import os
    import subprocess
    import sys

    import yaml

    from conftest import ROOT

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"sweep": params["sweep"]}))
    proc = subprocess.run([sys.executable, "-m", "musicml.cli", "sweep", "--dry-run"], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "SWEEP_JOBS": "3"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    n = len(expand_grid(params["sweep"]["grid"]))
    assert sum(line.startswith("dvc exp run --queue") for line in lines) == n
    assert "dvc queue start -j 3" in lines
    assert lines[-1].startswith(f"sweep: {n} experiments") and "--sort-by" in lines[-1]
