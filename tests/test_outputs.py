"""KernelOutputs and the traceback scratch (streamalign.kernels.outputs): allocation, packing
of operations against a plain numpy reference, checks, and scratch reuse per thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from streamalign import Scoring, _config
from streamalign.alphabet import encode_string
from streamalign.kernels import gotoh, outputs, slow
from streamalign.kernels.inputs import EndFlags, KernelInput, KernelScoring
from streamalign.kernels.operations import EXTENDED_LETTERS
from streamalign.kernels.outputs import KernelOutputs, traceback_scratch
from streamalign.kernels.planning import plan_groups


def filled_outputs(rng: np.random.Generator, lengths: np.ndarray, reference_length: int):
    """Outputs as a kernel leaves them: each query's operations at the end of its capacity,
    the rest of the buffer garbage."""
    result = KernelOutputs.allocate(lengths, reference_length, traceback=True)
    result.operations[:] = rng.integers(100, 200, size=result.operations.size)
    capacities = np.diff(result.capacity_offsets)
    for query, capacity in enumerate(capacities.tolist()):
        written = int(rng.integers(0, capacity + 1))
        end = int(result.capacity_offsets[query + 1])
        result.operations[end - written : end] = rng.integers(0, 4, size=written)
        result.operation_lengths[query] = written
    return result


def packed_reference(result: KernelOutputs) -> tuple[np.ndarray, np.ndarray]:
    """packed_operations done the obvious way: slice each query's tail and concatenate."""
    pieces = []
    for query in range(len(result.operation_lengths)):
        end = int(result.capacity_offsets[query + 1])
        pieces.append(result.operations[end - int(result.operation_lengths[query]) : end])
    offsets = np.concatenate([[0], np.cumsum([len(piece) for piece in pieces])])
    packed = np.concatenate(pieces) if pieces else np.zeros(0, np.uint8)
    return packed.astype(np.uint8), offsets.astype(np.int64)


@pytest.mark.parametrize("reference_length", [0, 1, 37])
@pytest.mark.parametrize("traceback", [True, False])
def test_allocation_capacities(reference_length, traceback):
    lengths = np.array([0, 5, 2, 17, 0, 1], dtype=np.int64)
    result = KernelOutputs.allocate(lengths, reference_length, traceback)
    count = len(lengths)
    assert len(result) == count
    assert result.scores.dtype == np.int64 and result.counts.shape == (count, 4)
    for array in (result.query_starts, result.query_ends, result.reference_starts):
        assert array.shape == (count,) and array.dtype == np.int64
    assert result.capacity_offsets[0] == 0 and len(result.capacity_offsets) == count + 1
    expected = lengths + reference_length if traceback else np.zeros(count, np.int64)
    assert np.diff(result.capacity_offsets).tolist() == expected.tolist()
    assert result.operations.size == int(expected.sum()) and result.operations.dtype == np.uint8
    assert result.operation_lengths.tolist() == [0] * count
    # Starts and counts start at zero (a score-only kernel call leaves them so).
    assert not result.query_starts.any() and not result.counts.any()


def test_allocation_score_type():
    assert KernelOutputs.allocate(np.array([3]), 4, True, np.float64).scores.dtype == np.float64


@pytest.mark.parametrize("seed", range(5))
def test_packed_operations_match_a_numpy_reference(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 30, size=int(rng.integers(1, 40)))
    result = filled_outputs(rng, lengths, int(rng.integers(0, 20)))
    packed, offsets = result.packed_operations()
    expected_packed, expected_offsets = packed_reference(result)
    assert offsets.dtype == np.int64 and packed.dtype == np.uint8
    assert offsets.tolist() == expected_offsets.tolist()
    assert packed.tolist() == expected_packed.tolist()
    for query in range(len(lengths)):
        view = result.record_operations(query)
        assert view.tolist() == packed[offsets[query] : offsets[query + 1]].tolist()
        assert np.shares_memory(view, result.operations) or view.size == 0


def test_packed_operations_of_empty_and_score_only_outputs():
    empty = KernelOutputs.allocate(np.zeros(0, np.int64), 10, traceback=True)
    packed, offsets = empty.packed_operations()
    assert packed.size == 0 and offsets.tolist() == [0]
    scores_only = KernelOutputs.allocate(np.array([4, 9]), 10, traceback=False)
    packed, offsets = scores_only.packed_operations()
    assert packed.size == 0 and offsets.tolist() == [0, 0, 0]


def test_check_rejects_outputs_without_room():
    lengths = np.array([4, 6])
    roomy = KernelOutputs.allocate(lengths, 10, traceback=True)
    assert roomy.reference_capacity == 10
    roomy.check(2, 10, traceback=True)
    roomy.check(2, 3, traceback=True)  # a window of the reference needs less
    with pytest.raises(ValueError, match="no room"):
        roomy.check(2, 11, traceback=True)
    with pytest.raises(ValueError, match="hold 2 queries, not 3"):
        roomy.check(3, 10, traceback=False)
    scores_only = KernelOutputs.allocate(lengths, 10, traceback=False)
    assert scores_only.reference_capacity == -1
    scores_only.check(2, 10, traceback=False)
    with pytest.raises(ValueError, match="no room"):
        scores_only.check(2, 0, traceback=True)


def test_run_refuses_outputs_too_small_for_a_traceback():
    codes = encode_string("ACGTACGT")
    offsets = np.array([0, 8])
    inputs = KernelInput(
        codes,
        offsets,
        encode_string("ACGT"),
        plan_groups(np.diff(offsets), 4, lanes=16, memory_budget=1 << 20, traceback=True),
        KernelScoring.create(np.eye(16) * 3 - 2, np.eye(16), 5, 2, -1000, np.int16),
        EndFlags.NONE,
        traceback=True,
    )
    with pytest.raises(ValueError, match="no room"):
        gotoh.run(inputs, KernelOutputs.allocate(np.diff(offsets), 4, traceback=False))
    with pytest.raises(ValueError, match="query_offsets must be a 1-D int64"):
        gotoh.run(
            KernelInput(
                codes,
                offsets.astype(np.int32),
                inputs.reference_codes,
                inputs.plan,
                inputs.scoring,
                inputs.ends,
                inputs.traceback,
            ),
            KernelOutputs.allocate(np.diff(offsets), 4, traceback=True),
        )


def test_kernel_outputs_agree_with_the_slow_reference():
    """gotoh.run fills the outputs; each record's packed operations are the slow aligner's."""
    rng = np.random.default_rng(7)
    scoring = Scoring()
    reference_text = "".join(rng.choice(list("ACGT"), size=40))
    texts = ["".join(rng.choice(list("ACGT"), size=int(n))) for n in rng.integers(0, 30, 20)]
    codes = encode_string("".join(texts))
    offsets = np.concatenate([[0], np.cumsum([len(text) for text in texts])]).astype(np.int64)
    reference = encode_string(reference_text)
    lengths = np.diff(offsets)
    inputs = KernelInput(
        codes,
        offsets,
        reference,
        plan_groups(lengths, len(reference), lanes=8, memory_budget=1 << 20, traceback=True),
        KernelScoring.create(
            scoring.integer_matrix,
            scoring.match_table,
            scoring.integer_gap_open,
            scoring.integer_gap_extend,
            -10_000,
            np.int32,
        ),
        EndFlags.from_ends(reference_start_free=True, reference_end_free=True),
        traceback=True,
    )
    result = KernelOutputs.allocate(lengths, len(reference), traceback=True)
    gotoh.run(inputs, result)
    packed, packed_offsets = result.packed_operations()
    for query, text in enumerate(texts):
        expected = slow.align_pair(
            encode_string(text),
            reference,
            scoring.integer_matrix,
            scoring.match_table,
            scoring.integer_gap_open,
            scoring.integer_gap_extend,
            reference_start_free=True,
            reference_end_free=True,
        )
        operations = packed[packed_offsets[query] : packed_offsets[query + 1]]
        assert EXTENDED_LETTERS[operations].tobytes().decode() == expected.operations
        assert int(result.scores[query]) == expected.score
        assert (int(result.reference_starts[query]), int(result.reference_ends[query])) == (
            expected.reference_start,
            expected.reference_end,
        )


def test_traceback_scratch_is_reused_and_grows():
    first = traceback_scratch(1000)
    assert first.dtype == np.uint8 and first.size >= 1000
    assert traceback_scratch(10) is first and traceback_scratch(0) is first
    bigger = traceback_scratch(first.size + 1)
    assert bigger.size > first.size and traceback_scratch(first.size) is bigger


def test_traceback_scratch_over_the_keep_limit_is_not_kept(monkeypatch):
    monkeypatch.setattr(_config, "SCRATCH_KEEP_BYTES", 4096)
    kept = traceback_scratch(100)
    large = traceback_scratch(5000)
    assert large.size >= 5000 and large is not kept
    assert traceback_scratch(5000) is not large  # a fresh buffer each time
    assert traceback_scratch(100) is kept


def test_traceback_scratch_is_per_thread():
    mine = traceback_scratch(64)
    theirs: list[np.ndarray] = []
    thread = threading.Thread(target=lambda: theirs.append(outputs.traceback_scratch(64)))
    thread.start()
    thread.join()
    assert theirs[0] is not mine and not np.shares_memory(theirs[0], mine)
    assert traceback_scratch(64) is mine
