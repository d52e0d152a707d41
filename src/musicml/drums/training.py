"""Training loop of the drum classifier: weighted sampling, AdamW + cosine schedule,
early stopping on validation macro-F1, checkpoints that a killed run resumes from.

The same loop runs as one process or as N DDP processes under ``torchrun``
(:mod:`musicml.drums.distributed`); one process behaves exactly as it always has."""

from __future__ import annotations

import copy
import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from sklearn.metrics import f1_score
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from musicml.atomic import save_torch
from musicml.config import section
from musicml.drums.distributed import (
    SINGLE_PROCESS,
    DistContext,
    ShardedWeightedSampler,
    all_reduce_sum,
    broadcast_from_main,
    derived_seed,
)
from musicml.drums.model import ARCHITECTURE_DEFAULTS, DrumClassifierCNN, count_parameters
from musicml.errors import ConfigError


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    samples_per_epoch: int = 3072
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    dropout: float = 0.3
    patience: int = 4
    # Which weights train_classifier returns: the epoch with the best validation macro-F1
    # ("best"), or the last epoch run ("last"); see params.yaml train.keep.
    keep: str = "best"
    input_pool: int = 2
    input_norm: str = "none"
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    finetune_checkpoint: str | None = None
    freeze_blocks: int = 2
    finetune_lr: float = 1e-4
    # SpecAugment: masks per training example (0 = off) and their largest width in bins/frames.
    freq_masks: int = 0
    freq_mask_width: int = 16
    time_masks: int = 0
    time_mask_width: int = 16
    # Outlier exposure (Hendrycks et al., 2019): training rows labelled -1 are outliers; their
    # loss, weighted by oe_weight, is the cross-entropy to the uniform distribution. oe_share is
    # the share of the sampler's draws that go to outliers (the known rows keep their weights).
    oe_weight: float = 0.0
    oe_share: float = 0.2
    # Envelope swap (see envelope_swap): probability per example, and groups of class names.
    swap_p: float = 0.0
    swap_groups: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        if self.keep not in ("best", "last"):
            raise ConfigError(f"train.keep must be best or last, got {self.keep!r}")
        if not 0.0 <= self.swap_p <= 1.0:
            raise ConfigError(f"train.envelope_swap.p must be in [0, 1], got {self.swap_p!r}")

    @classmethod
    def from_params(cls, params: dict) -> "TrainConfig":
        """The config that params.yaml's ``seed`` and ``train`` section describe.

        ``train.finetune`` and ``train.spec_augment`` map onto the flat fields.
        """
        cfg = dict(section(params, "train"))
        finetune, masks = cfg.pop("finetune"), cfg.pop("spec_augment")
        swap = cfg.pop("envelope_swap", None) or {"p": 0.0, "groups": []}
        return cls(**cfg, seed=section(params, "seed"),
                   swap_p=float(swap["p"]), swap_groups=tuple(tuple(g) for g in swap["groups"]),
                   finetune_checkpoint=finetune["checkpoint"] if finetune["enabled"] else None,
                   freeze_blocks=finetune["freeze_blocks"], finetune_lr=finetune["lr"],
                   freq_masks=masks["freq_masks"], freq_mask_width=masks["freq_width"],
                   time_masks=masks["time_masks"], time_mask_width=masks["time_width"])


@dataclass
class TrainResult:
    best_epoch: int
    best_val_macro_f1: float
    epochs_run: int
    n_parameters: int
    history: list[dict] = field(default_factory=list)
    kept_epoch: int = 0  # the epoch whose weights were returned (TrainConfig.keep)


class FeatureDataset(Dataset):
    """Rows ``indices`` of a (memory-mapped) feature array with integer labels."""

    def __init__(self, features: np.ndarray, indices: np.ndarray, labels: np.ndarray):
        self.features, self.indices, self.labels = features, np.asarray(indices), np.asarray(labels)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(np.array(self.features[self.indices[i]], dtype=np.float32)), int(self.labels[i])


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available; ``cuda`` without a GPU is a config error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device is 'cuda' but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"train.device must be auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed every RNG training touches and make CPU kernels deterministic."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Macro-F1 over the classes present in ``y_true`` (absent classes would be 0 by fiat)."""
    labels = np.unique(y_true)
    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


@torch.no_grad()
def predict_outputs(model: nn.Module, features: np.ndarray, indices: np.ndarray, *,
                    device: torch.device, batch_size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``(len(indices), n_classes)`` and penultimate features ``(len(indices), dim)`` in eval mode.

    The model's own weights are left as they are: inference runs on a copy in
    channels-last layout, in batches of 32. On the CPU (oneDNN) that is about 3x
    faster per hit than contiguous batches of 256 (``benchmarks/classifier_inference.py``),
    and the logits differ by float rounding only (about 4e-8).
    """
    model.eval()
    if device.type == "cpu":
        model = copy.deepcopy(model).to(memory_format=torch.channels_last)
    logits_out, embed_out = [], []
    for start in range(0, len(indices), batch_size):
        batch = np.asarray(features[np.sort(indices[start:start + batch_size])], dtype=np.float32)
        order = np.argsort(np.argsort(indices[start:start + batch_size]))
        inputs = torch.from_numpy(batch).to(device)
        if device.type == "cpu":
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        embedded = model.embed(inputs)
        logits = model.fc(embedded)  # dropout is the identity in eval mode
        logits_out.append(logits.float().cpu().numpy()[order])
        embed_out.append(embedded.float().cpu().numpy()[order])
    if not logits_out:
        return (np.zeros((0, model.fc.out_features), dtype=np.float32),
                np.zeros((0, model.fc.in_features), dtype=np.float32))
    return np.concatenate(logits_out), np.concatenate(embed_out)


def predict_logits(model: nn.Module, features: np.ndarray, indices: np.ndarray, *,
                   device: torch.device, batch_size: int = 32) -> np.ndarray:
    """Logits ``(len(indices), n_classes)`` of the model in eval mode."""
    return predict_outputs(model, features, indices, device=device, batch_size=batch_size)[0]


def outlier_exposure_loss(logits: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy from ``logits`` to the uniform distribution over the classes.

    ``logsumexp(z) - mean(z)`` per row: ``log K`` when every class is equally
    likely (its least value), growing as one class stands out, so minimising it
    on outliers teaches the model to be unsure of them (low max-softmax, low energy).
    """
    if logits.shape[0] == 0:
        return logits.sum() * 0.0  # keeps the graph (and dtype/device) of an empty batch
    return (torch.logsumexp(logits, dim=1) - logits.mean(dim=1)).mean()


def mixed_loss(logits: torch.Tensor, y: torch.Tensor, *, oe_weight: float) -> torch.Tensor:
    """Cross-entropy on the known rows (``y >= 0``) + ``oe_weight`` x :func:`outlier_exposure_loss` on
    the outliers (``y == -1``); each term a mean over its own rows, absent rows contribute 0."""
    known = y >= 0
    loss = F.cross_entropy(logits[known], y[known]) if bool(known.any()) else logits.sum() * 0.0
    if oe_weight > 0 and not bool(known.all()):
        loss = loss + oe_weight * outlier_exposure_loss(logits[~known])
    return loss


def sampling_weights(session_weights: np.ndarray, labels: np.ndarray, *, oe_share: float) -> np.ndarray:
    """Sampler weights with outliers (``labels == -1``) drawn at ``oe_share`` of the mass.

    Known rows keep their session weights relative to one another (scaled to
    ``1 - oe_share`` in total); outliers share ``oe_share`` in proportion to
    their own session weights. Without outliers the weights are returned as they are.
    """
    weights = np.asarray(session_weights, dtype=np.float64)
    outlier = np.asarray(labels) < 0
    if not outlier.any():
        return weights
    if not 0 < oe_share < 1:
        raise ConfigError(f"train.oe_share must be in (0, 1) with outliers in training, got {oe_share}")
    if outlier.all():
        raise ConfigError("training split holds outliers only, no known-class hits")
    out = np.empty_like(weights)
    out[~outlier] = (1 - oe_share) * weights[~outlier] / weights[~outlier].sum()
    out[outlier] = oe_share * weights[outlier] / weights[outlier].sum()
    return out


def spec_mask(x: torch.Tensor, *, generator: torch.Generator, freq_masks: int, freq_width: int,
              time_masks: int, time_width: int) -> torch.Tensor:
    """SpecAugment (Park et al., 2019): blank random mel bands and frames of each example.

    A masked region takes the example's mean, so a mask reads as "no
    information" rather than as silence, which would be a cue of its own.
    ``x`` has shape (batch, channels, n_mels, n_frames); a new tensor is returned.
    """
    if freq_masks <= 0 and time_masks <= 0:
        return x
    x = x.clone()
    batch, _, n_mels, n_frames = x.shape
    fill = x.mean(dim=(1, 2, 3))
    for axis, count, width, size in ((2, freq_masks, freq_width, n_mels), (3, time_masks, time_width, n_frames)):
        for _ in range(count):
            widths = torch.randint(0, min(width, size) + 1, (batch,), generator=generator)
            starts = (torch.rand(batch, generator=generator) * (size - widths + 1)).long()
            for i in range(batch):
                if widths[i] > 0:
                    x[i].narrow(axis - 1, int(starts[i]), int(widths[i])).fill_(float(fill[i]))
    return x


def class_groups(groups: Sequence[Sequence[str]], classes: Sequence[str] | None) -> list[torch.Tensor]:
    """Class indices of each group of class names (``train.envelope_swap.groups``)."""
    if groups and classes is None:
        raise ConfigError("train.envelope_swap.groups names classes, but train_classifier got no `classes`")
    index = {name: k for k, name in enumerate(classes or [])}
    resolved = []
    for group in groups:
        unknown = [name for name in group if name not in index]
        if unknown:
            raise ConfigError(f"train.envelope_swap.groups: {unknown[0]!r} is not a class of the taxonomy "
                              f"(expected one of {', '.join(index)})")
        resolved.append(torch.tensor([index[name] for name in group]))
    return resolved


def envelope_swap(x: torch.Tensor, y: torch.Tensor, *, groups: Sequence[torch.Tensor], p: float,
                  generator: torch.Generator) -> torch.Tensor:
    """Give examples of confusable classes each other's spectral envelope.

    Each mel band's peak over the clip is the hit's spectral envelope; what is
    left (``x`` minus that peak, the ``band_peak`` channel) is how each band rises
    and decays. With probability ``p``, an example whose class is in a group
    takes the envelope of a random example of the same group in the batch and
    keeps its own decay: ``x - peak(x) + peak(partner)``.

    Why: on the synthesizer, open hat, ride and crash differ by spectrum; on
    recorded kits they share a spectrum and differ by decay, so a network that
    learned the synthesizer's spectra calls recorded open hats rides. Swapping
    envelopes within the group makes the spectrum an unreliable cue there, and
    the decay a reliable one.

    ``x`` has shape (batch, channels, n_mels, n_frames), log-mel images in
    image units (0 = -80 dB, 1 = the clip's peak); ``y`` holds class indices
    (-1 for outliers, never swapped). A new tensor is returned.
    """
    if p <= 0 or not groups:
        return x
    out = x.clone()
    peak = x.amax(dim=3, keepdim=True)
    draws = torch.rand(len(y), generator=generator)
    for group in groups:
        members = torch.nonzero(torch.isin(y, group)).flatten()
        partners = members[torch.randint(len(members), (len(members),), generator=generator)] \
            if len(members) else members
        chosen = draws[members] < p
        rows, sources = members[chosen], partners[chosen]
        out[rows] = (x[rows] - peak[rows] + peak[sources]).clamp(0.0, 1.0)
    return out


def build_model(n_classes: int, config: TrainConfig) -> DrumClassifierCNN:
    """A new model, or one started from ``config.finetune_checkpoint`` with early blocks frozen."""
    model = DrumClassifierCNN(n_classes, dropout=config.dropout, input_pool=config.input_pool,
                              input_norm=config.input_norm)
    if config.finetune_checkpoint:
        if not os.path.exists(config.finetune_checkpoint):
            raise ConfigError(f"train.finetune.checkpoint {config.finetune_checkpoint} does not exist")
        state = torch.load(config.finetune_checkpoint, map_location="cpu", weights_only=True)
        check_finetune_source(config.finetune_checkpoint, state, model)
        model.load_state_dict(state.get("model", state))
        model.freeze_blocks(config.freeze_blocks)
    return model


def check_finetune_source(path: str | os.PathLike, state: dict, model: DrumClassifierCNN) -> None:
    """Raise a one-line ConfigError when checkpoint ``state`` cannot start ``model``.

    A checkpoint of :func:`musicml.drums.checkpoint.save_model` names its architecture: its
    ``input_norm`` and ``input_pool`` must equal the config's, since band_mean and band_peak
    weights have the same shapes and would load silently into the wrong network. Any other
    checkpoint (a bare state dict, a resume checkpoint) is checked tensor by tensor.
    """
    if "classes" in state:
        saved = {**ARCHITECTURE_DEFAULTS, **state}
        for key in ("input_norm", "input_pool"):
            if saved[key] != model.architecture()[key]:
                raise ConfigError(f"train.finetune.checkpoint {path} was trained with {key}={saved[key]}, "
                                  f"but train.{key} is {model.architecture()[key]}; set train.{key}: {saved[key]}")
    weights = state.get("model", state)
    for key, value in model.state_dict().items():
        theirs = weights.get(key)
        if theirs is None or tuple(theirs.shape) != tuple(value.shape):
            found = "missing" if theirs is None else f"shape {tuple(theirs.shape)}"
            raise ConfigError(f"train.finetune.checkpoint {path} does not fit this network: {key} is {found} "
                              f"there, shape {tuple(value.shape)} here (train.input_norm and the taxonomy's classes "
                              "must match the checkpoint's)")


def train_classifier(
    features: np.ndarray,
    train_idx: np.ndarray,
    train_y: np.ndarray,
    train_weights: np.ndarray,
    val_idx: np.ndarray,
    val_y: np.ndarray,
    *,
    n_classes: int,
    config: TrainConfig,
    checkpoint_path: str | os.PathLike,
    on_epoch: Callable[[dict], None] | None = None,
    on_resume: Callable[[list[dict]], None] | None = None,
    dist: DistContext = SINGLE_PROCESS,
    classes: Sequence[str] | None = None,
) -> tuple[DrumClassifierCNN, TrainResult]:
    """Train on rows ``train_idx`` of ``features``, select the epoch with the best validation macro-F1.

    Parameters
    ----------
    features : ndarray, shape (n, 1, n_mels, n_frames)
        The feature store (memory-mapped).
    train_idx, val_idx : ndarray of int
        Rows of ``features`` in each split.
    train_y, val_y : ndarray of int
        Class indices of those rows; -1 marks a training outlier (outlier exposure,
        ``config.oe_weight``), drawn at ``config.oe_share`` of the samples.
    train_weights : ndarray of float
        Sampling weight of each training row (``WeightedRandomSampler``), e.g. its session's.
    checkpoint_path : path
        Written after every epoch; with ``config.resume`` a run continues from it.
    on_epoch : callable, optional
        Called with the epoch's metrics dict (epoch, train_loss, train_accuracy,
        val_loss, val_accuracy, val_macro_f1, lr) — e.g. to log with DVCLive.
    on_resume : callable, optional
        Called once with the history restored from the checkpoint when a run
        resumes, so a logger can rebuild the curves of the epochs it will not see.
    dist : DistContext
        This process's place in a ``torchrun`` launch. With N processes the model
        is wrapped in DDP, each process trains on its share of one shared weighted
        draw (``samples_per_epoch`` in all, ``batch_size`` per process), losses and
        accuracies are summed over processes, rank 0 alone validates and its
        figures drive early stopping everywhere; only rank 0 writes the checkpoint
        and calls ``on_epoch`` / ``on_resume``.
    classes : sequence of str, optional
        Class names in index order; needed when ``config.swap_groups`` names classes.

    Returns
    -------
    model : DrumClassifierCNN
        With the best epoch's weights, on the CPU, in eval mode.
    result : TrainResult
    """
    seed_everything(config.seed)
    swap_groups = class_groups(config.swap_groups, classes) if config.swap_p > 0 else []
    train_weights = sampling_weights(train_weights, train_y, oe_share=config.oe_share)
    device = resolve_device(config.device)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())  # LOCAL_RANK's GPU
    model = build_model(n_classes, config).to(device)
    lr = config.finetune_lr if config.finetune_checkpoint else config.lr
    optimizer = torch.optim.AdamW((p for p in model.parameters() if p.requires_grad), lr=lr,
                                  weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(config.epochs, 1))
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    generator = torch.Generator().manual_seed(config.seed)
    mask_generator = torch.Generator().manual_seed(config.seed + 1)
    if dist.enabled:
        sampler = ShardedWeightedSampler(train_weights, config.samples_per_epoch, seed=config.seed,
                                         rank=dist.rank, world_size=dist.world_size)
    else:
        sampler = WeightedRandomSampler(torch.tensor(np.array(train_weights, dtype=np.float64)),
                                        num_samples=config.samples_per_epoch, replacement=True,
                                        generator=generator)
    loader = DataLoader(FeatureDataset(features, train_idx, train_y), batch_size=config.batch_size,
                        sampler=sampler, drop_last=False)
    loss_fn = nn.CrossEntropyLoss()  # validation: known hits only

    checkpoint_path = Path(checkpoint_path)
    start_epoch, best_f1, best_epoch, bad_epochs, history = 0, -1.0, 0, 0, []
    best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    if config.resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        mask_generator.set_state(state["mask_generator"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch, best_f1, best_epoch = state["epoch"], state["best_f1"], state["best_epoch"]
        bad_epochs, history, best_state = state["bad_epochs"], state["history"], state["best_state"]
        if on_resume and dist.is_main:
            on_resume(list(history))
    # Wrapped after a resume has loaded its weights: DDP starts every process from rank 0's.
    net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None) \
        if dist.enabled else model

    for epoch in range(start_epoch + 1, config.epochs + 1):
        if bad_epochs >= config.patience:
            break
        if dist.enabled:
            # Every random stream of a DDP epoch follows from (seed, epoch, rank): resuming needs
            # no per-process RNG state, and the processes drop out different units.
            sampler.set_epoch(epoch)
            torch.manual_seed(derived_seed(config.seed, epoch, dist.rank, 0))
            mask_generator.manual_seed(derived_seed(config.seed, epoch, dist.rank, 1))
        net.train()
        total_loss, correct, seen, rows = 0.0, 0, 0, 0
        for x, y in loader:
            x = spec_mask(x, generator=mask_generator, freq_masks=config.freq_masks,
                          freq_width=config.freq_mask_width, time_masks=config.time_masks,
                          time_width=config.time_mask_width)
            x = envelope_swap(x, y, groups=swap_groups, p=config.swap_p, generator=mask_generator)
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                logits = net(x)
                loss = mixed_loss(logits.float(), y, oe_weight=config.oe_weight)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total_loss += float(loss.detach()) * len(y)
            known = y >= 0  # accuracy over known hits: an outlier has no right class
            correct += int((logits.argmax(1)[known] == y[known]).sum())
            seen += int(known.sum())
            rows += len(y)
        current_lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        if dist.enabled:
            total_loss, correct, seen, rows = all_reduce_sum([total_loss, correct, seen, rows], device=device)

        metrics = None
        if dist.is_main:
            val_logits = predict_logits(model, features, val_idx, device=device)
            val_pred = val_logits.argmax(1)
            val_loss = float(loss_fn(torch.from_numpy(val_logits), torch.as_tensor(val_y, dtype=torch.long)))
            metrics = {
                "epoch": epoch, "train_loss": total_loss / max(rows, 1), "train_accuracy": correct / max(seen, 1),
                "val_loss": val_loss, "val_accuracy": float(np.mean(val_pred == val_y)),
                "val_macro_f1": macro_f1(val_y, val_pred, n_classes), "lr": current_lr,
            }
        if dist.enabled:
            # Rank 0's validation decides early stopping in every process, so all stop together.
            metrics = broadcast_from_main(metrics)
        history.append(metrics)
        if metrics["val_macro_f1"] > best_f1:
            best_f1, best_epoch, bad_epochs = metrics["val_macro_f1"], epoch, 0
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            bad_epochs += 1
        if not dist.is_main:
            continue
        save_torch({
            "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
            "mask_generator": mask_generator.get_state(),
            "torch_rng": torch.get_rng_state(), "best_f1": best_f1, "best_epoch": best_epoch,
            "bad_epochs": bad_epochs, "history": history, "best_state": best_state,
            "config": asdict(config),
        }, checkpoint_path)
        if on_epoch:
            on_epoch(metrics)

    model = model.cpu()
    kept_epoch = history[-1]["epoch"] if history else 0
    if config.keep == "best":
        model.load_state_dict(best_state)
        kept_epoch = best_epoch
    model.eval()
    return model, TrainResult(best_epoch=best_epoch, best_val_macro_f1=max(best_f1, 0.0),
                              epochs_run=len(history), n_parameters=count_parameters(model), history=history,
                              kept_epoch=kept_epoch)
