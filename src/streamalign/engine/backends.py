"""Where ``task(payload)`` runs: in the calling thread, in threads, or in worker processes.

A backend (:class:`~streamalign.engine.base.Backend`) takes payloads one at a time
(``submit``), hands back finished ones (``wait``) and says when it has room for more
(``can_accept``); the driver in :mod:`streamalign.engine.execution` adds the in-flight
window and the ordering. Each backend knows nothing of what the payloads are.

- :class:`SerialBackend`: runs each payload in the calling thread, one at a time; for debugging
  and for ``workers=1`` without any pool.
- :class:`ThreadBackend`: a fixed set of threads sharing one inbox; the right choice when the
  task releases the GIL (nogil numba kernels): nothing is pickled or re-imported.
- :class:`ProcessBackend`: a small process pool of its own that survives workers killed from
  outside (see the class docstring for how).

Example:
    >>> backend = ThreadBackend(abs, workers=2)
    >>> backend.start()
    >>> for index, payload in enumerate([-1, -2, 3]):
    ...     backend.submit(index, payload)
    >>> results = []
    >>> while backend.pending():
    ...     results.extend(completed.result for completed in backend.wait())
    >>> backend.shutdown(graceful=True)
    >>> sorted(results)
    [1, 2, 3]
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.reduction import ForkingPickler
from typing import Any

from streamalign.engine.base import Completed, Task
from streamalign.engine.exceptions import RemoteTraceback, WorkerCrashError, describe_exitcode

__all__ = ["ProcessBackend", "SerialBackend", "ThreadBackend"]


class SerialBackend:
    """Run each payload in the calling thread, one at a time, only when a result is asked for.

    Example:
        >>> backend = SerialBackend(abs)
        >>> backend.start()
        >>> backend.submit(0, -3)
        >>> backend.wait()
        [Completed(index=0, result=3, worker=0)]
        >>> backend.shutdown(graceful=True)
    """

    def __init__(self, task: Task) -> None:
        self._task = task
        self._queued: deque[tuple[int, Any]] = deque()

    def start(self) -> None:
        """Nothing to start."""

    def can_accept(self) -> bool:
        """Room for exactly one payload: the next one runs when :meth:`wait` is called."""
        return not self._queued

    def submit(self, index: int, payload: Any) -> None:
        """Hold ``payload`` until :meth:`wait`."""
        self._queued.append((index, payload))

    def pending(self) -> int:
        """Payloads held and not yet run."""
        return len(self._queued)

    def wait(self, timeout: float | None = None) -> list[Completed]:
        """Run the oldest held payload now; its exception, if any, propagates unchanged."""
        index, payload = self._queued.popleft()
        return [Completed(index, self._task(payload), 0)]

    def shutdown(self, *, graceful: bool) -> None:
        """Forget anything still held."""
        self._queued.clear()


class ThreadBackend:
    """A fixed set of threads pulling payloads from one shared inbox.

    End of input and shutdown are signalled with one ``None`` sentinel per thread; an early stop
    also empties the inbox and raises a flag so that each thread exits after its current task.

    Args:
        task: called as ``task(payload)`` in a worker thread.
        workers: number of threads (at least 1).

    Example:
        >>> backend = ThreadBackend(str.upper, workers=2)
        >>> backend.start()
        >>> backend.submit(0, "acgt")
        >>> backend.wait()[0].result
        'ACGT'
        >>> backend.shutdown(graceful=True)
    """

    #: seconds an early stop waits for busy threads before leaving them behind
    abandon_after = 0.25

    def __init__(self, task: Task, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"ThreadBackend needs at least one worker, not {workers}")
        self._task = task
        self._worker_count = workers
        self._inbox: queue.SimpleQueue[tuple[int, Any] | None] = queue.SimpleQueue()
        self._outbox: queue.SimpleQueue[tuple[int, bool, Any, int]] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._pending = 0

    def start(self) -> None:
        """Start the worker threads."""
        for number in range(self._worker_count):
            thread = threading.Thread(
                target=self._work, args=(number,), name=f"streamalign-worker-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _work(self, number: int) -> None:
        while True:
            message = self._inbox.get()
            if message is None or self._stopping.is_set():
                return
            index, payload = message
            del message
            try:
                result = self._task(payload)
            except BaseException as error:  # handed to the caller, who decides
                self._outbox.put((index, False, error, number))
                del error
            else:
                self._outbox.put((index, True, result, number))
                del result
            del payload

    def can_accept(self) -> bool:
        """Always: the driver's in-flight window is the only limit."""
        return True

    def submit(self, index: int, payload: Any) -> None:
        """Put ``payload`` in the shared inbox."""
        self._inbox.put((index, payload))
        self._pending += 1

    def pending(self) -> int:
        """Payloads submitted and not yet returned."""
        return self._pending

    def wait(self, timeout: float | None = None) -> list[Completed]:
        """Block until at least one payload is done (or ``timeout``); re-raise a task's error."""
        try:
            messages = [self._outbox.get(timeout=timeout)]
        except queue.Empty:
            return []
        with contextlib.suppress(queue.Empty):
            while True:
                messages.append(self._outbox.get_nowait())
        completed = []
        for index, succeeded, value, number in messages:
            self._pending -= 1
            if not succeeded:
                raise value
            completed.append(Completed(index, value, number))
        return completed

    def shutdown(self, *, graceful: bool) -> None:
        """Stop every thread after its current task and join it; if not graceful, give up on
        a thread still busy after :attr:`abandon_after` seconds.

        After an error or an early stop (Ctrl-C) a long task must not hold up the stop: a
        nogil kernel cannot be interrupted. An abandoned thread is a daemon; it drops its
        result and exits when its task returns (or goes with the interpreter).
        """
        if not graceful:
            self._stopping.set()
            with contextlib.suppress(queue.Empty):
                while True:
                    self._inbox.get_nowait()
        for _ in self._threads:
            self._inbox.put(None)
        deadline = None if graceful else time.monotonic() + self.abandon_after
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self._threads.clear()
        self._pending = 0


# Messages from a worker process to the parent, on its result connection.
_READY = "ready"
_RESULT = "result"
_ERROR = "error"


def _pack_exception(error: BaseException) -> tuple[bytes | None, str, str]:
    """Turn ``error`` into something that always crosses a pipe: pickle, description, traceback."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    description = f"{type(error).__module__}.{type(error).__qualname__}: {error}"
    data: bytes | None
    try:
        data = pickle.dumps(error)
        pickle.loads(data)  # some exceptions pickle but do not unpickle (custom __init__)
    except Exception:
        data = None
    return data, description, text


def _unpack_exception(
    packed: tuple[bytes | None, str, str], index: int, worker: int
) -> BaseException:
    """Rebuild a worker's exception, with the worker's traceback as its ``__cause__``."""
    data, description, text = packed
    error: object = None
    if data is not None:
        with contextlib.suppress(Exception):
            error = pickle.loads(data)
    if not isinstance(error, BaseException):
        error = RuntimeError(
            f"task failed on payload {index} with an exception that cannot be pickled: "
            f"{description}"
        )
    error.__cause__ = RemoteTraceback(f"payload {index}, worker {worker}:\n{text}")
    return error


def _receive_payloads(connection: Connection, inbox: queue.SimpleQueue[Any]) -> None:
    """Worker-side thread: move payloads from the pipe to ``inbox``, then ``None`` at the end.

    Reading in a thread of its own keeps the pipe drained while the main thread computes or
    sends a result, so the parent never blocks sending a payload (no pipe deadlock), and the
    worker notices a dead parent (end of file) even when idle.
    """
    try:
        while True:
            index = connection.recv()
            if index is None:
                break
            inbox.put((index, connection.recv_bytes()))
    except (EOFError, OSError):
        pass
    finally:
        inbox.put(None)


def _process_worker_main(
    task: Task,
    number: int,
    task_connection: Connection,
    result_connection: Connection,
    inherited_descriptors: tuple[int, ...] = (),
) -> None:
    """Body of a worker process: run payloads in arrival order, send back results or errors.

    ``inherited_descriptors`` are the parent's ends of the workers' pipes, which a forked child
    inherits: closed at once, so that the parent's death reaches every worker as end of file.
    """
    for descriptor in inherited_descriptors:
        with contextlib.suppress(OSError):
            os.close(descriptor)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    # A forked worker inherits the parent's SIGTERM handler (the command line's raises
    # KeyboardInterrupt, which waits for the kernel to return): SIGTERM must stop it at once.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):  # blocked by the parent while this worker started
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    inbox: queue.SimpleQueue[tuple[int, bytes] | None] = queue.SimpleQueue()
    receiver = threading.Thread(
        target=_receive_payloads, args=(task_connection, inbox), name="receiver", daemon=True
    )
    receiver.start()
    try:
        result_connection.send((_READY, os.getpid()))
        while (message := inbox.get()) is not None:
            index, data = message
            del message
            reply: tuple[Any, ...]
            try:
                reply = (_RESULT, index, task(pickle.loads(data)))
            except BaseException as error:
                reply = (_ERROR, index, _pack_exception(error))
            del data
            try:
                result_connection.send(reply)
            except OSError:
                return  # the parent is gone
            except Exception as error:  # the result cannot be pickled
                result_connection.send((_ERROR, index, _pack_exception(error)))
            del reply
    except OSError:
        return  # the parent is gone


@dataclass(eq=False)
class _WorkerProcess:
    """The parent's view of one worker process."""

    number: int
    process: BaseProcess
    task_connection: Connection
    result_connection: Connection
    held: deque[int] = field(default_factory=deque)  # indexes sent, oldest first
    ready: bool = False  # it said hello: safe to send payloads without blocking
    broken: bool = False  # sending failed: send nothing more, wait for its sentinel
    drained: bool = False  # its result connection reached end of file

    def close(self) -> None:
        self.task_connection.close()
        self.result_connection.close()


class ProcessBackend:
    """A small process pool that notices dead workers and re-runs their payloads.

    Each worker process gets the task once, as a ``Process`` argument (pickled once under
    spawn/forkserver, inherited under fork), and two pipes of its own: payloads in, results
    out. The parent sends each payload to one chosen worker, keeping at most ``queue_depth``
    (default 2: one running, one queued) on each, and remembers which indexes each worker
    holds. It waits with :func:`multiprocessing.connection.wait` on every result pipe and on
    every process's ``sentinel``, so a worker killed from outside (SIGKILL, out-of-memory,
    segfault) is noticed at once. Then it reads what that worker had already sent, starts a
    replacement with the same number, and re-sends the payloads the dead worker still held.
    The oldest of them (the one it was running) is charged a crash; a payload charged
    ``max_retries + 1`` crashes raises :class:`WorkerCrashError`.

    Workers ignore SIGINT: on Ctrl-C the parent gets KeyboardInterrupt and stops them.
    Shutdown sends a ``None`` sentinel (graceful) or SIGTERM, then SIGKILL after a grace period.

    Args:
        task: a picklable callable (a module-level function, not a lambda or closure, under
            spawn and forkserver).
        workers: number of worker processes (at least 1).
        max_retries: how many times a payload may be re-run after its worker died.
        start_method: ``"fork"``, ``"spawn"``, ``"forkserver"`` or ``None`` (platform default).
        queue_depth: payloads kept on each worker at once (at least 1).

    Example:
        >>> backend = ProcessBackend(abs, workers=2, start_method="spawn")
        >>> backend.start()
        >>> backend.submit(0, -5)
        >>> results = []
        >>> while backend.pending():
        ...     results.extend(backend.wait())
        >>> backend.shutdown(graceful=True)
        >>> [completed.result for completed in results]
        [5]
    """

    #: seconds a worker gets to exit on its own before SIGTERM, then before SIGKILL
    grace_period = 1.0

    def __init__(
        self,
        task: Task,
        workers: int,
        *,
        max_retries: int = 2,
        start_method: str | None = None,
        queue_depth: int = 2,
        on_crash: Callable[[Any, WorkerCrashError], Any] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"ProcessBackend needs at least one worker, not {workers}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {max_retries}")
        if queue_depth < 1:
            raise ValueError(f"queue_depth must be 1 or more, not {queue_depth}")
        self._task = task
        self._worker_count = workers
        self._max_retries = max_retries
        self._context = multiprocessing.get_context(start_method)
        self._queue_depth = queue_depth
        self._workers: list[_WorkerProcess] = []
        self._payloads: dict[int, memoryview] = {}  # pickled, kept until its result is back
        self._backlog: deque[int] = deque()  # indexes waiting for a free worker
        self._crashes: dict[int, int] = {}  # index -> workers that died running it
        self._startup_failures = 0  # workers that died before saying hello, in a row
        # Called (in this process) with a payload that killed max_retries + 1 workers; what it
        # returns stands as that payload's result. None: raise WorkerCrashError instead.
        self._on_crash = on_crash
        self._substituted: list[Completed] = []

    def worker_pids(self) -> list[int]:
        """Process ids of the current workers (a replacement has a new one)."""
        return [worker.process.pid for worker in self._workers if worker.process.pid is not None]

    def start(self) -> None:
        """Start the worker processes; they say hello when ready for payloads."""
        for number in range(self._worker_count):
            self._workers.append(self._start_worker(number))

    def _start_worker(self, number: int) -> _WorkerProcess:
        task_reader, task_writer = self._context.Pipe(duplex=False)
        result_reader, result_writer = self._context.Pipe(duplex=False)
        inherited: tuple[int, ...] = ()
        if self._context.get_start_method() == "fork":
            parent_ends = [task_writer, result_reader]
            for worker in self._workers:
                parent_ends += [worker.task_connection, worker.result_connection]
            inherited = tuple(end.fileno() for end in parent_ends if not end.closed)
        process = self._context.Process(  # type: ignore[attr-defined]
            target=_process_worker_main,
            args=(self._task, number, task_reader, result_writer, inherited),
            name=f"streamalign-worker-{number}",
            daemon=True,
        )
        try:
            with self._sigint_blocked():
                process.start()
        except BaseException:
            task_writer.close()
            result_reader.close()
            if process.pid is not None:  # interrupted right after the start
                process.kill()
                process.join()
            raise
        finally:
            # The child has its own copies now; closing ours lets each side see end of file.
            task_reader.close()
            result_writer.close()
        return _WorkerProcess(number, process, task_writer, result_reader)

    @contextlib.contextmanager
    def _sigint_blocked(self) -> Iterator[None]:
        """Block SIGINT while a worker starts: it inherits the mask until it ignores SIGINT.

        So a Ctrl-C while a spawned worker is still importing does not kill it with a
        traceback; the parent gets the signal when the mask is restored. Not done for
        forkserver: its workers fork from the server, and a server started here would keep
        SIGINT blocked for good.
        """
        blockable = hasattr(signal, "pthread_sigmask")
        if not blockable or self._context.get_start_method() not in ("fork", "spawn"):
            yield
            return
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            yield
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def can_accept(self) -> bool:
        """Whether a free slot (on a ready or starting worker) is waiting for a payload."""
        capacity = sum(
            self._queue_depth - len(worker.held) for worker in self._workers if not worker.broken
        )
        return len(self._backlog) < capacity

    def submit(self, index: int, payload: Any) -> None:
        """Pickle ``payload`` now (kept for a re-run) and send it to the least busy worker."""
        self._payloads[index] = ForkingPickler.dumps(payload)
        self._backlog.append(index)
        self._dispatch()

    def pending(self) -> int:
        """Payloads submitted and not yet returned."""
        return len(self._payloads)

    def _dispatch(self) -> None:
        while self._backlog:
            free = [
                worker
                for worker in self._workers
                if worker.ready and not worker.broken and len(worker.held) < self._queue_depth
            ]
            if not free:
                return
            worker = min(free, key=lambda candidate: len(candidate.held))
            index = self._backlog.popleft()
            worker.held.append(index)
            try:
                worker.task_connection.send(index)
                worker.task_connection.send_bytes(self._payloads[index])
            except OSError:
                worker.broken = True  # it died; its sentinel will say so and it is replaced

    def wait(self, timeout: float | None = None) -> list[Completed]:
        """Block until a result arrives or a worker changes state (or ``timeout``); handle dead
        workers."""
        self._dispatch()
        watched: dict[Any, tuple[_WorkerProcess, bool]] = {}
        for worker in self._workers:
            if not worker.drained:
                watched[worker.result_connection] = (worker, False)
            watched[worker.process.sentinel] = (worker, True)
        completed: list[Completed] = []
        dead = []
        for ready in multiprocessing.connection.wait(list(watched), timeout):
            worker, is_sentinel = watched[ready]
            if is_sentinel:
                dead.append(worker)
            else:
                self._receive(worker, completed)
        for worker in dead:
            self._receive(worker, completed)  # keep what it sent before dying
            self._replace(worker)
        completed.extend(self._substituted)
        self._substituted.clear()
        self._dispatch()
        return completed

    def _receive(self, worker: _WorkerProcess, completed: list[Completed]) -> None:
        """Read every message already waiting on ``worker``'s result connection."""
        connection = worker.result_connection
        while not worker.drained:
            try:
                if not connection.poll():
                    return
                message = connection.recv()
            except (EOFError, OSError):  # dead, possibly in the middle of a message
                worker.drained = True
                return
            kind = message[0]
            if kind == _READY:
                worker.ready = True
                self._startup_failures = 0
                continue
            index = message[1]
            with contextlib.suppress(ValueError):
                worker.held.remove(index)
            if kind == _ERROR:
                raise _unpack_exception(message[2], index, worker.number)
            if self._payloads.pop(index, None) is not None:  # else a duplicate: drop it
                self._crashes.pop(index, None)
                completed.append(Completed(index, message[2], worker.number))

    def _replace(self, worker: _WorkerProcess) -> None:
        """Account for a dead worker, start its replacement and queue its payloads again."""
        worker.process.join()  # its sentinel is ready: this only reaps it
        exitcode = worker.process.exitcode
        worker.close()
        worker.process.close()
        held = [index for index in worker.held if index in self._payloads]
        worker.held.clear()
        if held:
            running = held[0]  # payloads run in the order sent: the oldest was running
            attempts = self._crashes.get(running, 0) + 1
            self._crashes[running] = attempts
            if attempts > self._max_retries:
                error = WorkerCrashError(running, attempts, exitcode)
                if self._on_crash is None:
                    self._workers.remove(worker)
                    raise error
                payload = pickle.loads(self._payloads.pop(running))
                result = self._on_crash(payload, error)
                self._substituted.append(Completed(running, result, worker.number))
                held = held[1:]
        elif not worker.ready:
            self._startup_failures += 1
            if self._startup_failures > self._max_retries:
                self._workers.remove(worker)
                raise WorkerCrashError(
                    None,
                    self._startup_failures,
                    exitcode,
                    f"{self._startup_failures} worker processes in a row died before they were "
                    f"ready (last {describe_exitcode(exitcode)}); does the task unpickle and its "
                    f"module import in a fresh process?",
                )
        self._backlog.extendleft(reversed(held))
        position = self._workers.index(worker)
        self._workers[position] = self._start_worker(worker.number)

    def shutdown(self, *, graceful: bool) -> None:
        """Stop every worker: a sentinel if graceful, else SIGTERM; SIGKILL as a last resort."""
        workers, self._workers = self._workers, []
        self._payloads.clear()
        self._backlog.clear()
        for worker in workers:
            if graceful:
                with contextlib.suppress(OSError):
                    worker.task_connection.send(None)
            elif worker.process.exitcode is None:
                worker.process.terminate()
        for signal_next in (BaseProcess.terminate, BaseProcess.kill):
            deadline = time.monotonic() + self.grace_period
            for worker in workers:
                worker.process.join(max(0.0, deadline - time.monotonic()))
            still_running = [worker for worker in workers if worker.process.exitcode is None]
            for worker in still_running:
                signal_next(worker.process)
        for worker in workers:
            worker.process.join()
            worker.close()
            worker.process.close()
