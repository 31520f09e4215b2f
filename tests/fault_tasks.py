"""A fault-injecting alignment task for the reliability tests, in place of the real one.

:class:`FaultyAlignBatchTask` is a module-level class of an importable module: the process
backend pickles the task by reference, and workers started by spawn or forkserver import this
module by name (``tests/`` is on ``sys.path`` under pytest, and multiprocessing hands the
parent's ``sys.path`` to its children), so the fault travels with the task to every worker and
to the crash isolator's child processes. Production code has no fault hook of its own.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import pytest

from streamalign import pipeline
from streamalign.aligner import Aligner
from streamalign.records import SequenceBatch

#: Exit status of a worker that :class:`FaultyAlignBatchTask` kills.
CRASH_STATUS = 70


class FaultyAlignBatchTask(pipeline.AlignBatchTask):
    """An :class:`~streamalign.pipeline.AlignBatchTask` that fails on every batch holding the
    record named ``culprit``: ``kind="raise"`` raises ``RuntimeError``, ``kind="crash"``
    ends the process at once (as a crash in native code would).

    The fault sits where aligning starts, so the task's own isolation (halving a failing batch
    until the culprit is alone) meets it just as it would meet a real failure.
    """

    def __init__(
        self, aligner: Aligner, options: pipeline.RunOptions, *, kind: str, culprit: str
    ) -> None:
        if kind not in ("raise", "crash"):
            raise ValueError(f"kind must be 'raise' or 'crash', not {kind!r}")
        super().__init__(aligner, options)
        self.kind = kind
        self.culprit = culprit

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "kind": self.kind, "culprit": self.culprit}

    def _align_and_format(self, batch: SequenceBatch, counts: list[int]) -> bytes:
        if self.culprit in batch.names:
            if self.kind == "crash":
                os._exit(CRASH_STATUS)
            raise RuntimeError(f"injected fault on {self.culprit}")
        return super()._align_and_format(batch, counts)


def inject_fault(monkeypatch: pytest.MonkeyPatch, kind: str, culprit: str) -> None:
    """Make every :func:`streamalign.pipeline.run` (and so every ``streamalign align``) of
    the test use :class:`FaultyAlignBatchTask`; undone when the test ends."""
    factory = functools.partial(FaultyAlignBatchTask, kind=kind, culprit=culprit)
    monkeypatch.setattr(pipeline, "AlignBatchTask", factory)
