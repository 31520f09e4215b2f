"""Errors raised by the engine itself (a task's own exceptions pass through unchanged).

Example:
    >>> error = WorkerCrashError(index=7, attempts=3, exitcode=-9)
    >>> print(error)
    payload 7 was in flight on 3 worker processes that all died (last exit code -9, SIGKILL)
"""

from __future__ import annotations

import signal

from streamalign.errors import StreamAlignError

__all__ = ["RemoteTraceback", "WorkerCrashError"]


def describe_exitcode(exitcode: int | None) -> str:
    """Say how a process ended, e.g. ``"exit code -9, SIGKILL"``."""
    if exitcode is None:
        return "exit code unknown"
    if exitcode < 0:
        try:
            return f"exit code {exitcode}, {signal.Signals(-exitcode).name}"
        except ValueError:
            pass
    return f"exit code {exitcode}"


class WorkerCrashError(StreamAlignError):
    """Worker processes died (killed, segfault, ``os._exit``) while running a payload.

    Raised when one payload has been in flight on ``max_retries + 1`` workers that all died, or
    when fresh workers keep dying before they are ready.

    Attributes:
        index: the payload's 0-based position in the input, or ``None`` for a start-up failure.
        attempts: how many workers died while running it.
        exitcode: the last dead worker's exit code (negative: killed by that signal).
    """

    def __init__(
        self,
        index: int | None,
        attempts: int,
        exitcode: int | None,
        message: str = "",
    ) -> None:
        self.index = index
        self.attempts = attempts
        self.exitcode = exitcode
        self.message = message
        if not message:
            message = (
                f"payload {index} was in flight on {attempts} worker processes that all died "
                f"(last {describe_exitcode(exitcode)})"
            )
        super().__init__(message)

    def __reduce__(self) -> tuple[type[WorkerCrashError], tuple[int | None, int, int | None, str]]:
        # keep pickling working with our signature
        return (type(self), (self.index, self.attempts, self.exitcode, self.message))


class RemoteTraceback(Exception):
    """Carries a worker's formatted traceback; set as ``__cause__`` of a re-raised exception."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'
