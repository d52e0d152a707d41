"""The frame-level drum transcriber: frames, targets, windows, peak picking, training, ONNX and streaming."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import ROOT
from musicml.drums import frame_transcription as ft
from musicml.drums.transcribe import METHODS, StreamConfig, load_transcriber, method_of, transcribe
from musicml.drums.transcriber import (Augmenter, FrameTranscriberNet, TranscriberConfig, class_pos_weights, export_transcriber,
                                       load_takes, shift_mel,
                                       onnx_parity, save_checkpoint, load_checkpoint, take_activations,
                                       take_windows, train_transcriber)
from musicml.errors import ConfigError, InputError
from transcribe_helpers import export_random_model, run_cli, write_take

CLASSES = ["kick", "snare", "hihat_closed"]
FRAMES = ft.FrameConfig(sr=16000, n_fft=512, hop_length=160, n_mels=27, fmin=30.0)  # 100 frames/s
WINDOW_S, HOP_S = 1.024, 0.256


def tiny_config(**overrides) -> TranscriberConfig:
    values = dict(seed=3, epochs=5, steps_per_epoch=6, batch_size=8, crop_s=0.64, lr=0.01, channels=(8,),
                  hidden=16, dropout=0.0, patience=10, frames=FRAMES, threshold_grid=(0.2, 0.4, 0.6))
    return TranscriberConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def take(tmp_path_factory):
    """A 6-second backbeat take (kick, snare, hi-hat at known times) and its events frame."""
    path = tmp_path_factory.mktemp("take") / "take.wav"
    hits = write_take(path, seconds=6.0, bpm=120, seed=1, kit_index=1)
    rows = [{"event_id": f"e{i}", "audio_path": str(path), "onset_s": h.onset_s, "label": h.label,
             "extra_labels": []} for i, h in enumerate(hits) if h.label in CLASSES]
    return path, pd.DataFrame(rows)


@pytest.fixture(scope="module")
def trained(take, tmp_path_factory):
    """The tiny transcriber trained on the take, validated on it, exported to ONNX."""
    _, events = take
    cfg = tiny_config()
    takes = load_takes(events, CLASSES, cfg, pad=int(round(WINDOW_S * FRAMES.fps)) + 2)
    result = train_transcriber(takes, takes, CLASSES, cfg, window_s=WINDOW_S, hop_s=HOP_S, tolerance_s=0.05,
                               log=lambda line: None)
    folder = tmp_path_factory.mktemp("model")
    save_checkpoint(folder / "t.pt", result, CLASSES, cfg)
    model, state = load_checkpoint(folder / "t.pt")
    export_transcriber(model, folder / "t.onnx", classes=CLASSES, frames=FRAMES, thresholds=state["thresholds"],
                       min_gap_ms=cfg.min_gap_ms)
    return result, takes[0], cfg, folder / "t.onnx"


def test_model_maps_frames_to_class_logits():
    net = FrameTranscriberNet(80, 12, channels=(16, 32), hidden=8).eval()
    for frames in (205, 37):
        assert net(torch.zeros(2, frames, 80)).shape == (2, frames, 12)
    with pytest.raises(ConfigError, match="pooled"):
        FrameTranscriberNet(8, 3, channels=(4, 4))


def test_tcn_temporal_model_learns_reloads_and_exports(take, tmp_path):
    """The dilated-convolution temporal model: any frame count in, per-frame logits out; it learns the take,
    and its checkpoint reloads as a TCN that exports to ONNX with parity."""
    net = FrameTranscriberNet(80, 12, channels=(16, 32), hidden=8, temporal="tcn", dilations=(1, 2, 4)).eval()
    for frames in (205, 37, 3):
        assert net(torch.zeros(2, frames, 80)).shape == (2, frames, 12)
    with pytest.raises(ConfigError, match="temporal"):
        FrameTranscriberNet(80, 12, temporal="lstm")
    cfg = tiny_config(temporal="tcn", dilations=(1, 2, 4), epochs=6)
    takes = load_takes(take[1], CLASSES, cfg, pad=int(round(WINDOW_S * FRAMES.fps)) + 2)
    result = train_transcriber(takes, takes, CLASSES, cfg, window_s=WINDOW_S, hop_s=HOP_S, tolerance_s=0.05,
                               log=lambda line: None)
    assert result.history[-1]["loss"] < 0.6 * result.history[0]["loss"] and result.val_macro_f > 0.5
    save_checkpoint(tmp_path / "t.pt", result, CLASSES, cfg)
    model, state = load_checkpoint(tmp_path / "t.pt")
    assert model.temporal == "tcn" and state["architecture"]["dilations"] == [1, 2, 4]
    export_transcriber(model, tmp_path / "t.onnx", classes=CLASSES, frames=FRAMES, thresholds=state["thresholds"],
                       min_gap_ms=cfg.min_gap_ms)
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "t.onnx"), providers=["CPUExecutionProvider"])
    assert onnx_parity(model, session, take_windows(takes[0], cfg, window_s=WINDOW_S, hop_s=HOP_S)[1]) < 1e-4


def test_config_from_params():
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())["transcriber"]
    cfg = TranscriberConfig.from_params(params, seed=5)
    assert cfg.seed == 5 and cfg.frames.n_mels == params["frames"]["n_mels"] and cfg.channels == tuple(params["channels"])
    for bad in ({"epochs": 0}, {"threshold_beta": 0}, {"threshold_grid": [0.5, 1.0]}, {"layers": 3},
                {"class_balance": -1}, {"validate_last": -2}, {"temporal": "lstm"}, {"dilations": [1, 0]},
                {"shift_bins": -1}):
        with pytest.raises(ConfigError, match="transcriber"):
            TranscriberConfig.from_params({**params, **bad}, seed=5)
    with pytest.raises(ConfigError, match="hop_length"):
        ft.FrameConfig(hop_length=0)


def test_onset_targets_from_events():
    target = ft.onset_targets([0.10, 0.50, 0.503, 9.0], [["kick", "hihat_closed"], ["snare"], ["unknown"],
                                                          ["kick"]], CLASSES, n_frames=100, fps=100.0, widen=0.5)
    assert target.shape == (100, 3)
    kick, snare, hat = target[:, 0], target[:, 1], target[:, 2]
    assert kick[10] == 1 and kick[9] == kick[11] == 0.5 and kick.sum() == 2.0  # the 9 s onset is past the end
    assert hat[10] == 1 and snare[50] == 1 and snare[49] == snare[51] == 0.5
    assert target.sum() == 6.0  # `unknown` is no class


def test_peak_picking_thresholds_merges_and_streams():
    act = np.zeros((40, 2), np.float32)
    act[5, 0], act[6, 0] = 0.9, 0.7           # one stroke over two frames
    act[8, 0] = 0.8                           # within the radius of the stronger peak: merged
    act[20, 0] = 0.3                          # below class 0's threshold
    act[20, 1] = act[21, 1] = 0.6             # a flat top reports its first frame
    act[39, 1] = 0.9                          # at the very end
    peaks = ft.pick_peaks(act, np.array([0.5, 0.5]), radius=3)
    assert peaks == [(5, 0, pytest.approx(0.9)), (20, 1, pytest.approx(0.6)), (39, 1, pytest.approx(0.9))]
    rng = np.random.default_rng(0)
    noisy = rng.random((500, 3)).astype(np.float32)
    whole = ft.pick_peaks(noisy, np.array([0.3, 0.5, 0.7]), radius=2)
    stream = ft.StreamingPeaks(np.array([0.3, 0.5, 0.7]), radius=2)
    got, i = [], 0
    for size in rng.integers(1, 60, size=100):
        got += stream.push(noisy[i:i + size])
        i += size
        if i >= 500:
            break
    got += stream.flush()
    assert sorted(got) == sorted(whole) and len(whole) > 50


def test_thresholds_maximise_f_beta_on_validation():
    """Two strong and two weak true strokes, five weak false peaks: F1 prefers the high threshold,
    F3 (recall weighed 3x) the low one that finds every stroke."""
    act = np.zeros((100, 1), np.float32)
    act[[10, 30], 0] = 0.9
    act[[50, 70, 20, 40, 60, 80, 90], 0] = 0.4
    refs = {"take": [(0.1, 0), (0.3, 0), (0.5, 0), (0.7, 0)]}
    kwargs = dict(grid=[0.3, 0.6], radius=2, fps=100.0, tolerance_s=0.02, n_classes=1)
    high, scores = ft.choose_thresholds({"take": act}, refs, beta=1.0, **kwargs)
    assert high.tolist() == [0.6] and scores[0]["recall"] == 0.5 and scores[0]["precision"] == 1.0
    low, scores = ft.choose_thresholds({"take": act}, refs, beta=3.0, **kwargs)
    assert low.tolist() == [0.3] and scores[0]["recall"] == 1.0 and scores[0]["estimates"] == 9
    assert ft.f_beta(0.0, 0.0, 2.0) == 0.0 and ft.f_beta(0.5, 0.5, 2.0) == pytest.approx(0.5)
    assert ft.choose_thresholds({"take": act}, {}, **kwargs)[0].tolist() == [0.5]  # no references: the default


@pytest.mark.parametrize("n", [100, 16000, 16384, 16000 * 7 + 33])
def test_frame_windows_own_every_frame_once(n):
    windows = ft.frame_windows(n, FRAMES, window_s=WINDOW_S, hop_s=HOP_S)
    owned = np.concatenate([np.arange(w.owned_lo, w.owned_hi) for w in windows])
    assert np.array_equal(owned, np.arange(FRAMES.frames_of(n)))
    assert len({w.count for w in windows}) == 1
    assert all(w.first <= w.owned_lo and w.owned_hi <= w.first + w.count for w in windows)


def test_window_frames_equal_whole_take_frames(take):
    """What streaming computes from a window's samples equals those frames of the whole take."""
    path, _ = take
    import soundfile as sf

    audio, _ = sf.read(path, dtype="float32")
    pad = 120
    whole = ft.padded_log_mel(audio, FRAMES, pad=pad)
    for first in (-50, 0, 37, FRAMES.frames_of(audio.size) - 10):
        a, b = FRAMES.span(first, 100)
        samples = np.zeros(b - a, np.float32)
        lo, hi = max(a, 0), min(b, audio.size)
        samples[lo - a:hi - a] = audio[lo:hi]
        np.testing.assert_allclose(ft.compress(ft.mel_power(samples, FRAMES)), whole[first + pad:first + pad + 100],
                                   atol=1e-5)


def test_tiny_training_learns_the_take(trained):
    result, take, cfg, _ = trained
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < 0.6 * losses[0], losses
    assert 1 <= result.best_epoch <= cfg.epochs and len(result.history) == cfg.epochs
    # Clear strokes are found: the hi-hat (every eighth note) nearly perfectly, on average well above chance.
    hat = result.val_scores[CLASSES.index("hihat_closed")]
    assert hat["references"] > 10 and hat["f_measure"] > 0.8, result.val_scores
    assert result.val_macro_f > 0.5


def test_mel_shift_moves_bands_and_keeps_the_edges():
    power = np.arange(12, dtype=np.float32).reshape(2, 6)  # 2 frames x 6 bands
    assert shift_mel(power, 0) is power
    np.testing.assert_array_equal(shift_mel(power, 2), [[0, 0, 0, 1, 2, 3], [6, 6, 6, 7, 8, 9]])
    np.testing.assert_array_equal(shift_mel(power, -1), [[1, 2, 3, 4, 5, 5], [7, 8, 9, 10, 11, 11]])
    # In training: shifted crops differ from unshifted ones of the same draw; targets are untouched.
    cfg = tiny_config(shift_bins=3, mix_prob=0.0, noise_prob=0.0, gain_db=0.0, tilt_db=0.0)
    takes = [TakeFramesStub([])]
    takes[0].power = np.random.default_rng(0).random((300, 8)).astype(np.float32) + 0.1
    takes[0].targets = np.zeros((300, 3), np.float32)
    takes[0].n_frames, takes[0].pad = 200, 50
    takes[0].name = "stub"
    aug = Augmenter.__new__(Augmenter)
    aug.takes, aug.cfg, aug.count, aug._p = takes, cfg, 64, np.ones(1)
    aug._octaves = np.zeros(8, np.float32)
    shifted, _ = aug.batch(np.random.default_rng(1), 16)
    aug.cfg = tiny_config(mix_prob=0.0, noise_prob=0.0, gain_db=0.0, tilt_db=0.0)
    plain, _ = aug.batch(np.random.default_rng(1), 16)
    slices = np.stack([ft.compress(takes[0].power[i:i + 64]) for i in range(300 - 64 + 1)])

    def is_a_crop(x):
        return bool(np.any(np.all(np.isclose(slices, x[None]), axis=(1, 2))))

    assert all(is_a_crop(x) for x in plain)
    assert sum(not is_a_crop(x) for x in shifted) >= 8  # about 6 in 7 draws shift (0 is one of 7 values)


def test_rare_classes_weigh_more():
    refs = [(0.1 * i, 0) for i in range(100)] + [(0.1 * i, 1) for i in range(25)] + [(0.1 * i, 2) for i in range(4)]
    takes = [TakeFramesStub(refs)]
    flat = class_pos_weights(takes, 4, tiny_config(pos_weight=2.0))
    assert flat.tolist() == [2.0] * 4
    weights = class_pos_weights(takes, 4, tiny_config(pos_weight=2.0, class_balance=0.5))
    # median count 25: kick (100) halves, snare keeps 2, hi-hat (4) gets 2.5x; an absent class keeps 2. Then the caps.
    assert weights.tolist() == pytest.approx([1.0, 2.0, 2.0 * (25 / 4) ** 0.5, 2.0])
    capped = class_pos_weights(takes, 4, tiny_config(pos_weight=1.0, class_balance=2.0))
    assert capped.tolist() == pytest.approx([0.25, 1.0, 4.0, 1.0])


class TakeFramesStub:
    def __init__(self, references):
        self.references = references


def test_only_the_last_epochs_are_validated(take):
    cfg = tiny_config(epochs=3, steps_per_epoch=2, validate_last=1, patience=1)
    takes = load_takes(take[1], CLASSES, cfg, pad=int(round(WINDOW_S * FRAMES.fps)) + 2)
    result = train_transcriber(takes, takes, CLASSES, cfg, window_s=WINDOW_S, hop_s=HOP_S, tolerance_s=0.05,
                               log=lambda line: None)
    # patience 1 does not stop the unvalidated epochs; the one validated epoch is the best.
    assert ["val_macro_f" in h for h in result.history] == [False, False, True] and result.best_epoch == 3


def test_training_is_seeded(take):
    cfg = tiny_config(epochs=1, steps_per_epoch=2)
    takes = load_takes(take[1], CLASSES, cfg, pad=int(round(WINDOW_S * FRAMES.fps)) + 2)
    runs = [train_transcriber(takes, [], CLASSES, cfg, window_s=WINDOW_S, hop_s=HOP_S, tolerance_s=0.05,
                              log=lambda line: None) for _ in range(2)]
    for a, b in zip(runs[0].model.state_dict().values(), runs[1].model.state_dict().values()):
        assert torch.equal(a, b)
    assert runs[0].thresholds.tolist() == [0.5] * 3  # no validation takes: thresholds stay at 0.5


def test_onnx_parity_and_streaming_match_offline(trained, take):
    result, tk, cfg, onnx_path = trained
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    _, inputs = take_windows(tk, cfg, window_s=WINDOW_S, hop_s=HOP_S)
    assert onnx_parity(result.model, session, inputs) < 1e-4
    model = ft.FrameTranscriber.load(onnx_path, threads=1)
    assert model.classes == CLASSES and model.frames == FRAMES
    np.testing.assert_allclose(model.thresholds, result.thresholds)
    offline = ft.pick_peaks(take_activations(result.model, tk, cfg, window_s=WINDOW_S, hop_s=HOP_S),
                            result.thresholds, radius=ft.peak_radius(cfg.min_gap_ms, FRAMES))
    events = list(ft.transcribe_frames(take[0], model, window_ms=WINDOW_S * 1000, hop_ms=HOP_S * 1000))
    assert [(round(g / FRAMES.fps, 4), CLASSES[c]) for g, c, _ in offline] == [(e.time_s, e.label) for e in events]
    assert events and all(0 < e.confidence <= 1 for e in events)


def test_streaming_edge_cases(trained, tmp_path):
    import soundfile as sf

    model = ft.FrameTranscriber.load(trained[3], threads=1)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000 * 3, np.float32), 16000)
    assert list(ft.transcribe_frames(silent, model, window_ms=1024, hop_ms=256)) == []
    short = tmp_path / "short.wav"  # shorter than one window: one window
    sf.write(short, np.zeros(4000, np.float32), 16000)
    assert list(ft.transcribe_frames(short, model, window_ms=1024, hop_ms=256)) == []
    with pytest.raises(InputError, match="missing.wav"):
        list(ft.transcribe_frames(tmp_path / "missing.wav", model, window_ms=1024, hop_ms=256))


def test_method_selects_the_model(trained, take, tmp_path):
    with pytest.raises(ConfigError, match="method"):
        StreamConfig(method="magic")
    config = StreamConfig(method="frames", window_ms=1024, hop_ms=256)
    model = load_transcriber(config, trained[3])
    assert isinstance(model, ft.FrameTranscriber)
    assert [e.label for e in transcribe(take[0], model, config)]
    with pytest.raises(ConfigError, match="probabilities"):
        transcribe(take[0], model, config, with_probabilities=True)
    assert METHODS["frames"] == "models/transcriber.onnx"
    # The CLI, torch blocked: --method frames with the exported model, JSONL out.
    out = tmp_path / "events.jsonl"
    proc = run_cli("transcribe", take[0], "--method", "frames", "--model", trained[3], "--window-ms", "1024",
                   "--hop-ms", "256", "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and set(rows[0]) == {"time_s", "label", "confidence"}
    # A one-shot classifier is not a frame transcriber: a clear error; --model alone picks the method.
    classifier = export_random_model(tmp_path / "classifier.onnx")
    with pytest.raises(InputError, match="frame transcriber"):
        ft.FrameTranscriber.load(classifier)
    assert method_of(classifier, "frames") == "onsets" and method_of(trained[3], "onsets") == "frames"
    assert method_of(tmp_path / "missing.onnx", "frames") == "frames"
