"""Run payloads on a Dask cluster: ``execute(..., backend="dask")``.

:class:`DaskBackend` is the engine's fourth backend. Reading and writing stay in the calling
process (the *client*); only the task and the payloads travel:

- the task (in practice the aligner and its options) is pickled **once**, into a task of its
  own (``streamalign-task-<run id>``) whose future every batch task receives: a worker fetches
  it once (from the worker that holds it) and keeps it for the run; it is never pickled into
  the batch tasks. Unlike ``client.scatter(task, broadcast=True)``, this is a result the
  scheduler can compute again if every worker holding it goes away (with Dask's Active Memory
  Manager, a quiet moment leaves a single copy of scattered data: losing that one worker would
  end the run);
- each payload is submitted as one task with an explicit key,
  ``streamalign-batch-<run id>-<index>``, and ``retries=max_retries`` (a task that raised is
  re-run that many times, e.g. after a transient error on one machine; a
  :class:`~streamalign.errors.StreamAlignError`, the input's fault, is not re-run);
- at most a window of payloads is in flight (``distributed.as_completed`` with ``.add``), by
  default ``2 * threads + 2`` with ``threads`` the cluster's current thread count, looked up
  again at most once a second, so an autoscaling cluster gets more work as it grows;
- a worker that goes away (machine lost, job pre-empted, process killed) costs nothing: the
  scheduler re-runs the tasks it held on other workers, and results already computed but lost
  with it are computed again. A payload whose workers died
  ``distributed.scheduler.allowed-failures + 1`` times (Dask's default: 4) raises
  :class:`~streamalign.engine.WorkerCrashError`.

Results come back through the engine's usual driver, so order, the window and "each index
exactly once" are the same as for the other backends. ``Completed.worker`` is a small integer
per worker address: the workers present at the start are numbered in address order, later ones
(added by scaling, or replacing a dead worker) as they are first seen.

Where the cluster comes from, in this order: an existing ``client`` (left open at the end), a
scheduler address (a client is opened and closed), or else a
``LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)`` started and closed
here. Dask is an optional dependency (``pip install 'streamalign[dask]'``): it is imported only
when this backend is built, and its absence is a :class:`~streamalign.errors.StreamAlignError`.

Example: a backend is checked when built, before Dask is imported or a cluster reached:

    >>> DaskBackend(abs, workers=0)
    Traceback (most recent call last):
    ...
    ValueError: DaskBackend needs at least one worker, not 0

and used through :func:`~streamalign.engine.execute` (not run here: it needs a cluster):

    from distributed import Client
    from streamalign.engine import execute

    with Client("tcp://scheduler:8786") as client:
        for completed in execute(abs, [-1, -2, 3], backend="dask", client=client):
            print(completed.index, completed.result, completed.worker)
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import threading
import time
import traceback
import uuid
from types import ModuleType
from typing import Any, NamedTuple

from streamalign.engine.base import Completed, Task
from streamalign.engine.exceptions import RemoteTraceback, WorkerCrashError
from streamalign.errors import StreamAlignError

__all__ = ["INSTALL_HINT", "DaskBackend", "import_distributed", "start_local_cluster"]

#: What to run when the dask backend is chosen but Dask is not installed.
INSTALL_HINT = "pip install 'streamalign[dask]'"


def import_distributed() -> ModuleType:
    """Import ``distributed`` (Dask's cluster scheduler), or say in one line what to install.

    Raises:
        StreamAlignError: ``distributed`` cannot be imported.
    """
    try:
        import distributed
    except ImportError as error:
        raise StreamAlignError(
            f"the dask backend needs Dask's distributed scheduler, which cannot be imported "
            f"({error}); install it with: {INSTALL_HINT}"
        ) from None
    return distributed


class _InputError(NamedTuple):
    """A :class:`StreamAlignError` raised by the task, returned instead of raised."""

    error: StreamAlignError
    traceback: str


def _identity(task: Task) -> Task:
    """The run's task as a Dask result: computed once, fetched by each worker that needs it."""
    return task


def _run_on_worker(task: Task, payload: Any) -> tuple[str, Any]:
    """Worker side of one payload: the address of the worker that ran it, and the result.

    A :class:`StreamAlignError` (bad input: the same payload fails the same way anywhere) comes
    back as an :class:`_InputError` instead of being raised, so that Dask does not re-run it
    ``retries`` times; any other exception is raised, and retried.
    """
    from distributed import get_worker

    address = get_worker().address
    try:
        return address, task(payload)
    except StreamAlignError as error:
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        try:
            pickle.loads(pickle.dumps(error))
        except Exception:
            raise error from None  # cannot travel as a value: let Dask carry it
        return address, _InputError(error, text)


def _check_address(address: str) -> None:
    """Raise :class:`StreamAlignError` now for what cannot be a scheduler address at all."""
    from distributed.comm import get_address_host_port, parse_address

    try:
        if parse_address(address)[0] != "inproc":  # in-process: no host and port
            get_address_host_port(address)  # unknown scheme, no port: ValueError
    except ValueError as error:
        raise StreamAlignError(f"not a Dask scheduler address: {address!r} ({error})") from None


def _restore_environment(before: dict[str, str]) -> None:
    """Undo what was set in ``os.environ`` since ``before`` was taken."""
    for name in set(os.environ) - set(before):
        del os.environ[name]
    for name, value in before.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def dask_setup(worker: Any) -> None:
    """Dask preload hook, run in each worker of a local cluster this backend starts.

    The workers of a local cluster share the terminal's process group, so a Ctrl-C would reach
    each of them as KeyboardInterrupt (a traceback per worker). They ignore SIGINT instead:
    the client gets it, cancels the run and closes the cluster, which stops them in order.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_local_cluster(workers: int, **options: Any) -> Any:
    """Start the local cluster of ``--dask-workers``: single-threaded worker processes.

    ``LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)``, and:

    - no dashboard; the scheduler's HTTP server (health checks) takes any free port, not 8787;
    - the workers ignore SIGINT (see :func:`dask_setup`);
    - the workers start without Dask's ``MALLOC_TRIM_THRESHOLD_=65536``: setting it turns off
      glibc's adaptive mmap threshold, so every batch's large numpy buffers would be fresh
      mappings, page-faulted in again each time (about 15% more CPU time per batch, measured);
    - the workers' statistical profiler is off: sampling the task thread every 10 ms from the
      event loop took CPU time away from the batches on a machine with few cores.

    Args:
        workers: number of worker processes.
        options: more ``LocalCluster`` arguments (e.g. ``host="127.0.0.1"``).
    """
    distributed = import_distributed()
    import dask

    preload = [*dask.config.get("distributed.worker.preload", []), __name__]
    settings = {
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
        "distributed.worker.profile.enabled": False,
    }
    with dask.config.set(settings):  # the nannies keep a copy for their workers
        return distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": ":0"},
            preload=preload,
            **options,
        )


class DaskBackend:
    """Run each payload as one task on a Dask cluster (see the module docstring).

    Args:
        task: a picklable callable; sent to the cluster once per run.
        workers: size of the local cluster started when neither ``client`` nor ``scheduler``
            is given (that many single-threaded worker processes); ignored otherwise.
        client: an existing synchronous ``distributed.Client``; left open at the end.
        scheduler: a scheduler address such as ``"tcp://host:8786"`` (or anything
            ``distributed.Client`` accepts); a client is opened for the run and closed after.
        max_retries: ``retries=`` of every batch task (re-runs after the task raised).

    Raises:
        StreamAlignError: Dask's ``distributed`` package is not installed.
        ValueError: both ``client`` and ``scheduler``, a bad worker or retry count, or an
            asynchronous client.
    """

    #: seconds between two looks at the cluster's thread count (for the window)
    size_refresh_seconds = 1.0
    #: seconds allowed for closing a client or a local cluster this backend opened
    close_timeout = 20.0

    def __init__(
        self,
        task: Task,
        workers: int,
        *,
        client: Any = None,
        scheduler: Any = None,
        max_retries: int = 2,
    ) -> None:
        if client is not None and scheduler is not None:
            raise ValueError("give the dask backend a client or a scheduler address, not both")
        if workers < 1:
            raise ValueError(f"DaskBackend needs at least one worker, not {workers}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {max_retries}")
        self._distributed = import_distributed()
        if client is not None and getattr(client, "asynchronous", False):
            raise ValueError("the dask backend needs a synchronous distributed.Client")
        if isinstance(scheduler, str):
            _check_address(scheduler)
        self._task = task
        self._worker_count = workers
        self._given_client = client
        self._scheduler = scheduler
        self._max_retries = max_retries
        self.run_id = uuid.uuid4().hex
        self._client: Any = None
        self._cluster: Any = None
        self._task_future: Any = None
        self._completions: Any = None
        self._in_flight: dict[str, tuple[int, Any]] = {}  # key -> (index, future)
        self._worker_numbers: dict[str, int] = {}
        self._environment: dict[str, str] | None = None  # before a local cluster started
        self._threads = 0
        self._threads_checked = -float("inf")

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` in use (``None`` before :meth:`start` and after the end)."""
        return self._client

    def key(self, index: int) -> str:
        """The Dask key of payload ``index`` in this run."""
        return f"streamalign-batch-{self.run_id}-{index}"

    def start(self) -> None:
        """Connect (or start a local cluster), number the workers, send the task once."""
        distributed = self._distributed
        if self._given_client is not None:
            self._client = self._given_client
        elif self._scheduler is not None:
            try:
                self._client = distributed.Client(self._scheduler, set_as_default=False)
            except (OSError, ValueError) as error:  # unreachable, or not an address
                raise StreamAlignError(
                    f"cannot reach the Dask scheduler at {self._scheduler}: {error}"
                ) from None
        else:
            # Dask's nannies set their workers' variables (OMP_NUM_THREADS=1, ...) in this
            # process's environment; they are put back when the cluster is closed.
            self._environment = dict(os.environ)
            self._cluster = start_local_cluster(self._worker_count)
            self._client = distributed.Client(self._cluster, set_as_default=False)
        client = self._client
        self._refresh_threads(client.nthreads())
        # A task of its own, not scatter(): a result the scheduler can compute again, from
        # the copy it keeps, should every worker holding it go away at once.
        self._task_future = client.submit(
            _identity, self._task, key=f"streamalign-task-{self.run_id}", pure=False
        )
        self._completions = distributed.as_completed(
            with_results=True, raise_errors=False, loop=client.loop
        )

    def _refresh_threads(self, threads_by_worker: dict[str, int]) -> None:
        for address in sorted(threads_by_worker):
            self._worker_number(address)
        self._threads = sum(threads_by_worker.values())
        self._threads_checked = time.monotonic()

    def _worker_number(self, address: str) -> int:
        return self._worker_numbers.setdefault(address, len(self._worker_numbers))

    def max_in_flight(self) -> int:
        """The default window: ``2 * threads + 2`` for the cluster's current thread count."""
        if (
            self._client is not None
            and time.monotonic() - self._threads_checked >= self.size_refresh_seconds
        ):
            self._refresh_threads(self._client.nthreads())
        return 2 * self._threads + 2

    def can_accept(self) -> bool:
        """Always: the driver's window is the only limit."""
        return True

    def submit(self, index: int, payload: Any) -> None:
        """Submit ``task(payload)`` as one task with an explicit key."""
        key = self.key(index)
        future = self._client.submit(
            _run_on_worker,
            self._task_future,
            payload,
            key=key,
            pure=False,
            retries=self._max_retries,
        )
        self._in_flight[key] = (index, future)
        self._completions.add(future)

    def pending(self) -> int:
        """Payloads submitted and not yet returned."""
        return len(self._in_flight)

    def wait(self, timeout: float | None = None) -> list[Completed]:
        """Block until at least one task is done; return every finished one, each index once.

        Raises:
            WorkerCrashError: a payload's workers died more often than the scheduler allows.
            StreamAlignError: a task was cancelled on the cluster (e.g. by another client).
            Exception: whatever the task raised (after its ``retries``), with its traceback.
        """
        completed: list[Completed] = []
        if timeout is None:
            finished = self._completions.next_batch(block=True)
        else:  # poll: as_completed has no timed wait
            deadline = time.monotonic() + timeout
            finished = self._completions.next_batch(block=False)
            while not finished and time.monotonic() < deadline:
                time.sleep(0.005)
                finished = self._completions.next_batch(block=False)
        for future, result in finished:
            entry = self._in_flight.pop(future.key, None)
            if entry is None:  # already returned: a duplicate completion is dropped
                continue
            index = entry[0]
            status = future.status
            future.release()
            if status == "error":
                _, error, remote_traceback = result
                if isinstance(error, self._distributed.KilledWorker):
                    raise WorkerCrashError(
                        index,
                        error.allowed_failures + 1,
                        None,
                        f"payload {index} was running on {error.allowed_failures + 1} Dask "
                        f"workers that all died (the last: {error.last_worker.address}); see "
                        f"the workers' logs (allowed by the scheduler: "
                        f"distributed.scheduler.allowed-failures = {error.allowed_failures})",
                    ) from None
                raise error.with_traceback(remote_traceback)
            if status != "finished":
                raise StreamAlignError(
                    f"payload {index} was {status} on the Dask cluster: {result}"
                )
            address, value = result
            if isinstance(value, _InputError):
                value.error.__cause__ = RemoteTraceback(
                    f"payload {index}, Dask worker {address}:\n{value.traceback}"
                )
                raise value.error
            completed.append(Completed(index, value, self._worker_number(address)))
        return completed

    def shutdown(self, *, graceful: bool) -> None:
        """Cancel what is still in flight, release the task, close what this backend opened.

        A client given by the caller stays open; its futures of this run are cancelled. A
        client or local cluster opened here is closed (within :attr:`close_timeout` each).
        """
        futures = [future for _, future in self._in_flight.values()]
        self._in_flight.clear()
        if self._completions is not None:
            self._completions.clear()
            self._completions = None
        client, self._client = self._client, None
        cluster, self._cluster = self._cluster, None
        task_future, self._task_future = self._task_future, None
        environment, self._environment = self._environment, None
        with contextlib.ExitStack() as cleanup:  # last in, first out; each runs whatever fails
            if environment is not None:
                cleanup.callback(_restore_environment, environment)
            if cluster is not None:
                cleanup.callback(cluster.close, timeout=self.close_timeout)
            if client is not None and client is not self._given_client:
                cleanup.callback(client.close, timeout=self.close_timeout)
            if client is not None and client is self._given_client:
                # The caller's client lives on: the cluster must forget this run now.
                if futures:
                    client.cancel(futures)
                if task_future is not None:
                    task_future.release()
