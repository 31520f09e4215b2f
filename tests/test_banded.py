"""Banded traceback (streamalign.kernels.banded): the alignments of the full matrix.

With the band forced on every pair (``_config.BAND_MIN_CELLS = 0``, no fallback to the full
matrix), random, mutated and adversarial (tandem repeats, homopolymers: many ties) pairs in
every mode and end-gap setting, with several scorings and first band margins, must give
operation for operation what the full-matrix kernel and ``kernels/slow.py`` give. Long pairs
(10 kb, 50 kb) are checked against parasail's scores and by re-scoring their CIGAR.
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import parasail
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamalign import Aligner, AlignmentTooLargeError, Scoring, _config, windowing
from streamalign.alphabet import encode_string
from streamalign.kernels import banded, planning
from streamalign.kernels.inputs import KernelInput
from streamalign.kernels.planning import GroupPlan
from test_alignment_reference import SCORINGS as REFERENCE_SCORINGS
from test_alignment_reference import (
    check_invariants,
    kernel_result,
    mutate,
    random_sequence,
    rescore,
    slow_result,
)

#: The reference tests' scorings (free gaps included) and IUPAC matching.
SCORINGS = {
    **REFERENCE_SCORINGS,
    "iupac": Scoring(match=2, mismatch=-3, gap_open=4, gap_extend=1, ambiguous="iupac"),
}
SWITCH_NAMES = ("query_start_free", "query_end_free", "reference_start_free", "reference_end_free")


class BandCalls:
    """Counts the queries the banded kernel aligned."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.queries = 0
        original = banded.run

        def counting(inputs, outputs):  # type: ignore[no-untyped-def]
            self.queries += len(inputs.kernel.plan.order)
            original(inputs, outputs)

        monkeypatch.setattr(banded, "run", counting)


def force_bands(monkeypatch: pytest.MonkeyPatch, margin: int = 64) -> BandCalls:
    monkeypatch.setattr(_config, "BAND_MIN_CELLS", 0)
    monkeypatch.setattr(_config, "BAND_USE_FRACTION", float("inf"))
    monkeypatch.setattr(_config, "BAND_INITIAL_MARGIN", margin)
    return BandCalls(monkeypatch)


def full_matrix_batch(reference, mode, scoring, queries, switches):  # type: ignore[no-untyped-def]
    saved = _config.BAND_MIN_CELLS
    _config.BAND_MIN_CELLS = 10**18
    try:
        return Aligner(reference, mode, scoring=scoring, lanes=8, **switches).align_many(queries)
    finally:
        _config.BAND_MIN_CELLS = saved


def adversarial_pair(rng: random.Random) -> tuple[str, str]:
    """Tandem repeats shifted against each other, or homopolymer runs: many equal paths."""
    kind = rng.randrange(3)
    if kind == 0:
        unit = random_sequence(rng, rng.randint(1, 4))
        reference = unit * rng.randint(5, 20)
        query = unit * rng.randint(3, 25)
    elif kind == 1:
        reference = "".join(base * rng.randint(1, 8) for base in rng.choices("ACGT", k=12))
        query = "".join(base * rng.randint(1, 8) for base in rng.choices("ACGT", k=12))
    else:
        reference = random_sequence(rng, rng.randint(10, 60), "AC")
        query = mutate(rng, reference, rate=0.3, n_rate=0.0)
    return query, reference


def bandable(aligner: Aligner, reference: str, queries: list[str]) -> int:
    """How many of ``queries`` the aligner sends to the bands when forced to."""
    lengths = np.array([len(query) for query in queries])
    switches = tuple(getattr(aligner, name) for name in SWITCH_NAMES)
    floor = windowing.narrowest_bands(lengths, len(reference), switches, aligner.mode == "local")
    return int(np.sum((floor < lengths * len(reference)) & (lengths > 0)))


def compare(aligner: Aligner, reference: str, queries: list[str], switches):  # type: ignore[no-untyped-def]
    """The aligner's batch (returned) equals the full matrix's and the slow reference's."""
    batch = aligner.align_many(queries)
    full = full_matrix_batch(reference, aligner.mode, aligner.scoring, queries, switches)
    for record, query in enumerate(queries):
        expected = slow_result(aligner, query, reference)
        assert kernel_result(batch, record) == expected, (record, query, reference)
        assert kernel_result(full, record) == expected
    assert np.array_equal(batch.counts, full.counts)
    check_invariants(batch, aligner)
    return batch


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    seed=st.integers(0, 10**6),
    mode=st.sampled_from(["global", "semiglobal", "overlap", "local"]),
    scoring_name=st.sampled_from(list(SCORINGS)),
    margin=st.sampled_from([0, 1, 4, 64]),
    rate=st.sampled_from([0.0, 0.02, 0.1, 0.3, 0.6]),
)
def test_bands_match_full_matrix_and_slow_reference(seed, mode, scoring_name, margin, rate):
    rng = random.Random(seed)
    reference = random_sequence(rng, rng.randint(1, 70))
    queries = [mutate(rng, reference, rate=rate) for _ in range(3)]
    queries.append(random_sequence(rng, rng.randint(1, 60), "ACGTN"))
    queries.append(mutate(rng, reference[rng.randrange(len(reference)) :], rate=rate))
    query, repeat_reference = adversarial_pair(rng)
    with pytest.MonkeyPatch.context() as monkeypatch:
        calls = force_bands(monkeypatch, margin)
        aligner = Aligner(reference, mode, scoring=SCORINGS[scoring_name], lanes=8)
        compare(aligner, reference, queries, {})
        assert calls.queries >= bandable(aligner, reference, queries)
        repeats = Aligner(repeat_reference, mode, scoring=SCORINGS[scoring_name], lanes=8)
        compare(repeats, repeat_reference, [query, query[::-1]], {})


@settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    seed=st.integers(0, 10**6),
    switches=st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
    scoring_name=st.sampled_from(list(SCORINGS)),
    margin=st.sampled_from([0, 2, 64]),
)
def test_bands_match_on_every_end_switch(seed, switches, scoring_name, margin):
    rng = random.Random(seed)
    reference = random_sequence(rng, rng.randint(1, 60))
    queries = [mutate(rng, reference, rate=rng.choice([0.02, 0.1, 0.4])) for _ in range(3)]
    queries.append(adversarial_pair(rng)[0])
    keywords = dict(zip(SWITCH_NAMES, switches, strict=True))
    with pytest.MonkeyPatch.context() as monkeypatch:
        calls = force_bands(monkeypatch, margin)
        aligner = Aligner(reference, "global", scoring=SCORINGS[scoring_name], lanes=8, **keywords)
        compare(aligner, reference, queries, keywords)
        assert calls.queries >= bandable(aligner, reference, queries)


#: seeds of the examples of the next test whose bands the reverse pass narrowed
NARROWED_EXAMPLES: list[int] = []


@settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    seed=st.integers(0, 10**6),
    ends_free=st.tuples(st.booleans(), st.booleans()),
    scoring_name=st.sampled_from(list(SCORINGS)),
    rate=st.sampled_from([0.0, 0.02, 0.1, 0.3]),
)
def test_bands_from_the_optimal_starts_match_the_full_matrix(seed, ends_free, scoring_name, rate):
    """The query's start fixed and the reference's free (semi-global and its variants): every
    band narrowed by the reverse pass's optimal starts still gives the full matrix's
    alignment, ties included (repeats and homopolymers have many optimal starts)."""
    rng = random.Random(seed)
    reference = random_sequence(rng, rng.randint(1, 70))
    queries = [mutate(rng, reference[rng.randrange(len(reference)) :], rate=rate)]
    queries.append(mutate(rng, reference, rate=rate))
    query, repeat_reference = adversarial_pair(rng)
    keywords = {
        "query_start_free": False,
        "query_end_free": ends_free[0],
        "reference_start_free": True,
        "reference_end_free": ends_free[1],
    }
    narrowed = []
    original = Aligner._band_from_starts

    def counting(self, *arguments):  # type: ignore[no-untyped-def]
        band = original(self, *arguments)
        narrowed.append((arguments[-1], band))
        return band

    with pytest.MonkeyPatch.context() as monkeypatch:
        force_bands(monkeypatch)
        monkeypatch.setattr(_config, "BAND_FROM_STARTS_CELLS", 0)
        monkeypatch.setattr(Aligner, "_band_from_starts", counting)
        scoring = SCORINGS[scoring_name]
        aligner = Aligner(reference, "global", scoring=scoring, lanes=8, **keywords)
        batches = [compare(aligner, reference, queries, keywords)]
        repeats = Aligner(repeat_reference, "global", scoring=scoring, lanes=8, **keywords)
        batches.append(compare(repeats, repeat_reference, [query, query[::-1]], keywords))
    # Every band the reverse pass narrowed stays inside the one it narrowed. Whether an
    # example reaches the narrowing depends on it (an empty alignment has no band; a
    # one-letter reference or a query longer than the reference may not need one, seeds 294
    # and 1427): test_a_semiglobal_band_over_the_budget_is_narrowed_by_its_starts makes sure
    # the path runs, and this test counts the examples that reached it.
    if narrowed:
        NARROWED_EXAMPLES.append(seed)
    for (lower, upper), (new_lower, new_upper) in narrowed:
        assert lower <= new_lower <= new_upper <= upper


def test_most_examples_reach_the_narrowing() -> None:
    """The examples of the test above reach the path it tests: most of its 120 (it runs
    first, in file order; run alone, this test runs it)."""
    if not NARROWED_EXAMPLES:
        test_bands_from_the_optimal_starts_match_the_full_matrix()
    assert len(NARROWED_EXAMPLES) >= 40


def test_a_semiglobal_band_over_the_budget_is_narrowed_by_its_starts(monkeypatch):
    """A read inside a reference whose band (from its score alone) is over the budget: the
    reverse pass's starts narrow it under the budget, and the alignment is the very one
    a larger budget gives; without the narrowing the same budget raises."""
    rng = random.Random(77)
    reference = random_sequence(rng, 3_000)
    query = mutated_copy(rng, reference[200:2_800], 0.03)
    expected = Aligner(reference, "semiglobal").align(query)
    aligner = Aligner(reference, "semiglobal")
    row, column = len(query), expected.reference_end
    lower, upper = windowing.band_diagonals(
        np.array([int(expected.score)]),
        np.array([row]),
        np.array([column]),
        aligner.scoring,
        (False, False, True, True),
        False,
    )
    wide_cells = int(planning.band_cells(np.array([row]), lower, upper)[0])
    codes = encode_string(query)
    inputs = KernelInput(
        codes,
        np.array([0, len(codes)]),
        encode_string(reference),
        GroupPlan.single(np.array([0]), 0),
        aligner._kernel_scoring(-(2**30), np.int32),
        aligner.flags,
        traceback=False,
    )
    narrow = aligner._band_from_starts(
        inputs, 0, int(expected.score), row, column, (int(lower[0]), int(upper[0]))
    )
    narrow_cells = row * (narrow[1] - narrow[0] + 1)
    assert narrow_cells < 0.7 * wide_cells
    budget = (narrow_cells + wide_cells) // 2
    found = Aligner(reference, "semiglobal", memory_budget=budget).align(query)
    assert (found.score, found.cigar, found.reference_start, found.reference_end) == (
        expected.score,
        expected.cigar,
        expected.reference_start,
        expected.reference_end,
    )
    monkeypatch.setattr(Aligner, "_band_from_starts", lambda self, *arguments: arguments[-1])
    with pytest.raises(AlignmentTooLargeError, match="band of diagonals"):
        Aligner(reference, "semiglobal", memory_budget=budget).align(query)


@pytest.mark.parametrize("mode", ["semiglobal", "local"])
def test_bands_and_windows_agree_on_short_reads_in_a_long_reference(mode, monkeypatch):
    """The windowed modes: the same reads through windows (the default) and through bands."""
    rng = random.Random(31)
    reference = random_sequence(rng, 600)
    queries = []
    for _ in range(40):
        start = rng.randrange(550)
        queries.append(mutate(rng, reference[start : start + rng.randint(5, 60)], rate=0.1))
    windowed = Aligner(reference, mode, lanes=16).align_many(queries)
    calls = force_bands(monkeypatch)
    aligner = Aligner(reference, mode, lanes=16)
    in_bands = aligner.align_many(queries, strand="both")
    assert calls.queries >= len(queries)
    both = Aligner(reference, mode, lanes=16).align_many(queries, strand="both")
    for record, query in enumerate(queries):
        assert kernel_result(in_bands, record) == slow_result(aligner, query, reference)
    assert in_bands.cigars() == both.cigars() == windowed.cigars()


def test_band_holds_the_reported_alignment():
    """The band of each query's score holds the diagonals its alignment visits."""
    rng = random.Random(8)
    scoring = Scoring()
    for mode, switches in [("global", (False,) * 4), ("semiglobal", (False, False, True, True))]:
        reference = random_sequence(rng, 300)
        for _ in range(20):
            query = mutate(rng, reference[rng.randrange(100) :], rate=0.1, n_rate=0.0)
            alignment = Aligner(reference, mode).align(query)
            score = np.array([round(alignment.score)])
            lower, upper = windowing.band_diagonals(
                score,
                np.array([alignment.query_end]),
                np.array([alignment.reference_end]),
                scoring,
                switches,
                False,
            )
            row, column = alignment.query_start, alignment.reference_start
            diagonals = [column - row]
            for operation in alignment.operations:
                row += operation in "=XI"
                column += operation in "=XD"
                diagonals.append(column - row)
            assert lower[0] <= min(diagonals) and max(diagonals) <= upper[0]


def mutated_copy(rng: random.Random, sequence: str, rate: float) -> str:
    """Substitutions, single-base deletions and insertions, ``rate`` in all."""
    pieces = []
    for base in sequence:
        roll = rng.random()
        if roll < 0.6 * rate:
            pieces.append(rng.choice("ACGT"))
        elif roll < 0.8 * rate:
            continue
        elif roll < rate:
            pieces.append(base + rng.choice("ACGT"))
        else:
            pieces.append(base)
    return "".join(pieces)


def test_50_kb_pair_aligns_globally_within_the_default_budget():
    rng = random.Random(50)
    reference = random_sequence(rng, 50_000)
    query = mutated_copy(rng, reference, 0.01)
    full_cells = len(query) * len(reference)
    assert full_cells > _config.TRACEBACK_BUDGET_BYTES  # it used to raise
    aligner = Aligner(reference, "global")
    alignment = aligner.align(query)
    matrix = parasail.matrix_create("ACGT", 1, -2)
    expected = parasail.nw_striped_32(query, reference, 5, 2, matrix).score
    assert alignment.score == expected
    assert rescore(alignment, aligner.scoring) == expected
    assert alignment.query_end == len(query) and alignment.reference_end == len(reference)


@pytest.mark.parametrize(
    ("length", "start", "end", "rate", "seed"),
    [(10_000, 1_000, 9_000, 0.02, 10), (50_000, 3_000, 48_000, 0.01, 51)],
    ids=["10kb", "50kb"],
)
def test_long_semiglobal_pair_matches_parasail(length, start, end, rate, seed):
    """A read inside a reference: the score pass (on the staggered kernel) and the band of its
    score; the 50-kb pair, over 2 GB as a full matrix, within the 1 GiB default budget."""
    rng = random.Random(seed)
    reference = random_sequence(rng, length)
    query = mutated_copy(rng, reference[start:end], rate)
    if length >= 50_000:
        assert len(query) * len(reference) > 2 * _config.TRACEBACK_BUDGET_BYTES
    aligner = Aligner(reference, "semiglobal")
    alignment = aligner.align(query)
    matrix = parasail.matrix_create("ACGT", 1, -2)
    expected = parasail.sg_dx_striped_32(query, reference, 5, 2, matrix).score
    assert alignment.score == expected == rescore(alignment, aligner.scoring)
    assert abs(alignment.reference_start - start) < 50
    assert abs(alignment.reference_end - end) < 50
    assert aligner.align_many([query], traceback=False).scores.tolist() == [expected]


def test_a_band_over_the_budget_raises_and_a_narrow_one_fits():
    rng = random.Random(4)
    reference = random_sequence(rng, 400)
    budget = 400 * 400 // 4  # a quarter of the full matrix
    aligner = Aligner(reference, "global", memory_budget=budget)
    close = mutated_copy(rng, reference, 0.02)
    assert (
        aligner.align(close).score
        == full_matrix_batch(reference, "global", Scoring(), [close], {})[0].score
    )
    unrelated = random_sequence(rng, 400)
    with pytest.raises(AlignmentTooLargeError, match=r"^far: a 400 x 400 alignment needs .* band"):
        aligner.align(unrelated, name="far")
    # Globally, a query much longer than the reference forces a wide band: turned down before
    # any score pass, as before.
    with pytest.raises(AlignmentTooLargeError, match=r"^long: a 4000 x 400 alignment"):
        Aligner(reference, "global", memory_budget=10**6).align(reference * 10, name="long")


def test_band_plans_count_cells_per_query():
    rows = np.array([10, 0, 5])
    cells = planning.band_cells(rows, np.array([-2, 0, 1]), np.array([2, 0, 1]))
    assert cells.tolist() == [50, 0, 5]
    plan = planning.plan_bands(np.array([0, 2]), cells, rows, 10, memory_budget=50)
    assert plan.order.tolist() == [0, 2] and plan.scratch_bytes == 50
    assert planning.plan_bands(
        np.array([], np.int64), cells, rows, 10, memory_budget=1
    ).lanes.tolist() == [0]


@pytest.mark.parametrize(
    "switches", list(itertools.product([False, True], repeat=4)), ids=lambda value: str(value)
)
def test_narrowest_bands_are_below_the_band_of_the_optimal_score(switches):
    rng = random.Random(sum(switches) * 16 + switches.index(True) if any(switches) else 0)
    reference = random_sequence(rng, 60)
    queries = [mutate(rng, reference * rng.randint(1, 3), rate=0.1)[: rng.randint(1, 170)]]
    queries += [random_sequence(rng, rng.randint(1, 170)) for _ in range(20)]
    keywords = dict(zip(SWITCH_NAMES, switches, strict=True))
    batch = Aligner(reference, "global", **keywords).align_many(queries)
    lengths = np.array([len(query) for query in queries])
    floor = windowing.narrowest_bands(lengths, len(reference), switches, False)
    lower, upper = windowing.band_diagonals(
        batch.integer_scores, batch.query_ends, batch.reference_ends, Scoring(), switches, False
    )
    assert np.all(floor <= planning.band_cells(batch.query_ends, lower, upper))


@pytest.mark.parametrize("mode", ["global", "semiglobal"])
def test_unrelated_pairs_fall_back_to_the_full_matrix_when_it_fits(mode, monkeypatch):
    """A low score proves only a band as wide as the matrix: the full matrix is used, so a
    pair that fitted the budget before the bands still aligns."""
    monkeypatch.setattr(_config, "BAND_MIN_CELLS", 0)
    calls = BandCalls(monkeypatch)
    rng = random.Random(12)
    reference = random_sequence(rng, 120)
    query = random_sequence(rng, 120)
    aligner = Aligner(reference, mode, memory_budget=120 * 120)
    batch = aligner.align_many([query])
    assert kernel_result(batch, 0) == slow_result(aligner, query, reference)
    assert calls.queries <= 1  # (global: one narrow try, then the full matrix)
