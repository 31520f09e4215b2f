"""Tests of the output writers: SAM (read back with pysam and samtools), TSV and JSONL.

Every batch is formatted by the fast, vectorized writers and compared field by field with a
slow, obviously correct formatter built here from :class:`streamalign.Alignment` objects (one
record at a time, through the per-record properties).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pysam
import pytest

import streamalign
from streamalign import Aligner, AlignmentBatch, SequenceBatch
from streamalign.io.formats import EXTENSIONS, FORMATS, format_from_path, make_writer
from streamalign.io.jsonl import KEYS
from streamalign.io.sam import (
    SamWriter,
    sam_query_names,
    sam_reference_name,
    unique_reference_names,
)
from streamalign.io.tsv import COLUMNS, TsvWriter
from streamalign.io.writers import (
    BatchWriter,
    LineAssembler,
    Writer,
    check_batch,
    gapped_rows,
)

SAMTOOLS = shutil.which("samtools")
needs_samtools = pytest.mark.skipif(SAMTOOLS is None, reason="samtools is not installed")

MODES = ("global", "semiglobal", "overlap", "local")
# The caller's thresholds used to build the mapped flags: about half the records pass.
MINIMUM_SCORES = {"global": -125, "semiglobal": 8, "overlap": 8, "local": 8}


def _random_dna(generator: np.random.Generator, length: int) -> str:
    return "".join(generator.choice(list("ACGT"), length).tolist())


def _reverse_complement(sequence: str) -> str:
    return sequence[::-1].translate(str.maketrans("ACGTNacgtn", "TGCANtgcan"))


_GENERATOR = np.random.default_rng(2024)
_SHARED = _random_dna(_GENERATOR, 20)  # ends both references: secondary records that map
REFERENCES = {
    "chr_a": _random_dna(_GENERATOR, 100) + _SHARED,
    "chr_b": _random_dna(_GENERATOR, 70) + _SHARED,
}
_A = REFERENCES["chr_a"]
_B = REFERENCES["chr_b"]
QUERIES = {
    "exact": _A[10:45],
    "two_mismatches": _A[40:60]
    + ("C" if _A[60] != "C" else "G")
    + _A[61:70]
    + ("T" if _A[70] != "T" else "A")
    + _A[71:80],
    "insertion": _B[5:25] + "GG" + _B[25:45],
    "deletion": _B[30:50] + _B[53:75],
    "reverse": _reverse_complement(_A[70:110]),
    "flanked": "TTTTTTTT" + _A[50:82] + "GGGGGGGG",
    "lower_case": _B[40:80].lower(),
    "empty": "",
    "short": "ACAC",
    "with_N": _A[0:15] + "NN" + _A[17:40],
    'odd "name"\\é': _B[60:88],
    "sequence 12": _A[85:120],
    "shared": _SHARED,
}
NAMES = list(QUERIES)
QUALITIES = [
    "".join(chr(33 + int(score)) for score in _GENERATOR.integers(0, 42, len(sequence)))
    for sequence in QUERIES.values()
]


def _records(fastq: bool) -> SequenceBatch:
    return SequenceBatch.from_strings(
        list(QUERIES.values()), names=NAMES, qualities=QUALITIES if fastq else None
    )


@functools.cache
def aligned(mode: str, strand: str, all_references: bool, fastq: bool) -> AlignmentBatch:
    """One batch per combination of options, aligned once per test session."""
    return Aligner(REFERENCES, mode).align_many(
        _records(fastq), strand=strand, all_references=all_references
    )


def flags_of(
    batch: AlignmentBatch, all_references: bool, mode: str = "local"
) -> tuple[np.ndarray, np.ndarray]:
    """The caller's flags: mapped at the mode's minimum score; one primary (best) per query."""
    mapped = batch.scores >= MINIMUM_SCORES[mode]
    secondary = np.zeros(len(batch), dtype=bool)
    if all_references:
        width = len(REFERENCES)
        scores = batch.scores.reshape(-1, width)
        secondary = np.ones(scores.shape, dtype=bool)
        secondary[np.arange(len(scores)), np.argmax(scores, axis=1)] = False
        secondary = secondary.ravel()
    return mapped, secondary


BATCH_OPTIONS = [
    pytest.param(mode, strand, all_references, fastq, id=f"{mode}-{strand}-{label}-{kind}")
    for mode in MODES
    for strand in ("forward", "both")
    for all_references, label in ((False, "best"), (True, "all"))
    for fastq, kind in ((True, "fastq"), (False, "fasta"))
]


# ---------------------------------------------------------------------------------------------
# Slow reference formatters: one Alignment at a time.


def _score_value(score: float) -> int | float:
    return int(score) if float(score).is_integer() else score


def _is_mapped(alignment: streamalign.Alignment, mapped: bool) -> bool:
    return bool(mapped) and alignment.matches + alignment.mismatches > 0


def _cigar(alignment: streamalign.Alignment, extended: bool) -> str:
    return alignment.cigar if extended else alignment.cigar_classic()


def expected_sam_fields(
    alignment: streamalign.Alignment, mapped: bool, secondary: bool, extended: bool = True
) -> list[str]:
    is_mapped = _is_mapped(alignment, mapped)
    query = alignment.query
    flag = 16 * alignment.reverse + 4 * (not is_mapped) + 256 * bool(secondary)
    name = re.sub(r"[^!-?A-~]", "_", alignment.query_name) or "*"
    quality = "*"
    if alignment.batch.queries.qualities is not None:
        # The input's qualities, reversed where the reverse complement was aligned.
        original = QUALITIES[NAMES.index(alignment.query_name)]
        quality = (original[::-1] if alignment.reverse else original) or "*"
    if not is_mapped:
        return [name, str(flag), "*", "0", "0", "*", "*", "0", "0", query.upper() or "*", quality]
    prefix = alignment.query_start
    suffix = len(query) - alignment.query_end
    cigar = (
        (f"{prefix}S" if prefix else "")
        + _cigar(alignment, extended)
        + (f"{suffix}S" if suffix else "")
    )
    score = _score_value(alignment.score)
    score_tag = f"AS:i:{score}" if isinstance(score, int) else f"AS:f:{score!r}"
    return [
        name,
        str(flag),
        sam_reference_name(alignment.reference_name),
        str(alignment.reference_start + 1),
        "255",
        cigar,
        "*",
        "0",
        "0",
        query.upper() or "*",
        quality,
        score_tag,
        f"NM:i:{alignment.edit_distance}",
    ]


def expected_tsv_row(
    alignment: streamalign.Alignment, mapped: bool, extended: bool = True
) -> list[str]:
    return [
        alignment.query_name,
        alignment.reference_name,
        "-" if alignment.reverse else "+",
        "1" if _is_mapped(alignment, mapped) else "0",
        str(_score_value(alignment.score)),
        f"{alignment.identity:.6f}",
        str(alignment.query_start),
        str(alignment.query_end),
        str(len(alignment.query)),
        str(alignment.reference_start),
        str(alignment.reference_end),
        str(alignment.matches),
        str(alignment.mismatches),
        str(alignment.insertions),
        str(alignment.deletions),
        str(alignment.edit_distance),
        _cigar(alignment, extended) or "*",
    ]


def expected_json(
    alignment: streamalign.Alignment, mapped: bool, extended: bool = True
) -> dict[str, Any]:
    return {
        "query": alignment.query_name,
        "reference": alignment.reference_name,
        "strand": "-" if alignment.reverse else "+",
        "reverse": alignment.reverse,
        "mapped": _is_mapped(alignment, mapped),
        "score": _score_value(alignment.score),
        "identity": alignment.identity,
        "query_start": alignment.query_start,
        "query_end": alignment.query_end,
        "query_length": len(alignment.query),
        "reference_start": alignment.reference_start,
        "reference_end": alignment.reference_end,
        "matches": alignment.matches,
        "mismatches": alignment.mismatches,
        "insertions": alignment.insertions,
        "deletions": alignment.deletions,
        "edit_distance": alignment.edit_distance,
        "cigar": _cigar(alignment, extended),
        "query_aligned": alignment.gapped_query,
        "reference_aligned": alignment.gapped_reference,
    }


def _write(
    format: str,
    batch: AlignmentBatch,
    mapped: np.ndarray,
    secondary: np.ndarray | None = None,
    extended_cigar: bool = True,
    references: dict[str, str] = REFERENCES,
) -> bytes:
    stream = io.BytesIO()
    writer = make_writer(
        format,
        stream,
        reference_names=list(references),
        reference_lengths=[len(sequence) for sequence in references.values()],
        command_line="streamalign references.fa reads.fq",
        extended_cigar=extended_cigar,
    )
    writer.write_header()
    written = writer.write_batch(batch, mapped, secondary)
    writer.close()
    data = stream.getvalue()
    assert written == len(data) - len(writer.header())
    return data


# ---------------------------------------------------------------------------------------------
# SAM


def _check_cigar_against_sequences(record: Any, reference: str) -> None:
    """'=' columns pair equal bases, 'X' columns different (or ambiguous) ones."""
    query = record.query_sequence
    query_position = 0
    reference_position = record.reference_start
    for operation, length in record.cigartuples:
        letter = "MIDNSHP=XB"[operation]
        for _ in range(length):
            if letter in "=X":
                query_base = query[query_position]
                reference_base = reference[reference_position].upper()
                if letter == "=":
                    assert query_base == reference_base
                else:
                    assert query_base != reference_base or query_base not in "ACGT"
            query_position += letter in "MIS=X"
            reference_position += letter in "MDN=X"
    assert query_position == len(query)


@pytest.mark.parametrize(("mode", "strand", "all_references", "fastq"), BATCH_OPTIONS)
def test_sam_fields_and_pysam(
    mode: str,
    strand: str,
    all_references: bool,
    fastq: bool,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    pysam = pytest.importorskip("pysam")
    batch = aligned(mode, strand, all_references, fastq)
    mapped, secondary = flags_of(batch, all_references, mode)
    data = _write("sam", batch, mapped, secondary)
    text = data.decode("ascii")
    header = [line for line in text.splitlines() if line.startswith("@")]
    assert header[0] == "@HD\tVN:1.6\tSO:unknown\tGO:query"
    assert header[1:3] == ["@SQ\tSN:chr_a\tLN:120", "@SQ\tSN:chr_b\tLN:90"]
    assert header[3] == (
        f"@PG\tID:streamalign\tPN:streamalign\tVN:{streamalign.__version__}"
        "\tCL:streamalign references.fa reads.fq"
    )
    lines = [line.split("\t") for line in text.splitlines() if not line.startswith("@")]
    assert len(lines) == len(batch)
    expected = [
        expected_sam_fields(alignment, mapped[k], secondary[k]) for k, alignment in enumerate(batch)
    ]
    assert lines == expected

    path = tmp_path / "out.sam"
    path.write_bytes(data)
    capfd.readouterr()
    with pysam.AlignmentFile(str(path), "r") as sam:
        assert list(sam.references) == list(REFERENCES)
        records = list(sam)
    assert capfd.readouterr().err == ""  # htslib printed no warning
    assert len(records) == len(batch)
    for k, (record, alignment) in enumerate(zip(records, batch, strict=True)):
        fields = expected[k]
        assert record.query_name == fields[0]
        assert record.flag == int(fields[1])
        assert record.is_reverse == alignment.reverse
        assert record.is_secondary == bool(secondary[k])
        assert record.query_sequence == (alignment.query.upper() or None)
        if fastq and alignment.query:
            assert list(record.query_qualities) == [ord(c) - 33 for c in fields[10]]
        else:
            assert record.query_qualities is None
        if record.is_unmapped:
            assert not _is_mapped(alignment, mapped[k])
            assert record.reference_id == -1
            assert record.reference_start == -1
            assert record.cigarstring is None
            assert not record.has_tag("AS")
            assert not record.has_tag("NM")
            continue
        assert _is_mapped(alignment, mapped[k])
        assert record.reference_name == alignment.reference_name
        assert record.reference_start == alignment.reference_start
        assert record.reference_end == alignment.reference_end
        assert record.reference_end <= len(REFERENCES[alignment.reference_name])
        assert record.cigarstring == fields[5]
        assert record.infer_query_length() == len(alignment.query)
        assert record.query_alignment_start == alignment.query_start
        assert record.query_alignment_end == alignment.query_end
        assert record.mapping_quality == 255
        assert record.get_tag("AS") == alignment.score
        assert record.get_tag("NM") == alignment.edit_distance
        _check_cigar_against_sequences(record, REFERENCES[alignment.reference_name])


def _run_samtools(*arguments: str) -> subprocess.CompletedProcess[str]:
    assert SAMTOOLS is not None
    return subprocess.run(
        [SAMTOOLS, *arguments], capture_output=True, text=True, check=False, timeout=60
    )


@needs_samtools
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("strand", ["forward", "both"])
def test_samtools_accepts_output(mode: str, strand: str, tmp_path: Path) -> None:
    batch = aligned(mode, strand, True, True)
    mapped, secondary = flags_of(batch, True, mode)
    path = tmp_path / "out.sam"
    path.write_bytes(_write("sam", batch, mapped, secondary))

    quickcheck = _run_samtools("quickcheck", "-v", str(path))
    assert quickcheck.returncode == 0, quickcheck.stdout + quickcheck.stderr

    view = _run_samtools("view", "--no-PG", "-h", str(path))
    assert view.returncode == 0 and view.stderr == ""
    assert view.stdout == path.read_text()

    bam = tmp_path / "out.bam"
    to_bam = _run_samtools("view", "-b", "-o", str(bam), str(path))
    assert to_bam.returncode == 0 and to_bam.stderr == ""
    back = _run_samtools("view", str(bam))
    assert back.returncode == 0 and back.stderr == ""
    assert back.stdout.splitlines() == [
        line for line in path.read_text().splitlines() if not line.startswith("@")
    ]

    # calmd recomputes NM from the reference and complains where ours differs.
    fasta = tmp_path / "references.fa"
    fasta.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in REFERENCES.items()))
    calmd = _run_samtools("calmd", str(path), str(fasta))
    assert calmd.returncode == 0
    assert "different NM" not in calmd.stderr, calmd.stderr


@pytest.mark.parametrize("extended", [True, False])
def test_sam_classic_cigar(extended: bool) -> None:
    batch = aligned("local", "both", False, True)
    mapped = np.ones(len(batch), dtype=bool)
    lines = _write("sam", batch, mapped, extended_cigar=extended).decode().splitlines()[4:]
    cigars = [line.split("\t")[5] for line in lines]
    expected = [expected_sam_fields(a, True, False, extended)[5] for a in batch]
    assert cigars == expected
    assert any(("=" in cigar) == extended and ("M" in cigar) != extended for cigar in cigars)


def test_sam_fractional_scores() -> None:
    aligner = Aligner(
        REFERENCES, "semiglobal", match=1, mismatch=-1.5, gap_open=2.5, gap_extend=0.5
    )
    batch = aligner.align_many(list(QUERIES.values()), names=NAMES)
    scores = batch.scores
    assert any(s.is_integer() for s in scores.tolist())
    assert not all(s.is_integer() for s in scores.tolist())
    mapped = np.ones(len(batch), dtype=bool)
    lines = _write("sam", batch, mapped).decode().splitlines()[4:]
    for line, alignment in zip(lines, batch, strict=True):
        assert line.split("\t") == expected_sam_fields(alignment, True, False)
    tsv = _write("tsv", batch, mapped).decode().splitlines()[1:]
    assert [row.split("\t")[4] for row in tsv] == [
        str(_score_value(score)) for score in scores.tolist()
    ]
    json_lines = _write("jsonl", batch, mapped).splitlines()
    for json_line, alignment in zip(json_lines, batch, strict=True):
        assert json.loads(json_line)["score"] == alignment.score
        assert isinstance(json.loads(json_line)["score"], int) == alignment.score.is_integer()


def test_sam_empty_reference_and_unmapped_records() -> None:
    references = {"empty": "", "chr_a": _A}
    aligner = Aligner(references, "global")
    batch = aligner.align_many([_A[:30], ""], names=["read", "nothing"], all_references=True)
    mapped = np.ones(len(batch), dtype=bool)
    data = _write("sam", batch, mapped, references=references).decode()
    assert "SN:empty" not in data
    lines = [line.split("\t") for line in data.splitlines() if not line.startswith("@")]
    # read vs empty: only insertions, no aligned base: unmapped.
    assert lines[0][1:6] == ["4", "*", "0", "0", "*"]
    assert lines[1][2] == "chr_a"
    # the empty query: unmapped against both, SEQ and QUAL "*".
    assert [line[1] for line in lines[2:]] == ["4", "4"]
    assert all(line[9:] == ["*", "*"] for line in lines[2:])


def test_sam_rejects_mapped_record_past_reference_end() -> None:
    batch = aligned("global", "forward", False, False)
    writer = SamWriter(io.BytesIO(), reference_names=list(REFERENCES), reference_lengths=[20, 20])
    with pytest.raises(ValueError, match="past the end of reference"):
        writer.write_batch(batch, np.ones(len(batch), dtype=bool))


def test_sam_rejects_unknown_reference() -> None:
    batch = aligned("global", "forward", False, False)
    writer = SamWriter(io.BytesIO(), reference_names=["other"], reference_lengths=[500])
    with pytest.raises(ValueError, match="not in the SAM header"):
        writer.write_batch(batch, np.ones(len(batch), dtype=bool))


def test_sam_makes_repeated_reference_names_unique(tmp_path: Path) -> None:
    aligner = Aligner([("a b", "ACGTACGTAC"), ("a_b", "TTGGCCAATT"), ("a b", "GGGGACGTCC")])
    batch = aligner.align_many(["ACGTACGTAC", "TTGGCCAATT", "GGGGACGTCC"])
    path = tmp_path / "out.sam"
    with path.open("wb") as stream:
        writer = SamWriter(
            stream, reference_names=aligner.reference_names, reference_lengths=[10, 10, 10]
        )
        writer.write_header()
        writer.write_batch(batch, np.ones(3, dtype=bool))
    with pysam.AlignmentFile(str(path)) as sam:
        assert list(sam.references) == ["a_b", "a_b_2", "a_b_3"]
        # Each record names the reference it aligned to, repeated names notwithstanding.
        assert [record.reference_name for record in sam] == ["a_b", "a_b_2", "a_b_3"]


def test_unique_reference_names_keep_names_that_occur_once() -> None:
    names = ["x", "x_2", "x", "y", "x", "y"]
    assert unique_reference_names(names) == ["x", "x_2", "x_3", "y", "x_4", "y_2"]
    many = [f"gene{number % 1000}" for number in range(200_000)]  # linear, not quadratic
    unique = unique_reference_names(many)
    assert len(set(unique)) == len(many) and unique[:1000] == many[:1000]


def test_sam_names() -> None:
    assert sam_query_names(["ok", "sequence 1", "@x", "", "é" * 300]) == [
        "ok",
        "sequence_1",
        "_x",
        "*",
        "_" * 254,
    ]
    names = ["fine"]
    assert sam_query_names(names) is names
    assert sam_reference_name("chr1") == "chr1"
    assert sam_reference_name("=x(1)") == "_x_1_"
    stream = io.BytesIO()
    writer = SamWriter(
        stream, reference_names=["my gene"], reference_lengths=[10], command_line="a\tb\nc"
    )
    writer.write_header()
    assert b"@SQ\tSN:my_gene\tLN:10\n" in stream.getvalue()
    assert stream.getvalue().endswith(b"CL:a b c\n")
    stream = io.BytesIO()
    SamWriter(stream, reference_names=["x"], reference_lengths=[1]).write_header()
    assert stream.getvalue().splitlines()[-1].split(b"\t")[-1].startswith(b"VN:")


# ---------------------------------------------------------------------------------------------
# TSV and JSONL


@pytest.mark.parametrize(("mode", "strand", "all_references", "fastq"), BATCH_OPTIONS)
def test_tsv_fields(mode: str, strand: str, all_references: bool, fastq: bool) -> None:
    batch = aligned(mode, strand, all_references, fastq)
    mapped, secondary = flags_of(batch, all_references, mode)
    text = _write("tsv", batch, mapped, secondary).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows[0] == list(COLUMNS)
    assert rows[1:] == [expected_tsv_row(alignment, mapped[k]) for k, alignment in enumerate(batch)]
    records = list(csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
    assert [record["query"] for record in records] == list(batch.queries.names)


@pytest.mark.parametrize(("mode", "strand", "all_references", "fastq"), BATCH_OPTIONS)
def test_jsonl_fields(mode: str, strand: str, all_references: bool, fastq: bool) -> None:
    batch = aligned(mode, strand, all_references, fastq)
    mapped, secondary = flags_of(batch, all_references, mode)
    data = _write("jsonl", batch, mapped, secondary)
    lines = data.decode("ascii").splitlines()
    assert len(lines) == len(batch)
    for k, (line, alignment) in enumerate(zip(lines, batch, strict=True)):
        expected = expected_json(alignment, mapped[k])
        record = json.loads(line)
        assert list(record) == list(KEYS)
        assert record == expected
        assert line == json.dumps(expected)  # byte for byte what json.dumps writes
        aligned_columns = record["query_aligned"].replace("-", "")
        assert aligned_columns == alignment.query[record["query_start"] : record["query_end"]]


def test_names_are_escaped_or_replaced() -> None:
    names = ['quote"d', "back\\slash", "tab\there", "new\nline", "üñíçødé", "\x01control"]
    batch = Aligner(REFERENCES, "local").align_many([_A[:20]] * len(names), names=names)
    mapped = np.ones(len(batch), dtype=bool)
    records = [json.loads(line) for line in _write("jsonl", batch, mapped).splitlines()]
    assert [record["query"] for record in records] == names
    rows = _write("tsv", batch, mapped).decode("utf-8").splitlines()[1:]
    assert [row.split("\t")[0] for row in rows] == [
        'quote"d',
        "back\\slash",
        "tab_here",
        "new_line",
        "üñíçødé",
        "\x01control",
    ]
    sam = _write("sam", batch, mapped).decode("ascii").splitlines()[4:]
    assert [line.split("\t")[0] for line in sam] == [
        'quote"d',
        "back\\slash",
        "tab_here",
        "new_line",
        "_____d_",
        "_control",
    ]


def test_classic_cigar_in_tsv_and_jsonl() -> None:
    batch = aligned("global", "both", False, False)
    mapped = np.ones(len(batch), dtype=bool)
    rows = _write("tsv", batch, mapped, extended_cigar=False).decode().splitlines()[1:]
    assert [row.split("\t")[-1] for row in rows] == [
        alignment.cigar_classic() or "*" for alignment in batch
    ]
    lines = _write("jsonl", batch, mapped, extended_cigar=False).splitlines()
    assert [json.loads(line)["cigar"] for line in lines] == [
        alignment.cigar_classic() for alignment in batch
    ]


# ---------------------------------------------------------------------------------------------
# The common interface


@pytest.mark.parametrize(
    ("path", "explicit", "expected"),
    [
        (None, None, "sam"),
        ("-", None, "sam"),
        ("out.sam", None, "sam"),
        ("OUT.SAM", None, "sam"),
        ("out.tsv", None, "tsv"),
        ("out.tab", None, "tsv"),
        ("out.txt", None, "tsv"),
        ("out.jsonl", None, "jsonl"),
        ("dir.d/out.json", None, "jsonl"),
        (Path("out.tsv"), None, "tsv"),
        ("out.blast6", None, "blast6"),
        ("hits.B6", None, "blast6"),
        ("hits.m8", None, "blast6"),
        ("out.sam", "blast6", "blast6"),
        ("out.sam", "tsv", "tsv"),
        ("out.whatever", "JSONL", "jsonl"),
        (None, "sam", "sam"),
    ],
)
def test_format_from_path(path: Any, explicit: str | None, expected: str) -> None:
    assert format_from_path(path, explicit) == expected


@pytest.mark.parametrize(
    ("path", "explicit", "message"),
    [
        ("out.sam.gz", None, "compressed"),
        ("out.bam", None, "compressed"),
        ("out.csv", None, "extension"),
        ("output", None, "extension"),
        ("out.sam", "bam", "unknown output format"),
    ],
)
def test_format_from_path_errors(path: str, explicit: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        format_from_path(path, explicit)


def test_formats_and_extensions() -> None:
    assert FORMATS == ("sam", "tsv", "jsonl", "blast6")
    assert set(EXTENSIONS.values()) == set(FORMATS)
    with pytest.raises(ValueError, match="unknown output format"):
        make_writer("bam", io.BytesIO(), reference_names=[], reference_lengths=[], command_line="")
    with pytest.raises(ValueError, match="reference lengths"):
        make_writer(
            "sam", io.BytesIO(), reference_names=["a"], reference_lengths=[], command_line=""
        )


class _CountingStream(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.flushes = 0

    def write(self, data: Any) -> int:
        self.writes += 1
        return super().write(data)

    def flush(self) -> None:
        self.flushes += 1
        super().flush()


@pytest.mark.parametrize("format", FORMATS)
def test_one_write_per_batch_and_close(format: str) -> None:
    batch = aligned("semiglobal", "both", True, True)
    mapped, secondary = flags_of(batch, True)
    stream = _CountingStream()
    writer = make_writer(
        format,
        stream,
        reference_names=list(REFERENCES),
        reference_lengths=[120, 90],
        command_line="x",
    )
    assert isinstance(writer, Writer)
    assert isinstance(writer, BatchWriter)
    writer.write_header()
    header_writes = stream.writes
    assert header_writes == (0 if format in ("jsonl", "blast6") else 1)
    written = writer.write_batch(batch, mapped, secondary)
    assert stream.writes == header_writes + 1
    assert written == len(stream.getvalue()) - len(writer.header())
    assert stream.getvalue().endswith(b"\n")
    assert writer.format_batch(batch, mapped, secondary) == stream.getvalue()[-written:]
    empty = Aligner(REFERENCES, "global").align_many([])
    assert writer.write_batch(empty, np.zeros(0, dtype=bool)) == 0
    assert stream.writes == header_writes + 1
    writer.close()
    writer.close()
    assert stream.flushes == 1
    assert not stream.closed
    with pytest.raises(ValueError, match="closed"):
        writer.write_batch(batch, mapped)


def test_context_manager_flushes() -> None:
    stream = _CountingStream()
    with make_writer(
        "tsv", stream, reference_names=["a"], reference_lengths=[1], command_line=""
    ) as writer:
        writer.write_header()
    assert stream.flushes == 1 and not stream.closed


def test_flag_validation_and_score_only_batches() -> None:
    batch = aligned("global", "forward", False, False)
    writer = TsvWriter(io.BytesIO(), reference_names=list(REFERENCES), reference_lengths=[1, 1])
    with pytest.raises(ValueError, match="mapped must hold one bool per record"):
        writer.write_batch(batch, np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="secondary must hold one bool per record"):
        writer.write_batch(batch, np.ones(len(batch), dtype=bool), np.ones(2, dtype=bool))
    scores_only = Aligner(REFERENCES).align_many(["ACGT"], traceback=False)
    for format in FORMATS:
        any_writer = make_writer(
            format,
            io.BytesIO(),
            reference_names=list(REFERENCES),
            reference_lengths=[120, 90],
            command_line="",
        )
        with pytest.raises(ValueError, match="traceback"):
            any_writer.write_batch(scores_only, np.ones(1, dtype=bool))


def test_mapped_needs_an_aligned_base() -> None:
    batch = aligned("local", "forward", True, False)
    mapped, _ = check_batch(batch, np.ones(len(batch), dtype=bool), None)
    aligned_bases = batch.matches + batch.mismatches
    assert (mapped == (aligned_bases > 0)).all()
    assert not mapped.all()  # the empty query has no aligned base


def test_long_and_mixed_length_queries() -> None:
    """Queries long enough for the record-by-record copy, and of equal lengths (2-d copy)."""
    generator = np.random.default_rng(5)
    reference = _random_dna(generator, 1500)
    long_reads = [reference[100:800], _reverse_complement(reference[700:1400])]
    for queries in (long_reads, [reference[0:50], reference[60:110], reference[200:250]]):
        batch = Aligner({"long": reference}, "semiglobal").align_many(queries, strand="both")
        mapped = np.ones(len(batch), dtype=bool)
        stream = io.BytesIO()
        writer = SamWriter(stream, reference_names=["long"], reference_lengths=[1500])
        writer.write_batch(batch, mapped)
        lines = stream.getvalue().decode().splitlines()
        assert [line.split("\t") for line in lines] == [
            expected_sam_fields(alignment, True, False) for alignment in batch
        ]
        records = [
            json.loads(line)
            for line in _write("jsonl", batch, mapped, references={"long": reference}).splitlines()
        ]
        assert records == [expected_json(alignment, True) for alignment in batch]


# ---------------------------------------------------------------------------------------------
# Building blocks


@pytest.mark.parametrize(("mode", "strand", "all_references", "fastq"), BATCH_OPTIONS[::2])
@pytest.mark.parametrize("extended", [True, False])
def test_cigar_pieces_match_each_alignment(
    mode: str, strand: str, all_references: bool, fastq: bool, extended: bool
) -> None:
    batch = aligned(mode, strand, all_references, fastq)
    shown = np.arange(len(batch)) % 3 != 1
    lines = LineAssembler(len(batch)).cigars(
        batch.operations, batch.operation_offsets, extended, shown
    )
    text = lines.constant("\n").to_bytes().decode("ascii").split("\n")[:-1]
    expected = [
        (alignment.cigar if extended else alignment.cigar_classic()) if show else ""
        for alignment, show in zip(batch, shown, strict=True)
    ]
    assert text == expected


def test_gapped_rows_match_alignments() -> None:
    batch = aligned("overlap", "both", True, False)
    query_row, reference_row = gapped_rows(batch)
    offsets = batch.operation_offsets.tolist()
    for k, alignment in enumerate(batch):
        assert query_row[offsets[k] : offsets[k + 1]].tobytes().decode() == alignment.gapped_query
        assert (
            reference_row[offsets[k] : offsets[k + 1]].tobytes().decode()
            == alignment.gapped_reference
        )


def test_line_assembler() -> None:
    values = np.array([0, -1, 9, 10, -10, 123456789012345678, -(2**62), 99])
    lines = LineAssembler(len(values))
    lines.integers(values).constant(",").strings(["é", "", "x", "yz", "", "", "", "w"])
    lines.constant("!", where=values > 50).integers(values, where=values < 0).constant("\n")
    expected = "".join(
        f"{value},{text}{'!' if value > 50 else ''}{value if value < 0 else ''}\n"
        for value, text in zip(values.tolist(), ["é", "", "x", "yz", "", "", "", "w"], strict=True)
    )
    assert lines.to_bytes().decode("utf-8") == expected
    assert LineAssembler(0).constant("x").to_bytes() == b""
    table = LineAssembler(4).table(["a", "bcd", ""], np.array([1, 0, 2, 1]))
    assert table.constant(";").to_bytes() == b"bcd;a;;bcd;"
    formatted = LineAssembler(3).formatted(
        np.array([0.1, 1 / 3, 0.1]), "%r", where=np.array([True, True, False])
    )
    assert formatted.constant(";").to_bytes() == b"0.1;0.3333333333333333;;"
    with pytest.raises(ValueError, match="one bool per line"):
        LineAssembler(2).constant("x", where=np.ones(3, dtype=bool))


def test_fixtures_cover_the_cases_they_claim() -> None:
    """Guards the tests above against a change of the aligner making them vacuous."""
    for mode in MODES:
        batch = aligned(mode, "both", True, True)
        mapped, secondary = flags_of(batch, True, mode)
        mapped, _ = check_batch(batch, mapped, secondary)
        assert mapped.any() and not mapped.all()
        assert (mapped & batch.reverse).any() and (mapped & ~batch.reverse).any()
        assert (mapped & secondary).any() and (mapped & ~secondary).any()
    local = aligned("local", "both", False, True)
    assert (local.query_starts > 0).any() and (local.query_ends < local.queries.lengths()).any()
    global_cigars = aligned("global", "forward", False, True).cigars()
    assert any(re.match(r"\d+D", cigar) for cigar in global_cigars)  # leading deletions
    semiglobal_cigars = aligned("semiglobal", "forward", False, True).cigars()
    assert any("I" in cigar for cigar in semiglobal_cigars)
    assert any("D" in cigar for cigar in semiglobal_cigars)
