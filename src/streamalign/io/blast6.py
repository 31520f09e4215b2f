"""BLAST tabular output (``-outfmt 6``, vsearch's ``--blast6out``): 12 columns, no header.

Columns, tab-separated, one line per mapped record::

    qseqid sseqid pident length mismatch gapopen qstart qend sstart send evalue bitscore

==========  ==================================================================================
qseqid      the query's name
sseqid      the reference's name
pident      100 * matches / alignment columns, 2 decimals
length      alignment columns (``=``, ``X``, ``I`` and ``D`` columns)
mismatch    mismatch columns (``X``)
gapopen     gap openings: runs of ``I`` or ``D`` columns (a gap of 3 columns counts once)
qstart      first query base of the alignment, 1-based, on the query as given
qend        last query base of the alignment (``qstart <= qend`` on both strands)
sstart      first reference base (plus strand); last one on the minus strand
send        last reference base (plus strand); first one on the minus strand
evalue      expected number of chance alignments scoring as well (see below), 3 digits
bitscore    the score in bits (see below), 1 decimal
==========  ==================================================================================

Decisions:

- **Which records.** Only mapped records get a line (those that pass the chance rule or
  ``--min-score``/``--min-identity``, and have an aligned base), as BLAST and vsearch write no
  line for a query without a hit (vsearch's ``--output_no_hits`` would); the summary still
  counts the unmapped. With ``--all-refs`` every mapped (query, reference) record gets a line,
  in reference file order; without it, the query's best reference only.
- **Coordinates** are 1-based and inclusive, and cover the alignment's columns as computed:
  a global alignment's end gaps are columns too (counted in ``length``, ``gapopen`` and the
  denominator of ``pident``), and ``sstart``/``send`` then include a leading or trailing
  deletion, as SAM's POS does.
- **Minus strand** (``--strand both``, the query's reverse complement aligned): BLAST's
  convention. ``qstart``/``qend`` are on the query as given, ``qstart <= qend``, and the
  reference coordinates are swapped, ``sstart > send`` (``sstart = send`` for a one-base
  span). For a query of length ``m`` whose reverse complement aligns over the 0-based
  half-open span ``[s, e)``, ``qstart = m - e + 1`` and ``qend = m - s``. (vsearch's
  ``--blast6out`` does the opposite: it swaps ``qstart``/``qend`` and keeps ``sstart <
  send``.)
- **pident** is BLAST's definition: matches over all alignment columns, gaps included. For
  vsearch this is ``--iddef 1`` (or 4); its default ``--iddef 2`` leaves terminal gaps out
  of the denominator, which is the same number whenever the alignment has no end gaps:
  always in local and overlap mode, and in semi-global mode unless a read overhangs an end
  of its reference.
- **evalue and bitscore** are our own Karlin-Altschul statistics, not BLAST's (blastn uses
  precomputed gapped ``lambda`` and ``K`` for its scorings and corrects the lengths for edge
  effects; vsearch writes ``-1`` and ``0``). With ``lambda`` from
  :func:`streamalign.significance.chance_lambda` (the ungapped value for uniform ``ACGT``, per
  unit of the caller's scores) and ``K = 1`` (:data:`KARLIN_K`, the bound the chance rule
  uses; published values are below 1)::

      bitscore = (lambda * S - ln K) / ln 2
      evalue   = m * n_db * 2 ** -bitscore

  where ``S`` is the alignment's score in the caller's units (fractions allowed), ``m`` the
  query's length and ``n_db`` the total length of all references given (the search space
  ``m * n_db``, the same with ``--strand both``). The score of a global, semi-global or
  overlap alignment is at most the best local score of the same pair, so those e-values err
  high; gapped alignments score a little better by chance than the ungapped ``lambda``
  predicts, so treat the values as a ranking rather than exact probabilities. The e-value
  is computed in logarithms and printed with 3 significant digits (``%g``: ``1.23e-45``,
  ``0.5``); values beyond the range of a double are printed all the same (``2.5e-612``).
  Where the scoring has no ``lambda`` (random columns score non-negative on average), no
  statistics exist: ``evalue`` is ``-1`` and ``bitscore`` ``0``, as vsearch writes.
- Names are written as the TSV writer writes them (tab, carriage return and newline become
  ``_``); the command line has already made the reference names unique and valid in SAM,
  so all formats join on them.

Example:
    >>> import io
    >>> from streamalign import Aligner
    >>> aligner = Aligner({"gene": "TTACGTACGTTTGACCAGGTA"}, mode="semiglobal")
    >>> batch = aligner.align_many(["ACGTTCGTTTGA", "GGGG"], names=["read1", "read2"])
    >>> stream = io.BytesIO()
    >>> writer = Blast6Writer(stream, reference_names=["gene"], reference_lengths=[21])
    >>> writer.write_header()  # no header
    >>> _ = writer.write_batch(batch, mapped=batch.scores >= 5)
    >>> print(stream.getvalue().decode().replace("\\t", " "), end="")  # read2: no line
    read1 gene 91.67 12 1 0 1 12 3 14 0.00156 17.3
"""

from __future__ import annotations

import math

import numpy as np

from ..results import AlignmentBatch
from ..scoring import Scoring
from ..significance import chance_lambda
from .tsv import tsv_fields
from .writers import INSERTION_CODE, BatchWriter, LineAssembler, check_batch, used_entries

#: The column names, in order (BLAST's names for ``-outfmt 6``).
COLUMNS = (
    "qseqid",
    "sseqid",
    "pident",
    "length",
    "mismatch",
    "gapopen",
    "qstart",
    "qend",
    "sstart",
    "send",
    "evalue",
    "bitscore",
)

#: Karlin-Altschul ``K`` of the statistics (1: the upper bound the chance rule uses).
KARLIN_K = 1.0

#: e-values this far from 1 (in powers of ten) are printed from their logarithm.
_DOUBLE_RANGE = 300.0


def gap_openings(operations: np.ndarray, operation_offsets: np.ndarray) -> np.ndarray:
    """The number of gap runs (``I`` or ``D`` columns in a row) of each record.

    An insertion next to a deletion is two runs: two gaps open.

    Example:
        >>> operations = np.array([0, 2, 2, 0, 3, 2, 0, 3], dtype=np.uint8)  # =II=DI= | D
        >>> gap_openings(operations, np.array([0, 7, 8, 8])).tolist()
        [3, 1, 0]
    """
    codes = np.asarray(operations, dtype=np.uint8)
    offsets = np.asarray(operation_offsets, dtype=np.int64)
    gaps = codes >= INSERTION_CODE  # I (2) or D (3)
    openings = gaps.copy()
    openings[1:] &= codes[1:] != codes[:-1]
    starts = offsets[:-1][offsets[:-1] < offsets[1:]]
    openings[starts] = gaps[starts]  # a record's first column opens a gap if it is one
    before = np.zeros(openings.size + 1, dtype=np.int64)
    np.cumsum(openings, out=before[1:])
    return before[offsets[1:]] - before[offsets[:-1]]


def bit_scores(scores: np.ndarray, lambda_: float) -> np.ndarray:
    """``(lambda * S - ln K) / ln 2`` for each score ``S`` (caller's units).

    Example:
        >>> bit_scores(np.array([0.0, 26.0]), math.log(2)).tolist()
        [0.0, 26.0]
    """
    return (lambda_ * np.asarray(scores, dtype=np.float64) - math.log(KARLIN_K)) / math.log(2)


def log10_evalues(bits: np.ndarray, query_lengths: np.ndarray, database_length: int) -> np.ndarray:
    """``log10(m * n_db * 2 ** -bitscore)`` for each record (``m``: its query's length).

    Example:
        >>> log10_evalues(np.array([10.0]), np.array([1024]), 1000).round(12).tolist()
        [3.0]
    """
    search_space = np.log10(np.maximum(query_lengths, 1).astype(np.float64))
    search_space += math.log10(max(database_length, 1))
    return search_space - np.asarray(bits, dtype=np.float64) * math.log10(2)


def evalue_texts(log10_values: np.ndarray) -> list[str]:
    """Each e-value (given as its logarithm) with 3 significant digits, as ``%g`` writes it,
    also beyond the range of a double.

    Example:
        >>> evalue_texts(np.array([-0.30103, -44.9, 2.0, -611.6]))
        ['0.5', '1.26e-45', '100', '2.51e-612']
    """
    texts = []
    for value in np.asarray(log10_values, dtype=np.float64).tolist():
        if abs(value) < _DOUBLE_RANGE:
            texts.append("%.3g" % 10.0**value)
            continue
        exponent = math.floor(value)
        mantissa = "%.3g" % 10.0 ** (value - exponent)
        if mantissa == "10":
            exponent, mantissa = exponent + 1, "1"
        texts.append(f"{mantissa}e{exponent:+03d}")
    return texts


class Blast6Writer(BatchWriter):
    """Writes BLAST tabular output; see the module docstring for the columns and decisions."""

    format_name = "blast6"

    def _prepare(self) -> None:
        """The database length of the statistics (the total length of all references)."""
        self.database_length = sum(self.reference_lengths)
        self._statistics_scoring: Scoring | None = None
        self._lambda: float | None = None

    def statistics_lambda(self, scoring: Scoring) -> float | None:
        """``lambda`` of ``scoring`` (computed once per scoring), None when there is none."""
        if scoring is not self._statistics_scoring:
            self._lambda = chance_lambda(scoring)
            self._statistics_scoring = scoring
        return self._lambda

    def format_batch(
        self, batch: AlignmentBatch, mapped: np.ndarray, secondary: np.ndarray | None = None
    ) -> bytes:
        """The lines of the batch's mapped records (``secondary`` is accepted and not
        written)."""
        mapped, _ = check_batch(batch, mapped, secondary)
        shown = np.flatnonzero(mapped)
        if shown.size == 0:
            return b""
        count = shown.size
        counts = batch.counts[shown]
        columns = counts.sum(axis=1)
        query_lengths = batch.queries.lengths()[shown]
        query_starts = batch.query_starts[shown]
        query_ends = batch.query_ends[shown]
        reverse = batch.reverse[shown]
        # Coordinates, 1-based inclusive: the query's on the query as given, the reference's
        # swapped on the minus strand.
        first_query = np.where(reverse, query_lengths - query_ends + 1, query_starts + 1)
        last_query = np.where(reverse, query_lengths - query_starts, query_ends)
        reference_first = batch.reference_starts[shown] + 1
        reference_last = batch.reference_ends[shown]
        subject_start = np.where(reverse, reference_last, reference_first)
        subject_end = np.where(reverse, reference_first, reference_last)
        openings = gap_openings(batch.operations, batch.operation_offsets)[shown]

        query_names = batch.queries.names
        lines = LineAssembler(count)
        lines.strings(tsv_fields([query_names[record] for record in shown.tolist()]))
        reference_names, reference_index = used_entries(
            batch.reference_names, batch.reference_index[shown]
        )
        lines.constant("\t").table(tsv_fields(reference_names), reference_index)
        lines.constant("\t").formatted(100.0 * counts[:, 0] / columns, "%.2f")
        for column in (
            columns,
            counts[:, 1],
            openings,
            first_query,
            last_query,
            subject_start,
            subject_end,
        ):
            lines.constant("\t").integers(column)
        lambda_ = self.statistics_lambda(batch.scoring)
        if lambda_ is None:
            lines.constant("\t-1\t0\n")
            return lines.to_bytes()
        bits = bit_scores(batch.scores[shown], lambda_)
        lines.constant("\t").strings(
            evalue_texts(log10_evalues(bits, query_lengths, self.database_length))
        )
        lines.constant("\t").formatted(bits, "%.1f").constant("\n")
        return lines.to_bytes()
