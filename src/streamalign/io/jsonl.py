"""JSON Lines output: one JSON object per record and line, no header.

Keys, in this order: ``query``, ``reference``, ``strand`` (``"+"``/``"-"``), ``reverse``
(bool), ``mapped`` (bool), ``score``, ``identity``, ``query_start``, ``query_end``,
``query_length``, ``reference_start``, ``reference_end``, ``matches``, ``mismatches``,
``insertions``, ``deletions``, ``edit_distance``, ``cigar``, ``query_aligned``,
``reference_aligned``. They are the TSV columns (see :mod:`streamalign.io.tsv`: 0-based,
half-open coordinates; unmapped records keep their best alignment) plus ``reverse`` and the
two rows of the alignment.

Decisions:

- Each line is exactly what ``json.dumps(record)`` gives for the record as a dict (ASCII, with
  ``\\uXXXX`` escapes for other characters), built with string templates instead of one
  ``json.dumps`` call per record. Names are escaped by the json module's own C encoder.
- ``score`` is a JSON integer when integral, else a float; ``identity`` is the full-precision
  float (the TSV rounds it to 6 decimals). ``cigar`` is ``""`` for an alignment without
  columns (the TSV writes ``*``).
- ``query_aligned`` is ``query[query_start:query_end]`` (as aligned, in the input's case)
  with ``-`` at deletions; ``reference_aligned`` is
  ``reference[reference_start:reference_end]`` with ``-`` at insertions.

Example:
    >>> import io, json
    >>> from streamalign import Aligner
    >>> aligner = Aligner(
    ...     "TTACGTACGTTTGACCA", reference_name="gene", mode="local", match=2, mismatch=-3
    ... )
    >>> batch = aligner.align_many(["GGACGTTCGTAA"], names=['read "1"'])
    >>> stream = io.BytesIO()
    >>> writer = JsonLinesWriter(stream, reference_names=["gene"], reference_lengths=[17])
    >>> _ = writer.write_batch(batch, mapped=batch.scores > 0)
    >>> record = json.loads(stream.getvalue())
    >>> record["query"], record["mapped"], record["score"], record["cigar"]
    ('read "1"', True, 11, '4=1X3=')
    >>> print(record["query_aligned"], record["reference_aligned"], sep="\\n")
    ACGTTCGT
    ACGTACGT
"""

from __future__ import annotations

from json.encoder import encode_basestring_ascii

import numpy as np

from ..results import AlignmentBatch
from .writers import (
    BatchWriter,
    LineAssembler,
    add_scores,
    check_batch,
    gapped_rows,
    used_entries,
)

#: The keys of every object, in order.
KEYS = (
    "query",
    "reference",
    "strand",
    "reverse",
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
    "query_aligned",
    "reference_aligned",
)


class JsonLinesWriter(BatchWriter):
    """Writes JSON Lines; see the module docstring for the keys."""

    format_name = "jsonl"

    def format_batch(
        self, batch: AlignmentBatch, mapped: np.ndarray, secondary: np.ndarray | None = None
    ) -> bytes:
        """The batch's lines (``secondary`` is accepted and not written)."""
        mapped, secondary = check_batch(batch, mapped, secondary)
        if len(batch) == 0:
            return b""
        lines = LineAssembler(len(batch))
        query_names = list(map(encode_basestring_ascii, batch.queries.names))
        used_names, reference_index = used_entries(batch.reference_names, batch.reference_index)
        reference_names = list(map(encode_basestring_ascii, used_names))
        lines.constant('{"query": ').strings(query_names)
        lines.constant(', "reference": ').table(reference_names, reference_index)
        lines.constant(', "strand": "').table(["+", "-"], batch.reverse)
        lines.constant('", "reverse": ').table(["false", "true"], batch.reverse)
        lines.constant(', "mapped": ').table(["false", "true"], mapped)
        lines.constant(', "score": ')
        add_scores(lines, batch)
        lines.constant(', "identity": ').formatted(batch.identities, "%r")
        for key, column in (
            ("query_start", batch.query_starts),
            ("query_end", batch.query_ends),
            ("query_length", batch.queries.lengths()),
            ("reference_start", batch.reference_starts),
            ("reference_end", batch.reference_ends),
            ("matches", batch.counts[:, 0]),
            ("mismatches", batch.counts[:, 1]),
            ("insertions", batch.counts[:, 2]),
            ("deletions", batch.counts[:, 3]),
            ("edit_distance", batch.edit_distances),
        ):
            lines.constant(f', "{key}": ').integers(column)
        # CIGARs and the aligned rows hold letters, digits, "=" and "-": no escaping needed.
        lines.constant(', "cigar": "').cigars(
            batch.operations, batch.operation_offsets, self.extended_cigar
        )
        query_row, reference_row = gapped_rows(batch)
        row_starts = batch.operation_offsets[:-1]
        row_lengths = np.diff(batch.operation_offsets)
        lines.constant('", "query_aligned": "').slices(query_row, row_starts, row_lengths)
        lines.constant('", "reference_aligned": "').slices(reference_row, row_starts, row_lengths)
        lines.constant('"}\n')
        return lines.to_bytes()
