"""The seed's DrumClassifierCNN."""

from __future__ import annotations

import torch
from torch import nn

from musicml.errors import ConfigError


def _band_mean(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=3, keepdim=True)


def _band_peak(x: torch.Tensor) -> torch.Tensor:
    return x.amax(dim=3, keepdim=True)


#: What the network sees of a clip: ``none`` the log-mel image alone (the seed's); ``band_mean`` /
#: ``band_peak`` the image plus a second channel with each mel band's mean / peak over the clip
#: subtracted. Each name maps to that per-band reduction over time (None: no second channel).
INPUT_NORMS = {"none": None, "band_mean": _band_mean, "band_peak": _band_peak}

#: What :meth:`DrumClassifierCNN.architecture` returns for a checkpoint saved before a key existed.
ARCHITECTURE_DEFAULTS = {"input_norm": "none"}


def _conv_block(in_ch: int, out_ch: int, *, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_ch, out_ch, 3, padding=1), nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]
    layers.append(nn.MaxPool2d(2) if pool else nn.AdaptiveAvgPool2d(1))
    return nn.Sequential(*layers)


class DrumClassifierCNN(nn.Module):
    """Four conv blocks (32-64-128-256, BatchNorm, ReLU, max-pool; global average
    pool after the last), dropout, and a linear layer to the classes.

    Parameters
    ----------
    n_classes : int
        Output logits (12 for the default taxonomy).
    dropout : float
        Dropout before the linear layer (the seed's 0.3).
    input_pool : int
        Average-pool factor applied to the input first. 1 keeps the seed's full
        128x128 resolution; 2 runs the same network on 64x64, about 5x faster on CPU.
    input_norm : {"none", "band_mean", "band_peak"}
        ``band_mean`` adds a second input channel: the (pooled) image minus each
        mel band's mean over the clip. That removes the clip's long-term spectral
        envelope, as cepstral mean normalisation does, so the colour of a kit's
        microphones and room weighs less than the shape of the hit. ``band_peak``
        subtracts each band's peak instead: every band's loudest frame reads 0, so
        the channel shows how each band rises and decays, whatever its level.
        Measured on recorded kits the synthetic-only model never saw, both transfer
        better than the image alone (README, "Real drum kits").

    Input ``(batch, 1, n_mels, n_frames)``, output ``(batch, n_classes)`` logits.
    """

    def __init__(self, n_classes: int = 12, *, dropout: float = 0.3, input_pool: int = 1, input_norm: str = "none"):
        super().__init__()
        if input_norm not in INPUT_NORMS:
            raise ConfigError(f"train.input_norm must be one of {list(INPUT_NORMS)}, got {input_norm!r}")
        self.input_norm, self.pool_factor = input_norm, input_pool
        self.input_pool = nn.AvgPool2d(input_pool) if input_pool > 1 else nn.Identity()
        self.conv1 = _conv_block(1 if input_norm == "none" else 2, 32, pool=True)
        self.conv2 = _conv_block(32, 64, pool=True)
        self.conv3 = _conv_block(64, 128, pool=True)
        self.conv4 = _conv_block(128, 256, pool=False)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(256, n_classes)

    def architecture(self) -> dict:
        """The keyword arguments that rebuild this network (besides ``n_classes``), as a checkpoint stores them."""
        return {"dropout": self.dropout.p, "input_pool": self.pool_factor, "input_norm": self.input_norm}

    @classmethod
    def from_architecture(cls, n_classes: int, architecture: dict) -> "DrumClassifierCNN":
        """The network :meth:`architecture` describes; keys a checkpoint lacks take :data:`ARCHITECTURE_DEFAULTS`."""
        arch = {**ARCHITECTURE_DEFAULTS, **architecture}
        return cls(n_classes, dropout=arch["dropout"], input_pool=arch["input_pool"], input_norm=arch["input_norm"])

    @property
    def conv_blocks(self) -> list[nn.Module]:
        return [self.conv1, self.conv2, self.conv3, self.conv4]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``(batch, 256)``: the pooled last conv block, before dropout and ``fc``."""
        x = self.input_pool(x)
        reduce = INPUT_NORMS[self.input_norm]
        if reduce is not None:
            x = torch.cat([x, x - reduce(x)], dim=1)
        for block in self.conv_blocks:
            x = block(x)
        return torch.flatten(x, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(self.embed(x)))

    def freeze_blocks(self, n: int) -> None:
        """Freeze the first ``n`` conv blocks (fine-tuning keeps early filters)."""
        for block in self.conv_blocks[:n]:
            for param in block.parameters():
                param.requires_grad_(False)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
