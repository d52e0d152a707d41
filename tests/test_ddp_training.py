"""Multi-process (DDP) training: the sharded weighted sampler, the torchrun environment, and the
train stage under `torchrun --nproc_per_node 2` on the CPU (gloo)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ddp_helpers import run_train, write_training_folder
from musicml.drums.distributed import (
    SINGLE_PROCESS,
    DistContext,
    ShardedWeightedSampler,
    context_from_env,
    derived_seed,
    process_group,
)
from musicml.errors import ConfigError


def shards(weights, num_samples, world_size, epoch=1, seed=0):
    out = []
    for rank in range(world_size):
        sampler = ShardedWeightedSampler(weights, num_samples, seed=seed, rank=rank, world_size=world_size)
        sampler.set_epoch(epoch)
        out.append(list(sampler))
        assert len(out[-1]) == len(sampler)
    return out


@pytest.mark.parametrize("num_samples,world_size", [(96, 2), (100, 3), (7, 4), (10, 1)])
def test_shards_are_equal_sized_and_interleave_into_one_shared_draw(num_samples, world_size):
    weights = np.array([1.0, 0.0, 3.0, 2.0, 0.5])
    parts = shards(weights, num_samples, world_size)
    per_rank = -(-num_samples // world_size)
    assert [len(p) for p in parts] == [per_rank] * world_size  # DDP hangs on unequal batch counts
    whole = ShardedWeightedSampler(weights, num_samples, seed=0, rank=0, world_size=world_size)
    whole.set_epoch(1)
    draw = whole.epoch_draw().tolist()
    interleaved = [parts[i % world_size][i // world_size] for i in range(per_rank * world_size)]
    assert interleaved == draw
    assert 1 not in draw  # a zero weight is never drawn


def test_sharded_draw_honours_the_weights():
    weights = np.array([1.0, 2.0, 5.0, 2.0])
    parts = shards(weights, 40_000, 2)
    counts = np.bincount(np.concatenate(parts), minlength=4) / 40_000
    np.testing.assert_allclose(counts, weights / weights.sum(), atol=0.01)


def test_sharded_draw_changes_with_epoch_and_seed_but_not_between_calls():
    weights = np.ones(50)
    assert shards(weights, 64, 2, epoch=1) == shards(weights, 64, 2, epoch=1)
    assert shards(weights, 64, 2, epoch=1) != shards(weights, 64, 2, epoch=2)
    assert shards(weights, 64, 2, seed=0) != shards(weights, 64, 2, seed=1)


@pytest.mark.parametrize("weights,num_samples,rank,world", [
    ([0.0, 0.0], 10, 0, 2), ([1.0, np.nan], 10, 0, 2), ([1.0, -1.0], 10, 0, 2), ([], 10, 0, 1),
    ([1.0], 0, 0, 1), ([1.0], 10, 2, 2),
])
def test_sampler_rejects_bad_arguments(weights, num_samples, rank, world):
    with pytest.raises(ConfigError):
        ShardedWeightedSampler(np.array(weights), num_samples, seed=0, rank=rank, world_size=world)


def test_derived_seeds_differ_per_part_and_order():
    seeds = {derived_seed(0, e, r) for e in range(1, 20) for r in range(4)}
    assert len(seeds) == 19 * 4
    assert derived_seed(1, 2) != derived_seed(2, 1) and derived_seed(3, 4) == derived_seed(3, 4)
    assert 0 <= derived_seed(2**40, 7) < 2**63


def test_context_from_env():
    assert context_from_env({}) == SINGLE_PROCESS and not SINGLE_PROCESS.enabled and SINGLE_PROCESS.is_main
    ctx = context_from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert ctx == DistContext(rank=3, world_size=4, local_rank=1) and ctx.enabled and not ctx.is_main
    for bad in ({"WORLD_SIZE": "2", "RANK": "2"}, {"WORLD_SIZE": "two"}, {"WORLD_SIZE": "0"}):
        with pytest.raises(ConfigError):
            context_from_env(bad)


def test_process_group_is_a_no_op_for_one_process():
    with process_group("cpu", env={}) as ctx:
        assert ctx == SINGLE_PROCESS
        assert not torch.distributed.is_initialized()


@pytest.mark.parametrize("device, gpus, backend", [("cuda", 2, "nccl"), ("auto", 2, "nccl"), ("auto", 0, "gloo"),
                                                   ("cpu", 2, "gloo")])
def test_process_group_picks_nccl_on_gpus_and_gloo_on_cpus(monkeypatch, device, gpus, backend):
    # No GPU here (nor on CI): the CUDA side of the choice is exercised with torch.cuda stand-ins.
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: calls.append(("set_device", index)))
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda backend: calls.append(("init", backend)))
    monkeypatch.setattr(torch.distributed, "destroy_process_group", lambda: calls.append(("destroy",)))
    env = {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}
    with process_group(device, env=env) as ctx:
        assert ctx.rank == 1 and ctx.world_size == 2 and not ctx.is_main
    expected = [("set_device", 1)] if backend == "nccl" else []
    assert calls == expected + [("init", backend), ("destroy",)]


def test_process_group_refuses_a_local_rank_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ConfigError, match="LOCAL_RANK 1 has no GPU"):
        with process_group("cuda", env={"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}):
            pass


def history_rows(work):
    """Rows ``step<TAB>value`` of one DVCLive curve, after its header."""
    lines = (work / "metrics/train/plots/metrics/train_loss.tsv").read_text().splitlines()
    return lines[1:]


def test_train_stage_under_torchrun_with_two_processes(tmp_path):
    work = write_training_folder(tmp_path, epochs=4)
    proc = run_train(work, nproc=2)
    epoch_lines = [line for line in proc.stdout.splitlines() if line.startswith("epoch")]
    # Rank 0 alone logs: one line per epoch, not two.
    assert [int(line.split()[1]) for line in epoch_lines] == [1, 2, 3, 4], proc.stdout
    assert proc.stdout.count("train: best val macro-F1") == 1
    summary = json.loads((work / "metrics/train.json").read_text())
    assert summary["epochs_run"] == 4 and summary["best_val_macro_f1"] > 0.9  # chance is about 0.33
    rows = history_rows(work)
    assert [int(r.split("\t")[0]) for r in rows] == [0, 1, 2, 3]  # one history, no duplicate steps
    losses = [float(r.split("\t")[1]) for r in rows]
    assert losses[-1] < losses[0]  # it trains
    state = torch.load(work / "models/checkpoint.pt", map_location="cpu", weights_only=False)
    assert state["epoch"] == 4 and len(state["history"]) == 4
    assert sorted(p.name for p in (work / "metrics").iterdir()) == ["train", "train.json"]
    assert sorted(p.name for p in (work / "models").iterdir()) == ["checkpoint.pt", "drum_classifier.pt"]
