"""Tests of streamalign.io.fastx: records written back out as FASTA/FASTQ through dnaio.

Checked against an obviously correct f-string formatter (what the pipeline wrote before it
used dnaio's writers) and by reading the text back with dnaio.
"""

from __future__ import annotations

import io
from pathlib import Path

import dnaio
import numpy as np
import pytest

from streamalign.io.fastx import records_as_fastx
from streamalign.io.readers import read_batches
from streamalign.records import SequenceBatch

DATA = Path(__file__).parent / "data"
INPUTS = [DATA / "sam1F.200.fastq.gz", DATA / "ten_16s.5.fa"]


def simple_fastx(batch: SequenceBatch, records: list[int]) -> bytes:
    """FASTQ (with qualities) or one-line FASTA, header = name and comment, by f-strings."""
    pieces = []
    for record in records:
        header = batch.names[record]
        if batch.comments is not None and batch.comments[record]:
            header += " " + batch.comments[record]
        quality = batch.quality(record)
        if quality is None:
            pieces.append(f">{header}\n{batch.sequence(record)}\n")
        else:
            pieces.append(f"@{header}\n{batch.sequence(record)}\n+\n{quality}\n")
    return "".join(pieces).encode("ascii", "replace")


@pytest.mark.parametrize("path", INPUTS, ids=lambda path: path.name)
def test_every_record_matches_the_simple_formatter(path: Path) -> None:
    [batch] = read_batches(str(path))
    records = list(range(len(batch)))
    assert records_as_fastx(batch, records) == simple_fastx(batch, records)
    chosen = [3, 0, 3, len(batch) - 1]  # any order, repeats allowed
    assert records_as_fastx(batch, np.array(chosen)) == simple_fastx(batch, chosen)
    assert records_as_fastx(batch, []) == b""


@pytest.mark.parametrize("path", INPUTS, ids=lambda path: path.name)
def test_text_reads_back_as_the_same_records(path: Path) -> None:
    [batch] = read_batches(str(path))
    text = records_as_fastx(batch, range(len(batch)))
    with dnaio.open(io.BytesIO(text)) as reader:
        records = list(reader)
    assert [record.id for record in records] == list(batch.names)
    assert [record.comment or "" for record in records] == batch.comments
    assert [record.sequence for record in records] == [batch.sequence(k) for k in range(len(batch))]
    assert [record.qualities for record in records] == [batch.quality(k) for k in range(len(batch))]


def test_batches_without_comments_and_empty_records() -> None:
    batch = SequenceBatch.from_strings(["", "AC"], names=["empty", "r"], qualities=["", "II"])
    assert batch.comments is None
    assert records_as_fastx(batch, [0, 1]) == b"@empty\n\n+\n\n@r\nAC\n+\nII\n"


def test_non_ascii_names_become_question_marks() -> None:
    batch = SequenceBatch.from_strings(["ACGT"], names=["caf\u00e9"])
    assert records_as_fastx(batch, [0]) == b">caf?\nACGT\n" == simple_fastx(batch, [0])
