"""Which alignments are better than chance: the default rule for "mapped".

Every query gets an alignment, but an alignment that random sequence would reach as easily
tells nothing: a read aligned to the wrong strand scores like random DNA. A record is reported
*mapped* when its alignment holds a stretch of consecutive columns (gaps costed as in the
alignment) whose score random sequence reaches with an expected count of at most
:data:`CHANCE_EXPECTATION` (one in a thousand) for its lengths.

The bound is Karlin and Altschul's (PNAS 87:2264, 1990): for a query of length ``m``, a
reference of length ``n``, and letters drawn uniformly from ``ACGT``, the expected number of
local alignments scoring at least ``S`` is about ``K m n exp(-lambda S)``, where ``lambda`` is
the positive root of ``sum_ij p_i p_j exp(lambda s_ij) = 1``. With ``K = 1`` (an upper bound
for DNA scorings: published values are below 1) the threshold is::

    S_chance = (ln(m n) + ln(1 / CHANCE_EXPECTATION)) / lambda

For the defaults (match 1, mismatch -2) ``lambda = ln((3 + sqrt 21) / 2) = 1.333``, so a 250-bp
read against a 1,465-bp gene needs a stretch scoring at least 14.8: real MiSeq 16S reads have
one of 40 at the median (99.8% reach the threshold), reads of the wrong strand at most 11
(``benchmarks/chance.py``). The best stretch of an alignment
is itself a local alignment, so no stretch of a chance alignment can beat the local bound. When
the scoring gives random columns a non-negative expected score (or no positive score at all),
``lambda`` does not exist, no chance level can be told, and every alignment counts as mapped.

``--min-score`` and ``--min-identity`` replace this rule by their own threshold.

Example:
    >>> from streamalign import Aligner
    >>> from streamalign.scoring import Scoring
    >>> round(chance_lambda(Scoring()), 4)
    1.3327
    >>> aligner = Aligner("GAGTTTGATCCTGGCTCAGATTGAACGCTGGCGGCATGCTTAACACATGCAAGTCGAACGG")
    >>> batch = aligner.align_many(["GAGTTTGATCCTGGCTCAGATTGAACGCTGGCGG", "CCGTTCGACTTGCATG"])
    >>> ChanceFilter(aligner.references, aligner.scoring).mapped(batch).tolist()
    [True, False]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .alphabet import ENCODE_TABLE
from .kernels.segments import best_stretch_scores
from .references import ReferenceSequences
from .results import AlignmentBatch
from .scoring import Scoring

#: Expected number of chance alignments of one query that reach the threshold.
CHANCE_EXPECTATION = 1e-3


def chance_lambda(scoring: Scoring) -> float | None:
    """Karlin-Altschul ``lambda`` (per unit of the caller's scores) for uniform ``ACGT``;
    None when random columns do not score negative on average or nothing scores positive.

    Example:
        >>> chance_lambda(Scoring(match=2, mismatch=-3)) is not None
        True
        >>> chance_lambda(Scoring(match=1, mismatch=1)) is None
        True
    """
    scores = scoring.integer_matrix[:4, :4].astype(np.float64).ravel() / scoring.scale
    if scores.max() <= 0 or scores.mean() >= 0:
        return None

    def excess(value: float) -> float:
        return float(np.mean(np.exp(value * scores))) - 1.0

    # excess(0) = 0, falls below 0 just above 0 (mean score < 0) and grows without bound.
    high = 1.0
    while excess(high) <= 0:
        high *= 2.0
    low = 0.0
    for _ in range(200):
        middle = (low + high) / 2
        if excess(middle) > 0:
            high = middle
        else:
            low = middle
    return high


class ChanceFilter:
    """Marks which alignments of a batch beat chance (see the module docstring).

    Built once per run: it holds the references' bytes, which every batch reads.
    """

    def __init__(self, references: Sequence[str], scoring: Scoring) -> None:
        self.scoring = scoring
        if not isinstance(references, ReferenceSequences):  # an aligner's: its arrays as they are
            references = ReferenceSequences.from_strings(
                list(references), [f"reference {number}" for number in range(len(references))]
            )
        self.reference_lengths = references.lengths
        self.reference_offsets = references.offsets
        self.reference_ascii = references.ascii
        self.lambda_ = chance_lambda(scoring)

    def thresholds(self, query_lengths: np.ndarray, reference_lengths: np.ndarray) -> np.ndarray:
        """The stretch score (caller's units) a chance alignment of these lengths reaches with
        expected count :data:`CHANCE_EXPECTATION`; 0 where no chance level exists."""
        if self.lambda_ is None:
            return np.zeros(len(query_lengths))
        cells = np.maximum(query_lengths, 1) * np.maximum(reference_lengths, 1)
        return (np.log(cells.astype(np.float64)) - math.log(CHANCE_EXPECTATION)) / self.lambda_

    def stretch_scores(self, batch: AlignmentBatch) -> np.ndarray:
        """Best stretch score of each alignment, in the caller's units."""
        scores = np.zeros(len(batch), dtype=np.int64)
        if len(batch):
            best_stretch_scores(
                batch.queries.sequences,
                batch.queries.offsets.astype(np.int64),
                batch.query_starts,
                self.reference_ascii,
                self.reference_offsets,
                batch.reference_index,
                batch.reference_starts,
                batch.operations,
                batch.operation_offsets,
                ENCODE_TABLE,
                self.scoring.integer_matrix.astype(np.int64),
                int(self.scoring.integer_gap_open),
                int(self.scoring.integer_gap_extend),
                scores,
            )
        return scores / self.scoring.scale

    def mapped(self, batch: AlignmentBatch) -> np.ndarray:
        """True for the alignments whose best stretch reaches the chance threshold."""
        if self.lambda_ is None or not batch.has_alignment:
            return np.ones(len(batch), dtype=bool)
        query_lengths = np.diff(batch.queries.offsets)
        reference_lengths = self.reference_lengths[batch.reference_index]
        return self.stretch_scores(batch) >= self.thresholds(query_lengths, reference_lengths)
