"""The Gotoh kernel for CUDA GPUs (numba-cuda): one thread per (query, reference window) pair.

The recurrence, the tie rules, the end-cell rules and the direction bits are those of
:mod:`streamalign.kernels.gotoh` (and :mod:`streamalign.kernels.slow`, which the tests compare
with), so every pair gets the same score, spans and operations as on the CPU. Only the order
in which cells are computed differs, and no rule depends on it: each cell's values and
direction bits follow from its three neighbours alone, and the first-maximum rules for the end
cell are applied to the same candidates in the same order (the last row left to right, then the
last column top to bottom; in local mode the smallest row, then the smallest column, of the
maxima).

Layout (:mod:`streamalign.kernels.cuda.layout`): a thread walks its window in strips of
:data:`~streamalign.kernels.cuda.layout.STRIP_COLUMNS` reference columns. For each strip it
goes down its query's rows, keeping the strip's H and I of the row above in registers and
reading H and D of the strip's left edge from the column buffer (written back for the next
strip): two buffer reads and writes per row and strip instead of per cell. The substitution
table sits in shared memory. With a traceback, each row of a strip stores its eight direction
bytes as one ``uint64`` word, and the thread then traces its own alignment back on the GPU,
writing the operation codes backwards at the end of its capacity; only the operations, not the
directions, travel back to the host.

Scores are ``int32`` (the aligner sends wider scorings to the CPU kernel); every arithmetic
result is converted back to ``int32`` (numba computes in 64 bits otherwise, which costs twice
the instructions on a GPU). Compiled for sm_90 (numba-cuda 0.30.4, ptxas 12.9) the kernel uses
98 registers, no local memory and no spills (``python benchmarks/gpu.py --compile-check``,
which needs no GPU); its speed has not been measured on a GPU yet.

:func:`cell_update` is the cell rule, as a plain function (compiled for the device here, and
callable on the host):

Example:
    >>> minus_infinity = -1000
    >>> [int(value) for value in cell_update(0, minus_infinity, -5, minus_infinity, 0, 1, 5, 2)]
    [1, -5, -10, 0]
    >>> [int(value) for value in cell_update(4, 3, 4, 3, -3, -2, 5, 2)]   # both gaps extend
    [1, 1, 1, 13]
"""

from __future__ import annotations

import numpy as np
from numba import cuda

from ..inputs import EndFlags
from ..operations import DELETION, INSERTION, MISMATCH
from .layout import (
    BUFFER,
    CODES,
    COLUMNS,
    DELETIONS,
    DIRECTIONS,
    INSERTIONS,
    LANE,
    LEFT,
    LENGTH,
    MATCHES,
    MISMATCHES,
    OPERATION_COUNT,
    OPERATIONS_END,
    QUERY,
    QUERY_END,
    QUERY_START,
    REFERENCE_END,
    REFERENCE_START,
    RESULT_FIELDS,
    SCORE,
    STRIP_COLUMNS,
    TABLE_FIELDS,
    WIDTH,
)

_QUERY_START_FREE = int(EndFlags.QUERY_START_FREE)
_QUERY_END_FREE = int(EndFlags.QUERY_END_FREE)
_REFERENCE_START_FREE = int(EndFlags.REFERENCE_START_FREE)
_REFERENCE_END_FREE = int(EndFlags.REFERENCE_END_FREE)
_LOCAL = int(EndFlags.LOCAL)
#: Entries of the flat substitution and match tables (16 x 16 codes).
_TABLE_SIZE = 256


def cell_update(left_h, left_d, up_h, up_i, diagonal_h, substitution, gap_open, gap_extend):
    """One cell: ``(H, D, I, direction bits)`` from H and D of the cell to the left, H and I
    of the cell above, H of the diagonal neighbour and the substitution score (all ``int32``).

    Bits 0-1 the source of H (0 diagonal, 1 deletion, 2 insertion; ties in that order), bit 2
    "deletion extends", bit 3 "insertion extends" (opening wins ties).
    """
    deletion_open = np.int32(left_h - gap_open)
    deletion_extend = np.int32(left_d - gap_extend)
    deletion = max(deletion_open, deletion_extend)
    insertion_open = np.int32(up_h - gap_open)
    insertion_extend = np.int32(up_i - gap_extend)
    insertion = max(insertion_open, insertion_extend)
    diagonal = np.int32(diagonal_h + substitution)
    value = max(diagonal, max(deletion, insertion))
    source = 0 if value == diagonal else (1 if value == deletion else 2)
    bits = np.int32(
        source
        + (4 if deletion_extend > deletion_open else 0)
        + (8 if insertion_extend > insertion_open else 0)
    )
    return value, deletion, insertion, bits


_cell = cuda.jit(device=True)(cell_update)


@cuda.jit(device=True)
def _gap_edge(position, free, gap_open, gap_extend):
    """H of row or column 0 at ``position``: 0 where that start is free, else the cost of a
    leading gap of ``position`` bases."""
    if position == 0 or free:
        return np.int32(0)
    return np.int32(-(gap_open + (position - 1) * gap_extend))


@cuda.jit(device=True)
def _direction(directions, base, strips, width, lane, row, column):
    """The direction bits of cell ``(row, column)`` (both from 1) of one thread."""
    word = directions[base + ((row - 1) * strips + (column - 1) // STRIP_COLUMNS) * width + lane]
    shift = np.uint64(8 * ((column - 1) % STRIP_COLUMNS))
    return np.int64((word >> shift) & np.uint64(255))


@cuda.jit(device=True)
def _trace(
    directions,
    base,
    strips,
    width,
    lane,
    row,
    column,
    query_codes,
    query_start,
    reference,
    left,
    match_table,
    start_row_free,
    start_column_free,
    operations,
    end,
    results,
    result,
):
    """Follow the direction bits from (row, column) back to the start, writing the operations
    backwards before ``operations[end]``, then the start cell and the counts (the walk of
    :func:`streamalign.kernels.gotoh._trace`)."""
    written = 0
    state = 0
    matches = 0
    insertions = 0
    deletions = 0
    while True:
        if state == 0:
            if row == 0 or column == 0:
                if row == 0 and not start_column_free:
                    for _ in range(column):
                        operations[end - 1 - written] = DELETION
                        written += 1
                    deletions += column
                    column = 0
                if column == 0 and not start_row_free:
                    for _ in range(row):
                        operations[end - 1 - written] = INSERTION
                        written += 1
                    insertions += row
                    row = 0
                break
            bits = _direction(directions, base, strips, width, lane, row, column)
            source = bits & 3
            if source == 0:
                query_code = np.int64(query_codes[query_start + row - 1])
                reference_code = np.int64(reference[left + column - 1])
                is_match = np.int64(match_table[query_code * 16 + reference_code])
                operations[end - 1 - written] = MISMATCH - is_match
                matches += is_match
                written += 1
                row -= 1
                column -= 1
                continue
            if source == 3:
                break
            state = source  # H came from a gap: take its first step on this same cell
        else:
            bits = _direction(directions, base, strips, width, lane, row, column)
        if state == 1:
            operations[end - 1 - written] = DELETION
            deletions += 1
            column -= 1
            state = 1 if bits & 4 else 0
        else:
            operations[end - 1 - written] = INSERTION
            insertions += 1
            row -= 1
            state = 2 if bits & 8 else 0
        written += 1
    results[result + QUERY_START] = row
    results[result + REFERENCE_START] = column
    results[result + MATCHES] = matches
    results[result + MISMATCHES] = written - matches - insertions - deletions
    results[result + INSERTIONS] = insertions
    results[result + DELETIONS] = deletions
    results[result + OPERATION_COUNT] = written


@cuda.jit(cache=True)
def align_pairs(
    table,
    query_codes,
    reference,
    substitution,
    match_table,
    parameters,
    flags,
    traceback,
    directions,
    column_h,
    column_d,
    results,
    operations,
):
    """Align each thread's pair; write its results (and operations) in place.

    Args:
        table: ``int64`` thread table (:func:`~streamalign.kernels.cuda.layout.thread_table`).
        query_codes: ``uint8`` codes of all queries, concatenated.
        reference: ``uint8`` codes of the reference (windows index into it).
        substitution: ``int32`` flat ``[16 * query code + reference code]`` scores.
        match_table: ``uint8`` flat, 1 where a column counts as a match (``=``).
        parameters: ``int32`` ``[gap_open, gap_extend, minus_infinity]``.
        flags: an ``int`` of :class:`~streamalign.kernels.inputs.EndFlags`.
        traceback: whether to store directions and trace the alignment back.
        directions: ``uint64`` direction words of the launch (unused without traceback).
        column_h, column_d: ``int32`` column buffers of the launch.
        results: ``int64`` ``RESULT_FIELDS`` per thread.
        operations: ``uint8`` operations of the launch (unused without traceback).
    """
    shared_substitution = cuda.shared.array(_TABLE_SIZE, np.int32)
    position = cuda.threadIdx.x
    while position < _TABLE_SIZE:
        shared_substitution[position] = substitution[position]
        position += cuda.blockDim.x
    cuda.syncthreads()
    thread = cuda.grid(1)
    if thread * TABLE_FIELDS >= table.shape[0]:
        return
    entry = thread * TABLE_FIELDS
    if table[entry + QUERY] < 0:
        return
    length = table[entry + LENGTH]
    lane = table[entry + LANE]
    width = table[entry + WIDTH]
    query_start = table[entry + CODES]
    buffer = table[entry + BUFFER]
    direction_base = table[entry + DIRECTIONS]
    left = table[entry + LEFT]
    columns = table[entry + COLUMNS]
    gap_open = parameters[0]
    gap_extend = parameters[1]
    minus_infinity = parameters[2]
    zero = np.int32(0)
    local = (flags & _LOCAL) != 0
    query_end_free = (flags & _QUERY_END_FREE) != 0
    reference_end_free = (flags & _REFERENCE_END_FREE) != 0
    start_row_free = local or (flags & _QUERY_START_FREE) != 0
    start_column_free = local or (flags & _REFERENCE_START_FREE) != 0
    strips = (columns + STRIP_COLUMNS - 1) // STRIP_COLUMNS
    # Column 0: H is the leading-insertion cost (0 where the query start is free), D minus
    # infinity (a deletion needs a reference base).
    for row in range(length + 1):
        cell = buffer + row * width + lane
        column_h[cell] = _gap_edge(row, start_row_free, gap_open, gap_extend)
        column_d[cell] = minus_infinity
    # The last row's first maximum, left to right, from column 0.
    best_score = column_h[buffer + length * width + lane]
    best_column = 0
    # Local mode: the first maximum in row-major order (row first, then column).
    local_score = zero
    local_row = 0
    local_column = 0
    above_h = cuda.local.array(STRIP_COLUMNS, np.int32)
    above_i = cuda.local.array(STRIP_COLUMNS, np.int32)
    reference_row = cuda.local.array(STRIP_COLUMNS, np.int32)
    for strip in range(strips):
        first_column = strip * STRIP_COLUMNS + 1
        count = min(STRIP_COLUMNS, columns - first_column + 1)
        for step in range(STRIP_COLUMNS):
            above_h[step] = _gap_edge(first_column + step, start_column_free, gap_open, gap_extend)
            above_i[step] = minus_infinity
            reference_row[step] = 0
            if step < count:
                reference_row[step] = reference[left + first_column - 1 + step]
        diagonal_h = _gap_edge(first_column - 1, start_column_free, gap_open, gap_extend)
        for row in range(1, length + 1):
            cell = buffer + row * width + lane
            left_h = column_h[cell]
            left_d = column_d[cell]
            next_diagonal = left_h
            code_row = np.int32(query_codes[query_start + row - 1]) * 16
            word = np.uint64(0)
            for step in range(STRIP_COLUMNS):
                if step < count:
                    value, deletion, insertion, bits = _cell(
                        left_h,
                        left_d,
                        above_h[step],
                        above_i[step],
                        diagonal_h,
                        shared_substitution[code_row + reference_row[step]],
                        gap_open,
                        gap_extend,
                    )
                    if local:
                        if value <= zero:  # the local alignment starts here
                            bits = np.int32((bits & 12) | 3)
                            value = zero
                        if value > local_score or (value == local_score and row < local_row):
                            local_score = value
                            local_row = row
                            local_column = first_column + step
                    word |= np.uint64(bits) << np.uint64(8 * step)
                    diagonal_h = above_h[step]
                    above_h[step] = value
                    above_i[step] = insertion
                    left_h = value
                    left_d = deletion
            if traceback:
                directions[direction_base + ((row - 1) * strips + strip) * width + lane] = word
            column_h[cell] = left_h
            column_d[cell] = left_d
            diagonal_h = next_diagonal
        if reference_end_free and not local:
            # above_h holds the strip's last row (row 0 for an empty query).
            for step in range(STRIP_COLUMNS):
                if step < count and above_h[step] > best_score:
                    best_score = above_h[step]
                    best_column = first_column + step
        # Row 0 of the buffer follows the strip's last column too (the last column's scan).
        column_h[buffer + lane] = _gap_edge(
            first_column + count - 1, start_column_free, gap_open, gap_extend
        )
    end_row = length
    end_column = columns
    if local:
        score = local_score
        end_row = local_row
        end_column = local_column
    else:
        if reference_end_free:
            score = best_score
            end_column = best_column
        else:
            score = column_h[buffer + length * width + lane]
        if query_end_free:
            # The last column top to bottom, after the last row's candidates.
            column_score = column_h[buffer + lane]
            column_row = 0
            for row in range(1, length + 1):
                value = column_h[buffer + row * width + lane]
                if value > column_score:
                    column_score = value
                    column_row = row
            if not reference_end_free or column_score > score:
                score = column_score
                end_row = column_row
                end_column = columns
    result = thread * RESULT_FIELDS
    results[result + SCORE] = score
    results[result + QUERY_END] = end_row
    results[result + REFERENCE_END] = end_column
    if traceback:
        _trace(
            directions,
            direction_base,
            strips,
            width,
            lane,
            end_row,
            end_column,
            query_codes,
            query_start,
            reference,
            left,
            match_table,
            start_row_free,
            start_column_free,
            operations,
            table[entry + OPERATIONS_END],
            results,
            result,
        )
    else:
        for field in range(QUERY_START, RESULT_FIELDS):
            if field != QUERY_END and field != REFERENCE_END:
                results[result + field] = 0
