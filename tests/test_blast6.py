"""Tests of the BLAST tabular writer (``--format blast6``).

Three independent checks: a slow formatter built here from each :class:`streamalign.Alignment`
(columns counted from the CIGAR text, coordinates checked against the sequences themselves),
the columns derived from our own TSV output of real reads, and vsearch's ``--blast6out`` on
the same real reads (skipped when vsearch is not installed).
"""

from __future__ import annotations

import decimal
import gzip
import io
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import ECOLI, FIVE_REFERENCES, READS, run_cli
from streamalign import Aligner, Alignment, AlignmentBatch
from streamalign.cli import ExitStatus
from streamalign.io.blast6 import COLUMNS, Blast6Writer, evalue_texts, gap_openings
from streamalign.io.formats import make_writer
from streamalign.io.sam import sam_reference_name
from test_writers import BATCH_OPTIONS, QUERIES, REFERENCES, aligned, flags_of

VSEARCH = shutil.which("vsearch")
needs_vsearch = pytest.mark.skipif(
    VSEARCH is None, reason="vsearch is not installed (apt-get install vsearch)"
)

#: lambda of match 1, mismatch -2 for uniform ACGT: the root x = e^lambda of
#: x/4 + 3/(4 x^2) = 1, i.e. of (x - 1)(x^2 - 3x - 3) = 0.
DEFAULT_LAMBDA = math.log((3 + math.sqrt(21)) / 2)


def _reverse_complement(sequence: str) -> str:
    return sequence[::-1].translate(str.maketrans("ACGTNacgtn", "TGCANtgcan"))


def _lambda_by_bisection(match: float, mismatch: float) -> float:
    """The positive root of e^(lambda match)/4 + 3 e^(lambda mismatch)/4 = 1, in plain
    Python (independent of streamalign.significance)."""
    low, high = 1e-9, 50.0
    for _ in range(200):
        middle = (low + high) / 2
        if math.exp(middle * match) / 4 + 3 * math.exp(middle * mismatch) / 4 > 1:
            high = middle
        else:
            low = middle
    return low


def _runs(cigar: str) -> list[tuple[int, str]]:
    return [(int(count), letter) for count, letter in re.findall(r"(\d+)([=XIDM])", cigar)]


def _check_statistics(
    fields: list[str], score: float, query_length: int, database_length: int, lambda_: float
) -> None:
    """bitscore = lambda S / ln 2 (K = 1), evalue = m n_db 2^-bitscore, the e-value in
    decimal arithmetic (global alignments reach e-values far beyond a double's range)."""
    bits = lambda_ * score / math.log(2)
    assert float(fields[11]) == pytest.approx(bits, abs=0.05 + 1e-9)
    context = decimal.Context(prec=40)
    evalue = (
        query_length * database_length * context.power(decimal.Decimal(2), decimal.Decimal(-bits))
    )
    shown = decimal.Decimal(fields[10])
    assert abs(shown - evalue) <= evalue * decimal.Decimal("0.005")  # 3 significant digits


def expected_row(
    alignment: Alignment, original_query: str, references: dict[str, str]
) -> list[str]:
    """The first ten columns of one alignment, counted from its CIGAR text; the coordinates
    are checked against the query as given and the reference."""
    runs = _runs(alignment.cigar)
    columns = sum(count for count, _ in runs)
    matches = sum(count for count, letter in runs if letter == "=")
    mismatches = sum(count for count, letter in runs if letter == "X")
    openings = sum(1 for _, letter in runs if letter in "ID")  # a run of I or D: one gap
    query_bases = sum(count for count, letter in runs if letter in "=XI")
    reference_bases = sum(count for count, letter in runs if letter in "=XD")
    aligned_query = alignment.query[alignment.query_start : alignment.query_end]
    # Where the aligned bases lie on the query as given (1-based, inclusive): on the minus
    # strand, counted from the end of the query.
    if alignment.reverse:
        shown = _reverse_complement(aligned_query)
        query_start = len(original_query) - alignment.query_end + 1
    else:
        shown = aligned_query
        query_start = alignment.query_start + 1
    query_end = query_start + query_bases - 1
    assert original_query[query_start - 1 : query_end].upper() == shown.upper()
    low = alignment.reference_start + 1
    high = low + reference_bases - 1
    reference = references[alignment.reference_name]
    assert reference[low - 1 : high] == alignment.gapped_reference.replace("-", "")
    subject = (high, low) if alignment.reverse else (low, high)
    return [
        alignment.query_name,
        alignment.reference_name,
        f"{100 * matches / columns:.2f}",
        str(columns),
        str(mismatches),
        str(openings),
        str(query_start),
        str(query_end),
        str(subject[0]),
        str(subject[1]),
    ]


def _write(batch: AlignmentBatch, mapped: np.ndarray, secondary: np.ndarray | None = None) -> str:
    stream = io.BytesIO()
    writer = make_writer(
        "blast6",
        stream,
        reference_names=list(REFERENCES),
        reference_lengths=[len(sequence) for sequence in REFERENCES.values()],
        command_line="streamalign references.fa reads.fq",
    )
    writer.write_header()
    written = writer.write_batch(batch, mapped, secondary)
    writer.close()
    assert written == len(stream.getvalue())  # no header
    return stream.getvalue().decode("utf-8")


@pytest.mark.parametrize(("mode", "strand", "all_references", "fastq"), BATCH_OPTIONS)
def test_blast6_fields(mode: str, strand: str, all_references: bool, fastq: bool) -> None:
    batch = aligned(mode, strand, all_references, fastq)
    mapped, secondary = flags_of(batch, all_references, mode)
    lines = [line.split("\t") for line in _write(batch, mapped, secondary).splitlines()]
    written = [
        alignment
        for k, alignment in enumerate(batch)
        if mapped[k] and alignment.matches + alignment.mismatches > 0
    ]
    assert 0 < len(lines) == len(written) < len(batch)  # unmapped records: no line
    database_length = sum(map(len, REFERENCES.values()))
    for fields, alignment in zip(lines, written, strict=True):
        assert len(fields) == len(COLUMNS)
        original = QUERIES[alignment.query_name]
        assert fields[:10] == expected_row(alignment, original, REFERENCES)
        _check_statistics(fields, alignment.score, len(original), database_length, DEFAULT_LAMBDA)
    if strand == "both":  # the minus strand's BLAST convention: sstart > send
        minus = [fields for fields, a in zip(lines, written, strict=True) if a.reverse]
        assert minus and all(int(fields[8]) > int(fields[9]) for fields in minus)
        assert all(int(fields[6]) <= int(fields[7]) for fields in lines)


def test_unmapped_and_empty_batches_write_nothing() -> None:
    batch = aligned("local", "both", True, False)
    writer = Blast6Writer(io.BytesIO(), reference_names=list(REFERENCES), reference_lengths=[1, 1])
    assert writer.header() == b""
    assert writer.write_batch(batch, np.zeros(len(batch), dtype=bool)) == 0
    empty = Aligner(REFERENCES).align_many([])
    assert writer.write_batch(empty, np.zeros(0, dtype=bool)) == 0
    assert isinstance(writer.stream, io.BytesIO) and writer.stream.getvalue() == b""


def test_fractional_scores_use_the_callers_units() -> None:
    scoring = {"match": 1, "mismatch": -1.5, "gap_open": 2.5, "gap_extend": 0.5}
    aligner = Aligner(REFERENCES, "semiglobal", **scoring)
    batch = aligner.align_many(list(QUERIES.values()), names=list(QUERIES), strand="both")
    assert not all(score.is_integer() for score in batch.scores.tolist())
    lambda_ = _lambda_by_bisection(1, -1.5)
    lines = _write(batch, np.ones(len(batch), dtype=bool)).splitlines()
    written = [a for a in batch if a.matches + a.mismatches > 0]
    database_length = sum(map(len, REFERENCES.values()))
    for line, alignment in zip(lines, written, strict=True):
        fields = line.split("\t")
        original = QUERIES[alignment.query_name]
        assert fields[:10] == expected_row(alignment, original, REFERENCES)
        _check_statistics(fields, alignment.score, len(original), database_length, lambda_)


def test_scaling_the_scores_leaves_the_statistics_alone() -> None:
    """Match 2, mismatch -4 has half the lambda of match 1, mismatch -2: the same bits."""
    queries = list(QUERIES.values())
    statistics = []
    for scale in (1, 2):
        aligner = Aligner(
            REFERENCES,
            "local",
            match=scale,
            mismatch=-2 * scale,
            gap_open=5 * scale,
            gap_extend=2 * scale,
        )
        batch = aligner.align_many(queries, names=list(QUERIES))
        lines = _write(batch, np.ones(len(batch), dtype=bool)).splitlines()
        statistics.append(np.array([line.split("\t")[10:] for line in lines], dtype=float))
    assert len(statistics[0]) > 5
    np.testing.assert_allclose(statistics[0], statistics[1], rtol=1e-6)


def test_no_statistics_without_lambda() -> None:
    """Match 1, mismatch 0: random columns score positive on average; vsearch's -1 and 0."""
    batch = Aligner(REFERENCES, "local", mismatch=0).align_many(
        list(QUERIES.values()), names=list(QUERIES)
    )
    lines = _write(batch, np.ones(len(batch), dtype=bool)).splitlines()
    assert lines and all(line.split("\t")[10:] == ["-1", "0"] for line in lines)


def test_gap_openings_match_a_slow_count() -> None:
    generator = np.random.default_rng(7)
    lengths = generator.integers(0, 12, 300)
    operations = generator.integers(0, 4, int(lengths.sum())).astype(np.uint8)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    expected = []
    for record in range(len(lengths)):
        letters = "".join(
            "=XID"[code] for code in operations[offsets[record] : offsets[record + 1]]
        )
        expected.append(len(re.findall(r"I+|D+", letters)))
    assert gap_openings(operations, offsets).tolist() == expected
    assert max(expected) > 2


def test_evalue_texts_inside_and_beyond_the_range_of_a_double() -> None:
    values = np.array([-0.30103, 0.0, 2.0, -44.9, 7.3, -299.5, -611.6, 420.004, -1e-12, -999.9996])
    texts = evalue_texts(values)
    context = decimal.Context(prec=40)
    for value, text in zip(values.tolist(), texts, strict=True):
        exact = context.power(decimal.Decimal(10), decimal.Decimal(value))
        shown = decimal.Decimal(text)
        assert abs(shown - exact) <= exact * decimal.Decimal("0.005"), (value, text)
        mantissa = text.split("e")[0]
        assert len(mantissa.replace(".", "").lstrip("0")) <= 3  # 3 significant digits
    assert texts[:3] == ["0.5", "1", "100"]
    assert texts[6] == "2.51e-612" and texts[-1] == "1e-1000"


# ---------------------------------------------------------------------------------------------
# Real reads: our TSV output, and vsearch


def _mixed_strand_reads(directory: Path, count: int, random_reads: int = 0) -> Path:
    """The first ``count`` real MiSeq reads as FASTA, every second one reverse complemented
    (so that the minus strand is exercised), then ``random_reads`` of random DNA (unmapped)."""
    with gzip.open(READS, "rt") as handle:
        lines = handle.read().splitlines()
    generator = np.random.default_rng(13)
    path = directory / "reads.fa"
    with path.open("w") as out:
        for record in range(count):
            name = lines[4 * record][1:].split()[0]
            sequence = lines[4 * record + 1]
            if record % 2:
                sequence = _reverse_complement(sequence)
            out.write(f">{name}\n{sequence}\n")
        for record in range(random_reads):
            sequence = "".join(generator.choice(list("ACGT"), 250).tolist())
            out.write(f">random{record}\n{sequence}\n")
    return path


def _database(directory: Path) -> Path:
    """The five genes of ten_16s.5.fa and the E. coli gene, in one FASTA file."""
    path = directory / "genes.fa"
    path.write_bytes(FIVE_REFERENCES.read_bytes() + ECOLI.read_bytes())
    return path


def _fasta_lengths(path: Path) -> dict[str, int]:
    lengths: dict[str, int] = {}
    name = ""
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            lengths[name] = 0
        else:
            lengths[name] += len(line.strip())
    return lengths


def _run(arguments: list[str]) -> str:
    status, output, errors = run_cli(arguments)
    assert status == ExitStatus.SUCCESS, errors
    return output.decode("utf-8")


@pytest.mark.parametrize("mode", ["semiglobal", "global", "local"])
def test_blast6_agrees_with_our_tsv_output(mode: str, tmp_path: Path) -> None:
    reads = _mixed_strand_reads(tmp_path, 16, random_reads=2)
    database = _database(tmp_path)
    common = ["align", "-r", str(database), str(reads), "--mode", mode, "--quiet"]
    common += ["--strand", "both", "--all-refs"]
    blast6 = [line.split("\t") for line in _run([*common, "--format", "blast6"]).splitlines()]
    table = [line.split("\t") for line in _run([*common, "--format", "tsv"]).splitlines()]
    header, rows = table[0], [dict(zip(table[0], row, strict=True)) for row in table[1:]]
    assert header[:4] == ["query", "reference", "strand", "mapped"]
    mapped_rows = [row for row in rows if row["mapped"] == "1"]
    assert 0 < len(mapped_rows) < len(rows)  # some records unmapped: they get no line
    assert len(blast6) == len(mapped_rows)
    database_length = sum(_fasta_lengths(database).values())
    for fields, row in zip(blast6, mapped_rows, strict=True):
        runs = _runs(row["cigar"])
        columns = sum(count for count, _ in runs)
        matches = sum(count for count, letter in runs if letter == "=")
        query_length = int(row["query_length"])
        start, end = int(row["query_start"]), int(row["query_end"])
        low, high = int(row["reference_start"]) + 1, int(row["reference_end"])
        minus = row["strand"] == "-"
        expected = [
            row["query"],
            row["reference"],
            f"{100 * matches / columns:.2f}",
            str(columns),
            str(sum(count for count, letter in runs if letter == "X")),
            str(sum(1 for _, letter in runs if letter in "ID")),
            str(query_length - end + 1 if minus else start + 1),
            str(query_length - start if minus else end),
            str(high if minus else low),
            str(low if minus else high),
        ]
        assert fields[:10] == expected
        _check_statistics(
            fields, float(row["score"]), query_length, database_length, DEFAULT_LAMBDA
        )
    assert any(row["strand"] == "-" for row in mapped_rows)
    assert any(int(fields[5]) > 0 for fields in blast6)  # gapped alignments among them


def _vsearch_core(caln: str) -> str:
    """vsearch's alignment (``caln``: ``I`` target bases missing from the query, ``D`` query
    bases missing from the target) as our classic CIGAR, without its terminal gaps."""
    runs = [(int(count or 1), letter) for count, letter in re.findall(r"(\d*)([MID])", caln)]
    while runs and runs[0][1] != "M":
        runs.pop(0)
    while runs and runs[-1][1] != "M":
        runs.pop()
    swapped = {"M": "M", "I": "D", "D": "I"}
    return "".join(f"{count}{swapped[letter]}" for count, letter in runs)


@needs_vsearch
@pytest.mark.parametrize(
    ("gap_open", "least_gapped"),
    [pytest.param(20, 5, id="vsearch-defaults"), pytest.param(8, 100, id="cheaper-gaps")],
)
def test_blast6_agrees_with_vsearch(gap_open: int, least_gapped: int, tmp_path: Path) -> None:
    """vsearch ``--usearch_global`` (exhaustive) against streamalign semi-global with vsearch's
    scores: match 2, mismatch -4, a gap of k columns inside the alignment costs
    ``gap_open + (k - 1) * 2`` (vsearch's ``20I/2E`` open and ``2I/1E`` extension, in our
    convention; measured on these reads from vsearch's ``raw`` scores). vsearch's terminal
    gaps cost 2 + (k - 1) where ours are free at the reference ends, so the two optimal
    alignments can differ; the columns are compared on the (query, gene) pairs whose
    alignments are the same (strand, and CIGAR without vsearch's terminal gaps), and at least
    95% of vsearch's hits must be (measured: all 1,176 with vsearch's gap costs, 1,170 of
    1,177 with gap open 8).

    vsearch's blast6 columns 7-10 are not BLAST's: qlo/qhi and tlo/thi of its global
    alignment (1 and the full lengths), and on the minus strand it swaps the query's rather
    than the reference's. The query columns are compared as an unordered pair (both are the
    whole read here); the reference columns against its ``tilo``/``tihi`` fields (the aligned
    span without terminal gaps) from the same run.
    """
    assert VSEARCH is not None
    reads = _mixed_strand_reads(tmp_path, 200)
    database = _database(tmp_path)
    blast6_path, fields_path = tmp_path / "vsearch.b6", tmp_path / "vsearch.tsv"
    command = [VSEARCH, "--usearch_global", str(reads), "--db", str(database), "--id", "0.5"]
    command += ["--maxaccepts", "0", "--maxrejects", "0", "--strand", "both", "--threads", "1"]
    command += ["--qmask", "none", "--dbmask", "none", "--gapopen", f"{gap_open}I/2E"]
    command += ["--blast6out", str(blast6_path), "--userout", str(fields_path), "--quiet"]
    command += ["--userfields", "query+target+qstrand+tilo+tihi+caln"]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        timeout=120,
    )
    common = ["align", "-r", str(database), str(reads), "--mode", "semiglobal", "--quiet"]
    common += ["--match", "2", "--mismatch", "-4", "--gap-open", str(gap_open)]
    common += ["--gap-extend", "2", "--strand", "both", "--all-refs", "--min-score=-inf"]
    ours = {
        (fields[0], fields[1]): fields
        for fields in (
            line.split("\t") for line in _run([*common, "--format", "blast6"]).splitlines()
        )
    }
    table = [
        line.split("\t")
        for line in _run([*common, "--format", "tsv", "--classic-cigar"]).splitlines()
    ]
    cigars = {(row[0], row[1]): (row[2], row[-1]) for row in table[1:]}

    vsearch_lines = [line.split("\t") for line in blast6_path.read_text().splitlines()]
    vsearch_fields = [line.split("\t") for line in fields_path.read_text().splitlines()]
    assert len(vsearch_lines) == len(vsearch_fields) > 1000
    compared = gapped = minus = 0
    for theirs, extra in zip(vsearch_lines, vsearch_fields, strict=True):
        assert theirs[:2] == extra[:2]
        key = (theirs[0], sam_reference_name(theirs[1]))  # commas in the names become "_"
        strand, cigar = cigars[key]
        if strand != extra[2] or _vsearch_core(extra[5]) != cigar:
            continue  # another alignment (or strand): different columns are no error
        compared += 1
        mine = ours[key]
        assert abs(float(mine[2]) - float(theirs[2])) <= 0.055  # 2 decimals against 1
        assert mine[3:6] == theirs[3:6]  # length, mismatch, gapopen
        assert sorted(map(int, mine[6:8])) == sorted(map(int, theirs[6:8]))
        low, high = sorted(map(int, mine[8:10]))
        assert [low, high] == [int(extra[3]), int(extra[4])]
        assert (int(mine[8]) > int(mine[9])) == (strand == "-")  # BLAST: sstart > send
        gapped += int(mine[5]) > 0
        minus += strand == "-"
    assert compared >= 0.95 * len(vsearch_lines)
    assert gapped >= least_gapped and minus > 0.3 * compared
