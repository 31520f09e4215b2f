"""The GPU backend: its host-side layout, its errors, its options, and its kernel.

The kernel itself is compared with the CPU kernel and the slow reference in ``cuda_cases.py``,
run here in a child process on numba's CUDA simulator (always) and on a real GPU (when one is
present); the rest needs no GPU and runs in this process.
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streamalign import Aligner, _config, pipeline
from streamalign.cli import main
from streamalign.errors import DeviceError, DeviceUnavailableError
from streamalign.kernels.cuda import device, layout
from streamalign.records import SequenceBatch

TESTS = Path(__file__).resolve().parent
CASES = TESTS / "cuda_cases.py"


# --------------------------------------------------------------------------------------------
# Layout: every thread's arrays are its own, and large enough.
# --------------------------------------------------------------------------------------------


def _random_groups(seed: int) -> tuple[np.ndarray, list[tuple[np.ndarray, int, int]], int]:
    rng = random.Random(seed)
    count = rng.randint(1, 120)
    lengths = np.array([rng.randint(0, 40) for _ in range(count)], dtype=np.int64)
    reference_length = rng.randint(0, 50)
    members = np.array(rng.sample(range(count), count), dtype=np.int64)
    cuts = sorted(rng.sample(range(1, count), min(3, count - 1))) if count > 1 else []
    groups = []
    for piece in np.split(members, cuts):
        left = rng.randint(0, reference_length)
        groups.append((piece, left, rng.randint(left, reference_length)))
    return lengths, groups, reference_length


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("launch_bytes", [1 << 30, 3000])
def test_layout_gives_each_thread_disjoint_room(seed, launch_bytes):
    lengths, groups, _ = _random_groups(seed)
    segments = layout.plan_segments(lengths, groups, traceback=True, launch_bytes=launch_bytes)
    assert sorted(segments.order.tolist()) == sorted(
        np.concatenate([members for members, _, _ in groups]).tolist()
    )
    assert segments.widths.min() >= 1 and segments.widths.max() <= layout.WARP
    window_of = {int(q): (left, right) for members, left, right in groups for q in members}
    for number in range(len(segments.rows)):
        queries = segments.order[segments.starts[number] : segments.starts[number + 1]]
        assert np.all(np.diff(lengths[queries]) >= 0)  # sorted by length
        assert segments.rows[number] == lengths[queries].max()
        left, right = window_of[int(queries[0])]
        assert all(window_of[int(q)] == (left, right) for q in queries)  # one window
        assert (segments.lefts[number], segments.columns[number]) == (left, right - left)
    words = segments.direction_words() * layout.WORD_BYTES
    assert np.all((words <= launch_bytes) | (segments.widths == 1))
    launches = layout.plan_launches(
        segments, traceback=True, score_bytes=4, launch_bytes=launch_bytes
    )
    assert launches[0][0] == 0 and launches[-1][1] == len(segments.rows)
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    seen_queries = []
    for first, end in launches:
        cost = layout.launch_cost(segments, True, 4)[first:end]
        assert end - first == 1 or cost.sum() <= launch_bytes
        table = layout.thread_table(segments, first, end, lengths, offsets, True)
        rows = table.reshape(-1, layout.TABLE_FIELDS)
        total_words = int(segments.direction_words()[first:end].sum())
        total_buffer = int(segments.buffer_values()[first:end].sum())
        direction_owner = np.full(total_words, -1)
        buffer_owner = np.full(total_buffer, -1)
        operation_owner = np.full(layout.operations_size(table), -1)
        for thread, row in enumerate(rows):
            query = row[layout.QUERY]
            if query < 0:
                continue
            seen_queries.append(int(query))
            assert row[layout.LENGTH] == lengths[query]
            assert row[layout.CODES] == offsets[query]
            width, lane, length = row[layout.WIDTH], row[layout.LANE], row[layout.LENGTH]
            strips = -(-row[layout.COLUMNS] // layout.STRIP_COLUMNS)
            cells = np.array(
                [
                    row[layout.DIRECTIONS] + (r * strips + s) * width + lane
                    for r in range(length)
                    for s in range(strips)
                ],
                dtype=np.int64,
            )
            assert np.all(direction_owner[cells] == -1)
            direction_owner[cells] = thread
            buffer = row[layout.BUFFER] + np.arange(length + 1) * width + lane
            assert np.all(buffer_owner[buffer] == -1)
            buffer_owner[buffer] = thread
            capacity = length + row[layout.COLUMNS]
            operations = np.arange(
                row[layout.OPERATIONS_END] - capacity, row[layout.OPERATIONS_END]
            )
            assert np.all(operation_owner[operations] == -1)
            operation_owner[operations] = thread
    assert sorted(seen_queries) == sorted(segments.order.tolist())


def test_score_only_launches_need_no_directions():
    lengths = np.array([250] * 64)
    segments = layout.plan_segments(
        lengths, [(np.arange(64), 0, 1465)], traceback=False, launch_bytes=1 << 20
    )
    assert segments.widths.tolist() == [32, 32]
    assert layout.launch_cost(segments, False, 4).tolist() == [2 * 4 * 251 * 32] * 2


# --------------------------------------------------------------------------------------------
# What is missing, in one line; options; errors that stop a run.
# --------------------------------------------------------------------------------------------


def test_missing_numba_cuda_is_named(monkeypatch):
    monkeypatch.setattr(device, "_simulated", lambda: False)
    monkeypatch.setattr(device.importlib.util, "find_spec", lambda name: None)
    assert device.device_problem() == (
        "numba-cuda is not installed (pip install 'streamalign[gpu]')"
    )


def test_missing_gpu_is_named(monkeypatch):
    from numba import cuda

    monkeypatch.setattr(device, "_simulated", lambda: False)
    monkeypatch.setattr(device.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(cuda, "is_available", lambda: False)
    problem = device.device_problem()
    assert problem is not None and problem.startswith("no CUDA GPU found (")
    assert "\n" not in problem
    with pytest.raises(DeviceUnavailableError, match=r"^device='cuda': no CUDA GPU found"):
        Aligner("ACGT", device="cuda")


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(device, "device_problem", lambda: "no CUDA GPU found (test)")


@pytest.mark.parametrize("command", ["align", "demo"])
def test_device_cuda_without_a_gpu_is_a_usage_error(tmp_path, no_gpu, command):
    (tmp_path / "ref.fa").write_text(">r\nACGTACGT\n")
    arguments = ["--device", "cuda", "--quiet"]
    if command == "align":
        arguments = ["-r", str(tmp_path / "ref.fa"), "-o", str(tmp_path / "out.sam"), *arguments]
    stderr = io.StringIO()
    status = main([command, *arguments], stdin=io.BytesIO(b""), stdout=io.BytesIO(), stderr=stderr)
    assert status == 2
    assert stderr.getvalue() == "streamalign: error: --device cuda: no CUDA GPU found (test)\n"
    assert not (tmp_path / "out.sam").exists()


def test_device_cuda_and_forked_processes_is_a_usage_error(tmp_path, monkeypatch):
    monkeypatch.setattr(device, "device_problem", lambda: None)
    (tmp_path / "ref.fa").write_text(">r\nACGTACGT\n")
    stderr = io.StringIO()
    arguments = ["align", "-r", str(tmp_path / "ref.fa"), "--device", "cuda"]
    arguments += ["--backend", "processes", "--start-method", "fork"]
    status = main(arguments, stdin=io.BytesIO(b""), stdout=io.BytesIO(), stderr=stderr)
    assert status == 2
    assert "--start-method spawn or forkserver" in stderr.getvalue()


def test_device_option_values():
    with pytest.raises(ValueError, match="device must be one of cpu, cuda"):
        Aligner("ACGT", device="tpu")
    with pytest.raises(ValueError, match="recurrence='skbio'"):
        Aligner("ACGT", device="cuda", recurrence="skbio")
    stderr = io.StringIO()
    assert main(["demo", "--device", "tpu"], stderr=stderr) == 2
    assert "invalid choice: 'tpu'" in stderr.getvalue()
    assert Aligner("ACGT").device == "cpu"


def test_gpu_batches_are_larger():
    aligner = Aligner("ACGT" * 366)
    cpu_records, cpu_bases = pipeline.batch_limits(aligner, "forward", None)
    aligner.device = "cuda"  # the limits only read the attribute
    gpu_records, gpu_bases = pipeline.batch_limits(aligner, "forward", None)
    assert (cpu_records, gpu_records) == (
        _config.MAX_RECORDS_PER_BATCH,
        _config.GPU_MAX_RECORDS_PER_BATCH,
    )
    assert gpu_bases == _config.GPU_TARGET_CELLS_PER_BATCH // 1464 > cpu_bases
    assert pipeline.batch_limits(aligner, "forward", 7) == (7, 2**62)


def test_a_checkpoint_resumes_on_either_device():
    # The device decides how the work runs, not the output's bytes.
    aligner = Aligner("ACGTACGT")
    options = pipeline.RunOptions()
    on_cpu = pipeline.fingerprint(aligner, options, ["reads.fq"])
    aligner.device = "cuda"
    assert pipeline.fingerprint(aligner, options, ["reads.fq"]) == on_cpu


def test_a_gpu_failure_stops_the_run_instead_of_rejecting_records(monkeypatch):
    aligner = Aligner("ACGTACGT")

    def failing(*arguments, **options):
        raise DeviceError("the GPU failed: CudaAPIError: [700] launch failed")

    monkeypatch.setattr(aligner, "align_many", failing)
    task = pipeline.AlignBatchTask(aligner, pipeline.RunOptions(backend="serial"))
    batch = SequenceBatch.from_strings(["ACGT", "ACGA", "TTTT"])
    with pytest.raises(DeviceError, match="launch failed"):
        task(batch)


def test_only_cuda_errors_become_device_errors():
    class CudaAPIError(Exception):
        pass

    CudaAPIError.__module__ = "numba.cuda.cudadrv.driver"
    assert device._from_cuda(CudaAPIError("out of memory"))
    assert not device._from_cuda(IndexError("a bug of ours"))


# --------------------------------------------------------------------------------------------
# The kernel: cuda_cases.py on the simulator, and on a GPU when there is one.
# --------------------------------------------------------------------------------------------


def _run_cases(simulator: bool) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    environment.pop("NUMBA_ENABLE_CUDASIM", None)
    if simulator:
        environment["NUMBA_ENABLE_CUDASIM"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", str(CASES), "-q", "-p", "no:cacheprovider"],
        cwd=TESTS.parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _check(completed: subprocess.CompletedProcess[str]) -> None:
    output = completed.stdout + completed.stderr
    if completed.returncode == 0 and " passed" not in output:
        pytest.skip(f"no CUDA target to run on: {output.strip().splitlines()[-1]}")
    assert completed.returncode == 0, output[-6000:]


def test_kernel_on_the_cuda_simulator():
    _check(_run_cases(simulator=True))


def test_kernel_on_a_gpu():
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from streamalign.kernels.cuda.device import device_problem; print(device_problem())",
        ],
        env={key: value for key, value in os.environ.items() if key != "NUMBA_ENABLE_CUDASIM"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if probe.stdout.strip() != "None":
        pytest.skip(f"no GPU: {probe.stdout.strip() or probe.stderr.strip()[-200:]}")
    _check(_run_cases(simulator=False))
