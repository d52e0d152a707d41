"""The recorded-kit phase of training (musicml.drums.adaptation) and its use by the train stage."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import ROOT, tiny_params
from musicml.config import load_yaml
from musicml.drums.adaptation import AdaptConfig, phase_rows, recorded_rows, share_weights
from musicml.drums.model import DrumClassifierCNN
from musicml.drums.training import TrainConfig, build_model, train_classifier
from musicml.errors import ConfigError

torch.set_num_threads(1)


def test_recorded_rows_count_augmented_copies_and_nothing_else():
    mask = recorded_rows(["synth", "hydrogen", "hydrogen+aug", "grooves", "soundfont+aug", "hydrogenx"],
                         ["hydrogen", "soundfont"])
    assert mask.tolist() == [False, True, True, False, True, False]


def test_share_weights_gives_the_group_its_share_and_keeps_ratios_within_groups():
    weights = np.array([1.0, 3.0, 2.0, 2.0, 4.0])
    group = np.array([True, True, False, False, False])
    out = share_weights(weights, group, 0.5)
    assert out.sum() == pytest.approx(1.0)
    assert out[group].sum() == pytest.approx(0.5)
    assert out[1] / out[0] == pytest.approx(3.0) and out[4] / out[2] == pytest.approx(2.0)
    # Nothing to share with: only normalised.
    assert share_weights(weights, np.zeros(5, bool), 0.5) == pytest.approx(weights / weights.sum())
    assert share_weights(weights, np.ones(5, bool), 0.5) == pytest.approx(weights / weights.sum())


def test_phase_rows_split_the_phases_only_when_both_kinds_train():
    recorded = np.array([False, False, True, True, False, True, False])
    known = np.array([True, True, True, True, True, True, False])
    train, val = np.array([0, 1, 2, 6]), np.array([4, 5])
    phases = phase_rows(train, val, recorded, known)
    assert phases.adapt
    assert phases.first_train.tolist() == [0, 1, 6]  # the outlier row stays in phase 1
    assert phases.first_val.tolist() == [4] and phases.second_val.tolist() == [5]
    # No recorded validation kit: phase 2 validates on all of them.
    assert phase_rows(train, np.array([4]), recorded, known).second_val.tolist() == [4]
    # Only synthetic, or only recorded, known training hits: one phase on everything.
    for rows in (np.array([0, 1, 6]), np.array([2, 3])):
        single = phase_rows(rows, val, recorded, known)
        assert not single.adapt and single.first_train.tolist() == rows.tolist()
        assert single.first_val.tolist() == val.tolist()


def test_adapt_config_from_params_and_phase_config():
    params = load_yaml(ROOT / "params.yaml")
    adapt = AdaptConfig.from_params(params["train"]["adapt"])
    assert "hydrogen" in adapt.sources and "synth" not in adapt.sources
    base = TrainConfig.from_params(params)
    phase = adapt.phase_config(replace(base, resume=True))
    assert (phase.epochs, phase.samples_per_epoch, phase.finetune_lr, phase.freeze_blocks, phase.patience) == \
        (adapt.epochs, adapt.samples_per_epoch, adapt.lr, adapt.freeze_blocks, adapt.patience)
    assert not phase.resume and phase.finetune_checkpoint is None and phase.seed == base.seed
    with pytest.raises(ConfigError, match="share"):
        AdaptConfig.from_params({**params["train"]["adapt"], "share": 1.0})


def test_train_config_from_params_maps_the_subsections():
    params = load_yaml(ROOT / "params.yaml")
    params["train"]["finetune"].update(enabled=True, checkpoint="x.pt", freeze_blocks=3, lr=0.5)
    params["train"]["spec_augment"].update(freq_masks=2, time_width=7)
    config = TrainConfig.from_params(params)
    assert (config.finetune_checkpoint, config.freeze_blocks, config.finetune_lr) == ("x.pt", 3, 0.5)
    assert (config.freq_masks, config.time_mask_width, config.seed) == (2, 7, params["seed"])
    params["train"]["finetune"]["enabled"] = False
    assert TrainConfig.from_params(params).finetune_checkpoint is None


def test_training_from_a_state_starts_there_at_the_finetune_rate(tmp_path):
    rng = np.random.default_rng(0)
    features = rng.random((24, 1, 16, 16)).astype(np.float32)
    labels = np.arange(24) % 3
    source = DrumClassifierCNN(3, input_pool=1)
    config = TrainConfig(epochs=1, samples_per_epoch=16, batch_size=8, input_pool=1, device="cpu",
                         finetune_lr=1e-5, freeze_blocks=1)
    model = build_model(3, config, init_state=source.state_dict())
    for key, value in source.state_dict().items():
        assert torch.equal(value, model.state_dict()[key])
    assert [all(not p.requires_grad for p in b.parameters()) for b in model.conv_blocks] == [True, False, False, False]
    _, result = train_classifier(features, np.arange(16), labels[:16], np.ones(16), np.arange(16, 24), labels[16:],
                                 n_classes=3, config=config, checkpoint_path=tmp_path / "c.pt",
                                 init_state=source.state_dict())
    assert result.history[0]["lr"] == pytest.approx(1e-5)


@pytest.mark.slow
def test_train_stage_fine_tunes_on_recorded_kits(reproduced, run_stage, tmp_path):
    """The tiny pipeline's store with one training and one validation kit renamed `hydrogen`: two phases."""
    store = tmp_path / "store"
    store.mkdir()
    (store / "features.npy").symlink_to(reproduced.root / "data/processed/features/features.npy")
    index = pd.read_parquet(reproduced.root / "data/processed/features/index.parquet")
    known = index[index["label"] != "unknown"]
    kits = [known.loc[known["split"] == split, "session_id"].iloc[0] for split in ("train", "val")]
    renamed = index["session_id"].isin(kits) & index["source"].str.startswith("synth")
    index["source"] = index["source"].where(~renamed, index["source"].str.replace("synth", "hydrogen"))
    index.to_parquet(store / "index.parquet")
    params = tiny_params(**{"train.adapt.epochs": 2, "train.adapt.samples_per_epoch": 32})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "out"
    run_stage("train", "--params", str(tmp_path / "params.yaml"), "--store", str(store),
              "--weights", str(reproduced.root / "data/interim/weights.csv"),
              "--model-out", str(out / "model.pt"), "--checkpoint", str(out / "ckpt.pt"),
              "--metrics", str(out / "train.json"), "--live-dir", str(out / "live"),
              cwd=reproduced.root)
    metrics = json.loads((out / "train.json").read_text())
    adapt = metrics["adapt"]
    assert adapt["recorded_train_events"] == int((renamed & (index["split"] == "train")).sum()) > 0
    assert adapt["epochs_run"] == 2 and adapt["val_events"] == int((renamed & (index["split"] == "val")
                                                                   & (index["label"] != "unknown")).sum())
    # The curves hold both phases; phase 1's checkpoint holds phase 1 only.
    curve = pd.read_csv(out / "live/plots/metrics/val_macro_f1.tsv", sep="\t")
    assert len(curve) == metrics["epochs_run"] + 2
    assert torch.load(out / "ckpt.pt", weights_only=False)["epoch"] == metrics["epochs_run"]
