"""The result arrays every alignment kernel fills, allocated and compacted in one place; and
the traceback scratch the kernels share.

A kernel writes query ``k``'s operations at the end of its capacity
``[capacity_offsets[k], capacity_offsets[k + 1])`` (room for ``len(query) + len(reference)``;
a traceback meets the operations last to first, so it writes backwards and never reverses)
and their count in ``operation_lengths[k]``; :meth:`KernelOutputs.packed_operations` puts
them back to back afterwards.

Example:
    >>> outputs = KernelOutputs.allocate(np.array([2, 0]), 3, traceback=True)
    >>> outputs.capacity_offsets.tolist(), outputs.operations.size
    ([0, 5, 8], 8)
    >>> outputs.operations[3:5] = [0, 3]; outputs.operation_lengths[:] = [2, 0]
    >>> operations, offsets = outputs.packed_operations()
    >>> operations.tolist(), offsets.tolist()
    ([0, 3], [0, 2, 2])
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .. import _config
from .slices import copy_slices

_scratch = threading.local()


def traceback_scratch(size: int) -> np.ndarray:
    """A ``uint8`` buffer of at least ``size`` bytes for the kernels' direction bits.

    The buffer of this thread is kept and reused while it is at most
    ``_config.SCRATCH_KEEP_BYTES``: a fresh allocation of tens of megabytes per batch costs
    its page faults again every time (a quarter of the time of a 250-bp read batch). The
    contents are garbage; a kernel writes every cell before it reads it.

    Example:
        >>> traceback_scratch(100).size >= 100 and traceback_scratch(50) is traceback_scratch(10)
        True
    """
    if size > _config.SCRATCH_KEEP_BYTES:
        return np.empty(size, dtype=np.uint8)
    kept = getattr(_scratch, "buffer", None)
    if kept is None or kept.size < size:
        kept = np.empty(max(size, 1), dtype=np.uint8)
        _scratch.buffer = kept
    return kept


@dataclass
class KernelOutputs:
    """Per-query outputs of a kernel call (``counts``: matches, mismatches, I and D columns).

    ``reference_capacity``: each query's capacity is its length plus this many reference
    bases (-1: allocated without room for operations, for score-only calls).
    """

    scores: np.ndarray
    query_starts: np.ndarray
    query_ends: np.ndarray
    reference_starts: np.ndarray
    reference_ends: np.ndarray
    counts: np.ndarray
    operations: np.ndarray
    capacity_offsets: np.ndarray
    operation_lengths: np.ndarray
    reference_capacity: int = -1

    @classmethod
    def allocate(
        cls,
        lengths: np.ndarray,
        reference_length: int,
        traceback: bool,
        score_dtype: type = np.int64,
    ) -> KernelOutputs:
        """Arrays for queries of ``lengths`` (operations only with ``traceback``)."""
        count = len(lengths)
        capacities = lengths + reference_length if traceback else np.zeros(count, np.int64)
        capacity_offsets = np.zeros(count + 1, dtype=np.int64)
        np.cumsum(capacities, out=capacity_offsets[1:])
        return cls(
            scores=np.empty(count, dtype=score_dtype),
            query_starts=np.zeros(count, dtype=np.int64),
            query_ends=np.empty(count, dtype=np.int64),
            reference_starts=np.zeros(count, dtype=np.int64),
            reference_ends=np.empty(count, dtype=np.int64),
            counts=np.zeros((count, 4), dtype=np.int64),
            operations=np.empty(int(capacity_offsets[-1]), dtype=np.uint8),
            capacity_offsets=capacity_offsets,
            operation_lengths=np.zeros(count, dtype=np.int64),
            reference_capacity=reference_length if traceback else -1,
        )

    def __len__(self) -> int:
        return len(self.scores)

    def check(self, count: int, reference_length: int, traceback: bool) -> None:
        """Raise ValueError unless these outputs have room for the results of ``count``
        queries (with ``traceback``: their operations against ``reference_length`` bases).

        Constant time: a kernel call on a window of the reference checks it once per group.

        Example:
            >>> scores_only = KernelOutputs.allocate(np.array([4]), 2, traceback=False)
            >>> scores_only.check(1, 2, traceback=True)
            Traceback (most recent call last):
            ...
            ValueError: the outputs have no room for the operations of a traceback
        """
        if len(self.scores) != count or self.counts.shape != (count, 4):
            raise ValueError(f"the outputs hold {len(self.scores)} queries, not {count}")
        if len(self.capacity_offsets) != count + 1:
            raise ValueError("capacity_offsets must hold one offset per query, and the end")
        if traceback and reference_length > self.reference_capacity:
            raise ValueError("the outputs have no room for the operations of a traceback")

    def record_operations(self, record: int) -> np.ndarray:
        """The operation codes of one query (a view, no copy).

        Example:
            >>> outputs = KernelOutputs.allocate(np.array([2]), 2, traceback=True)
            >>> outputs.operations[2:] = [0, 2]; outputs.operation_lengths[0] = 2
            >>> outputs.record_operations(0).tolist()
            [0, 2]
        """
        end = int(self.capacity_offsets[record + 1])
        return self.operations[end - int(self.operation_lengths[record]) : end]

    def packed_operations(self) -> tuple[np.ndarray, np.ndarray]:
        """Every query's operations back to back, and their ``len + 1`` offsets."""
        offsets = np.zeros(len(self.operation_lengths) + 1, dtype=np.int64)
        np.cumsum(self.operation_lengths, out=offsets[1:])
        if not self.operations.size:
            return self.operations[:0], offsets
        packed = np.empty(int(offsets[-1]), dtype=np.uint8)
        copy_slices(
            packed,
            offsets[:-1],
            self.operations,
            self.capacity_offsets[1:] - self.operation_lengths,
            self.operation_lengths,
        )
        return packed, offsets
