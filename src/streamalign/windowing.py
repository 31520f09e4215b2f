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
