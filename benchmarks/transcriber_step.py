"""What one training step of the frame transcriber costs, by part, to price `transcriber.epochs` and capacity.

Loads a few training takes (the first `--takes` of split `train` of
`boundary.source`), then times `--steps` training steps with the
`transcriber` params (optionally overridden with `--set key=value`, values
parsed as YAML): CPU seconds per step for the augmented batch, the forward
pass (with the loss) and the backward pass plus the optimiser step, on
`transcriber.threads` threads, and the wall seconds of a whole step (with
more than one thread, CPU seconds add up over the threads). Multiply by `epochs * steps_per_epoch` for the
training part of `transcriber_train`; each validated epoch (`validate_last`)
adds a streaming pass over the validation takes.

    python benchmarks/transcriber_step.py [--steps 12] [--takes 4] [--set epochs=60 --set hidden=96]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import yaml
from torch import nn

from musicml.config import load_yaml, section
from musicml.drums.boundary import held_out_takes
from musicml.drums.transcriber import Augmenter, TranscriberConfig, build_net, class_pos_weights, load_takes
from musicml.manifest import read_events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--taxonomy", default="configs/taxonomy.yaml")
    parser.add_argument("--dataset", default="data/interim/dataset.parquet")
    parser.add_argument("--takes", type=int, default=4, help="training takes loaded (crops are drawn from these)")
    parser.add_argument("--steps", type=int, default=12, help="timed steps (after 2 warm-up steps)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a transcriber param, e.g. --set hidden=96 --set channels=[16,32]")
    args = parser.parse_args()
    p = load_yaml(args.params)
    params = dict(section(p, "transcriber"))
    for item in args.set:
        key, _, value = item.partition("=")
        params[key] = yaml.safe_load(value)
    cfg = TranscriberConfig.from_params(params, seed=int(p["seed"]))
    classes = list(section(load_yaml(args.taxonomy), "taxonomy.classes"))
    stream, bounds = section(p, "transcribe"), section(p, "boundary")
    events = held_out_takes(read_events(args.dataset), source=bounds["source"], split="train", origin=args.dataset)
    paths = sorted(events["audio_path"].unique())[:args.takes]
    pad = int(round(stream["window_ms"] / 1000 * cfg.frames.fps)) + 2
    takes = load_takes(events[events["audio_path"].isin(paths)], classes, cfg, pad=pad)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    count = max(8, int(round(cfg.crop_s * cfg.frames.fps)))
    augmenter = Augmenter(takes, cfg, count=count, seed=cfg.seed)
    model = build_net(len(classes), cfg).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.from_numpy(class_pos_weights(takes, len(classes), cfg)))
    rng = np.random.default_rng(cfg.seed)
    spent, wall = np.zeros(3), 0.0
    for step in range(args.steps + 2):
        w0 = time.perf_counter()
        c0 = time.process_time()
        x, y = augmenter.batch(rng, cfg.batch_size)
        c1 = time.process_time()
        loss = loss_fn(model(torch.from_numpy(x)), torch.from_numpy(y))
        c2 = time.process_time()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        c3 = time.process_time()
        if step >= 2:
            spent += (c1 - c0, c2 - c1, c3 - c2)
            wall += time.perf_counter() - w0
    per, wall_per = spent / args.steps, wall / args.steps
    n_params = sum(t.numel() for t in model.parameters())
    total = wall_per * cfg.epochs * cfg.steps_per_epoch
    print(f"{n_params} parameters, batch {cfg.batch_size} x {count} frames, {cfg.threads} thread(s), "
          f"{len(takes)} takes loaded")
    print(f"CPU s per step: augment {per[0]:.3f}, forward {per[1]:.3f}, backward+step {per[2]:.3f}, "
          f"total {per.sum():.3f}; wall s per step {wall_per:.3f}")
    print(f"training part of {cfg.epochs} epochs x {cfg.steps_per_epoch} steps: {total:.0f} wall s "
          f"({total / 60:.1f} min), validation passes not included")


if __name__ == "__main__":
    main()
