"""The command line, run in-process through ``cli.main`` and as a real subprocess.

Every output test runs on each backend (serial, threads with 1 and 2 workers, processes)
and requires byte-identical output; SAM is read back with pysam and samtools.
"""

from __future__ import annotations

import gzip
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pysam
import pytest

from cli_helpers import (
    ECOLI,
    FIVE_REFERENCES,
    GOLDEN,
    GOLDEN_CASES,
    GOLDEN_FORMATS,
    GOLDEN_READS,
    READS,
    console_command,
    golden_arguments,
    run_cli,
    small_reads,
    without_program_line,
)
from streamalign.cli import DEMO_REFERENCE, ExitStatus

BACKENDS = {
    "serial": ["--backend", "serial"],
    "threads-1": ["--backend", "threads", "-j", "1"],
    "threads-2": ["--backend", "threads", "-j", "2"],
    "processes-2": ["--backend", "processes", "-j", "2"],
}


@pytest.fixture(params=list(BACKENDS), ids=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> list[str]:
    """Execution options of one backend; every test using it runs on each."""
    return BACKENDS[request.param]


def fastq_names(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        lines = handle.read().splitlines()
    return [line[1:].split()[0] for line in lines[0::4]]


@pytest.mark.parametrize("output_format", ["sam", "tsv", "jsonl"])
def test_every_backend_writes_the_same_bytes(
    backend: list[str], output_format: str, tmp_path: Path
) -> None:
    common = ["align", "-r", str(ECOLI), str(READS), "--format", output_format, "--quiet"]
    status, serial, _ = run_cli([*common, "--backend", "serial", "--batch-size", "200"])
    assert status == ExitStatus.SUCCESS
    status, parallel, _ = run_cli([*common, *backend, "--batch-size", "16"])
    assert status == ExitStatus.SUCCESS
    assert without_program_line(parallel) == without_program_line(serial)


def test_processes_under_every_start_method(tmp_path: Path) -> None:
    reads = small_reads(tmp_path)
    common = ["align", "-r", str(ECOLI), str(reads), "--quiet", "--batch-size", "5"]
    _, expected, _ = run_cli([*common, "--backend", "serial"])
    for method in ("fork", "spawn", "forkserver"):
        status, output, _ = run_cli(
            [*common, "--backend", "processes", "-j", "2", "--start-method", method]
        )
        assert status == ExitStatus.SUCCESS
        assert without_program_line(output) == without_program_line(expected), method


@pytest.mark.parametrize("name", list(GOLDEN_CASES))
@pytest.mark.parametrize("output_format", GOLDEN_FORMATS)
def test_golden_outputs(name: str, output_format: str, backend: list[str], tmp_path: Path) -> None:
    """Small real inputs against the committed, reviewed output files (never written here:
    ``python tests/regenerate_golden.py`` rewrites them, for review, when output changes)."""
    reads = small_reads(tmp_path, GOLDEN_READS)
    status, output, _ = run_cli(
        [*golden_arguments(name, output_format, reads), *backend, "--batch-size", "5"]
    )
    assert status == ExitStatus.SUCCESS
    golden = (GOLDEN / f"{name}.{output_format}").read_bytes()
    assert golden.count(b"\n") > GOLDEN_READS  # a real file: a header and a line per read
    assert without_program_line(output) == golden


def test_every_golden_file_belongs_to_a_case() -> None:
    expected = {f"{name}.{form}" for name in GOLDEN_CASES for form in GOLDEN_FORMATS}
    assert {path.name for path in GOLDEN.iterdir()} == expected


@pytest.mark.parametrize("mode", ["global", "semiglobal", "overlap", "local"])
@pytest.mark.parametrize("strand", ["forward", "both"])
def test_sam_is_read_back_by_pysam_and_samtools(mode: str, strand: str, tmp_path: Path) -> None:
    reads = small_reads(tmp_path)
    output = tmp_path / "out.sam"
    status, _, _ = run_cli(
        [
            "align",
            "-r",
            str(FIVE_REFERENCES),
            str(reads),
            "-o",
            str(output),
            "--mode",
            mode,
            "--strand",
            strand,
            "--quiet",
        ]
    )
    assert status == ExitStatus.SUCCESS
    names = fastq_names(reads)
    with pysam.AlignmentFile(str(output), "r", check_sq=True) as sam:
        lengths = dict(zip(sam.references, sam.lengths, strict=True))
        records = list(sam)
    assert [record.query_name for record in records] == names
    for record in records:
        assert not record.is_unmapped
        assert record.infer_query_length() == record.query_length == 250
        assert record.reference_end <= lengths[record.reference_name]
        assert record.get_tag("NM") >= 0
        if mode in ("global", "semiglobal"):
            assert record.cigartuples[0][0] != pysam.CSOFT_CLIP
    if shutil.which("samtools"):
        subprocess.run(["samtools", "quickcheck", "-v", str(output)], check=True)
        counted = subprocess.run(
            ["samtools", "view", "-c", str(output)], check=True, capture_output=True, text=True
        )
        assert int(counted.stdout) == len(names)


def test_thresholds_write_unmapped_records(tmp_path: Path) -> None:
    reads = small_reads(tmp_path)
    _, table, _ = run_cli(["align", "-r", str(ECOLI), str(reads), "--format", "tsv", "--quiet"])
    scores = sorted(float(line.split("\t")[4]) for line in table.decode().splitlines()[1:])
    threshold = scores[len(scores) // 2]
    expected_unmapped = sum(score < threshold for score in scores)
    assert 0 < expected_unmapped < 24
    output = tmp_path / "out.sam"
    status, _, _ = run_cli(
        [
            "align",
            "-r",
            str(ECOLI),
            str(reads),
            "-o",
            str(output),
            "--min-score",
            str(threshold),
            "--quiet",
            "--stats-json",
            str(tmp_path / "stats.json"),
        ]
    )
    assert status == ExitStatus.SUCCESS
    with pysam.AlignmentFile(str(output), "r") as sam:
        records = list(sam)
    unmapped = [record for record in records if record.is_unmapped]
    assert len(records) == 24 and len(unmapped) == expected_unmapped
    assert all(record.get_tag("AS") >= threshold for record in records if not record.is_unmapped)
    statistics = json.loads((tmp_path / "stats.json").read_text())
    assert statistics["schema_version"] == 1
    assert statistics["records"] == 24
    assert statistics["unmapped"] == expected_unmapped
    assert statistics["mapped"] == 24 - expected_unmapped


def test_all_references_marks_secondary_records(tmp_path: Path) -> None:
    reads = small_reads(tmp_path, 6)
    output = tmp_path / "out.sam"
    status, _, _ = run_cli(
        [
            "align",
            "-r",
            str(FIVE_REFERENCES),
            str(reads),
            "-o",
            str(output),
            "--all-refs",
            "--quiet",
        ]
    )
    assert status == ExitStatus.SUCCESS
    with pysam.AlignmentFile(str(output), "r") as sam:
        records = list(sam)
    assert len(records) == 6 * 5
    for start in range(0, 30, 5):
        group = records[start : start + 5]
        assert len({record.query_name for record in group}) == 1
        assert [record.reference_id for record in group] == [0, 1, 2, 3, 4]
        primary = [record for record in group if not record.is_secondary]
        assert len(primary) == 1
        assert primary[0].get_tag("AS") == max(record.get_tag("AS") for record in group)


def test_invalid_characters_are_rejected_to_a_file(tmp_path: Path) -> None:
    reads = tmp_path / "reads.fa"
    reads.write_text(">good1\nACGTACGTAC\n>bad\nACGT!ACGT\n>good2\nGGGTTTACGA\n")
    rejects = tmp_path / "rejects.fa"
    status, output, errors = run_cli(
        ["align", "-r", str(ECOLI), str(reads), "--format", "tsv", "--rejects", str(rejects)]
    )
    assert status == ExitStatus.REJECTED
    lines = output.decode().splitlines()
    assert [line.split("\t")[0] for line in lines[1:]] == ["good1", "good2"]
    assert rejects.read_text() == ">bad\nACGT!ACGT\n"
    assert "record 2 (bad): invalid character '!' at position 5" in errors
    status, _, errors = run_cli(
        ["align", "-r", str(ECOLI), str(reads), "--on-invalid", "error", "--quiet"]
    )
    assert status == ExitStatus.ERROR
    assert errors.count("\n") == 1 and "Traceback" not in errors


@pytest.mark.parametrize(
    "options",
    [
        ["-j", "-3"],
        ["--gap-open", "-1"],
        ["--match", "-3"],
        ["--mode", "sideways"],
        ["--min-score", "1", "--min-identity", "0.5"],
        ["--min-identity", "2"],
        ["--min-score", "nan"],
        ["--matrix", "BLOSUM99"],
        ["--format", "bam"],
    ],
)
def test_bad_options_are_usage_errors(options: list[str], tmp_path: Path) -> None:
    status, output, errors = run_cli(["align", "-r", str(ECOLI), str(READS), *options])
    assert status == ExitStatus.USAGE
    assert output == b""
    assert "Traceback" not in errors and "error" in errors


def test_missing_reference_is_a_one_line_error(tmp_path: Path) -> None:
    status, _, errors = run_cli(["align", "-r", str(tmp_path / "nope.fa"), str(READS)])
    assert status == ExitStatus.ERROR
    assert "nope.fa" in errors and errors.count("\n") == 1


def test_demo_prints_a_summary() -> None:
    status, output, errors = run_cli(["demo", "--sequences", "300", "-j", "2"])
    assert status == ExitStatus.SUCCESS
    assert output == b""
    assert "records               300" in errors
    assert "worker-" in errors
    assert DEMO_REFERENCE[:20] in errors  # the printed example alignment


def test_output_format_follows_the_extension(tmp_path: Path) -> None:
    reads = small_reads(tmp_path, 3)
    for suffix, first in ((".tsv", "query\t"), (".jsonl", "{"), (".sam", "@HD")):
        output = tmp_path / f"out{suffix}"
        assert (
            run_cli(["align", "-r", str(ECOLI), str(reads), "-o", str(output), "--quiet"])[0]
            == ExitStatus.SUCCESS
        )
        assert output.read_text().startswith(first)


def _mixed_strand_reads(directory: Path, count: int) -> Path:
    """The first ``count`` real reads (FASTQ), every second one reverse complemented."""
    lines = small_reads(directory, count).read_text().splitlines()
    complement = str.maketrans("ACGTN", "TGCAN")
    for record in range(1, count, 2):
        lines[4 * record + 1] = lines[4 * record + 1].translate(complement)[::-1]
        lines[4 * record + 3] = lines[4 * record + 3][::-1]
    path = directory / "mixed.fastq"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_blast6_format_is_the_same_on_every_backend(backend: list[str], tmp_path: Path) -> None:
    """One line per mapped (query, reference) record, none for the rest, byte for byte the
    same serial and in parallel. With the threshold, the TSV holds the passing references of
    each read, or its one unmapped record."""
    reads = _mixed_strand_reads(tmp_path, 24)
    common = ["align", "-r", str(FIVE_REFERENCES), str(reads), "--all-refs", "--quiet"]
    common += ["--strand", "both", "--min-identity", "0.75"]
    status, serial, _ = run_cli([*common, "--format", "blast6", "--backend", "serial"])
    assert status == ExitStatus.SUCCESS
    status, parallel, _ = run_cli([*common, "--format", "blast6", *backend, "--batch-size", "5"])
    assert status == ExitStatus.SUCCESS
    assert parallel == serial
    _, table, _ = run_cli([*common, "--format", "tsv", "--backend", "serial"])
    rows = [line.split("\t") for line in table.decode().splitlines()[1:]]
    mapped = [row for row in rows if row[3] == "1"]
    assert 0 < len(mapped) < len(rows) < 24 * 5
    names = [row[0] for row in rows]
    assert len(set(names)) == 24
    assert all(names.count(row[0]) == 1 for row in rows if row[3] == "0")
    assert all(float(row[5]) >= 0.75 for row in mapped)
    lines = [line.split("\t") for line in serial.decode().splitlines()]
    assert [fields[:2] for fields in lines] == [row[:2] for row in mapped]
    assert all(len(fields) == 12 for fields in lines)
    minus = [fields for fields, row in zip(lines, mapped, strict=True) if row[2] == "-"]
    assert minus and all(int(fields[8]) > int(fields[9]) for fields in minus)


def test_blast6_format_follows_the_b6_and_m8_extensions(tmp_path: Path) -> None:
    reads = small_reads(tmp_path, 4)
    common = ["align", "-r", str(ECOLI), str(reads), "--quiet"]
    status, expected, _ = run_cli([*common, "--format", "blast6"])
    assert status == ExitStatus.SUCCESS
    assert expected.count(b"\n") == 4 and expected.decode().split("\t")[0] == fastq_names(reads)[0]
    for suffix in (".b6", ".m8", ".blast6", ".M8"):
        output = tmp_path / f"out{suffix}"
        assert run_cli([*common, "-o", str(output)])[0] == ExitStatus.SUCCESS
        assert output.read_bytes() == expected, suffix


def test_output_appears_while_stdin_is_still_open(tmp_path: Path) -> None:
    """A pipe that stays open: records come out before the writer closes it."""
    process = subprocess.Popen(
        console_command("align", "-r", str(ECOLI), "--format", "tsv", "--quiet", "-"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        with gzip.open(READS, "rb") as handle:
            lines = handle.read().splitlines(True)[:20]
        process.stdin.write(b"".join(lines))
        process.stdin.flush()
        header = process.stdout.readline()
        first = process.stdout.readline()
        assert header.startswith(b"query\t")
        assert first.split(b"\t")[0] == lines[0][1:].split()[0]
        assert process.poll() is None  # still running: stdin is open
    finally:
        process.communicate(timeout=60)  # closes stdin (end of input), reads and closes the rest
    assert process.returncode == 0


def test_interrupt_stops_quickly_at_a_record_boundary(tmp_path: Path) -> None:
    reads = tmp_path / "many.fastq"
    with gzip.open(READS, "rb") as handle:
        reads.write_bytes(handle.read() * 20)
    output = tmp_path / "out.tsv"
    process = subprocess.Popen(
        console_command(
            "align",
            "-r",
            str(ECOLI),
            str(reads),
            "-o",
            str(output),
            "--batch-size",
            "20",
            "-j",
            "2",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and output.stat().st_size < 2000 if output.exists() else True:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _, errors = process.communicate(timeout=10)
    assert time.monotonic() - sent < 2.0
    assert process.returncode == ExitStatus.INTERRUPTED
    assert b"Traceback" not in errors and b"interrupted" in errors
    text = output.read_text()
    assert text.endswith("\n")
    rows = text.splitlines()
    assert all(len(row.split("\t")) == len(rows[0].split("\t")) for row in rows)


def test_a_small_input_keeps_every_worker_busy(tmp_path: Path) -> None:
    """The automatic batch size would put 200 reads in one batch; the first batch is cut up
    so both workers get work, and the output is the serial output."""
    common = ["align", "-r", str(ECOLI), str(READS), "--format", "tsv", "--quiet"]
    _, expected, _ = run_cli([*common, "--backend", "serial"])
    stats = tmp_path / "stats.json"
    status, output, _ = run_cli([*common, "-j", "2", "--stats-json", str(stats)])
    assert status == ExitStatus.SUCCESS
    assert output == expected
    per_worker = json.loads(stats.read_text())["records_per_worker"]
    assert len(per_worker) == 2 and sum(per_worker.values()) == 200
