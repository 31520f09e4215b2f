"""A slow, obviously correct reference for the Gotoh kernels: plain Python, one pair at a time.

This module exists for the tests. It implements the rules documented at the top of
:mod:`streamalign.kernels.gotoh` from their description, with full matrices and no tricks, so
that the fast kernel can be checked against it cell for cell: same score, same end cell, same
start cell and the same operations, ties included.

Rules (query rows ``i = 0..m``, reference columns ``j = 0..n``, costs ``o`` = open and
``e`` = extend, ``s`` the substitution score)::

    D[i][j] = max(H[i][j-1] - o, D[i][j-1] - e)   deletion: a reference base against a gap
    I[i][j] = max(H[i-1][j] - o, I[i-1][j] - e)   insertion: a query base against a gap
    H[i][j] = max(H[i-1][j-1] + s(q_i, r_j), D[i][j], I[i][j])     (clamped at 0 when local)

Boundaries: ``H[0][0] = 0``; ``H[0][j]`` is 0 when the reference start is free (or local), else
the cost of a leading deletion of ``j`` bases, ``-(o + (j - 1) * e)``; ``H[i][0]`` likewise with
the query start and a leading insertion. ``D`` of column 0 and ``I`` of row 0 are minus infinity
(a gap state needs one base of its own sequence).

Ties: the alignment is read back from the end cell by recomputing which term gave each value.
``H`` prefers the diagonal, then the deletion, then the insertion; a gap prefers having been
opened (from ``H``) over having been extended. In local mode a cell whose ``H`` is 0 starts the
alignment (nothing before it is kept). Reaching row 0 or column 0 ends the walk: the remaining
bases of the other sequence become leading deletions/insertions when that start is not free,
otherwise they stay unaligned.

End cell: in local mode the first maximum of ``H`` in row-major order (the empty alignment at
(0, 0) when nothing scores above 0). Otherwise the first maximum of the list made of the last
query row left to right (only when the reference end is free) followed by the last reference
column top to bottom (only when the query end is free); when neither end is free, ``(m, n)``.

Example:
    >>> from streamalign.alphabet import encode_string
    >>> from streamalign.scoring import Scoring
    >>> scoring = Scoring()  # match 1, mismatch -2, gap open 5, gap extend 2
    >>> result = align_pair(
    ...     encode_string("ACGTTGCA"), encode_string("ACGTGCA"),
    ...     scoring.integer_matrix, scoring.match_table,
    ...     scoring.integer_gap_open, scoring.integer_gap_extend,
    ... )
    >>> result.score, result.operations
    (2, '===I====')
    >>> local = align_pair(
    ...     encode_string("TTACGTT"), encode_string("GGACGTGG"),
    ...     scoring.integer_matrix, scoring.match_table, 5, 2, local=True,
    ... )
    >>> local.score, (local.query_start, local.query_end), local.operations
    (4, (2, 6), '====')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

MINUS_INFINITY = float("-inf")


class SlowResult(NamedTuple):
    """One alignment: integer score, half-open spans, and one letter of ``=XID`` per column."""

    score: int
    query_start: int
    query_end: int
    reference_start: int
    reference_end: int
    operations: str


def _as_table(table: Any) -> list[list[int]]:
    """A 2-D array-like as nested lists of Python ints (fast indexing, exact arithmetic)."""
    return [[int(value) for value in row] for row in table]


def align_pair(
    query_codes: Sequence[int],
    reference_codes: Sequence[int],
    substitution: Any,
    match_table: Any,
    gap_open: int,
    gap_extend: int,
    query_start_free: bool = False,
    query_end_free: bool = False,
    reference_start_free: bool = False,
    reference_end_free: bool = False,
    local: bool = False,
) -> SlowResult:
    """Align one query against one reference with affine gaps (three-state Gotoh).

    Args:
        query_codes: codes of the query (:mod:`streamalign.alphabet`), one per row.
        reference_codes: codes of the reference, one per column.
        substitution: integer scores indexed ``[query code][reference code]``.
        match_table: truthy where a diagonal column is written ``=`` (else ``X``).
        gap_open: integer cost (>= 0) of the first position of a gap.
        gap_extend: integer cost (>= 0) of each further position.
        query_start_free, query_end_free, reference_start_free, reference_end_free: whether
            that end of that sequence may stay unaligned at no cost. Ignored when ``local``.
        local: Smith-Waterman (scores clamped at 0, all four ends free).

    Returns:
        A :class:`SlowResult` in the same integer units as the inputs.
    """
    query = [int(code) for code in query_codes]
    reference = [int(code) for code in reference_codes]
    scores = _as_table(substitution)
    matches = _as_table(match_table)
    gap_open = int(gap_open)
    gap_extend = int(gap_extend)
    if local:
        query_start_free = query_end_free = reference_start_free = reference_end_free = True
    rows = len(query)
    columns = len(reference)

    def leading_gap(length: int, free: bool) -> int:
        if length == 0 or free:
            return 0
        return -(gap_open + (length - 1) * gap_extend)

    # Full matrices, indexed [row][column]. Gap states may hold minus infinity.
    h_matrix = [[0] * (columns + 1) for _ in range(rows + 1)]
    d_matrix: list[list[float]] = [[MINUS_INFINITY] * (columns + 1) for _ in range(rows + 1)]
    i_matrix: list[list[float]] = [[MINUS_INFINITY] * (columns + 1) for _ in range(rows + 1)]
    for column in range(columns + 1):
        h_matrix[0][column] = leading_gap(column, reference_start_free)
    for row in range(rows + 1):
        h_matrix[row][0] = leading_gap(row, query_start_free)

    for row in range(1, rows + 1):
        h_row = h_matrix[row]
        h_above = h_matrix[row - 1]
        d_row = d_matrix[row]
        i_row = i_matrix[row]
        i_above = i_matrix[row - 1]
        query_scores = scores[query[row - 1]]
        for column in range(1, columns + 1):
            deletion = max(h_row[column - 1] - gap_open, d_row[column - 1] - gap_extend)
            insertion = max(h_above[column] - gap_open, i_above[column] - gap_extend)
            diagonal = h_above[column - 1] + query_scores[reference[column - 1]]
            value = max(diagonal, deletion, insertion)
            if local and value < 0:
                value = 0
            d_row[column] = deletion
            i_row[column] = insertion
            h_row[column] = int(value)

    end_row, end_column = _end_cell(
        h_matrix, rows, columns, query_end_free, reference_end_free, local
    )

    # Walk back from the end cell, recomputing which term produced each value.
    operations: list[str] = []
    row, column = end_row, end_column
    state = "H"
    while True:
        if state == "H":
            if row == 0 or column == 0:
                if row == 0 and not reference_start_free:
                    operations.extend("D" * column)
                    column = 0
                if column == 0 and not query_start_free:
                    operations.extend("I" * row)
                    row = 0
                break
            value = h_matrix[row][column]
            if local and value == 0:
                break  # H <= 0 before clamping: the alignment starts here
            query_code = query[row - 1]
            reference_code = reference[column - 1]
            if value == h_matrix[row - 1][column - 1] + scores[query_code][reference_code]:
                operations.append("=" if matches[query_code][reference_code] else "X")
                row -= 1
                column -= 1
            elif value == d_matrix[row][column]:
                state = "D"
            else:
                assert value == i_matrix[row][column]
                state = "I"
        elif state == "D":
            operations.append("D")
            opened = d_matrix[row][column] == h_matrix[row][column - 1] - gap_open
            column -= 1
            if opened:
                state = "H"
        else:
            operations.append("I")
            opened = i_matrix[row][column] == h_matrix[row - 1][column] - gap_open
            row -= 1
            if opened:
                state = "H"
    operations.reverse()
    return SlowResult(
        score=h_matrix[end_row][end_column],
        query_start=row,
        query_end=end_row,
        reference_start=column,
        reference_end=end_column,
        operations="".join(operations),
    )


def _end_cell(
    h_matrix: list[list[int]],
    rows: int,
    columns: int,
    query_end_free: bool,
    reference_end_free: bool,
    local: bool,
) -> tuple[int, int]:
    """The cell where the alignment ends (first maximum in the documented order)."""
    if local:
        candidates = [(row, column) for row in range(rows + 1) for column in range(columns + 1)]
    else:
        candidates = []
        if reference_end_free:
            candidates += [(rows, column) for column in range(columns + 1)]
        if query_end_free:
            candidates += [(row, columns) for row in range(rows + 1)]
        if not candidates:
            candidates = [(rows, columns)]
    best = candidates[0]
    for row, column in candidates[1:]:
        if h_matrix[row][column] > h_matrix[best[0]][best[1]]:
            best = (row, column)
    return best
