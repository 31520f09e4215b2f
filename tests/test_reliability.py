"""Nothing lost: failing records, interruption, resume, closed outputs, odd input.

Each test runs the real command (in-process or as a subprocess) and compares with an
uninterrupted serial run, byte for byte.
"""

from __future__ import annotations

import gzip
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cli_helpers import console_command, run_cli, without_program_line
from fault_tasks import inject_fault
from streamalign.checkpoint import checkpoint_path
from streamalign.cli import ExitStatus

DATA = Path(__file__).parent / "data"
READS = DATA / "sam1F.200.fastq.gz"
ECOLI = DATA / "ecoli_16S.fa"


def reads_lines(count: int) -> list[bytes]:
    with gzip.open(READS, "rb") as handle:
        return handle.read().splitlines(True)[: 4 * count]


def record_names(lines: list[bytes]) -> list[str]:
    return [line[1:].split()[0].decode() for line in lines[0::4]]


@pytest.mark.parametrize(
    "backend", [["--backend", "serial"], ["-j", "2"], ["--backend", "processes", "-j", "2"]]
)
def test_a_record_that_always_fails_is_isolated_and_rejected(
    backend: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = reads_lines(30)
    reads = tmp_path / "reads.fastq"
    reads.write_bytes(b"".join(lines))
    names = record_names(lines)
    culprit = names[17]
    common = ["align", "-r", str(ECOLI), str(reads), "--format", "tsv", "--batch-size", "8"]
    _, expected, _ = run_cli([*common, "--backend", "serial", "--quiet"])
    inject_fault(monkeypatch, "raise", culprit)
    rejects = tmp_path / "rejects.fastq"
    stats = tmp_path / "stats.json"
    status, output, errors = run_cli(
        [*common, *backend, "--rejects", str(rejects), "--stats-json", str(stats)]
    )
    assert status == ExitStatus.REJECTED
    kept = [line for line in expected.splitlines(True) if not line.startswith(culprit.encode())]
    assert output == b"".join(kept)  # every other record, in order, exactly once
    assert rejects.read_bytes() == b"".join(lines[4 * 17 : 4 * 18])
    assert f"record 18 ({culprit}): RuntimeError: injected fault" in errors
    assert '"rejected": 1' in stats.read_text()


def test_resume_after_sigkill_gives_the_uninterrupted_output(tmp_path: Path) -> None:
    lines = reads_lines(200)
    reads = tmp_path / "reads.fastq"
    reads.write_bytes(b"".join(lines) * 6)
    expected = tmp_path / "expected.sam"
    status, _, _ = run_cli(
        [
            "align",
            "-r",
            str(ECOLI),
            str(reads),
            "-o",
            str(expected),
            "--quiet",
            "--backend",
            "serial",
        ]
    )
    assert status == ExitStatus.SUCCESS
    assert not checkpoint_path(expected).exists()  # a finished run leaves no checkpoint
    output = tmp_path / "out.sam"
    arguments = [
        "align",
        "-r",
        str(ECOLI),
        str(reads),
        "-o",
        str(output),
        "--batch-size",
        "10",
        "-j",
        "1",
        "--quiet",
    ]
    process = subprocess.Popen(console_command(*arguments), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if checkpoint_path(output).exists() and output.stat().st_size > 40_000:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    partial = output.read_bytes()
    assert 0 < len(partial) < expected.stat().st_size
    with open(output, "ab") as handle:  # a record cut in half, as a kill mid-write leaves it
        handle.write(b"M02273:28:000000000-ADV3A:1:2108:1")
    status, _, errors = run_cli([*arguments[:-1], "--resume", "-j", "2"])
    assert status == ExitStatus.SUCCESS, errors
    assert without_program_line(output.read_bytes()) == without_program_line(expected.read_bytes())
    assert not checkpoint_path(output).exists()


def test_resume_refuses_other_options_and_missing_checkpoints(tmp_path: Path) -> None:
    reads = tmp_path / "reads.fastq"
    reads.write_bytes(b"".join(reads_lines(5)))
    output = tmp_path / "out.tsv"
    status, _, errors = run_cli(
        ["align", "-r", str(ECOLI), str(reads), "-o", str(output), "--resume"]
    )
    assert status == ExitStatus.ERROR and "nothing to resume" in errors
    checkpoint_path(output).write_text(
        '{"records": 1, "output_bytes": 0, "rejects_bytes": 0, "fingerprint": "other", '
        '"statistics": {}, "schema_version": 1}'
    )
    output.write_bytes(b"")
    status, _, errors = run_cli(
        ["align", "-r", str(ECOLI), str(reads), "-o", str(output), "--resume"]
    )
    assert status == ExitStatus.ERROR and "other inputs or options" in errors
    status, _, errors = run_cli(["align", "-r", str(ECOLI), str(reads), "--resume"])
    assert status == ExitStatus.USAGE


def test_sigterm_stops_at_a_record_boundary(tmp_path: Path) -> None:
    reads = tmp_path / "reads.fastq"
    reads.write_bytes(b"".join(reads_lines(200)) * 20)
    output = tmp_path / "out.tsv"
    process = subprocess.Popen(
        console_command(
            "align", "-r", str(ECOLI), str(reads), "-o", str(output), "--batch-size", "20"
        ),
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (output.exists() and output.stat().st_size > 5000):
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    _, errors = process.communicate(timeout=30)
    assert time.monotonic() - sent < 2.0
    assert process.returncode == ExitStatus.INTERRUPTED
    assert b"Traceback" not in errors and b"interrupted" in errors
    text = output.read_text()
    assert text.endswith("\n")
    assert {len(row.split("\t")) for row in text.splitlines()} == {17}


def test_a_closed_standard_output_ends_the_run_cleanly(tmp_path: Path) -> None:
    reads = tmp_path / "reads.fastq"
    reads.write_bytes(b"".join(reads_lines(200)) * 10)
    process = subprocess.Popen(
        console_command("align", "-r", str(ECOLI), str(reads), "--batch-size", "20", "--quiet"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.readline()
    process.stdout.close()  # like `| head -1`
    errors = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=60) == ExitStatus.ERROR
    assert b"broken pipe" in errors and b"Traceback" not in errors
    assert errors.count(b"\n") == 1


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_a_one_line_error() -> None:
    status, _, errors = run_cli(
        ["align", "-r", str(ECOLI), str(READS), "-o", "/dev/full", "--format", "sam"]
    )
    assert status == ExitStatus.ERROR
    assert "No space left on device" in errors and errors.count("\n") == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", None),
        (b"@r1\nACGT\n+\nIII\n", "line 4 (record 1)"),
        (b"@r1\nACGT\nIIII\n", "reads"),
        (b"r1\nACGT\n+\nIIII\n", "reads"),
        (b"junk\n>r1\nACGT\n", "reads"),
        (bytes(range(256)) * 4, "reads"),
        (b">r1\r\nACGT\r\n>r2\r\n\r\n", None),
        (gzip.compress(b"@r1\nACGT\n+\nIIII\n" * 50)[:-30], "reads"),
    ],
    ids=[
        "empty",
        "quality_length",
        "missing_plus",
        "no_at",
        "text_before",
        "binary",
        "crlf_and_empty_sequence",
        "truncated_gzip",
    ],
)
def test_hostile_input_gives_a_result_or_one_line_error(
    content: bytes, message: str | None, tmp_path: Path
) -> None:
    reads = tmp_path / "reads"
    reads.write_bytes(content)
    status, output, errors = run_cli(
        ["align", "-r", str(ECOLI), str(reads), "--format", "tsv", "--quiet"]
    )
    assert "Traceback" not in errors
    if message is None:
        assert status == ExitStatus.SUCCESS
        assert output.startswith(b"query\t")
    else:
        assert status == ExitStatus.ERROR
        assert message in errors and errors.count("\n") == 1
        assert output.endswith(b"\n")  # what was written ends at a record


@pytest.mark.parametrize(
    ("reference", "message"),
    [(b"", "empty"), (b"hello world\n", "reads"), (None, "cannot open")],
    ids=["empty", "not_fasta", "missing"],
)
def test_bad_reference_files(reference: bytes | None, message: str, tmp_path: Path) -> None:
    path = tmp_path / "reads"
    if reference is not None:
        path.write_bytes(reference)
    status, _, errors = run_cli(["align", "-r", str(path), str(READS)])
    assert status == ExitStatus.ERROR
    assert str(path) in errors and errors.count("\n") == 1 and "Traceback" not in errors


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_a_record_that_kills_its_worker_is_isolated_and_rejected(
    start_method: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = reads_lines(24)
    reads = tmp_path / "reads.fastq"
    reads.write_bytes(b"".join(lines))
    culprit = record_names(lines)[9]
    common = [
        "align",
        "-r",
        str(ECOLI),
        str(reads),
        "--format",
        "tsv",
        "--batch-size",
        "8",
        "--quiet",
    ]
    _, expected, _ = run_cli([*common, "--backend", "serial"])
    inject_fault(monkeypatch, "crash", culprit)  # the worker process exits at once
    rejects = tmp_path / "rejects.fastq"
    status, output, _ = run_cli(
        [
            *common,
            "--backend",
            "processes",
            "-j",
            "2",
            "--start-method",
            start_method,
            "--rejects",
            str(rejects),
        ]
    )
    assert status == ExitStatus.REJECTED
    kept = [line for line in expected.splitlines(True) if not line.startswith(culprit.encode())]
    assert output == b"".join(kept)
    assert rejects.read_bytes() == b"".join(lines[4 * 9 : 4 * 10])


def test_a_50_megabase_read_is_rejected_and_the_run_goes_on(tmp_path: Path) -> None:
    reads = tmp_path / "reads.fa"
    with open(reads, "wb") as handle:
        handle.write(b">small1\nGAGTTTGATCCTGGCTCAG\n>huge\n")
        handle.write(b"ACGT" * 12_500_000 + b"\n")
        handle.write(b">small2\nGAGTTTGATCCTGGCTCAG\n")
    rejects = tmp_path / "rejects.fa"
    status, output, errors = run_cli(
        ["align", "-r", str(ECOLI), str(reads), "--format", "tsv", "--rejects", str(rejects)]
    )
    assert status == ExitStatus.REJECTED
    assert [line.split(b"\t")[0] for line in output.splitlines()[1:]] == [b"small1", b"small2"]
    assert "record 2 (huge): AlignmentTooLargeError" in errors
    assert rejects.stat().st_size == 50_000_000 + len(">huge\n\n")


def test_duplicate_names_are_kept_in_order(tmp_path: Path) -> None:
    reads = tmp_path / "reads.fa"
    reads.write_text(">same\nGAGTTTGATCC\n>same\nTTTTGGGG\n>same\nGAGTTTGATCC\n")
    status, output, _ = run_cli(
        [
            "align",
            "-r",
            str(ECOLI),
            str(reads),
            "--format",
            "tsv",
            "-j",
            "2",
            "--batch-size",
            "1",
            "--quiet",
        ]
    )
    assert status == ExitStatus.SUCCESS
    rows = [line.split(b"\t") for line in output.splitlines()[1:]]
    assert [row[0] for row in rows] == [b"same"] * 3
    assert rows[0][4:] == rows[2][4:] != rows[1][4:]
