"""Tests of the dask backend on a real two-worker LocalCluster over TCP on loopback.

The cluster is started once for the module. Outputs are compared with a serial run of the same
input: SAM and TSV through the command line (in-process), alignments through ``Aligner.map``,
and a run during which one worker process is killed.
"""

from __future__ import annotations

import contextlib
import copyreg
import gzip
import io
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import engine_tasks
from streamalign import Aligner
from streamalign.cli import main
from streamalign.engine import DaskBackend, WorkerCrashError, execute
from streamalign.errors import StreamAlignError
from streamalign.io.readers import read_references
from streamalign.options import references_for_output
from streamalign.pipeline import RunOptions, run

# a hang (a lost worker nobody notices, a cluster that does not close) fails fast
pytestmark = pytest.mark.timeout(60)

#: Real data: DADA2's example files (see tests/data/README.md): the fixtures in tests/data/,
#: else the full files in the shared data folder beside the checkout.
DATA_DIRECTORIES = [
    Path(__file__).resolve().parent / "data",
    Path(__file__).resolve().parents[2] / "shared" / "data",
]
READS = ("sam1F.200.fastq.gz", "sam1F.fastq.gz")  # MiSeq 2x250 forward reads, 16S V4
REFERENCE = ("ecoli_16S.fa",)  # one E. coli 16S rRNA gene, 1,465 bp
READ_COUNT = 200
BATCH_SIZE = "10"  # many small batches: 20 for READ_COUNT reads


def data_file(names: tuple[str, ...]) -> Path:
    for directory in DATA_DIRECTORIES:
        for name in names:
            if (directory / name).is_file():
                return directory / name
    pytest.skip(f"test data {names} not found in {', '.join(map(str, DATA_DIRECTORIES))}")


@pytest.fixture(scope="module")
def reference() -> Path:
    return data_file(REFERENCE)


@pytest.fixture(scope="module")
def reads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first READ_COUNT records of the MiSeq run, as plain FASTQ."""
    with gzip.open(data_file(READS), "rt") as handle:
        lines = list(itertools.islice(handle, 4 * READ_COUNT))
    path = tmp_path_factory.mktemp("reads") / "reads.fastq"
    path.write_text("".join(lines))
    return path


@pytest.fixture(scope="module", autouse=True)
def restored_process_state() -> Iterator[None]:
    """Undo what Dask changes in this process, so that later test modules do not inherit it.

    - Dask's nannies set OMP_NUM_THREADS, PYTHONHASHSEED, ... in this process's environment
      (for the worker processes they spawn);
    - ``import distributed`` registers tblib's reducer in ``copyreg`` for every exception class
      defined so far, so that exceptions which otherwise cannot be unpickled then can (the
      process backend's tests check what happens to those).
    """
    environment = dict(os.environ)
    reducers = dict(copyreg.dispatch_table)
    yield
    os.environ.clear()
    os.environ.update(environment)
    copyreg.dispatch_table.clear()
    copyreg.dispatch_table.update(reducers)


@pytest.fixture(scope="module")
def cluster() -> Iterator[object]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        protocol="tcp",
        dashboard_address=None,
        # The scheduler's HTTP server (health checks) takes any free port, not 8787, which
        # may be taken on a shared machine (that would be a UserWarning, an error here).
        scheduler_kwargs={"dashboard_address": ":0"},
    ) as local_cluster:
        yield local_cluster


@pytest.fixture(scope="module")
def client(cluster: object) -> Iterator[object]:
    import distributed

    with distributed.Client(cluster, set_as_default=False) as cluster_client:
        yield cluster_client


@pytest.fixture
def healthy_client(client):
    """The module's client, with both workers up (a test before may have killed one)."""
    client.wait_for_workers(2, timeout=30)
    return client


@pytest.fixture(autouse=True)
def no_scheduler_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAMALIGN_SCHEDULER", raising=False)
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)


def align(*arguments: str) -> tuple[int, bytes, str]:
    stdout, stderr = io.BytesIO(), io.StringIO()
    status = main(["align", *arguments], stdout=stdout, stderr=stderr)
    return status, stdout.getvalue(), stderr.getvalue()


def without_command_line(output: bytes) -> bytes:
    """SAM output without the ``@PG CL:`` field: the command lines differ (--backend ...)."""
    return re.sub(rb"\tCL:[^\n]*", b"", output)


@pytest.fixture(scope="module")
def serial_outputs(reads: Path, reference: Path) -> dict[str, bytes]:
    outputs = {}
    for output_format in ("sam", "tsv"):
        status, output, stderr = align(
            "-r", str(reference), str(reads), "--format", output_format, "--backend", "serial",
            "--batch-size", BATCH_SIZE, "--quiet",
        )  # fmt: skip
        assert status == 0, stderr
        outputs[output_format] = without_command_line(output)
    return outputs


def scheduler_processes(client) -> dict[str, int]:
    """Worker address -> process id."""
    return client.run(os.getpid)


def run_keys_on_scheduler(client) -> list[str]:
    return client.run_on_scheduler(
        lambda dask_scheduler: [
            str(key) for key in dask_scheduler.tasks if str(key).startswith("streamalign-")
        ]
    )


def wait_until_forgotten(client, deadline_seconds: float = 10.0) -> list[str]:
    deadline = time.monotonic() + deadline_seconds
    while (keys := run_keys_on_scheduler(client)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return keys


# ---------------------------------------------------------------------------------------------
# Same output as a serial run


@pytest.mark.parametrize("output_format", ["sam", "tsv"])
@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "unordered"])
def test_cli_with_scheduler_matches_serial(
    healthy_client, reads, reference, serial_outputs, output_format, ordered
):
    address = healthy_client.scheduler.address
    status, output, stderr = align(
        "-r", str(reference), str(reads), "--format", output_format, "--backend", "dask",
        "--scheduler", address, "--batch-size", BATCH_SIZE, "--quiet",
        *([] if ordered else ["--unordered"]),
    )  # fmt: skip
    assert status == 0, stderr
    if ordered:
        assert without_command_line(output) == serial_outputs[output_format]
    else:  # the same records (each exactly once), in any order; the header first
        expected = serial_outputs[output_format].splitlines()
        got = without_command_line(output).splitlines()
        header = 1 if output_format == "tsv" else 3
        assert got[:header] == expected[:header]
        assert sorted(got) == sorted(expected)


def test_aligner_map_with_client_matches_serial(healthy_client, reads, reference):
    aligner = Aligner(read_references(str(reference)), "semiglobal")
    with gzip.open(data_file(READS), "rt") as handle:
        sequences = [line.strip() for line in itertools.islice(handle, 1, 4 * READ_COUNT, 4)]
    expected = list(aligner.map(sequences, backend="serial", batch_size=16))
    got = list(aligner.map(sequences, backend="dask", client=healthy_client, batch_size=16))
    assert [alignment.score for alignment in got] == [a.score for a in expected]
    assert [alignment.cigar for alignment in got] == [a.cigar for a in expected]
    assert [alignment.reference_start for alignment in got] == [a.reference_start for a in expected]
    assert healthy_client.status == "running"  # the caller's client stays open


def test_environment_names_the_scheduler(
    healthy_client, reads, reference, serial_outputs, monkeypatch
):
    import distributed

    def no_local_cluster(*arguments, **keywords):
        raise AssertionError("a local cluster was started although a scheduler was named")

    monkeypatch.setattr(distributed, "LocalCluster", no_local_cluster)
    address = healthy_client.scheduler.address
    command = [
        "-r", str(reference), str(reads), "--format", "tsv", "--backend", "dask", "--quiet",
        "--batch-size", BATCH_SIZE,
    ]  # fmt: skip
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
    status, output, stderr = align(*command)
    assert status == 0, stderr
    assert output == serial_outputs["tsv"]
    # STREAMALIGN_SCHEDULER comes first (the other one would fail: nothing listens there)
    monkeypatch.setenv("STREAMALIGN_SCHEDULER", address)
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:9")
    status, output, stderr = align(*command)
    assert status == 0, stderr
    assert output == serial_outputs["tsv"]


# ---------------------------------------------------------------------------------------------
# Engine semantics


def test_execute_orders_results_and_numbers_workers(healthy_client):
    results = list(execute(engine_tasks.square, range(40), backend="dask", client=healthy_client))
    assert [completed.index for completed in results] == list(range(40))
    assert [completed.result for completed in results] == [value * value for value in range(40)]
    assert {completed.worker for completed in results} <= {0, 1}
    assert wait_until_forgotten(healthy_client) == []


def test_unordered_gives_each_index_once(healthy_client):
    results = list(
        execute(
            engine_tasks.jittered_square, range(30), backend="dask", client=healthy_client,
            ordered=False,
        )
    )  # fmt: skip
    assert sorted(completed.index for completed in results) == list(range(30))
    assert all(completed.result == completed.index**2 for completed in results)


def test_input_is_pulled_lazily_within_the_window(healthy_client):
    taken = []

    def endless() -> Iterator[int]:
        for value in itertools.count():
            taken.append(value)
            yield value

    window = 5
    results = execute(
        engine_tasks.square, endless(), backend="dask", client=healthy_client,
        max_in_flight=window,
    )  # fmt: skip
    first = list(itertools.islice(results, 7))
    assert [completed.result for completed in first] == [value * value for value in range(7)]
    assert len(taken) <= 7 + window
    results.close()


def test_early_close_cancels_everything_in_flight(healthy_client):
    results = execute(
        engine_tasks.slow_square_with_pid, itertools.count(), backend="dask",
        client=healthy_client,
    )  # fmt: skip
    assert next(results).result[0] == 0
    results.close()
    assert wait_until_forgotten(healthy_client) == []  # the batches and the task's copy
    assert healthy_client.status == "running"


def test_task_exception_reaches_the_caller(healthy_client):
    with pytest.raises(ValueError, match="cannot handle payload 3"):
        list(execute(engine_tasks.fail_on_three, range(8), backend="dask", client=healthy_client))
    assert wait_until_forgotten(healthy_client) == []


def test_input_errors_stop_the_cli_run(healthy_client, reference, tmp_path):
    bad_reads = tmp_path / "bad.fasta"
    bad_reads.write_text(">good\nACGTACGTTT\n>bad\nACGT!ACGT\n")
    status, _, stderr = align(
        "-r", str(reference), str(bad_reads), "--backend", "dask",
        "--scheduler", healthy_client.scheduler.address, "--on-invalid", "error", "--quiet",
    )  # fmt: skip
    assert status == 1
    assert stderr.startswith("streamalign: error: record 2 (bad): invalid character '!'")


def test_a_result_that_arrives_twice_is_returned_once(healthy_client):
    # Dask itself reports each future once; the backend must not trust that (white box).
    backend = DaskBackend(engine_tasks.square, 1, client=healthy_client)
    backend.start()
    try:
        backend.submit(0, 7)
        _, future = backend._in_flight[backend.key(0)]
        backend._completions.add(future)  # the same completion twice
        completed = []
        while not backend._completions.is_empty():  # both reports, whatever their timing
            completed.extend(backend.wait())
        assert [(item.index, item.result) for item in completed] == [(0, 49)]
    finally:
        backend.shutdown(graceful=True)


class CountedSquare:
    """A task that counts how often it is pickled in this process."""

    pickled = 0

    def __call__(self, value: int) -> int:
        return value * value

    def __reduce__(self):
        type(self).pickled += 1
        return (CountedSquare, ())


def test_task_is_sent_once_not_with_every_payload(healthy_client):
    counts = []
    for payloads in (2, 30):
        CountedSquare.pickled = 0
        results = execute(CountedSquare(), range(payloads), backend="dask", client=healthy_client)
        assert [completed.result for completed in results] == [v * v for v in range(payloads)]
        counts.append(CountedSquare.pickled)
    # Once by the client; the in-process scheduler of a LocalCluster may pickle it once more
    # to send it to a worker. Never once per payload.
    assert counts[0] == counts[1] <= 2


# ---------------------------------------------------------------------------------------------
# Lost workers


def test_killed_worker_mid_run_loses_no_record(healthy_client, reads, reference, serial_outputs):
    aligner = Aligner(references_for_output(read_references(str(reference))), "semiglobal")
    options = RunOptions(output_format="tsv", backend="dask", batch_records=int(BATCH_SIZE))
    client = healthy_client
    killed: list[str] = []

    def kill_a_busy_worker(records: int) -> None:
        if killed:
            return
        busy = [address for address, keys in client.processing().items() if keys]
        if busy:  # else every batch in flight is done already: try after the next one
            os.kill(scheduler_processes(client)[busy[0]], signal.SIGKILL)
            killed.append(busy[0])

    output = io.BytesIO()
    statistics = run(
        aligner, [str(reads)], output, options, on_progress=kill_a_busy_worker, client=client
    )
    assert killed, "no worker was busy at any batch's end"
    assert output.getvalue() == serial_outputs["tsv"]
    assert statistics.records == READ_COUNT
    assert statistics.batches == READ_COUNT // int(BATCH_SIZE)


def test_losing_every_worker_at_once_loses_no_payload(healthy_client):
    client = healthy_client
    results = []
    for completed in execute(
        engine_tasks.slow_square_with_pid, range(60), backend="dask", client=client
    ):
        if completed.index == 2:  # the task's every copy goes too: it is computed again
            for pid in scheduler_processes(client).values():
                os.kill(pid, signal.SIGKILL)
        results.append(completed)
    assert [completed.index for completed in results] == list(range(60))
    assert [completed.result[0] for completed in results] == [v * v for v in range(60)]


def test_a_payload_that_kills_every_worker_it_meets_is_an_error(healthy_client):
    # Dask gives up on a task after distributed.scheduler.allowed-failures (3) + 1 deaths. Every
    # task running on a dying worker is charged, so a bystander batch (8 or 9) that kept meeting
    # payload 7's crashes can be the one that reaches the limit first.
    with pytest.raises(WorkerCrashError, match=r"payload [789] was running on 4 Dask workers"):
        list(execute(engine_tasks.exit_on_seven, range(10), backend="dask", client=healthy_client))
    assert wait_until_forgotten(healthy_client) == []


# ---------------------------------------------------------------------------------------------
# A local cluster of our own; the command line's errors


def children(psutil, pid: int | None = None) -> set[int]:
    """Child processes, less multiprocessing's resource tracker (it lives until its parent)."""
    found = set()
    for process in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "resource_tracker" not in " ".join(process.cmdline()):
                found.add(process.pid)
    return found


def test_dask_workers_starts_and_closes_a_local_cluster(reads, reference, serial_outputs, tmp_path):
    psutil = pytest.importorskip("psutil")
    pytest.importorskip("distributed")
    before = children(psutil)
    environment = dict(os.environ)
    statistics = tmp_path / "statistics.json"
    status, output, stderr = align(
        "-r", str(reference), str(reads), "--format", "sam", "--backend", "dask",
        "--dask-workers", "1", "--batch-size", "50", "--quiet", "--stats-json", str(statistics),
    )  # fmt: skip
    assert status == 0, stderr
    assert without_command_line(output) == serial_outputs["sam"]
    document = json.loads(statistics.read_text())
    assert (document["backend"], document["workers"]) == ("dask", 1)
    deadline = time.monotonic() + 10
    while children(psutil) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children(psutil) - before == set()
    assert os.environ == environment  # what the nannies set for their workers is undone


def test_ctrl_c_closes_the_local_cluster_and_exits_130(reads, reference, tmp_path):
    psutil = pytest.importorskip("psutil")
    pytest.importorskip("distributed")
    many_reads = tmp_path / "many.fastq"
    many_reads.write_bytes(reads.read_bytes() * 300)  # 60,000 reads: far more than needed
    output = tmp_path / "out.tsv"
    command = [
        sys.executable, "-c", "import sys; from streamalign.cli import main; sys.exit(main())",
        "align", "-r", str(reference), str(many_reads), "-o", str(output), "--backend", "dask",
        "--dask-workers", "2", "--batch-size", "20",
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 45
        while (not output.exists() or output.stat().st_size < 10_000) and process.poll() is None:
            assert time.monotonic() < deadline, "no output from the dask run"
            time.sleep(0.05)
        workers = children(psutil, process.pid)
        os.killpg(process.pid, signal.SIGINT)  # a Ctrl-C reaches the whole process group
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, stderr
    assert "KeyboardInterrupt" not in stderr  # the workers ignored it; the client stopped them
    assert "interrupted" in stderr
    assert len(workers) == 2
    deadline = time.monotonic() + 10
    while [pid for pid in workers if _is_alive(psutil, pid)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in workers if _is_alive(psutil, pid)] == []
    assert output.read_bytes().endswith(b"\n")  # whole records only


def _is_alive(psutil, pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_missing_dask_is_a_one_line_error(monkeypatch, reads, reference):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(StreamAlignError, match=r"pip install 'streamalign\[dask\]'"):
        execute(abs, [1], backend="dask")  # at once, not on the first result
    status, _, stderr = align(
        "-r", str(reference), str(reads), "--backend", "dask", "--dask-workers", "1", "--quiet"
    )
    assert status == 1
    assert len(stderr.splitlines()) == 1
    assert stderr.startswith("streamalign: error: the dask backend needs")
    assert "pip install 'streamalign[dask]'" in stderr


@pytest.mark.parametrize(
    "arguments",
    [
        ["--backend", "threads", "--scheduler", "tcp://127.0.0.1:8786"],
        ["--backend", "threads", "--dask-workers", "2"],
        ["--backend", "dask", "--scheduler", "tcp://127.0.0.1:8786", "--dask-workers", "2"],
    ],
    ids=["scheduler-without-dask", "dask-workers-without-dask", "both"],
)
def test_contradictory_dask_options_are_usage_errors(arguments, reads, reference):
    status, _, stderr = align("-r", str(reference), str(reads), *arguments)
    assert status == 2
    assert "--scheduler" in stderr


def test_not_an_address_is_a_one_line_error_at_once(reads, reference):
    pytest.importorskip("distributed")
    status, _, stderr = align(
        "-r", str(reference), str(reads), "--backend", "dask", "--scheduler", "bogus://x:1"
    )
    assert status == 1
    assert stderr == (
        "streamalign: error: not a Dask scheduler address: 'bogus://x:1' (unknown address "
        "scheme 'bogus' (known schemes: ['inproc', 'tcp', 'tls', 'ucx', 'ws', 'wss']))\n"
    )


def test_unreachable_scheduler_is_a_one_line_error(reads, reference):
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        status, _, stderr = align(
            "-r", str(reference), str(reads), "--backend", "dask",
            "--scheduler", "tcp://127.0.0.1:9", "--quiet",
        )  # fmt: skip
    assert status == 1
    assert stderr.startswith("streamalign: error: cannot reach the Dask scheduler at tcp://")
    assert len(stderr.splitlines()) == 1
