"""A tiny training folder (feature store, weights, params) and runners for the train stage,
shared by the DDP, determinism and fault tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from conftest import ROOT, tiny_params

CLASSES = ("kick", "snare", "hihat_closed")


def write_training_folder(work: Path, *, epochs: int = 3, samples_per_epoch: int = 96, seed: int = 0,
                          **train_overrides) -> Path:
    """Lay out what `stages/train.py` reads, on three separable 8x8 classes (bright top rows,
    bottom rows, left columns) in six sessions, so a few CPU epochs take about a second."""
    rng = np.random.default_rng(0)
    n_per_class = 24
    x = rng.random((3 * n_per_class, 1, 8, 8), dtype=np.float32) * 0.3
    x[:n_per_class, 0, :3, :] += 0.7
    x[n_per_class:2 * n_per_class, 0, -3:, :] += 0.7
    x[2 * n_per_class:, 0, :, :3] += 0.7
    labels = np.repeat(CLASSES, n_per_class)
    session = np.tile(np.arange(n_per_class) % 6, 3)  # sessions 0-3 train, 4-5 validation
    index = pd.DataFrame({"event_id": [f"e{i:03d}" for i in range(len(x))], "label": labels,
                          "session_id": [f"s{s}" for s in session],
                          "split": np.where(session < 4, "train", "val")})
    store = work / "data/processed/features"
    store.mkdir(parents=True, exist_ok=True)
    np.save(store / "features.npy", x)
    index.to_parquet(store / "index.parquet", index=False)
    # Unequal session weights, so the weighted sampler has something to honour.
    (work / "data/interim").mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"session_id": [f"s{s}" for s in range(4)], "weight": [1.0, 2.0, 0.5, 1.5]}) \
        .to_csv(work / "data/interim/weights.csv", index=False)
    (work / "configs").mkdir(exist_ok=True)
    shutil.copy(ROOT / "configs/taxonomy.yaml", work / "configs/taxonomy.yaml")
    write_params(work, epochs=epochs, samples_per_epoch=samples_per_epoch, seed=seed, **train_overrides)
    return work


def write_params(work: Path, *, epochs: int = 3, samples_per_epoch: int = 96, seed: int = 0,
                 **train_overrides) -> None:
    params = tiny_params(seed=seed)
    # The seed's image-only input: these rows-vs-columns classes differ by where the energy sits, which is
    # what band_mean's second channel removes, so they would need more than a few epochs with it.
    params["train"].update(epochs=epochs, samples_per_epoch=samples_per_epoch, batch_size=8, lr=3e-3,
                           input_pool=1, input_norm="none", patience=10, device="cpu", **train_overrides)
    params["features"].update(n_mels=8, n_frames=8)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def stage_env(**extra: str) -> dict:
    # One thread per process: tiny convolutions run fastest so, and two DDP processes share two cores.
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1", **extra}


def train_command(nproc: int = 1) -> list[str]:
    """The train stage as one process, or under torchrun with ``nproc`` processes."""
    script = str(ROOT / "stages/train.py")
    if nproc == 1:
        return [sys.executable, script]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", script]


def run_train(work: Path, nproc: int = 1, *, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(train_command(nproc), cwd=work, env=stage_env(), capture_output=True, text=True,
                          timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"train ({nproc} processes) failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
