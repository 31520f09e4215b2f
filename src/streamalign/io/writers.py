"""The shared base of the output writers: :class:`BatchWriter` and compiled line assembly.

Every writer turns one :class:`~streamalign.results.AlignmentBatch` into one ``bytes`` object
(one complete record per line) and hands it to the stream in a single ``write`` call, so a
batch is either written whole or not at all. The lines are assembled column by column with
numpy (:class:`LineAssembler`): numbers are printed digit by digit over whole arrays,
sequences and qualities are copied straight from the batch's byte arrays, and CIGARs are built
from the runs of the batch's operation codes. Python touches each record only to join names
(one C-level ``"".join``); values with few distinct texts (reference names, identities) are
formatted once per distinct value.

The formats are :mod:`streamalign.io.sam`, :mod:`streamalign.io.tsv`,
:mod:`streamalign.io.jsonl` and :mod:`streamalign.io.blast6`; :mod:`streamalign.io.formats`
names them and picks one by name or by the output file's name
(:func:`~streamalign.io.formats.make_writer`). A batch names its references by index into the
list of every reference; the writers read, encode and transform only the names a batch uses
(:func:`used_entries`), so formatting a batch costs the same with 2 or 500,000 references.

``mapped`` (one bool per record) says which records pass the caller's thresholds. A record
whose alignment has no aligned base (no ``=`` or ``X`` column: an empty query, or an empty
local alignment) is written as unmapped whatever ``mapped`` says. ``secondary`` marks the
records that are not a query's primary record (with ``all_references=True``).

Example:
    >>> import io
    >>> from streamalign import Aligner
    >>> from streamalign.io.tsv import TsvWriter
    >>> aligner = Aligner({"gene": "TTACGTACGTTTGACCA"}, mode="semiglobal")
    >>> batch = aligner.align_many(["ACGTTCGT", "GGGG"], names=["read1", "read2"])
    >>> writer = TsvWriter(io.BytesIO(), reference_names=["gene"], reference_lengths=[17])
    >>> isinstance(writer, BatchWriter), isinstance(writer, Writer)
    (True, True)
    >>> mapped, secondary = check_batch(batch, batch.scores >= 3, None)
    >>> mapped.tolist(), secondary.tolist()
    ([True, False], [False, False])
    >>> writer.format_batch(batch, mapped).decode().splitlines()[0].split("\\t")[:5]
    ['read1', 'gene', '+', '1', '5']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import BinaryIO, Protocol, runtime_checkable

import numpy as np
from numba import njit

from ..kernels.operations import CLASSIC_LETTERS, EXTENDED_LETTERS
from ..kernels.slices import copy_slices
from ..references import ReferenceSequences
from ..results import AlignmentBatch

#: Operation codes of :attr:`AlignmentBatch.operations` that consume no query / no reference.
DELETION_CODE = 3
INSERTION_CODE = 2


@runtime_checkable
class Writer(Protocol):
    """What the engine needs from an output writer."""

    def write_header(self) -> None:
        """Write the format's header (SAM ``@`` lines, the TSV column names; JSONL: none)."""

    def write_batch(
        self, batch: AlignmentBatch, mapped: np.ndarray, secondary: np.ndarray | None = None
    ) -> int:
        """Write every record of ``batch`` in one ``write`` call; return the bytes written."""
        ...

    def close(self) -> None:
        """Flush the stream (it stays open: it may be stdout)."""


class BatchWriter:
    """Base of the format writers: validation, one write per batch, flush on close.

    Subclasses implement :meth:`format_batch` (and :meth:`header` where the format has one).
    :meth:`format_batch` is public so that batches can be formatted away from the thread that
    writes (in workers), and only the finished bytes passed on in order.

    Args:
        stream: a binary stream (a file opened ``"wb"``, ``sys.stdout.buffer``, ``BytesIO``).
        reference_names: the names of the references, in the aligner's order (for the SAM
            header; TSV and JSONL take the names from each batch).
        reference_lengths: their lengths.
        command_line: the command that produced the output (SAM's ``@PG CL``).
        extended_cigar: ``=``/``X`` CIGAR operations (default), or ``M`` for both.
    """

    #: The format's name, one of :data:`~streamalign.io.formats.FORMATS`.
    format_name = ""

    def __init__(
        self,
        stream: BinaryIO,
        *,
        reference_names: Sequence[str],
        reference_lengths: Sequence[int],
        command_line: str = "",
        extended_cigar: bool = True,
    ) -> None:
        if len(reference_names) != len(reference_lengths):
            raise ValueError(
                f"{len(reference_names)} reference names but "
                f"{len(reference_lengths)} reference lengths"
            )
        if any(length < 0 for length in reference_lengths):
            raise ValueError("reference lengths must not be negative")
        self.stream = stream
        self.reference_names = [str(name) for name in reference_names]
        self.reference_lengths = [int(length) for length in reference_lengths]
        self.command_line = command_line
        self.extended_cigar = extended_cigar
        self.closed = False
        self._prepare()

    def _prepare(self) -> None:
        """What a format derives from the references once, before any batch (nothing here)."""

    def header(self) -> bytes:
        """The header as bytes (empty for a format without one)."""
        return b""

    def write_header(self) -> None:
        """Write :meth:`header` to the stream."""
        self._check_open()
        header = self.header()
        if header:
            _write_all(self.stream, header)

    def format_batch(
        self, batch: AlignmentBatch, mapped: np.ndarray, secondary: np.ndarray | None = None
    ) -> bytes:
        """Every record of ``batch`` as lines of this format (the same bytes
        :meth:`write_batch` writes)."""
        raise NotImplementedError

    def write_batch(
        self, batch: AlignmentBatch, mapped: np.ndarray, secondary: np.ndarray | None = None
    ) -> int:
        """Format ``batch`` and write it in one ``write`` call.

        Args:
            batch: alignments with traceback (``align_many(..., traceback=True)``).
            mapped: one bool per record: passes the caller's thresholds.
            secondary: one bool per record: not the query's primary record; ``None``: none.

        Returns:
            The number of bytes written (0 for an empty batch, which writes nothing).
        """
        self._check_open()
        if len(batch) == 0:
            check_batch(batch, mapped, secondary)
            return 0
        data = self.format_batch(batch, mapped, secondary)
        _write_all(self.stream, data)
        return len(data)

    def close(self) -> None:
        """Flush the stream, leaving it open (it may be stdout). Closing twice is harmless."""
        if not self.closed:
            self.closed = True
            self.stream.flush()

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(
        self,
        exception_type: type[BaseException] | None,
        exception: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"write to a closed {self.format_name} writer")


# Helpers shared by the format modules: batch validation, and a line assembler that writes
# the columns of a whole batch straight into one byte array.


def check_batch(
    batch: AlignmentBatch, mapped: np.ndarray, secondary: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a batch and its flags; return ``(mapped, secondary)`` as bool arrays.

    The returned ``mapped`` is also False for records without an aligned base.

    Raises:
        ValueError: a score-only batch, or flags of the wrong length.
    """
    count = len(batch)
    if not batch.has_alignment:
        raise ValueError(
            "writers need alignments with traceback; this batch holds scores only "
            "(align_many(..., traceback=False))"
        )
    mapped_flags = np.asarray(mapped, dtype=bool)
    if mapped_flags.shape != (count,):
        raise ValueError(
            f"mapped must hold one bool per record ({count}), got shape {mapped_flags.shape}"
        )
    if secondary is None:
        secondary_flags = np.zeros(count, dtype=bool)
    else:
        secondary_flags = np.asarray(secondary, dtype=bool)
        if secondary_flags.shape != (count,):
            raise ValueError(
                f"secondary must hold one bool per record ({count}), got shape "
                f"{secondary_flags.shape}"
            )
    aligned = (batch.counts[:, 0] + batch.counts[:, 1]) > 0
    return mapped_flags & aligned, secondary_flags


def concatenated_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices of ``range(starts[k], starts[k] + lengths[k])`` for every ``k``, concatenated.

    Example:
        >>> concatenated_ranges(np.array([5, 0, 2]), np.array([2, 0, 3])).tolist()
        [5, 6, 2, 3, 4]
    """
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    range_starts = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) + np.repeat(starts - range_starts, lengths)


def used_entries(texts: Sequence[str], index: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The entries of ``texts`` that ``index`` uses, in ``texts``' order, and ``index``
    renumbered into them.

    A batch names its references by index into the aligner's list of every reference; a
    writer that transforms or encodes the used names only does work in proportion to the
    batch, however many references there are.

    Example:
        >>> texts, index = used_entries(["a", "b", "c", "d"], np.array([3, 1, 3]))
        >>> texts, index.tolist()
        (['b', 'd'], [1, 0, 1])
    """
    used, inverse = np.unique(np.asarray(index, dtype=np.int64), return_inverse=True)
    return [texts[position] for position in used.tolist()], inverse.reshape(-1)


_UPPER_CASE = np.frombuffer(bytes(range(256)).upper(), dtype=np.uint8)


def upper_case(text: np.ndarray) -> np.ndarray:
    """ASCII bytes (``uint8``) in upper case; ``text`` itself when it has no lower case."""
    if not np.any(text >= ord("a")):
        return text
    return _UPPER_CASE[text]


def integer_widths(values: np.ndarray) -> np.ndarray:
    """Characters needed to print each integer (sign included).

    Example:
        >>> integer_widths(np.array([0, 7, -12, 1000])).tolist()
        [1, 1, 3, 4]
    """
    return _integer_widths(np.ascontiguousarray(values, dtype=np.int64))


def _put_integers(
    out: np.ndarray, positions: np.ndarray, values: np.ndarray, widths: np.ndarray
) -> None:
    """Write ``values`` in decimal at ``positions`` (``widths`` from :func:`integer_widths`)."""
    _write_integers(
        out,
        np.ascontiguousarray(positions, dtype=np.int64),
        np.ascontiguousarray(values, dtype=np.int64),
        np.ascontiguousarray(widths, dtype=np.int64),
    )


def _put_slices(
    out: np.ndarray,
    positions: np.ndarray,
    data: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
) -> None:
    """``out[positions[k]:][:lengths[k]] = data[starts[k]:][:lengths[k]]`` for every ``k``."""
    copy_slices(
        out,
        np.ascontiguousarray(positions, dtype=np.int64),
        np.ascontiguousarray(data, dtype=np.uint8),
        np.ascontiguousarray(starts, dtype=np.int64),
        np.ascontiguousarray(lengths, dtype=np.int64),
    )


# Compiled (nogil) loops: a batch's lines are written without holding the GIL, so worker
# threads format in parallel; and a loop over the records beats a dozen numpy passes each.


@njit(nogil=True, cache=True)
def _magnitude(value):
    """|value| as uint64 (exact for the most negative int64 too)."""
    if value < 0:
        return np.uint64(-(value + 1)) + np.uint64(1)
    return np.uint64(value)


@njit(nogil=True, cache=True)
def _integer_widths(values):
    widths = np.empty(values.shape[0], np.int64)
    ten = np.uint64(10)
    for record in range(values.shape[0]):
        value = values[record]
        magnitude = _magnitude(value)
        width = 2 if value < 0 else 1
        while magnitude >= ten:
            magnitude //= ten
            width += 1
        widths[record] = width
    return widths


@njit(nogil=True, cache=True)
def _write_integers(out, positions, values, widths):
    ten = np.uint64(10)
    for record in range(values.shape[0]):
        value = values[record]
        magnitude = _magnitude(value)
        if value < 0:
            out[positions[record]] = 45  # "-"
        position = positions[record] + widths[record] - 1
        while True:
            out[position] = np.uint8(48 + magnitude % ten)
            magnitude //= ten
            position -= 1
            if magnitude == 0:
                break


class LineAssembler:
    """Builds one text line per record from whole columns into one ``bytes``.

    Pieces are added in the order they appear on a line; every piece takes an optional
    ``where`` mask (records where it is absent get nothing). The lines are assembled by
    :meth:`to_bytes`: the width of every piece on every line is known beforehand, so each
    piece is written with a few array operations straight into place.

    Example:
        >>> lines = LineAssembler(3)
        >>> _ = lines.strings(["a", "bb", "c"]).constant("\\t").integers(np.array([7, -12, 0]))
        >>> _ = lines.constant("!", where=np.array([True, False, True])).constant("\\n")
        >>> lines.to_bytes()
        b'a\\t7!\\nbb\\t-12\\nc\\t0!\\n'
    """

    def __init__(self, count: int) -> None:
        self.count = count
        self._widths: list[np.ndarray] = []
        self._writers: list[Callable[[np.ndarray, np.ndarray], None]] = []

    def _add(
        self, widths: np.ndarray, writer: Callable[[np.ndarray, np.ndarray], None]
    ) -> LineAssembler:
        self._widths.append(widths)
        self._writers.append(writer)
        return self

    def _mask(self, where: np.ndarray | None) -> np.ndarray | None:
        if where is None:
            return None
        mask = np.asarray(where, dtype=bool)
        if mask.shape != (self.count,):
            raise ValueError(f"where must hold one bool per line ({self.count})")
        return mask

    def constant(self, text: str, where: np.ndarray | None = None) -> LineAssembler:
        """The same ASCII ``text`` on every line (or where ``where`` is True)."""
        encoded = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        mask = self._mask(where)
        widths = np.full(self.count, encoded.size, dtype=np.int64)
        if mask is not None:
            widths[~mask] = 0
        columns = np.arange(encoded.size, dtype=np.int64)

        def write(out: np.ndarray, positions: np.ndarray) -> None:
            chosen = positions if mask is None else positions[mask]
            if encoded.size == 1:
                out[chosen] = encoded[0]
            else:
                out[chosen[:, None] + columns] = encoded

        return self._add(widths, write)

    def integers(self, values: np.ndarray, where: np.ndarray | None = None) -> LineAssembler:
        """One integer per line, in decimal (nothing where ``where`` is False)."""
        numbers = np.asarray(values).astype(np.int64, copy=False)
        mask = self._mask(where)
        widths = integer_widths(numbers)
        if mask is not None:
            widths[~mask] = 0

        def write(out: np.ndarray, positions: np.ndarray) -> None:
            if mask is None:
                _put_integers(out, positions, numbers, widths)
            else:
                _put_integers(out, positions[mask], numbers[mask], widths[mask])

        return self._add(widths, write)

    def strings(self, texts: Sequence[str]) -> LineAssembler:
        """One string per line (UTF-8; lone surrogates kept as the bytes they stand for)."""
        joined = "".join(texts)
        encoded = joined.encode("utf-8", "surrogateescape")
        if len(encoded) == len(joined):  # ASCII: one byte per character
            widths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        else:
            widths = np.array(
                [len(text.encode("utf-8", "surrogateescape")) for text in texts], dtype=np.int64
            )
        return self.slices(
            np.frombuffer(encoded, dtype=np.uint8), np.cumsum(widths) - widths, widths
        )

    def slices(self, data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> LineAssembler:
        """``data[starts[k]:starts[k] + lengths[k]]`` (bytes as ``uint8``) on line ``k``."""
        lengths = np.asarray(lengths, dtype=np.int64)
        starts = np.asarray(starts, dtype=np.int64)
        if lengths.shape != (self.count,) or starts.shape != (self.count,):
            raise ValueError(f"slices need one start and one length per line ({self.count})")

        def write(out: np.ndarray, positions: np.ndarray) -> None:
            _put_slices(out, positions, data, starts, lengths)

        return self._add(lengths, write)

    def table(
        self, texts: Sequence[str], index: np.ndarray, where: np.ndarray | None = None
    ) -> LineAssembler:
        """``texts[index[k]]`` on line ``k`` (for a few distinct values: names, "+"/"-").

        Only the entries that ``index`` uses are encoded when ``texts`` has more entries than
        there are lines, so a batch's cost follows the batch, not the size of the table (the
        names of 500,000 references).
        """
        index = np.asarray(index, dtype=np.int64)
        if len(texts) > self.count:
            texts, index = used_entries(texts, index)
        encoded = [text.encode("utf-8", "surrogateescape") for text in texts]
        lengths = np.array([len(text) for text in encoded], dtype=np.int64)
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        line_lengths = lengths[index]
        mask = self._mask(where)
        if mask is not None:
            line_lengths[~mask] = 0
        return self.slices(data, (np.cumsum(lengths) - lengths)[index], line_lengths)

    def formatted(
        self, values: np.ndarray, template: str, where: np.ndarray | None = None
    ) -> LineAssembler:
        """``template % value`` for each value; each distinct value is formatted once.

        Example:
            >>> lines = LineAssembler(3).formatted(np.array([0.5, 0.25, 0.5]), "%.3f")
            >>> lines.constant(" ").to_bytes()
            b'0.500 0.250 0.500 '
        """
        distinct, inverse = np.unique(values, return_inverse=True)
        texts = [template % value for value in distinct.tolist()]
        return self.table(texts, inverse.ravel(), where)

    def cigars(
        self,
        operations: np.ndarray,
        operation_offsets: np.ndarray,
        extended: bool = True,
        where: np.ndarray | None = None,
    ) -> LineAssembler:
        """Each record's CIGAR operations, run-length encoded (``=``/``X``, or ``M`` when not
        ``extended``; nothing where ``where`` is False): one compiled pass makes the text.

        Example:
            >>> operations = np.array([0, 0, 1, 2, 0, 0, 3], dtype=np.uint8)
            >>> LineAssembler(3).cigars(operations, np.array([0, 4, 4, 7])).to_bytes()
            b'2=1X1I2=1D'
        """
        from ..kernels.cigar import cigar_text

        letters = EXTENDED_LETTERS if extended else CLASSIC_LETTERS
        mask = self._mask(where)
        text, bounds = cigar_text(
            np.ascontiguousarray(operations, dtype=np.uint8),
            np.ascontiguousarray(operation_offsets, dtype=np.int64),
            letters,
        )
        widths = np.diff(bounds)
        if mask is not None:
            widths[~mask] = 0
        return self.slices(text, bounds[:-1], widths)

    def to_bytes(self) -> bytes:
        """All lines, assembled."""
        if self.count == 0 or not self._widths:
            return b""
        line_widths = np.sum(self._widths, axis=0)
        positions = np.cumsum(line_widths) - line_widths
        out = np.empty(int(line_widths.sum()), dtype=np.uint8)
        for widths, write in zip(self._widths, self._writers, strict=True):
            write(out, positions)
            positions += widths
        return out.tobytes()


def add_scores(
    lines: LineAssembler, batch: AlignmentBatch, where: np.ndarray | None = None
) -> np.ndarray:
    """Add the scores: integers when integral, else the shortest float ``repr``.

    Returns which scores are integral.

    Example:
        >>> from streamalign import Aligner
        >>> batch = Aligner("ACGT", gap_open=2.5, gap_extend=0.5).align_many(["ACGT", "ACT"])
        >>> lines = LineAssembler(2)
        >>> add_scores(lines, batch).tolist(), lines.constant(" ").to_bytes()
        ([True, False], b'4 0.5 ')
    """
    integers = batch.integer_scores.astype(np.int64)
    scale = int(batch.scoring.scale)
    if scale == 1:
        lines.integers(integers, where)
        return np.ones(len(integers), dtype=bool)
    quotients, remainders = np.divmod(integers, scale)
    integral = remainders == 0
    shown = np.ones(len(integers), dtype=bool) if where is None else where
    lines.integers(quotients, shown & integral)
    lines.formatted(integers / scale, "%r", shown & ~integral)
    return integral


def gapped_rows(batch: AlignmentBatch) -> tuple[np.ndarray, np.ndarray]:
    """The query and reference rows of every alignment (``uint8``, ``-`` in gaps), cut by
    ``batch.operation_offsets``.

    The query row holds ``query[query_start:query_end]`` (as aligned, in the input's case) with
    ``-`` at deletions; the reference row ``reference[reference_start:reference_end]`` with
    ``-`` at insertions. Both have one character per alignment column.

    Example:
        >>> from streamalign import Aligner
        >>> batch = Aligner("ACGTACGT").align_many(["ACGTTACGT", "ACGACGT"])
        >>> [row.tobytes() for row in gapped_rows(batch)]
        [b'ACGTTACGTACG-ACGT', b'ACG-TACGTACGTACGT']
    """
    operations = batch.operations
    queries = batch.queries
    query_row = np.full(operations.size, ord("-"), dtype=np.uint8)
    query_lengths = queries.lengths()
    if (
        queries.offsets[0] == 0
        and not batch.query_starts.any()
        and np.array_equal(batch.query_ends, query_lengths)
    ):
        aligned_query = queries.sequences[: int(query_lengths.sum())]  # whole queries aligned
    else:
        aligned_query = queries.sequences[
            concatenated_ranges(
                queries.offsets[:-1] + batch.query_starts, batch.query_ends - batch.query_starts
            )
        ]
    query_row[operations != DELETION_CODE] = aligned_query
    # Slice each record's reference span from the Python strings: the cost follows the output,
    # not the size of the references (which may be whole chromosomes).
    references = batch.references
    piece = (
        references.piece
        if isinstance(references, ReferenceSequences)
        else lambda index, start, end: references[index][start:end]
    )
    pieces = "".join(
        [
            piece(index, start, end)
            for index, start, end in zip(
                batch.reference_index.tolist(),
                batch.reference_starts.tolist(),
                batch.reference_ends.tolist(),
                strict=True,
            )
        ]
    )
    reference_row = np.full(operations.size, ord("-"), dtype=np.uint8)
    reference_row[operations != INSERTION_CODE] = np.frombuffer(
        pieces.encode("ascii"), dtype=np.uint8
    )
    return query_row, reference_row


def _write_all(stream: BinaryIO, data: bytes) -> None:
    """One ``write`` call; finish it only if a raw (unbuffered) stream wrote part of it."""
    written = stream.write(data)
    if written is None or written >= len(data):
        return
    view = memoryview(data)
    while written < len(data):
        more = stream.write(view[written:])
        if not more:
            raise OSError(f"short write: {written} of {len(data)} bytes")
        written += more
