"""Results: AlignmentBatch arrays and the per-record Alignment view (CIGARs, printing)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from streamalign import Aligner, Alignment, AlignmentBatch, align
from streamalign.kernels.cigar import cigar_text

REFERENCE = "CCGTAATGCCTTTCCCTAACAGAGTTTTTCGAACTCGTGTTGTCGAGCGACGGAATTAGATCAGTTAAATGGCAG"
#: REFERENCE with 2 extra bases on each side, 3 bases deleted and one substitution.
QUERY = "GGCCGTAATGCCTTTCCCTAACGTTTTTCGAACTCGTGTTGTCGAGCGATGGAATTAGATCAGTTAAATGGCAGCC"


def test_cigar_extended_and_classic_forms():
    aligner = Aligner("ACGTACGT")
    batch = aligner.align_many(["ACGTTACGT", "ACGAACGT", "ACGACGT", "ACGTACGT"])
    assert batch.cigars() == ["3=1I5=", "3=1X4=", "3=1D4=", "8="]
    assert batch.cigars(extended=False) == ["3M1I5M", "8M", "3M1D4M", "8M"]
    assert [alignment.cigar_classic() for alignment in batch] == batch.cigars(extended=False)
    assert [alignment.cigar for alignment in batch] == batch.cigars()


def test_cigars_with_empty_records_among_others():
    batch = Aligner("ACGTACGT", "local").align_many(["", "ACGT", "", "CCCC", "GTAC", ""])
    cigars = batch.cigars()
    assert cigars == ["", "4=", "", "1=", "4=", ""]
    assert cigars == [alignment.cigar for alignment in batch]
    assert batch.cigars(extended=False) == ["", "4M", "", "1M", "4M", ""]
    assert batch.record_operations(1).tolist() == [0, 0, 0, 0]
    assert batch.record_operations(2).size == 0


def test_operation_codes():
    batch = Aligner("ACGTACGT", match=2, mismatch=-3, gap_open=3, gap_extend=1).align_many(
        ["ACGTTACGTAG"]
    )
    # Tracing back prefers the diagonal, so in the TT repeat the gap is the leftmost T.
    assert batch[0].operations == "===I=====II"
    letters = "".join("=XID"[code] for code in batch.record_operations(0))
    assert letters == batch[0].operations


def test_printed_alignment_layout():
    alignment = align("GATTACA", "GATCACA")
    assert str(alignment).split("\n") == [
        "query         1 GATTACA 7",
        "                |||.|||",
        "reference     1 GATCACA 7",
    ]


def test_printed_alignment_wraps_at_60_columns_with_positions():
    alignment = Aligner(REFERENCE, "overlap").align(QUERY)
    assert alignment.cigar == "20=3D27=1X24="
    assert (alignment.query_start, alignment.query_end) == (2, 74)
    lines = str(alignment).split("\n")
    assert lines == [
        "query         3 CCGTAATGCCTTTCCCTAAC---GTTTTTCGAACTCGTGTTGTCGAGCGATGGAATTAGA 59",
        "                ||||||||||||||||||||   |||||||||||||||||||||||||||.|||||||||",
        "reference     1 CCGTAATGCCTTTCCCTAACAGAGTTTTTCGAACTCGTGTTGTCGAGCGACGGAATTAGA 60",
        "query        60 TCAGTTAAATGGCAG 74",
        "                |||||||||||||||",
        "reference    61 TCAGTTAAATGGCAG 75",
    ]
    print(alignment)  # printing works (pytest captures it)


def test_printed_local_alignment_uses_its_spans():
    alignment = Aligner("ACGTACGT", "local").align("TTTT")
    assert str(alignment) == "query         1 T 1\n                |\nreference     4 T 4"
    empty = Aligner("ACGT", "local").align("")
    assert len(str(empty).split("\n")) == 3


def test_repr():
    alignment = Aligner(REFERENCE, "overlap").align(QUERY, name="read1")
    assert repr(alignment) == (
        "Alignment(query='read1', reference='reference', score=60, cigar='20=3D27=1X24=', "
        "query_span=(2, 74), reference_span=(0, 75))"
    )


def test_gapped_strings():
    alignment = Aligner("ACGTACGT").align("ACTTACGAT")
    assert alignment.gapped_query.replace("-", "") == "ACTTACGAT"
    assert alignment.gapped_reference.replace("-", "") == "ACGTACGT"
    assert len(alignment.gapped_query) == len(alignment.gapped_reference) == alignment.length
    for query_letter, reference_letter, operation in zip(
        alignment.gapped_query, alignment.gapped_reference, alignment.operations, strict=True
    ):
        assert (query_letter == "-") == (operation == "D")
        assert (reference_letter == "-") == (operation == "I")
        if operation == "=":
            assert query_letter == reference_letter


def test_batch_indexing_and_iteration():
    queries = ["ACGT", "ACGA", "AC", "ACGTT"]
    batch = Aligner("ACGT").align_many(queries, names=["a", "b", "c", "d"])
    assert isinstance(batch, AlignmentBatch) and len(batch) == 4
    assert isinstance(batch[0], Alignment) and batch[0].batch is batch
    assert batch[-1].query_name == "d" and batch[-1].query == "ACGTT"
    assert batch[-4].query_name == "a"
    assert [alignment.query_name for alignment in batch] == ["a", "b", "c", "d"]
    assert batch[-2].cigar == batch[2].cigar == "2=2D"
    for record in (4, -5, 100):
        with pytest.raises(IndexError):
            batch[record]


def test_batch_arrays():
    scoring = {"match": 1, "mismatch": -1.5, "gap_open": 2.5, "gap_extend": 0.5}
    batch = Aligner("ACGTACGT", "local", **scoring).align_many(["ACGTTACGT", "CCCC", "ACGA"])
    assert batch.integer_scores.dtype == np.int64
    assert batch.scores.tolist() == [8 - 2.5, 1.0, 3.0]
    assert batch.matches.tolist() == [8, 1, 3]
    assert batch.mismatches.tolist() == [0, 0, 0]
    assert batch.insertions.tolist() == [1, 0, 0]
    assert batch.deletions.tolist() == [0, 0, 0]
    assert batch.alignment_lengths.tolist() == [9, 1, 3]
    assert batch.identities.tolist() == [8 / 9, 1.0, 1.0]
    assert batch.edit_distances.tolist() == [1, 0, 0]
    assert batch.reference_index.tolist() == [0, 0, 0]
    assert batch.reverse.tolist() == [False, False, False]
    assert batch[0].score == 5.5 and batch[0].identity == 8 / 9


def test_empty_alignment_has_zero_identity():
    batch = Aligner("AAAA", "local").align_many(["CCCC"])
    assert batch[0].length == 0 and batch[0].identity == 0.0
    assert batch.identities.tolist() == [0.0]
    assert batch[0].cigar == "" and batch[0].gapped_query == ""


def test_reverse_strand_record_shows_the_aligned_sequence():
    batch = Aligner("GGGGAAACCCTTTGGGG", "semiglobal").align_many(["AAAGGGTTT"], strand="both")
    alignment = batch[0]
    assert alignment.reverse and alignment.query == "AAACCCTTT"
    assert alignment.gapped_query == "AAACCCTTT"
    assert str(alignment).split("\n")[0] == "query         1 AAACCCTTT 9"


@pytest.mark.parametrize("extended", [True, False])
def test_batch_cigars_match_run_length_encoding_in_python(extended):
    # Runs of every length class (1-9, 10-99, 100+), empty records, records of one run.
    rng = np.random.default_rng(7)
    records = [[]]
    for _ in range(300):
        operations = []
        for _ in range(int(rng.integers(0, 8))):
            length = int(rng.choice([1, 2, 9, 10, 11, 99, 100, 250]))
            operations += [int(rng.integers(0, 4))] * length
        records.append(operations)
    records.append([])
    offsets = np.cumsum([0] + [len(operations) for operations in records])
    letters = np.frombuffer(b"=XID" if extended else b"MMID", np.uint8)
    text, bounds = cigar_text(
        np.array([op for operations in records for op in operations], np.uint8), offsets, letters
    )
    expected = [
        "".join(
            f"{len(list(run))}{chr(letter)}"
            for letter, run in itertools.groupby(letters[operations].tolist())
        )
        for operations in records
    ]
    decoded = text.tobytes().decode("ascii")
    assert [decoded[bounds[k] : bounds[k + 1]] for k in range(len(records))] == expected
