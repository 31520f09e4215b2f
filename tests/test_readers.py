"""Tests of streamalign.io.readers: FASTA/FASTQ input as batches.

Fixtures are real reads and genes from DADA2's example data (see tests/data/README.md);
compressed variants, CRLF copies and broken inputs are written into ``tmp_path``.
"""

from __future__ import annotations

import bz2
import gzip
import importlib
import io
import lzma
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterable
from pathlib import Path

import dnaio
import numpy as np
import pytest
from xopen import xopen

from streamalign.errors import InputFormatError
from streamalign.io.readers import read_batches, read_references
from streamalign.records import SequenceBatch

DATA = Path(__file__).parent / "data"
READS = DATA / "sam1F.200.fastq.gz"
GENES = DATA / "ten_16s.5.fa"
ECOLI = DATA / "ecoli_16S.fa"


def _zstd_module():
    for name in ("compression.zstd", "backports.zstd"):  # the modules xopen reads zstd with
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


ZSTD = _zstd_module()
COMPRESSORS = {
    "plain": lambda data: data,
    "gz": lambda data: gzip.compress(data, mtime=0),
    "bz2": bz2.compress,
    "xz": lzma.compress,
}
if ZSTD is not None:
    COMPRESSORS["zst"] = ZSTD.compress


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def fastq_text() -> bytes:
    return gzip.decompress(READS.read_bytes())


def parse_fastq(text: bytes) -> list[tuple[str, str, str, str]]:
    """An obviously correct four-line FASTQ parser: (name, comment, sequence, qualities)."""
    lines = text.decode("ascii").splitlines()
    records = []
    for start in range(0, len(lines), 4):
        header, sequence, _, qualities = lines[start : start + 4]
        name, _, comment = header[1:].partition(" ")
        records.append((name, comment, sequence, qualities))
    return records


def parse_fasta(text: bytes) -> list[tuple[str, str, str]]:
    """An obviously correct FASTA parser: (name, comment, sequence)."""
    records: list[tuple[str, str, list[str]]] = []
    for line in text.decode("ascii").splitlines():
        if line.startswith(">"):
            name, _, comment = line[1:].partition(" ")
            records.append((name, comment, []))
        elif line.strip():
            records[-1][2].append(line.strip())
    return [(name, comment, "".join(parts)) for name, comment, parts in records]


def flatten(batches: Iterable[SequenceBatch]) -> list[tuple[str, str, str, str | None]]:
    """Every record of the batches: (name, comment, sequence, qualities)."""
    records = []
    for batch in batches:
        assert batch.comments is not None
        for k in range(len(batch)):
            records.append((batch.names[k], batch.comments[k], batch.sequence(k), batch.quality(k)))
    return records


def batch_summary(batch: SequenceBatch) -> tuple:
    """Everything a batch holds, comparable with ``==``."""
    return (
        batch.index,
        batch.first_record,
        batch.names,
        batch.comments,
        batch.sequences.tobytes(),
        batch.offsets.tolist(),
        None if batch.qualities is None else batch.qualities.tobytes(),
    )


def check_batch(batch: SequenceBatch) -> None:
    """The invariants every batch keeps."""
    assert batch.sequences.dtype == np.uint8 and batch.offsets.dtype == np.int64
    assert batch.sequences.flags.writeable
    assert len(batch.offsets) == len(batch.names) + 1 == len(batch.comments or []) + 1
    assert batch.offsets[0] == 0 and batch.offsets[-1] == len(batch.sequences)
    assert np.all(np.diff(batch.offsets) >= 0)
    if batch.qualities is not None:
        assert batch.qualities.dtype == np.uint8 and len(batch.qualities) == len(batch.sequences)


def read_all(*args, **kwargs) -> list[SequenceBatch]:
    batches = list(read_batches(*args, **kwargs))
    for batch in batches:
        check_batch(batch)
    assert [batch.index for batch in batches] == list(range(len(batches)))
    first = 0
    for batch in batches:
        assert batch.first_record == first
        first += len(batch)
    return batches


def error_of(*args, **kwargs) -> tuple[list[SequenceBatch], InputFormatError]:
    """The batches yielded before the InputFormatError, and the error (a one-line message)."""
    batches: list[SequenceBatch] = []
    with pytest.raises(InputFormatError) as caught:
        for batch in read_batches(*args, **kwargs):
            batches.append(batch)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    return batches, caught.value


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


# --------------------------------------------------------------------------- reading


def test_fastq_fixture_matches_simple_parser(fastq_text: bytes) -> None:
    batches = read_all(str(READS), max_records=64)
    assert [len(batch) for batch in batches] == [64, 64, 64, 8]
    expected = parse_fastq(fastq_text)
    assert len(expected) == 200
    assert flatten(batches) == expected
    assert batches[0].names[0] == "M02273:28:000000000-ADV3A:1:2108:18106:16197"
    assert batches[0].comments == [comment for _, comment, _, _ in expected[:64]]
    assert batches[0].comments[0] == "1:N:0:52 t__21615"
    assert set(batches[0].lengths().tolist()) == {250}


def test_fasta_fixture_joins_lines_and_has_no_qualities() -> None:
    batches = read_all(str(GENES))
    [batch] = batches
    assert batch.qualities is None
    expected = parse_fasta(GENES.read_bytes())
    assert len(expected) == 5
    assert [(n, c, s) for n, c, s, _ in flatten(batches)] == expected
    assert batch.names[0].startswith("gi_961555154;tax=d:Bacteria")
    assert all(length > 1000 for length in batch.lengths().tolist())


@pytest.mark.parametrize("compression", sorted(COMPRESSORS))
def test_every_compression_and_stdin_give_identical_batches(
    tmp_path: Path, fastq_text: bytes, compression: str
) -> None:
    reference = [batch_summary(b) for b in read_all(str(READS), max_records=50)]
    data = COMPRESSORS[compression](fastq_text)
    # the content decides, not the name: a misleading extension must not matter
    for name in (f"reads.fastq.{compression}", "reads.txt", "reads.fa.gz"):
        path = write(tmp_path / name, data)
        assert [batch_summary(b) for b in read_all(path, max_records=50)] == reference
    from_stdin = read_all("-", max_records=50, stdin=io.BytesIO(data))
    assert [batch_summary(b) for b in from_stdin] == reference


@pytest.mark.parametrize("compression", sorted(COMPRESSORS))
def test_pipe_gives_the_same_batches_as_the_file(
    tmp_path: Path, fastq_text: bytes, compression: str
) -> None:
    data = COMPRESSORS[compression](fastq_text)
    reference = [batch_summary(b) for b in read_all(str(READS), max_records=50)]
    read_end, write_end = os.pipe()

    def feed() -> None:
        with open(write_end, "wb") as pipe:
            for start in range(0, len(data), 4096):
                pipe.write(data[start : start + 4096])
                pipe.flush()

    writer = threading.Thread(target=feed)
    writer.start()
    with open(read_end, "rb") as pipe:
        batches = read_all("-", max_records=50, flush_seconds=5.0, stdin=pipe)
    writer.join()
    assert [batch_summary(b) for b in batches] == reference


def test_gzip_members_padding_and_high_ratios(tmp_path: Path, fastq_text: bytes) -> None:
    records = parse_fastq(fastq_text)
    half = fastq_text.index(b"\n@", len(fastq_text) // 2) + 1
    # concatenated members (as bgzip and `cat a.gz b.gz` make), with zero padding between
    members = gzip.compress(fastq_text[:half]) + bytes(50) + gzip.compress(fastq_text[half:])
    assert flatten(read_all(write(tmp_path / "members.gz", members))) == records
    # a 1000:1 ratio: one compressed read yields far more than one output chunk
    long_read = b"@long\n" + b"A" * 3_000_000 + b"\n+\n" + b"I" * 3_000_000 + b"\n"
    data = gzip.compress(long_read * 2, compresslevel=9)
    assert len(data) < 30_000
    batches = read_all(write(tmp_path / "long.gz", data))
    assert [len(b) for b in batches] == [2]
    assert batches[0].lengths().tolist() == [3_000_000, 3_000_000]
    assert set(batches[0].sequences.tobytes()) == {ord("A")}


def test_gzip_with_trailing_garbage(tmp_path: Path, fastq_text: bytes) -> None:
    path = write(tmp_path / "reads.gz", gzip.compress(fastq_text) + b"this is not gzip")
    batches, error = error_of(path)
    assert flatten(batches) == parse_fastq(fastq_text)  # every record came before the error
    assert str(error).startswith(f"{path}: record 201: corrupt compressed data")


def test_zstd_is_read_or_reported(tmp_path: Path, fastq_text: bytes) -> None:
    if ZSTD is not None:
        path = write(tmp_path / "reads", ZSTD.compress(fastq_text))
        assert len(flatten(read_all(path))) == 200
    else:  # pragma: no cover - depends on the environment
        path = write(tmp_path / "reads.zst", b"\x28\xb5\x2f\xfd" + bytes(20))
        _, error = error_of(path)
        assert "zstd" in str(error) and path in str(error)


def test_several_paths_are_one_stream(tmp_path: Path, fastq_text: bytes) -> None:
    records = parse_fastq(fastq_text)
    first = write(tmp_path / "first.fq", fastq_text[: fastq_text.index(b"\n@", 1000) + 1])
    count_first = len(parse_fastq(Path(first).read_bytes()))
    second = write(tmp_path / "second.fq.bz2", bz2.compress(fastq_text))
    batches = read_all([first, Path(second)], max_records=64)
    assert flatten(batches) == records[:count_first] + records
    # a batch goes on across the file boundary when the kind stays the same
    assert sum(len(b) for b in batches) == count_first + 200
    assert [len(b) for b in batches][:-1] == [64] * (len(batches) - 1)


def test_fasta_and_fastq_never_share_a_batch(tmp_path: Path) -> None:
    fastq = write(tmp_path / "a.fq", b"@q1\nAC\n+\nII\n@q2\nGG\n+\nII\n")
    fasta = write(tmp_path / "b.fa", b">f1\nAAA\n>f2\nCCC\n")
    batches = read_all([fastq, fasta, fastq], max_records=10)
    assert [b.names for b in batches] == [["q1", "q2"], ["f1", "f2"], ["q1", "q2"]]
    assert [b.qualities is None for b in batches] == [False, True, False]
    assert [b.first_record for b in batches] == [0, 2, 4]
    assert batches[2].quality(1) == "II"


def test_references_are_name_and_sequence() -> None:
    [(name, sequence)] = read_references(ECOLI)
    assert name.startswith("gi_631252882;tax=d:Bacteria")
    assert name.endswith("g:Escherichia;")
    assert len(sequence) == 1465 and sequence.startswith("ATTGAACGCTGGCGGCAGG")
    genes = read_references(str(GENES))
    assert genes == [(n, s) for n, _, s in parse_fasta(GENES.read_bytes())]


def test_references_from_compressed_stdin() -> None:
    data = lzma.compress(ECOLI.read_bytes())
    assert read_references("-", stdin=io.BytesIO(data)) == read_references(ECOLI)


# --------------------------------------------------------------------------- batch limits


@pytest.mark.parametrize(
    ("max_records", "max_bases", "sizes"),
    [
        (4096, 4_000_000, [200]),
        (64, 4_000_000, [64, 64, 64, 8]),
        (1, 4_000_000, [1] * 200),
        (4096, 1000, [4] * 50),  # 4 x 250 reaches 1000 exactly
        (4096, 600, [3] * 66 + [2]),  # 500 < 600 <= 750
        (4096, 1, [1] * 200),  # every read is longer than max_bases
        (3, 600, [3] * 66 + [2]),
        (7, 1500, [6] * 33 + [2]),
        (300, 64_000, [200]),
    ],
)
def test_batches_close_at_max_records_or_max_bases(
    fastq_text: bytes, max_records: int, max_bases: int, sizes: list[int]
) -> None:
    batches = read_all(str(READS), max_records=max_records, max_bases=max_bases)
    assert [len(b) for b in batches] == sizes
    assert flatten(batches) == parse_fastq(fastq_text)


def test_a_sequence_longer_than_max_bases_is_a_batch_of_its_own() -> None:
    stream = io.BytesIO(b">short\nAC\n>long\n" + b"A" * 500 + b"\n>tail\nG\n")
    batches = read_all("-", max_bases=100, stdin=stream)
    assert [b.names for b in batches] == [["short", "long"], ["tail"]]


def test_invalid_limits_are_rejected() -> None:
    for options in ({"max_records": 0}, {"max_bases": 0}, {"flush_seconds": 0}):
        with pytest.raises(ValueError, match=next(iter(options))):
            read_batches(str(READS), **options)


# --------------------------------------------------------------------------- record details


def test_crlf_line_endings(tmp_path: Path, fastq_text: bytes) -> None:
    crlf = fastq_text.replace(b"\n", b"\r\n")
    lf_batches = [batch_summary(b) for b in read_all(str(READS))]
    crlf_batches = read_all(write(tmp_path / "crlf.fq.gz", gzip.compress(crlf)))
    assert [batch_summary(b) for b in crlf_batches] == lf_batches
    fasta = GENES.read_bytes()
    fasta_crlf = read_all(write(tmp_path / "crlf.fa", fasta.replace(b"\n", b"\r\n")))
    assert [batch_summary(b) for b in fasta_crlf] == [batch_summary(b) for b in read_all(GENES)]
    for batch in crlf_batches + fasta_crlf:
        assert ord("\r") not in batch.sequences
        assert not any("\r" in text for text in batch.names + (batch.comments or []))


def test_empty_sequences_and_duplicate_names_are_kept() -> None:
    fastq = b"@a first\n\n+\n\n@a second\nACGT\n+\nIIII\n@b\n\n+\n\n"
    [batch] = read_all("-", stdin=io.BytesIO(fastq))
    assert batch.names == ["a", "a", "b"]
    assert batch.comments == ["first", "second", ""]
    assert batch.lengths().tolist() == [0, 4, 0]
    assert [batch.quality(k) for k in range(3)] == ["", "IIII", ""]
    [batch] = read_all("-", stdin=io.BytesIO(b">x\n>x\nAC\n>y\n"))
    assert batch.names == ["x", "x", "y"] and batch.lengths().tolist() == [0, 2, 0]


def test_header_splits_at_the_first_whitespace() -> None:
    fastq = b"@r1\tlane=2 more words\nA\n+\nI\n@r2  two spaces\nC\n+\nI\n@\nG\n+\nI\n"
    [batch] = read_all("-", stdin=io.BytesIO(fastq))
    assert batch.names == ["r1", "r2", ""]
    assert batch.comments == ["lane=2 more words", "two spaces", ""]


def test_nucleotide_characters_are_not_checked_here() -> None:
    [batch] = read_all("-", stdin=io.BytesIO(b">odd\nacgtNRYX*-.\n"))
    assert batch.sequence(0) == "acgtNRYX*-."


def test_blank_lines_before_the_first_header(tmp_path: Path) -> None:
    text = b"\n  \n" + GENES.read_bytes()
    [batch] = read_all(write(tmp_path / "genes.txt", text))
    assert [(n, c, s) for n, c, s, _ in flatten([batch])] == parse_fasta(text)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", gzip.compress(b""), bz2.compress(b"")])
def test_empty_input_yields_nothing(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path / "empty.fq", content)
    assert read_all(path) == []
    assert read_all([path, str(GENES), path])[0].names[0].startswith("gi_961555154")


# --------------------------------------------------------------------------- errors


def test_quality_string_of_the_wrong_length(tmp_path: Path) -> None:
    text = b"@r1\nACGT\n+\nIIII\n@r2\nACGT\n+\nIIII\n@r3\nACGT\n+\nIII\n@r4\nA\n+\nI\n"
    path = write(tmp_path / "reads.fq", text)
    batches, error = error_of(path)
    assert str(error) == (
        f"{path}: line 12 (record 3): quality string length does not match sequence length"
    )
    assert flatten(batches) == [("r1", "", "ACGT", "IIII"), ("r2", "", "ACGT", "IIII")]


def test_missing_plus_line(tmp_path: Path) -> None:
    path = write(tmp_path / "reads.fq", b"@r1\nACGT\n+\nIIII\n@r2\nAC\nII\n@r3\nA\n+\nI\n")
    batches, error = error_of(path)
    assert str(error).startswith(f"{path}: line 7 (record 2): ")
    assert "'+'" in str(error)
    assert flatten(batches) == [("r1", "", "ACGT", "IIII")]


def test_header_without_at_sign(tmp_path: Path) -> None:
    path = write(tmp_path / "reads.fq", b"@r1\nACGT\n+\nIIII\nr2\nAC\n+\nII\n")
    _, error = error_of(path)
    assert str(error).startswith(f"{path}: line 5 (record 2): ")
    assert "'@'" in str(error)
    path = write(tmp_path / "first.fq", b"r1\nACGT\n+\nIIII\n")
    _, error = error_of(path)
    assert str(error).startswith(f"{path}: line 1 (record 1): not FASTA or FASTQ")


def test_truncated_fastq_record(tmp_path: Path) -> None:
    path = write(tmp_path / "reads.fq", b"@r1\nACGT\n+\nIIII\n@r2\nAC\n")
    batches, error = error_of(path)
    assert str(error).startswith(f"{path}: line 7 (record 2): premature end of file")
    assert len(flatten(batches)) == 1


def test_fasta_with_text_before_the_first_header(tmp_path: Path) -> None:
    path = write(tmp_path / "genes.fa", b"some notes\n>a\nACGT\n")
    _, error = error_of(path)
    assert str(error) == (
        f"{path}: line 1 (record 1): not FASTA or FASTQ: expected a header starting with "
        "'>' or '@', found 'some notes'"
    )
    path = write(tmp_path / "comment.fa", b"# a comment line\nnotes\n>a\nACGT\n")
    _, error = error_of(path)
    assert str(error).startswith(f"{path}: line 2 (record 1): expected '>'")


def test_binary_garbage(tmp_path: Path) -> None:
    garbage = np.random.default_rng(7).integers(128, 256, 3000, dtype=np.uint8).tobytes()
    path = write(tmp_path / "garbage.fq", garbage)
    _, error = error_of(path)
    assert str(error).startswith(f"{path}: line 1 (record 1): not FASTA or FASTQ")


@pytest.mark.parametrize("compression", ["plain", "gz"])
def test_non_ascii_bytes_inside_fastq_are_placed(
    tmp_path: Path, fastq_text: bytes, compression: str
) -> None:
    lines = fastq_text.split(b"\n")
    lines[150 * 4 + 1] = lines[150 * 4 + 1][:100] + b"\xff\xfe" + lines[150 * 4 + 1][102:]
    path = write(tmp_path / "reads.fq", COMPRESSORS[compression](b"\n".join(lines)))
    batches, error = error_of(path, max_records=64)
    assert str(error) == (
        f"{path}: line 602 (record 151): non-ASCII byte 0xff "
        "(binary data, or not a FASTA/FASTQ file?)"
    )
    assert flatten(batches) == parse_fastq(fastq_text)[:150]  # every record before it


@pytest.mark.parametrize("bad", [b"\xc3\xa9", b"\xff"])
def test_non_ascii_bytes_inside_fasta_are_placed(tmp_path: Path, bad: bytes) -> None:
    text = GENES.read_bytes().split(b"\n")
    header_lines = [k for k, line in enumerate(text) if line.startswith(b">")]
    line = header_lines[3] + 2  # the second sequence line of record 4
    text[line] = text[line][:10] + bad + text[line][10:]
    path = write(tmp_path / "genes.fa", b"\n".join(text))
    batches, error = error_of(path)
    assert str(error).startswith(f"{path}: line {line + 1} (record 4): non-ASCII byte 0x")
    assert [n for n, _, _, _ in flatten(batches)] == [
        n for n, _, _ in parse_fasta(GENES.read_bytes())
    ][:3]


def test_non_ascii_byte_in_a_header_line(tmp_path: Path) -> None:
    path = write(tmp_path / "genes.fa", b">a\nAC\n>b caf\xc3\xa9\nGG\n>c\nTT\n")
    batches, error = error_of(path)
    assert str(error).startswith(f"{path}: line 3 (record 2): non-ASCII byte 0xc3")
    assert [b.names for b in batches] == [["a"]]
    path = write(tmp_path / "reads.fq", b"@a\nA\n+\nI\n@b\xff\nA\n+\nI\n")
    batches, error = error_of(path)
    assert str(error).startswith(f"{path}: line 5 (record 2): non-ASCII byte 0xff")
    assert [b.names for b in batches] == [["a"]]


def test_truncated_gzip(tmp_path: Path, fastq_text: bytes) -> None:
    data = gzip.compress(fastq_text)
    path = write(tmp_path / "reads.fq.gz", data[: len(data) * 2 // 3])
    batches, error = error_of(path)
    done = sum(len(b) for b in batches)
    assert 0 < done < 200
    assert flatten(batches) == parse_fastq(fastq_text)[:done]  # what came before is valid
    assert str(error) == (
        f"{path}: record {done + 1}: compressed data ends early (truncated file?)"
    )


@pytest.mark.parametrize("compression", sorted(set(COMPRESSORS) - {"plain"}))
def test_corrupt_compressed_data(tmp_path: Path, fastq_text: bytes, compression: str) -> None:
    data = bytearray(COMPRESSORS[compression](fastq_text))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(range(64))
    path = write(tmp_path / f"reads.{compression}", bytes(data))
    _, error = error_of(path)
    assert str(error).startswith(f"{path}: ")
    # either the decompressor notices, or the damage reaches the parser as a bad record
    assert "corrupt compressed data" in str(error) or "(record " in str(error)


def test_missing_file_is_reported_before_any_batch(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.fq")
    with pytest.raises(InputFormatError) as caught:
        read_batches([str(READS), missing])  # the call itself checks, before any batch
    assert str(caught.value) == f"{missing}: cannot open: No such file or directory"
    assert isinstance(caught.value.__cause__, FileNotFoundError)


def test_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError) as caught:
        read_batches(tmp_path)
    assert str(caught.value) == f"{tmp_path}: cannot open: is a directory, not a FASTA/FASTQ file"


def test_stdin_errors_are_named_stdin() -> None:
    stream = io.BytesIO(b"@r1\nACGT\n+\nII\n")
    _, error = error_of("-", stdin=stream)
    assert str(error).startswith("<stdin>: line 4 (record 1): quality string length")


def test_error_in_second_file_names_that_file(tmp_path: Path) -> None:
    good = write(tmp_path / "good.fq", b"@r1\nA\n+\nI\n")
    bad = write(tmp_path / "bad.fq", b"@r2\nA\n+\nI\n@r3\nAC\n+\nI\n")
    batches, error = error_of([good, bad])
    assert str(error).startswith(f"{bad}: line 8 (record 2): ")
    assert [b.names for b in batches] == [["r1", "r2"]]
    assert [b.first_record for b in batches] == [0]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "no FASTA records found"),
        (b"plain text, not FASTA\n", "not FASTA or FASTQ"),
        (b">a\nAC\n>b\nA\xffC\n", "non-ASCII byte 0xff"),
    ],
)
def test_references_errors(tmp_path: Path, content: bytes, expected: str) -> None:
    path = write(tmp_path / "reference.fa", content)
    with pytest.raises(InputFormatError, match=expected) as caught:
        read_references(path)
    assert str(caught.value).startswith(f"{path}: ")
    with pytest.raises(InputFormatError, match="No such file"):
        read_references(tmp_path / "missing.fa")


# --------------------------------------------------------------------------- streaming

WRITER = textwrap.dedent(
    """
    import sys, zlib
    compress = sys.argv[1] == "gz"
    fasta = sys.argv[2] == "fasta"
    out = sys.stdout.buffer
    gzip_stream = zlib.compressobj(wbits=31)

    def send(data, final=False):
        if compress:
            data = gzip_stream.compress(data) + gzip_stream.flush(
                zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH
            )
        out.write(data)
        out.flush()

    def record(k):
        return b">r%d\\nACGT\\n" % k if fasta else b"@r%d\\nACGT\\n+\\nIIII\\n" % k

    send(b"".join(record(k) for k in range(5)))
    sys.stdin.readline()  # wait until the test has seen a batch (or gives up)
    send(record(5), final=True)
    """
)


@pytest.mark.parametrize(
    ("compression", "kind"), [("plain", "fastq"), ("gz", "fastq"), ("plain", "fasta")]
)
def test_slow_pipe_yields_before_the_writer_finishes(compression: str, kind: str) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, compression, kind],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert writer.stdin is not None and writer.stdout is not None
    release = threading.Timer(20.0, lambda: writer.stdin.close())  # never hang the test run
    release.start()
    try:
        batches = read_batches("-", flush_seconds=0.2, stdin=writer.stdout)
        first = next(batches)
        still_writing = writer.poll() is None and not writer.stdin.closed
        writer.stdin.write(b"go on\n")
        writer.stdin.close()
        rest = list(batches)
    finally:
        release.cancel()
        writer.wait(timeout=20)
        writer.stdout.close()
    assert still_writing, "the first batch only came when the writer had finished"
    # a FASTA record is complete only when the next header (or the end) arrives
    expected_first = [f"r{k}" for k in range(5 if kind == "fastq" else 4)]
    assert first.names == expected_first
    assert [name for batch in [first, *rest] for name in batch.names] == [f"r{k}" for k in range(6)]
    assert [batch.index for batch in [first, *rest]] == list(range(1 + len(rest)))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_path_is_streamed(tmp_path: Path) -> None:
    fifo = tmp_path / "reads.fifo"
    os.mkfifo(fifo)
    may_continue = threading.Event()

    def feed() -> None:
        with open(fifo, "wb") as pipe:
            pipe.write(b"@a\nAC\n+\nII\n@b\nGT\n+\nII\n")
            pipe.flush()
            may_continue.wait(20)
            pipe.write(b"@c\nA\n+\nI\n")

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        batches = read_batches([str(fifo), str(READS)], flush_seconds=0.2)
        first = next(batches)
        writer_was_waiting = not may_continue.is_set()
        may_continue.set()
        rest = list(batches)
    finally:
        may_continue.set()
        writer.join()
    assert writer_was_waiting and first.names == ["a", "b"]
    assert rest[0].names[0] == "c" and sum(len(b) for b in rest) == 201


def test_without_flush_seconds_a_pipe_waits_for_full_batches() -> None:
    read_end, write_end = os.pipe()
    with open(write_end, "wb") as pipe:
        pipe.write(b"@a\nA\n+\nI\n@b\nC\n+\nI\n")
    with open(read_end, "rb") as pipe:
        assert [b.names for b in read_all("-", flush_seconds=None, stdin=pipe)] == [["a", "b"]]


def test_abandoned_streams_release_their_inputs(tmp_path: Path, fastq_text: bytes) -> None:
    path = write(tmp_path / "reads.fq.gz", gzip.compress(fastq_text * 20))
    batches = read_batches(path, max_records=10)
    assert len(next(batches)) == 10
    batches.close()  # closes the file; a ResourceWarning would fail the run
    read_end, write_end = os.pipe()
    with open(write_end, "wb") as pipe:
        pipe.write(b"@a\nA\n+\nI\n" * 100)
    with open(read_end, "rb") as pipe:
        streamed = read_batches("-", max_records=10, flush_seconds=0.2, stdin=pipe)
        assert len(next(streamed)) == 10
        streamed.close()


# --------------------------------------------------------------------------- dnaio and xopen alone


def _records_before_error(path: str) -> tuple[int, BaseException | None]:
    """Records dnaio.open(path) yields, and what it raised (None if it read to the end)."""
    count = 0
    try:
        with dnaio.open(path) as reader:
            for _ in reader:
                count += 1
    except Exception as error:
        return count, error
    return count, None


def test_what_dnaio_and_xopen_do_alone(tmp_path: Path, fastq_text: bytes) -> None:
    """Why readers.py keeps its hand-written pieces (its module docstring lists them). When an
    assertion here fails, dnaio or xopen learned to do that: the piece may go."""
    # xopen trusts the extension over the content
    path = write(tmp_path / "reads.fq.gz", bz2.compress(fastq_text))
    with pytest.raises(OSError), xopen(path, "rb") as stream:
        stream.read()
    # records before a truncated gzip, or before trailing garbage, are lost (_GzipReader)
    data = gzip.compress(fastq_text)
    for broken in (data[: len(data) * 2 // 3], data + b"this is not gzip"):
        count, error = _records_before_error(write(tmp_path / "reads.fq.gz", broken))
        assert count == 0 and error is not None
    # a non-ASCII byte: no line, and no record before it (_TextSource)
    lines = fastq_text.split(b"\n")
    lines[601] = b"\xff" + lines[601][1:]
    count, error = _records_before_error(write(tmp_path / "reads.fq", b"\n".join(lines)))
    assert count == 0 and isinstance(error, dnaio.exceptions.FastqFormatError)
    assert error.line is None
    count, error = _records_before_error(write(tmp_path / "genes.fa", b">a\nAC\n>b\nA\xffC\n"))
    assert count == 0 and isinstance(error, UnicodeDecodeError)
    # blank lines before the first header defeat dnaio's detection (read_batches skips them)
    with pytest.raises(dnaio.UnknownFileFormat):
        dnaio.open(io.BytesIO(b"\n>a\nAC\n"))
