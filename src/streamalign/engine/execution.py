"""The driver: feed payloads to a backend through a bounded window, yield results in order.

Example:
    >>> from streamalign.engine import execute
    >>> [completed.result for completed in execute(abs, [-3, 1, -2], workers=2)]
    [3, 1, 2]
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterable, Iterator
from typing import Any

from streamalign.engine.backends import BACKENDS, Backend, Completed, Task, make_backend
from streamalign.engine.ordering import ReorderBuffer

__all__ = ["execute", "resolve_workers"]


def resolve_workers(workers: int) -> int:
    """Turn a ``workers`` option into a number of workers: 0 means every CPU this process may use.

    Raises:
        ValueError: ``workers`` is negative.

    Example:
        >>> resolve_workers(3)
        3
        >>> resolve_workers(0) >= 1
        True
    """
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"workers must be an integer, not {workers!r}")
    if workers < 0:
        raise ValueError(f"workers must be 0 (all CPUs) or a positive number, not {workers}")
    if workers > 0:
        return workers
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def execute(
    task: Task,
    payloads: Iterable[Any],
    *,
    backend: str = "threads",
    workers: int = 0,
    ordered: bool = True,
    max_in_flight: int | None = None,
    max_retries: int = 2,
    start_method: str | None = None,
) -> Iterator[Completed]:
    """Run ``task(payload)`` for each payload on several workers; yield results lazily.

    The input is read only as fast as results are consumed: at most ``max_in_flight`` payloads
    are taken from it and not yet yielded (those held back for ordering included), so
    ``payloads`` may be an endless generator. Nothing starts until the first result is asked
    for, and stopping early (``break``, ``close()``, an exception, Ctrl-C) stops every worker.

    Args:
        task: called as ``task(payload)``; for ``"processes"`` it must be picklable (a
            module-level function or an instance of a module-level class), and it is pickled
            once per worker process, not once per payload.
        payloads: any iterable; consumed lazily.
        backend: ``"serial"`` (calling thread, no pool), ``"threads"`` (best when the task
            releases the GIL, e.g. a nogil numba kernel) or ``"processes"``.
        workers: number of workers; 0 means every available CPU. Ignored by ``"serial"``.
        ordered: yield in input order (default) or as soon as each result is ready.
        max_in_flight: the window; default ``2 * workers + 2``.
        max_retries: ``"processes"`` only: how many times a payload is re-run after the
            worker running it died; one more death raises :class:`WorkerCrashError`.
        start_method: ``"processes"`` only: ``"fork"``, ``"spawn"``, ``"forkserver"``, or
            ``None`` for the platform's default.

    Yields:
        :class:`Completed` ``(index, result, worker)``, each index exactly once.

    Raises:
        ValueError: an unknown backend or start method, or a window or retry count out of
            range (raised at once, not on the first result).
        WorkerCrashError: a payload's worker processes died ``max_retries + 1`` times.
        Exception: whatever ``task`` raised, with its type and message (after every worker has
            been stopped).

    Example:
        >>> results = execute(abs, [-1, 2, -3], backend="processes", workers=2)
        >>> [(completed.index, completed.result) for completed in results]
        [(0, 1), (1, 2), (2, 3)]
        >>> import itertools
        >>> endless = execute(abs, itertools.count(), backend="threads", workers=2)
        >>> [completed.result for completed in itertools.islice(endless, 5)]
        [0, 1, 2, 3, 4]
        >>> endless.close()  # stops the workers
    """
    if not callable(task):
        raise TypeError(f"task must be callable, not {type(task).__name__}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    worker_count = resolve_workers(workers)
    if max_in_flight is None:
        max_in_flight = 2 * worker_count + 2
    elif max_in_flight < 1:
        raise ValueError(f"max_in_flight must be 1 or more, not {max_in_flight}")
    if max_retries < 0:
        raise ValueError(f"max_retries must be 0 or more, not {max_retries}")
    if start_method is not None and start_method not in multiprocessing.get_all_start_methods():
        raise ValueError(
            f"unknown start method {start_method!r}; this platform has: "
            f"{', '.join(multiprocessing.get_all_start_methods())}"
        )
    chosen = make_backend(
        backend, task, worker_count, max_retries=max_retries, start_method=start_method
    )
    return _drive(chosen, iter(payloads), ordered=ordered, max_in_flight=max_in_flight)


def _drive(
    backend: Backend, payloads: Iterator[Any], *, ordered: bool, max_in_flight: int
) -> Iterator[Completed]:
    """Keep the backend fed within the window, yield what it finishes, always shut it down."""
    reorder: ReorderBuffer[Completed] = ReorderBuffer()
    taken = 0  # payloads taken from the input
    yielded = 0  # results handed to the consumer
    exhausted = False
    finished = False
    try:
        backend.start()
        while True:
            while not exhausted and taken - yielded < max_in_flight and backend.can_accept():
                try:
                    payload = next(payloads)
                except StopIteration:
                    exhausted = True
                    break
                backend.submit(taken, payload)
                del payload
                taken += 1
            if not backend.pending():
                if exhausted:
                    break
                continue  # everything taken was yielded: take more
            for completed in backend.wait():
                if not ordered:
                    yielded += 1
                    yield completed
                    continue
                reorder.push(completed.index, completed)
                for ready in reorder.pop_ready():
                    yielded += 1
                    yield ready
        finished = True
    finally:
        backend.shutdown(graceful=finished)
