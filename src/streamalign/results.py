"""Alignment results: a batch of arrays, and a per-record view.

An :class:`AlignmentBatch` keeps every result as numpy arrays (scores, coordinates, counts and
the concatenated edit operations), so writers can format a whole batch without building one
object per record. Indexing a batch gives an :class:`Alignment`, a light view of one record.

Coordinates are 0-based and half-open: the query aligns over ``query[query_start:query_end]``
and the reference over ``reference[reference_start:reference_end]``.

Example:
    >>> from streamalign import Aligner
    >>> batch = Aligner("ACGTACGT").align_many(["ACGTTACGT", "ACGAACGT"])
    >>> batch.cigars()
    ['3=1I5=', '3=1X4=']
    >>> batch[1].identity
    0.875
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .kernels.operations import CLASSIC_LETTERS, EXTENDED_LETTERS
from .kernels.outputs import KernelOutputs
from .records import SequenceBatch, _gather_indices
from .scoring import Scoring


@dataclass
class AlignmentBatch:
    """Results of aligning a batch of queries, as arrays (one entry per query).

    Attributes:
        queries: the query records (names, sequences as aligned, qualities).
        references: reference sequences as ASCII strings, indexed by ``reference_index``.
        reference_names: their names.
        scoring: the scoring used; ``scores`` are in its units.
        integer_scores: ``int64`` scores in the kernel's scaled integer units.
        query_starts, query_ends, reference_starts, reference_ends: ``int64`` spans.
        counts: ``int64`` ``(n, 4)``: matches, mismatches, inserted and deleted columns.
        operations: ``uint8`` edit operations of all records, concatenated (0 ``=``, 1 ``X``,
            2 ``I``, 3 ``D``); record ``k`` owns ``operations[operation_offsets[k]:
            operation_offsets[k + 1]]``. Empty when the batch was aligned score-only.
        reference_index: ``int64`` which reference each record aligned to.
        reverse: ``bool`` whether the query's reverse complement was aligned.
        has_alignment: False for score-only results (no operations, starts unknown).
        aligned_candidates: see below.
    """

    queries: SequenceBatch
    references: Sequence[str]
    reference_names: list[str]
    scoring: Scoring
    integer_scores: np.ndarray
    query_starts: np.ndarray
    query_ends: np.ndarray
    reference_starts: np.ndarray
    reference_ends: np.ndarray
    counts: np.ndarray
    operations: np.ndarray
    operation_offsets: np.ndarray
    reference_index: np.ndarray
    reverse: np.ndarray
    has_alignment: bool = True
    #: Per query, how many (reference, strand) pairs the database search aligned for it
    #: (:mod:`streamalign.search`); None when every reference was aligned.
    aligned_candidates: np.ndarray | None = None
    #: Per query, how many more pairs the search only half aligned (the score-only alignment
    #: of half the query, whose bound then fell short; :mod:`streamalign.search.searcher`).
    half_aligned_candidates: np.ndarray | None = None
    #: Per query, how many more pairs the bound from their family's consensus settled
    #: without aligning them (:mod:`streamalign.search.families`).
    family_bounded_candidates: np.ndarray | None = None
    #: Per record, the position of its query among the queries aligned, where a query may
    #: have any number of records (``all_references=True`` with ``min_score`` or
    #: ``min_identity``: one per passing reference); None otherwise.
    record_queries: np.ndarray | None = None

    @classmethod
    def from_kernel_outputs(
        cls,
        outputs: KernelOutputs,
        *,
        queries: SequenceBatch,
        references: Sequence[str],
        reference_names: list[str],
        scoring: Scoring,
        reference_number: int,
        reverse: bool,
        has_alignment: bool,
    ) -> AlignmentBatch:
        """The results of one kernel call: ``queries`` against reference ``reference_number``.

        Integer scores are taken as they are (scaled units); float scores (the legacy kernel)
        are in the caller's units and are scaled and rounded. The operations are packed back
        to back.

        Example:
            >>> outputs = KernelOutputs.allocate(np.array([2]), 2, traceback=True)
            >>> outputs.scores[:] = 2; outputs.query_ends[:] = 2; outputs.reference_ends[:] = 2
            >>> outputs.operations[2:] = 0; outputs.operation_lengths[:] = 2
            >>> batch = AlignmentBatch.from_kernel_outputs(
            ...     outputs, queries=SequenceBatch.from_strings(["AC"]), references=["AC"],
            ...     reference_names=["r"], scoring=Scoring(), reference_number=0,
            ...     reverse=False, has_alignment=True)
            >>> batch.cigars(), batch.scores.tolist()
            (['2='], [2.0])
        """
        scores = outputs.scores
        if scores.dtype.kind == "f":
            scores = np.rint(scores * scoring.scale).astype(np.int64)
        operations, operation_offsets = outputs.packed_operations()
        count = len(scores)
        return cls(
            queries=queries,
            references=references,
            reference_names=reference_names,
            scoring=scoring,
            integer_scores=scores,
            query_starts=outputs.query_starts,
            query_ends=outputs.query_ends,
            reference_starts=outputs.reference_starts,
            reference_ends=outputs.reference_ends,
            counts=outputs.counts,
            operations=operations,
            operation_offsets=operation_offsets,
            reference_index=np.full(count, reference_number, dtype=np.int64),
            reverse=np.full(count, reverse, dtype=bool),
            has_alignment=has_alignment,
        )

    def take(self, records: np.ndarray) -> AlignmentBatch:
        """A batch of the records ``records`` (positions, in that order). ``record_queries``
        follows the records; ``aligned_candidates``, which counts per query, is dropped.

        Example:
            >>> from streamalign import Aligner
            >>> batch = Aligner("ACGTACGT").align_many(["ACGTTACGT", "ACGAACGT", "ACGT"])
            >>> picked = batch.take(np.array([2, 0]))
            >>> picked.cigars(), list(picked.queries.names)
            (['4D4=', '3=1I5='], ['sequence 2', 'sequence 0'])
        """
        records = np.asarray(records, dtype=np.int64)
        lengths = np.diff(self.operation_offsets)[records]
        operation_offsets = np.zeros(len(records) + 1, dtype=np.int64)
        np.cumsum(lengths, out=operation_offsets[1:])
        gather = _gather_indices(self.operation_offsets[records], lengths)
        return AlignmentBatch(
            queries=self.queries.take(records),
            references=self.references,
            reference_names=self.reference_names,
            scoring=self.scoring,
            integer_scores=self.integer_scores[records],
            query_starts=self.query_starts[records],
            query_ends=self.query_ends[records],
            reference_starts=self.reference_starts[records],
            reference_ends=self.reference_ends[records],
            counts=self.counts[records],
            operations=self.operations[gather],
            operation_offsets=operation_offsets,
            reference_index=self.reference_index[records],
            reverse=self.reverse[records],
            has_alignment=self.has_alignment,
            record_queries=None if self.record_queries is None else self.record_queries[records],
        )

    @classmethod
    def concatenate(cls, batches: list[AlignmentBatch]) -> AlignmentBatch:
        """The records of ``batches`` (of the same references and scoring, all with or all
        without traceback) one after another; ``record_queries`` is kept when every batch has
        it, ``aligned_candidates`` is dropped.

        Example:
            >>> from streamalign import Aligner
            >>> aligner = Aligner("ACGTACGT")
            >>> joined = AlignmentBatch.concatenate(
            ...     [aligner.align_many(["ACGAACGT"]), aligner.align_many(["ACGT", "ACGTACGT"])])
            >>> joined.cigars(), joined.scores.tolist()
            (['3=1X4=', '4D4=', '8='], [5.0, -7.0, 8.0])
        """
        if not batches:
            raise ValueError("at least one batch is needed")
        if len({batch.has_alignment for batch in batches}) != 1:
            raise ValueError("batches with and without traceback cannot be joined")
        first = batches[0]

        def joined(attribute: str) -> np.ndarray:
            return np.concatenate([getattr(batch, attribute) for batch in batches])

        operation_offsets = np.zeros(sum(len(batch) for batch in batches) + 1, dtype=np.int64)
        np.cumsum(
            np.concatenate([np.diff(batch.operation_offsets) for batch in batches]),
            out=operation_offsets[1:],
        )
        record_queries = None
        if all(batch.record_queries is not None for batch in batches):
            record_queries = joined("record_queries")
        return cls(
            queries=SequenceBatch.concatenate([batch.queries for batch in batches]),
            references=first.references,
            reference_names=first.reference_names,
            scoring=first.scoring,
            integer_scores=joined("integer_scores"),
            query_starts=joined("query_starts"),
            query_ends=joined("query_ends"),
            reference_starts=joined("reference_starts"),
            reference_ends=joined("reference_ends"),
            counts=np.concatenate([batch.counts for batch in batches]).reshape(-1, 4),
            operations=joined("operations").astype(np.uint8, copy=False),
            operation_offsets=operation_offsets,
            reference_index=joined("reference_index"),
            reverse=joined("reverse"),
            has_alignment=first.has_alignment,
            record_queries=record_queries,
        )

    def __len__(self) -> int:
        return len(self.integer_scores)

    def __getitem__(self, record: int) -> Alignment:
        if record < 0:
            record += len(self)
        if not 0 <= record < len(self):
            raise IndexError(record)
        return Alignment(self, record)

    def __iter__(self) -> Iterator[Alignment]:
        return (Alignment(self, record) for record in range(len(self)))

    @property
    def scores(self) -> np.ndarray:
        """Scores in the caller's units (``float64``)."""
        return self.integer_scores / self.scoring.scale

    @property
    def matches(self) -> np.ndarray:
        return self.counts[:, 0]

    @property
    def mismatches(self) -> np.ndarray:
        return self.counts[:, 1]

    @property
    def insertions(self) -> np.ndarray:
        return self.counts[:, 2]

    @property
    def deletions(self) -> np.ndarray:
        return self.counts[:, 3]

    @property
    def alignment_lengths(self) -> np.ndarray:
        """Columns of each alignment (matches + mismatches + gap columns)."""
        return self.counts.sum(axis=1)

    @property
    def identities(self) -> np.ndarray:
        """Matches divided by alignment columns (0.0 for an empty alignment)."""
        columns = self.alignment_lengths
        return np.divide(
            self.counts[:, 0],
            columns,
            out=np.zeros(len(self), dtype=np.float64),
            where=columns > 0,
        )

    @property
    def edit_distances(self) -> np.ndarray:
        """Mismatches plus gap columns (SAM's ``NM``)."""
        return self.counts[:, 1:].sum(axis=1)

    def cigars(self, extended: bool = True) -> list[str]:
        """CIGAR string of every record (``=``/``X`` operations, or ``M`` when not extended)."""
        from .kernels.cigar import cigar_text

        letters = EXTENDED_LETTERS if extended else CLASSIC_LETTERS
        if len(self) == 0:
            return []
        # One line per record: str.split makes the strings faster than slicing one by one.
        text, _ = cigar_text(self.operations, self.operation_offsets, letters, ord("\n"))
        return text.tobytes().decode("ascii").split("\n")[:-1]

    def record_operations(self, record: int) -> np.ndarray:
        """The operation codes of one record."""
        return self.operations[self.operation_offsets[record] : self.operation_offsets[record + 1]]


class Alignment:
    """One aligned pair: a view into an :class:`AlignmentBatch`.

    Example:
        >>> from streamalign import align
        >>> alignment = align("GATTACA", "GATCACA")
        >>> print(alignment)
        query         1 GATTACA 7
                        |||.|||
        reference     1 GATCACA 7
        >>> alignment.score, alignment.cigar, alignment.edit_distance
        (4.0, '3=1X3=', 1)
    """

    __slots__ = ("_batch", "_record")

    def __init__(self, batch: AlignmentBatch, record: int) -> None:
        self._batch = batch
        self._record = record

    @property
    def batch(self) -> AlignmentBatch:
        return self._batch

    @property
    def query_name(self) -> str:
        return self._batch.queries.names[self._record]

    @property
    def query(self) -> str:
        """The query as aligned (reverse complemented when :attr:`reverse`)."""
        return self._batch.queries.sequence(self._record)

    @property
    def reference_name(self) -> str:
        return self._batch.reference_names[int(self._batch.reference_index[self._record])]

    @property
    def reference(self) -> str:
        return self._batch.references[int(self._batch.reference_index[self._record])]

    @property
    def reverse(self) -> bool:
        return bool(self._batch.reverse[self._record])

    @property
    def score(self) -> float:
        return float(self._batch.integer_scores[self._record]) / self._batch.scoring.scale

    @property
    def query_start(self) -> int:
        return int(self._batch.query_starts[self._record])

    @property
    def query_end(self) -> int:
        return int(self._batch.query_ends[self._record])

    @property
    def reference_start(self) -> int:
        return int(self._batch.reference_starts[self._record])

    @property
    def reference_end(self) -> int:
        return int(self._batch.reference_ends[self._record])

    @property
    def matches(self) -> int:
        return int(self._batch.counts[self._record, 0])

    @property
    def mismatches(self) -> int:
        return int(self._batch.counts[self._record, 1])

    @property
    def insertions(self) -> int:
        return int(self._batch.counts[self._record, 2])

    @property
    def deletions(self) -> int:
        return int(self._batch.counts[self._record, 3])

    @property
    def length(self) -> int:
        """Alignment columns."""
        return int(self._batch.counts[self._record].sum())

    @property
    def identity(self) -> float:
        length = self.length
        return self.matches / length if length else 0.0

    @property
    def edit_distance(self) -> int:
        return self.mismatches + self.insertions + self.deletions

    @property
    def operations(self) -> str:
        """One letter per column: ``=``, ``X``, ``I`` or ``D``."""
        codes = self._batch.record_operations(self._record)
        return EXTENDED_LETTERS[codes].tobytes().decode("ascii")

    @property
    def cigar(self) -> str:
        return _run_length(self.operations)

    def cigar_classic(self) -> str:
        """CIGAR with ``M`` for both matches and mismatches."""
        return _run_length(self.operations.replace("=", "M").replace("X", "M"))

    @property
    def gapped_query(self) -> str:
        return self._gapped(self.query[self.query_start : self.query_end], "D")

    @property
    def gapped_reference(self) -> str:
        return self._gapped(self.reference[self.reference_start : self.reference_end], "I")

    def _gapped(self, sequence: str, gap_operation: str) -> str:
        letters = iter(sequence)
        return "".join("-" if op == gap_operation else next(letters) for op in self.operations)

    def __str__(self) -> str:
        top = self.gapped_query
        bottom = self.gapped_reference
        middle = "".join({"=": "|", "X": "."}.get(op, " ") for op in self.operations)
        lines = []
        query_position = self.query_start
        reference_position = self.reference_start
        for start in range(0, max(len(top), 1), 60):
            query_piece = top[start : start + 60]
            reference_piece = bottom[start : start + 60]
            query_bases = len(query_piece) - query_piece.count("-")
            reference_bases = len(reference_piece) - reference_piece.count("-")
            lines.append(
                f"{'query':<10}{query_position + 1:>5} {query_piece} {query_position + query_bases}"
            )
            lines.append(f"{'':<10}{'':>5} {middle[start : start + 60]}")
            lines.append(
                f"{'reference':<10}{reference_position + 1:>5} {reference_piece} "
                f"{reference_position + reference_bases}"
            )
            query_position += query_bases
            reference_position += reference_bases
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Alignment(query={self.query_name!r}, reference={self.reference_name!r}, "
            f"score={self.score:g}, cigar={self.cigar!r}, "
            f"query_span=({self.query_start}, {self.query_end}), "
            f"reference_span=({self.reference_start}, {self.reference_end}))"
        )


def _run_length(operations: str) -> str:
    pieces = []
    run_start = 0
    for position in range(1, len(operations) + 1):
        if position == len(operations) or operations[position] != operations[run_start]:
            pieces.append(f"{position - run_start}{operations[run_start]}")
            run_start = position
    return "".join(pieces)
