"""Training throughput (samples/s) with 1 and 2 DDP processes on the CPU.

Runs the real training loop (``train_classifier``, the default params' model and
input size) under ``torchrun --nproc_per_node N`` for each N, on the feature store
data/processed/features when it exists (run `make repro` first), otherwise on
random features of the same shape. Validation uses 32 hits so the figure is
training speed. Each process gets ``--threads`` threads (torchrun's default is 1).

    python benchmarks/ddp.py [--procs 1 2] [--samples 768] [--epochs 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml


def worker(args: argparse.Namespace) -> None:
    """One DDP process: train, and rank 0 prints samples/s."""
    import torch

    from musicml.drums.distributed import process_group
    from musicml.drums.training import TrainConfig, train_classifier
    from musicml.features import open_store

    torch.set_num_threads(args.threads)
    params = yaml.safe_load(Path("params.yaml").read_text())
    train, feat = params["train"], params["features"]
    store = Path("data/processed/features")
    if (store / "features.npy").exists():
        features, _ = open_store(store)
        source = f"{store} ({len(features)} hits)"
    else:
        features = np.random.default_rng(0).random((512, 1, feat["n_mels"], feat["n_frames"]), dtype=np.float32)
        source = "random features (no store: run `make repro` for real ones)"
    n = len(features)
    rng = np.random.default_rng(0)
    train_idx, val_idx = np.arange(n - 32), np.arange(n - 32, n)
    labels = rng.integers(0, 12, n)
    config = TrainConfig(epochs=args.epochs, samples_per_epoch=args.samples, batch_size=train["batch_size"],
                         lr=train["lr"], input_pool=train["input_pool"], device="cpu", seed=0, patience=99)
    with process_group("cpu") as dist, tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        train_classifier(features, train_idx, labels[train_idx], np.ones(len(train_idx)), val_idx, labels[val_idx],
                         n_classes=12, config=config, checkpoint_path=Path(tmp) / "ckpt.pt", dist=dist)
        seconds = time.perf_counter() - start
        if dist.is_main:
            total = args.samples * args.epochs
            print(f"ddp: {dist.world_size} process(es) x {args.threads} thread(s): {total} samples in "
                  f"{seconds:.1f} s = {total / seconds:.0f} samples/s  [{source}, input "
                  f"{feat['n_mels']}x{feat['n_frames']} pooled {train['input_pool']}x, batch {train['batch_size']} "
                  f"per process]", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--samples", type=int, default=768, help="samples per epoch, over all processes")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    for n in args.procs:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", __file__,
               "--worker", "--samples", str(args.samples), "--epochs", str(args.epochs), "--threads",
               str(args.threads)]
        subprocess.run(cmd, check=True, env=env)


if __name__ == "__main__":
    main()
