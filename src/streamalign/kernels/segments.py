"""Best-scoring stretch of each alignment's path (numba, nogil).

Used by :mod:`streamalign.significance` to tell alignments from chance: the best stretch of
an alignment (contiguous columns, gaps costed as in the alignment) is a local alignment of the
two sequences, so random sequence reaches a given stretch score no more often than it reaches
that local alignment score.

Example:
    >>> import numpy as np
    >>> from streamalign.alphabet import ENCODE_TABLE
    >>> query = np.frombuffer(b"ACGTTTTACGT", np.uint8)
    >>> reference = np.frombuffer(b"ACGTACGT", np.uint8)
    >>> operations = np.array([0, 0, 0, 0, 2, 2, 2, 0, 0, 0, 0], np.uint8)  # 4=3I4=
    >>> matrix = np.where(np.eye(16, dtype=bool), 1, -2).astype(np.int64)
    >>> scores = np.zeros(1, np.int64)
    >>> best_stretch_scores(query, np.array([0, 11]), np.array([0]), reference,
    ...                     np.array([0, 8]), np.array([0]), np.array([0]), operations,
    ...                     np.array([0, 11]), ENCODE_TABLE, matrix, 5, 2, scores)
    >>> int(scores[0])  # either run of four matches; the gap (-9) costs more than it joins
    4
"""

from __future__ import annotations

from numba import njit

from .operations import DELETION, INSERTION, MISMATCH


@njit(nogil=True, cache=True)
def best_stretch_scores(
    query_ascii,
    query_offsets,
    query_starts,
    reference_ascii,
    reference_offsets,
    reference_index,
    reference_starts,
    operations,
    operation_offsets,
    encode_table,
    matrix,
    gap_open,
    gap_extend,
    scores,
):
    """Fill ``scores[k]`` with the best score of a run of consecutive columns of alignment
    ``k`` (0 when every column scores below 0), by Kadane's maximum-subarray scan.

    Args:
        query_ascii, query_offsets: the queries' ASCII bytes as aligned, and boundaries.
        query_starts: where each alignment starts in its query.
        reference_ascii, reference_offsets: every reference's ASCII bytes, and boundaries.
        reference_index, reference_starts: each alignment's reference and start in it.
        operations, operation_offsets: the alignments' operation codes, concatenated.
        encode_table: ASCII byte to code; matrix: integer scores ``[query, reference]``.
        gap_open, gap_extend: integer gap costs (a gap's first column costs ``gap_open``).
        scores: ``int64`` output, one per alignment.
    """
    for record in range(len(scores)):
        query_position = query_offsets[record] + query_starts[record]
        reference_position = reference_offsets[reference_index[record]] + reference_starts[record]
        running = 0
        best = 0
        previous = -1
        for index in range(operation_offsets[record], operation_offsets[record + 1]):
            operation = operations[index]
            if operation <= MISMATCH:
                column = matrix[
                    encode_table[query_ascii[query_position]],
                    encode_table[reference_ascii[reference_position]],
                ]
                query_position += 1
                reference_position += 1
            elif operation == INSERTION:
                column = -(gap_extend if previous == INSERTION else gap_open)
                query_position += 1
            else:  # DELETION
                column = -(gap_extend if previous == DELETION else gap_open)
                reference_position += 1
            previous = operation
            running += column
            if running < 0:
                running = 0
            elif running > best:
                best = running
        scores[record] = best
