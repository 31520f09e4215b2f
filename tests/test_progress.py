"""Signs of life: the progress line on a terminal, the heartbeat in logs, a prompt Ctrl-C."""

from __future__ import annotations

import fcntl
import gzip
import io
import os
import select
import signal
import struct
import subprocess
import termios
import threading
import time
from pathlib import Path

import pytest

from cli_helpers import DATA, ECOLI, READS, console_command, run_cli, small_reads
from streamalign import _config
from streamalign.io.readers import InputProgress, read_batches
from streamalign.options import ExitStatus
from streamalign.progress import ProgressEstimator, ProgressReporter, make_reporter

SOURCE = str(Path(__file__).parents[1] / "src")


REFERENCES = DATA / "example_train_set.fa.gz"  # 100 references


def written_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def reads_file(directory: Path, copies: int = 1) -> Path:
    with gzip.open(READS, "rb") as handle:
        data = handle.read()
    path = directory / "reads.fastq"
    path.write_bytes(data * copies)
    return path


# ---------------------------------------------------------------------------- the estimator


def test_eta_and_percentage_come_from_the_bytes_read_of_a_file(tmp_path: Path) -> None:
    reads = reads_file(tmp_path, copies=2)  # 400 records
    read = InputProgress()
    batches = read_batches([str(reads)], max_records=50, progress=read)
    assert read.total_bytes == reads.stat().st_size
    first = next(batches)
    assert read.records_read == 50 and 0 < read.bytes_read <= read.total_bytes
    remaining = sum(len(batch) for batch in batches)
    assert read.records_read == 400 == len(first) + remaining
    assert read.bytes_read == read.total_bytes
    clock = iter([0.0]).__next__
    estimator = ProgressEstimator(read, clock=clock)
    estimator.update(100)  # 100 of the 400 records written after 20 s
    snapshot = estimator.snapshot(now=20.0)
    assert snapshot.fraction == pytest.approx(0.25)
    assert snapshot.rate == pytest.approx(5.0)
    assert snapshot.eta_seconds == pytest.approx(60.0)
    assert snapshot.describe() == "100 records, 5 records/s, 25.0%, ETA 0:01:00"


def test_the_reader_running_ahead_does_not_inflate_the_percentage() -> None:
    read = InputProgress()
    read.total_bytes, read.bytes_read, read.records_read = 10_000, 5_000, 1_000  # half read
    estimator = ProgressEstimator(read, initial_records=100, clock=lambda: 0.0)
    estimator.update(400)  # but only 500 of an estimated 2,000 records written
    snapshot = estimator.snapshot(now=8.0)
    assert snapshot.records == 500
    assert snapshot.fraction == pytest.approx(0.25)
    assert snapshot.rate == pytest.approx(50.0)  # resumed records are not in the rate
    assert snapshot.eta_seconds == pytest.approx(30.0)


def test_compressed_input_is_measured_in_compressed_bytes() -> None:
    read = InputProgress()
    records = sum(len(batch) for batch in read_batches([str(READS)], progress=read))
    assert read.total_bytes == READS.stat().st_size
    assert read.bytes_read == read.total_bytes and read.records_read == records == 200


def test_standard_input_has_no_percentage_or_eta() -> None:
    read = InputProgress()
    with gzip.open(READS, "rb") as handle:
        stream = io.BytesIO(handle.read())
    for _batch in read_batches("-", stdin=stream, progress=read):
        pass
    assert read.total_bytes is None and read.records_read == 200
    estimator = ProgressEstimator(read, clock=lambda: 0.0)
    estimator.update(200)
    snapshot = estimator.snapshot(now=2.0)
    assert snapshot.fraction is None and snapshot.eta_seconds is None
    assert snapshot.describe() == "200 records, 100 records/s"


# ---------------------------------------------------------------------------- the reporter


def test_heartbeat_lines_every_interval_and_none_in_a_short_run() -> None:
    stream = io.StringIO()
    estimator = ProgressEstimator()
    reporter = ProgressReporter(stream, estimator, terminal=False, interval=0.05)
    reporter.start()
    estimator.update(7)
    time.sleep(0.3)
    reporter.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("streamalign: 7 records, ") for line in lines)
    stream = io.StringIO()
    reporter = make_reporter(stream, ProgressEstimator(), quiet=False)
    assert reporter is not None and reporter.interval == _config.HEARTBEAT_SECONDS >= 10
    reporter.start()
    reporter.close()
    assert stream.getvalue() == ""


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_terminal_line_is_redrawn_in_place_and_cut_to_80_columns() -> None:
    stream = FakeTerminal()  # no file descriptor: its width is unknown
    estimator = ProgressEstimator()
    estimator.update(10**70)  # a line far wider than 80 columns
    reporter = make_reporter(stream, estimator, quiet=False)
    assert reporter is not None and reporter.terminal
    reporter.start()
    reporter.message("streamalign: rejected record 1")
    reporter.close()
    text = stream.getvalue()
    drawn = [piece for piece in text.replace("\x1b[K", "").split("\r") if piece]
    assert "streamalign: rejected record 1\n" in drawn
    lines = [piece for piece in drawn if piece.startswith("10,000,")]
    assert lines and all(len(line) == 79 for line in lines)
    assert text.endswith("\r\x1b[K")  # erased at the end


# ---------------------------------------------------------------------------- the command line


def test_cli_prints_a_heartbeat_when_stderr_is_not_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_config, "HEARTBEAT_SECONDS", 0.02)
    reads = reads_file(tmp_path)
    arguments = ["align", "-r", str(ECOLI), str(reads), "--batch-size", "5", "-j", "1"]
    status, _, errors = run_cli(arguments)
    assert status == ExitStatus.SUCCESS
    beats = [line for line in errors.splitlines() if line.startswith("streamalign: ")]
    assert beats, errors
    assert all("records/s" in line and "%" in line for line in beats)
    status, _, errors = run_cli([*arguments, "--quiet"])
    assert status == ExitStatus.SUCCESS and errors == ""


def read_terminal(command: list[str], columns: int) -> tuple[int, bytes]:
    """Run ``command`` with standard output and error on a pseudo-terminal of ``columns``."""
    main, secondary = os.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    environment = {**os.environ, "PYTHONPATH": SOURCE}
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary, env=environment
    )
    os.close(secondary)
    shown = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the other end closed: the process is done
                break
            if not chunk:
                break
            shown += chunk
        return process.wait(timeout=30), shown
    finally:
        os.close(main)
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("columns", [0, 100])
def test_the_progress_line_draws_on_a_pseudo_terminal(tmp_path: Path, columns: int) -> None:
    # 800 reads (the 200 real ones, four times) against 100 references: a run of a few
    # seconds, so that the line is redrawn with its percentage before the summary.
    single = small_reads(tmp_path, 200).read_bytes()
    reads = tmp_path / "repeated.fastq"
    reads.write_bytes(single * 4)
    output = tmp_path / "out.sam"
    command = console_command(
        "align", "-r", str(REFERENCES), str(reads), "-o", str(output), "--batch-size", "10"
    )
    status, shown = read_terminal(command, columns)
    assert status == ExitStatus.SUCCESS
    before_summary = shown.split(b"records    ")[0]
    assert b"records/s" in before_summary, shown
    lines = [piece for piece in before_summary.split(b"\r") if b"records/s" in piece]
    assert any(b"%" in line for line in lines)  # a file input: its size is known
    width = columns or 80
    assert all(len(line.removesuffix(b"\x1b[K")) < width for line in lines)


def test_ctrl_c_stops_a_long_batch_within_two_seconds(tmp_path: Path) -> None:
    """100 references and batches of 150 reads: each batch runs for seconds, and a nogil
    kernel cannot be interrupted; the run must not wait for it."""
    reads = reads_file(tmp_path, copies=3)  # 600 reads
    output = tmp_path / "out.tsv"
    command = console_command(
        "align", "-r", str(REFERENCES), str(reads), "-o", str(output), "--batch-size", "150"
    )
    environment = {**os.environ, "PYTHONPATH": SOURCE}
    process = subprocess.Popen(
        [*command, "-j", "2"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=environment
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and written_lines(output) < 2:
            time.sleep(0.02)  # the header and the first batch's records are written
        assert process.poll() is None
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, errors = process.communicate(timeout=60)
        stopped_after = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == ExitStatus.INTERRUPTED, errors
    assert stopped_after < 2.5, f"stopped {stopped_after:.1f} s after Ctrl-C"
    assert b"Traceback" not in errors and b"interrupted" in errors
    assert b"records      " in errors  # the summary
    text = output.read_text()
    assert text.endswith("\n")
    rows = text.splitlines()
    assert len(rows) < 601  # stopped early
    assert {len(row.split("\t")) for row in rows} == {len(rows[0].split("\t"))}


def test_in_process_interrupt_returns_130_promptly(tmp_path: Path) -> None:
    """``main()`` in-process: SIGINT during a long batch returns 130 without waiting for it."""
    reads = reads_file(tmp_path, copies=3)
    output = tmp_path / "out.tsv"
    arguments = [
        "align",
        "-r",
        str(REFERENCES),
        str(reads),
        "-o",
        str(output),
        "--batch-size",
        "150",
        "-j",
        "2",
        "--quiet",
    ]
    fired: list[float] = []

    def interrupt_after_the_first_batch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if written_lines(output) >= 2:
                fired.append(time.monotonic())
                os.kill(os.getpid(), signal.SIGINT)  # delivered to the main thread
                return
            time.sleep(0.02)

    watcher = threading.Thread(target=interrupt_after_the_first_batch, daemon=True)
    watcher.start()
    status, _, errors = run_cli(arguments)
    returned = time.monotonic()
    watcher.join()
    assert status == ExitStatus.INTERRUPTED and "interrupted" in errors
    assert fired and returned - fired[0] < 2.5
