"""Write records of a :class:`~streamalign.records.SequenceBatch` back out as FASTA or FASTQ.

The text is dnaio's (:class:`dnaio.FastqWriter`, :class:`dnaio.FastaWriter`): FASTQ when the
batch has qualities, else FASTA with the whole sequence on one line; the header is the name,
then a space and the comment when there is one. Rejected records (``--rejects``) and the
in-memory input of ``streamalign bench`` are written this way.

Example:
    >>> from streamalign.records import SequenceBatch
    >>> batch = SequenceBatch.from_strings(
    ...     ["ACGT", "GGA"], names=["r1", "r2"], qualities=["IIII", "#5I"]
    ... )
    >>> batch.comments = ["sample=a", ""]
    >>> records_as_fastx(batch, [1, 0])
    b'@r2\\nGGA\\n+\\n#5I\\n@r1 sample=a\\nACGT\\n+\\nIIII\\n'
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import dnaio
import numpy as np

from ..records import SequenceBatch

__all__ = ["records_as_fastx"]


def records_as_fastx(batch: SequenceBatch, records: Sequence[int] | np.ndarray) -> bytes:
    """The records at positions ``records`` of ``batch``, in that order, as FASTQ or FASTA.

    A character of a name or comment outside ASCII is written as ``?`` (dnaio writes ASCII
    only; records read from files are ASCII already).

    Example:
        >>> from streamalign.records import SequenceBatch
        >>> records_as_fastx(SequenceBatch.from_strings(["ACGT"], names=["gene 1"]), [0])
        b'>gene 1\\nACGT\\n'
    """
    output = io.BytesIO()
    writer: dnaio.FastqWriter | dnaio.FastaWriter = (
        dnaio.FastaWriter(output) if batch.qualities is None else dnaio.FastqWriter(output)
    )
    names, comments = batch.names, batch.comments
    for record in np.asarray(records, dtype=np.int64).tolist():
        header = names[record]
        if comments is not None and comments[record]:
            header = f"{header} {comments[record]}"
        if not header.isascii():
            header = header.encode("ascii", "replace").decode("ascii")
        writer.write(dnaio.SequenceRecord(header, batch.sequence(record), batch.quality(record)))
    return output.getvalue()
