"""The frame-level drum transcriber (a small CRNN, as ADTOF and madmom use): model, training, ONNX export.

Training reads whole labelled takes (the grooves: audio plus exact onsets from
their MIDI), turns each into mel-power frames once, and draws random crops of
one streaming window's length. Augmentation works on mel power, where it is
cheap and (for gain and EQ) exact: a random gain, a spectral tilt, added noise
frames and, sometimes, a second crop mixed in (its onsets join the targets).
After every epoch the model transcribes the validation takes exactly as
``musicml transcribe`` does (the same windows, owned spans and peak picking);
their onset F-measure picks the epoch and the per-class peak thresholds.

Serving needs none of this: :mod:`musicml.drums.frame_transcription` runs the
ONNX export with onnxruntime.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from musicml.atomic import atomic_path, save_torch
from musicml.audio import load_audio
from musicml.config import checked_keys
from musicml.drums.boundary import merge_close_onsets
from musicml.drums.frame_transcription import (METADATA_CLASSES, METADATA_FRAMES, METADATA_PEAKS, FrameConfig,
                                               FrameWindow, choose_thresholds, compress, frame_windows,
                                               onset_targets, padded_mel_power, peak_radius, stitch)
from musicml.drums.training import seed_everything
from musicml.errors import ConfigError

TEMPORAL_MODELS = ("gru", "tcn")


class DilatedResidualBlock(nn.Module):
    """A non-causal dilated 1-D convolution over time with a residual connection (one TCN layer)."""

    def __init__(self, channels: int, dilation: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, dilation=dilation, padding=dilation)
        self.norm = nn.BatchNorm1d(channels)
        self.act = nn.ReLU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(self.act(self.norm(self.conv(x))))


class FrameTranscriberNet(nn.Module):
    """Conv blocks over (time, mel) pooling only frequency, a temporal model, one logit per class.

    The temporal model is a bidirectional GRU (``temporal="gru"``, the CRNN of ADTOF and madmom) or a stack
    of dilated residual 1-D convolutions (``temporal="tcn"``, as in TCN drum transcribers) that sees a
    two-sided context of ``1 + 2 * sum(dilations)`` frames. The conv blocks dominate a training step either
    way (TCN 0.19 vs GRU 0.25 CPU s, benchmarks/transcriber_step.py); the TCN's gain is accuracy.
    Input ``(batch, frames, n_mels)`` compressed log-mel; output ``(batch, frames, n_classes)`` logits.
    """

    def __init__(self, n_mels: int, n_classes: int, *, channels: Sequence[int] = (16, 32), convs_per_block: int = 1,
                 hidden: int = 64, dropout: float = 0.1, temporal: str = "gru",
                 dilations: Sequence[int] = (1, 2, 4, 8, 16)):
        super().__init__()
        layers: list[nn.Module] = []
        c_in, bands = 1, n_mels
        for c in channels:
            for _ in range(convs_per_block):
                layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU()]
                c_in = c
            layers += [nn.MaxPool2d((1, 3)), nn.Dropout(dropout)]
            bands //= 3
        if bands < 1:
            raise ConfigError(f"transcriber: {n_mels} mel bands cannot be pooled by 3 {len(channels)} times")
        if temporal not in TEMPORAL_MODELS:
            raise ConfigError(f"transcriber.temporal must be one of {list(TEMPORAL_MODELS)}, got {temporal!r}")
        self.temporal = temporal
        self.conv = nn.Sequential(*layers)
        if temporal == "gru":
            self.gru = nn.GRU(c_in * bands, hidden, batch_first=True, bidirectional=True)
            width = 2 * hidden
        else:
            self.project = nn.Conv1d(c_in * bands, hidden, 1)
            self.tcn = nn.Sequential(*(DilatedResidualBlock(hidden, int(d), dropout) for d in dilations))
            width = hidden
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(width, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.unsqueeze(1))  # (B, C, T, bands)
        b, c, t, m = h.shape
        if self.temporal == "gru":
            h, _ = self.gru(h.permute(0, 2, 1, 3).reshape(b, t, c * m))
        else:
            h = self.tcn(self.project(h.permute(0, 1, 3, 2).reshape(b, c * m, t))).transpose(1, 2)
        return self.out(self.dropout(h))


@dataclass(frozen=True)
class TranscriberConfig:
    """The ``transcriber`` params section (see params.yaml for each key's meaning)."""

    seed: int = 0
    epochs: int = 30
    steps_per_epoch: int = 100
    batch_size: int = 16
    crop_s: float = 1.0
    lr: float = 0.002
    weight_decay: float = 0.0001
    patience: int = 6
    channels: tuple = (16, 32)
    convs_per_block: int = 1
    hidden: int = 64
    dropout: float = 0.1
    temporal: str = "gru"
    dilations: tuple = (1, 2, 4, 8, 16)
    pos_weight: float = 4.0
    class_balance: float = 0.0
    validate_last: int = 0
    widen: float = 0.5
    gain_db: float = 12.0
    tilt_db: float = 3.0
    shift_bins: int = 0
    noise_prob: float = 0.5
    noise_db: tuple = (-75.0, -45.0)
    mix_prob: float = 0.3
    min_gap_ms: float = 30.0
    threshold_grid: tuple = tuple(round(0.05 * k, 2) for k in range(1, 20))
    threshold_beta: float = 1.0
    threads: int = 1
    extra_takes_per_kit: int = 0  # read by the transcriber_grooves stage (more training takes)
    heldout_takes_per_kit: int = 0  # read by the transcriber_grooves stage (more validation and test takes)
    frames: FrameConfig = field(default_factory=FrameConfig)

    @classmethod
    def from_params(cls, params: Mapping, *, seed: int) -> "TranscriberConfig":
        values = checked_keys(cls, params, "transcriber", exclude={"seed"})
        for name in ("channels", "dilations", "noise_db", "threshold_grid"):
            if name in values:
                values[name] = tuple(values[name])
        if "frames" in values:
            values["frames"] = FrameConfig(**values["frames"])
        cfg = cls(seed=seed, **values)
        for name in ("epochs", "steps_per_epoch", "batch_size", "convs_per_block", "hidden", "threads"):
            if getattr(cfg, name) < 1:
                raise ConfigError(f"transcriber.{name} must be >= 1, got {getattr(cfg, name)!r}")
        if cfg.class_balance < 0 or cfg.validate_last < 0 or cfg.shift_bins < 0:
            raise ConfigError(f"transcriber.class_balance, validate_last and shift_bins must be >= 0, got "
                              f"{cfg.class_balance!r}, {cfg.validate_last!r} and {cfg.shift_bins!r}")
        if cfg.temporal not in TEMPORAL_MODELS or not cfg.dilations or min(cfg.dilations) < 1:
            raise ConfigError(f"transcriber.temporal must be one of {list(TEMPORAL_MODELS)} and dilations positive "
                              f"integers, got {cfg.temporal!r} and {list(cfg.dilations)}")
        if not cfg.channels or not all(0 < g < 1 for g in cfg.threshold_grid) or not cfg.threshold_beta > 0:
            raise ConfigError("transcriber: channels must be non-empty, threshold_grid values in (0, 1) and "
                              "threshold_beta > 0")
        return cfg

    def architecture(self) -> dict:
        arch = {"channels": list(self.channels), "convs_per_block": self.convs_per_block, "hidden": self.hidden,
                "dropout": self.dropout}
        if self.temporal != "gru":  # checkpoints of GRU models keep their old form (and load as before)
            arch.update(temporal=self.temporal, dilations=list(self.dilations))
        return arch


def build_net(n_classes: int, cfg: TranscriberConfig) -> FrameTranscriberNet:
    return FrameTranscriberNet(cfg.frames.n_mels, n_classes, **cfg.architecture())


@dataclass
class TakeFrames:
    """One labelled take as training sees it: padded mel power, padded targets, references."""

    name: str
    n_samples: int
    n_frames: int
    pad: int
    power: np.ndarray    # (n_frames + 2 * pad, n_mels): frames -pad .. n_frames + pad - 1
    targets: np.ndarray  # (n_frames + 2 * pad, n_classes), zero in the padding
    references: list[tuple[float, int]]  # (onset_s, class index) of every labelled stroke


def take_frames(name: str, audio: np.ndarray, onsets: Sequence[float], labels: Sequence[Sequence[str]],
                classes: Sequence[str], cfg: TranscriberConfig, *, pad: int) -> TakeFrames:
    """A take's frames and targets; ``labels`` holds each event's labels (primary plus extra)."""
    fc = cfg.frames
    n = fc.frames_of(audio.size)
    target = onset_targets(onsets, labels, classes, n_frames=n, fps=fc.fps, widen=cfg.widen)
    padded = np.zeros((n + 2 * pad, len(classes)), np.float32)
    padded[pad:pad + n] = target
    column = {c: i for i, c in enumerate(classes)}
    refs = sorted((float(t), column[x]) for t, names in zip(onsets, labels) for x in dict.fromkeys(names)
                  if x in column)
    return TakeFrames(name, int(audio.size), n, pad, padded_mel_power(audio, fc, pad=pad), padded, refs)


def load_takes(events: pd.DataFrame, classes: Sequence[str], cfg: TranscriberConfig, *, pad: int,
               loader: Callable[[str], np.ndarray] | None = None) -> list[TakeFrames]:
    """Every take (``audio_path``) of ``events`` with its labelled onsets, in path order."""
    load = loader or (lambda p: load_audio(p, sr=cfg.frames.sr))
    takes = []
    for path, group in events.sort_values(["audio_path", "onset_s", "event_id"]).groupby("audio_path", sort=True):
        labels = [[str(row.label)] + [str(x) for x in (row.extra_labels if row.extra_labels is not None else [])]
                  for row in group.itertuples(index=False)]
        takes.append(take_frames(str(path), load(str(path)), group["onset_s"].to_numpy(np.float64), labels,
                                 classes, cfg, pad=pad))
    return takes


def shift_mel(power: np.ndarray, bins: int) -> np.ndarray:
    """Mel power ``(frames, n_mels)`` moved ``bins`` bands up (down when negative), the edge band repeated.

    A few mel bands are a few semitones at the top and more below: a drum tuned or a cymbal cast a little
    differently, the timbre variation between kits that the training kits alone under-sample.
    """
    if bins == 0:
        return power
    if bins > 0:
        return np.concatenate([np.repeat(power[:, :1], bins, axis=1), power[:, :-bins]], axis=1)
    return np.concatenate([power[:, -bins:], np.repeat(power[:, -1:], -bins, axis=1)], axis=1)


class Augmenter:
    """Random crops of training takes with gain, EQ tilt, noise and mixing, all on mel power."""

    def __init__(self, takes: Sequence[TakeFrames], cfg: TranscriberConfig, *, count: int, seed: int):
        import librosa

        if not takes:
            raise ConfigError("transcriber: no training takes")
        self.takes, self.cfg, self.count = list(takes), cfg, count
        fc = cfg.frames
        centres = librosa.mel_frequencies(n_mels=fc.n_mels + 2, fmin=fc.fmin, fmax=fc.sr / 2)[1:-1]
        self._octaves = np.log2(np.maximum(centres, 1.0) / 1000.0).astype(np.float32)
        lengths = np.array([t.n_frames for t in self.takes], np.float64)
        self._p = lengths / lengths.sum()
        noise_rng = np.random.default_rng([seed, 7])
        noise = noise_rng.standard_normal(fc.span(0, 2 * count)[1] - fc.span(0, 2 * count)[0]).astype(np.float32)
        from musicml.drums.frame_transcription import mel_power

        self._noise = mel_power(noise, fc)  # unit-variance white noise frames, scaled per crop

    def _crop(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        take = self.takes[rng.choice(len(self.takes), p=self._p)]
        half = self.count // 2
        start = int(rng.integers(-half, max(-half + 1, take.n_frames - half))) + take.pad
        start = min(max(start, 0), take.power.shape[0] - self.count)
        return take.power[start:start + self.count].copy(), take.targets[start:start + self.count].copy()

    def batch(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``size`` augmented crops: compressed log-mel ``(size, count, n_mels)`` and targets."""
        cfg = self.cfg
        xs, ys = [], []
        for _ in range(size):
            power, target = self._crop(rng)
            if rng.random() < cfg.mix_prob:
                other, other_target = self._crop(rng)
                power += other * np.float32(10 ** (rng.uniform(-6.0, 0.0) / 10))
                target = np.maximum(target, other_target)
            if cfg.shift_bins:
                power = shift_mel(power, int(rng.integers(-cfg.shift_bins, cfg.shift_bins + 1)))
            gain_db = rng.uniform(-cfg.gain_db, cfg.gain_db) + rng.uniform(-cfg.tilt_db, cfg.tilt_db) * self._octaves
            power *= (10 ** (gain_db / 10)).astype(np.float32)[None, :]
            if rng.random() < cfg.noise_prob:
                offset = int(rng.integers(0, self._noise.shape[0] - self.count + 1))
                level = 10 ** (rng.uniform(*cfg.noise_db) / 10)
                power += self._noise[offset:offset + self.count] * np.float32(level)
            xs.append(compress(power))
            ys.append(target)
        return np.stack(xs), np.stack(ys)


def take_windows(take: TakeFrames, cfg: TranscriberConfig, *, window_s: float, hop_s: float
                 ) -> tuple[list[FrameWindow], np.ndarray]:
    """The streaming windows of a take and their compressed log-mel inputs ``(n_windows, count, n_mels)``."""
    windows = frame_windows(take.n_samples, cfg.frames, window_s=window_s, hop_s=hop_s)
    starts = [w.first + take.pad for w in windows]
    if min(starts) < 0 or max(starts) + windows[0].count > take.power.shape[0]:
        raise ValueError(f"take {take.name}: padding {take.pad} is shorter than a window")  # a bug
    return windows, compress(np.stack([take.power[s:s + w.count] for s, w in zip(starts, windows)]))


def take_activations(model: nn.Module, take: TakeFrames, cfg: TranscriberConfig, *, window_s: float,
                     hop_s: float, batch_size: int = 32) -> np.ndarray:
    """The take's stitched activations ``(n_frames, n_classes)`` as streaming computes them (torch)."""
    windows, x = take_windows(take, cfg, window_s=window_s, hop_s=hop_s)
    model.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            outs.append(torch.sigmoid(model(torch.from_numpy(x[i:i + batch_size]))).numpy())
    return stitch(np.concatenate(outs), windows, take.n_frames)


def validate(model: nn.Module, takes: Sequence[TakeFrames], cfg: TranscriberConfig, *, window_s: float,
             hop_s: float, tolerance_s: float, n_classes: int) -> tuple[float, np.ndarray, list[dict]]:
    """Macro onset F on ``takes`` at the per-class thresholds of best F-beta (``cfg.threshold_beta``); returns
    (macro F, thresholds, per-class scores)."""
    acts = {t.name: take_activations(model, t, cfg, window_s=window_s, hop_s=hop_s) for t in takes}
    # Scored against what the output can say: one onset per class within the peak-picking gap.
    refs = {t.name: merge_close_onsets(t.references, merge_s=cfg.min_gap_ms / 1000) for t in takes}
    thresholds, scores = choose_thresholds(acts, refs, grid=cfg.threshold_grid,
                                           radius=peak_radius(cfg.min_gap_ms, cfg.frames), fps=cfg.frames.fps,
                                           tolerance_s=tolerance_s, n_classes=n_classes, beta=cfg.threshold_beta)
    present = [s["f_measure"] for s in scores if s["references"]]
    return (float(np.mean(present)) if present else 0.0), thresholds, scores


def class_pos_weights(takes: Sequence[TakeFrames], n_classes: int, cfg: TranscriberConfig) -> np.ndarray:
    """BCE weight of each class's onset frames: ``pos_weight * (median count / count) ** class_balance``.

    Rare classes (sidestick and clap are a few dozen strokes among thousands of hi-hats) weigh more, so a
    missed rare stroke costs about what a missed common one does; the factor is kept within 1/4 .. 4
    (a class with a handful of strokes must not dominate). ``class_balance`` 0: one weight for all.
    """
    counts = np.bincount([c for t in takes for _, c in t.references], minlength=n_classes).astype(np.float64)
    factor = np.ones(n_classes)
    present = counts > 0
    if cfg.class_balance and present.any():
        factor[present] = np.clip((np.median(counts[present]) / counts[present]) ** cfg.class_balance, 0.25, 4.0)
    return (cfg.pos_weight * factor).astype(np.float32)


@dataclass
class TrainResult:
    model: FrameTranscriberNet
    thresholds: np.ndarray
    val_scores: list[dict]
    val_macro_f: float
    best_epoch: int
    history: list[dict]
    seconds: float


def train_transcriber(train: Sequence[TakeFrames], val: Sequence[TakeFrames], classes: Sequence[str],
                      cfg: TranscriberConfig, *, window_s: float, hop_s: float, tolerance_s: float,
                      log: Callable[[str], None] = print) -> TrainResult:
    """Train on crops of ``train``; the epoch with the best validation macro onset F wins (early stopping).

    Without validation takes the last epoch is kept and thresholds stay at 0.5.
    """
    seed_everything(cfg.seed)
    torch.set_num_threads(cfg.threads)
    start = time.perf_counter()
    n_classes = len(classes)
    model = build_net(n_classes, cfg)
    count = max(8, int(round(cfg.crop_s * cfg.frames.fps)))
    augmenter = Augmenter(train, cfg, count=count, seed=cfg.seed)
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=cfg.lr, total_steps=cfg.epochs
                                                    * cfg.steps_per_epoch, pct_start=0.15)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.from_numpy(class_pos_weights(train, n_classes, cfg)))
    # Validating is a full streaming pass over every validation take plus a threshold search: only the last
    # `validate_last` epochs (0: all), where the one-cycle schedule has annealed and the best epoch lies.
    first_validated = 1 if not cfg.validate_last else max(1, cfg.epochs - cfg.validate_last + 1)
    best = (-1.0, 0, None, np.full(n_classes, 0.5, np.float32), [])
    history = []
    for epoch in range(1, cfg.epochs + 1):
        rng = np.random.default_rng([cfg.seed, epoch])
        model.train()
        losses = []
        for _ in range(cfg.steps_per_epoch):
            x, y = augmenter.batch(rng, cfg.batch_size)
            loss = loss_fn(model(torch.from_numpy(x)), torch.from_numpy(y))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            scheduler.step()
            losses.append(float(loss.detach()))
        row = {"epoch": epoch, "loss": float(np.mean(losses))}
        if val and epoch >= first_validated:
            f, thresholds, scores = validate(model, val, cfg, window_s=window_s, hop_s=hop_s,
                                             tolerance_s=tolerance_s, n_classes=n_classes)
            row["val_macro_f"] = f
            if f > best[0]:
                best = (f, epoch, {k: v.clone() for k, v in model.state_dict().items()}, thresholds, scores)
        history.append(row)
        log(f"transcriber epoch {epoch}: loss {row['loss']:.4f}"
            + (f", validation macro onset F {row['val_macro_f']:.4f}" if "val_macro_f" in row else ""))
        if val and epoch >= first_validated and epoch - max(best[1], first_validated - 1) >= cfg.patience:
            break
    if val:
        model.load_state_dict(best[2])
    f, epoch, _, thresholds, scores = best if val else (0.0, len(history), None, best[3], [])
    return TrainResult(model.eval(), thresholds, scores, float(f), epoch, history, time.perf_counter() - start)


def save_checkpoint(path: str | os.PathLike, result: TrainResult, classes: Sequence[str],
                    cfg: TranscriberConfig) -> None:
    """The trained weights plus everything export needs (classes, frames, architecture, thresholds)."""
    save_torch({"state_dict": result.model.state_dict(), "classes": list(classes),
                "frames": cfg.frames.to_dict(), "architecture": cfg.architecture(),
                "thresholds": [float(t) for t in result.thresholds], "min_gap_ms": cfg.min_gap_ms,
                "best_epoch": result.best_epoch}, path)


def load_checkpoint(path: str | os.PathLike) -> tuple[FrameTranscriberNet, dict]:
    """The model (eval mode) and the checkpoint's metadata."""
    state = torch.load(str(path), map_location="cpu", weights_only=False)
    arch = state["architecture"]
    frames = FrameConfig(**state["frames"])
    model = FrameTranscriberNet(frames.n_mels, len(state["classes"]), **arch)
    model.load_state_dict(state["state_dict"])
    return model.eval(), state


class _WithSigmoid(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(x))


def export_transcriber(model: nn.Module, path: str | os.PathLike, *, classes: Sequence[str], frames: FrameConfig,
                       thresholds: Sequence[float], min_gap_ms: float, opset: int = 17) -> None:
    """ONNX with input ``log_mel`` (batch, frames, n_mels), output ``activations`` (sigmoid), dynamic batch
    and frame axes, and the metadata :class:`~musicml.drums.frame_transcription.FrameTranscriber` reads."""
    import onnx

    model = model.eval().cpu()
    dummy = torch.zeros(1, 205, frames.n_mels)
    with atomic_path(path) as tmp:
        torch.onnx.export(_WithSigmoid(model).eval(), (dummy,), str(tmp), input_names=["log_mel"],
                          output_names=["activations"],
                          dynamic_axes={"log_mel": {0: "batch", 1: "frames"}, "activations": {0: "batch", 1: "frames"}},
                          opset_version=opset, dynamo=False)
        proto = onnx.load(str(tmp))
        peaks = {"thresholds": {c: float(t) for c, t in zip(classes, thresholds)}, "min_gap_ms": float(min_gap_ms)}
        for key, value in ((METADATA_CLASSES, json.dumps(list(classes))),
                           (METADATA_FRAMES, json.dumps(frames.to_dict(), sort_keys=True)),
                           (METADATA_PEAKS, json.dumps(peaks, sort_keys=True))):
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))


def onnx_parity(model: nn.Module, session, inputs: np.ndarray, *, batch_size: int = 16) -> float:
    """Largest |activation difference| between torch and onnxruntime on ``inputs`` (batch, frames, n_mels)."""
    worst = 0.0
    with torch.no_grad():
        for i in range(0, len(inputs), batch_size):
            x = np.asarray(inputs[i:i + batch_size], dtype=np.float32)
            expected = torch.sigmoid(model(torch.from_numpy(x))).numpy()
            got = session.run(["activations"], {"log_mel": x})[0]
            worst = max(worst, float(np.max(np.abs(expected - got))))
    return worst


def config_dict(cfg: TranscriberConfig) -> dict:
    """``cfg`` as plain JSON-able values (for metrics)."""
    out = asdict(cfg)
    return json.loads(json.dumps(out))
