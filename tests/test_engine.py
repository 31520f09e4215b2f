"""Tests of streamalign.engine: backends, ordering, backpressure, errors, dead workers."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

import engine_tasks
from streamalign.engine import (
    Completed,
    ReorderBuffer,
    WorkerCrashError,
    execute,
    resolve_workers,
)
from streamalign.engine.exceptions import RemoteTraceback
from streamalign.errors import StreamAlignError

# a hang (the failure mode of pools that miss a dead worker) fails fast instead of in 300 s
pytestmark = pytest.mark.timeout(60)

START_METHODS = [
    method
    for method in ("fork", "spawn", "forkserver")
    if method in multiprocessing.get_all_start_methods()
]

# (backend, workers, start_method)
CONFIGURATIONS = [
    ("serial", 1, None),
    ("threads", 1, None),
    ("threads", 2, None),
    *[("processes", 2, method) for method in START_METHODS],
]
CONFIGURATION_IDS = [
    f"{backend}-{workers}-{method or 'default'}" for backend, workers, method in CONFIGURATIONS
]

# the quick ones for tests that do not depend on the start method
FAST_CONFIGURATIONS = [("serial", 1, None), ("threads", 2, None), ("processes", 2, "fork")]
FAST_IDS = ["serial", "threads", "processes"]


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    """Every test must leave no worker process and no worker thread behind."""
    threads_before = set(threading.enumerate())
    yield
    assert multiprocessing.active_children() == []
    leftover_threads = [thread for thread in threading.enumerate() if thread not in threads_before]
    assert leftover_threads == []


def serial_results(task, payloads):
    return [completed.result for completed in execute(task, payloads, backend="serial")]


# ---------------------------------------------------------------------------------------------
# ReorderBuffer


def test_reorder_buffer_releases_in_order_and_drops_duplicates():
    buffer: ReorderBuffer[str] = ReorderBuffer()
    assert buffer.push(2, "c")
    assert buffer.push(1, "b")
    assert list(buffer.pop_ready()) == []
    assert len(buffer) == 2
    assert not buffer.push(2, "c again")  # already held
    assert buffer.push(0, "a")
    assert list(buffer.pop_ready()) == ["a", "b", "c"]
    assert not buffer.push(1, "b again")  # already released
    assert buffer.next_index == 3
    assert len(buffer) == 0


# ---------------------------------------------------------------------------------------------
# Same results everywhere


@pytest.mark.parametrize(
    ("backend", "workers", "start_method"), CONFIGURATIONS, ids=CONFIGURATION_IDS
)
def test_every_backend_gives_the_serial_results_in_order(backend, workers, start_method):
    payloads = list(range(40))
    completed = list(
        execute(
            engine_tasks.CountingSquare(),
            iter(payloads),
            backend=backend,
            workers=workers,
            start_method=start_method,
        )
    )
    assert [item.index for item in completed] == payloads
    assert [item.result[0] for item in completed] == [value * value for value in payloads]
    assert all(isinstance(item, Completed) for item in completed)
    assert {item.worker for item in completed} <= set(range(workers))
    # the task is pickled once per worker process (0: inherited by fork or shared by threads)
    expected_unpickles = 1 if start_method in ("spawn", "forkserver") else 0
    assert {item.result[1] for item in completed} == {expected_unpickles}


@pytest.mark.parametrize(
    ("backend", "workers", "start_method"), CONFIGURATIONS, ids=CONFIGURATION_IDS
)
def test_unordered_gives_the_same_multiset_each_index_once(backend, workers, start_method):
    payloads = range(30)
    completed = list(
        execute(
            engine_tasks.jittered_square,
            payloads,
            backend=backend,
            workers=workers,
            ordered=False,
            start_method=start_method,
        )
    )
    assert sorted(item.index for item in completed) == list(payloads)
    assert sorted(item.result for item in completed) == sorted(value * value for value in payloads)
    for item in completed:
        assert item.result == item.index * item.index


def test_empty_input_gives_nothing():
    for backend in ("serial", "threads", "processes"):
        assert list(execute(engine_tasks.square, [], backend=backend, workers=2)) == []


# ---------------------------------------------------------------------------------------------
# Backpressure and laziness


class CountingSource:
    """An endless (or bounded) payload generator that records how many items were pulled."""

    def __init__(self, limit: int | None = None) -> None:
        self.pulled = 0
        self.limit = limit

    def __iter__(self) -> Iterator[int]:
        for value in itertools.count():
            if self.limit is not None and value >= self.limit:
                return
            self.pulled += 1
            yield value


@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "unordered"])
@pytest.mark.parametrize(("backend", "workers", "start_method"), FAST_CONFIGURATIONS, ids=FAST_IDS)
def test_input_is_pulled_no_further_than_the_window(backend, workers, start_method, ordered):
    source = CountingSource(limit=40)
    max_in_flight = 3
    yielded = 0
    for _ in execute(
        engine_tasks.jittered_square,
        source,
        backend=backend,
        workers=workers,
        ordered=ordered,
        max_in_flight=max_in_flight,
        start_method=start_method,
    ):
        yielded += 1
        assert source.pulled <= yielded + max_in_flight
    assert yielded == 40


@pytest.mark.parametrize(("backend", "workers", "start_method"), FAST_CONFIGURATIONS, ids=FAST_IDS)
def test_endless_input_is_consumed_lazily(backend, workers, start_method):
    source = CountingSource()
    results = execute(
        engine_tasks.square, source, backend=backend, workers=workers, start_method=start_method
    )
    assert source.pulled == 0  # nothing happens before the first result is asked for
    assert multiprocessing.active_children() == []
    first = list(itertools.islice(results, 25))
    assert [item.result for item in first] == [value * value for value in range(25)]
    assert source.pulled <= 25 + 2 * workers + 2  # the default window
    results.close()


# ---------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize(("backend", "workers", "start_method"), FAST_CONFIGURATIONS, ids=FAST_IDS)
def test_task_exception_reaches_the_caller(backend, workers, start_method):
    results = execute(engine_tasks.fail_on_three, range(100), backend=backend, workers=workers)
    with pytest.raises(ValueError, match="cannot handle payload 3") as raised:
        for _ in results:
            pass
    if backend == "processes":
        assert isinstance(raised.value.__cause__, RemoteTraceback)
        assert "fail_on_three" in str(raised.value.__cause__)


def test_exception_that_cannot_be_unpickled_becomes_runtime_error():
    with pytest.raises(RuntimeError, match="TwoArgumentError: left and right"):
        list(execute(engine_tasks.fail_unpicklably, range(5), backend="processes", workers=2))


def test_error_raised_by_the_input_reaches_the_caller():
    def broken_source():
        yield 1
        yield 2
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        list(execute(engine_tasks.square, broken_source(), backend="processes", workers=2))


def test_options_are_checked_at_once():
    with pytest.raises(ValueError, match="serial, threads, processes"):
        execute(engine_tasks.square, [1], backend="gpu")
    with pytest.raises(ValueError, match="0 \\(all CPUs\\) or a positive number"):
        execute(engine_tasks.square, [1], workers=-1)
    with pytest.raises(ValueError, match="max_in_flight"):
        execute(engine_tasks.square, [1], max_in_flight=0)
    with pytest.raises(ValueError, match="max_retries"):
        execute(engine_tasks.square, [1], max_retries=-1)
    with pytest.raises(ValueError, match="start method"):
        execute(engine_tasks.square, [1], backend="processes", start_method="teleport")
    with pytest.raises(TypeError, match="callable"):
        execute(42, [1])  # type: ignore[arg-type]


def test_resolve_workers():
    assert resolve_workers(3) == 3
    if hasattr(os, "sched_getaffinity"):
        assert resolve_workers(0) == len(os.sched_getaffinity(0))
    else:
        assert resolve_workers(0) == os.cpu_count()
    with pytest.raises(ValueError, match="-2"):
        resolve_workers(-2)


# ---------------------------------------------------------------------------------------------
# Stopping early


@pytest.mark.parametrize(("backend", "workers", "start_method"), FAST_CONFIGURATIONS, ids=FAST_IDS)
def test_closing_early_stops_every_worker_promptly(backend, workers, start_method):
    results = execute(
        engine_tasks.slow_square_with_pid, itertools.count(), backend=backend, workers=workers
    )
    assert len(list(itertools.islice(results, 5))) == 5
    if backend == "processes":
        assert len(multiprocessing.active_children()) == workers
    started = time.monotonic()
    results.close()
    assert time.monotonic() - started < 2
    # the autouse fixture checks that no process or thread is left


def test_break_out_of_a_for_loop_stops_the_workers():
    for completed in execute(
        engine_tasks.square, itertools.count(), backend="processes", workers=2
    ):
        if completed.index == 10:
            break
    # the generator is unreachable now; CPython finalizes it at once, which shuts the pool down
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize(
    ("backend", "workers", "start_method"), FAST_CONFIGURATIONS[1:], ids=FAST_IDS[1:]
)
def test_keyboard_interrupt_stops_every_worker(backend, workers, start_method):
    task = engine_tasks.slow_square_with_pid
    if backend == "processes":
        task = engine_tasks.sleep_long  # busy workers must be stopped too, not waited for
    # a real SIGINT to this (main) thread after 0.3 s; a timer signal, not a thread, so that
    # no thread is alive when the pool forks (Python 3.12+ warns about that). The alarm fires
    # again every 0.3 s and the handler's runs are counted: a second run means the engine
    # swallowed the first KeyboardInterrupt, which fails instead of running the endless input
    # on (as it did when the suite ran in the background with SIGINT ignored: conftest.py).
    interrupts: list[float] = []

    def interrupt(*_: object) -> None:
        interrupts.append(time.monotonic())
        signal.raise_signal(signal.SIGINT)

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3, 0.3)
        with pytest.raises(KeyboardInterrupt):
            for _ in execute(task, itertools.count(), backend=backend, workers=workers):
                pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert len(interrupts) == 1
    assert time.monotonic() - interrupts[0] < 2.0


def test_workers_ignore_sigint():
    pids = set()
    results = execute(engine_tasks.slow_square_with_pid, range(60), backend="processes", workers=2)
    for completed in results:
        pids.add(completed.result[1])
        if completed.index == 10:
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGINT)
    assert len(pids) == 2  # nobody died, nobody was replaced


# ---------------------------------------------------------------------------------------------
# Workers that die


@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "unordered"])
@pytest.mark.parametrize("start_method", ["fork", "forkserver"])
def test_killed_workers_are_replaced_and_their_payloads_rerun(start_method, ordered):
    if start_method not in START_METHODS:
        pytest.skip(f"no {start_method} here")
    payloads = range(120)
    kill_after = {15, 45, 75, 76}
    killed = set()
    completed = []
    for item in execute(
        engine_tasks.slow_square_with_pid,
        payloads,
        backend="processes",
        workers=2,
        ordered=ordered,
        start_method=start_method,
    ):
        completed.append(item)
        if len(completed) in kill_after:
            victim = item.result[1]  # a worker known to be up and running payloads
            if victim not in killed:
                os.kill(victim, signal.SIGKILL)
                killed.add(victim)
    assert len(killed) >= 3
    indexes = [item.index for item in completed]
    if ordered:
        assert indexes == list(payloads)
    assert sorted(indexes) == list(payloads)  # each exactly once
    by_index = {item.index: item.result[0] for item in completed}
    assert [by_index[index] for index in payloads] == [value * value for value in payloads]
    pids = {item.result[1] for item in completed}
    assert len(pids) > 2  # replacements did part of the work
    assert {item.worker for item in completed} == {0, 1}  # replacements keep their number


@pytest.mark.parametrize("max_retries", [0, 2])
def test_payload_that_always_kills_its_worker_raises_worker_crash_error(max_retries):
    started = time.monotonic()
    with pytest.raises(WorkerCrashError, match="payload 7 was in flight on") as raised:
        list(
            execute(
                engine_tasks.exit_on_seven,
                range(50),
                backend="processes",
                workers=2,
                max_retries=max_retries,
            )
        )
    assert raised.value.index == 7
    assert raised.value.attempts == max_retries + 1
    assert raised.value.exitcode == 3
    assert isinstance(raised.value, StreamAlignError)
    assert time.monotonic() - started < 10


def test_workers_that_die_before_they_are_ready_raise_worker_crash_error():
    method = "forkserver" if "forkserver" in START_METHODS else "spawn"
    with pytest.raises(WorkerCrashError, match="before they were ready"):
        list(
            execute(
                engine_tasks.UnloadableTask(),
                range(10),
                backend="processes",
                workers=1,
                max_retries=1,
                start_method=method,
            )
        )


def test_large_payloads_and_results_do_not_deadlock_the_pipes():
    # 4 MB each way, far beyond a pipe's buffer, two queued per worker
    arrays = (np.full(1_000_000, value, dtype=np.int32) for value in range(12))
    completed = list(execute(engine_tasks.add_one_to_array, arrays, backend="processes", workers=2))
    assert [int(item.result[0]) for item in completed] == list(range(1, 13))
    assert all(item.result.shape == (1_000_000,) for item in completed)


def test_task_or_payload_that_cannot_be_pickled_raises_at_once():
    with pytest.raises(Exception, match=r"(?i)pickle"):
        list(
            execute(
                lambda value: value, range(3), backend="processes", workers=1, start_method="spawn"
            )
        )
    with pytest.raises(Exception, match=r"(?i)pickle"):
        list(execute(engine_tasks.square, [lambda: 1], backend="processes", workers=1))


ORPHAN_SCRIPT = """
import itertools, multiprocessing
import engine_tasks
from streamalign.engine import execute
results = execute(engine_tasks.slow_square_with_pid, itertools.count(), backend="processes",
                  workers=2, start_method={start_method!r})
next(results)
print(" ".join(str(child.pid) for child in multiprocessing.active_children()), flush=True)
for _ in results:
    pass
"""


@pytest.mark.parametrize("start_method", ["fork"])
def test_workers_exit_when_the_parent_is_killed(start_method):
    psutil = pytest.importorskip("psutil")
    environment = dict(os.environ, PYTHONPATH=os.path.dirname(engine_tasks.__file__))
    parent = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_SCRIPT.format(start_method=start_method)],
        stdout=subprocess.PIPE,
        env=environment,
        text=True,
    )
    try:
        assert parent.stdout is not None
        worker_pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(worker_pids) == 2
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    deadline = time.monotonic() + 3
    alive = worker_pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if _is_running(psutil, pid)]
    assert alive == []


def _is_running(psutil, pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
