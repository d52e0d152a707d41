"""A second training phase on recorded kits: fine-tune the synthetic-data model on them.

With recorded sources enabled (Hydrogen kits, SoundFont kits, a user's manifest,
recordings with MIDI), training in one go on everything lets the thousands of
synthetic hits drown the few hundred recorded ones. The `train` stage therefore
trains in two phases when the training split holds both kinds:

1. the model of the default pipeline, on every source *but* the recorded ones;
2. that model fine-tuned, all layers by default, on draws in which the recorded
   hits hold ``share`` of the mass and the rest are replayed from the other
   sources (so the synthetic classes are not forgotten), selected on the
   recorded validation kits when there are any.

Measured on the 4 held-out Hydrogen kits of ``make kits`` (270 hits; training on
the synthetic kits + the other 9 Hydrogen and 30 SoundFont kits): the MFCC
random forest reached macro-F1 0.544, one joint CNN run 0.54 (README), the
synthetic-only CNN 0.32-0.48 (three seeds), phase 2 with the first two blocks
frozen at lr 1e-4 0.60 (two seeds), all layers at lr 3e-4 0.64.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable

import numpy as np

from musicml.drums.training import TrainConfig
from musicml.errors import ConfigError


@dataclass(frozen=True)
class AdaptConfig:
    """``train.adapt`` of params.yaml: which sources are recorded, and how phase 2 trains."""

    sources: tuple[str, ...] = ()
    epochs: int = 10
    samples_per_epoch: int = 1280
    lr: float = 3e-4
    freeze_blocks: int = 0
    share: float = 0.5
    patience: int = 10

    @classmethod
    def from_params(cls, cfg: dict[str, Any]) -> "AdaptConfig":
        config = cls(**{**cfg, "sources": tuple(cfg.get("sources") or ())})
        if not 0.0 < config.share < 1.0:
            raise ConfigError(f"train.adapt.share must be in (0, 1), got {config.share}")
        return config

    def phase_config(self, base: TrainConfig) -> TrainConfig:
        """The phase-2 training config: ``base`` with this phase's length, rate and freezing."""
        return replace(base, epochs=self.epochs, samples_per_epoch=self.samples_per_epoch, patience=self.patience,
                       finetune_lr=self.lr, freeze_blocks=self.freeze_blocks, finetune_checkpoint=None,
                       resume=False)


def recorded_rows(sources: Iterable[str], recorded: Iterable[str]) -> np.ndarray:
    """Boolean mask of the rows whose source is recorded; an augmented copy (``hydrogen+aug``) counts too."""
    wanted = set(recorded)
    return np.array([str(s).split("+", 1)[0] in wanted for s in sources], dtype=bool)


def share_weights(weights: np.ndarray, in_group: np.ndarray, share: float) -> np.ndarray:
    """Rescale sampling ``weights`` so the rows ``in_group`` hold ``share`` of the total.

    Within each group the rows keep their weights relative to one another; the
    result sums to 1. With an empty group or an empty rest, the weights are
    only normalised (there is nothing to share with).
    """
    weights = np.asarray(weights, dtype=np.float64)
    in_group = np.asarray(in_group, dtype=bool)
    if not in_group.any() or in_group.all():
        return weights / weights.sum()
    out = np.empty_like(weights)
    out[in_group] = share * weights[in_group] / weights[in_group].sum()
    out[~in_group] = (1.0 - share) * weights[~in_group] / weights[~in_group].sum()
    return out


@dataclass(frozen=True)
class PhaseRows:
    """Row indices of the two phases (``adapt`` False: one phase on ``train`` / ``val``)."""

    adapt: bool
    first_train: np.ndarray
    first_val: np.ndarray
    second_val: np.ndarray


def phase_rows(train_idx: np.ndarray, val_idx: np.ndarray, recorded: np.ndarray,
               known: np.ndarray) -> PhaseRows:
    """Split the training and validation rows between the phases.

    Two phases run only when the training split holds known hits of both kinds,
    recorded and not. Phase 1 trains on the rest and validates on the rest's
    validation rows (all of them if the rest has none); phase 2 trains on every
    training row and validates on the recorded validation rows (all of them if
    there are none).
    """
    train_known = train_idx[known[train_idx]]
    if not (recorded[train_known].any() and (~recorded[train_known]).any()):
        return PhaseRows(False, train_idx, val_idx, val_idx)
    rest_val = val_idx[~recorded[val_idx]]
    recorded_val = val_idx[recorded[val_idx]]
    return PhaseRows(True, train_idx[~recorded[train_idx]], rest_val if len(rest_val) else val_idx,
                     recorded_val if len(recorded_val) else val_idx)
