"""Fixture recordings for the transcription, boundary and alignment tests: synth hits at known times."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

from conftest import ROOT

from musicml.drums.export import export_onnx
from musicml.drums.model import DrumClassifierCNN
from musicml.drums.synth import CLASSES, make_kit, render_take, write_wav
from musicml.drums.takes import backbeat_hits
from musicml.features import MelConfig

# Small features keep the tests fast; the transcriber reads them from the model's metadata.
MEL = MelConfig(sr=16000, n_mels=32, n_frames=32, n_fft=512, hop_length=256)


def write_take(path: Path, *, seconds: float, bpm: float = 120.0, seed: int = 0, kit_index: int = 0,
               sr: int = 16000) -> list:
    """Render a backbeat take of synth kit ``kit_index`` to ``path``; returns its hits (exact onsets)."""
    hits = backbeat_hits(seconds - 0.5, bpm=bpm, seed=seed)
    audio = render_take(make_kit(kit_index, seed=seed), hits, sr=sr, seed=seed)
    write_wav(path, audio, sr)
    return hits


def export_random_model(path: Path, *, mel: MelConfig = MEL, classes=CLASSES) -> Path:
    """An untrained CNN exported with musicml metadata: real onnxruntime inference, arbitrary labels."""
    torch.manual_seed(0)
    model = DrumClassifierCNN(len(classes), input_pool=1).eval()
    export_onnx(model, path, classes=list(classes), mel=mel)
    return path


def onset_errors(found: list[float], truth: list[float]) -> np.ndarray:
    """For every true onset, the distance (s) to the nearest found one."""
    found_arr = np.asarray(sorted(found))
    return np.array([np.min(np.abs(found_arr - t)) if found_arr.size else np.inf for t in truth])


def run_cli(*args, cwd) -> subprocess.CompletedProcess:
    """`musicml *args` in a fresh process where torch cannot be imported: transcription runs on onnxruntime alone."""
    code = textwrap.dedent(f"""
        import importlib.abc, sys

        class BlockTorch(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")

        sys.meta_path.insert(0, BlockTorch())
        from musicml.cli import main
        sys.argv = ["musicml"] + {list(map(str, args))!r}
        main()
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
