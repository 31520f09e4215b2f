"""Score-only alignment of one long pair on all SIMD lanes (numba, nogil).

The inter-sequence kernel of :mod:`streamalign.kernels.gotoh` puts one query in each SIMD
lane: a lone long pair (the score pass before a banded traceback, a score-only alignment of a
10-kb read) runs on one lane of it, about 0.15 GCUPS. This kernel splits the query's rows
into ``lanes`` blocks of ``block`` consecutive rows, block ``k`` in lane ``k``, and staggers
the lanes by one reference column: at step ``t`` lane ``k`` computes column ``t - k`` of its
block. The cell above a block's first row, at that column, is the last row of block ``k - 1``,
which lane ``k - 1`` computed one step earlier (its H and I values are carried over one
lane), and the diagonal cell is that lane's value of the step before (kept as row 0 of the
block's previous column). Every cell therefore sees the very values of the full matrix's
recurrence (the Gotoh recurrence of :mod:`streamalign.kernels.gotoh`, same integer
arithmetic), and the end cell is chosen by the same rules: the first maximum of the last
query row left to right (reference end free), then of the last reference column top to
bottom (query end free); local mode the first maximum in row-major order, where the per-lane
winners (each block's first maximum) are compared by row, then column.

Each lane reads the profile row of its own reference letter, which a gather would give but
does not vectorize (0.6 GCUPS, measured while writing this kernel): the scores of a row come
from the (usually four) profile planes, each multiplied by a 0/1 mask of the lanes whose
letter it is, in a loop before the cell loop (fused into it, the many arrays kept LLVM from
vectorizing: 0.5 GCUPS). ``python benchmarks/staggered.py``, one core: a lone 10-kb pair 2.3
GCUPS, 50-kb 3.0, where one lane of the inter-sequence kernel gives 0.4. The local and
non-local cell loops are written out apart, as in :mod:`streamalign.kernels.gotoh` (a mode
test inside the lane loop costs its vectorization). ``n + lanes - 1`` steps cover an
``m x n`` matrix, so a pair needs ``n`` well above ``lanes`` to fill them (callers use it for
pairs of at least a million cells). With ``last_row`` it also gives every column's best
score in the last query row: the aligner's reverse pass reads the optimal start columns from
it.

Example:
    >>> from streamalign.alphabet import encode_string
    >>> from streamalign.kernels.inputs import EndFlags
    >>> substitution = (np.eye(16) * 3 - 2).astype(np.int32)
    >>> parameters = np.array([5, 2, -(2**30)], np.int32)
    >>> query = encode_string("GATTACAGATTACA")
    >>> reference = encode_string("CCCCGATTACAGATCACACCCC")
    >>> ends = EndFlags.REFERENCE_START_FREE | EndFlags.REFERENCE_END_FREE  # semi-global
    >>> last_row = np.zeros(len(reference) + 1, np.int64)
    >>> score_pair(query, reference, substitution, parameters, int(ends), 4, last_row)  # 13 =, 1 X
    (11, 14, 18)
    >>> int(last_row.argmax()), int(last_row.max())  # the last query row, by column
    (18, 11)
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .. import _config
from .gotoh import _narrow
from .inputs import EndFlags, KernelInput
from .outputs import KernelOutputs

_QUERY_START_FREE = int(EndFlags.QUERY_START_FREE)
_QUERY_END_FREE = int(EndFlags.QUERY_END_FREE)
_REFERENCE_START_FREE = int(EndFlags.REFERENCE_START_FREE)
_REFERENCE_END_FREE = int(EndFlags.REFERENCE_END_FREE)
_LOCAL = int(EndFlags.LOCAL)


@njit(nogil=True, cache=True)
def score_pair(query, reference, substitution, parameters, flags, lanes, last_row):
    """The optimal score of ``query`` against ``reference`` and its end cell.

    Args:
        query, reference: ``uint8`` codes (:mod:`streamalign.alphabet`), at least one each.
        substitution: ``(16, 16)`` scores by (query code, reference code), in the score type
            (32- or 64-bit integers or float32; the caller's bounds keep every value exact).
        parameters: ``[gap_open, gap_extend, minus_infinity]`` in the score type.
        flags: an ``int`` of :class:`~streamalign.kernels.inputs.EndFlags`.
        lanes: most blocks of rows (fewer when the query has fewer rows than that).
        last_row: ``int64`` output of ``len(reference) + 1`` values, or empty: with the
            reference end free (not local), H of the last query row in every column.

    Returns:
        ``(score, end_row, end_column)``: the score and the end cell (rows and columns count
        from 1; 0 is the border), as :mod:`streamalign.kernels.gotoh` reports them.
    """
    rows = query.shape[0]
    columns = reference.shape[0]
    gap_open = parameters[0]
    gap_extend = parameters[1]
    minus_infinity = parameters[2]
    zero = _narrow(parameters[0] - parameters[0], parameters[0])
    query_start_free = (flags & _QUERY_START_FREE) != 0
    query_end_free = (flags & _QUERY_END_FREE) != 0
    reference_start_free = (flags & _REFERENCE_START_FREE) != 0
    reference_end_free = (flags & _REFERENCE_END_FREE) != 0
    local = (flags & _LOCAL) != 0
    block = max((rows + lanes - 1) // max(lanes, 1), 1)
    lanes = max((rows + block - 1) // block, 1)
    lanes_u = np.uint64(lanes)
    size = (block + 1) * lanes
    # Profile rows exist only for the codes the reference uses.
    profile_index = np.full(16, -1, np.int64)
    used = 0
    for column in range(columns):
        code = reference[column]
        if profile_index[code] < 0:
            profile_index[code] = used
            used += 1
    plane = block * lanes
    profile = np.zeros(max(used, 1) * plane, substitution.dtype)
    for code in range(16):
        if profile_index[code] < 0:
            continue
        base = profile_index[code] * plane
        for lane in range(lanes):
            for row in range(block):
                position = lane * block + row
                if position < rows:
                    profile[base + row * lanes + lane] = substitution[query[position], code]
    # Column arrays [row 0..block][lane]; row 0 is the row above the block. Every lane starts
    # at column 0 (the border): inactive lanes never write, so both H arrays keep it.
    column_h = np.empty(size, parameters.dtype)
    next_h = np.empty(size, parameters.dtype)
    column_d = np.empty(size, parameters.dtype)
    for lane in range(lanes):
        for row in range(block + 1):
            position = lane * block + row
            if position == 0 or query_start_free or local:
                edge = zero
            else:
                edge = _narrow(-(gap_open + (position - 1) * gap_extend), zero)
            column_h[row * lanes + lane] = edge
            next_h[row * lanes + lane] = edge
            column_d[row * lanes + lane] = minus_infinity
    above_h = np.empty(lanes, parameters.dtype)
    insertion = np.empty(lanes, parameters.dtype)
    bottom_insertion = np.full(lanes, minus_infinity, parameters.dtype)
    # The profile plane of each lane's reference letter at this step, and one row's scores.
    lane_plane = np.zeros(lanes, np.int32)
    row_scores = np.zeros(lanes, parameters.dtype)
    plane_count = max(used, 1)
    # With at most 4 planes: 1 in the mask of each lane's plane, 0 in the others.
    one = _narrow(1, zero)
    first_mask = np.zeros(lanes, parameters.dtype)
    second_mask = np.zeros(lanes, parameters.dtype)
    third_mask = np.zeros(lanes, parameters.dtype)
    fourth_mask = np.zeros(lanes, parameters.dtype)
    # Offsets of the planes 2-4 (plane 1 where the reference uses fewer letters: masked out).
    second_plane = np.uint64(plane) if plane_count > 1 else np.uint64(0)
    third_plane = np.uint64(2 * plane) if plane_count > 2 else np.uint64(0)
    fourth_plane = np.uint64(3 * plane) if plane_count > 3 else np.uint64(0)
    # Local mode: each lane's first maximum, row-major within its block.
    local_score = np.zeros(lanes, parameters.dtype)
    local_row = np.zeros(lanes, parameters.dtype)
    local_column = np.zeros(lanes, parameters.dtype)
    row_values = np.empty(size, parameters.dtype)
    for lane in range(lanes):
        for row in range(block + 1):
            row_values[row * lanes + lane] = lane * block + row
    # The last query row: its lane and its row in the block.
    last_lane = (rows - 1) // block
    last_offset = (rows - last_lane * block) * lanes + last_lane
    best_score = np.int64(column_h[last_offset])
    keep_last_row = last_row.shape[0] > 0 and reference_end_free and not local
    if keep_last_row:
        last_row[0] = best_score
    best_row = rows
    best_column = 0
    # H of the last column (query end free), row 0 first.
    last_column = np.zeros(rows + 1, np.int64)
    if not (reference_start_free or local):
        last_column[0] = -(np.int64(gap_open) + (columns - 1) * np.int64(gap_extend))
    for step in range(1, columns + lanes):
        low = max(0, step - columns)
        high = min(lanes - 1, step - 1)
        # Carry the row above each block, at this lane's column, from the lane before it.
        for lane in range(high, low - 1, -1):
            column = step - lane
            if lane == 0:
                if reference_start_free or local:
                    top = zero
                else:
                    top = _narrow(-(gap_open + (column - 1) * gap_extend), zero)
                next_h[lane] = top
                above_h[lane] = top
                insertion[lane] = minus_infinity
            else:
                top = column_h[block * lanes + lane - 1]
                next_h[lane] = top
                above_h[lane] = top
                insertion[lane] = bottom_insertion[lane - 1]
            which = profile_index[reference[column - 1]]
            lane_plane[lane] = np.int32(which)
            first_mask[lane] = one if which == 0 else zero
            second_mask[lane] = one if which == 1 else zero
            third_mask[lane] = one if which == 2 else zero
            fourth_mask[lane] = one if which == 3 else zero
        column_value = _narrow(step, zero)
        for row in range(1, block + 1):
            offset = np.uint64(row) * lanes_u
            diagonal_offset = offset - lanes_u
            row_offset = np.uint64(row - 1) * lanes_u
            # Each lane's substitution score, in a loop of its own (see the module): with at
            # most 4 planes as a sum of masked planes, else one select pass per plane.
            if plane_count <= 4:
                first_offset = row_offset
                second_offset = row_offset + second_plane
                third_offset = row_offset + third_plane
                fourth_offset = row_offset + fourth_plane
                for lane_number in range(low, high + 1):
                    lane = np.uint64(lane_number)
                    row_scores[lane] = _narrow(
                        profile[first_offset + lane] * first_mask[lane]
                        + profile[second_offset + lane] * second_mask[lane]
                        + profile[third_offset + lane] * third_mask[lane]
                        + profile[fourth_offset + lane] * fourth_mask[lane],
                        zero,
                    )
            else:
                for lane_number in range(low, high + 1):
                    row_scores[lane_number] = profile[row_offset + np.uint64(lane_number)]
                for plane_number in range(1, plane_count):
                    plane_offset = row_offset + np.uint64(plane_number * plane)
                    for lane_number in range(low, high + 1):
                        lane = np.uint64(lane_number)
                        candidate = profile[plane_offset + lane]
                        row_scores[lane] = (
                            candidate if lane_plane[lane] == plane_number else row_scores[lane]
                        )
            if not local:
                for lane_number in range(low, high + 1):
                    lane = np.uint64(lane_number)
                    diagonal = _narrow(column_h[diagonal_offset + lane] + row_scores[lane], zero)
                    deletion_value = max(
                        _narrow(column_h[offset + lane] - gap_open, zero),
                        _narrow(column_d[offset + lane] - gap_extend, zero),
                    )
                    insertion_value = max(
                        _narrow(above_h[lane] - gap_open, zero),
                        _narrow(insertion[lane] - gap_extend, zero),
                    )
                    value = max(diagonal, max(deletion_value, insertion_value))
                    column_d[offset + lane] = deletion_value
                    insertion[lane] = insertion_value
                    above_h[lane] = value
                    next_h[offset + lane] = value
            else:
                for lane_number in range(low, high + 1):
                    lane = np.uint64(lane_number)
                    diagonal = _narrow(column_h[diagonal_offset + lane] + row_scores[lane], zero)
                    deletion_value = max(
                        _narrow(column_h[offset + lane] - gap_open, zero),
                        _narrow(column_d[offset + lane] - gap_extend, zero),
                    )
                    insertion_value = max(
                        _narrow(above_h[lane] - gap_open, zero),
                        _narrow(insertion[lane] - gap_extend, zero),
                    )
                    value = max(max(diagonal, max(deletion_value, insertion_value)), zero)
                    row_value = row_values[offset + lane]
                    best = local_score[lane]
                    best_local_row = local_row[lane]
                    better = (value > best) | ((value == best) & (row_value < best_local_row))
                    local_score[lane] = _narrow(max(value, best) + zero, zero)
                    local_row[lane] = row_value if better else best_local_row
                    local_column[lane] = (
                        _narrow(column_value - lane_number, zero) if better else local_column[lane]
                    )
                    column_d[offset + lane] = deletion_value
                    insertion[lane] = insertion_value
                    above_h[lane] = value
                    next_h[offset + lane] = value
        for lane in range(low, high + 1):
            bottom_insertion[lane] = insertion[lane]
        column_h, next_h = next_h, column_h
        if local:
            continue
        # The last row's cell of this step, and the last column's cells.
        column = step - last_lane
        if reference_end_free and low <= last_lane <= high:
            value = np.int64(column_h[last_offset])
            if keep_last_row:
                last_row[column] = value
            if value > best_score:
                best_score = value
                best_column = column
        if column == columns and not reference_end_free:
            best_score = np.int64(column_h[last_offset])
            best_column = columns
        if query_end_free and step >= columns:
            lane = step - columns
            if lane < lanes:
                for row in range(1, block + 1):
                    position = lane * block + row
                    if position <= rows:
                        last_column[position] = np.int64(column_h[row * lanes + lane])
    if local:
        best_score = np.int64(0)
        best_row = 0
        best_column = 0
        for lane in range(lanes):
            value = np.int64(local_score[lane])
            row = np.int64(local_row[lane])
            column = np.int64(local_column[lane])
            earlier = row < best_row or (row == best_row and column < best_column)
            if value > best_score or (value == best_score and earlier):
                best_score = value
                best_row = row
                best_column = column
        return best_score, best_row, best_column
    if query_end_free:
        column_score = last_column[0]
        column_row = 0
        for row in range(1, rows + 1):
            if last_column[row] > column_score:
                column_score = last_column[row]
                column_row = row
        if not reference_end_free or column_score > best_score:
            best_score = column_score
            best_row = column_row
            best_column = columns
    return best_score, best_row, best_column


def run(inputs: KernelInput, outputs: KernelOutputs, members: np.ndarray) -> None:
    """Score-only alignment of the queries ``members`` (query numbers) of ``inputs``, one
    at a time on all lanes; fills their scores and end cells in ``outputs`` (starts 0, as
    the score-only :func:`streamalign.kernels.gotoh.run` reports them).

    int16 scorings are computed in int32 (the profile gather needs 32-bit lanes; the bounds
    that chose int16 hold a fortiori).

    Raises:
        ValueError: an empty query or reference (nothing to split into lanes).
    """
    inputs.check()
    reference = inputs.reference_codes
    if not len(reference):
        raise ValueError("the staggered kernel needs a reference of at least one base")
    scoring = inputs.scoring
    dtype = np.int32 if scoring.substitution.dtype == np.int16 else scoring.substitution.dtype
    substitution = scoring.substitution.astype(dtype)
    parameters = scoring.parameters.astype(dtype)
    offsets = inputs.query_offsets
    for member in members.tolist():
        query = inputs.query_codes[offsets[member] : offsets[member + 1]]
        if not len(query):
            raise ValueError(f"query {member} is empty: the staggered kernel needs a base")
        score, end_row, end_column = score_pair(
            query,
            reference,
            substitution,
            parameters,
            int(inputs.ends),
            _config.STAGGERED_LANES,
            np.empty(0, np.int64),
        )
        outputs.scores[member] = score
        outputs.query_ends[member] = end_row
        outputs.reference_ends[member] = end_column
        outputs.query_starts[member] = 0
        outputs.reference_starts[member] = 0
