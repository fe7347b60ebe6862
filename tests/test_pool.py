"""repro.io.pool.TaskPool: the same results in this process and in workers, errors handed back,
tasks pulled only when a worker is free, and a stop that keeps what was running."""

import multiprocessing
import os

import pytest

from repro.io.pool import Done, TaskPool


def square(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x * x


def die(x: int) -> int:
    os._exit(1)  # the worker process dies without a word


def _fork():
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs fork (test functions defined in the test module)")
    return multiprocessing.get_context("fork")


@pytest.mark.parametrize("workers", [0, 2])
def test_every_task_comes_back_once_with_its_value_or_its_error(workers):
    with TaskPool(square, [3, -1, 4, 0], workers=workers, context=_fork() if workers else None) as pool:
        done = {d.task: d for d in pool.results()}
    assert {t: d.value for t, d in done.items() if d.error is None} == {3: 9, 4: 16, 0: 0}
    assert isinstance(done[-1].error, ValueError) and "negative: -1" in str(done[-1].error)
    with pytest.raises(ValueError, match="negative"):
        done[-1].result()
    assert Done("t", 5).result() == 5


def test_tasks_are_pulled_only_when_a_worker_is_free_and_stop_keeps_the_running_ones():
    pulled = []

    def next_task():
        pulled.append(len(pulled))
        return pulled[-1] if len(pulled) <= 10 else None

    with TaskPool(square, next_task, workers=2, context=_fork()) as pool:
        assert len(pulled) == 2  # two workers: two tasks in flight, nothing pulled ahead
        results = pool.results()
        first = next(results)
        pool.stop()
        rest = list(results)
    assert len(pulled) <= 3 and first.task in (0, 1, 2)
    assert {d.task for d in [first, *rest]} <= set(range(3)) and all(d.error is None for d in rest)


def test_in_this_process_the_tasks_run_in_order_and_stop_ends_the_run():
    seen = []
    with TaskPool(square, range(10), workers=1) as pool:
        for done in pool.results():
            seen.append(done.task)
            if done.task == 3:
                pool.stop()
        assert pool.poll() == []
    assert seen == [0, 1, 2, 3]


def test_a_dead_worker_is_an_error_of_its_task_not_the_end_of_the_caller():
    with TaskPool(die, [1], workers=2, context=_fork()) as pool:
        (done,) = list(pool.results())
    assert done.task == 1 and done.error is not None
