"""Query groups and traceback memory: the one planner every kernel call goes through.

A kernel aligns the queries of a group side by side, one SIMD lane each; the group's traceback
stores one byte per cell of its longest query's matrix and lane. :func:`plan_groups` splits the
length-sorted queries of a batch into groups that fit the lane count, the cache (optionally) and
the memory budget; :func:`plan_windows` groups queries by reference window for the windowed
traceback (:mod:`streamalign.windowing`). Both count a matrix's cells with
:func:`traceback_cells`: ``m * n`` for the Gotoh kernel, ``(m + 1) * (n + 1)`` for the legacy
kernel, which also stores the borders (``border=1``). Long pairs take the banded traceback
instead: :func:`plan_bands` checks each band (:func:`band_cells`) against the budget.

Example:
    >>> plan = plan_groups(np.array([3, 1, 2]), 10, lanes=2, memory_budget=100, traceback=True)
    >>> plan.order.tolist(), plan.starts.tolist(), plan.lanes.tolist(), plan.scratch_bytes
    ([1, 2, 0], [0, 2, 3], [2, 1], 40)
    >>> plan_groups(np.array([3]), 10, lanes=2, memory_budget=20, traceback=True)
    Traceback (most recent call last):
    ...
    streamalign.errors.AlignmentTooLargeError: sequence 0: a 3 x 10 alignment needs 0 MiB of \
traceback, more than the budget of 0 MiB
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import _config
from ..errors import AlignmentTooLargeError


@dataclass(frozen=True)
class GroupPlan:
    """Groups of queries for one kernel call.

    Attributes:
        order: ``int64`` query numbers; each group is a contiguous run of it.
        starts: ``int64`` position in ``order`` where each group starts, and the end.
        lanes: ``int64`` size of each group.
        scratch_bytes: traceback bytes the largest group needs (0 without traceback).
    """

    order: np.ndarray
    starts: np.ndarray
    lanes: np.ndarray
    scratch_bytes: int

    @classmethod
    def single(cls, members: np.ndarray, scratch_bytes: int) -> GroupPlan:
        """One group of the queries ``members``.

        Example:
            >>> GroupPlan.single(np.array([4, 2]), 0).starts.tolist()
            [0, 2]
        """
        count = len(members)
        return cls(
            order=members,
            starts=np.array([0, count], dtype=np.int64),
            lanes=np.array([count], dtype=np.int64),
            scratch_bytes=scratch_bytes,
        )


@dataclass(frozen=True)
class WindowGroup:
    """One group of the windowed traceback: ``plan`` aligns to ``reference[left:right]``."""

    plan: GroupPlan
    left: int
    right: int


def traceback_cells(query_length: int, reference_length: int, border: int = 0) -> int:
    """Bytes of traceback of one ``query_length x reference_length`` pair (``border``: 1 when
    the kernel also stores row 0 and column 0).

    Example:
        >>> traceback_cells(64, 100), traceback_cells(64, 100, border=1), traceback_cells(5, 0)
        (6400, 6565, 5)
    """
    return (query_length + border) * max(reference_length + border, 1)


def plan_groups(
    lengths: np.ndarray,
    reference_length: int,
    *,
    lanes: int,
    memory_budget: int,
    traceback: bool,
    border: int = 0,
    score_bytes: int | None = None,
    names: Sequence[str] | None = None,
    order: np.ndarray | None = None,
) -> GroupPlan:
    """Split the queries, sorted by length, into groups that fit the lanes and the budget.

    Args:
        lengths: length of each query.
        reference_length: bases of the reference.
        lanes: most queries per group.
        memory_budget: most traceback bytes of one group (see :func:`traceback_cells`); only
            with ``traceback``.
        traceback: whether the kernel stores traceback directions.
        border: 1 when the kernel's traceback includes row 0 and column 0.
        score_bytes: bytes per score: also keep the kernel's per-column working set (4 scores
            per query row and lane) within ``_config.COLUMN_CACHE_BYTES`` (with traceback
            ``_config.TRACEBACK_COLUMN_CACHE_BYTES``), in multiples of ``_config.MIN_LANES``
            lanes (``_config.MIN_LANES_INT8`` for 1-byte scores). None: no cache limit.
        names: query names for the error message.
        order: the queries sorted by length (stable), when already known.

    Raises:
        AlignmentTooLargeError: a query whose traceback alone exceeds ``memory_budget``.
    """
    if order is None:
        order = np.argsort(lengths, kind="stable").astype(np.int64)
    width = max(reference_length + border, 1)
    starts = [0]
    lanes_of_group = []
    scratch = 0
    position = 0
    count = len(order)
    while position < count:
        end = min(position + lanes, count)
        if score_bytes is not None:
            # Many lanes for short queries, fewer for long ones, a multiple of the SIMD width.
            rows = int(lengths[order[end - 1]]) + 1
            cache = (
                _config.TRACEBACK_COLUMN_CACHE_BYTES if traceback else _config.COLUMN_CACHE_BYTES
            )
            cache_lanes = cache // (4 * score_bytes * rows)
            # int8 (the difference kernel): whole 64-byte registers of lanes.
            granule = _config.MIN_LANES_INT8 if score_bytes == 1 else _config.MIN_LANES
            cache_lanes = max(granule, cache_lanes - cache_lanes % granule)
            end = min(end, position + cache_lanes)
        size = end - position
        if traceback:
            cells = traceback_cells(int(lengths[order[end - 1]]), reference_length, border)
            if cells > memory_budget:
                culprit = int(order[end - 1])
                # Align what fits first: shrink the group to the queries below the budget.
                fitting = int(
                    np.searchsorted(
                        lengths[order[position:end]],
                        memory_budget // width - border,
                        side="right",
                    )
                )
                if fitting == 0:
                    name = names[culprit] if names is not None else f"sequence {culprit}"
                    raise AlignmentTooLargeError(
                        f"{name}: a {int(lengths[culprit])} x {reference_length} alignment "
                        f"needs {cells / 2**20:.0f} MiB of traceback, more than the budget of "
                        f"{memory_budget / 2**20:.0f} MiB"
                    )
                size = fitting
                cells = traceback_cells(
                    int(lengths[order[position + size - 1]]), reference_length, border
                )
            size = max(1, min(size, memory_budget // max(cells, 1)))
            scratch = max(scratch, cells * size)
        lanes_of_group.append(size)
        position += size
        starts.append(position)
    return GroupPlan(
        order=order,
        starts=np.array(starts, dtype=np.int64),
        lanes=np.array(lanes_of_group, dtype=np.int64),
        scratch_bytes=scratch,
    )


def plan_windows(
    starts: np.ndarray,
    ends: np.ndarray,
    lengths: np.ndarray,
    lanes: int,
    reference_length: int,
) -> list[WindowGroup]:
    """Groups of at most ``lanes`` queries with close windows ``[starts[k], ends[k])``.

    A group aligns to the union of its queries' windows (at least one base:
    ``reference_length`` must be positive), its scratch sized by :func:`traceback_cells`.

    Example:
        >>> groups = plan_windows(np.array([0, 50, 2]), np.array([10, 60, 12]),
        ...                       np.array([8, 8, 9]), 2, 100)
        >>> [(group.plan.order.tolist(), group.left, group.right) for group in groups]
        [([0, 2], 0, 12), ([1], 50, 60)]
        >>> group_cells(groups)
        296
    """
    # Queries whose own window is wide (unrelated reads score low) are grouped apart: one of
    # them would widen a whole group of narrow ones.
    wide = (ends - starts) * 2 > reference_length
    order = np.lexsort((lengths, starts, wide)).astype(np.int64)
    first_wide = len(order) - int(wide.sum())
    groups = []
    for low, high in ((0, first_wide), (first_wide, len(order))):
        for first in range(low, high, lanes):
            members = order[first : min(first + lanes, high)]
            left = min(int(starts[members].min()), reference_length - 1)
            right = max(int(ends[members].max()), left + 1)
            scratch = traceback_cells(int(lengths[members].max()), right - left) * len(members)
            groups.append(WindowGroup(GroupPlan.single(members, scratch), left, right))
    return groups


def group_cells(groups: list[WindowGroup]) -> int:
    """Traceback cells the windowed groups store, all together."""
    return sum(group.plan.scratch_bytes for group in groups)


def band_cells(end_rows: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Traceback bytes of each banded query: one per cell of its band, rows 1 to its end row.

    Example:
        >>> band_cells(np.array([100, 0]), np.array([-3, 0]), np.array([5, 0])).tolist()
        [900, 0]
    """
    return end_rows.astype(np.int64) * (upper - lower + 1)


def plan_bands(
    members: np.ndarray,
    cells: np.ndarray,
    lengths: np.ndarray,
    reference_length: int,
    *,
    memory_budget: int,
    names: Sequence[str] | None = None,
    lower_bound: bool = False,
) -> GroupPlan:
    """One group of the banded traceback (:mod:`streamalign.kernels.banded`): its queries
    are aligned one after another, so the scratch is the largest band's ``cells``.

    Args:
        members: query numbers of the group.
        cells: band cells of every query (indexed by query number; :func:`band_cells`).
        lengths, reference_length: the sizes, for the error message.
        memory_budget: most traceback bytes of one band.
        names: query names for the error message.
        lower_bound: ``cells`` are only lower bounds (before the score pass); the message
            says "at least".

    Raises:
        AlignmentTooLargeError: a query whose band alone exceeds ``memory_budget``.

    Example:
        >>> plan_bands(np.array([1]), np.array([0, 900]), np.array([5, 100]), 120,
        ...            memory_budget=1000).scratch_bytes
        900
        >>> plan_bands(np.array([1]), np.array([0, 900]), np.array([5, 100]), 120,
        ...            memory_budget=800, names=["a", "b"])
        Traceback (most recent call last):
        ...
        streamalign.errors.AlignmentTooLargeError: b: a 100 x 120 alignment needs 0 MiB of \
traceback even in the band of diagonals that holds its optimal alignments, more than the \
budget of 0 MiB
    """
    member_cells = cells[members]
    if len(members) and int(member_cells.max()) > memory_budget:
        culprit = int(members[int(np.argmax(member_cells))])
        name = names[culprit] if names is not None else f"sequence {culprit}"
        needed = int(cells[culprit])
        raise AlignmentTooLargeError(
            f"{name}: a {int(lengths[culprit])} x {reference_length} alignment needs "
            f"{'at least ' if lower_bound else ''}{needed / 2**20:.0f} MiB of traceback even "
            "in the band of diagonals that holds its optimal alignments, more than the budget "
            f"of {memory_budget / 2**20:.0f} MiB"
        )
    scratch = int(member_cells.max()) if len(members) else 0
    return GroupPlan.single(members.astype(np.int64), scratch)
