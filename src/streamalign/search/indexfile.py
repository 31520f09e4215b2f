"""The k-mer index on disk: built once (``streamalign index refs.fa -o refs.idx``), then opened
memory-mapped by every run, thread, worker process and Dask worker.

A file holds a :class:`~streamalign.search.index.KmerIndex` (every array its module describes)
plus the references' names and their sequences as given (ASCII, so lower case and ``U``
survive), so ``-r refs.idx`` needs no FASTA. Layout (integers little-endian):

========  =======  ===============================================================
offset    bytes    content
========  =======  ===============================================================
0         16       :data:`MAGIC`, ``b"\\x93STREAMALIGNIDX\\n"`` (the non-ASCII first byte
                   keeps text files, FASTA included, from ever matching)
16        4        format version (:data:`FORMAT_VERSION`), ``uint32``
20        4        zero
24        8        header length in bytes, ``uint64``
32        32       SHA-256 of the header
64        header   the header: UTF-8 JSON (below)
...                zero bytes up to the next multiple of 64: the data section starts there
...                the arrays, raw, each at a multiple of 64 from the data section's start
========  =======  ===============================================================

The header holds the format version again, the streamalign version that wrote the file, ``k``,
the alphabet (:data:`streamalign.alphabet.LETTERS`, in code order) and the k-mer encoding
version (:data:`KMER_ENCODING`: 2 bits per base, ``A C G T`` = 0-3, first base most
significant), the reference, cluster and k-mer counts, the source FASTA (absolute path, size,
modification time in ns and SHA-256 of its bytes as stored, compressed or not; ``null`` when
there was none) and, per array, its dtype, offset in the data section, length in elements and
SHA-256. Names are an array too (UTF-8 bytes and offsets), not JSON: 400,000 names would make a
header of tens of MB to parse and hash on every open.

Checks on opening (:func:`load_index`), each a one-line :class:`~streamalign.errors.IndexFileError`
naming the file:

- the magic (a foreign file), the format version, the header's SHA-256, the alphabet and k-mer
  encoding, ``k`` against the one asked;
- every array's extent against the file's size (truncated), and the lengths and end values
  that tie the arrays together (so that nothing can read outside them);
- every array's SHA-256 when the arrays hold at most ``_config.INDEX_VERIFY_BYTES`` (128 MiB,
  about 0.1 s; a 4,000-gene 16S set is about 40 MB), or when asked (``verify=True``,
  ``streamalign index --verify``); a larger index (400,000 genes: 2-3 GB, seconds of hashing)
  is not hashed on every run and every worker;
- stale: when the recorded FASTA still exists at its path and its size or modification time
  differ from the recorded ones, its SHA-256 is computed, and an index whose FASTA's content
  changed is refused (a FASTA that was only touched, or that is gone, is fine: the index holds
  the sequences).

The arrays are views of one copy-on-write mapping of the file (``mmap.ACCESS_COPY``): the
file, opened read-only, can never be changed through them, and its pages are shared by every
process that maps it (nothing writes to an index's arrays). The mapping is writable rather
than read-only because numba compiles a separate version of every kernel for read-only
arrays: 17 s of extra compilation on first use, measured here, for no gain. A loaded index
pickles as its path and header checksum (:meth:`MappedKmerIndex.__reduce__`): a worker maps
the same file again (it must be at the same path there) and checks it is the same index.

Files are written to a temporary file in the target's directory and renamed over the target
when complete, so a failed or interrupted ``save_index`` leaves nothing behind.

Example:
    >>> import os, tempfile
    >>> from streamalign.search.index import build_index
    >>> path = os.path.join(tempfile.mkdtemp(), "genes.idx")
    >>> genes = ["GATTACAGATTACA", "ccccGGGGAAAA"]
    >>> size = save_index(build_index(genes, k=4), path, source=None, sequences=genes)
    >>> loaded = load_index(path)
    >>> loaded.k, loaded.names, loaded.sequence(1), loaded.clusters_of(0).tolist()
    (4, ['reference0', 'reference1'], 'ccccGGGGAAAA', [1])
    >>> load_index(path, k=8)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    streamalign.errors.IndexFileError: .../genes.idx: index built with k=4, but k=8 was asked; ...
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import mmap
import os
import secrets
import stat
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _config
from ..alphabet import LETTERS, encode
from ..errors import IndexFileError
from .index import MAX_K, MIN_K, KmerIndex

#: First bytes of every index file.
MAGIC = b"\x93STREAMALIGNIDX\n"
#: Version of the layout above; another version is refused with a one-line error.
FORMAT_VERSION = 3
#: Version of the k-mer codes (2 bits per base, A C G T = 0-3, first base most significant).
KMER_ENCODING = 1
#: Alignment of the header's end and of every array (cache lines; numba's aligned arrays).
ALIGNMENT = 64
_PREFIX = struct.Struct("<16sIIQ32s")  # magic, version, zero, header length, header SHA-256
_PREFIX_BYTES = 64
#: The arrays of a file, in file order, with their dtypes.
ARRAY_DTYPES = {
    "reference_codes": "|u1",
    "reference_offsets": "<i8",
    "letter_masks": "<i4",
    "cluster_offsets": "<i8",
    "cluster_members": "<i4",
    "kmer_offsets": "<i8",
    "postings": "<i4",
    "family_of": "<i4",
    "family_consensus_offsets": "<i8",
    "family_consensus_codes": "|u1",
    "family_event_offsets": "<i8",
    "family_event_positions": "<i4",
    "family_event_values": "<i4",
    "upper_of": "<i4",
    "upper_consensus_offsets": "<i8",
    "upper_consensus_codes": "|u1",
    "upper_event_offsets": "<i8",
    "upper_event_positions": "<i4",
    "upper_event_values": "<i4",
    "sequences": "|u1",
    "name_bytes": "|u1",
    "name_offsets": "<i8",
}
_INDEX_ARRAYS = (
    "reference_codes",
    "reference_offsets",
    "letter_masks",
    "cluster_offsets",
    "cluster_members",
    "kmer_offsets",
    "postings",
    "family_of",
    "family_consensus_offsets",
    "family_consensus_codes",
    "family_event_offsets",
    "family_event_positions",
    "family_event_values",
    "upper_of",
    "upper_consensus_offsets",
    "upper_consensus_codes",
    "upper_event_offsets",
    "upper_event_positions",
    "upper_event_values",
)
_REBUILD = "rebuild it with `streamalign index`"


@dataclasses.dataclass(frozen=True)
class SourceFile:
    """The FASTA an index was built from, as it was then.

    Attributes:
        path: absolute path.
        size: bytes.
        mtime_ns: modification time, ns since the epoch.
        sha256: SHA-256 of its bytes as stored (a compressed file is hashed compressed).
    """

    path: str
    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> SourceFile:
        """The record of the file at ``path`` now."""
        absolute = os.path.abspath(os.fspath(path))
        status = os.stat(absolute)
        return cls(absolute, status.st_size, status.st_mtime_ns, file_sha256(absolute))


@dataclasses.dataclass(frozen=True)
class IndexHeader:
    """What the header of an index file says (see the module).

    Attributes:
        format_version, streamalign_version: who wrote the file, in which layout.
        k: k-mer length.
        reference_count, cluster_count, total_bases: sizes.
        source: the FASTA it was built from (``None``: none recorded).
        digest: SHA-256 of the header, hexadecimal (it covers every array's SHA-256).
        array_bytes: bytes of all arrays together.
        file_size: bytes of the file.
    """

    format_version: int
    streamalign_version: str
    k: int
    reference_count: int
    cluster_count: int
    total_bases: int
    source: SourceFile | None
    digest: str
    array_bytes: int
    file_size: int


@dataclasses.dataclass(frozen=True, eq=False)
class MappedKmerIndex(KmerIndex):
    """A :class:`~streamalign.search.index.KmerIndex` opened from a file by :func:`load_index`:
    its arrays are views of the file's mapping, and it pickles as its path.

    Attributes:
        sequences: the references' ASCII bytes as given, concatenated (offsets:
            ``reference_offsets``).
        path: the file, absolute.
        header: what its header says.
    """

    sequences: np.ndarray
    path: str
    header: IndexHeader

    def sequence(self, number: int) -> str:
        """Reference ``number`` as given (lower case kept)."""
        start, end = self.reference_offsets[number], self.reference_offsets[number + 1]
        return self.sequences[start:end].tobytes().decode("ascii")

    def reference_pairs(self) -> list[tuple[str, str]]:
        """``(name, sequence)`` of every reference, in file order (what an
        :class:`~streamalign.aligner.Aligner` takes)."""
        text = self.sequences.tobytes().decode("ascii")
        offsets = self.reference_offsets.tolist()
        return [
            (name, text[offsets[number] : offsets[number + 1]])
            for number, name in enumerate(self.names)
        ]

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reopen, (self.path, self.header.digest))


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, hexadecimal."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def is_index_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a regular file that starts with :data:`MAGIC` (whatever its name).

    Example:
        >>> is_index_file("-"), is_index_file("tests/data/ecoli_16S.fa")
        (False, False)
    """
    name = os.fspath(path)
    if name == "-" or not os.path.isfile(name):
        return False
    try:
        with open(name, "rb") as handle:
            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def save_index(
    index: KmerIndex,
    path: str | os.PathLike[str],
    *,
    source: str | os.PathLike[str] | SourceFile | None,
    sequences: np.ndarray | Sequence[str] | None = None,
) -> int:
    """Write ``index`` to ``path`` (atomically: a temporary file in the same directory, renamed
    when complete); return the file's size in bytes.

    Args:
        index: the index.
        path: the file to write (replaced if it exists).
        source: the FASTA the index was built from (its size, modification time and SHA-256
            are recorded now, for the stale check of :func:`load_index`), or ``None``.
        sequences: the references as given: strings, or their ASCII bytes concatenated
            (``uint8``, offsets ``index.reference_offsets``). They must encode to the index's
            codes. Default: decoded from the codes (upper case, ``U`` as ``T``).

    Raises:
        ValueError: ``sequences`` do not match the index.
        OSError: the file cannot be written (nothing is left behind).
    """
    from .. import __version__

    ascii_bytes = _sequence_bytes(index, sequences)
    encoded_names = [name.encode("utf-8") for name in index.names]
    if len(encoded_names) != index.reference_count:
        raise ValueError(
            f"the index holds {index.reference_count} references but {len(encoded_names)} names"
        )
    name_offsets = np.zeros(len(encoded_names) + 1, np.int64)
    np.cumsum([len(name) for name in encoded_names], out=name_offsets[1:])
    contents: dict[str, np.ndarray] = {name: getattr(index, name) for name in _INDEX_ARRAYS} | {
        "sequences": ascii_bytes,
        "name_bytes": np.frombuffer(b"".join(encoded_names), np.uint8),
        "name_offsets": name_offsets,
    }
    arrays: dict[str, np.ndarray] = {}
    described: dict[str, dict[str, Any]] = {}
    position = 0
    for name, dtype in ARRAY_DTYPES.items():
        array = np.ascontiguousarray(contents[name], dtype=np.dtype(dtype))
        arrays[name] = array
        described[name] = {
            "dtype": dtype,
            "offset": position,
            "length": len(array),
            "sha256": hashlib.sha256(array.data.cast("B")).hexdigest(),
        }
        position = _aligned(position + array.nbytes)
    recorded = source if source is None or isinstance(source, SourceFile) else SourceFile.of(source)
    header = {
        "format": "streamalign k-mer index",
        "format_version": FORMAT_VERSION,
        "streamalign_version": __version__,
        "k": index.k,
        "alphabet": LETTERS,
        "kmer_encoding": KMER_ENCODING,
        "reference_count": index.reference_count,
        "cluster_count": index.cluster_count,
        "kmer_count": index.kmer_count,
        "total_bases": int(index.reference_offsets[-1]),
        "source": None if recorded is None else dataclasses.asdict(recorded),
        "arrays": described,
    }
    header_bytes = json.dumps(header, indent=1).encode("utf-8") + b"\n"
    prefix = _PREFIX.pack(
        MAGIC, FORMAT_VERSION, 0, len(header_bytes), hashlib.sha256(header_bytes).digest()
    ).ljust(_PREFIX_BYTES, b"\0")
    data_start = _aligned(_PREFIX_BYTES + len(header_bytes))
    target = os.path.abspath(os.fspath(path))
    directory, base = os.path.split(target)
    temporary = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(prefix)
            handle.write(header_bytes)
            handle.write(bytes(data_start - _PREFIX_BYTES - len(header_bytes)))
            written = 0
            for name, array in arrays.items():
                handle.write(bytes(described[name]["offset"] - written))
                handle.write(array.data.cast("B"))
                written = described[name]["offset"] + array.nbytes
            handle.flush()
            os.fsync(handle.fileno())
            size = handle.tell()
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # make the rename durable too, where the system allows
        directory_descriptor = os.open(directory or ".", os.O_RDONLY)
        try:
            os.fsync(directory_descriptor)
        finally:
            os.close(directory_descriptor)
    return size


def load_index(
    path: str | os.PathLike[str],
    *,
    expected_source: str | os.PathLike[str] | None = None,
    k: int | None = None,
    verify: bool | None = None,
    check_source: bool = True,
) -> MappedKmerIndex:
    """Open an index file written by :func:`save_index`, memory-mapped (see the module for
    what is checked).

    Args:
        path: the file.
        expected_source: a FASTA the index must have been built from (same SHA-256).
        k: the k-mer length asked for, if any.
        verify: check every array's SHA-256 (``True``), sizes and header only (``False``), or
            the SHA-256s when the arrays hold at most ``_config.INDEX_VERIFY_BYTES`` (``None``).
        check_source: refuse the index when its FASTA has changed since (the stale check).

    Raises:
        IndexFileError: one line naming the file: not an index, another format version or
            alphabet, truncated, damaged, stale, another k, or another source.
    """
    name = os.fspath(path)
    absolute = os.path.abspath(name)
    try:
        descriptor = os.open(absolute, os.O_RDONLY)
    except OSError as error:
        raise IndexFileError(f"{name}: cannot open ({error.strerror or error})") from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise IndexFileError(f"{name}: not a streamalign index (not a regular file)")
        file_size = status.st_size
        prefix = os.pread(descriptor, _PREFIX_BYTES, 0)
        if prefix[: len(MAGIC)] != MAGIC:
            raise IndexFileError(
                f"{name}: not a streamalign index (it does not start with the index "
                "signature); build one with `streamalign index REFERENCES.fa -o INDEX`"
            )
        if len(prefix) < _PREFIX_BYTES:
            raise IndexFileError(f"{name}: truncated: {file_size} bytes, shorter than its header")
        _, version, _, header_length, header_digest = _PREFIX.unpack(prefix[: _PREFIX.size])
        if version != FORMAT_VERSION:
            raise IndexFileError(
                f"{name}: index format version {version}, but this streamalign reads version "
                f"{FORMAT_VERSION}; {_REBUILD}"
            )
        if _PREFIX_BYTES + header_length > file_size:
            raise IndexFileError(
                f"{name}: truncated: its header ends at byte {_PREFIX_BYTES + header_length:,}, "
                f"the file has {file_size:,} bytes"
            )
        header_bytes = os.pread(descriptor, header_length, _PREFIX_BYTES)
        if hashlib.sha256(header_bytes).digest() != header_digest:
            raise IndexFileError(
                f"{name}: header checksum mismatch (the file is damaged); {_REBUILD}"
            )
        header = _parsed_header(name, header_bytes)
        data_start = _aligned(_PREFIX_BYTES + header_length)
        _check_settings(name, header, k)
        extents = _array_extents(name, header, data_start, file_size)
        mapping = mmap.mmap(descriptor, file_size, access=mmap.ACCESS_COPY)
    finally:
        os.close(descriptor)
    arrays = {
        array_name: np.frombuffer(mapping, np.dtype(dtype), count, offset)
        for array_name, (dtype, offset, count) in extents.items()
    }
    _check_shapes(name, header, arrays)
    array_bytes = sum(array.nbytes for array in arrays.values())
    if verify or (verify is None and array_bytes <= _config.INDEX_VERIFY_BYTES):
        for array_name, array in arrays.items():
            if (
                hashlib.sha256(array.data.cast("B")).hexdigest()
                != (header["arrays"][array_name]["sha256"])
            ):
                raise IndexFileError(
                    f"{name}: checksum mismatch in array {array_name!r} (the file is damaged); "
                    f"{_REBUILD}"
                )
    source = None if header["source"] is None else SourceFile(**header["source"])
    if check_source and source is not None:
        _check_not_stale(name, source)
    if expected_source is not None:
        _check_source_is(name, source, expected_source)
    return MappedKmerIndex(
        k=int(header["k"]),
        names=_decoded_names(name, arrays["name_bytes"], arrays["name_offsets"]),
        **{array_name: arrays[array_name] for array_name in _INDEX_ARRAYS},
        sequences=arrays["sequences"],
        path=absolute,
        header=IndexHeader(
            format_version=FORMAT_VERSION,
            streamalign_version=str(header["streamalign_version"]),
            k=int(header["k"]),
            reference_count=int(header["reference_count"]),
            cluster_count=int(header["cluster_count"]),
            total_bases=int(header["total_bases"]),
            source=source,
            digest=hashlib.sha256(header_bytes).hexdigest(),
            array_bytes=array_bytes,
            file_size=file_size,
        ),
    )


def _reopen(path: str, digest: str) -> MappedKmerIndex:
    """Unpickle a :class:`MappedKmerIndex`: map its file again, check it is the same index."""
    try:
        index = load_index(path, verify=False, check_source=False)
    except IndexFileError as error:
        raise IndexFileError(
            f"{error} (opening the index again in a worker process: an index is sent to "
            "workers as its path, so it must be at that path there too)"
        ) from None
    if index.header.digest != digest:
        raise IndexFileError(
            f"{path}: another index is at this path than the one the run opened (it was "
            "replaced during the run)"
        )
    return index


def _aligned(position: int) -> int:
    return -(-position // ALIGNMENT) * ALIGNMENT


def _sequence_bytes(index: KmerIndex, sequences: np.ndarray | Sequence[str] | None) -> np.ndarray:
    """The references' ASCII bytes, concatenated, checked against the index's codes."""
    from ..alphabet import DECODE_TABLE

    if sequences is None:
        return DECODE_TABLE[index.reference_codes]
    if isinstance(sequences, np.ndarray):
        ascii_bytes = np.ascontiguousarray(sequences, dtype=np.uint8)
    else:
        if len(sequences) != index.reference_count:
            raise ValueError(
                f"{len(sequences)} sequences for an index of {index.reference_count} references"
            )
        lengths = [len(sequence) for sequence in sequences]
        if lengths != index.reference_lengths.tolist():
            raise ValueError("the sequences' lengths differ from the index's references")
        ascii_bytes = np.frombuffer("".join(sequences).encode("ascii"), np.uint8)
    if len(ascii_bytes) != len(index.reference_codes) or not np.array_equal(
        encode(ascii_bytes), index.reference_codes
    ):
        raise ValueError("the sequences differ from the index's references")
    return ascii_bytes


def _parsed_header(name: str, header_bytes: bytes) -> dict[str, Any]:
    try:
        header = json.loads(header_bytes)
        arrays = header["arrays"]
        for array_name in ARRAY_DTYPES:
            entry = arrays[array_name]
            if not (
                isinstance(entry["offset"], int)
                and isinstance(entry["length"], int)
                and entry["offset"] >= 0
                and entry["length"] >= 0
            ):
                raise ValueError(array_name)
        for field in ("k", "reference_count", "cluster_count", "total_bases"):
            if not isinstance(header[field], int):
                raise ValueError(field)
        if header["source"] is not None:  # present, even if null
            SourceFile(**header["source"])
    except (ValueError, KeyError, TypeError):
        raise IndexFileError(
            f"{name}: malformed header (the file is damaged); {_REBUILD}"
        ) from None
    return dict(header)


def _check_settings(name: str, header: dict[str, Any], k: int | None) -> None:
    """The alphabet, k-mer encoding and k the file was built with, against this version's."""
    if header.get("alphabet") != LETTERS or header.get("kmer_encoding") != KMER_ENCODING:
        raise IndexFileError(
            f"{name}: index built with another alphabet or k-mer encoding (alphabet "
            f"{header.get('alphabet')!r}, encoding {header.get('kmer_encoding')!r}; this "
            f"streamalign uses {LETTERS!r}, encoding {KMER_ENCODING}); {_REBUILD}"
        )
    for array_name, dtype in ARRAY_DTYPES.items():
        if header["arrays"][array_name].get("dtype") != dtype:
            raise IndexFileError(
                f"{name}: array {array_name!r} has dtype "
                f"{header['arrays'][array_name].get('dtype')!r}, not {dtype!r} (the file is "
                f"damaged); {_REBUILD}"
            )
    if not MIN_K <= header["k"] <= MAX_K:
        raise IndexFileError(f"{name}: malformed header: k={header['k']} (the file is damaged)")
    if k is not None and header["k"] != k:
        raise IndexFileError(
            f"{name}: index built with k={header['k']}, but k={k} was asked; rebuild it with "
            f"`streamalign index -k {k}`, or ask for k={header['k']}"
        )


def _array_extents(
    name: str, header: dict[str, Any], data_start: int, file_size: int
) -> dict[str, tuple[str, int, int]]:
    """Per array: dtype, offset in the file and length, each checked to lie in the file."""
    extents = {}
    end_of_data = data_start
    for array_name, dtype in ARRAY_DTYPES.items():
        entry = header["arrays"][array_name]
        offset = data_start + entry["offset"]
        if offset % ALIGNMENT:
            raise IndexFileError(f"{name}: malformed header (the file is damaged); {_REBUILD}")
        end = offset + entry["length"] * np.dtype(dtype).itemsize
        if end > file_size:
            raise IndexFileError(
                f"{name}: truncated: array {array_name!r} ends at byte {end:,}, the file has "
                f"{file_size:,} bytes; {_REBUILD}"
            )
        end_of_data = max(end_of_data, end)
        extents[array_name] = (dtype, offset, entry["length"])
    if end_of_data != file_size:
        raise IndexFileError(
            f"{name}: {file_size - end_of_data:,} bytes more than its header describes (the "
            f"file is damaged); {_REBUILD}"
        )
    return extents


def _check_shapes(name: str, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """The lengths and end values that tie the arrays together: afterwards every offset the
    search reads lies inside its array (the values between are covered by the checksums)."""
    references = int(header["reference_count"])
    clusters = int(header["cluster_count"])
    lengths = {array_name: len(array) for array_name, array in arrays.items()}

    def last(array_name: str) -> int:
        return int(arrays[array_name][-1])

    consistent = (
        references >= 1
        and lengths["reference_offsets"] == references + 1
        and lengths["letter_masks"] == references
        and lengths["cluster_members"] == references
        and lengths["name_offsets"] == references + 1
        and lengths["cluster_offsets"] == clusters + 1
        and lengths["kmer_offsets"] == 4 ** int(header["k"]) + 1
        and lengths["sequences"] == lengths["reference_codes"] == int(header["total_bases"])
        and int(arrays["reference_offsets"][0]) == 0
        and last("reference_offsets") == lengths["reference_codes"]
        and int(arrays["cluster_offsets"][0]) == 0
        and last("cluster_offsets") == references
        and int(arrays["kmer_offsets"][0]) == 0
        and last("kmer_offsets") == lengths["postings"]
        and int(arrays["name_offsets"][0]) == 0
        and last("name_offsets") == lengths["name_bytes"]
        # (read at run time without the checksums of a large index: families, consensus
        # letters and ranges must lie inside their arrays and tables)
        and _families_fit(arrays, lengths, "family", references)
        and _families_fit(arrays, lengths, "upper", lengths["family_consensus_offsets"] - 1)
    )
    if not consistent:
        raise IndexFileError(
            f"{name}: the arrays' sizes do not fit together (the file is damaged); {_REBUILD}"
        )


def _families_fit(
    arrays: dict[str, np.ndarray], lengths: dict[str, int], prefix: str, members: int
) -> bool:
    """Whether the ``prefix`` family arrays (of ``members`` sequences) fit together."""

    def last(array_name: str) -> int:
        return int(arrays[array_name][-1])

    return (
        lengths[f"{prefix}_of"] == members
        and lengths[f"{prefix}_event_offsets"] == members + 1
        and lengths[f"{prefix}_consensus_offsets"] >= 1
        and int(arrays[f"{prefix}_consensus_offsets"][0]) == 0
        and last(f"{prefix}_consensus_offsets") == lengths[f"{prefix}_consensus_codes"]
        and int(arrays[f"{prefix}_event_offsets"][0]) == 0
        and last(f"{prefix}_event_offsets")
        == lengths[f"{prefix}_event_positions"]
        == lengths[f"{prefix}_event_values"]
        and int(arrays[f"{prefix}_of"].min(initial=-1)) >= -1
        and int(arrays[f"{prefix}_of"].max(initial=-1)) < lengths[f"{prefix}_consensus_offsets"] - 1
        and bool(np.all(np.diff(arrays[f"{prefix}_event_offsets"]) >= 0))
        and bool(np.all(np.diff(arrays[f"{prefix}_consensus_offsets"]) >= 0))
        and int(arrays[f"{prefix}_consensus_codes"].max(initial=0)) < len(LETTERS)
    )


def _decoded_names(name: str, name_bytes: np.ndarray, name_offsets: np.ndarray) -> list[str]:
    raw = name_bytes.tobytes()
    offsets = name_offsets.tolist()
    try:
        if raw.isascii():
            text = raw.decode("ascii")
            return [text[offsets[n] : offsets[n + 1]] for n in range(len(offsets) - 1)]
        return [raw[offsets[n] : offsets[n + 1]].decode("utf-8") for n in range(len(offsets) - 1)]
    except UnicodeDecodeError:
        raise IndexFileError(f"{name}: malformed reference names (the file is damaged)") from None


def _check_not_stale(name: str, source: SourceFile) -> None:
    """Refuse an index whose FASTA, still at its path, holds other bytes than it did."""
    try:
        status = os.stat(source.path)
    except OSError:
        return  # gone (or unreadable): the index holds the sequences, nothing to compare
    if status.st_size == source.size and status.st_mtime_ns == source.mtime_ns:
        return
    try:
        digest = file_sha256(source.path)
    except OSError:
        return
    if digest != source.sha256:
        raise IndexFileError(
            f"{name}: stale: {source.path} has changed since the index was built from it "
            f"({source.size:,} bytes then, {status.st_size:,} now; SHA-256 "
            f"{source.sha256[:12]}... then, {digest[:12]}... now); rebuild it with "
            f"`streamalign index {source.path} -o {name}`"
        )


def _check_source_is(
    name: str, source: SourceFile | None, expected: str | os.PathLike[str]
) -> None:
    """Refuse an index that was not built from the file ``expected`` (same bytes)."""
    expected_name = os.fspath(expected)
    if source is None:
        raise IndexFileError(f"{name}: records no source FASTA, so it cannot match {expected_name}")
    try:
        same = os.path.getsize(expected_name) == source.size and (
            file_sha256(expected_name) == source.sha256
        )
    except OSError as error:
        raise IndexFileError(
            f"{expected_name}: cannot read ({error.strerror or error}) to check {name} against"
        ) from None
    if not same:
        raise IndexFileError(
            f"{name}: built from {source.path} (SHA-256 {source.sha256[:12]}...), whose bytes "
            f"differ from {expected_name}'s"
        )
