"""The output formats by name: pick a writer for a format name or an output file's name.

The writers themselves are in :mod:`streamalign.io.sam`, :mod:`streamalign.io.tsv`,
:mod:`streamalign.io.jsonl` and :mod:`streamalign.io.blast6` (the exact columns), on the
shared base of :mod:`streamalign.io.writers`:

==========  ==================================  =============================================
format      file name extensions                what is written
==========  ==================================  =============================================
``sam``     ``.sam`` (the default for stdout)   SAM 1.6, read by samtools and pysam
``tsv``     ``.tsv``, ``.tab``, ``.txt``        a header line of column names, then a line
                                                per record
``jsonl``   ``.jsonl``, ``.json``               one JSON object per record (JSON Lines)
``blast6``  ``.blast6``, ``.b6``, ``.m8``       BLAST's 12 tabular columns, no header, a line
                                                per *mapped* record only
==========  ==================================  =============================================

Output is plain text only: ``.gz`` and other compressed names are refused; pipe the output
through ``gzip`` or ``bgzip`` instead.

Example:
    >>> import io
    >>> from streamalign import Aligner
    >>> aligner = Aligner({"gene": "TTACGTACGTTTGACCA"}, mode="semiglobal")
    >>> batch = aligner.align_many(["ACGTTCGT", "GGGG"], names=["read1", "read2"])
    >>> stream = io.BytesIO()
    >>> writer = make_writer(
    ...     format_from_path("hits.tsv", None), stream, reference_names=["gene"],
    ...     reference_lengths=[17], command_line="streamalign gene.fa reads.fa",
    ... )
    >>> writer.write_header()
    >>> writer.write_batch(batch, mapped=batch.scores >= 3)
    106
    >>> writer.close()
    >>> for line in stream.getvalue().decode().splitlines():
    ...     print(line.split("\\t")[:6])
    ['query', 'reference', 'strand', 'mapped', 'score', 'identity']
    ['read1', 'gene', '+', '1', '5', '0.875000']
    ['read2', 'gene', '+', '0', '-5', '0.250000']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import BinaryIO

from .blast6 import Blast6Writer
from .jsonl import JsonLinesWriter
from .sam import SamWriter
from .tsv import TsvWriter
from .writers import BatchWriter

#: The writer class of each output format, by name.
WRITERS: dict[str, type[BatchWriter]] = {
    "sam": SamWriter,
    "tsv": TsvWriter,
    "jsonl": JsonLinesWriter,
    "blast6": Blast6Writer,
}

#: Output formats, by name.
FORMATS = tuple(WRITERS)

#: File name extension (lower case, with the dot) to output format.
EXTENSIONS: dict[str, str] = {
    ".sam": "sam",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "tsv",
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".blast6": "blast6",
    ".b6": "blast6",
    ".m8": "blast6",
}

_COMPRESSED_EXTENSIONS = (".gz", ".bgz", ".bz2", ".xz", ".zst", ".bam", ".cram")


def format_from_path(path: str | os.PathLike[str] | None, explicit: str | None) -> str:
    """The output format: ``explicit`` when given, else guessed from ``path``'s extension.

    Args:
        path: the output file name; ``None`` or ``"-"`` (stdout) means SAM.
        explicit: a format name the caller asked for (any case), or ``None``.

    Raises:
        ValueError: ``explicit`` is not a known format, or the extension is not one of
            :data:`EXTENSIONS` (compressed names such as ``.sam.gz`` included).

    Example:
        >>> format_from_path("out.TSV", None), format_from_path(None, None)
        ('tsv', 'sam')
        >>> format_from_path("out.txt", "JSONL"), format_from_path("hits.m8", None)
        ('jsonl', 'blast6')
        >>> format_from_path("out.bam", None)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: cannot write 'out.bam': compressed and binary output (.bam) is not ...
    """
    if explicit is not None:
        name = explicit.strip().lower()
        if name not in FORMATS:
            raise ValueError(
                f"unknown output format {explicit!r}; choose one of {', '.join(FORMATS)}"
            )
        return name
    if path is None:
        return "sam"
    text = os.fspath(path)
    if text == "-":
        return "sam"
    extension = os.path.splitext(text)[1].lower()
    if extension in EXTENSIONS:
        return EXTENSIONS[extension]
    known = ", ".join(EXTENSIONS)
    if extension in _COMPRESSED_EXTENSIONS:
        raise ValueError(
            f"cannot write {text!r}: compressed and binary output ({extension}) is not "
            "supported; write plain text (SAM, TSV, JSONL, BLAST tabular) and compress it "
            "with gzip or bgzip"
        )
    raise ValueError(
        f"cannot tell the output format of {text!r} from its extension "
        f"({extension or 'none'}); use one of {known}, or give the format explicitly "
        f"({', '.join(FORMATS)})"
    )


def make_writer(
    format: str,
    stream: BinaryIO,
    *,
    reference_names: Sequence[str],
    reference_lengths: Sequence[int],
    command_line: str,
    extended_cigar: bool = True,
) -> BatchWriter:
    """A writer of ``format`` (one of :data:`FORMATS`) on ``stream``.

    See :class:`~streamalign.io.writers.BatchWriter` for the arguments; the module docstring
    has an example.

    Raises:
        ValueError: an unknown format, or references SAM cannot name (duplicates).
    """
    if format not in WRITERS:
        raise ValueError(f"unknown output format {format!r}; choose one of {', '.join(FORMATS)}")
    return WRITERS[format](
        stream,
        reference_names=reference_names,
        reference_lengths=reference_lengths,
        command_line=command_line,
        extended_cigar=extended_cigar,
    )
