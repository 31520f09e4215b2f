"""Tab-separated output: a header line of column names, then one line per record.

Columns (0-based, half-open coordinates, as in Python)::

    query reference strand mapped score identity query_start query_end query_length
    reference_start reference_end matches mismatches insertions deletions edit_distance cigar

Decisions:

- The header line is the bare column names (no ``#``), so that ``pandas.read_csv(path,
  sep="\\t")`` and ``csv.DictReader`` read it as is.
- Every record gets a line, unmapped ones too: ``mapped`` is 0 and the other columns keep the
  best alignment that was found (its reference, score, coordinates and CIGAR), so a threshold
  can be revisited without aligning again. A record without an aligned base has an empty
  span (``query_start == query_end``) and CIGAR ``*`` when it has no column at all.
- ``strand`` is ``+`` or ``-`` (the query's reverse complement was aligned; the coordinates
  are then on the reverse complemented query). ``mapped`` is 1 or 0.
- ``score`` is printed as an integer when integral, else as the shortest float that reads
  back exactly (``repr``); ``identity`` (matches / alignment columns) with 6 decimals.
- ``cigar`` is the alignment's operations only (``=``/``X``/``I``/``D``, or ``M``), without
  the soft clips of SAM: ``query_start`` and ``query_end`` say what is left out.
- Fields are not quoted. A tab, carriage return or newline in a name (never present in names
  read from FASTA/FASTQ, which end at the first whitespace) is replaced by ``_``. Read with
  ``csv.reader(file, delimiter="\\t", quoting=csv.QUOTE_NONE)``.

Example:
    >>> import csv, io
    >>> from streamalign import Aligner
    >>> aligner = Aligner(
    ...     "TTACGTACGTTTGACCA", reference_name="gene", mode="local", match=2, mismatch=-3
    ... )
    >>> batch = aligner.align_many(["GGACGTTCGTAA"], names=["read1"])
    >>> stream = io.BytesIO()
    >>> writer = TsvWriter(stream, reference_names=["gene"], reference_lengths=[17])
    >>> writer.write_header()
    >>> _ = writer.write_batch(batch, mapped=batch.scores > 0)
    >>> lines = stream.getvalue().decode().splitlines()
    >>> row = next(csv.DictReader(lines, delimiter="\\t", quoting=csv.QUOTE_NONE))
    >>> row["query"], row["score"], row["identity"], row["query_start"], row["cigar"]
    ('read1', '11', '0.875000', '2', '4=1X3=')
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..results import AlignmentBatch
from .writers import BatchWriter, LineAssembler, add_scores, check_batch, used_entries

#: The column names, in order.
COLUMNS = (
    "query",
    "reference",
    "strand",
    "mapped",
    "score",
    "identity",
    "query_start",
    "query_end",
    "query_length",
    "reference_start",
    "reference_end",
    "matches",
    "mismatches",
    "insertions",
    "deletions",
    "edit_distance",
    "cigar",
)

_LINE_BREAKING = re.compile(r"[\t\r\n]")


def tsv_fields(texts: Sequence[str]) -> Sequence[str]:
    """``texts`` with tabs, carriage returns and newlines replaced by ``_``.

    Example:
        >>> tsv_fields(["read 1", "odd\\tname"])
        ['read 1', 'odd_name']
    """
    if _LINE_BREAKING.search("".join(texts)) is None:
        return texts
    return [_LINE_BREAKING.sub("_", text) for text in texts]


class TsvWriter(BatchWriter):
    """Writes tab-separated values; see the module docstring for the columns."""

    format_name = "tsv"

    def header(self) -> bytes:
        """The line of column names."""
        return ("\t".join(COLUMNS) + "\n").encode("ascii")

    def format_batch(
        self, batch: AlignmentBatch, mapped: np.ndarray, secondary: np.ndarray | None = None
    ) -> bytes:
        """The batch's lines (``secondary`` is accepted and not written)."""
        mapped, secondary = check_batch(batch, mapped, secondary)
        if len(batch) == 0:
            return b""
        lines = LineAssembler(len(batch))
        lines.strings(tsv_fields(batch.queries.names)).constant("\t")
        reference_names, reference_index = used_entries(
            batch.reference_names, batch.reference_index
        )
        lines.table(tsv_fields(reference_names), reference_index).constant("\t")
        lines.table(["+", "-"], batch.reverse).constant("\t")
        lines.table(["0", "1"], mapped).constant("\t")
        add_scores(lines, batch)
        lines.constant("\t").formatted(batch.identities, "%.6f")
        for column in (
            batch.query_starts,
            batch.query_ends,
            batch.queries.lengths(),
            batch.reference_starts,
            batch.reference_ends,
            *batch.counts.T,
            batch.edit_distances,
        ):
            lines.constant("\t").integers(column)
        lines.constant("\t").cigars(batch.operations, batch.operation_offsets, self.extended_cigar)
        lines.constant("*", np.diff(batch.operation_offsets) == 0).constant("\n")
        return lines.to_bytes()
