"""musicml.parallel: process pools with one BLAS thread per process."""

import os

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from musicml.errors import ConfigError
from musicml.parallel import check_workers, one_blas_thread, process_map

_STATE: dict = {}


def _blas_threads(_task=None) -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info()}


def _remember(value) -> None:
    _STATE["init"] = value


def _with_state(x: int, y: int) -> tuple[int, int, object]:
    return x * y, os.getpid(), _STATE.get("init")


def _square_sum(n: int) -> float:
    a = np.arange(n, dtype=np.float64)
    return float(a @ a)


@pytest.mark.parametrize("workers", [1, 2])
def test_process_map_keeps_order_and_calls_the_initializer_in_every_process(workers):
    _STATE.clear()
    got = list(process_map(_with_state, range(6), range(10, 16), workers=workers,
                           initializer=_remember, initargs=("ready",)))
    assert [r[0] for r in got] == [x * y for x, y in zip(range(6), range(10, 16))]
    assert all(r[2] == "ready" for r in got)
    pids = {r[1] for r in got}
    if workers == 1:
        assert pids == {os.getpid()}  # ran here, as the initializer did
    else:
        assert os.getpid() not in pids
    _STATE.clear()


@pytest.mark.parametrize("workers", [1, 2])
def test_every_process_runs_one_blas_thread_and_this_one_gets_its_pool_back(workers):
    # Forked workers inherit pools sized for the whole machine, and the single-process path
    # must match them bit for bit: both run on one thread.
    with threadpool_limits(limits=2):  # a known pool size to come back to
        before = _blas_threads()
        seen = list(process_map(_blas_threads, range(3), workers=workers))
        assert all(threads == {1} for threads in seen)
        assert _blas_threads() == before


def test_results_are_the_same_for_any_number_of_workers():
    sizes = [10, 1000, 100_000, 7]
    assert list(process_map(_square_sum, sizes, workers=1)) == list(process_map(_square_sum, sizes, workers=2))


def test_no_tasks_gives_nothing():
    assert list(process_map(_square_sum, [], workers=2)) == []


def test_one_blas_thread_limits_this_process():
    with threadpool_limits(limits=2), one_blas_thread():
        assert _blas_threads() == {1}


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2", None])
def test_check_workers_rejects_what_is_not_a_positive_integer(workers):
    with pytest.raises(ConfigError, match=r"^features.workers must be an integer >= 1, got"):
        check_workers(workers, "features.workers")


def test_check_workers_returns_a_good_count():
    assert check_workers(3, "augment.workers") == 3
