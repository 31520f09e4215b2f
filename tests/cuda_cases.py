"""The CUDA kernel against the CPU kernel and the slow reference, on the GPU or its simulator.

Not collected by the main test run (no ``test_`` prefix): ``test_cuda.py`` runs this module
in a child process, with ``NUMBA_ENABLE_CUDASIM=1`` (numba's CUDA simulator, which runs every
GPU thread as Python: hence the few short pairs) and, where a GPU is present, again without
it. A child process, because numba reads the variable once, when ``numba.cuda`` is first
imported, and the main test run must keep its real CUDA target (and its CPU kernels) as they
are.

Every case compares ``device="cuda"`` with ``device="cpu"`` operation for operation (score,
spans, operations, counts), and the alignments with ``streamalign.kernels.slow``, in every
mode and end-gap switch, with the scorings of ``test_alignment_reference``, the score types
the GPU takes, empty sequences, several segments and blocks, narrow launches, the windowed
traceback, the banded path, and the command line (ordered output, rejects).
"""

from __future__ import annotations

import dataclasses
import doctest
import importlib.util
import io
import itertools
import pickle
import random
from pathlib import Path

import numpy as np
import pytest

from streamalign import Aligner, Scoring, _config
from streamalign.aligner import MODES, _score_dtype
from streamalign.alphabet import encode_string
from streamalign.cli import main
from streamalign.kernels import gotoh
from streamalign.kernels.cuda import device, layout, runner
from streamalign.kernels.cuda import gotoh as cuda_gotoh
from streamalign.kernels.inputs import KernelInput
from streamalign.kernels.outputs import KernelOutputs
from test_alignment_reference import (
    SCORINGS,
    WIDE_SCORINGS,
    check_invariants,
    kernel_result,
    make_references_and_queries,
    random_sequence,
    related_query,
    slow_result,
)

if device.device_problem() is not None:
    pytest.skip(f"no CUDA device or simulator: {device.device_problem()}", allow_module_level=True)


def assert_same_on_both(reference: str, mode: str, queries: list[str], **options) -> None:
    """GPU and CPU agree on every field, with and without traceback; the traceback also
    agrees with the slow reference."""
    cpu = Aligner(reference, mode, **options)
    gpu = Aligner(reference, mode, device="cuda", **options)
    for traceback in (True, False):
        expected = cpu.align_many(queries, traceback=traceback)
        found = gpu.align_many(queries, traceback=traceback)
        for name in (
            "integer_scores",
            "query_starts",
            "query_ends",
            "reference_starts",
            "reference_ends",
            "counts",
            "operations",
            "operation_offsets",
        ):
            assert np.array_equal(getattr(found, name), getattr(expected, name)), (
                name,
                traceback,
                mode,
                reference,
            )
        if traceback:
            for record, query in enumerate(queries):
                assert kernel_result(found, record) == slow_result(cpu, query, reference)
            check_invariants(found, gpu)


@pytest.mark.parametrize("scoring_name", sorted(SCORINGS))
@pytest.mark.parametrize("mode", list(MODES))
def test_modes_and_scorings(mode, scoring_name):
    references, queries = make_references_and_queries(
        seed=7, reference_count=3, query_count=6, max_length=14
    )
    for reference in references:
        assert_same_on_both(reference, mode, queries, scoring=SCORINGS[scoring_name])


@pytest.mark.parametrize(
    "switches",
    list(itertools.product((False, True), repeat=4)),
    ids=lambda s: "".join("1" if flag else "0" for flag in s),
)
def test_each_end_gap_switch(switches):
    rng = random.Random(sum(flag << bit for bit, flag in enumerate(switches)))
    reference = random_sequence(rng, 11)
    queries = [related_query(rng, reference, 14) for _ in range(3)] + [random_sequence(rng, 9)]
    query_start_free, query_end_free, reference_start_free, reference_end_free = switches
    assert_same_on_both(
        reference,
        "global",
        queries,
        query_start_free=query_start_free,
        query_end_free=query_end_free,
        reference_start_free=reference_start_free,
        reference_end_free=reference_end_free,
    )


@pytest.mark.parametrize("mode", list(MODES))
def test_repeats_full_of_ties(mode):
    # Repeats score equally in many cells, across strips (references of 3 strips): the
    # first-maximum and direction tie rules decide.
    reference = "ACACACGTACACACGTACAC"
    queries = ["ACAC", "CACACA", "ACGTAC", "GTGTGT", "ACACACACAC"]
    for scoring in (SCORINGS["defaults"], SCORINGS["free-gaps"]):
        assert_same_on_both(reference, mode, queries, scoring=scoring)


@pytest.mark.parametrize("mode", list(MODES))
def test_empty_sequences(mode):
    for reference in ("", "G", "ACGTGCA"):
        assert_same_on_both(reference, mode, ["", "A", "ACGTTGCA", "", "NNN"])


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.int32, np.int64], ids=str)
def test_score_types(dtype):
    # int16, float32 and int32 scorings run in the GPU's int32; int64 ones on the CPU kernel.
    scoring = WIDE_SCORINGS[dtype]
    rng = random.Random(3)
    reference = random_sequence(rng, 12)
    queries = [related_query(rng, reference, 12) for _ in range(4)]
    assert _score_dtype(scoring, 12, len(reference))[0] is dtype
    for mode in ("global", "local"):
        assert_same_on_both(reference, mode, queries, scoring=scoring)


def test_ambiguity_policies_and_matrices():
    rng = random.Random(5)
    reference = "ACGTNRYACGTTGCA"
    queries = [related_query(rng, reference, 15) + "NW" for _ in range(3)]
    for scoring in (
        Scoring(ambiguous="iupac"),
        Scoring(ambiguous="mismatch"),
        Scoring(matrix="NUC.4.4"),
    ):
        assert_same_on_both(reference, "semiglobal", queries, scoring=scoring)


def test_several_segments_and_blocks():
    # 150 queries: five segments of up to 32 lanes, two blocks of four segments.
    rng = random.Random(9)
    reference = random_sequence(rng, 6)
    queries = [random_sequence(rng, rng.randint(0, 5)) for _ in range(150)]
    assert_same_on_both(reference, "overlap", queries)


def _kernel_input(
    reference: str, queries: list[str], mode: str, traceback: bool
) -> tuple[KernelInput, np.ndarray]:
    """The kernel input the aligner would build for ``queries`` (one plan, no windows)."""
    aligner = Aligner(reference, mode)
    codes = np.concatenate([encode_string(query) for query in queries])
    offsets = np.zeros(len(queries) + 1, np.int64)
    np.cumsum([len(query) for query in queries], out=offsets[1:])
    lengths = np.diff(offsets)
    dtype, minus_infinity = _score_dtype(aligner.scoring, int(lengths.max()), len(reference))
    plan = aligner._plan(lengths, len(reference), traceback=traceback, score_bytes=2)
    inputs = KernelInput(
        codes,
        offsets,
        encode_string(reference),
        plan,
        aligner._kernel_scoring(minus_infinity, dtype),
        aligner.flags,
        traceback,
    )
    return inputs, lengths


@pytest.mark.parametrize("mode", ["global", "local"])
def test_narrow_launches_equal_one_launch(mode):
    # A launch budget of a few hundred bytes: segments narrower than a warp, many launches.
    rng = random.Random(11)
    reference = random_sequence(rng, 13)
    queries = [related_query(rng, reference, 16) for _ in range(9)]
    inputs, lengths = _kernel_input(reference, queries, mode, traceback=True)
    expected = KernelOutputs.allocate(lengths, len(reference), traceback=True)
    gotoh.run(inputs, expected)
    segments = layout.plan_segments(
        lengths, [(inputs.plan.order, 0, len(reference))], traceback=True, launch_bytes=400
    )
    assert segments.widths.max() < layout.WARP
    assert len(layout.plan_launches(segments, traceback=True, score_bytes=4, launch_bytes=400)) > 2
    found = KernelOutputs.allocate(lengths, len(reference), traceback=True)
    runner.run(inputs, found, launch_bytes=400)
    for field in dataclasses.fields(KernelOutputs):
        if field.name != "operations":  # past each query's operations: unwritten bytes
            assert np.array_equal(getattr(found, field.name), getattr(expected, field.name))
    for packed, reference_packed in zip(
        found.packed_operations(), expected.packed_operations(), strict=True
    ):
        assert np.array_equal(packed, reference_packed)


def test_int64_scores_are_refused_by_the_cuda_kernel():
    inputs, lengths = _kernel_input("ACGT", ["ACG"], "global", traceback=True)
    wide = dataclasses.replace(
        inputs,
        scoring=dataclasses.replace(
            inputs.scoring,
            substitution=inputs.scoring.substitution.astype(np.int64),
            parameters=inputs.scoring.parameters.astype(np.int64),
        ),
    )
    outputs = KernelOutputs.allocate(lengths, 4, traceback=True)
    with pytest.raises(ValueError, match="int32"):
        runner.run(wide, outputs)


def test_windowed_traceback_runs_in_one_call(monkeypatch):
    # Reads much shorter than the reference: a score pass, then windows, on the GPU.
    calls = []
    original = runner.run_windows

    def counting(inputs, outputs, groups, **options):
        calls.append(len(groups))
        return original(inputs, outputs, groups, **options)

    monkeypatch.setattr(runner, "run_windows", counting)
    rng = random.Random(13)
    reference = random_sequence(rng, 70)
    # Amplicon-like: the reads land close together, so their windows are a fraction of it.
    queries = [reference[start : start + 12] for start in (30, 33)] + [
        related_query(rng, reference[30:44], 12) for _ in range(2)
    ]
    for mode in ("semiglobal", "local"):
        assert_same_on_both(reference, mode, queries)
    assert calls and all(count >= 1 for count in calls)


def test_long_pairs_take_the_cpu_bands(monkeypatch):
    monkeypatch.setattr(_config, "BAND_MIN_CELLS", 100)
    rng = random.Random(17)
    reference = random_sequence(rng, 24)
    queries = [related_query(rng, reference, 26) for _ in range(3)] + ["ACG"]
    for mode in ("global", "semiglobal"):
        assert_same_on_both(reference, mode, queries)


def test_aligner_pickles_with_its_device():
    aligner = pickle.loads(pickle.dumps(Aligner("ACGTACGT", device="cuda")))
    assert aligner.device == "cuda"
    assert aligner.align("ACGAACGT").cigar == "3=1X4="


def test_command_line_output_is_identical(tmp_path):
    rng = random.Random(19)
    reference = random_sequence(rng, 30)
    (tmp_path / "ref.fa").write_text(f">gene\n{reference}\n")
    records = []
    for number in range(24):
        sequence = related_query(rng, reference, 20) or "A"
        if number == 9:
            sequence = sequence[:3] + "!" + sequence[3:]  # rejected, on both devices
        records.append(f">read{number}\n{sequence}\n")
    (tmp_path / "reads.fa").write_text("".join(records))
    outputs = {}
    for device_name in ("cpu", "cuda"):
        output = tmp_path / f"{device_name}.sam"
        rejects = tmp_path / f"{device_name}.rejects.fa"
        stderr = io.StringIO()
        status = main(
            [
                "align",
                "-r",
                str(tmp_path / "ref.fa"),
                str(tmp_path / "reads.fa"),
                "-o",
                str(output),
                "--rejects",
                str(rejects),
                "--device",
                device_name,
                "-j",
                "2",
                "--batch-size",
                "5",
                "--quiet",
            ],
            stdout=io.BytesIO(),
            stderr=stderr,
        )
        assert status == 3, stderr.getvalue()
        # Everything but the @PG line, which quotes the command (with its file names).
        lines = [line for line in output.read_bytes().splitlines() if not line.startswith(b"@PG")]
        outputs[device_name] = (lines, rejects.read_bytes())
    assert outputs["cuda"] == outputs["cpu"]
    assert len(outputs["cpu"][0]) == 2 + 23  # @HD, @SQ and every record but the rejected one
    assert outputs["cpu"][1].startswith(b">read9\n")


@pytest.mark.parametrize("module", [runner, cuda_gotoh, layout, device], ids=lambda m: m.__name__)
def test_docstring_examples_on_the_device(module):
    # The runner's example takes its GPU branch here.
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_benchmark_script_runs(capsys):
    # benchmarks/gpu.py on a few short pairs: every contender agrees, both commands write the
    # same records (the figures mean nothing on the simulator).
    spec = importlib.util.spec_from_file_location(
        "streamalign_benchmark_gpu",
        Path(__file__).resolve().parent.parent / "benchmarks" / "gpu.py",
    )
    assert spec is not None and spec.loader is not None
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    data = Path(__file__).resolve().parent / "data"  # the bundled fixtures (no ../shared)
    assert (
        benchmark.main(
            [
                "--quick",
                "--reads",
                str(data / "sam1F.200.fastq.gz"),
                "--reference",
                str(data / "ecoli_16S.fa"),
                "--genes",
                str(data / "ten_16s.5.fa"),
            ]
        )
        == 0
    )
    report = capsys.readouterr().out
    assert "| pacbio | full | gpu, 2 host threads |" in report
    assert "SAM records identical on both devices: True" in report
