"""Unit tests of the drum CNN, its training loop (seeding, resume, checkpoints) and model files."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from musicml.atomic import save_torch
from musicml.drums.checkpoint import load_model, save_model
from musicml.drums.model import INPUT_NORMS, DrumClassifierCNN, count_parameters
from musicml.drums.training import (
    TrainConfig,
    build_model,
    class_groups,
    envelope_swap,
    mixed_loss,
    outlier_exposure_loss,
    predict_logits,
    predict_outputs,
    sampling_weights,
    resolve_device,
    train_classifier,
)
from musicml.errors import ConfigError, InputError
from musicml.features import MelConfig

# Tiny convolutions run fastest (and least affected by a busy machine) on one thread.
torch.set_num_threads(1)

# --- model ------------------------------------------------------------------------------------


@pytest.mark.parametrize("input_pool,size", [(1, 16), (2, 32), (1, 40)])
def test_output_shape(input_pool, size):
    model = DrumClassifierCNN(7, input_pool=input_pool).eval()
    out = model(torch.zeros(3, 1, size, size + 8))
    assert out.shape == (3, 7)


def test_input_pool_halves_resolution():
    assert isinstance(DrumClassifierCNN(input_pool=1).input_pool, torch.nn.Identity)
    pooled = DrumClassifierCNN(input_pool=2).input_pool
    assert pooled(torch.zeros(1, 1, 32, 32)).shape == (1, 1, 16, 16)


def test_parameter_count_of_seed_architecture():
    def conv_bn(cin, cout):
        return cin * cout * 9 + cout + 2 * cout  # conv weight + bias, BatchNorm weight + bias

    expected = conv_bn(1, 32) + conv_bn(32, 64) + conv_bn(64, 128) + conv_bn(128, 256) + 256 * 12 + 12
    assert expected == 391_884
    assert count_parameters(DrumClassifierCNN(12)) == expected
    assert count_parameters(DrumClassifierCNN(12, input_pool=2)) == expected  # pooling has no parameters


@pytest.mark.parametrize("n", [0, 1, 2, 4])
def test_freeze_blocks_freezes_exactly_the_first_n(n):
    model = DrumClassifierCNN(5)
    model.freeze_blocks(n)
    for i, block in enumerate(model.conv_blocks):
        assert all(p.requires_grad == (i >= n) for p in block.parameters()), i
    assert all(p.requires_grad for p in model.fc.parameters())


def test_dropout_is_used_only_in_training():
    model = DrumClassifierCNN(3, dropout=0.9)
    x = torch.rand(4, 1, 16, 16)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    torch.manual_seed(0)
    a = model(x)
    assert not torch.equal(a, model(x))


# --- training ---------------------------------------------------------------------------------


def toy_problem(n_per_class=20, seed=0):
    """Three classes of 8x8 images (the smallest input three 2x max-pools take): bright top rows,
    bright bottom rows, bright left columns. Small images keep CPU training to a fraction of a second."""
    rng = np.random.default_rng(seed)
    x = rng.random((3 * n_per_class, 1, 8, 8), dtype=np.float32) * 0.3
    x[:n_per_class, 0, :3, :] += 0.7
    x[n_per_class:2 * n_per_class, 0, -3:, :] += 0.7
    x[2 * n_per_class:, 0, :, :3] += 0.7
    return x, np.repeat(np.arange(3), n_per_class)


FEATURES, LABELS = toy_problem()
TRAIN_IDX = np.concatenate([np.arange(0, 14), np.arange(20, 34), np.arange(40, 54)])
VAL_IDX = np.setdiff1d(np.arange(60), TRAIN_IDX)
CONFIG = TrainConfig(epochs=3, samples_per_epoch=64, batch_size=8, lr=3e-3, input_pool=1, device="cpu",
                     seed=0, patience=10)


def train(tmp_path, config=CONFIG, name="ckpt.pt", **kw):
    kw.setdefault("classes", ["a", "b", "c"])
    return train_classifier(FEATURES, TRAIN_IDX, LABELS[TRAIN_IDX], np.ones(len(TRAIN_IDX)), VAL_IDX,
                            LABELS[VAL_IDX], n_classes=3, config=config, checkpoint_path=tmp_path / name, **kw)


def test_training_learns_a_separable_problem_and_checkpoints(tmp_path):
    seen = []
    model, result = train(tmp_path, on_epoch=seen.append)
    assert result.epochs_run == 3 and len(result.history) == 3 and seen == result.history
    assert result.best_val_macro_f1 > 0.9  # chance is about 0.33
    assert result.history[result.best_epoch - 1]["val_macro_f1"] == result.best_val_macro_f1
    assert result.n_parameters == count_parameters(DrumClassifierCNN(3))
    assert set(result.history[0]) == {"epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                                      "val_macro_f1", "lr"}
    assert result.history[0]["lr"] == pytest.approx(3e-3)
    assert result.history[-1]["lr"] < result.history[0]["lr"]  # cosine schedule decays
    # The returned model holds the best epoch's weights, on the CPU, in eval mode.
    assert not model.training and next(model.parameters()).device.type == "cpu"
    pred = predict_logits(model, FEATURES, VAL_IDX, device=torch.device("cpu")).argmax(1)
    assert np.mean(pred == LABELS[VAL_IDX]) == pytest.approx(result.history[result.best_epoch - 1]["val_accuracy"])

    state = torch.load(tmp_path / "ckpt.pt", map_location="cpu", weights_only=False)
    assert state["epoch"] == 3 and state["history"] == result.history
    assert state["best_epoch"] == result.best_epoch and state["config"]["seed"] == 0
    assert set(state["best_state"]) == set(DrumClassifierCNN(3).state_dict())
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary files left


@pytest.mark.parametrize("keep", ["best", "last"])
def test_keep_returns_the_best_or_the_last_epoch(tmp_path, monkeypatch, keep):
    # Validation macro-F1 falls every epoch, so the best epoch (1) is not the last (3).
    scores = iter([0.9, 0.8, 0.7])
    monkeypatch.setattr("musicml.drums.training.macro_f1", lambda *args: next(scores))
    model, result = train(tmp_path, config=replace(CONFIG, keep=keep))
    assert result.best_epoch == 1 and result.kept_epoch == {"best": 1, "last": 3}[keep]
    state = torch.load(tmp_path / "ckpt.pt", map_location="cpu", weights_only=False)
    expected = state["best_state"] if keep == "best" else state["model"]
    assert not torch.equal(state["best_state"]["fc.weight"], state["model"]["fc.weight"])
    for key, value in model.state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_keep_must_be_best_or_last():
    with pytest.raises(ConfigError, match="train.keep must be best or last, got 'final'"):
        replace(CONFIG, keep="final")


def test_same_seed_gives_identical_history(tmp_path):
    _, a = train(tmp_path, name="a.pt", config=replace(CONFIG, epochs=1))
    _, b = train(tmp_path, name="b.pt", config=replace(CONFIG, epochs=1))
    _, c = train(tmp_path, name="c.pt", config=replace(CONFIG, epochs=1, seed=1))
    assert a.history == b.history
    assert a.history != c.history


class Killed(Exception):
    pass


@pytest.mark.parametrize("extras", [{}, {"freq_masks": 1, "time_masks": 1},
                                    {"swap_p": 0.5, "swap_groups": (("a", "b"),)}])
def test_resume_after_a_killed_run_matches_an_uninterrupted_run(tmp_path, extras):
    # A run is killed after its first epoch's checkpoint; resuming must give exactly the
    # uninterrupted run (same samples, dropout masks, SpecAugment masks, learning rates, weights).
    config = replace(CONFIG, epochs=3, **extras)
    full_model, full = train(tmp_path, name="full.pt", config=config)

    def kill_after_epoch_1(metrics):
        if metrics["epoch"] == 1:
            raise Killed

    with pytest.raises(Killed):
        train(tmp_path, name="resumed.pt", config=config, on_epoch=kill_after_epoch_1)
    state = torch.load(tmp_path / "resumed.pt", map_location="cpu", weights_only=False)
    assert state["epoch"] == 1 and len(state["history"]) == 1

    seen = []
    resumed_model, resumed = train(tmp_path, name="resumed.pt", config=replace(config, resume=True),
                                   on_epoch=seen.append)
    assert [m["epoch"] for m in seen] == [2, 3]  # only the missing epochs run
    assert resumed.history == full.history
    assert resumed.best_epoch == full.best_epoch and resumed.epochs_run == 3
    for key, value in full_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    _, fresh = train(tmp_path, name="x.pt", config=replace(CONFIG, epochs=1))
    _, resumed = train(tmp_path, name="missing.pt", config=replace(CONFIG, epochs=1, resume=True))
    assert resumed.history == fresh.history


def test_finetune_starts_from_checkpoint_with_frozen_blocks(tmp_path):
    source = DrumClassifierCNN(3, input_pool=1)
    save_model(tmp_path / "pre.pt", source, classes=["a", "b", "c"], mel=MelConfig())
    config = replace(CONFIG, finetune_checkpoint=str(tmp_path / "pre.pt"), freeze_blocks=2)
    model = build_model(3, config)
    for key, value in source.state_dict().items():
        assert torch.equal(value, model.state_dict()[key])
    assert [all(not p.requires_grad for p in b.parameters()) for b in model.conv_blocks] == [True, True, False, False]
    with pytest.raises(ConfigError, match="does not exist"):
        build_model(3, replace(CONFIG, finetune_checkpoint=str(tmp_path / "none.pt")))


@pytest.mark.parametrize("saved,config_norm", [("band_peak", "band_mean"), ("none", "band_peak"), ("band_mean", "none")])
def test_finetune_from_another_input_norm_is_a_one_line_config_error(tmp_path, saved, config_norm):
    save_model(tmp_path / "pre.pt", DrumClassifierCNN(3, input_norm=saved), classes=["a", "b", "c"], mel=MelConfig())
    config = replace(CONFIG, finetune_checkpoint=str(tmp_path / "pre.pt"), input_norm=config_norm)
    with pytest.raises(ConfigError, match=f"trained with input_norm={saved}, but train.input_norm is {config_norm}") as err:
        build_model(3, config)
    assert "\n" not in str(err.value)


def test_finetune_checks_bare_state_dicts_tensor_by_tensor(tmp_path):
    torch.save(DrumClassifierCNN(5, input_norm="band_peak").state_dict(), tmp_path / "bare.pt")
    config = replace(CONFIG, finetune_checkpoint=str(tmp_path / "bare.pt"), input_norm="band_peak")
    with pytest.raises(ConfigError, match=r"fc.weight is shape \(5, 256\) there, shape \(3, 256\) here"):
        build_model(3, config)
    with pytest.raises(ConfigError, match=r"conv1.0.weight is shape \(32, 2, 3, 3\) there, shape \(32, 1, 3, 3\)"):
        build_model(5, replace(config, input_norm="none"))
    assert build_model(5, config).input_norm == "band_peak"


def test_from_architecture_rebuilds_the_network():
    model = DrumClassifierCNN(4, dropout=0.2, input_pool=2, input_norm="band_mean")
    assert DrumClassifierCNN.from_architecture(4, model.architecture()).architecture() == model.architecture()
    assert DrumClassifierCNN.from_architecture(4, {"dropout": 0.3, "input_pool": 1}).input_norm == "none"


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="auto, cpu or cuda"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_resolve_device_cuda_without_gpu_is_a_config_error():
    with pytest.raises(ConfigError, match="cuda"):
        resolve_device("cuda")


def test_predict_logits_keeps_index_order():
    model = DrumClassifierCNN(3, input_pool=1).eval()
    idx = np.array([5, 1, 40, 3, 22])  # unsorted, spanning batches
    got = predict_logits(model, FEATURES, idx, device=torch.device("cpu"), batch_size=2)
    with torch.no_grad():
        expected = model(torch.from_numpy(FEATURES[idx])).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert predict_logits(model, FEATURES, np.array([], dtype=int), device=torch.device("cpu")).shape == (0, 3)


# --- checkpoint -------------------------------------------------------------------------------


@pytest.mark.parametrize("input_norm", INPUT_NORMS)
def test_save_and_load_model_round_trip(tmp_path, input_norm):
    mel = MelConfig(sr=16000, n_mels=32, n_frames=32)
    model = DrumClassifierCNN(4, dropout=0.1, input_pool=2, input_norm=input_norm)
    with torch.no_grad():  # non-default BatchNorm statistics must survive too
        model.conv1[1].running_mean.fill_(0.3)
    save_model(tmp_path / "m.pt", model, classes=["kick", "snare", "ride", "crash"], mel=mel)
    loaded, classes, loaded_mel = load_model(tmp_path / "m.pt")
    assert classes == ["kick", "snare", "ride", "crash"] and loaded_mel == mel
    assert not loaded.training and isinstance(loaded.input_pool, torch.nn.AvgPool2d)
    assert loaded.architecture() == {"dropout": 0.1, "input_pool": 2, "input_norm": input_norm}
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x))


def test_models_saved_before_input_norm_load_as_image_only(tmp_path):
    model = DrumClassifierCNN(3, input_pool=2)
    save_torch({"model": model.state_dict(), "classes": ["a", "b", "c"], "mel": MelConfig().to_dict(),
                "dropout": 0.3, "input_pool": 2}, tmp_path / "old.pt")
    loaded, _, _ = load_model(tmp_path / "old.pt")
    assert loaded.input_norm == "none"


@pytest.mark.parametrize("input_norm", ["band_mean", "band_peak"])
def test_band_channel_ignores_a_kit_wide_colour(input_norm):
    """The second channel is the same for two clips that differ by a constant per-band gain (a
    microphone's EQ in log-mel), and the first channel still sees the difference."""
    torch.manual_seed(0)
    model = DrumClassifierCNN(3, input_norm=input_norm).eval()
    seen = []
    model.conv1.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]) and None)
    clip = torch.rand(1, 1, 32, 32)
    eq = torch.linspace(-0.2, 0.2, 32).view(1, 1, 32, 1)
    with torch.no_grad():
        model(clip), model(clip + eq)
    assert seen[0].shape == (1, 2, 32, 32)
    torch.testing.assert_close(seen[0][:, 1], seen[1][:, 1])
    assert not torch.allclose(seen[0][:, 0], seen[1][:, 0])
    with pytest.raises(ConfigError, match="input_norm"):
        DrumClassifierCNN(3, input_norm="pcen")


def test_load_model_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "nope.pt")


def test_spec_mask_blanks_bands_and_frames_reproducibly():
    import torch

    from musicml.drums.training import spec_mask

    x = torch.arange(2 * 1 * 8 * 10, dtype=torch.float32).reshape(2, 1, 8, 10)
    kwargs = dict(freq_masks=1, freq_width=3, time_masks=1, time_width=4)
    a = spec_mask(x, generator=torch.Generator().manual_seed(0), **kwargs)
    b = spec_mask(x, generator=torch.Generator().manual_seed(0), **kwargs)
    assert torch.equal(a, b) and not torch.equal(a, x)  # seeded, and it masks something
    assert torch.equal(x, torch.arange(160, dtype=torch.float32).reshape(2, 1, 8, 10))  # input untouched
    for i in range(2):
        changed = a[i, 0] != x[i, 0]
        assert (a[i, 0][changed] == x[i].mean()).all()  # masked cells take the clip's mean
        rows, cols = changed.all(dim=1).sum(), changed.all(dim=0).sum()
        assert rows <= 3 and cols <= 4
    off = spec_mask(x, generator=torch.Generator(), freq_masks=0, freq_width=3, time_masks=0, time_width=4)
    assert off is x



# --- outlier exposure -------------------------------------------------------------------------


def swap_batch():
    """Six 4-band x 5-frame images: every band of example k peaks at a level of its own, then decays."""
    decay = torch.linspace(0.0, -0.4, 5)
    envelopes = torch.tensor([[1.0, 0.9, 0.8, 0.7], [0.6, 1.0, 0.7, 0.9], [0.9, 0.5, 1.0, 0.8],
                              [1.0, 0.6, 0.6, 0.6], [0.7, 1.0, 0.9, 0.5], [0.8, 0.8, 1.0, 0.9]])
    x = (envelopes[:, None, :, None] + decay * torch.arange(1, 7.0)[:, None, None, None] / 6).clamp(0, 1)
    return x, torch.tensor([0, 1, 2, 0, 1, -1])


def test_envelope_swap_exchanges_envelopes_within_groups_and_keeps_each_decay():
    x, y = swap_batch()
    groups = class_groups([["kick", "snare"]], ["kick", "snare", "clap"])
    out = envelope_swap(x, y, groups=groups, p=1.0, generator=torch.Generator().manual_seed(3))
    peak = x.amax(dim=3, keepdim=True)
    members = [0, 1, 3, 4]
    swapped = 0
    for k in range(len(y)):
        if k not in members:  # clap, and the outlier (-1): untouched
            assert torch.equal(out[k], x[k])
            continue
        # Each member now carries the envelope of a member of its group, and its own decay.
        new_peak = out[k].amax(dim=2, keepdim=True)
        assert any(torch.allclose(new_peak, peak[j]) for j in members)
        assert torch.allclose(out[k] - new_peak, x[k] - peak[k])
        swapped += not torch.allclose(new_peak, peak[k])
    assert swapped >= 1  # a partner may be the example itself
    again = envelope_swap(x, y, groups=groups, p=1.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(out, again)
    assert torch.equal(envelope_swap(x, y, groups=groups, p=0.0, generator=torch.Generator()), x)


def test_envelope_swap_probability_leaves_the_rest_unchanged():
    x, y = swap_batch()
    x, y = x.repeat(40, 1, 1, 1), y.repeat(40)
    groups = class_groups([["kick", "snare", "clap"]], ["kick", "snare", "clap"])
    out = envelope_swap(x, y, groups=groups, p=0.25, generator=torch.Generator().manual_seed(0))
    changed = (out != x).flatten(1).any(1)
    assert not changed[y < 0].any()
    # A quarter of the 200 group members are drawn, less those that drew themselves as partner.
    assert 25 <= int(changed.sum()) <= 60


def test_envelope_swap_groups_must_name_taxonomy_classes():
    with pytest.raises(ConfigError, match="train.envelope_swap.groups: 'rid' is not a class of the taxonomy"):
        class_groups([["crash", "rid"]], ["crash", "ride"])
    with pytest.raises(ConfigError, match="got no `classes`"):
        class_groups([["crash", "ride"]], None)
    with pytest.raises(ConfigError, match=r"train.envelope_swap.p must be in \[0, 1\]"):
        replace(CONFIG, swap_p=1.5)


def test_training_with_envelope_swap_needs_the_class_names(tmp_path):
    config = replace(CONFIG, epochs=1, swap_p=0.5, swap_groups=(("a", "b"),))
    with pytest.raises(ConfigError, match="got no `classes`"):
        train(tmp_path, config=config, classes=None)
    _, with_swap = train(tmp_path, name="s.pt", config=config)
    _, without = train(tmp_path, name="n.pt", config=replace(config, swap_p=0.0))
    assert with_swap.history != without.history


def test_outlier_exposure_loss_is_cross_entropy_to_uniform():
    # Its least value, log(K), is reached by a uniform prediction.
    assert float(outlier_exposure_loss(torch.full((2, 5), 3.0))) == pytest.approx(np.log(5))
    logits = torch.tensor([[4.0, 0.0, 0.0], [0.0, 1.0, -1.0]])
    uniform = torch.full((2, 3), 1 / 3)
    expected = -(uniform * torch.log_softmax(logits, dim=1)).sum(1).mean()  # CE(uniform, softmax)
    assert float(outlier_exposure_loss(logits)) == pytest.approx(float(expected), rel=1e-5)
    assert float(outlier_exposure_loss(torch.zeros(0, 3))) == 0.0
    # Its gradient makes a confident outlier less confident.
    x = logits.clone().requires_grad_(True)
    outlier_exposure_loss(x).backward()
    assert float(x.grad[0, 0]) > 0


def test_mixed_loss_adds_weighted_oe_term_on_outliers_only():
    logits = torch.tensor([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0], [5.0, 0.0, 0.0]])
    y = torch.tensor([0, 1, -1])
    ce = torch.nn.functional.cross_entropy(logits[:2], y[:2])
    assert float(mixed_loss(logits, y, oe_weight=0.0)) == pytest.approx(float(ce))
    assert float(mixed_loss(logits, y, oe_weight=0.5)) == pytest.approx(
        float(ce + 0.5 * outlier_exposure_loss(logits[2:])))
    assert float(mixed_loss(logits[2:], y[2:], oe_weight=1.0)) == pytest.approx(
        float(outlier_exposure_loss(logits[2:])))  # a batch of outliers only


def test_sampling_weights_give_outliers_their_share_and_keep_known_ratios():
    w = np.array([1.0, 3.0, 2.0, 5.0, 5.0])
    y = np.array([0, 1, -1, 2, -1])
    out = sampling_weights(w, y, oe_share=0.2)
    assert out[y < 0].sum() == pytest.approx(0.2) and out.sum() == pytest.approx(1.0)
    known = y >= 0
    assert out[known] / out[known].sum() == pytest.approx(w[known] / w[known].sum())
    assert np.array_equal(sampling_weights(w, np.zeros(5, int), oe_share=0.2), w)  # no outliers: unchanged
    with pytest.raises(ConfigError, match="oe_share"):
        sampling_weights(w, y, oe_share=0.0)
    with pytest.raises(ConfigError, match="outliers only"):
        sampling_weights(w, -np.ones(5, int), oe_share=0.5)


def test_outlier_exposure_training_lowers_outlier_confidence(tmp_path):
    """Outliers (noise without a bright band) drawn into training come out less confident with OE."""
    rng = np.random.default_rng(3)
    noise = rng.random((40, 1, 8, 8), dtype=np.float32) * 0.3 + rng.random((40, 1, 1, 1), dtype=np.float32) * 0.7
    x = np.concatenate([FEATURES, noise])
    outlier_idx = np.arange(60, 80)
    held_out = np.arange(80, 100)
    train_idx = np.concatenate([TRAIN_IDX, outlier_idx])
    train_y = np.concatenate([LABELS[TRAIN_IDX], -np.ones(len(outlier_idx), int)])
    config = replace(CONFIG, epochs=4, samples_per_epoch=96)

    def held_out_confidence(oe_weight):
        model, result = train_classifier(x, train_idx, train_y, np.ones(len(train_idx)), VAL_IDX, LABELS[VAL_IDX],
                                         n_classes=3, config=replace(config, oe_weight=oe_weight),
                                         checkpoint_path=tmp_path / f"oe{oe_weight}.pt")
        assert result.best_val_macro_f1 > 0.9  # the known classes are still learned
        logits = predict_logits(model, x, held_out, device=torch.device("cpu"))
        return float(torch.softmax(torch.from_numpy(logits), 1).max(1).values.mean())

    assert held_out_confidence(1.0) < held_out_confidence(0.0) - 0.1


def test_predict_outputs_returns_logits_and_penultimate_features():
    model = DrumClassifierCNN(3, input_pool=1).eval()
    idx = np.array([5, 1, 30])
    logits, embedded = predict_outputs(model, FEATURES, idx, device=torch.device("cpu"), batch_size=2)
    assert embedded.shape == (3, 256)
    with torch.no_grad():
        x = torch.from_numpy(FEATURES[idx])
        assert np.allclose(logits, model(x).numpy(), atol=1e-5)
        assert np.allclose(embedded, model.embed(x).numpy(), atol=1e-5)


def test_predict_outputs_leaves_the_models_weights_as_they_were():
    """Inference runs on a channels-last copy; the model a training loop keeps using must not change layout."""
    model = DrumClassifierCNN(3, input_pool=1, input_norm="band_peak").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    predict_outputs(model, FEATURES, np.arange(10), device=torch.device("cpu"))
    for name, value in model.state_dict().items():
        assert value.is_contiguous(), name
        assert torch.equal(value, before[name]), name


def test_train_config_from_params_maps_the_subsections():
    from conftest import ROOT
    from musicml.config import load_yaml

    params = load_yaml(ROOT / "params.yaml")
    params["train"]["finetune"].update(enabled=True, checkpoint="x.pt", freeze_blocks=3, lr=0.5)
    params["train"]["spec_augment"].update(freq_masks=2, time_width=7)
    params["train"]["envelope_swap"] = {"p": 0.3, "groups": [["crash", "ride"], ["kick", "tom_low"]]}
    config = TrainConfig.from_params(params)
    assert (config.swap_p, config.swap_groups) == (0.3, (("crash", "ride"), ("kick", "tom_low")))
    assert (config.finetune_checkpoint, config.freeze_blocks, config.finetune_lr) == ("x.pt", 3, 0.5)
    assert (config.freq_masks, config.time_mask_width, config.seed) == (2, 7, params["seed"])
    assert config.epochs == params["train"]["epochs"]
    params["train"]["finetune"]["enabled"] = False
    assert TrainConfig.from_params(params).finetune_checkpoint is None
