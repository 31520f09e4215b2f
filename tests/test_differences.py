"""The 8-bit difference kernel against the 16-bit Gotoh kernel and the slow reference.

``kernels/differences.py`` stores every DP value as a difference between neighbouring cells;
its alignments must be operation for operation those of ``kernels/gotoh.py`` (ties included)
and of ``kernels/slow.py`` (plain Python, cell by cell): in every non-local end combination,
for groups of 1 to 130 queries (padding lanes), empty queries, ambiguity codes in queries and
references, non-uniform matrices (the profile path) and scorings at the edge of what
:func:`~streamalign.kernels.differences.fits` accepts.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamalign as sa
from streamalign import _config
from streamalign.alphabet import encode_string
from streamalign.kernels import differences, gotoh
from streamalign.kernels.inputs import EndFlags, KernelInput, KernelScoring
from streamalign.kernels.operations import LETTERS
from streamalign.kernels.outputs import KernelOutputs
from streamalign.kernels.planning import plan_groups
from streamalign.kernels.slow import align_pair

DATA = Path(__file__).parent / "data"
NOT_LOCAL = [EndFlags(value) for value in range(16)]
FIELDS = (
    "scores",
    "query_starts",
    "query_ends",
    "reference_starts",
    "reference_ends",
    "counts",
    "operation_lengths",
)


def _substitution(match: int, mismatch: int, uniform: bool, seed: int) -> np.ndarray:
    substitution = np.full((16, 16), mismatch, dtype=np.int64)
    np.fill_diagonal(substitution, match)
    rng = np.random.default_rng(seed)
    if not uniform:  # transitions and transversions apart: the profile path
        substitution[:4, :4] += rng.integers(-2, 3, (4, 4))
    # Ambiguity codes score on their own, between the extremes.
    low, high = int(substitution.min()), int(substitution.max())
    substitution[4:, :] = rng.integers(low, high + 1, (12, 16))
    substitution[:, 4:] = rng.integers(low, high + 1, (16, 12))
    return substitution


def _run(  # type: ignore[no-untyped-def]
    module, queries, reference, substitution, gap_open, gap_extend, flags, lanes, traceback=True
):
    dtype = np.int8 if module is differences else np.int16
    offsets = np.concatenate([[0], np.cumsum([len(query) for query in queries])]).astype(np.int64)
    joined = "".join(queries)
    codes = encode_string(joined) if joined else np.zeros(0, np.uint8)
    reference_codes = encode_string(reference)
    lengths = np.diff(offsets)
    plan = plan_groups(
        lengths,
        len(reference_codes),
        lanes=lanes,
        memory_budget=2**26,
        traceback=traceback,
        score_bytes=np.dtype(dtype).itemsize,
    )
    minus_infinity = differences.MINUS_INFINITY if module is differences else -(2**14)
    scoring = KernelScoring.create(
        substitution, np.eye(16), gap_open, gap_extend, minus_infinity, dtype
    )
    inputs = KernelInput(codes, offsets, reference_codes, plan, scoring, flags, traceback)
    outputs = KernelOutputs.allocate(lengths, len(reference_codes), traceback)
    module.run(inputs, outputs)
    return outputs


def _operations(outputs: KernelOutputs, number: int) -> str:
    end = int(outputs.capacity_offsets[number + 1])
    length = int(outputs.operation_lengths[number])
    return "".join(LETTERS[code] for code in outputs.operations[end - length : end])


def _assert_same(expected: KernelOutputs, found: KernelOutputs, count: int) -> None:
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(found, field), getattr(expected, field), field)
    for number in range(count):
        assert _operations(found, number) == _operations(expected, number)


def _mutated(rng: random.Random, sequence: str, rate: float, letters: str = "ACGT") -> str:
    pieces = []
    for base in sequence:
        roll = rng.random()
        if roll < rate / 3:
            continue
        if roll < 2 * rate / 3:
            pieces.append(rng.choice(letters))
        elif roll < rate:
            pieces.extend((base, rng.choice(letters) * rng.randint(1, 4)))
        else:
            pieces.append(base)
    return "".join(pieces)


@st.composite
def groups(draw):  # type: ignore[no-untyped-def]
    seed = draw(st.integers(0, 2**32 - 1))
    rng = random.Random(seed)
    ambiguous = draw(st.booleans())
    letters = "ACGTN" if ambiguous else "ACGT"
    reference = "".join(rng.choice(letters) for _ in range(draw(st.integers(1, 70))))
    count = draw(st.integers(1, 40))
    queries = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.1:
            queries.append("")
        elif kind < 0.3:
            queries.append("".join(rng.choice(letters) for _ in range(rng.randint(1, 90))))
        else:
            start = rng.randint(0, len(reference) - 1)
            end = rng.randint(start + 1, len(reference))
            queries.append(_mutated(rng, reference[start:end], rng.random() * 0.5, letters))
    return reference, queries


@settings(
    max_examples=500, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    group=groups(),
    flags=st.sampled_from(NOT_LOCAL),
    match=st.integers(0, 6),
    mismatch=st.integers(-8, 0),
    gap_extend=st.integers(0, 6),
    extra_open=st.integers(0, 10),
    uniform=st.booleans(),
    lanes=st.sampled_from([1, 3, 16, 64, 256]),
    traceback=st.booleans(),
)
def test_same_results_as_the_16_bit_kernel(
    group, flags, match, mismatch, gap_extend, extra_open, uniform, lanes, traceback
):
    """Alignments operation for operation; score-only: scores and end cells."""
    reference, queries = group
    gap_open = gap_extend + extra_open
    substitution = _substitution(match, mismatch, uniform, len(queries))
    assert differences.fits(substitution, gap_open, gap_extend, flags)
    arguments = (queries, reference, substitution, gap_open, gap_extend, flags, lanes, traceback)
    expected = _run(gotoh, *arguments)
    found = _run(differences, *arguments)
    if traceback:
        _assert_same(expected, found, len(queries))
        return
    for field in ("scores", "query_ends", "reference_ends", "query_starts", "reference_starts"):
        np.testing.assert_array_equal(getattr(found, field), getattr(expected, field), field)


@pytest.mark.parametrize("flags", [EndFlags.NONE, EndFlags(15), EndFlags(10), EndFlags(5)])
@pytest.mark.parametrize("count", [2, 17, 63, 64, 65, 116, 130])
def test_padding_lanes_change_nothing(flags, count):
    rng = random.Random(count)
    reference = "".join(rng.choice("ACGT") for _ in range(90))
    queries = [_mutated(rng, reference[rng.randint(0, 20) :], 0.2) for _ in range(count)]
    substitution = _substitution(2, -3, True, 0)
    arguments = (queries, reference, substitution, 5, 2, flags, 256)
    _assert_same(_run(gotoh, *arguments), _run(differences, *arguments), count)


@pytest.mark.parametrize("flags", NOT_LOCAL)
def test_scores_at_the_edge_of_int8_match_the_slow_reference(flags):
    """Gap costs and scores as large as :func:`fits` allows: the differences' extremes."""
    match, mismatch, gap_open, gap_extend = 10, -90, 25, 20
    substitution = _substitution(match, mismatch, True, 1)
    assert differences.fits(substitution, gap_open, gap_extend, flags)
    assert not differences.fits(substitution, gap_open + 8, gap_extend, flags)
    rng = random.Random(int(flags))
    reference = "".join(rng.choice("ACGT") for _ in range(60))
    queries = [
        reference,
        reference[:10] + reference[40:],  # a long deletion
        reference[:30] + "T" * 25 + reference[30:],  # a long insertion
        "".join(rng.choice("ACGT") for _ in range(45)),  # unrelated
        "A" * 60,
        "",
    ]
    arguments = (queries, reference, substitution, gap_open, gap_extend, flags, 16)
    found = _run(differences, *arguments)
    switches = {
        "query_start_free": bool(flags & EndFlags.QUERY_START_FREE),
        "query_end_free": bool(flags & EndFlags.QUERY_END_FREE),
        "reference_start_free": bool(flags & EndFlags.REFERENCE_START_FREE),
        "reference_end_free": bool(flags & EndFlags.REFERENCE_END_FREE),
    }
    for number, query in enumerate(queries):
        expected = align_pair(
            encode_string(query),
            encode_string(reference),
            substitution,
            np.eye(16),
            gap_open,
            gap_extend,
            **switches,
        )
        assert int(found.scores[number]) == expected.score
        assert (int(found.query_starts[number]), int(found.query_ends[number])) == (
            expected.query_start,
            expected.query_end,
        )
        assert (int(found.reference_starts[number]), int(found.reference_ends[number])) == (
            expected.reference_start,
            expected.reference_end,
        )
        assert _operations(found, number) == expected.operations


def test_fits_refuses_local_mode_fractions_and_large_scores():
    substitution = _substitution(1, -2, True, 0)
    assert differences.fits(substitution, 5, 2, EndFlags.REFERENCE_END_FREE)
    assert not differences.fits(substitution, 5, 2, EndFlags.LOCAL)
    assert not differences.fits(substitution.astype(float), 5, 2, EndFlags.NONE)
    assert differences.fits(substitution * 60, 5, 2, EndFlags.NONE)
    assert not differences.fits(substitution * 70, 5, 2, EndFlags.NONE)
    assert not differences.fits(substitution, 5, 6, EndFlags.NONE)  # extension > opening
    assert not differences.fits(substitution, 50, 2, EndFlags.NONE)


def test_run_refuses_inputs_it_cannot_compute_exactly():
    offsets = np.array([0, 4])
    reference = encode_string("ACGT")
    plan = plan_groups(np.diff(offsets), 4, lanes=16, memory_budget=2**20, traceback=True)
    substitution = _substitution(1, -2, True, 0)
    outputs = KernelOutputs.allocate(np.diff(offsets), 4, traceback=True)
    wide = KernelScoring.create(substitution, np.eye(16), 5, 2, -1000, np.int16)
    narrow = KernelScoring.create(substitution, np.eye(16), 5, 2, -128, np.int8)
    for scoring, flags, traceback, message in (
        (wide, EndFlags.NONE, True, "int8"),
        (narrow, EndFlags.LOCAL, True, "do not fit"),
    ):
        inputs = KernelInput(reference, offsets, reference, plan, scoring, flags, traceback)
        with pytest.raises(ValueError, match=message):
            differences.run(inputs, outputs)


def test_padded_lanes_stay_within_the_byte_per_cell():
    for members in range(1, 300):
        for rows, columns in ((250, 1465), (1500, 1500), (10_000, 10_000), (50_000, 3)):
            lanes = int(differences.padded_lanes(members, rows, columns, True))
            assert members <= lanes <= max(2 * members, 64)
            pairs = (columns + 1) // 2
            assert lanes * rows * pairs <= max(members * rows * columns, differences.PADDING_BYTES)
    assert differences.padded_lanes(116, 1500, 1500, True) == 128
    assert differences.padded_lanes(1, 50_000, 50_000, False) == 64


@pytest.mark.parametrize("mode", ["global", "semiglobal", "overlap"])
def test_the_aligner_gives_the_same_batches_with_and_without_it(mode, monkeypatch):
    """Real MiSeq reads and full-length genes, through the aligner (windows included)."""
    import dnaio

    with dnaio.open(DATA / "sam1F.200.fastq.gz") as records:
        reads = [record.sequence for record in records][:120]
    with dnaio.open(DATA / "ten_16s.5.fa") as records:
        genes = [record.sequence for record in records]
    reference = genes[0]
    queries = reads + genes[1:] + [""]
    calls = []
    original = differences.run

    def counting(inputs, outputs):  # type: ignore[no-untyped-def]
        calls.append(len(inputs.plan.order))
        original(inputs, outputs)

    monkeypatch.setattr(differences, "run", counting)
    aligner = sa.Aligner(reference, mode=mode)
    found = aligner.align_many(queries)
    assert sum(calls) == len(queries)
    monkeypatch.setattr(_config, "DIFFERENCE_KERNEL", False)
    expected = aligner.align_many(queries)
    for field in ("integer_scores", "query_starts", "query_ends", "reference_starts"):
        np.testing.assert_array_equal(getattr(found, field), getattr(expected, field))
    np.testing.assert_array_equal(found.counts, expected.counts)
    assert found.cigars() == expected.cigars()
    monkeypatch.setattr(_config, "DIFFERENCE_KERNEL", True)
    found = aligner.align_many(queries, traceback=False)
    assert sum(calls) == 2 * len(queries)
    monkeypatch.setattr(_config, "DIFFERENCE_KERNEL", False)
    expected = aligner.align_many(queries, traceback=False)
    for field in ("integer_scores", "query_ends", "reference_ends"):
        np.testing.assert_array_equal(getattr(found, field), getattr(expected, field))


def test_small_pairs_and_lone_queries_stay_on_the_16_bit_kernel(monkeypatch):
    calls = []
    monkeypatch.setattr(differences, "run", lambda inputs, outputs: calls.append(inputs))
    reference = "GAGTTTGATCCTGGCTCAGATTGAACGCTGGCGGCATGCTTAACACATGCAAGTCGAACGGCAG"
    batch = sa.Aligner(reference).align_many([reference[:60], reference[5:]])
    assert not calls
    assert batch.integer_scores.tolist() == [60 - 5 - 3 * 2, 59 - 5 - 4 * 2]
    monkeypatch.setattr(_config, "DIFFERENCE_MIN_CELLS", 1)
    sa.Aligner(reference).align_many([reference[:60]])  # a lone query: one 16-bit lane
    assert not calls
    sa.Aligner(reference).align_many([reference[:60], reference[5:]])
    assert len(calls) == 1
