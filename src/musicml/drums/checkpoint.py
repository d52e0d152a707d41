"""Saving and loading the trained classifier with what it needs to run (classes, features)."""

from __future__ import annotations

import os

import torch

from musicml.atomic import save_torch
from musicml.drums.model import DrumClassifierCNN
from musicml.errors import InputError
from musicml.features import MelConfig


def save_model(path: str | os.PathLike, model: DrumClassifierCNN, *, classes: list[str], mel: MelConfig,
               feature_density: dict | None = None) -> None:
    """Save the weights with what inference needs; ``feature_density`` is the open-set model of the
    penultimate features (:meth:`musicml.release.openset.FeatureDensity.to_dict`), fitted on the training hits."""
    state = {"model": model.state_dict(), "classes": list(classes), "mel": mel.to_dict(), **model.architecture()}
    if feature_density is not None:
        state["feature_density"] = feature_density
    save_torch(state, path)


def load_model(path: str | os.PathLike) -> tuple[DrumClassifierCNN, list[str], MelConfig]:
    """The model in eval mode on the CPU, its class names and its feature config."""
    if not os.path.exists(path):
        raise InputError(path, "model file not found")
    state = torch.load(path, map_location="cpu", weights_only=True)
    # Models saved before input_norm existed saw the image alone (ARCHITECTURE_DEFAULTS).
    model = DrumClassifierCNN.from_architecture(len(state["classes"]), state)
    model.load_state_dict(state["model"])
    return model.eval(), list(state["classes"]), MelConfig(**state["mel"])


def load_feature_density(path: str | os.PathLike) -> dict | None:
    """The saved feature density (``FeatureDensity.to_dict()``), or None for a model saved without one."""
    if not os.path.exists(path):
        raise InputError(path, "model file not found")
    return torch.load(path, map_location="cpu", weights_only=True).get("feature_density")
