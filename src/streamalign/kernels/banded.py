"""Banded traceback (numba, nogil): the full matrix's alignment, storing a band of it.

For a long pair the full traceback stores a direction byte per cell (100 MB for 10 kb x
10 kb, 2.5 GB for 50 kb x 50 kb). After a score-only pass has given a query's optimal score
and end cell, :func:`streamalign.windowing.band_diagonals` bounds the diagonals ``column -
row`` every optimal alignment stays in; this kernel runs the Gotoh recurrence of
:mod:`streamalign.kernels.gotoh` only on the cells of that band (rows 1 to the end row,
columns up to the end column), out-of-band cells counting as minus infinity, and stores
directions for band cells only: ``end_row x (upper - lower + 1)`` bytes.

Why the alignment is the very same, ties included: the band DP sees a subset of the full
matrix's paths, so each of its values is at most the full value. Every optimal alignment lies
in the band, so for a cell on an optimal path the best path into it (followed by the optimal
path's rest, an optimal alignment) lies in the band too: there the values agree. Each choice
of the walk back compares such a value with candidates that can only have dropped, or that
are on an optimal path themselves (and so agree): it chooses as the full matrix does, with
the same rules (H prefers the diagonal, then the deletion, then the insertion; a gap prefers
opening; local mode starts where H <= 0). The end cell is the score pass's, the first maximum
of the full matrix; the kernel reports the band's value there, which the caller checks
against the score pass.

Layout: row-major, band position ``k = column - row - lower``; cell ``(row, column)`` has its
diagonal neighbour at the same ``k`` of the row above, its upper neighbour at ``k + 1`` and its
left one at ``k - 1``. One query at a time (long pairs are few), int64 scores.

Example:
    >>> from streamalign.alphabet import encode_string
    >>> from streamalign.kernels.inputs import BandInput, KernelInput, KernelScoring
    >>> from streamalign.kernels.planning import GroupPlan
    >>> query, reference = encode_string("GATTACA"), encode_string("GATCACA")
    >>> kernel = KernelInput(
    ...     query, np.array([0, 7]), reference, GroupPlan.single(np.array([0]), 7),
    ...     KernelScoring.create(np.eye(16) * 3 - 2, np.eye(16), 5, 2, -(2**60), np.int64),
    ...     EndFlags.NONE, traceback=True)
    >>> band = BandInput(kernel, np.array([0]), np.array([0]), np.array([7]), np.array([7]))
    >>> outputs = KernelOutputs.allocate(np.array([7]), 7, traceback=True)
    >>> run(band, outputs)
    >>> outputs.scores.tolist(), outputs.counts.tolist()
    ([4], [[6, 1, 0, 0]])
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .inputs import BandInput, EndFlags
from .operations import DELETION, INSERTION, MISMATCH
from .outputs import KernelOutputs, traceback_scratch

_QUERY_START_FREE = int(EndFlags.QUERY_START_FREE)
_REFERENCE_START_FREE = int(EndFlags.REFERENCE_START_FREE)
_LOCAL = int(EndFlags.LOCAL)


def run(inputs: BandInput, outputs: KernelOutputs) -> None:
    """Align the planned queries of ``inputs`` in their bands; fill ``outputs`` in place.

    The one caller of :func:`align_bands`. Scores, spans, counts and operations are written
    for the queries the plan lists.

    Raises:
        RuntimeError: the walk back left a band (a band that did not hold an optimal
            alignment: a bug, never seen).
    """
    inputs.check()
    kernel = inputs.kernel
    outputs.check(len(kernel.query_offsets) - 1, len(kernel.reference_codes), True)
    scoring = kernel.scoring
    plan = kernel.plan
    escaped = align_bands(
        kernel.query_codes,
        kernel.query_offsets,
        plan.order,
        kernel.reference_codes,
        scoring.substitution,
        scoring.match_table,
        scoring.parameters,
        int(kernel.ends),
        inputs.lower_diagonals,
        inputs.upper_diagonals,
        inputs.end_rows,
        inputs.end_columns,
        traceback_scratch(plan.scratch_bytes),
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
    if escaped >= 0:
        raise RuntimeError(f"the traceback of query {escaped} left its band")


@njit(nogil=True, cache=True)
def align_bands(
    query_codes,
    query_offsets,
    order,
    reference_codes,
    substitution,
    match_table,
    parameters,
    flags,
    lower_diagonals,
    upper_diagonals,
    end_rows,
    end_columns,
    directions,
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
    """Banded Gotoh DP and traceback of each query in ``order``, one after another.

    Args (as :func:`streamalign.kernels.gotoh.align_groups`, and):
        order: ``int64`` the query numbers to align.
        parameters: ``int64`` ``[gap_open, gap_extend, minus_infinity]``.
        lower_diagonals, upper_diagonals: ``int64`` band of each query (by query number).
        end_rows, end_columns: ``int64`` end cell of each query.
        directions: ``uint8`` scratch of at least the largest ``end_row * band width``.

    Returns:
        -1, or the number of a query whose walk back left its band.
    """
    gap_open = parameters[0]
    gap_extend = parameters[1]
    minus_infinity = parameters[2]
    local = (flags & _LOCAL) != 0
    query_start_free = local or (flags & _QUERY_START_FREE) != 0
    reference_start_free = local or (flags & _REFERENCE_START_FREE) != 0
    match_flat = np.empty(256, np.uint8)
    for query_code in range(16):
        for reference_code in range(16):
            match_flat[query_code * 16 + reference_code] = (
                1 if match_table[query_code, reference_code] else 0
            )
    for member in range(order.shape[0]):
        query = order[member]
        query_start = query_offsets[query]
        end_row = end_rows[query]
        end_column = end_columns[query]
        lower = lower_diagonals[query]
        width = upper_diagonals[query] - lower + 1
        # H and I of the row above and of this row, by band position; slot ``width`` stays
        # minus infinity (the upper neighbour of the band's last cell).
        previous_h = np.full(width + 1, minus_infinity, np.int64)
        previous_i = np.full(width + 1, minus_infinity, np.int64)
        current_h = np.full(width + 1, minus_infinity, np.int64)
        current_i = np.full(width + 1, minus_infinity, np.int64)
        # Row 0: its band cells hold the boundary.
        for position in range(width):
            column = lower + position
            if 0 <= column <= end_column:
                if column == 0 or reference_start_free:
                    previous_h[position] = 0
                else:
                    previous_h[position] = -(gap_open + (column - 1) * gap_extend)
        for row in range(1, end_row + 1):
            first_column = max(0, row + lower)
            last_column = min(end_column, row + lower + width - 1)
            for position in range(width):
                current_h[position] = minus_infinity
                current_i[position] = minus_infinity
            left_h = minus_infinity
            deletion = minus_infinity
            row_code = np.int64(query_codes[query_start + row - 1])
            direction_base = (row - 1) * width
            for column in range(first_column, last_column + 1):
                position = column - row - lower
                if column == 0:
                    value = 0 if query_start_free else -(gap_open + (row - 1) * gap_extend)
                    current_h[position] = value
                    left_h = value
                    continue
                diagonal = (
                    previous_h[position]
                    + substitution[row_code, np.int64(reference_codes[column - 1])]
                )
                deletion_open = left_h - gap_open
                deletion_extend = deletion - gap_extend
                deletion = max(deletion_open, deletion_extend)
                insertion_open = previous_h[position + 1] - gap_open
                insertion_extend = previous_i[position + 1] - gap_extend
                insertion = max(insertion_open, insertion_extend)
                value = max(diagonal, max(deletion, insertion))
                if value == diagonal:
                    source = 0
                elif value == deletion:
                    source = 1
                else:
                    source = 2
                if local and value <= 0:
                    source = 3
                    value = 0
                if deletion_extend > deletion_open:
                    source += 4
                if insertion_extend > insertion_open:
                    source += 8
                directions[direction_base + position] = source
                current_h[position] = value
                current_i[position] = insertion
                left_h = value
            previous_h, current_h = current_h, previous_h
            previous_i, current_i = current_i, previous_i
        end_position = end_column - end_row - lower
        if end_row > 0 and end_column == 0:
            scores[query] = 0 if query_start_free else -(gap_open + (end_row - 1) * gap_extend)
        else:
            scores[query] = previous_h[end_position]
        query_ends[query] = end_row
        reference_ends[query] = end_column
        if not _trace_band(
            directions,
            width,
            lower,
            end_row,
            end_column,
            query_codes,
            query_start,
            reference_codes,
            match_flat,
            query_start_free,
            reference_start_free,
            operations,
            operation_offsets[query + 1],
            operation_lengths,
            query,
            counts,
            query_starts,
            reference_starts,
        ):
            return query
    return -1


@njit(nogil=True, cache=True)
def _trace_band(
    directions,
    width,
    lower,
    row,
    column,
    query_codes,
    query_start,
    reference,
    match_flat,
    query_start_free,
    reference_start_free,
    operations,
    end,
    operation_lengths,
    query_number,
    counts,
    query_starts,
    reference_starts,
):
    """Follow the band's direction bits from (row, column) back to the start, as
    ``gotoh._trace`` does on the full matrix; write the operations backwards, ending just
    before ``operations[end]``. False if the walk leaves the band."""
    written = 0
    state = 0
    matches = 0
    insertions = 0
    deletions = 0
    while True:
        if state == 0 and (row == 0 or column == 0):
            if row == 0 and not reference_start_free:
                for _ in range(column):
                    operations[end - 1 - written] = DELETION
                    written += 1
                deletions += column
                column = 0
            if column == 0 and not query_start_free:
                for _ in range(row):
                    operations[end - 1 - written] = INSERTION
                    written += 1
                insertions += row
                row = 0
            break
        position = column - row - lower
        if position < 0 or position >= width:
            return False
        bits = directions[(row - 1) * width + position]
        if state == 0:
            source = bits & 3
            if source == 0:
                query_code = np.int64(query_codes[query_start + row - 1])
                reference_code = np.int64(reference[column - 1])
                is_match = np.int64(match_flat[query_code * 16 + reference_code])
                operations[end - 1 - written] = MISMATCH - is_match
                matches += is_match
                written += 1
                row -= 1
                column -= 1
                continue
            if source == 3:
                break
            state = source  # H came from a gap: take its first step on this same cell
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
    operation_lengths[query_number] = written
    query_starts[query_number] = row
    reference_starts[query_number] = column
    counts[query_number, 0] = matches
    counts[query_number, 1] = written - matches - insertions - deletions
    counts[query_number, 2] = insertions
    counts[query_number, 3] = deletions
    return True
