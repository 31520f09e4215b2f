"""Module-level tasks for tests/test_engine.py: importable, so spawn and forkserver can pickle them.

``tests/`` is on ``sys.path`` under pytest, and multiprocessing hands the parent's ``sys.path``
to spawned and forkserver children, so they import this module by name too.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

SLEEP_SECONDS = 0.01


def square(value: int) -> int:
    return value * value


def slow_square_with_pid(value: int) -> tuple[int, int]:
    """The square, after a short sleep so a run lasts long enough to interfere with."""
    time.sleep(SLEEP_SECONDS)
    return value * value, os.getpid()


def jittered_square(value: int) -> int:
    """Sleeps longer for some payloads, so results finish out of order."""
    time.sleep(0.02 if value % 3 == 0 else 0.001)
    return value * value


def fail_on_three(value: int) -> int:
    if value == 3:
        raise ValueError(f"cannot handle payload {value}")
    return value


class TwoArgumentError(Exception):
    """Pickles, but cannot be unpickled (``__init__`` wants two arguments)."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} and {second}")


def fail_unpicklably(value: int) -> int:
    raise TwoArgumentError("left", "right")


def exit_on_seven(value: int) -> int:
    """Kills its own worker process for payload 7, every time."""
    if value == 7:
        os._exit(3)
    time.sleep(0.001)
    return value


UNPICKLED_COUNT = 0


def _rebuild_counting_square() -> CountingSquare:
    global UNPICKLED_COUNT
    UNPICKLED_COUNT += 1
    return CountingSquare()


class CountingSquare:
    """Squares; also returns how often a task was unpickled in this process (0 when inherited)."""

    def __call__(self, value: int) -> tuple[int, int]:
        return value * value, UNPICKLED_COUNT

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_counting_square, ())


def _refuse_to_unpickle() -> None:
    raise RuntimeError("this task cannot be unpickled in a worker")


class UnloadableTask:
    """Pickles fine in the parent; unpickling it in a fresh worker fails."""

    def __call__(self, value: int) -> int:
        return value

    def __reduce__(self) -> tuple[Any, ...]:
        return (_refuse_to_unpickle, ())


def sleep_long(value: int) -> int:
    """Runs far longer than any test: only a prompt shutdown ends it."""
    time.sleep(60)
    return value


def add_one_to_array(array: np.ndarray) -> np.ndarray:
    return array + 1
