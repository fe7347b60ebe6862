"""One process pool for the long loops (the WILD build, the Table 2 evaluation).

:class:`TaskPool` runs ``fn(task)`` in worker processes, or in this process when ``workers <= 1``.
Tasks are pulled from the caller one at a time, only when a worker is free (at most ``in_flight``
run or wait at once), so the caller decides each next task knowing every result so far: the build
skips the scenes an earlier run finished (it resumes) and stops at exactly the pairs it was asked
for (:meth:`TaskPool.stop`). Results come back as they finish, each with its task (:class:`Done`);
a task that raises, or whose worker dies, comes back with the error instead of ending the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

__all__ = ["Done", "TaskPool"]


@dataclass(frozen=True)
class Done:
    """A finished task: its ``value``, or the ``error`` it raised (its worker's death included)."""

    task: Any
    value: Any = None
    error: Exception | None = None

    def result(self) -> Any:
        """The value, or the task's error raised here."""
        if self.error is not None:
            raise self.error
        return self.value


class TaskPool:
    """``fn(task)`` for tasks pulled from ``tasks`` (an iterable, or a function returning the next
    task or ``None`` when there is none), in up to ``workers`` processes.

    ``workers <= 1``: each task runs in this process, in order, when :meth:`results` asks for it.
    Otherwise a ``ProcessPoolExecutor`` with ``context``, ``initializer`` and ``initargs``, fed at
    once: at most ``in_flight`` tasks (default ``workers``; 0: all of them) are submitted and not
    yet returned. ``fn`` and the tasks must pickle for workers (a top-level function). Use as a
    context manager: leaving it cancels what has not started and waits for the rest.
    """

    def __init__(self, fn: Callable[[Any], Any], tasks: Iterable | Callable[[], Any], *, workers: int,
                 context: Any = None, initializer: Callable | None = None, initargs: tuple = (),
                 in_flight: int | None = None) -> None:
        if callable(tasks):
            self._next_task = tasks
        else:
            iterator = iter(tasks)
            self._next_task = lambda: next(iterator, None)
        self._fn = fn
        self._running: dict[Future, Any] = {}
        self._stopped = False
        self._serial = workers <= 1
        self._limit = max(1, workers) if in_flight is None else (in_flight or float("inf"))
        self._executor = None
        if not self._serial:
            self._executor = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=initializer,
                                                 initargs=initargs)
            self._fill()

    def __enter__(self) -> TaskPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Cancel the tasks not started and wait for the running ones (their results are dropped)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def stop(self) -> None:
        """Pull no more tasks and cancel those not started; :meth:`results` still returns the ones
        that were running."""
        self._stopped = True
        for fut in list(self._running):
            if fut.cancel():
                del self._running[fut]

    def _fill(self) -> None:
        while not self._stopped and len(self._running) < self._limit:
            task = self._next_task()
            if task is None:
                return
            self._running[self._executor.submit(self._fn, task)] = task

    def _done(self, fut: Future) -> Done:
        task = self._running.pop(fut)
        try:
            return Done(task, fut.result())
        except Exception as exc:  # raised by the task, or its worker died (BrokenProcessPool)
            return Done(task, error=exc)

    def poll(self) -> list[Done]:
        """The tasks finished so far (without waiting); free workers get new tasks."""
        if self._serial:
            return []
        finished = [self._done(fut) for fut in [f for f in self._running if f.done()]]
        self._fill()
        return finished

    def results(self) -> Iterator[Done]:
        """Every remaining task's :class:`Done`, as each finishes, until there are no more tasks (or
        :meth:`stop` was called and the running ones are back)."""
        if self._serial:
            while not self._stopped and (task := self._next_task()) is not None:
                try:
                    done = Done(task, self._fn(task))
                except Exception as exc:  # as from a worker: the caller decides
                    done = Done(task, error=exc)
                yield done
            return
        while True:
            self._fill()
            if not self._running:
                return
            finished, _ = wait(list(self._running), return_when=FIRST_COMPLETED)
            for fut in finished:
                yield self._done(fut)
