"""The staggered one-pair score kernel against the inter-sequence kernel and the slow reference.

``kernels/staggered.py`` splits one query's rows over the SIMD lanes; its score and end cell
must be exactly those of ``kernels/gotoh.py`` (one query in one lane) and of
``kernels/slow.py`` (plain Python, cell by cell), in every mode and end-switch combination,
for every score type, however the rows split into blocks (including blocks of one row and a
last block of padding).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamalign as sa
from streamalign.alphabet import encode_string
from streamalign.kernels import gotoh, staggered
from streamalign.kernels.inputs import EndFlags, KernelInput, KernelScoring
from streamalign.kernels.outputs import KernelOutputs
from streamalign.kernels.planning import GroupPlan
from streamalign.kernels.slow import align_pair

ALL_FLAGS = [EndFlags(value) for value in range(16)] + [EndFlags.LOCAL]


def _scoring(match: int, mismatch: int, gap_open: int, gap_extend: int, dtype: type):
    substitution = np.full((16, 16), mismatch)
    np.fill_diagonal(substitution, match)
    # Ambiguity codes: scores of their own (not the default policy's 0s), so that a lane
    # reading another letter's profile plane would show.
    codes = np.arange(16)
    substitution[4:, :] = (codes[4:, None] * 3 + codes[None, :]) % 5 - 2
    substitution[:, 4:] = (codes[None, 4:] * 7 + codes[:, None]) % 5 - 3
    minus_infinity = -(2**14) if dtype is np.int16 else -(2**20)
    scoring = KernelScoring.create(
        substitution, np.eye(16), gap_open, gap_extend, minus_infinity, dtype
    )
    return scoring, substitution


def _inputs(query: str, reference: str, scoring: KernelScoring, flags: EndFlags) -> KernelInput:
    codes = encode_string(query)
    return KernelInput(
        codes,
        np.array([0, len(codes)]),
        encode_string(reference),
        GroupPlan.single(np.array([0]), 0),
        scoring,
        flags,
        traceback=False,
    )


def _both(query: str, reference: str, scoring: KernelScoring, flags: EndFlags, lanes: int):
    inputs = _inputs(query, reference, scoring, flags)
    expected = KernelOutputs.allocate(np.array([len(query)]), len(reference), False)
    gotoh.run(inputs, expected)
    dtype = np.int32 if scoring.substitution.dtype == np.int16 else scoring.substitution.dtype
    last_row = np.zeros(len(reference) + 1, np.int64)
    found = staggered.score_pair(
        inputs.query_codes,
        inputs.reference_codes,
        scoring.substitution.astype(dtype),
        scoring.parameters.astype(dtype),
        int(flags),
        lanes,
        last_row,
    )
    if flags & EndFlags.REFERENCE_END_FREE and not flags & EndFlags.LOCAL:
        # H of the last row, column by column: its first maximum is the end cell unless the
        # last column's scan (query end free) won.
        assert last_row.max() >= found[0] or flags & EndFlags.QUERY_END_FREE
        if found[1] == len(query):
            assert last_row[found[2]] == found[0]
            assert int(np.argmax(last_row)) == found[2]
    return (
        (int(expected.scores[0]), int(expected.query_ends[0]), int(expected.reference_ends[0])),
        tuple(int(value) for value in found),
    )


sequences = st.text(alphabet="ACGT", min_size=1, max_size=90)


@st.composite
def related_pairs(draw):
    """A reference and a mutated piece of it (or an unrelated sequence, or a repeat)."""
    # Some references hold ambiguity codes: more than four profile planes.
    reference = draw(st.one_of(sequences, st.text(alphabet="ACGTNRYK", min_size=1, max_size=90)))
    kind = draw(st.sampled_from(["mutated", "unrelated", "repeat"]))
    if kind == "unrelated":
        return draw(sequences), reference
    if kind == "repeat":
        unit = draw(st.text(alphabet="ACGT", min_size=1, max_size=4))
        return unit * draw(st.integers(1, 30)), unit * draw(st.integers(1, 30))
    start = draw(st.integers(0, len(reference) - 1))
    piece = list(reference[start : start + draw(st.integers(1, len(reference)))])
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(piece)))
        action = draw(st.sampled_from(["substitute", "insert", "delete"]))
        letter = draw(st.sampled_from("ACGTN"))
        if action == "insert" or not piece:
            piece.insert(position, letter)
        elif action == "delete" and len(piece) > 1:
            del piece[min(position, len(piece) - 1)]
        else:
            piece[min(position, len(piece) - 1)] = letter
    return "".join(piece), reference


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pair=related_pairs(),
    flags=st.sampled_from(ALL_FLAGS),
    lanes=st.integers(1, 40),
    dtype=st.sampled_from([np.int16, np.int32, np.int64, np.float32]),
    gaps=st.sampled_from([(5, 2), (0, 0), (3, 3), (1, 0), (10, 1)]),
    mismatch=st.sampled_from([-2, -1, -3, 0]),
)
def test_same_score_and_end_cell_as_the_inter_sequence_kernel(
    pair, flags, lanes, dtype, gaps, mismatch
):
    query, reference = pair
    scoring, _ = _scoring(1, mismatch, gaps[0], gaps[1], dtype)
    expected, found = _both(query, reference, scoring, flags, lanes)
    assert found == expected


@pytest.mark.parametrize("flags", ALL_FLAGS, ids=lambda flags: f"flags{int(flags)}")
def test_ties_everywhere_against_the_slow_reference(flags):
    """Repeats full of equal paths and a match score of 0: the end-cell tie rules decide."""
    rng = np.random.default_rng(int(flags) + 7)
    for _ in range(12):
        unit = "".join(rng.choice(list("AC"), size=int(rng.integers(1, 3))))
        query = unit * int(rng.integers(3, 25))
        reference = unit * int(rng.integers(3, 25))
        scoring, substitution = _scoring(2, -1, 2, 1, np.int32)
        expected, found = _both(query, reference, scoring, flags, int(rng.integers(1, 9)))
        local = bool(flags & EndFlags.LOCAL)
        slow = align_pair(
            encode_string(query),
            encode_string(reference),
            substitution,
            np.eye(16),
            2,
            1,
            query_start_free=bool(flags & EndFlags.QUERY_START_FREE),
            query_end_free=bool(flags & EndFlags.QUERY_END_FREE),
            reference_start_free=bool(flags & EndFlags.REFERENCE_START_FREE),
            reference_end_free=bool(flags & EndFlags.REFERENCE_END_FREE),
            local=local,
        )
        assert found == expected
        assert found == (slow.score, slow.query_end, slow.reference_end)


def test_run_fills_only_its_members_and_rejects_empty_queries():
    scoring, _ = _scoring(1, -2, 5, 2, np.int16)
    codes = encode_string("GATTACAGATTACA" + "CCGGTTAA")
    inputs = KernelInput(
        codes,
        np.array([0, 14, 22, 22]),
        encode_string("GATTACAGGATTACA"),
        GroupPlan.single(np.array([0, 1, 2]), 0),
        scoring,
        EndFlags.REFERENCE_START_FREE | EndFlags.REFERENCE_END_FREE,
        traceback=False,
    )
    outputs = KernelOutputs.allocate(np.array([14, 8, 0]), 15, False)
    outputs.scores[:] = -99
    staggered.run(inputs, outputs, np.array([0]))
    expected = KernelOutputs.allocate(np.array([14, 8, 0]), 15, False)
    gotoh.run(inputs, expected)
    assert outputs.scores[0] == expected.scores[0]
    assert outputs.reference_ends[0] == expected.reference_ends[0]
    assert outputs.scores[1:].tolist() == [-99, -99]
    with pytest.raises(ValueError, match="query 2 is empty"):
        staggered.run(inputs, outputs, np.array([2]))


def test_a_long_semiglobal_pair_matches_parasail():
    """A 6-kb read inside a 9-kb reference: the score of parasail's sg_qx (the reference as s1)."""
    parasail = pytest.importorskip("parasail")
    rng = np.random.default_rng(3)
    reference = "".join(rng.choice(list("ACGT"), size=9_000))
    read = list(reference[1_500:7_500])
    for position in rng.choice(len(read), size=60, replace=False):
        read[position] = "ACGT"[(("ACGT".index(read[position])) + 1) % 4]
    read = "".join(read)
    aligner = sa.Aligner(reference, mode="semiglobal")
    inputs = KernelInput(
        encode_string(read),
        np.array([0, len(read)]),
        encode_string(reference),
        GroupPlan.single(np.array([0]), 0),
        aligner._kernel_scoring(-(2**30), np.int32),
        aligner.flags,
        traceback=False,
    )
    outputs = KernelOutputs.allocate(np.array([len(read)]), len(reference), False)
    staggered.run(inputs, outputs, np.array([0]))
    matrix = parasail.matrix_create("ACGT", 1, -2)
    expected = parasail.sg_qx_striped_32(reference, read, 5, 2, matrix).score
    assert outputs.scores[0] == expected
    assert outputs.reference_ends[0] == 7_500


@pytest.mark.parametrize("mode", ["global", "semiglobal", "overlap", "local"])
def test_the_aligner_gives_the_same_results_with_and_without_it(mode, monkeypatch):
    """Lone long pairs (score-only, and the score pass of a banded traceback) through the
    staggered kernel, then with it switched off: the same batches, field for field."""
    rng = np.random.default_rng(11)
    reference = "".join(rng.choice(list("ACGT"), size=4_500))
    read = list(reference[300:4_300])
    for position in rng.choice(len(read), size=120, replace=False):
        read[position] = "ACGTN"[int(rng.integers(0, 5))]
    queries = ["".join(read), reference[::-1][:3_900]]
    monkeypatch.setattr("streamalign._config.BAND_MIN_CELLS", 1_000_000)
    results = []
    for minimum in (1_000_000, 10**18):
        monkeypatch.setattr("streamalign._config.STAGGERED_MIN_CELLS", minimum)
        aligner = sa.Aligner(reference, mode=mode)
        full = aligner.align_many(queries)
        scores = aligner.align_many(queries, traceback=False)
        results.append(
            (
                full.scores.tolist(),
                full.cigars(),
                full.reference_starts.tolist(),
                full.reference_ends.tolist(),
                scores.scores.tolist(),
                scores.reference_ends.tolist(),
                scores.query_ends.tolist(),
            )
        )
    assert results[0] == results[1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pair=related_pairs(),
    query_start_free=st.booleans(),
    reference_start_free=st.booleans(),
    lanes=st.integers(1, 12),
)
def test_last_row_holds_the_best_score_ending_in_each_column(
    pair, query_start_free, reference_start_free, lanes
):
    """``last_row[j]``: the best alignment ending at the last query row and column ``j``,
    which is the inter-sequence kernel's score against ``reference[:j]`` with that end fixed."""
    query, reference = pair
    scoring, _ = _scoring(1, -2, 5, 2, np.int32)
    fixed_end = EndFlags.from_ends(query_start_free, False, reference_start_free, False)
    last_row = np.zeros(len(reference) + 1, np.int64)
    staggered.score_pair(
        encode_string(query),
        encode_string(reference),
        scoring.substitution,
        scoring.parameters,
        int(fixed_end | EndFlags.REFERENCE_END_FREE),
        lanes,
        last_row,
    )
    for column in range(1, len(reference) + 1):
        expected, _ = _both(query, reference[:column], scoring, fixed_end, lanes)
        assert last_row[column] == expected[0]
