"""The driver: build a backend by name, feed it payloads through a bounded window, yield results
in order.

Example:
    >>> from streamalign.engine import execute
    >>> [completed.result for completed in execute(abs, [-3, 1, -2], workers=2)]
    [3, 1, 2]
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

from streamalign.engine.backends import ProcessBackend, SerialBackend, ThreadBackend
from streamalign.engine.base import Backend, Completed, Task
from streamalign.engine.dask_backend import DaskBackend
from streamalign.engine.exceptions import WorkerCrashError
from streamalign.engine.ordering import ReorderBuffer

__all__ = ["BACKENDS", "execute", "make_backend", "resolve_workers"]

BACKENDS: dict[str, str] = {
    "serial": "in the calling thread, one payload at a time",
    "threads": "worker threads (best when the task releases the GIL)",
    "processes": "worker processes (survives killed workers)",
    "dask": "a Dask cluster (pip install 'streamalign[dask]'; survives lost workers)",
}


def make_backend(
    name: str,
    task: Task,
    workers: int,
    *,
    max_retries: int = 2,
    start_method: str | None = None,
    client: Any = None,
    scheduler: Any = None,
    on_crash: Callable[[Any, WorkerCrashError], Any] | None = None,
) -> Backend:
    """Build the backend called ``name`` (one of :data:`BACKENDS`).

    ``client`` and ``scheduler`` are for ``"dask"`` only (see
    :class:`~streamalign.engine.dask_backend.DaskBackend`, which imports Dask only when built).

    Example:
        >>> type(make_backend("threads", abs, 2)).__name__
        'ThreadBackend'
    """
    if name == "serial":
        return SerialBackend(task)
    if name == "threads":
        return ThreadBackend(task, workers)
    if name == "processes":
        return ProcessBackend(
            task, workers, max_retries=max_retries, start_method=start_method, on_crash=on_crash
        )
    if name == "dask":
        return DaskBackend(
            task, workers, client=client, scheduler=scheduler, max_retries=max_retries
        )
    raise ValueError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")


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
    client: Any = None,
    scheduler: Any = None,
    on_crash: Callable[[Any, WorkerCrashError], Any] | None = None,
) -> Generator[Completed, None, None]:
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
            releases the GIL, e.g. a nogil numba kernel), ``"processes"`` or ``"dask"`` (a
            Dask cluster, see :mod:`streamalign.engine.dask_backend`).
        workers: number of workers; 0 means every available CPU. Ignored by ``"serial"``;
            for ``"dask"``, the size of the local cluster started when neither ``client`` nor
            ``scheduler`` is given.
        ordered: yield in input order (default) or as soon as each result is ready.
        max_in_flight: the window; default ``2 * workers + 2`` (for ``"dask"``: twice the
            cluster's current thread count, plus 2).
        max_retries: ``"processes"`` only: how many times a payload is re-run after the
            worker running it died; one more death raises :class:`WorkerCrashError`.
            ``"dask"``: every task's ``retries=`` (re-runs after it raised); the tasks of a
            lost worker are re-run by the Dask scheduler.
        on_crash: ``"processes"`` only: called in this process as ``on_crash(payload, error)``
            for a payload whose workers died ``max_retries + 1`` times; its return value stands
            as the payload's result (instead of raising :class:`WorkerCrashError`).
        start_method: ``"processes"`` only: ``"fork"``, ``"spawn"``, ``"forkserver"``, or
            ``None`` for the platform's default.
        client: ``"dask"`` only: an existing ``distributed.Client`` (left open).
        scheduler: ``"dask"`` only: a scheduler address, e.g. ``"tcp://host:8786"``.

    Yields:
        :class:`Completed` ``(index, result, worker)``, each index exactly once.

    Raises:
        ValueError: an unknown backend or start method, or a window or retry count out of
            range (raised at once, not on the first result).
        StreamAlignError: ``"dask"`` without Dask installed (raised at once).
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
    if backend != "dask" and (client is not None or scheduler is not None):
        raise ValueError("client= and scheduler= are for backend='dask' only")
    worker_count = resolve_workers(workers)
    default_window = max_in_flight is None
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
        backend,
        task,
        worker_count,
        max_retries=max_retries,
        start_method=start_method,
        client=client,
        scheduler=scheduler,
        on_crash=on_crash,
    )
    window: int | Callable[[], int] = max_in_flight
    if backend == "dask" and default_window:
        assert isinstance(chosen, DaskBackend)
        window = chosen.max_in_flight  # follows the cluster's size
    return _drive(chosen, iter(payloads), ordered=ordered, max_in_flight=window)


class _InputFetcher:
    """Pulls payloads from the input in a helper thread, one at a time, only when asked.

    The driver must never block on the input while finished results wait to be yielded: an
    input that is a pipe can stay silent for hours while the results of what it already sent
    are ready. So the driver asks for the next payload, goes on collecting results, and picks
    the payload up when it has arrived. At most one payload is being fetched at any time and
    only when the window has room, so backpressure is exact.
    """

    _END = object()

    def __init__(self, payloads: Iterator[Any]) -> None:
        self._payloads = payloads
        self._requests: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._arrivals: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="streamalign-input", daemon=True)
        self._thread.start()
        self.requested = False

    def _run(self) -> None:
        while self._requests.get():
            try:
                self._arrivals.put(("payload", next(self._payloads)))
            except StopIteration:
                self._arrivals.put(("end", None))
                return
            except BaseException as error:  # handed to the driver, raised there
                self._arrivals.put(("error", error))
                return

    def request(self) -> None:
        """Ask for one more payload (no-op if one is already on its way)."""
        if not self.requested:
            self.requested = True
            self._requests.put(True)

    def receive(self, timeout: float | None) -> tuple[str, Any] | None:
        """The requested payload as ``("payload", p)`` or ``("end", None)``; ``None`` if it has
        not arrived within ``timeout`` seconds (``None``: wait as long as it takes)."""
        try:
            kind, value = self._arrivals.get(timeout=timeout)
        except queue.Empty:
            return None
        self.requested = False
        if kind == "error":
            raise value
        return kind, value

    def close(self) -> None:
        """Stop the helper thread (it may stay blocked in a silent input: it is a daemon)."""
        self._requests.put(False)
        self._thread.join(timeout=0.1)


def _drive(
    backend: Backend,
    payloads: Iterator[Any],
    *,
    ordered: bool,
    max_in_flight: int | Callable[[], int],
) -> Generator[Completed, None, None]:
    """Keep the backend fed within the window, yield what it finishes, always shut it down."""
    reorder: ReorderBuffer[Completed] = ReorderBuffer()
    taken = 0  # payloads taken from the input
    yielded = 0  # results handed to the consumer
    exhausted = False
    finished = False
    fetcher: _InputFetcher | None = None
    try:
        backend.start()
        fetcher = _InputFetcher(payloads)
        while True:
            window = max_in_flight() if callable(max_in_flight) else max_in_flight
            while not exhausted and taken - yielded < window and backend.can_accept():
                fetcher.request()
                # Wait on the input for long only when nothing else can make progress; an input
                # that keeps up (a file, a list) delivers within the short wait.
                arrival = fetcher.receive(
                    timeout=_INPUT_GRACE_SECONDS if backend.pending() else None
                )
                if arrival is None:
                    break
                kind, payload = arrival
                if kind == "end":
                    exhausted = True
                    break
                backend.submit(taken, payload)
                del payload, arrival
                taken += 1
            if not backend.pending():
                if exhausted:
                    break
                continue  # everything taken was yielded: take more
            for completed in backend.wait(**_input_aware(backend, fetcher)):
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
        if fetcher is not None:
            fetcher.close()
        backend.shutdown(graceful=finished)


def _input_aware(backend: Backend, fetcher: _InputFetcher) -> dict[str, Any]:
    """Wait arguments: while a payload is on its way and a worker is free, wake up now and then
    to hand it over instead of idling that worker until another result arrives."""
    if fetcher.requested and backend.can_accept():
        return {"timeout": _INPUT_POLL_SECONDS}
    return {}


#: How often a driver waiting for results looks for a payload a free worker could take.
_INPUT_POLL_SECONDS = 0.005
#: How long the driver waits for a requested payload while results may be arriving.
_INPUT_GRACE_SECONDS = 0.002
