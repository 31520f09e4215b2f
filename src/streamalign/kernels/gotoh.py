"""Inter-sequence vectorized Gotoh kernels (numba, nogil).

Many queries are aligned against one reference per call. Queries are grouped by length into
groups of ``lanes``; inside a group every dynamic-programming cell is computed for all lanes at
once, the lane index innermost and contiguous, so LLVM emits SIMD instructions.

Recurrence (query rows ``i``, reference columns ``j``, costs ``o`` = open, ``e`` = extend)::

    D[i][j] = max(H[i][j-1] - o, D[i][j-1] - e)          deletion  (gap in the query)
    I[i][j] = max(H[i-1][j] - o, I[i-1][j] - e)          insertion (gap in the reference)
    H[i][j] = max(H[i-1][j-1] + s(q_i, r_j), D[i][j], I[i][j])   (and 0 in local mode)

Ties: H prefers the diagonal, then the deletion, then the insertion; a gap state prefers
opening over extending; local mode stops (starts the alignment) where H <= 0. The end cell is
the first maximum over: the last query row left to right (when the reference end is free), then
the last reference column top to bottom (when the query end is free); local mode takes the first
maximum in row-major order. ``kernels/slow.py`` implements the same rules cell by cell.

Direction bits stored per cell: bits 0-1 the source of H (0 diagonal, 1 deletion, 2 insertion,
3 local start), bit 2 "deletion extends", bit 3 "insertion extends".

Operations written: 0 ``=``, 1 ``X``, 2 ``I``, 3 ``D``.

These functions only compute; ``streamalign.aligner`` validates inputs and allocates outputs.
"""

from __future__ import annotations

import numpy as np
from numba import njit

OPERATION_MATCH = 0
OPERATION_MISMATCH = 1
OPERATION_INSERTION = 2
OPERATION_DELETION = 3

FLAG_QUERY_START_FREE = 1
FLAG_QUERY_END_FREE = 2
FLAG_REFERENCE_START_FREE = 4
FLAG_REFERENCE_END_FREE = 8
FLAG_LOCAL = 16


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
    """Align groups of queries against one reference, writing results in place.

    Args:
        query_codes: ``uint8`` codes of all queries, concatenated.
        query_offsets: ``int64`` record boundaries, ``len(queries) + 1``.
        order: ``int64`` query numbers sorted so that each group is contiguous in it.
        group_starts: ``int64`` positions in ``order`` where each group starts (+ end).
        group_lanes: ``int64`` lane count of each group (= its size).
        reference_codes: ``uint8`` codes of the reference.
        substitution: ``(16, 16)`` integer scores by (query code, reference code); code 15 pads.
        match_table: ``(16, 16)`` ``uint8``, 1 where a column counts as a match (``=``).
        parameters: array of the score dtype: ``[gap_open, gap_extend, minus_infinity]``.
        flags: OR of the ``FLAG_*`` constants.
        traceback: whether to compute the alignment (else scores and end cells only).
        traceback_budget: ``uint8`` scratch of at least ``max(len_group * len(ref) * lanes)``.
        scores: ``int64`` output, one per query; the other outputs likewise.
        counts: ``int64`` output ``(queries, 4)``: matches, mismatches, insertions, deletions.
        operations: ``uint8`` output, the operations of query ``k`` start at
            ``operation_offsets[k]`` (capacity ``len(query) + len(reference)``), reversed order
            is fixed before returning; ``operation_lengths[k]`` says how many were written.
    """
    reference_length = reference_codes.shape[0]
    gap_open = parameters[0]
    gap_extend = parameters[1]
    minus_infinity = parameters[2]
    zero = parameters[0] - parameters[0]
    query_start_free = (flags & FLAG_QUERY_START_FREE) != 0
    query_end_free = (flags & FLAG_QUERY_END_FREE) != 0
    reference_start_free = (flags & FLAG_REFERENCE_START_FREE) != 0
    reference_end_free = (flags & FLAG_REFERENCE_END_FREE) != 0
    local = (flags & FLAG_LOCAL) != 0
    group_count = group_starts.shape[0] - 1
    for group in range(group_count):
        lanes = group_lanes[group]
        first = group_starts[group]
        lengths = np.empty(lanes, np.int64)
        query_rows = 0
        for lane in range(lanes):
            query = order[first + lane]
            lengths[lane] = query_offsets[query + 1] - query_offsets[query]
            query_rows = max(query_rows, lengths[lane])
        # Query profile: score of query row i (lane) against each reference code.
        profile = np.zeros((16, max(query_rows, 1), lanes), parameters.dtype)
        for lane in range(lanes):
            query = order[first + lane]
            start = query_offsets[query]
            for row in range(lengths[lane]):
                code = query_codes[start + row]
                for reference_code in range(16):
                    profile[reference_code, row, lane] = substitution[code, reference_code]
        if traceback:
            directions = traceback_budget[: query_rows * reference_length * lanes].reshape(
                (query_rows, reference_length, lanes)
            )
        else:
            directions = traceback_budget[:0].reshape((0, 0, lanes))
        previous = np.empty((reference_length + 1, lanes), parameters.dtype)
        current = np.empty((reference_length + 1, lanes), parameters.dtype)
        insertion = np.empty((reference_length + 1, lanes), parameters.dtype)
        deletion = np.empty(lanes, parameters.dtype)
        row_bits = np.empty(lanes, np.uint8)
        best_score = np.empty(lanes, np.int64)
        best_row = np.zeros(lanes, np.int64)
        best_column = np.zeros(lanes, np.int64)
        column_best = np.empty(lanes, np.int64)
        column_row = np.zeros(lanes, np.int64)
        for lane in range(lanes):
            best_score[lane] = -(2**62)
            column_best[lane] = -(2**62)
        # Row 0.
        for column in range(reference_length + 1):
            if column == 0 or reference_start_free or local:
                value = zero
            else:
                value = -(gap_open + (column - 1) * gap_extend)
            for lane in range(lanes):
                previous[column, lane] = value
                insertion[column, lane] = minus_infinity
        for lane in range(lanes):
            if local:
                best_score[lane] = 0
            if query_end_free:
                column_best[lane] = previous[reference_length, lane]
            if lengths[lane] == 0:
                _row_candidate(
                    previous, lane, 0, reference_length, reference_end_free,
                    best_score, best_row, best_column,
                )
        for row in range(1, query_rows + 1):
            if query_start_free or local:
                edge = zero
            else:
                edge = -(gap_open + (row - 1) * gap_extend)
            for lane in range(lanes):
                current[0, lane] = edge
                deletion[lane] = minus_infinity
            for column in range(1, reference_length + 1):
                if traceback:
                    bits = directions[row - 1, column - 1]
                else:
                    bits = row_bits
                _cells(
                    previous[column - 1], previous[column], current[column - 1],
                    current[column], insertion[column], deletion,
                    profile[reference_codes[column - 1], row - 1], bits,
                    gap_open, gap_extend, zero, local,
                )
                if local:
                    values = current[column]
                    for lane in range(lanes):
                        better = values[lane] > best_score[lane] and row <= lengths[lane]
                        best_score[lane] = values[lane] if better else best_score[lane]
                        best_row[lane] = row if better else best_row[lane]
                        best_column[lane] = column if better else best_column[lane]
            if not local:
                for lane in range(lanes):
                    if query_end_free and row <= lengths[lane]:
                        if current[reference_length, lane] > column_best[lane]:
                            column_best[lane] = current[reference_length, lane]
                            column_row[lane] = row
                    if lengths[lane] == row:
                        _row_candidate(
                            current, lane, row, reference_length, reference_end_free,
                            best_score, best_row, best_column,
                        )
            previous, current = current, previous
        for lane in range(lanes):
            query = order[first + lane]
            if not local and query_end_free:
                if not reference_end_free or column_best[lane] > best_score[lane]:
                    best_score[lane] = column_best[lane]
                    best_row[lane] = column_row[lane]
                    best_column[lane] = reference_length
            scores[query] = best_score[lane]
            query_ends[query] = best_row[lane]
            reference_ends[query] = best_column[lane]
            if traceback:
                _trace(
                    directions, lane, best_row[lane], best_column[lane],
                    query_codes[query_offsets[query]:query_offsets[query + 1]],
                    reference_codes, match_table,
                    query_start_free or local, reference_start_free or local,
                    operations, operation_offsets[query], operation_lengths, query,
                    counts, query_starts, reference_starts,
                )
            else:
                query_starts[query] = 0
                reference_starts[query] = 0


@njit(nogil=True, cache=True)
def _cells(diagonal_h, above_h, left_h, out_h, insertion, deletion, profile, bits,
           gap_open, gap_extend, zero, local):
    """One DP cell for every lane: the vectorized heart of the kernel.

    ``diagonal_h``/``above_h`` are H of the previous row at columns j-1 and j, ``left_h`` is H
    of this row at j-1; ``out_h`` receives H, ``insertion`` (I at column j, updated in place),
    ``deletion`` (D along the row, updated in place), ``bits`` the direction bits.
    """
    for lane in range(out_h.shape[0]):
        diagonal = diagonal_h[lane] + profile[lane]
        deletion_open = left_h[lane] - gap_open
        deletion_extend = deletion[lane] - gap_extend
        deletion_value = max(deletion_open, deletion_extend)
        insertion_open = above_h[lane] - gap_open
        insertion_extend = insertion[lane] - gap_extend
        insertion_value = max(insertion_open, insertion_extend)
        value = max(diagonal, max(deletion_value, insertion_value))
        source = 0 if value == diagonal else (1 if value == deletion_value else 2)
        if local:
            source = 3 if value <= zero else source
            value = max(value, zero)
        out_h[lane] = value
        deletion[lane] = deletion_value
        insertion[lane] = insertion_value
        bits[lane] = (
            source
            | ((deletion_extend > deletion_open) << 2)
            | ((insertion_extend > insertion_open) << 3)
        )


@njit(nogil=True, cache=True, inline="always")
def _row_candidate(row_values, lane, row, reference_length, reference_end_free,
                   best_score, best_row, best_column):
    """Record the end-cell candidate of a query's last row."""
    if reference_end_free:
        for column in range(reference_length + 1):
            if row_values[column, lane] > best_score[lane]:
                best_score[lane] = row_values[column, lane]
                best_row[lane] = row
                best_column[lane] = column
    else:
        best_score[lane] = row_values[reference_length, lane]
        best_row[lane] = row
        best_column[lane] = reference_length


@njit(nogil=True, cache=True)
def _trace(directions, lane, row, column, query, reference, match_table,
           query_start_free, reference_start_free, operations, start, operation_lengths,
           query_number, counts, query_starts, reference_starts):
    """Follow the direction bits from (row, column) back to the start; write operations."""
    written = 0
    state = 0
    matches = 0
    mismatches = 0
    insertions = 0
    deletions = 0
    while True:
        if state == 0:
            if row == 0 or column == 0:
                if row == 0 and not reference_start_free:
                    for _ in range(column):
                        operations[start + written] = OPERATION_DELETION
                        written += 1
                    deletions += column
                    column = 0
                if column == 0 and not query_start_free:
                    for _ in range(row):
                        operations[start + written] = OPERATION_INSERTION
                        written += 1
                    insertions += row
                    row = 0
                break
            bits = directions[row - 1, column - 1, lane]
            source = bits & 3
            if source == 0:
                if match_table[query[row - 1], reference[column - 1]]:
                    operations[start + written] = OPERATION_MATCH
                    matches += 1
                else:
                    operations[start + written] = OPERATION_MISMATCH
                    mismatches += 1
                written += 1
                row -= 1
                column -= 1
            elif source == 1:
                state = 1
            elif source == 2:
                state = 2
            else:
                break
        elif state == 1:
            bits = directions[row - 1, column - 1, lane]
            operations[start + written] = OPERATION_DELETION
            written += 1
            deletions += 1
            column -= 1
            if (bits & 4) == 0:
                state = 0
        else:
            bits = directions[row - 1, column - 1, lane]
            operations[start + written] = OPERATION_INSERTION
            written += 1
            insertions += 1
            row -= 1
            if (bits & 8) == 0:
                state = 0
    # Reverse in place: the walk produced the operations from the end.
    low = start
    high = start + written - 1
    while low < high:
        swap = operations[low]
        operations[low] = operations[high]
        operations[high] = swap
        low += 1
        high -= 1
    operation_lengths[query_number] = written
    query_starts[query_number] = row
    reference_starts[query_number] = column
    counts[query_number, 0] = matches
    counts[query_number, 1] = mismatches
    counts[query_number, 2] = insertions
    counts[query_number, 3] = deletions
