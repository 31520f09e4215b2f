"""Where each CUDA thread of a kernel launch finds its pair, and where it writes: host side only.

One thread aligns one (query, reference window) pair. Threads come in segments of at most a
warp (32): the queries of a segment share one reference window and are sorted by length, so
the threads of a warp run the same number of reference strips and nearly the same number of
rows. A segment's working arrays on the device interleave its lanes (element ``k`` of lane
``l`` at ``base + k * width + l``), so the 32 threads of a warp read and write neighbouring
words at each step (coalesced):

- the column buffer: H and D of each query row at the strip boundary (``rows + 1`` values
  per lane, in the score type);
- the traceback directions: one ``uint64`` word per query row and strip of
  :data:`STRIP_COLUMNS` reference columns, one byte per cell (the bits of
  :mod:`streamalign.kernels.gotoh`);
- the operations: each query's ``len(query) + len(window)`` bytes, written backwards from
  the end, as the CPU kernels do.

:func:`plan_segments` cuts the queries into segments (narrower than a warp where one lane's
directions alone would fill the launch budget), :func:`plan_launches` groups consecutive
segments into launches whose device memory fits the budget, and :func:`thread_table` writes
one launch's per-thread table (:data:`TABLE_FIELDS` ``int64`` fields per thread).

Example:
    >>> lengths = np.array([5, 3, 4, 0])
    >>> segments = plan_segments(lengths, [(np.array([0, 1, 2, 3]), 0, 20)],
    ...                          traceback=True, launch_bytes=1 << 20)
    >>> segments.order.tolist(), segments.widths.tolist(), segments.rows.tolist()
    ([3, 1, 2, 0], [4], [5])
    >>> segments.direction_words().tolist()   # 5 rows x 3 strips of 8 columns x 4 lanes
    [60]
    >>> plan_launches(segments, traceback=True, score_bytes=4, launch_bytes=1 << 20)
    [(0, 1)]
    >>> table = thread_table(segments, 0, 1, lengths, np.array([0, 5, 8, 12, 12]), True)
    >>> table.size // TABLE_FIELDS, table[QUERY::TABLE_FIELDS][:5].tolist()
    (32, [3, 1, 2, 0, -1])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Threads of a segment: one warp.
WARP = 32
#: Reference columns a thread computes per pass down its query (kept in registers); the
#: directions of one row of a strip fill one ``uint64`` word.
STRIP_COLUMNS = 8

# Fields of the thread table, ``table[thread * TABLE_FIELDS + field]``.
#: query number (index into the kernel outputs), -1 for an idle thread.
QUERY = 0
#: query length (rows).
LENGTH = 1
#: lane of the thread in its segment, and the segment's width (lanes).
LANE = 2
WIDTH = 3
#: position of the query's first code in the concatenated query codes.
CODES = 4
#: the segment's first element of the column buffers (H and D).
BUFFER = 5
#: the segment's first direction word.
DIRECTIONS = 6
#: first reference position of the window, and its length (columns).
LEFT = 7
COLUMNS = 8
#: end of the query's capacity in the launch's operations buffer.
OPERATIONS_END = 9
TABLE_FIELDS = 10

# Fields of the results a thread writes, ``results[thread * RESULT_FIELDS + field]``.
SCORE = 0
QUERY_START = 1
QUERY_END = 2
REFERENCE_START = 3
REFERENCE_END = 4
MATCHES = 5
MISMATCHES = 6
INSERTIONS = 7
DELETIONS = 8
OPERATION_COUNT = 9
RESULT_FIELDS = 10

#: Bytes of one direction word.
WORD_BYTES = 8


@dataclass(frozen=True)
class Segments:
    """The segments of one kernel call.

    Attributes:
        order: ``int64`` query numbers, segment after segment (each sorted by length).
        starts: ``int64`` position in ``order`` where each segment starts, and the end.
        rows: ``int64`` longest query of each segment.
        lefts: ``int64`` first reference position of each segment's window.
        columns: ``int64`` length of each segment's window.
    """

    order: np.ndarray
    starts: np.ndarray
    rows: np.ndarray
    lefts: np.ndarray
    columns: np.ndarray

    @property
    def widths(self) -> np.ndarray:
        """Lanes (queries) of each segment."""
        return np.diff(self.starts)

    def strips(self) -> np.ndarray:
        """Strips of :data:`STRIP_COLUMNS` columns of each segment's window."""
        return -(-self.columns // STRIP_COLUMNS)

    def direction_words(self) -> np.ndarray:
        """Direction words of each segment (a traceback's)."""
        return self.rows * self.strips() * self.widths

    def buffer_values(self) -> np.ndarray:
        """Values of one column buffer (H or D) of each segment."""
        return (self.rows + 1) * self.widths


def plan_segments(
    lengths: np.ndarray,
    groups: Sequence[tuple[np.ndarray, int, int]],
    *,
    traceback: bool,
    launch_bytes: int,
) -> Segments:
    """Cut each group ``(query numbers, window start, window end)`` into segments.

    A segment holds up to :data:`WARP` queries of one group, consecutive in length order; with
    ``traceback``, fewer where their directions would exceed ``launch_bytes`` (at least one).
    """
    order_pieces = []
    starts = [0]
    rows = []
    lefts = []
    columns = []
    position = 0
    for members, left, right in groups:
        members = np.asarray(members, dtype=np.int64)
        members = members[np.argsort(lengths[members], kind="stable")]
        order_pieces.append(members)
        width_columns = right - left
        strips = -(-width_columns // STRIP_COLUMNS)
        first = 0
        while first < len(members):
            end = min(first + WARP, len(members))
            longest = int(lengths[members[end - 1]])
            if traceback:
                lane_bytes = longest * strips * WORD_BYTES
                fitting = max(1, launch_bytes // max(lane_bytes, 1))
                if end - first > fitting:
                    end = first + fitting
                    longest = int(lengths[members[end - 1]])
            starts.append(position + end)
            rows.append(longest)
            lefts.append(left)
            columns.append(width_columns)
            first = end
        position += len(members)
    return Segments(
        order=np.concatenate(order_pieces) if order_pieces else np.zeros(0, np.int64),
        starts=np.array(starts, dtype=np.int64),
        rows=np.array(rows, dtype=np.int64),
        lefts=np.array(lefts, dtype=np.int64),
        columns=np.array(columns, dtype=np.int64),
    )


def launch_cost(segments: Segments, traceback: bool, score_bytes: int) -> np.ndarray:
    """Device bytes of each segment's working arrays: two column buffers, and directions."""
    cost = 2 * score_bytes * segments.buffer_values()
    if traceback:
        cost = cost + WORD_BYTES * segments.direction_words()
    return cost


def plan_launches(
    segments: Segments, *, traceback: bool, score_bytes: int, launch_bytes: int
) -> list[tuple[int, int]]:
    """Ranges ``(first, end)`` of consecutive segments whose working arrays fit
    ``launch_bytes`` together (a segment over it is launched alone).

    Example:
        >>> segments = Segments(np.arange(3), np.array([0, 1, 2, 3]), np.array([10, 10, 10]),
        ...                     np.zeros(3, np.int64), np.array([16, 16, 16]))
        >>> launch_cost(segments, True, 4).tolist()
        [248, 248, 248]
        >>> plan_launches(segments, traceback=True, score_bytes=4, launch_bytes=500)
        [(0, 2), (2, 3)]
    """
    cost = launch_cost(segments, traceback, score_bytes)
    launches = []
    first = 0
    count = len(cost)
    while first < count:
        end = first + 1
        total = int(cost[first])
        while end < count and total + int(cost[end]) <= launch_bytes:
            total += int(cost[end])
            end += 1
        launches.append((first, end))
        first = end
    return launches


def thread_table(
    segments: Segments,
    first: int,
    end: int,
    lengths: np.ndarray,
    query_offsets: np.ndarray,
    traceback: bool,
) -> np.ndarray:
    """The flat ``int64`` table of the launch of segments ``first`` to ``end``: :data:`WARP`
    threads per segment (the lanes past a segment's width idle, ``QUERY`` -1), each thread's
    fields at ``thread * TABLE_FIELDS``. Bases count from the launch's own arrays; the
    operations capacities follow each other in thread order."""
    widths = segments.widths[first:end]
    count = end - first
    table = np.zeros((count * WARP, TABLE_FIELDS), dtype=np.int64)
    table[:, QUERY] = -1
    if count == 0:
        return table.reshape(-1)
    segment_of_lane = np.repeat(np.arange(count), widths)
    positions = np.arange(int(segments.starts[first]), int(segments.starts[end]))
    lanes = positions - segments.starts[first:end][segment_of_lane]
    threads = segment_of_lane * WARP + lanes
    queries = segments.order[positions]
    columns = segments.columns[first:end]

    def bases(sizes: np.ndarray) -> np.ndarray:
        starts = np.zeros(count, dtype=np.int64)
        np.cumsum(sizes[:-1], out=starts[1:])
        return starts[segment_of_lane]

    rows = table[threads]
    rows[:, QUERY] = queries
    rows[:, LENGTH] = lengths[queries]
    rows[:, LANE] = lanes
    rows[:, WIDTH] = widths[segment_of_lane]
    rows[:, CODES] = query_offsets[queries]
    rows[:, BUFFER] = bases(segments.buffer_values()[first:end])
    if traceback:
        rows[:, DIRECTIONS] = bases(segments.direction_words()[first:end])
    rows[:, LEFT] = segments.lefts[first:end][segment_of_lane]
    rows[:, COLUMNS] = columns[segment_of_lane]
    if traceback:
        rows[:, OPERATIONS_END] = np.cumsum(lengths[queries] + columns[segment_of_lane])
    table[threads] = rows
    return table.reshape(-1)


def operations_size(table: np.ndarray) -> int:
    """Bytes of the launch's operations buffer (the last capacity's end).

    Example:
        >>> operations_size(np.array([0, 5, 0, 1, 0, 0, 0, 0, 20, 25]))
        25
    """
    ends = table[OPERATIONS_END::TABLE_FIELDS]
    return int(ends.max()) if ends.size else 0
