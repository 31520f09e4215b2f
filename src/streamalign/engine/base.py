"""The engine's shared types: a task, a finished payload, and what a backend must do.

Every backend (:mod:`streamalign.engine.backends`, :mod:`streamalign.engine.dask_backend`)
builds on these, and the driver (:mod:`streamalign.engine.execution`) sees backends only
through :class:`Backend`.

Example:
    >>> completed = Completed(index=4, result="done", worker=1)
    >>> completed.index, completed.result, completed.worker
    (4, 'done', 1)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

__all__ = ["Backend", "Completed", "Task"]

#: What a backend runs: called as ``task(payload)``.
Task = Callable[[Any], Any]


class Completed(NamedTuple):
    """One finished payload.

    Attributes:
        index: the payload's 0-based position in the input iterable.
        result: what the task returned for it.
        worker: the 0-based number of the worker that computed it (0 for the serial backend;
            a replacement process keeps the number of the worker it replaces).
    """

    index: int  # type: ignore[assignment]  # shadows tuple.index, on purpose
    result: Any
    worker: int


class Backend(Protocol):
    """What the driver needs from a backend.

    The driver calls :meth:`start` once, then alternates :meth:`submit` (while
    :meth:`can_accept`) and :meth:`wait` (while :meth:`pending`), and always ends with
    :meth:`shutdown`, also after an exception or an early stop.
    """

    def start(self) -> None:
        """Start the workers (called lazily, on the first result asked for)."""

    def can_accept(self) -> bool:
        """Whether :meth:`submit` may be called now without piling up work."""

    def submit(self, index: int, payload: Any) -> None:
        """Queue ``task(payload)``; ``index`` comes back in its :class:`Completed`."""

    def pending(self) -> int:
        """Number of payloads submitted and not yet returned by :meth:`wait`."""

    def wait(self, timeout: float | None = None) -> list[Completed]:
        """Block until something happens; return the payloads finished since the last call.

        May return an empty list (e.g. a worker became ready or was replaced, or ``timeout``
        seconds passed). Raises the task's exception if the task raised one.
        """

    def shutdown(self, *, graceful: bool) -> None:
        """Stop every worker and release every resource; idempotent.

        Args:
            graceful: ``True`` after a normal end (nothing pending): workers are asked to exit.
                ``False`` after an error or an early stop: workers are stopped right away.
        """
