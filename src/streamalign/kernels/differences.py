"""Inter-sequence Gotoh kernel on 8-bit score differences (numba, nogil).

The same alignments as :mod:`streamalign.kernels.gotoh` (same recurrence, same tie rules,
same direction bits, the same walk), for the modes that are not local, with every value
stored as a difference between neighbouring cells (Suzuki and Kasahara, "Introducing
difference recurrence relations for faster semi-global alignment of long sequences", BMC
Bioinformatics 19, 2018; the scheme of minimap2's ksw2 kernels). The differences stay within
a few gap costs of zero whatever the sequence length, so they fit in ``int8``: twice the lanes
of ``int16`` in a SIMD register and half the bytes of column state. The kernel of
:mod:`~streamalign.kernels.gotoh` is compute-bound with traceback, so the lanes are what count.

With ``Z = H[i-1][j-1]`` (rows ``i``: query, columns ``j``: reference; ``o`` open, ``e``
extend; D the deletion state along a row, I the insertion state down a column)::

    u[i][j] = H[i][j] - H[i-1][j]        v[i][j] = H[i][j] - H[i][j-1]
    x[i][j] = D[i][j] - H[i][j]          y[i][j] = I[i][j] - H[i][j]

    D[i][j] - Z = u[i][j-1] + max(-o, x[i][j-1] - e)
    I[i][j] - Z = v[i-1][j] + max(-o, y[i-1][j] - e)
    z = H[i][j] - Z = max(s(q_i, r_j), D[i][j] - Z, I[i][j] - Z)
    u[i][j] = z - v[i-1][j],  v[i][j] = z - u[i][j-1],  x = (D - Z) - z,  y = (I - Z) - z

Every comparison of :mod:`~streamalign.kernels.gotoh` compares two values shifted by the same
``Z`` (or by ``H[i][j-1]``, ``H[i-1][j]`` for the gap states' open-or-extend choice), so each
direction bit, ties included, is the same. Bounds, for ``e <= o`` (``M`` the largest
substitution score, at least 0): ``-o <= u, v <= M + o`` (an optimal path to ``(i, j)``
gives a path to ``(i-1, j)`` at most ``M + o`` lower, by turning its last diagonal step out
of row ``i - 1`` into one more gap column; the first column's one long gap is what the
recurrence gives there when extending costs no more than opening), ``-2o - M <= x, y <= 0``;
:func:`fits` checks that every intermediate value is within ``int8``. With ``e > o`` a gap
inside the matrix is cheapest as gaps of one base opened again and again, one along the
first row or column is not, and differences next to those edges grow without bound: such
scorings stay on the 16-bit kernel.

Scores: ``H`` of the end cell is the column-0 (or row-0) edge plus a sum of differences,
taken per lane in 64 bits: down the last column (reference end fixed), or along each lane's
last row, whose ``v`` the fill keeps for the rows where some lane of the group ends
(reference end free).

:func:`run` is the one entry, like :func:`streamalign.kernels.gotoh.run`; the aligner calls
it, with traceback or score-only, when :func:`fits` holds for the scoring and the mode is
not local.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from .. import _config
from .gotoh import _match_flat, _narrow, _trace, _used_codes, in_windows
from .inputs import EndFlags, KernelInput
from .intrinsics import stream
from .outputs import KernelOutputs, traceback_scratch
from .planning import WindowGroup

_QUERY_START_FREE = int(EndFlags.QUERY_START_FREE)
_QUERY_END_FREE = int(EndFlags.QUERY_END_FREE)
_REFERENCE_START_FREE = int(EndFlags.REFERENCE_START_FREE)
_REFERENCE_END_FREE = int(EndFlags.REFERENCE_END_FREE)

#: Largest magnitude an intermediate value may reach (int8, with room to spare).
_LIMIT = 120
#: The "minus infinity" of :class:`~streamalign.kernels.inputs.KernelScoring` in ``int8``
#: (not read: gap states of minus infinity are a difference below the open cost).
MINUS_INFINITY = -128
#: Direction bytes a group's padding lanes may always take (see :func:`padded_lanes`).
PADDING_BYTES = 128 << 20


def fits(substitution: np.ndarray, gap_open: int, gap_extend: int, ends: EndFlags) -> bool:
    """Whether this kernel computes these scores exactly: integer scores whose differences
    stay within ``int8`` (see the module docstring), an extension no dearer than an opening,
    not local mode.

    Example:
        >>> fits(np.eye(16, dtype=np.int64) * 3 - 2, 5, 2, EndFlags.NONE)
        True
        >>> fits(np.eye(16, dtype=np.int64) * 3 - 2, 5, 2, EndFlags.LOCAL)
        False
        >>> fits(np.eye(16, dtype=np.int64) * 3 - 2, 50, 2, EndFlags.NONE)
        False
        >>> fits(np.eye(16, dtype=np.int64) * 3 - 2, 1, 2, EndFlags.NONE)
        False
    """
    if ends & EndFlags.LOCAL:
        return False
    if not np.issubdtype(substitution.dtype, np.integer):
        return False
    if gap_extend < 0 or gap_open < gap_extend:
        # An extension dearer than an opening: a gap inside the matrix is cheapest as one-base
        # gaps opened again and again, one along the first row or column is not, and the
        # differences next to those edges grow with the sequences.
        return False
    highest = max(int(substitution.max()), 0)
    lowest = min(int(substitution.min()), 0)
    # x - e >= -2o - M - e; u + max(-o, x - e) >= -2o; z - v <= M + 2o; the substitution
    # scores themselves; the boundary sentinel e - o - 1.
    return (
        3 * gap_open + highest + gap_extend + 1 <= _LIMIT
        and highest + 2 * gap_open <= _LIMIT
        and -lowest <= _LIMIT
    )


def run(inputs: KernelInput, outputs: KernelOutputs) -> None:
    """Align ``inputs``' queries (with traceback or score-only), in its groups, to its
    reference; fill ``outputs`` in place. ``inputs.scoring`` is ``int8``, the ends not local (see
    :func:`fits`).

    Example:
        >>> from streamalign.alphabet import encode_string
        >>> from streamalign.kernels.inputs import KernelScoring
        >>> from streamalign.kernels.planning import plan_groups
        >>> offsets = np.array([0, 7])
        >>> inputs = KernelInput(
        ...     encode_string("GATTACA"), offsets, encode_string("GATCACA"),
        ...     plan_groups(np.diff(offsets), 7, lanes=16, memory_budget=2**20, traceback=True),
        ...     KernelScoring.create(np.eye(16) * 3 - 2, np.eye(16), 5, 2, -128, np.int8),
        ...     EndFlags.NONE, traceback=True)
        >>> outputs = KernelOutputs.allocate(np.diff(offsets), 7, traceback=True)
        >>> run(inputs, outputs)
        >>> outputs.scores.tolist(), outputs.counts.tolist()
        ([4], [[6, 1, 0, 0]])
    """
    inputs.check()
    outputs.check(len(inputs.query_offsets) - 1, len(inputs.reference_codes), inputs.traceback)
    scoring = inputs.scoring
    if scoring.substitution.dtype != np.int8:
        raise ValueError(
            f"the difference kernel takes int8 scores, not {scoring.substitution.dtype}"
        )
    gap_open, gap_extend = (int(value) for value in scoring.parameters[:2])
    if not fits(scoring.substitution, gap_open, gap_extend, inputs.ends):
        raise ValueError("these scores or ends do not fit the difference kernel")
    plan = inputs.plan
    if inputs.traceback:
        scratch = _aligned_scratch(_scratch_bytes(inputs))
    else:
        scratch = inputs.reference_codes[:0]
    align_groups(
        inputs.query_codes,
        inputs.query_offsets,
        plan.order,
        plan.starts,
        plan.lanes,
        inputs.reference_codes,
        scoring.substitution,
        scoring.match_table,
        scoring.parameters,
        int(inputs.ends),
        inputs.traceback,
        scratch,
        _config.STREAM_DIRECTION_BYTES,
        outputs.scores,
        outputs.query_starts,
        outputs.query_ends,
        outputs.reference_starts,
        outputs.reference_ends,
        outputs.counts,
        outputs.operations,
        outputs.capacity_offsets,
        outputs.operation_lengths,
    )


def run_windows(inputs: KernelInput, outputs: KernelOutputs, groups: Sequence[WindowGroup]) -> None:
    """Align each group's queries to its window ``reference[group.left:group.right]``, as
    :func:`streamalign.kernels.gotoh.run_windows` does (one :func:`run` per group).

    Example:
        >>> from streamalign.alphabet import encode_string
        >>> from streamalign.kernels.inputs import KernelScoring
        >>> from streamalign.kernels.planning import GroupPlan, WindowGroup
        >>> offsets = np.array([0, 4])
        >>> inputs = KernelInput(
        ...     encode_string("TACA"), offsets, encode_string("GGGGATTACAGGG"),
        ...     GroupPlan.single(np.array([0]), 0),
        ...     KernelScoring.create(np.eye(16) * 3 - 2, np.eye(16), 5, 2, -128, np.int8),
        ...     EndFlags.REFERENCE_START_FREE | EndFlags.REFERENCE_END_FREE, traceback=True)
        >>> outputs = KernelOutputs.allocate(np.diff(offsets), 13, traceback=True)
        >>> run_windows(inputs, outputs, [WindowGroup(GroupPlan.single(np.array([0]), 40), 4, 11)])
        >>> outputs.scores.tolist(), outputs.reference_starts.tolist()   # in the window
        ([4], [2])
    """
    in_windows(run, inputs, outputs, groups)


def _aligned_scratch(size: int) -> np.ndarray:
    """The thread's traceback scratch, from a 64-byte boundary (for the streamed rows)."""
    scratch = traceback_scratch(size + 64)
    shift = -scratch.ctypes.data % 64
    return scratch[shift : shift + size]


def _scratch_bytes(inputs: KernelInput) -> int:
    """Direction bytes of the largest group, lanes padded (see :func:`padded_lanes`)."""
    plan = inputs.plan
    lengths = inputs.lengths[plan.order]
    largest = 0
    for group, members in enumerate(plan.lanes.tolist()):
        if members:
            rows = int(lengths[plan.starts[group] : plan.starts[group] + members].max())
            pairs = (len(inputs.reference_codes) + 1) // 2
            lanes = int(padded_lanes(members, rows, len(inputs.reference_codes), True))
            largest = max(largest, lanes * rows * pairs)
    return max(largest, plan.scratch_bytes)


@njit(nogil=True, cache=True)
def align_groups(
    query_codes,
    query_offsets,
    order,
    group_starts,
    group_lanes,
    reference_codes,
    substitution,
    match_table,
    parameters,
    flags,
    traceback,
    traceback_budget,
    stream_bytes,
    scores,
    query_starts,
    query_ends,
    reference_starts,
    reference_ends,
    counts,
    operations,
    operation_offsets,
    operation_lengths,
):
    """Align groups of queries against one reference, writing results in place; the
    arguments are those of :func:`streamalign.kernels.gotoh.align_groups`, in ``int8``, and
    ``stream_bytes``: a group whose direction bits take at least this many bytes writes them
    with non-temporal stores.

    Column arrays (flat ``[row - 1][lane]``) hold ``u`` and ``x`` of the last column done;
    ``v`` and ``y`` run down the column per lane. Direction bits are laid out as gotoh's,
    two columns per byte, so its ``_trace`` walks them.
    """
    reference_length = reference_codes.shape[0]
    gap_open = parameters[0]
    gap_extend = parameters[1]
    zero = _narrow(parameters[0] - parameters[0], parameters[0])
    open_64 = np.int64(gap_open)
    extend_64 = np.int64(gap_extend)
    query_start_free = (flags & _QUERY_START_FREE) != 0
    query_end_free = (flags & _QUERY_END_FREE) != 0
    reference_start_free = (flags & _REFERENCE_START_FREE) != 0
    reference_end_free = (flags & _REFERENCE_END_FREE) != 0
    # A gap state of minus infinity, as a difference: its extension loses to an opening.
    sentinel = _narrow(gap_extend - gap_open - 1, zero)
    profile_index, used_codes, used_count = _used_codes(reference_codes)
    column_profile = np.empty(reference_length, np.uint64)
    match_flat = _match_flat(match_table)
    # A substitution table that scores A, C, G and T against each other with one match and
    # one mismatch score lets groups of ACGT-only queries compare codes (see _fill_pair).
    match_score = substitution[0, 0]
    mismatch_score = substitution[0, 1]
    uniform = True
    for query_code in range(4):
        for reference_code in range(4):
            expected = match_score if query_code == reference_code else mismatch_score
            if substitution[query_code, reference_code] != expected:
                uniform = False
    group_count = group_starts.shape[0] - 1
    for group in range(group_count):
        members = group_lanes[group]
        first = group_starts[group]
        query_rows = np.int64(0)
        for lane in range(members):
            query = order[first + lane]
            query_rows = max(query_rows, query_offsets[query + 1] - query_offsets[query])
        lanes = padded_lanes(members, query_rows, reference_length, traceback)
        lanes_u = np.uint64(lanes)
        # Lanes past the group's members are padding: empty queries, never written out.
        lengths = np.zeros(lanes, np.int64)
        for lane in range(members):
            query = order[first + lane]
            lengths[lane] = query_offsets[query + 1] - query_offsets[query]
        shortest = lengths[:members].min()
        rows_u = np.uint64(query_rows)
        transposed, compare = _transposed(
            query_codes, query_offsets, order, first, members, lengths, query_rows, uniform
        )
        # Groups that compare codes need profile planes only for a reference's other codes.
        needs_profile = not compare
        for used in range(used_count):
            if used_codes[used] >= 4:
                needs_profile = True
        profile = _profile(
            transposed, substitution, used_codes[: used_count if needs_profile else 0]
        )
        for column in range(reference_length):
            column_profile[column] = (
                np.uint64(profile_index[reference_codes[column]]) * rows_u * lanes_u
            )
        if traceback:
            directions = traceback_budget[: query_rows * ((reference_length + 1) // 2) * lanes]
        else:
            directions = traceback_budget[:0]
        # Non-temporal stores only for directions larger than the caches: smaller ones are
        # read back by the walk from the cache (see _config.STREAM_DIRECTION_BYTES).
        streamed = lanes % 64 == 0 and directions.shape[0] >= stream_bytes
        size = max(query_rows, 1) * lanes
        column_u = np.empty(size, parameters.dtype)
        column_x = np.empty(size, parameters.dtype)
        above_v = np.empty(lanes, parameters.dtype)
        above_y = np.empty(lanes, parameters.dtype)
        above_v2 = np.empty(lanes, parameters.dtype)
        above_y2 = np.empty(lanes, parameters.dtype)
        # v of each lane's last row, for the columns of this pass (reference end free).
        last_v = np.zeros(lanes, parameters.dtype)
        last_v2 = np.zeros(lanes, parameters.dtype)
        first_column(
            column_u, column_x, query_rows, lanes, query_start_free, gap_open, gap_extend, zero
        )
        # H of each lane's last row at the current column (64-bit), and the best end so far.
        last_h = np.empty(lanes, np.int64)
        best_score = np.empty(lanes, np.int64)
        best_row = np.empty(lanes, np.int64)
        best_column = np.zeros(lanes, np.int64)
        for lane in range(lanes):
            rows = lengths[lane]
            if query_start_free or rows == 0:
                last_h[lane] = 0
            else:
                last_h[lane] = -(open_64 + (rows - 1) * extend_64)
            best_score[lane] = last_h[lane]
            best_row[lane] = rows
        column = 1
        while column <= reference_length:
            paired = column < reference_length
            for lane in range(lanes):
                above_y[lane] = sentinel
                above_y2[lane] = sentinel
            if reference_start_free:
                top = zero
                top2 = zero
            else:
                top = _narrow(-gap_open if column == 1 else -gap_extend, zero)
                top2 = _narrow(-gap_extend, zero)
            for lane in range(lanes):
                above_v[lane] = top
                above_v2[lane] = top2
            _fill_pair(
                column_u,
                column_x,
                above_v,
                above_y,
                above_v2,
                above_y2,
                last_v,
                last_v2,
                lengths,
                profile,
                column_profile[column - 1],
                column_profile[column] if paired else column_profile[column - 1],
                transposed,
                reference_codes[column - 1],
                reference_codes[column] if paired else reference_codes[column - 1],
                match_score,
                mismatch_score,
                compare
                and reference_codes[column - 1] < 4
                and (not paired or reference_codes[column] < 4),
                directions,
                np.uint64(column // 2) * rows_u * lanes_u,
                query_rows,
                shortest if reference_end_free else query_rows + 1,
                lanes,
                gap_open,
                gap_extend,
                zero,
                paired,
                traceback,
                streamed,
            )
            if reference_end_free:
                # The last row, left to right: first maximum.
                for lane in range(lanes):
                    # An empty query's last row is row 0: its v are the top edges.
                    empty = lengths[lane] == 0
                    last_h[lane] += np.int64(top if empty else last_v[lane])
                    if last_h[lane] > best_score[lane]:
                        best_score[lane] = last_h[lane]
                        best_column[lane] = column
                    if paired:
                        last_h[lane] += np.int64(top2 if empty else last_v2[lane])
                        if last_h[lane] > best_score[lane]:
                            best_score[lane] = last_h[lane]
                            best_column[lane] = column + 1
            column += 2
        # H[0][reference_length]: the top edge of the last column.
        if reference_start_free or reference_length == 0:
            corner = np.int64(0)
        else:
            corner = -(open_64 + (reference_length - 1) * extend_64)
        # Down the last column, all lanes at once: H to each lane's last row, and its first
        # maximum (query end free).
        end_h = np.full(lanes, corner, np.int64)
        column_score = np.full(lanes, corner, np.int64)
        column_row = np.zeros(lanes, np.int64)
        if not reference_end_free or query_end_free:
            _down_last_column(column_u, lengths, query_rows, lanes, end_h, column_score, column_row)
        for lane in range(members):
            query = order[first + lane]
            if not reference_end_free:
                best_score[lane] = end_h[lane]
                best_row[lane] = lengths[lane]
                best_column[lane] = reference_length
                if query_end_free:
                    best_score[lane] = column_score[lane]
                    best_row[lane] = column_row[lane]
            elif query_end_free and column_score[lane] > best_score[lane]:
                best_score[lane] = column_score[lane]
                best_row[lane] = column_row[lane]
                best_column[lane] = reference_length
            scores[query] = best_score[lane]
            query_ends[query] = best_row[lane]
            reference_ends[query] = best_column[lane]
            if not traceback:
                query_starts[query] = 0
                reference_starts[query] = 0
                continue
            _trace(
                directions,
                query_rows,
                lanes,
                lane,
                best_row[lane],
                best_column[lane],
                query_codes,
                query_offsets[query],
                reference_codes,
                match_flat,
                query_start_free,
                reference_start_free,
                True,
                operations,
                operation_offsets[query + 1],
                operation_lengths,
                query,
                counts,
                query_starts,
                reference_starts,
            )


@njit(nogil=True, cache=True)
def first_column(column_u, column_x, rows, lanes, query_start_free, gap_open, gap_extend, zero):
    """Column 0 of every lane, ``[row - 1][lane]``: ``u`` = H[i][0] - H[i-1][0] (the
    query's leading gap, or 0 with its start free) and ``x`` the sentinel of a deletion state
    of minus infinity."""
    sentinel = _narrow(gap_extend - gap_open - 1, zero)
    for row in range(1, rows + 1):
        if query_start_free:
            edge = zero
        elif row == 1:
            edge = _narrow(-gap_open, zero)
        else:
            edge = _narrow(-gap_extend, zero)
        base = (row - 1) * lanes
        for lane in range(lanes):
            column_u[base + lane] = edge
            column_x[base + lane] = sentinel


@njit(nogil=True, cache=True)
def _down_last_column(column_u, lengths, query_rows, lanes, end_h, column_score, column_row):
    """Sum the last column's ``u`` down to each lane's last row, from ``end_h`` (H of row 0):
    ``end_h`` becomes H of the lane's last row, ``column_score`` and ``column_row`` the first
    maximum down to it. Rows are the outer loop, lanes the inner (it vectorizes)."""
    for row in range(1, query_rows + 1):
        base = (row - 1) * lanes
        for lane in range(lanes):
            inside = row <= lengths[lane]
            value = end_h[lane] + (np.int64(column_u[base + lane]) if inside else 0)
            end_h[lane] = value
            better = inside and value > column_score[lane]
            column_score[lane] = value if better else column_score[lane]
            column_row[lane] = row if better else column_row[lane]


@njit(nogil=True, cache=True, inline="always")
def _cell(u_left, x_left, v_above, y_above, score, gap_open, gap_extend, zero):
    """One cell: ``(u, v, x, y, direction bits)`` from its left and upper neighbours'
    differences (see the module docstring); the bits are gotoh's."""
    minus_open = _narrow(-gap_open, zero)
    deletion_extend = _narrow(x_left - gap_extend, zero)
    insertion_extend = _narrow(y_above - gap_extend, zero)
    deletion = _narrow(u_left + max(minus_open, deletion_extend), zero)
    insertion = _narrow(v_above + max(minus_open, insertion_extend), zero)
    value = max(score, max(deletion, insertion))
    source = (
        zero if value == score else (_narrow(1, zero) if value == deletion else _narrow(2, zero))
    )
    bits = _narrow(
        source
        + (_narrow(4, zero) if deletion_extend > minus_open else zero)
        + (_narrow(8, zero) if insertion_extend > minus_open else zero),
        zero,
    )
    return (
        _narrow(value - v_above, zero),
        _narrow(value - u_left, zero),
        _narrow(deletion - value, zero),
        _narrow(insertion - value, zero),
        bits,
    )


@njit(nogil=True, cache=True)
def _fill_pair(
    column_u,
    column_x,
    above_v,
    above_y,
    above_v2,
    above_y2,
    last_v,
    last_v2,
    lengths,
    profile,
    profile_start,
    profile_start2,
    transposed,
    reference_code,
    reference_code2,
    match_score,
    mismatch_score,
    compare,
    directions,
    direction_start,
    query_rows,
    capture_from,
    lanes,
    gap_open,
    gap_extend,
    zero,
    paired,
    traceback,
    streamed,
):
    """Columns ``2p + 1`` and ``2p + 2`` (or only the first: ``paired`` false) for every
    lane; their direction bits share a byte. From row ``capture_from`` on, ``last_v`` and
    ``last_v2`` take ``v`` of the row where each lane's query ends.

    ``compare``: the substitution score is ``match_score`` where the query code
    (``transposed``, ``[row - 1][lane]``) equals the column's reference code, else
    ``mismatch_score``: one byte per cell read instead of a profile plane per reference code,
    which keeps the working set of full-length reads in the L2 cache. Else the profile.
    Without ``traceback``, no direction bits. Each combination has a lane loop of its own: a
    loop-invariant test inside the lane loop kept it from vectorizing.
    """
    lanes_u = np.uint64(lanes)
    sixteen = _narrow(16, zero)
    # A row's direction bytes, then written out at once (``streamed``: with non-temporal
    # stores of whole 64-byte lines at 64-byte aligned offsets, see run's scratch).
    row_bits = np.empty(lanes, np.uint8)
    for row in range(1, query_rows + 1):
        offset = np.uint64(row - 1) * lanes_u
        profile_offset = profile_start + offset
        profile_offset2 = profile_start2 + offset
        direction_offset = direction_start + offset
        if paired and not traceback and compare:
            # Score only: the same cells, no direction bits.
            for lane_number in range(lanes):
                lane = np.uint64(lane_number)
                code = transposed[offset + lane]
                u1, v1, x1, y1, _ = _cell(
                    column_u[offset + lane],
                    column_x[offset + lane],
                    above_v[lane],
                    above_y[lane],
                    match_score if code == reference_code else mismatch_score,
                    gap_open,
                    gap_extend,
                    zero,
                )
                u2, v2, x2, y2, _ = _cell(
                    u1,
                    x1,
                    above_v2[lane],
                    above_y2[lane],
                    match_score if code == reference_code2 else mismatch_score,
                    gap_open,
                    gap_extend,
                    zero,
                )
                above_v[lane] = v1
                above_y[lane] = y1
                above_v2[lane] = v2
                above_y2[lane] = y2
                column_u[offset + lane] = u2
                column_x[offset + lane] = x2
        elif paired and not traceback:
            for lane_number in range(lanes):
                lane = np.uint64(lane_number)
                u1, v1, x1, y1, _ = _cell(
                    column_u[offset + lane],
                    column_x[offset + lane],
                    above_v[lane],
                    above_y[lane],
                    profile[profile_offset + lane],
                    gap_open,
                    gap_extend,
                    zero,
                )
                u2, v2, x2, y2, _ = _cell(
                    u1,
                    x1,
                    above_v2[lane],
                    above_y2[lane],
                    profile[profile_offset2 + lane],
                    gap_open,
                    gap_extend,
                    zero,
                )
                above_v[lane] = v1
                above_y[lane] = y1
                above_v2[lane] = v2
                above_y2[lane] = y2
                column_u[offset + lane] = u2
                column_x[offset + lane] = x2
        elif paired and compare:
            for lane_number in range(lanes):
                lane = np.uint64(lane_number)
                code = transposed[offset + lane]
                u1, v1, x1, y1, bits1 = _cell(
                    column_u[offset + lane],
                    column_x[offset + lane],
                    above_v[lane],
                    above_y[lane],
                    match_score if code == reference_code else mismatch_score,
                    gap_open,
                    gap_extend,
                    zero,
                )
                u2, v2, x2, y2, bits2 = _cell(
                    u1,
                    x1,
                    above_v2[lane],
                    above_y2[lane],
                    match_score if code == reference_code2 else mismatch_score,
                    gap_open,
                    gap_extend,
                    zero,
                )
                above_v[lane] = v1
                above_y[lane] = y1
                above_v2[lane] = v2
                above_y2[lane] = y2
                column_u[offset + lane] = u2
                column_x[offset + lane] = x2
                row_bits[lane] = np.uint8(_narrow(bits1 + bits2 * sixteen, zero))
        elif paired:
            for lane_number in range(lanes):
                lane = np.uint64(lane_number)
                u1, v1, x1, y1, bits1 = _cell(
                    column_u[offset + lane],
                    column_x[offset + lane],
                    above_v[lane],
                    above_y[lane],
                    profile[profile_offset + lane],
                    gap_open,
                    gap_extend,
                    zero,
                )
                u2, v2, x2, y2, bits2 = _cell(
                    u1,
                    x1,
                    above_v2[lane],
                    above_y2[lane],
                    profile[profile_offset2 + lane],
                    gap_open,
                    gap_extend,
                    zero,
                )
                above_v[lane] = v1
                above_y[lane] = y1
                above_v2[lane] = v2
                above_y2[lane] = y2
                column_u[offset + lane] = u2
                column_x[offset + lane] = x2
                row_bits[lane] = np.uint8(_narrow(bits1 + bits2 * sixteen, zero))
        else:
            for lane_number in range(lanes):
                lane = np.uint64(lane_number)
                if compare:
                    score = (
                        match_score
                        if transposed[offset + lane] == reference_code
                        else mismatch_score
                    )
                else:
                    score = profile[profile_offset + lane]
                u1, v1, x1, y1, bits1 = _cell(
                    column_u[offset + lane],
                    column_x[offset + lane],
                    above_v[lane],
                    above_y[lane],
                    score,
                    gap_open,
                    gap_extend,
                    zero,
                )
                above_v[lane] = v1
                above_y[lane] = y1
                column_u[offset + lane] = u1
                column_x[offset + lane] = x1
                row_bits[lane] = np.uint8(bits1)
        if not traceback:
            pass
        elif streamed:
            stream(directions, direction_offset, row_bits, np.uint64(lanes))
        else:
            # Unsigned offsets, as in the lane loops: with a signed lane number this copy did
            # not vectorize, and the whole kernel ran at a third of its speed.
            for lane_number in range(lanes):
                lane = np.uint64(lane_number)
                directions[direction_offset + lane] = row_bits[lane]
        if row >= capture_from:
            # The v of this row, where a lane's query ends here (reference end free).
            for lane in range(lanes):
                if lengths[lane] == row:
                    last_v[lane] = above_v[lane]
                    last_v2[lane] = above_v2[lane]


@njit(nogil=True, cache=True)
def _transposed(query_codes, query_offsets, order, first, members, lengths, query_rows, uniform):
    """The group's query codes ``[row - 1][lane]`` (``int8``; rows past a query's end and
    padding lanes: 4, which no reference code 0-3 matches), and whether :func:`_fill_pair`
    may compare them: ``uniform`` scores and queries of A, C, G and T only."""
    lanes = lengths.shape[0]
    transposed = np.full(max(query_rows, 1) * lanes, 4, np.int8)
    compare = uniform
    for lane in range(members):
        start = query_offsets[order[first + lane]]
        for row in range(lengths[lane]):
            code = query_codes[start + row]
            transposed[row * lanes + lane] = code
            if code >= 4:
                compare = False
    return transposed, compare


@njit(nogil=True, cache=True)
def _profile(transposed, substitution, used_codes):
    """Query profile, flat ``[used code][row - 1][lane]``: the substitution score of each
    query code of ``transposed`` against each reference code the reference uses."""
    size = transposed.shape[0]
    profile = np.empty(max(used_codes.shape[0], 1) * size, substitution.dtype)
    scores = np.empty(16, substitution.dtype)
    for used in range(used_codes.shape[0]):
        for code in range(16):
            scores[code] = substitution[code, used_codes[used]]
        base = used * size
        for position in range(size):
            profile[base + position] = scores[transposed[position] & 15]
    return profile


@njit(nogil=True, cache=True)
def padded_lanes(members, rows, reference_length, traceback):
    """Lanes the kernel computes for a group of ``members`` queries of at most ``rows`` bases:
    up to a multiple of 64, 32 or 16 (whole AVX-512, AVX2, SSE registers of ``int8``; LLVM
    computes the rest of a lane loop one lane at a time, at a tenth of the speed). With
    ``traceback``, only where the direction bits (half a byte per cell) stay within the
    planner's byte per cell of the members or within ``PADDING_BYTES``. A lone query is padded
    too, though the aligner sends calls of one query to the 16-bit kernel
    (``python benchmarks/differences.py --part lanes``).

    Example:
        >>> padded_lanes(116, 1500, 1500, True), padded_lanes(4, 1500, 1500, True)
        (128, 64)
        >>> padded_lanes(4, 10_000, 10_000, True), padded_lanes(20, 10_000, 10_000, True)
        (4, 32)
        >>> padded_lanes(1, 10_000, 10_000, False), padded_lanes(0, 10, 10, False)
        (64, 0)
    """
    if members == 0:
        return 0
    pairs = (reference_length + 1) // 2
    allowed = max(members * rows * reference_length, PADDING_BYTES)
    for width in (64, 32, 16):
        padded = (members + width - 1) // width * width
        if not traceback or padded * rows * pairs <= allowed:
            return padded
    return members
    pairs = (reference_length + 1) // 2
    allowed = max(members * rows * reference_length, PADDING_BYTES)
    for width in (64, 32, 16):
        padded = (members + width - 1) // width * width
        if padded * rows * pairs <= allowed:
            return padded
    return members
