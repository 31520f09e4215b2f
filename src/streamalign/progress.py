"""Signs of life for long runs: a progress line on a terminal, a heartbeat line in a log.

:class:`ProgressEstimator` turns the records written and the bytes read
(:class:`~streamalign.io.readers.InputProgress`) into a rate, a fraction done and an ETA.
:class:`ProgressReporter` shows them on standard error from a thread of its own, so the line
moves on while a long batch runs:

- on a terminal, one line redrawn in place every ``_config.PROGRESS_REFRESH_SECONDS``, cut to
  the terminal's width (80 columns when the terminal reports none, as some pseudo-terminals
  do), and erased at the end;
- elsewhere (a log file, a pipe), one line every ``_config.HEARTBEAT_SECONDS``, the first only
  after that long, so a short run prints none.

The fraction done is estimated from the records read per byte of input so far (compressed
bytes for compressed files): the reader runs ahead of the records written, so the records
written are compared to the estimated total number of records, not bytes to bytes.

Example:
    >>> from streamalign.io.readers import InputProgress
    >>> read = InputProgress()
    >>> read.total_bytes, read.bytes_read, read.records_read = 1000, 250, 50
    >>> estimator = ProgressEstimator(read, clock=lambda: 0.0)
    >>> estimator.update(40)
    >>> snapshot = estimator.snapshot(now=10.0)
    >>> snapshot.rate, snapshot.fraction, snapshot.eta_seconds
    (4.0, 0.2, 40.0)
    >>> snapshot.describe()
    '40 records, 4 records/s, 20.0%, ETA 0:00:40'
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from . import _config
from .io.readers import InputProgress

__all__ = ["ProgressEstimator", "ProgressReporter", "ProgressSnapshot", "make_reporter"]

#: Width assumed when the terminal's is unknown or reported as 0 columns.
FALLBACK_COLUMNS = 80


@dataclass(frozen=True)
class ProgressSnapshot:
    """The state of a run at one moment.

    Attributes:
        records: records done (written or rejected), resumed ones included.
        elapsed_seconds: since this run started.
        rate: records per second of this run.
        fraction: estimated fraction of the input done; ``None`` when the input's size is
            unknown (standard input, a pipe).
        eta_seconds: estimated seconds left; ``None`` when unknown.
    """

    records: int
    elapsed_seconds: float
    rate: float
    fraction: float | None = None
    eta_seconds: float | None = None

    def describe(self) -> str:
        """One line: records, rate, and the percentage and ETA when known.

        Example:
            >>> ProgressSnapshot(1234567, 10.0, 123456.7).describe()
            '1,234,567 records, 123,457 records/s'
        """
        parts = [f"{self.records:,} records", f"{self.rate:,.0f} records/s"]
        if self.fraction is not None:
            parts.append(f"{100 * self.fraction:.1f}%")
        if self.eta_seconds is not None:
            parts.append(f"ETA {_clock_time(self.eta_seconds)}")
        return ", ".join(parts)


def _clock_time(seconds: float) -> str:
    """``H:MM:SS`` (hours may exceed 24)."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class ProgressEstimator:
    """Counts records done and estimates the rate, the fraction done and the time left.

    Args:
        input_progress: what the reader has read (``None``: no fraction, no ETA).
        initial_records: records done before this run (a resumed run); counted as done, not
            in the rate.
        clock: seconds, monotonic (for tests).

    Example:
        >>> estimator = ProgressEstimator(clock=lambda: 0.0)
        >>> estimator.update(30)
        >>> estimator.snapshot(now=3.0).describe()
        '30 records, 10 records/s'
    """

    def __init__(
        self,
        input_progress: InputProgress | None = None,
        *,
        initial_records: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.input_progress = input_progress
        self.initial_records = initial_records
        self.records = 0  # done by this run
        self._clock = clock
        self._started = clock()

    def update(self, count: int) -> None:
        """``count`` more records are done (a callback for :func:`streamalign.pipeline.run`)."""
        self.records += count

    def snapshot(self, now: float | None = None) -> ProgressSnapshot:
        """The run's state now (or at ``now``, in the clock's seconds)."""
        elapsed = max(0.0, (self._clock() if now is None else now) - self._started)
        records = self.records
        done = self.initial_records + records
        rate = records / elapsed if elapsed > 0 else 0.0
        total = self._estimated_total_records()
        if total is None:
            return ProgressSnapshot(done, elapsed, rate)
        fraction = min(1.0, done / total) if total > 0 else 1.0
        eta = max(0.0, total - done) / rate if rate > 0 else None
        return ProgressSnapshot(done, elapsed, rate, fraction, eta)

    def _estimated_total_records(self) -> float | None:
        """Records in the whole input, from the records per byte read so far."""
        read = self.input_progress
        if read is None or read.total_bytes is None:
            return None
        if read.total_bytes == 0:
            return 0.0
        if read.bytes_read <= 0 or read.records_read <= 0:
            return None
        return read.records_read * read.total_bytes / min(read.bytes_read, read.total_bytes)


class ProgressReporter:
    """Writes the estimator's line to ``stream`` from a thread: in place on a terminal
    (``terminal=True``) or as a heartbeat line every ``interval`` seconds.

    Use :meth:`message` for other lines meant for ``stream`` while it runs (so they do not land
    in the middle of the progress line), and :meth:`close` at the end.

    Example:
        >>> import io
        >>> stream = io.StringIO()
        >>> reporter = ProgressReporter(stream, ProgressEstimator(), terminal=False, interval=60)
        >>> reporter.start()
        >>> reporter.message("streamalign: rejected record 3")
        >>> reporter.close()
        >>> stream.getvalue()  # no heartbeat yet: the run was short
        'streamalign: rejected record 3\\n'
    """

    def __init__(
        self,
        stream: IO[str],
        estimator: ProgressEstimator,
        *,
        terminal: bool,
        interval: float,
    ) -> None:
        self.stream = stream
        self.estimator = estimator
        self.terminal = terminal
        self.interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = False  # a progress line is on the terminal

    def start(self) -> None:
        """Start the reporting thread (on a terminal, draw the first line now)."""
        if self.terminal:
            self._draw()
        self._thread = threading.Thread(target=self._run, name="streamalign-progress", daemon=True)
        self._thread.start()

    def update(self, count: int) -> None:
        """``count`` more records are done."""
        self.estimator.update(count)

    def message(self, text: str) -> None:
        """Write ``text`` as a line of its own; the progress line comes back after it."""
        with self._lock:
            self._erase()
            self._write(text + "\n")
        if self.terminal and not self._stop.is_set():
            self._draw()

    def close(self) -> None:
        """Stop the thread and erase the progress line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
            self._thread = None
        with self._lock:
            self._erase()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.terminal:
                self._draw()
            else:
                with self._lock:
                    self._write(f"streamalign: {self.estimator.snapshot().describe()}\n")

    def _draw(self) -> None:
        line = self.estimator.snapshot().describe()[: self._columns() - 1]
        with self._lock:
            self._write("\r" + line + "\x1b[K")
            self._drawn = True

    def _erase(self) -> None:
        if self._drawn:
            self._write("\r\x1b[K")
            self._drawn = False

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed stderr must not end the run
            self.stream.write(text)
            self.stream.flush()

    def _columns(self) -> int:
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            return FALLBACK_COLUMNS
        return columns if columns > 0 else FALLBACK_COLUMNS


def make_reporter(
    stream: IO[str], estimator: ProgressEstimator, *, quiet: bool
) -> ProgressReporter | None:
    """The reporter a run shows on ``stream``: none when ``quiet``; a progress line when
    ``stream`` is a terminal; else a heartbeat.

    Example:
        >>> import io
        >>> make_reporter(io.StringIO(), ProgressEstimator(), quiet=False).terminal
        False
        >>> make_reporter(io.StringIO(), ProgressEstimator(), quiet=True) is None
        True
    """
    if quiet:
        return None
    isatty = getattr(stream, "isatty", None)
    terminal = bool(isatty()) if isatty is not None else False
    interval = _config.PROGRESS_REFRESH_SECONDS if terminal else _config.HEARTBEAT_SECONDS
    return ProgressReporter(stream, estimator, terminal=terminal, interval=interval)
