"""Thresholds that choose references: what ``align_many(..., all_references=True,
min_score=..., min_identity=...)`` keeps of each query's alignments.

A record *passes* when its score is at least ``min_score`` and its identity (matches /
alignment columns, :attr:`~streamalign.results.AlignmentBatch.identities`) at least
``min_identity``: the very comparisons, in the same floating point, that the command line's
``--min-score`` and ``--min-identity`` make to call a record mapped. With every reference, a
query keeps one record per reference whose alignment (with ``strand="both"``, the better
strand of that reference, as ``all_references=True`` alone gives) passes, in reference file
order; a query with no passing reference keeps exactly one record, its best alignment (the one
``all_references=False`` reports; it fails the threshold, so it is written as unmapped). The
best passing record of a query is its primary one (:func:`secondary_records`): the highest
score, ties to the first reference.

:meth:`Threshold.select` applies this to the records of every reference;
:mod:`streamalign.search.passing` reaches the same records without aligning the references
that cannot pass.

Example:
    >>> from streamalign import Aligner
    >>> genes = {"a": "ACGTTGCAGGTACCGATTAGC", "b": "TTGACCGATAGCATGCAAGT", "c": "ACGTTGCAGG"}
    >>> aligner = Aligner(genes, mode="semiglobal")
    >>> batch = aligner.align_many(["ACGTTGCAGG", "GGGGGGGGGG"], all_references=True,
    ...                            min_score=8)
    >>> batch.record_queries.tolist(), batch.reference_index.tolist(), batch.scores.tolist()
    ([0, 0, 1], [0, 2, 0], [10.0, 10.0, -8.0])
    >>> secondary_records(batch.integer_scores, batch.record_queries).tolist()
    [False, True, False]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .results import AlignmentBatch


@dataclass(frozen=True)
class Threshold:
    """A record passes when ``score >= min_score`` and ``identity >= min_identity`` (an
    absent bound: no condition).

    Raises:
        ValueError: ``min_score`` is NaN, or ``min_identity`` is not between 0 and 1.
    """

    min_score: float | None = None
    min_identity: float | None = None

    def __post_init__(self) -> None:
        if self.min_score is not None and math.isnan(self.min_score):
            raise ValueError("min_score must be a number, got nan")
        if self.min_identity is not None and not 0.0 <= self.min_identity <= 1.0:
            raise ValueError(f"min_identity must be between 0 and 1, got {self.min_identity}")

    @classmethod
    def of(cls, min_score: float | None, min_identity: float | None) -> Threshold | None:
        """The threshold of these bounds, or None when neither is given."""
        if min_score is None and min_identity is None:
            return None
        return cls(min_score, min_identity)

    @property
    def score_floor(self) -> float:
        """``min_score``, or minus infinity when absent."""
        return -math.inf if self.min_score is None else float(self.min_score)

    def scores_pass(self, integer_scores: np.ndarray, scale: int) -> np.ndarray:
        """Whether scaled integer scores (or upper bounds of them) reach ``min_score``,
        compared as :attr:`AlignmentBatch.scores` are (``integer / scale``, ``float64``)."""
        return np.asarray(integer_scores) / scale >= self.score_floor

    def passes(self, batch: AlignmentBatch) -> np.ndarray:
        """One bool per record of ``batch``: it passes."""
        passing = self.scores_pass(batch.integer_scores, batch.scoring.scale)
        if self.min_identity is not None:
            passing &= batch.identities >= self.min_identity
        return passing

    def select(self, batch: AlignmentBatch, reference_count: int) -> AlignmentBatch:
        """From the query-major records of every reference (``reference_count`` per query, as
        ``all_references=True`` gives them), each query's passing records, or its best one
        (highest score, ties to the first reference) when none passes; ``record_queries``
        says whose each record is."""
        count = len(batch) // reference_count if reference_count else 0
        passing = self.passes(batch).reshape(count, reference_count)
        best = np.argmax(batch.integer_scores.reshape(count, reference_count), axis=1)
        none = np.flatnonzero(~passing.any(axis=1))
        passing[none, best[none]] = True
        records = np.flatnonzero(passing.reshape(-1))
        selected = batch.take(records)
        selected.record_queries = records // max(reference_count, 1)
        return selected


def secondary_records(integer_scores: np.ndarray, record_queries: np.ndarray) -> np.ndarray:
    """All records but each query's best (highest score, ties: its first record), for records
    grouped by query (``record_queries``, non-decreasing)."""
    count = len(integer_scores)
    secondary = np.ones(count, dtype=bool)
    if not count:
        return secondary
    order = np.lexsort((np.arange(count), -np.asarray(integer_scores), record_queries))
    grouped = np.asarray(record_queries)[order]
    first = np.concatenate(([True], grouped[1:] != grouped[:-1]))
    secondary[order[first]] = False
    return secondary
