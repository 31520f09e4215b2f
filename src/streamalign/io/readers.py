"""Read FASTA/FASTQ input as :class:`~streamalign.records.SequenceBatch` batches.

dnaio parses every record, and xopen opens bzip2, xz and zstd input, finding them from the
first bytes. Around them this module adds what a streaming aligner needs: ``"-"`` for standard
input; several inputs read one after another as one stream; batches that close at
``max_records`` records or ``max_bases`` bases and, for input that arrives slowly through a
pipe, after ``flush_seconds`` without a new record; and one-line
:class:`~streamalign.errors.InputFormatError` messages naming the file, the 1-based line (where
known) and the 1-based record.

What is hand-written here, and why dnaio and xopen do not do it (each shown by a test in
``tests/test_readers.py``; ``test_what_dnaio_and_xopen_do_alone`` notices if they learn it):

- the input is opened by this module and handed to xopen as a stream without a name, because
  xopen trusts a file name's extension over the content (``reads.fa.gz`` holding bzip2);
- :class:`_GzipReader`: ISA-L's and zlib-ng's gzip file readers (what xopen uses) drop the
  output of the read that meets a truncation or trailing garbage, so the records before it
  are lost; the standard library's reader keeps them but made reading a gzipped FASTQ file
  about 1.5 times slower (0.20 s against 0.31 s of CPU for sam1F.fastq.gz 60 times, 51 MB);
- :class:`_TextSource`: dnaio's FASTQ parser asks for 128 KiB at a time, which on a pipe waits
  until that much has arrived; it reports a non-ASCII byte without a line and drops the records
  of the whole buffer before it, and its FASTA reader fails with a ``UnicodeDecodeError``. So
  the bytes reach dnaio one read at a time, the lines are counted and a non-ASCII byte is
  caught here, after the records before it;
- FASTA or FASTQ is found from the first character that is not whitespace: dnaio's own
  detection looks at the first four bytes only, so blank lines before the first header (or an
  input of blank lines) defeat it, and its message names no line;
- :class:`_Pump` and :class:`_RawSource`: a read from a pipe blocks, so when ``flush_seconds``
  is set parsing moves to a background thread, fed by a thread that reads the pipe; waiting
  for that with a timeout, it hands out the records it holds meanwhile.

Compressed regular files are decompressed in a helper thread too (ISA-L and the bz2/lzma
modules release the GIL), overlapping parsing. Every thread ends on an explicit end item, never
on a timeout.

Example:
    >>> import io
    >>> stream = io.BytesIO(b"@read1 sample=a\\nACGT\\n+\\nIIII\\n@read2\\nGG\\n+\\nII\\n")
    >>> [batch] = read_batches("-", stdin=stream)
    >>> batch.names, batch.comments, batch.sequence(0), batch.quality(1)
    (['read1', 'read2'], ['sample=a', ''], 'ACGT', 'II')
"""

from __future__ import annotations

import contextlib
import importlib
import io
import lzma
import os
import queue
import stat
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, BinaryIO, cast

import dnaio
import numpy as np
from xopen import xopen

from ..errors import InputFormatError
from ..records import SequenceBatch

__all__ = ["InputProgress", "read_batches", "read_references"]

STDIN_NAME = "<stdin>"
"""How standard input (the path ``"-"``) is named in messages."""

_CHUNK_SIZE = 128 * 1024  # bytes asked of a source per read
_GZIP_INPUT_SIZE = 32 * 1024  # compressed bytes per inflate call (about a chunk of output)
_PUMP_CAPACITY = 8  # chunks read ahead by a pump thread
_BATCH_CAPACITY = 2  # batches read ahead when reading in a background thread
_POLL_SECONDS = 0.25  # how often blocked threads look whether the consumer went away
_GZIP_MAGIC = b"\x1f\x8b"  # read by _GzipReader; xopen finds the other compressions
_NEWLINE, _GREATER = ord("\n"), ord(">")
_FORMATS = {b"@": "fastq", b">": "fasta", b"#": "fasta"}  # by first character, as dnaio tells
_GROUP_SIZE = 256  # records converted to bytes at a time (keeps memory use cache-warm)
_DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (zlib.error, lzma.LZMAError)
_inflate: ModuleType = zlib  # gzip members are inflated with ISA-L (about twice as fast) if present
try:
    from isal import isal_zlib

    _inflate = isal_zlib
    _DECOMPRESSION_ERRORS += (cast("type[BaseException]", isal_zlib.error),)
except ImportError:  # pragma: no cover - optional
    pass
for _zstd_name in ("compression.zstd", "backports.zstd"):  # what xopen reads zstd with
    try:
        _zstd = importlib.import_module(_zstd_name)
    except ImportError:
        continue
    _DECOMPRESSION_ERRORS += (_zstd.ZstdError,)
    break
_DNAIO_MESSAGES = {  # clearer wording for dnaio's most common complaints
    "Length of sequence and qualities differ": (
        "quality string length does not match sequence length"
    ),
}


class InputProgress:
    """How far :func:`read_batches` has read its inputs, for progress and ETA displays.

    ``total_bytes`` is the sum of the inputs' file sizes, ``None`` when one is standard input
    or a pipe (no end is known). ``bytes_read`` and ``records_read`` are updated together as
    each batch is cut: bytes of the files as stored (compressed bytes for compressed input).
    Read from another thread, they are a recent, consistent-enough snapshot.

    Example:
        >>> import io
        >>> progress = InputProgress()
        >>> batches = list(read_batches("-", stdin=io.BytesIO(b">a\\nAC\\n"), progress=progress))
        >>> progress.records_read, progress.total_bytes
        (1, None)
    """

    def __init__(self) -> None:
        self.total_bytes: int | None = None
        self.bytes_read = 0
        self.records_read = 0
        self._finished_bytes = 0  # sizes of the inputs read to the end
        self._position: Callable[[], int] | None = None  # of the input being read

    def _update(self, records_read: int) -> None:
        try:
            position = 0 if self._position is None else self._position()
        except (OSError, ValueError):  # closed by its reading thread: keep the last position
            pass
        else:
            self.bytes_read = self._finished_bytes + position
        self.records_read = records_read


def read_batches(
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    max_records: int = 4096,
    max_bases: int = 4_000_000,
    flush_seconds: float | None = 0.5,
    stdin: BinaryIO | None = None,
    progress: InputProgress | None = None,
) -> Iterator[SequenceBatch]:
    """Yield the records of FASTA/FASTQ inputs as batches, in input order.

    Args:
        paths: one path or a sequence of paths, read one after another as one stream; ``"-"``
            is standard input. Each may be plain, gzip, bzip2, xz or zstd compressed (found from
            the content) and FASTA or FASTQ (found from its first character).
        max_records: a batch closes when it holds this many records ...
        max_bases: ... or when the total length of its sequences reaches this, whichever comes
            first (so a single longer sequence makes a batch of its own).
        flush_seconds: when an input is a pipe (or another source that can block) and no
            record has completed for this long, the records read so far leave as a smaller
            batch; ``None`` waits for full batches. Regular files never wait. A FASTA record is
            complete only once the next header (or the end of input) has arrived.
        stdin: the binary stream read for ``"-"``; ``sys.stdin.buffer`` when ``None``.
        progress: kept up to date with the bytes and records read (see :class:`InputProgress`).

    Yields:
        Batches with ``index`` 0, 1, 2, ... and ``first_record`` counted over all inputs.
        FASTQ records carry ``qualities``; FASTA records ``None`` (a batch never mixes them).

    Raises:
        InputFormatError: an input is missing, unreadable or malformed. Missing inputs and
            directories are reported by this call itself, before any batch; a malformed record
            is reported when it is reached, after the batches of the records before it.

    Example:
        >>> import io
        >>> stream = io.BytesIO(b">a\\nACGT\\n>b\\nGGA\\n>c\\nTT\\n")
        >>> [(batch.index, batch.names) for batch in read_batches("-", max_records=2, stdin=stream)]
        [(0, ['a', 'b']), (1, ['c'])]
    """
    if max_records < 1:
        raise ValueError(f"max_records must be at least 1, got {max_records}")
    if max_bases < 1:
        raise ValueError(f"max_bases must be at least 1, got {max_bases}")
    if flush_seconds is not None and not flush_seconds > 0:
        raise ValueError(f"flush_seconds must be positive or None, got {flush_seconds}")
    inputs = [_describe_input(path, stdin) for path in _path_list(paths)]
    producer = _BatchProducer(inputs, max_records, max_bases, flush_seconds)
    if progress is not None:
        producer.progress = progress
        sizes = [source.size for source in inputs]
        progress.total_bytes = None if None in sizes else sum(size or 0 for size in sizes)
    if flush_seconds is not None and any(source.may_block for source in inputs):
        return _batches_from_thread(producer)
    return producer.batches()


def read_references(
    path: str | os.PathLike[str], *, stdin: BinaryIO | None = None
) -> list[tuple[str, str]]:
    """Read every record of one FASTA (or FASTQ) file as ``(name, sequence)``.

    The name is the header up to the first whitespace. Compression is found from the content.

    Raises:
        InputFormatError: the file is missing, not FASTA/FASTQ, malformed or holds no records.

    Example:
        >>> import io
        >>> read_references("-", stdin=io.BytesIO(b">ecoli 16S\\nAGAG\\nTTTG\\n>b\\nCC\\n"))
        [('ecoli', 'AGAGTTTG'), ('b', 'CC')]
    """
    references: list[tuple[str, str]] = []
    for batch in read_batches(
        [path], max_records=1 << 16, max_bases=1 << 28, flush_seconds=None, stdin=stdin
    ):
        text = batch.sequences.tobytes().decode("ascii")
        offsets = batch.offsets.tolist()
        references.extend(
            (name, text[offsets[k] : offsets[k + 1]]) for k, name in enumerate(batch.names)
        )
    if not references:
        name = STDIN_NAME if _is_stdin(path) else os.fspath(path)
        raise InputFormatError(f"{name}: no FASTA records found (the input is empty)")
    return references


# --------------------------------------------------------------------------- inputs


@dataclass
class _InputSource:
    """One input as given: its name for messages and how to open it."""

    name: str
    path: str | None  # None for standard input
    stream: BinaryIO | None  # the standard input stream, when path is None
    may_block: bool  # a pipe, FIFO, socket or terminal: reads may wait for a writer
    size: int | None = None  # bytes of a regular file (None: standard input, a pipe...)


def _path_list(paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str]) -> list[Any]:
    if isinstance(paths, (str, os.PathLike)):
        return [paths]
    return list(paths)


def _is_stdin(path: object) -> bool:
    return isinstance(path, str) and path == "-"


def _describe_input(path: str | os.PathLike[str], stdin: BinaryIO | None) -> _InputSource:
    """Check that an input exists and is not a directory; note whether reading it may block."""
    if _is_stdin(path):
        stream: Any = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise InputFormatError(f"{STDIN_NAME}: standard input is not available")
        if isinstance(stream, io.TextIOWrapper):
            stream = stream.buffer
        return _InputSource(STDIN_NAME, None, stream, _stream_may_block(stream))
    name = os.fspath(path)
    if not isinstance(name, str):
        raise TypeError(f"paths must be str or os.PathLike[str], got {path!r}")
    try:
        mode = os.stat(name).st_mode
    except OSError as error:
        raise InputFormatError(f"{name}: cannot open: {_reason(error)}") from error
    if stat.S_ISDIR(mode):
        raise InputFormatError(f"{name}: cannot open: is a directory, not a FASTA/FASTQ file")
    size = os.stat(name).st_size if stat.S_ISREG(mode) else None
    return _InputSource(name, name, None, not stat.S_ISREG(mode), size)


def _stream_may_block(stream: Any) -> bool:
    try:
        return not stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):  # BytesIO and friends: all data at hand
        return False


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def _read_partial(stream: Any, size: int) -> bytes:
    """Read at most ``size`` bytes with at most one read of the stream below (never waits for
    more data once some arrived, which matters for pipes)."""
    read1 = getattr(stream, "read1", None)
    data = read1(size) if read1 is not None else stream.read(size)
    if data is None:  # a non-blocking raw stream without data
        return b""
    return bytes(data) if not isinstance(data, bytes) else data


class _Stopped(Exception):
    """The consumer went away; unwind the reading thread."""


class _Pump:
    """A daemon thread that reads chunks of a stream into a bounded queue.

    Two uses: on a source that may block (a pipe), the reading thread can then wait for input
    with a timeout and hand out the records it holds meanwhile; on a compressed regular file,
    decompression (which releases the GIL) overlaps parsing. The chunks, then the end (an empty
    chunk) or the error, arrive in order. The thread closes the stream below it when it ends.
    """

    def __init__(self, stream: Any, closers: list[Callable[[], None]]) -> None:
        self._stream = stream
        self._closers = closers
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(_PUMP_CAPACITY)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="streamalign-input", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    data = _read_partial(self._stream, _CHUNK_SIZE)
                except BaseException as error:  # handed to the reading thread, in order
                    self._put(error)
                    return
                self._put(data)
                if not data:
                    return
        finally:
            for close in self._closers:
                with contextlib.suppress(Exception):
                    close()

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def get(self, timeout: float) -> bytes:
        """The next chunk (``b""`` at the end); ``queue.Empty`` after ``timeout`` seconds."""
        item = self._queue.get(timeout=timeout)
        if isinstance(item, BaseException):
            self._queue.put(item)  # the error stays the answer to every later read
            raise item
        if not item:
            self._queue.put(item)
        return item

    def stop(self) -> None:
        self._stop.set()


def _partial_reader(stream: Any) -> Callable[[memoryview], int]:
    """A ``readinto`` for ``stream`` that does at most one read of the stream below (so it
    never waits for more data once some arrived, which matters for pipes)."""
    readinto1 = getattr(stream, "readinto1", None)
    if readinto1 is not None:  # buffered streams, BytesIO, decompressors
        return cast("Callable[[memoryview], int]", readinto1)
    if isinstance(stream, io.RawIOBase):  # one system call (or one chunk) by definition
        return stream.readinto

    def readinto(target: memoryview) -> int:
        data = _read_partial(stream, len(target))
        target[: len(data)] = data
        return len(data)

    return readinto


class _RawSource(io.RawIOBase):
    """The compressed (or plain) bytes of one input, never more than one read at a time.

    With a pump it waits for data in steps and lets the producer flush pending records while
    the writer at the other end of the pipe is silent.
    """

    def __init__(
        self, source: Any, pump: _Pump | None = None, producer: _BatchProducer | None = None
    ) -> None:
        super().__init__()
        self._source = source
        self._readinto = _partial_reader(source) if pump is None else None
        self._pump = pump
        self._producer = producer
        self._data = b""  # bytes read ahead (the start of the input, or a pump chunk)
        self._offset = 0

    def readable(self) -> bool:
        return True

    def peek(self, size: int = 1) -> bytes:
        """The next ``size`` bytes (fewer at the end of input), kept for the next reads; what
        xopen looks at to find the compression."""
        pieces = [self._data[self._offset :]]
        have = len(pieces[0])
        while have < size:
            piece = self._next_chunk(_CHUNK_SIZE)
            if not piece:
                break
            pieces.append(piece)
            have += len(piece)
        self._data, self._offset = b"".join(pieces), 0
        return self._data[:size]

    def _next_chunk(self, size: int) -> bytes:
        if self._pump is None:
            return _read_partial(self._source, size)
        producer = self._producer
        while True:
            try:
                return self._pump.get(_POLL_SECONDS if producer is None else producer.idle_wait())
            except queue.Empty:
                if producer is not None:
                    producer.on_idle()

    def read1(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (a whole chunk when ``size`` is negative)."""
        if self._offset >= len(self._data):
            self._data, self._offset = self._next_chunk(size if size > 0 else _CHUNK_SIZE), 0
        start = self._offset
        self._offset = len(self._data) if size < 0 else min(len(self._data), start + size)
        if start == 0 and self._offset == len(self._data):
            return self._data
        return self._data[start : self._offset]

    def readinto(self, buffer: Any) -> int:
        if self._offset >= len(self._data) and self._readinto is not None:
            with memoryview(buffer) as view, view.cast("B") as target:
                return self._readinto(target)
        with memoryview(buffer) as view, view.cast("B") as target:
            data = self.read1(len(target))
            target[: len(data)] = data
        return len(data)


class _NonAsciiByte(Exception):
    """A non-ASCII byte in the input, caught before dnaio sees it."""

    def __init__(self, byte: int, line: int, headers: int) -> None:
        super().__init__(byte, line, headers)
        self.byte = byte  # its value
        self.line = line  # its 1-based line
        self.headers = headers  # FASTA header lines starting before it (or on its line)


class _TextSource(io.RawIOBase):
    """The decompressed bytes of one input, as dnaio reads them.

    It counts lines (and FASTA header lines) as the bytes go by. A non-ASCII byte (binary
    data, a wrong encoding) is caught here: the lines before it are handed on, so dnaio yields
    every record before it. Then, when the byte's line starts a record, the input seems to end
    there (and the reader raises :attr:`error` once dnaio is done); otherwise the next read
    raises :class:`_NonAsciiByte`.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__()
        self._stream = stream
        self._readinto = _partial_reader(stream)
        self.count_headers = False
        self._chunk = memoryview(bytearray(_CHUNK_SIZE))  # for small reads (dnaio's FASTA)
        self._ahead = memoryview(b"")  # bytes read but not yet delivered
        self._ahead_checked = True
        self._position = _Position()  # counts before the next byte delivered
        self.error: _NonAsciiByte | None = None  # raised once the bytes before it are out
        self._error_starts_record = False

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._ahead.release()
            self._chunk.release()
        super().close()

    def first_character(self) -> tuple[bytes, int]:
        """The first non-whitespace byte (``b""`` if none) and its 1-based line."""
        pieces = [b""]
        while not pieces[-1].strip():
            piece = _read_partial(self._stream, _CHUNK_SIZE)
            if not piece:
                break
            pieces.append(piece)
        data = b"".join(pieces)
        self._ahead, self._ahead_checked = memoryview(data), False
        stripped = data.lstrip()
        line = data[: len(data) - len(stripped)].count(b"\n") + 1
        return stripped[:1], line

    def first_line(self) -> bytes:
        """The first non-blank line, from what :meth:`first_character` read."""
        return self._ahead.tobytes().lstrip().split(b"\n", 1)[0].rstrip(b"\r")

    def readinto(self, buffer: Any) -> int:
        with memoryview(buffer) as view, view.cast("B") as target:
            if not self._ahead:
                if self.error is not None:
                    return self._stop_at_error()
                if len(target) >= _CHUNK_SIZE:  # large reads (dnaio's FASTQ) go straight in
                    size = self._readinto(target)
                    return self._check(target[:size]) if size else 0
                size = self._readinto(self._chunk)
                if not size:
                    return 0
                self._ahead, self._ahead_checked = self._chunk[:size], False
            if not self._ahead_checked:
                self._ahead = self._ahead[: self._check(self._ahead)]
                self._ahead_checked = True
                if not self._ahead:
                    return self._stop_at_error()
            size = min(len(target), len(self._ahead))
            target[:size] = self._ahead[:size]
            self._ahead = self._ahead[size:]
        return size

    def _check(self, data: memoryview) -> int:
        """Count the lines of ``data``; return how much of it may be handed on: all of it, or
        the lines before the first non-ASCII byte (then noted in ``self._error``)."""
        codes = np.frombuffer(data, dtype=np.uint8)
        start = self._position
        size = len(codes)
        if codes.max() >= 0x80:
            bad = int(np.argmax(codes >= 0x80))
            size = data[:bad].tobytes().rfind(b"\n") + 1  # the start of the byte's line
            codes = codes[:size]
        newlines = codes == _NEWLINE
        lines = start.lines + int(np.count_nonzero(newlines))
        headers = start.headers
        if self.count_headers and size:
            headers += int(np.count_nonzero(newlines[:-1] & (codes[1:] == _GREATER)))
            headers += start.line_start and codes[0] == _GREATER
        line_start = bool(newlines[-1]) if size else start.line_start
        self._position = _Position(lines, headers, line_start)
        if size < len(data):
            if self.count_headers:
                self._error_starts_record = line_start and data[size] == _GREATER
                headers += self._error_starts_record  # the byte is in a header line
            else:
                self._error_starts_record = line_start and lines % 4 == 0
            self.error = _NonAsciiByte(data[bad], lines + 1, headers)
        return size

    def _stop_at_error(self) -> int:
        """End of input for dnaio when the bad line starts a record, else the error."""
        assert self.error is not None
        if self._error_starts_record:
            return 0
        raise self.error


@dataclass(frozen=True)
class _Position:
    """Counts before a point of the input: newlines, FASTA header lines, and whether the point
    starts a line."""

    lines: int = 0
    headers: int = 0
    line_start: bool = True


class _GzipReader(io.RawIOBase):
    """gzip (multi-member) decompression that returns as soon as it has output.

    Unlike ISA-L's and zlib-ng's file readers, which fill their whole buffer first and drop
    what they decompressed when they then meet an error, this hands out every byte before a
    truncation or corruption (so the records before it are yielded), and does not hold back
    records on a slow pipe.
    """

    def __init__(self, raw: Any) -> None:
        super().__init__()
        self._raw = raw
        self._decompressor: Any = None  # None between members
        self._input = b""  # compressed bytes read but not yet decompressed
        self._output = b""  # decompressed bytes not yet handed out, from self._offset
        self._offset = 0
        self._more_output = False  # the last call stopped at the output limit

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        """Up to ``size`` decompressed bytes, without a copy when a whole block fits."""
        while self._offset >= len(self._output):
            if not self._decompress():
                return b""
        output, offset = self._output, self._offset
        if offset == 0 and (size < 0 or size >= len(output)):
            self._output = b""
            return output
        end = len(output) if size < 0 else offset + size
        self._offset = min(end, len(output))
        return output[offset : self._offset]

    def readinto(self, buffer: Any) -> int:
        with memoryview(buffer) as view, view.cast("B") as target:
            data = self.read1(len(target))
            target[: len(data)] = data
        return len(data)

    def _decompress(self) -> bool:
        """Decompress some more into the output; ``False`` at the end of the last member."""
        decompressor = self._decompressor
        if decompressor is None:  # a new member starts after optional zero padding
            data = self._input.lstrip(b"\0")
            while not data:
                data = self._raw.read1(_GZIP_INPUT_SIZE)
                if not data:
                    return False
                data = data.lstrip(b"\0")
            decompressor = self._decompressor = _inflate.decompressobj(31)
        else:
            data = decompressor.unconsumed_tail
            if not data and not self._more_output:
                data = self._raw.read1(_GZIP_INPUT_SIZE)
                if not data:
                    raise EOFError(
                        "Compressed file ended before the end-of-stream marker was reached"
                    )
        self._input = b""
        self._output, self._offset = decompressor.decompress(data, _CHUNK_SIZE), 0
        self._more_output = len(self._output) >= _CHUNK_SIZE
        if decompressor.eof:
            self._input, self._decompressor = decompressor.unused_data, None
        return True


@dataclass
class _OpenInput:
    """The reading stack of one input, built step by step so errors can use what exists."""

    source: _InputSource
    format: str | None = None  # "fasta", "fastq", or None for an input without records
    text: _TextSource | None = None
    reader: Any = None
    _closers: list[Any] = field(default_factory=list)

    def open(self, producer: _BatchProducer | None, progress: InputProgress | None = None) -> None:
        """Open, detect compression and format, and start dnaio on it.

        ``producer`` is given when batches are made in a background thread; then an input that
        may block is read through a pump, which lets the producer flush records while waiting.
        """
        name = self.source.name
        if self.source.path is not None:
            try:
                stream: Any = open(self.source.path, "rb")  # noqa: SIM115 - closed by close()
            except OSError as error:
                raise InputFormatError(f"{name}: cannot open: {_reason(error)}") from error
            self._closers.append(stream.close)
            if progress is not None:
                progress._position = stream.tell
        else:
            stream = self.source.stream
        waits = producer is not None and self.source.may_block
        if waits:
            pump = _Pump(stream, self._closers)  # the pump's thread closes the file
            self._closers = [pump.stop]
            raw = _RawSource(None, pump, producer)
        else:
            raw = _RawSource(stream)
        decompressed: Any = raw
        try:
            if raw.peek(2) == _GZIP_MAGIC:
                decompressed = _GzipReader(raw)
            else:  # xopen finds bzip2, xz and zstd from the first bytes (plain: raw itself)
                decompressed = xopen(cast(BinaryIO, raw), "rb", threads=0)
        except ImportError as error:
            raise InputFormatError(
                f"{name}: compressed input needs a Python module that is not installed ({error})"
            ) from error
        if decompressed is not raw:
            self._closers.insert(0, decompressed.close)
            if not waits:  # decompress in a second thread, overlapping parsing
                pump = _Pump(decompressed, self._closers)
                self._closers = [pump.stop]
                decompressed = _RawSource(None, pump, producer)
        self.text = _TextSource(decompressed)
        first, line = self.text.first_character()
        if first == b"":
            return  # empty: no records
        self.format = _FORMATS.get(first)
        self.text.count_headers = self.format == "fasta"
        if self.format is None:
            shown = _shorten(self.text.first_line().decode("ascii", "backslashreplace"))
            raise InputFormatError(
                f"{name}: line {line} (record 1): not FASTA or FASTQ: expected a header starting "
                f"with '>' or '@', found '{shown}'"
            )
        self.reader = dnaio.open(cast(BinaryIO, self.text), fileformat=self.format)
        self._closers.insert(0, self.reader.close)

    def close(self) -> None:
        for close in self._closers:
            close()
        self._closers.clear()


def _shorten(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


# --------------------------------------------------------------------------- errors


def _input_error(
    error: BaseException, opened: _OpenInput, records_read: int
) -> InputFormatError | None:
    """Turn what dnaio, a decompressor or the operating system raised into one line, or None."""
    name = opened.source.name
    record = records_read + 1

    def at(line: int | None, record: int, what: str) -> InputFormatError:
        what = what.replace("\r", "\\r").replace("\n", "\\n")
        where = f"record {record}" if line is None else f"line {line} (record {record})"
        return InputFormatError(f"{name}: {where}: {what}")

    if isinstance(error, _NonAsciiByte):
        # dnaio reads four-line FASTQ only; a FASTA record starts at its header line
        fastq = opened.format == "fastq"
        record = (error.line - 1) // 4 + 1 if fastq else max(error.headers, 1)
        return at(
            error.line,
            record,
            f"non-ASCII byte 0x{error.byte:02x} (binary data, or not a FASTA/FASTQ file?)",
        )
    if isinstance(error, dnaio.FileFormatError):
        message = error.message.split(" (line number refers to", 1)[0]
        message = _DNAIO_MESSAGES.get(message, message)
        message = message[:1].lower() + message[1:]
        line = error.line
        if line is not None and opened.format == "fastq":
            record = line // 4 + 1  # dnaio reads four-line FASTQ only
        return at(None if line is None else line + 1, record, message.rstrip("."))
    if isinstance(error, EOFError):
        return at(None, record, "compressed data ends early (truncated file?)")
    if isinstance(error, _DECOMPRESSION_ERRORS) or (
        isinstance(error, OSError) and error.errno is None
    ):
        return at(None, record, f"corrupt compressed data ({error})")
    if isinstance(error, OSError):
        return at(None, record, f"cannot read: {_reason(error)}")
    return None


# --------------------------------------------------------------------------- batches


class _PendingRecords:
    """Records read but not yet yielded.

    The newest records wait as dnaio records in :attr:`group`; every few hundred records the
    group is folded into bytes and lists, so only a small set of record objects is alive at a
    time (that keeps the allocator's memory warm and is measurably faster than keeping a whole
    batch of record objects).
    """

    def __init__(self, max_records: int) -> None:
        self.group: list[dnaio.SequenceRecord] = []
        self.with_qualities = False
        self.bases = 0  # total length of the folded sequences
        self._max_records = max_records
        self._sequences: list[bytes] = []
        self._qualities: list[bytes] = []
        self._lengths: list[int] = []
        self._names: list[str] = []
        self._comments: list[str] = []

    def __len__(self) -> int:
        return len(self._names) + len(self.group)

    def group_limit(self) -> int:
        """How many records the group may hold before it must be folded."""
        return max(1, min(_GROUP_SIZE, self._max_records - len(self._names)))

    def fold(self) -> None:
        """Move the group's records into the byte buffers."""
        group = self.group
        if not group:
            return
        sequences = [record.sequence for record in group]
        lengths = list(map(len, sequences))
        self.bases += sum(lengths)
        self._lengths += lengths
        self._sequences.append("".join(sequences).encode("ascii"))
        if self.with_qualities:
            qualities = cast("list[str]", [record.qualities for record in group])
            self._qualities.append("".join(qualities).encode("ascii"))
        self._names += [record.id for record in group]
        self._comments += [record.comment or "" for record in group]
        group.clear()

    def take(self, index: int, first_record: int) -> SequenceBatch:
        """All pending records as one batch; leaves nothing pending."""
        self.fold()
        offsets = np.zeros(len(self._lengths) + 1, dtype=np.int64)
        np.cumsum(self._lengths, out=offsets[1:])
        batch = SequenceBatch(
            names=self._names,
            sequences=_joined(self._sequences),
            offsets=offsets,
            qualities=(_joined(self._qualities) if self.with_qualities else None),
            index=index,
            first_record=first_record,
            comments=self._comments,
        )
        self.bases = 0
        self._sequences, self._qualities, self._lengths = [], [], []
        self._names, self._comments = [], []
        return batch


def _joined(parts: list[bytes]) -> np.ndarray:
    """The parts, one after another, as one writable ``uint8`` array (one copy)."""
    return np.frombuffer(bytearray().join(parts), dtype=np.uint8)


class _BatchProducer:
    """Reads the inputs in order and cuts their records into batches.

    :meth:`batches` runs in the caller's thread, or in a background thread when an input may
    block; then :meth:`on_idle` (called from a waiting read) hands out pending records early.
    """

    def __init__(
        self,
        inputs: list[_InputSource],
        max_records: int,
        max_bases: int,
        flush_seconds: float | None,
    ) -> None:
        self._inputs = inputs
        self._max_records = max_records
        self._max_bases = max_bases
        self._flush_seconds = flush_seconds
        self._pending = _PendingRecords(max_records)
        self._batch_index = 0
        self._records_done = 0
        # background mode only:
        self._output: queue.Queue[tuple[str, Any]] | None = None
        self._stop = threading.Event()
        self._pending_seen = 0
        self._pending_since = 0.0
        self.progress: InputProgress | None = None

    def batches(self) -> Iterator[SequenceBatch]:
        """Every batch of every input, in order."""
        for source in self._inputs:
            yield from self._read_input(source)
        if self._pending:
            yield self._take_pending()

    def _read_input(self, source: _InputSource) -> Iterator[SequenceBatch]:
        opened = _OpenInput(source)
        pending = self._pending
        records_read = 0
        try:
            opened.open(self if self._output is not None else None, self.progress)
            if opened.format is None:
                return
            with_qualities = opened.format == "fastq"
            if pending and with_qualities != pending.with_qualities:
                yield self._take_pending()  # FASTA and FASTQ records go to separate batches
            pending.with_qualities = with_qualities
            max_records, max_bases = self._max_records, self._max_bases
            group = pending.group  # emptied in place by fold() and take()
            append = group.append
            bases, limit = pending.bases, pending.group_limit()
            for records_read, record in enumerate(opened.reader, 1):  # noqa: B007
                append(record)
                bases += len(record)  # an overestimate after an idle flush; fixed just below
                if bases >= max_bases or len(group) >= limit:
                    pending.fold()
                    if pending.bases >= max_bases or len(pending) >= max_records:
                        yield self._take_pending()
                    bases, limit = pending.bases, pending.group_limit()
            pending.fold()
            if opened.text is not None and opened.text.error is not None:
                raise opened.text.error  # the records before it went out
        except _Stopped:
            raise
        except Exception as error:
            converted = (
                error
                if isinstance(error, InputFormatError)
                else _input_error(error, opened, records_read)
            )
            if converted is None:
                raise
            if pending:
                yield self._take_pending()  # the records before the error are valid
            if converted is error:
                raise
            raise converted from error
        finally:
            opened.close()
            if self.progress is not None:
                self.progress._finished_bytes += source.size or 0
                self.progress._position = None

    def _take_pending(self) -> SequenceBatch:
        batch = self._pending.take(self._batch_index, self._records_done)
        self._batch_index += 1
        self._records_done += len(batch)
        self._pending_seen = 0
        if self.progress is not None:
            self.progress._update(self._records_done)
        return batch

    # -- background mode

    def run(self, output: queue.Queue[tuple[str, Any]]) -> None:
        """Thread body: put ``("batch", b)`` items, then ``("end", None)`` or ``("error", e)``."""
        self._output = output
        try:
            for batch in self.batches():
                self._put(("batch", batch))
        except _Stopped:
            return
        except BaseException as error:
            with contextlib.suppress(_Stopped):
                self._put(("error", error))
        else:
            with contextlib.suppress(_Stopped):
                self._put(("end", None))

    def stop(self) -> None:
        self._stop.set()

    def _put(self, item: tuple[str, Any]) -> None:
        assert self._output is not None
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                self._output.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                continue

    def idle_wait(self) -> float:
        """Seconds a waiting read may wait before calling :meth:`on_idle`."""
        count = len(self._pending)
        now = time.monotonic()
        if count != self._pending_seen:
            self._pending_seen, self._pending_since = count, now
        if count == 0 or self._flush_seconds is None:
            return _POLL_SECONDS
        return max(0.0, min(_POLL_SECONDS, self._pending_since + self._flush_seconds - now))

    def on_idle(self) -> None:
        """A read found no input for a while: stop if asked, flush pending records if due."""
        if self._stop.is_set():
            raise _Stopped
        if (
            self._pending
            and self._flush_seconds is not None
            and time.monotonic() - self._pending_since >= self._flush_seconds
        ):
            self._put(("batch", self._take_pending()))


def _batches_from_thread(producer: _BatchProducer) -> Iterator[SequenceBatch]:
    """Run the producer in a daemon thread; yield what it puts until its end sentinel."""
    output: queue.Queue[tuple[str, Any]] = queue.Queue(_BATCH_CAPACITY)
    thread = threading.Thread(
        target=producer.run, args=(output,), name="streamalign-reader", daemon=True
    )
    thread.start()
    try:
        while True:
            try:
                kind, value = output.get(timeout=1.0)
            except queue.Empty:
                if thread.is_alive() or not output.empty():
                    continue
                raise RuntimeError("the input reading thread ended without a result") from None
            if kind == "batch":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        producer.stop()
