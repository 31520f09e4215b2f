"""Traceback in a window of the reference: exact, for reads much shorter than the reference.

Aligning 250-bp reads semi-globally to a 1,500-bp gene with traceback stores direction bits for
every cell of the 250 x 1,500 matrix, most of them far from where the read lands. When both
reference ends are free (semi-global, local), a score-only pass first finds each query's best
score ``S`` and end column ``c1``. Every alignment that scores ``S`` then lies in the columns
``[c1 - span, c1]``: it has at most ``len(query)`` diagonal steps, each worth at most the best
substitution score ``m``, and ``D`` deleted reference bases cost at least
``gap_open + (D - 1) * gap_extend``, so ``S <= m * len(query) - gap_open - (D - 1) *
gap_extend`` bounds ``D`` and ``span = len(query) + D``.

The traceback pass then runs on the window only. It gives the very alignment of the full
matrix, ties included: a window holds a subset of the full matrix's paths, so every window
value is at most the full value, and equal on the cells of every optimal path (all inside the
window). Each choice the traceback makes compares a value on the path with values that can only
have dropped, so it chooses the same way; and the end cell, the first maximum, stays first.

Queries are sorted by window start and grouped (those with windows wider than half the
reference apart; :func:`streamalign.kernels.planning.plan_windows`); a group's window is the
union of its queries'. Amplicon reads land in one place, so their windows overlap: for the
MiSeq reads of the benchmarks against the 16S gene the traceback shrinks to a quarter of the
matrix (``planning.group_cells`` of the plan over the full cells: 0.25 for ``sam1F.fastq.gz``
against ``ecoli_16S.fa`` in groups of 160). Reads spread over a long reference gain less, and
the caller falls back to the full matrix when the windows would not save enough.

The same argument, by diagonals instead of columns, gives the band of the banded traceback
for long pairs (:func:`band_diagonals`, :mod:`streamalign.kernels.banded`).

Example:
    >>> import numpy as np
    >>> from streamalign import Scoring
    >>> window_starts(np.array([240]), np.array([900]), np.array([250]), Scoring(), False)
    array([647])
"""

from __future__ import annotations

import numpy as np

from .scoring import Scoring


def window_starts(
    scores: np.ndarray,
    end_columns: np.ndarray,
    spans: np.ndarray,
    scoring: Scoring,
    local: bool,
) -> np.ndarray:
    """First reference column of each query's window (integer score units throughout).

    Args:
        scores: best score of each query (from the score-only pass).
        end_columns: reference column where each best alignment ends.
        spans: query bases the alignment may consume (the query length; in local mode the
            end row).
        scoring: the scoring (``gap_extend`` must be positive).
        local: local mode: a query that scores 0 aligns nothing and ends at column 0, so its
            window starts at 0.
    """
    best_substitution = max(int(scoring.integer_matrix.max()), 0)
    gap_open = scoring.integer_gap_open
    gap_extend = scoring.integer_gap_extend
    scores = scores.astype(np.int64)
    slack = best_substitution * spans.astype(np.int64) - scores - gap_open
    deletions = np.where(slack >= 0, slack // gap_extend + 1, 0)
    starts = np.maximum(end_columns - spans - deletions, 0)
    if local:
        starts[scores <= 0] = 0
    return starts


def _gap_cost(gaps: np.ndarray, gap_open: int, gap_extend: int) -> np.ndarray:
    """Least cost of ``gaps`` gap columns of one kind (one run: ``Scoring`` keeps
    ``gap_open >= gap_extend``, so splitting a run never makes it cheaper)."""
    return np.where(gaps > 0, gap_open + (gaps - 1) * gap_extend, 0)


def _largest_feasible(bound, low: np.ndarray, high: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per query, the largest ``x`` in ``[low, high]`` with ``bound(x) >= score`` (``bound``
    non-increasing); ``high`` where even ``low`` fails (never for a true score: it only
    widens the band)."""
    low = low.copy()
    high = np.maximum(high, low)
    failed = bound(low) < scores
    while True:
        open_ = low < high
        if not open_.any():
            break
        middle = (low + high + 1) // 2
        feasible = bound(middle) >= scores
        low = np.where(open_ & feasible, middle, low)
        high = np.where(open_ & ~feasible, middle - 1, high)
    return np.where(failed, high, low)


def band_diagonals(
    scores: np.ndarray,
    end_rows: np.ndarray,
    end_columns: np.ndarray,
    scoring: Scoring,
    ends: tuple[bool, bool, bool, bool],
    local: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """The diagonals ``column - row`` that every optimal alignment of each query stays in.

    The argument: an alignment is a path from a start cell to the end cell ``(i1, j1)`` (of
    diagonal ``d1 = j1 - i1``) with ``X`` diagonal, ``D`` deletion and ``I`` insertion
    columns (leading gaps along row 0 or column 0 included). Read backwards from the end, a
    deletion lowers the diagonal by one and an insertion raises it, so the whole path lies in
    ``[d1 - D, d1 + I]``. The path consumes at most ``i1`` query and ``j1`` reference bases:
    ``X <= min(i1 - I, j1 - D)``; each diagonal column scores at most ``m``, the best
    substitution score (or 0), and ``g > 0`` gap columns of one kind cost at least
    ``gap_open + (g - 1) * gap_extend``. So an alignment scoring ``S`` (the optimum, from the
    score-only pass) has ``S <= m * min(i1, j1 - D) - cost(D)``, which bounds ``D``, and
    likewise ``I``. When both starts are fixed (not local, neither start free) the path
    starts at ``(0, 0)``: then ``D - I = d1`` and ``X = i1 - I`` exactly, so
    ``S <= m * (i1 - I) - cost(I) - cost(I + d1)`` bounds ``I``, and the band is
    ``[-I, d1 + I]``. The bounds are non-increasing in ``D`` and ``I``: a binary search
    finds the largest value each allows.

    Args:
        scores: optimal score of each query (integer units).
        end_rows, end_columns: the end cell of each query's optimal alignment.
        scoring: the scoring.
        ends: (query_start_free, query_end_free, reference_start_free, reference_end_free).
        local: Smith-Waterman (the alignment may start anywhere).

    Returns:
        ``(lower, upper)``: ``int64`` first and last diagonal of each band, within
        ``[-end_row, end_column]``.

    Example:
        >>> ends_fixed = (False, False, False, False)
        >>> band_diagonals(np.array([89, 97]), np.array([100, 100]), np.array([100, 100]),
        ...                Scoring(), ends_fixed, False)
        (array([-1,  0]), array([1, 0]))
    """
    best = max(int(scoring.integer_matrix.max()), 0)
    gap_open = scoring.integer_gap_open
    gap_extend = scoring.integer_gap_extend
    scores = scores.astype(np.int64)
    rows = end_rows.astype(np.int64)
    columns = end_columns.astype(np.int64)
    diagonal = columns - rows
    zero = np.zeros_like(rows)
    if not local and not ends[0] and not ends[2]:

        def joint(insertions: np.ndarray) -> np.ndarray:
            return (
                best * (rows - insertions)
                - _gap_cost(insertions, gap_open, gap_extend)
                - _gap_cost(insertions + diagonal, gap_open, gap_extend)
            )

        insertions = _largest_feasible(joint, np.maximum(-diagonal, 0), rows, scores)
        lower, upper = -insertions, diagonal + insertions
    else:

        def by_deletions(deletions: np.ndarray) -> np.ndarray:
            diagonal_columns = np.minimum(rows, columns - deletions)
            return best * diagonal_columns - _gap_cost(deletions, gap_open, gap_extend)

        def by_insertions(insertions: np.ndarray) -> np.ndarray:
            diagonal_columns = np.minimum(rows - insertions, columns)
            return best * diagonal_columns - _gap_cost(insertions, gap_open, gap_extend)

        deletions = _largest_feasible(by_deletions, zero, columns, scores)
        insertions = _largest_feasible(by_insertions, zero, rows, scores)
        lower, upper = diagonal - deletions, diagonal + insertions
    return np.maximum(lower, -rows), np.minimum(upper, columns)


def narrowest_bands(
    lengths: np.ndarray, reference_length: int, ends: tuple[bool, bool, bool, bool], local: bool
) -> np.ndarray:
    """A lower bound on each query's band cells (:func:`band_diagonals`), before any score
    is known: what the ends fixed by the mode force. A query with both ends fixed has its
    ``len - reference_length`` surplus bases as insertions, a reference with both ends fixed
    its surplus as deletions, each a diagonal more; a fixed query end makes the band as tall
    as the query. So a 50-Mb read against a gene, globally, is turned down before its
    score-only pass.

    Example:
        >>> narrowest_bands(np.array([10, 1000]), 100, (False, False, False, False), False)
        array([   910, 901000])
    """
    lengths = lengths.astype(np.int64)
    if local:
        return np.zeros_like(lengths)
    width = np.ones_like(lengths)
    if not ends[0] and not ends[1]:
        width += np.maximum(lengths - reference_length, 0)
    if not ends[2] and not ends[3]:
        width += np.maximum(reference_length - lengths, 0)
    rows = lengths if not ends[1] else np.zeros_like(lengths)
    return rows * width
