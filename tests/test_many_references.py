"""Output with many references: a SAM header of 200,000 references is linear to write, a
batch's formatting reads only the references the batch uses, and a SAM file with 5,000 ``@SQ``
lines and records on its last references is valid for samtools and pysam."""

from __future__ import annotations

import dataclasses
import io
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pysam
import pytest

from streamalign import Aligner, AlignmentBatch
from streamalign.io.formats import FORMATS, make_writer
from streamalign.io.sam import SamWriter, sam_reference_name, unique_reference_names

SAMTOOLS = shutil.which("samtools")


def _taxonomy_names(count: int) -> list[str]:
    """Names like a 16S training set's: commas SAM forbids, and each name five times."""
    return [
        f"gi_{number // 5};tax=d:Bacteria,p:Firmicutes,g:G{number % 7}" for number in range(count)
    ]


def _header_seconds(names: list[str]) -> tuple[float, bytes]:
    start = time.perf_counter()
    writer = SamWriter(io.BytesIO(), reference_names=names, reference_lengths=[1500] * len(names))
    header = writer.header()
    return time.perf_counter() - start, header


def test_sam_header_of_many_references_is_linear() -> None:
    """Measured, not timed tightly: 200,000 references take about 10x the time of 20,000
    (0.35 s against 0.03 s here); a quadratic step would take 100x."""
    small = min(_header_seconds(_taxonomy_names(20_000))[0] for _ in range(3))
    large, header = _header_seconds(_taxonomy_names(200_000))
    print(f"SAM writer and header: 20,000 references {small:.3f} s, 200,000 {large:.3f} s")
    assert large < 30 * small + 0.5 and large < 20
    lines = header.decode().splitlines()
    sequences = [line for line in lines if line.startswith("@SQ")]
    assert len(sequences) == 200_000 and len(lines) == 200_002
    names = [line.split("\t")[1].removeprefix("SN:") for line in sequences]
    assert len(set(names)) == len(names)
    assert names[:6] == [
        "gi_0;tax=d:Bacteria_p:Firmicutes_g:G0",
        "gi_0;tax=d:Bacteria_p:Firmicutes_g:G1",
        "gi_0;tax=d:Bacteria_p:Firmicutes_g:G2",
        "gi_0;tax=d:Bacteria_p:Firmicutes_g:G3",
        "gi_0;tax=d:Bacteria_p:Firmicutes_g:G4",
        "gi_1;tax=d:Bacteria_p:Firmicutes_g:G5",
    ]


def test_repeated_names_of_many_references_are_linear() -> None:
    """One name repeated 200,000 times, with its first suffixes already taken."""
    names = ["gene", "gene_2", "gene_3"] + ["gene"] * 200_000
    start = time.perf_counter()
    unique = unique_reference_names(names)
    seconds = time.perf_counter() - start
    assert unique[:5] == ["gene", "gene_2", "gene_3", "gene_4", "gene_5"]
    assert unique[-1] == "gene_200003" and len(set(unique)) == len(unique)
    assert seconds < 10


def test_sam_names_in_one_pass_equal_names_one_by_one() -> None:
    generator = np.random.default_rng(11)
    alphabet = ["a", "Z", "0", ",", " ", "*", "=", "\t", "é", "|", "(", "-", "_"]
    for _ in range(300):
        names = [
            "".join(generator.choice(alphabet, int(generator.integers(0, 5))).tolist())
            for _ in range(int(generator.integers(0, 6)))
        ]
        unique = unique_reference_names(names)
        assert len(set(unique)) == len(unique)
        for original, name in zip(names, unique, strict=True):
            assert name == sam_reference_name(original) or name.startswith(
                sam_reference_name(original) + "_"
            )


class _CountingNames(Sequence[str]):
    """A list of names that counts the names read and refuses to be read whole."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.reads = 0

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index):  # type: ignore[no-untyped-def]
        if not isinstance(index, int):
            raise AssertionError("a slice of every reference name was taken")
        self.reads += 1
        return self.names[index]

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("every reference name was read")


@pytest.mark.parametrize("format", FORMATS)
def test_a_batch_reads_only_the_references_it_uses(format: str) -> None:
    """With 200,000 references, formatting a batch touches the names of the two it uses."""
    references = {"chr_a": "TTACGTACGTTTGACCAGGTACCA", "chr_b": "GGGATTACAGGCATGAGCCACCGC"}
    small = Aligner(references, "semiglobal").align_many(
        ["ACGTTCGTTTGA", "ATTACAGGCATG", "GACCAGG"], names=["r1", "r2", "r3"]
    )
    count = 200_000
    names = [f"gene{number}" for number in range(count - 2)] + list(references)
    sequences = ["ACGT"] * (count - 2) + list(references.values())
    lengths = [4] * (count - 2) + [len(sequence) for sequence in references.values()]
    counting = _CountingNames(names)
    shifted: AlignmentBatch = dataclasses.replace(
        small,
        reference_index=small.reference_index + count - 2,
        references=sequences,
        reference_names=names,
    )
    writer = make_writer(
        format, io.BytesIO(), reference_names=names, reference_lengths=lengths, command_line=""
    )
    mapped = np.ones(len(small), dtype=bool)
    expected = writer.format_batch(shifted, mapped)
    counted = writer.format_batch(
        dataclasses.replace(shifted, reference_names=counting),  # type: ignore[arg-type]
        mapped,
    )
    assert counted == expected and b"chr_b" in counted
    assert counting.reads <= 2 * 2  # each used name at most twice


@pytest.mark.skipif(SAMTOOLS is None, reason="samtools is not installed")
def test_samtools_and_pysam_read_thousands_of_references(tmp_path: Path) -> None:
    """5,000 references (names with characters SAM forbids); reads from the last ten.

    The reads are aligned against those ten only, and the batch then names them by their
    place among all 5,000, as an aligner over all of them would (the writer only sees
    indices and names)."""
    generator = np.random.default_rng(3)
    count = 5_000
    names = [f"g{number};tax=d:Bacteria,p:X" for number in range(count)]
    sequences = ["".join(generator.choice(list("ACGT"), 40).tolist()) for _ in range(count)]
    last = dict(zip(names[-10:], sequences[-10:], strict=True))
    reads = [sequence[5:35] for sequence in sequences[-10:]][::-1]
    batch = Aligner(last, "semiglobal").align_many(reads, names=[f"read{k}" for k in range(10)])
    assert batch.reference_index.tolist() == list(range(9, -1, -1))
    batch = dataclasses.replace(
        batch,
        reference_index=batch.reference_index + count - 10,
        references=sequences,
        reference_names=names,
    )
    path = tmp_path / "many.sam"
    with path.open("wb") as stream:
        writer = SamWriter(
            stream, reference_names=names, reference_lengths=[40] * count, command_line="x"
        )
        writer.write_header()
        writer.write_batch(batch, np.ones(len(batch), dtype=bool))
    assert SAMTOOLS is not None
    quickcheck = subprocess.run(
        [SAMTOOLS, "quickcheck", "-v", str(path)], capture_output=True, text=True, timeout=60
    )
    assert quickcheck.returncode == 0, quickcheck.stdout + quickcheck.stderr
    bam = tmp_path / "many.bam"
    converted = subprocess.run(
        [SAMTOOLS, "view", "-b", "-o", str(bam), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert converted.returncode == 0 and converted.stderr == ""
    for opened in (path, bam):
        with pysam.AlignmentFile(str(opened)) as sam:
            assert sam.nreferences == count
            assert sam.references[-1] == "g4999;tax=d:Bacteria_p:X"
            records = list(sam)
        assert [record.reference_id for record in records] == list(range(count - 1, count - 11, -1))
        assert [record.reference_name for record in records] == [
            sam_reference_name(name) for name in names[-1:-11:-1]
        ]
        assert all(
            record.reference_start == 5 and record.cigarstring == "30=" for record in records
        )
