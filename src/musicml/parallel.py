"""Work spread over processes for the data stages, with one BLAS thread in each.

Two reasons for one thread, both measured on the default data:

* **Speed.** Forked workers inherit BLAS / OpenMP pools sized for the whole
  machine, so N workers on N cores oversubscribe them: on 2 cores, 2 feature
  workers extracted 71 clips/s against 252 for one worker; with one thread
  each, 351 against 303 (``benchmarks/features.py``). Small arrays lose even
  alone: a 40 x 1025 mel product took 88 ms pooled and 1 ms on one thread on
  a busy 2-core machine.
* **Same bytes everywhere.** A pool's size changes the last bits of matrix
  products, so outputs computed with the machine's pool depend on its core
  count (the feature store: 22,668 of 22,683 rows differed by up to 3e-7
  between 1 and 2 threads). :func:`process_map` therefore runs its
  single-process path on one thread too, and ``workers`` never changes a byte.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Iterable, Iterator, TypeVar

from threadpoolctl import threadpool_limits

from musicml.errors import ConfigError

R = TypeVar("R")


def one_blas_thread() -> threadpool_limits:
    """Context that limits BLAS / OpenMP to one thread in this process."""
    return threadpool_limits(limits=1)


def check_workers(workers: Any, name: str) -> int:
    """``workers`` when it is an integer >= 1; else a one-line :class:`ConfigError` naming param ``name``."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"{name} must be an integer >= 1, got {workers!r}")
    return workers


def _init_process(initializer: Callable[..., None] | None, initargs: tuple) -> None:
    threadpool_limits(limits=1)
    if initializer is not None:
        initializer(*initargs)


def process_map(func: Callable[..., R], *iterables: Iterable, workers: int,
                initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> Iterator[R]:
    """``map(func, *iterables)`` on ``workers`` forked processes, one BLAS thread each; results in order.

    With ``workers == 1``, or fewer than two tasks, it runs here under
    :func:`one_blas_thread` instead, after calling ``initializer(*initargs)``
    in this process as each worker would. Fork, not spawn: workers start at
    once with the caller's modules already imported (the stages run on Linux).
    A generator: work proceeds as results are consumed.
    """
    tasks = list(zip(*iterables))
    if workers == 1 or len(tasks) < 2:
        with one_blas_thread():
            if initializer is not None:
                initializer(*initargs)
            for args in tasks:
                yield func(*args)
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_process,
                             initargs=(initializer, initargs)) as pool:
        yield from pool.map(func, *zip(*tasks), chunksize=1)
