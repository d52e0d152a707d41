"""Multi-process (DDP) training: the process group that ``torchrun`` describes, and a
sampler that shards one shared weighted draw across the processes.

``torchrun --nproc_per_node N stages/train.py`` starts N copies of the same
script with ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in their environment.
Without those variables everything here is a no-op and training runs exactly
as a single process always did.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from musicml.errors import ConfigError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands among the training processes.

    ``rank`` 0 is the main process: the only one that writes checkpoints, metrics and models.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE_PROCESS = DistContext()


def _env_int(env: dict, name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be an integer, got {raw!r}") from None


def context_from_env(env: dict | None = None) -> DistContext:
    """The :class:`DistContext` that ``torchrun`` sets in ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``."""
    env = os.environ if env is None else env
    world = _env_int(env, "WORLD_SIZE", 1)
    rank = _env_int(env, "RANK", 0)
    local = _env_int(env, "LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ConfigError(f"inconsistent torchrun environment: RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}")
    return DistContext(rank=rank, world_size=world, local_rank=local)


def uses_cuda(device_name: str) -> bool:
    """Whether train.device ``device_name`` ends up on a GPU (``auto`` does when one is present)."""
    return device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())


@contextmanager
def process_group(device_name: str, env: dict | None = None) -> Iterator[DistContext]:
    """Join the process group of a ``torchrun`` launch for the length of the block.

    NCCL on GPUs (each process takes GPU ``LOCAL_RANK``), gloo on CPUs. Outside
    ``torchrun`` (or with one process) nothing is initialised and the single-process
    context is yielded.
    """
    ctx = context_from_env(env)
    if not ctx.enabled:
        yield ctx
        return
    if uses_cuda(device_name):
        if ctx.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {ctx.local_rank} has no GPU: {torch.cuda.device_count()} visible")
        torch.cuda.set_device(ctx.local_rank)
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend)
    try:
        yield ctx
    finally:
        dist.destroy_process_group()


def derived_seed(*parts: int) -> int:
    """A 63-bit seed mixed from ``parts`` (seed, epoch, rank, stream) with NumPy's SeedSequence.

    Mixing rather than adding keeps (seed=1, epoch=2) and (seed=2, epoch=1) apart.
    """
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)[0] >> 1)


class ShardedWeightedSampler(Sampler[int]):
    """Weighted sampling with replacement, split across the DDP processes.

    Each epoch every process draws the *same* ``ceil(num_samples / world_size) *
    world_size`` indices from ``weights`` (a generator seeded by ``seed`` and the
    epoch), then keeps every ``world_size``-th one starting at its rank. Together
    the processes see exactly one weighted sample, so the sampling weights hold
    as they do for one process; every process gets the same number of indices,
    which DDP needs (a process with one batch more would wait forever).

    Parameters
    ----------
    weights : array of float, shape (n,)
        Sampling weight of each row of the dataset (need not sum to 1).
    num_samples : int
        Draws per epoch over all processes (``train.samples_per_epoch``).
    seed : int
    rank, world_size : int
        This process and the number of processes.
    """

    def __init__(self, weights: np.ndarray, num_samples: int, *, seed: int, rank: int, world_size: int):
        weights = np.array(weights, dtype=np.float64)  # a copy: torch wants a writable array
        if weights.ndim != 1 or len(weights) == 0 or not np.all(np.isfinite(weights)) or np.any(weights < 0) \
                or weights.sum() <= 0:
            raise ConfigError("sampling weights must be finite, >= 0 and not all zero")
        if num_samples < 1 or world_size < 1 or not 0 <= rank < world_size:
            raise ConfigError(f"bad sampler shape: num_samples={num_samples}, rank={rank}, world_size={world_size}")
        self.weights = torch.from_numpy(weights)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.per_rank = math.ceil(num_samples / world_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch's draw; call before iterating, as with ``DistributedSampler``."""
        self.epoch = epoch

    def epoch_draw(self) -> torch.Tensor:
        """The whole epoch's draw, identical in every process."""
        generator = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch))
        return torch.multinomial(self.weights, self.per_rank * self.world_size, replacement=True,
                                 generator=generator)

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_draw()[self.rank::self.world_size].tolist())

    def __len__(self) -> int:
        return self.per_rank


def all_reduce_sum(values: list[float], *, device: torch.device) -> list[float]:
    """Element-wise sum of ``values`` over all processes (each process gets the sums)."""
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.cpu().tolist()


def broadcast_from_main(obj: object) -> object:
    """Rank 0's ``obj`` in every process (picklable objects, e.g. a metrics dict)."""
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
