"""Windowed traceback (streamalign.windowing): the same alignments as the full matrix.

Queries much shorter than the reference, in the modes where the windows apply (semi-global,
local, free reference ends), are checked record by record against the slow reference
implementation and against the same aligner with windows switched off; the windows must have
been used, and must fall back to the full matrix when they would save too little.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamalign import Aligner, Scoring, _config, windowing
from streamalign.kernels import planning
from test_alignment_reference import (
    assert_matches_reference,
    kernel_result,
    mutate,
    random_sequence,
)

SCORINGS = {
    "defaults": Scoring(),
    "halves": Scoring(match=1, mismatch=-1.5, gap_open=2.5, gap_extend=0.5),
    # Close to the edge of int16 scores.
    "wide": Scoring(match=30, mismatch=-60, gap_open=150, gap_extend=60),
    "iupac": Scoring(match=2, mismatch=-3, gap_open=4, gap_extend=1, ambiguous="iupac"),
}

MODES = {
    "semiglobal": {},
    "local": {},
    "reference ends free": {
        "mode": "global",
        "reference_start_free": True,
        "reference_end_free": True,
    },
}


def short_queries(rng: random.Random, reference: str, count: int) -> list[str]:
    """Mutated pieces of the reference (many in one place, as amplicons are), unrelated and
    empty queries."""
    amplicon = rng.randrange(len(reference) - 60)
    queries = ["", "A"]
    while len(queries) < count:
        roll = rng.random()
        if roll < 0.5:
            start = amplicon + rng.randrange(-5, 6)
        elif roll < 0.8:
            start = rng.randrange(len(reference) - 20)
        else:
            queries.append(random_sequence(rng, rng.randint(0, 40), "ACGTN"))
            continue
        piece = reference[start : start + rng.randint(10, 50)]
        queries.append(mutate(rng, piece, rate=rng.choice([0.0, 0.05, 0.15, 0.3])))
    return queries


def without_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_config, "WINDOW_MIN_REFERENCE_RATIO", 10**9)


def count_window_plans(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the windowed fraction of the full matrix each time windows are planned."""
    fractions: list[float] = []
    original = planning.group_cells

    def recording(groups):  # type: ignore[no-untyped-def]
        cells = original(groups)
        fractions.append(cells)
        return cells

    monkeypatch.setattr(planning, "group_cells", recording)
    return fractions


@pytest.mark.parametrize("scoring_name", list(SCORINGS))
@pytest.mark.parametrize("mode_name", list(MODES))
def test_windows_give_the_alignments_of_the_full_matrix(mode_name, scoring_name, monkeypatch):
    rng = random.Random(hash((mode_name, scoring_name)) % 1000)
    reference = random_sequence(rng, 400)
    queries = short_queries(rng, reference, 120)
    settings = dict(MODES[mode_name])
    mode = settings.pop("mode", mode_name)
    aligner = Aligner(reference, mode, scoring=SCORINGS[scoring_name], lanes=16, **settings)
    plans = count_window_plans(monkeypatch)
    windowed = assert_matches_reference(aligner, queries)
    assert plans, "the windows were not tried"
    assert aligner._window_skips == {}, "the windows saved too little to be used"
    without_windows(monkeypatch)
    full = Aligner(reference, mode, scoring=SCORINGS[scoring_name], lanes=16, **settings)
    expected = full.align_many(queries)
    assert len(plans) == 1  # the full aligner did not plan windows
    for record in range(len(queries)):
        assert kernel_result(windowed, record) == kernel_result(expected, record)
    assert np.array_equal(windowed.counts, expected.counts)
    assert windowed.cigars() == expected.cigars()


@pytest.mark.parametrize("mode", ["semiglobal", "local"])
def test_both_strands_and_several_references(mode, monkeypatch):
    rng = random.Random(5)
    references = [random_sequence(rng, 300), random_sequence(rng, 350)]
    amplicon = references[1][200:250]
    queries = [mutate(rng, amplicon, rate=0.05) for _ in range(60)]
    queries += [
        "".join({"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}[base] for base in query[::-1])
        for query in queries[:20]
    ]
    aligner = Aligner(references, mode)
    plans = count_window_plans(monkeypatch)
    windowed = aligner.align_many(queries, strand="both", all_references=True)
    # Reference 0 is unrelated: wide windows, paused after the forward strand.
    assert len(plans) >= 2 and aligner._window_skips[0] == _config.WINDOW_SKIPS - 1
    without_windows(monkeypatch)
    expected = Aligner(references, mode).align_many(queries, strand="both", all_references=True)
    assert windowed.cigars() == expected.cigars()
    for field in (
        "integer_scores",
        "query_starts",
        "query_ends",
        "reference_starts",
        "reference_ends",
        "reverse",
        "reference_index",
    ):
        assert np.array_equal(getattr(windowed, field), getattr(expected, field)), field


def test_wide_windows_fall_back_to_the_full_matrix_and_pause(monkeypatch):
    # Unrelated queries score low: their windows cover most of the reference.
    rng = random.Random(8)
    reference = random_sequence(rng, 130)
    queries = [random_sequence(rng, 60) for _ in range(40)]
    aligner = Aligner(reference, "semiglobal")
    plans = count_window_plans(monkeypatch)
    assert_matches_reference(aligner, queries)
    assert len(plans) == 1 and aligner._window_skips == {0: _config.WINDOW_SKIPS}
    aligner.align_many(queries)  # paused: no score pass
    assert len(plans) == 1 and aligner._window_skips == {0: _config.WINDOW_SKIPS - 1}


def test_global_mode_and_traceback_free_runs_plan_no_windows(monkeypatch):
    rng = random.Random(9)
    reference = random_sequence(rng, 300)
    queries = short_queries(rng, reference, 30)
    plans = count_window_plans(monkeypatch)
    Aligner(reference, "global").align_many(queries)
    Aligner(reference, "overlap").align_many(queries)
    Aligner(reference, "semiglobal").align_many(queries, traceback=False)
    assert plans == []


def test_window_bound_holds_every_optimal_alignment():
    # The bound: a 250-base query scoring 240 (default scoring) has at most 3 deleted bases.
    scoring = Scoring()
    starts = windowing.window_starts(
        np.array([240, 250, -100, 0]),
        np.array([900, 900, 900, 900]),
        np.array([250, 250, 250, 0]),
        scoring,
        False,
    )
    # slack 250 - 240 - 5 = 5: 5 // 2 + 1 = 3 deletions; a perfect score allows none; a very
    # low score allows many; an empty query none.
    assert starts.tolist() == [647, 650, 900 - 250 - 173, 900]
    local = windowing.window_starts(
        np.array([0, 10]), np.array([0, 50]), np.array([0, 10]), scoring, True
    )
    assert local.tolist() == [0, 40]


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    seed=st.integers(0, 10**6),
    mode=st.sampled_from(["semiglobal", "local"]),
    scoring_name=st.sampled_from(list(SCORINGS)),
    reference_length=st.integers(60, 240),
    rate=st.sampled_from([0.0, 0.05, 0.2, 0.5]),
)
def test_windows_match_the_full_matrix_on_random_cases(
    seed, mode, scoring_name, reference_length, rate
):
    rng = random.Random(seed)
    reference = random_sequence(rng, reference_length)
    queries = []
    for _ in range(24):
        start = rng.randrange(reference_length - 10)
        piece = reference[start : start + rng.randint(1, 30)]
        queries.append(mutate(rng, piece, rate=rate))
    aligner = Aligner(reference, mode, scoring=SCORINGS[scoring_name], lanes=8)
    windowed = aligner.align_many(queries)
    saved = _config.WINDOW_MIN_REFERENCE_RATIO
    _config.WINDOW_MIN_REFERENCE_RATIO = 10**9
    try:
        full = Aligner(reference, mode, scoring=SCORINGS[scoring_name], lanes=8)
        expected = full.align_many(queries)
    finally:
        _config.WINDOW_MIN_REFERENCE_RATIO = saved
    for record in range(len(queries)):
        assert kernel_result(windowed, record) == kernel_result(expected, record), record
