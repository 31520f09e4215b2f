"""Exact scores against two independent implementations: Biopython and parasail.

Every pair is aligned by streamalign (one ``align_many(..., all_references=True)`` call per mode
and scoring setting) and scored by Biopython's ``PairwiseAligner`` and by parasail; the scores
must be equal, and every alignment must pass the structural invariants of
``test_alignment_reference.check_invariants`` (CIGAR spans, re-scoring, counts, free ends).

Per mode and scoring setting: 10 references (one empty) x 64 queries (one empty; a third
random, the rest mutated copies of a reference with substitutions, insertion runs, deletions
and about 1% ``N``), lengths 0-300: 640 pairs, 4 settings, so 2,560 pairs per mode.

Mappings established here (streamalign's query aligned against its reference):

Biopython 1.88 ``PairwiseAligner``: ``target`` = reference, ``query`` = query (``score(target,
query)``). Biopython's gap scores are scores (negated costs) and its open score already counts
the first position, as ours: ``open_gap_score = -gap_open``, ``extend_gap_score =
-gap_extend``. A Biopython "deletion" is a gap in the query (our ``D``), an "insertion" a gap
in the target (our ``I``). So ``reference_start_free`` = ``open/extend_left_deletion_score =
0``, ``reference_end_free`` = the right deletion scores, ``query_start_free`` = left
insertion, ``query_end_free`` = right insertion. Global: ``mode="global"``; semiglobal:
``end_deletion_score = 0``; overlap: ``end_gap_score = 0``; local: ``mode="local"``.
``ambiguous="score0"``: ``wildcard = "N"`` (any column with N scores 0). NUC.4.4:
``substitution_matrices.load("NUC.4.4")``.

parasail: ``s1`` = query, ``s2`` = reference (parasail's "database"). Its gap open also counts
the first position: a gap of length k costs ``open + (k - 1) * extend``
(``nw("AAAA", "AA", 5, 2)`` = 2 - 7), so ``open = gap_open``, ``extend = gap_extend``, passed
as integers: everything is given in streamalign's scaled integer units (``Scoring.scale``)
and compared with ``integer_scores``. ``nw`` = global, ``sw`` = local, ``sg`` = overlap (all
four ends free); ``sg_qb``/``sg_qe`` free the beginning/end of the query (query prefix/suffix
unaligned), ``sg_db``/``sg_de`` the beginning/end of the reference, ``x`` both, so
semiglobal = ``sg_dx``; two-end variants are ``sg_qb_db``, ``sg_qb_de``, ``sg_qe_db``,
``sg_qe_de``. parasail has no three-free-ends function, so those four switch combinations are
checked against Biopython only. Substitutions: a ``matrix_create("ACGTN", 0, 0)`` matrix filled
from the integer table (N rows/columns 0 for score0), or the built-in ``parasail.nuc44``.

parasail's semiglobal functions take the best end cell of the last row and column without
their cells in column 0 and row 0, so they miss the alignments that end there: the empty
overlap (all of the query unaligned, then all of the reference; score 0 in ``overlap`` mode,
found by Biopython too) and its relatives. Where our end cell is in row 0 or column 0, parasail
must score at most what we do instead of exactly the same.

Neither oracle accepts an empty sequence; for pairs with one, the expected score is written in
closed form (:func:`empty_pair_score`).
"""

from __future__ import annotations

from fractions import Fraction

import parasail
import pytest
from Bio.Align import PairwiseAligner, substitution_matrices

from streamalign import Aligner, Scoring, ScoringError
from streamalign.aligner import MODES
from test_alignment_reference import (
    check_invariants,
    kernel_result,
    make_references_and_queries,
    slow_result,
)

SETTINGS = {
    "defaults": {},
    "halves": {"match": 1, "mismatch": -1.5, "gap_open": 2.5, "gap_extend": 0.5},
    "match2": {"match": 2, "mismatch": -3, "gap_open": 5, "gap_extend": 2},
    "NUC.4.4": {"matrix": "NUC.4.4", "gap_open": 10, "gap_extend": 1},
}

#: parasail function for each (query_start_free, query_end_free, reference_start_free,
#: reference_end_free); three free ends have no parasail function.
PARASAIL_FUNCTIONS = {
    (False, False, False, False): "nw",
    (True, False, False, False): "sg_qb",
    (False, True, False, False): "sg_qe",
    (True, True, False, False): "sg_qx",
    (False, False, True, False): "sg_db",
    (False, False, False, True): "sg_de",
    (False, False, True, True): "sg_dx",
    (True, False, True, False): "sg_qb_db",
    (True, False, False, True): "sg_qb_de",
    (False, True, True, False): "sg_qe_db",
    (False, True, False, True): "sg_qe_de",
    (True, True, True, True): "sg",
}


def switches_of(aligner: Aligner) -> tuple[bool, bool, bool, bool]:
    return (
        aligner.query_start_free,
        aligner.query_end_free,
        aligner.reference_start_free,
        aligner.reference_end_free,
    )


def biopython_aligner(aligner: Aligner) -> PairwiseAligner:
    """A Biopython aligner scoring like ``aligner`` (see the module docstring)."""
    scoring = aligner.scoring
    oracle = PairwiseAligner(mode="local" if aligner.mode == "local" else "global")
    if scoring.matrix is None:
        oracle.match_score = float(scoring.match)
        oracle.mismatch_score = float(scoring.mismatch)
        assert scoring.ambiguous == "score0"
        oracle.wildcard = "N"
    else:
        assert scoring.matrix == "NUC.4.4"
        oracle.substitution_matrix = substitution_matrices.load("NUC.4.4")
    oracle.open_gap_score = -float(scoring.gap_open)
    oracle.extend_gap_score = -float(scoring.gap_extend)
    if aligner.mode != "local":
        query_start, query_end, reference_start, reference_end = switches_of(aligner)
        for free, side, kind in (
            (reference_start, "left", "deletion"),
            (reference_end, "right", "deletion"),
            (query_start, "left", "insertion"),
            (query_end, "right", "insertion"),
        ):
            if free:
                setattr(oracle, f"open_{side}_{kind}_score", 0.0)
                setattr(oracle, f"extend_{side}_{kind}_score", 0.0)
    return oracle


def parasail_scorer(aligner: Aligner):
    """``score(query, reference)`` in integer units with parasail, or None if it has no
    function for these end-gap switches."""
    scoring = aligner.scoring
    if aligner.mode == "local":
        name = "sw"
    else:
        name = PARASAIL_FUNCTIONS.get(switches_of(aligner))
        if name is None:
            return None
    function = getattr(parasail, name)
    if scoring.matrix == "NUC.4.4":
        matrix = parasail.nuc44
    else:
        matrix = parasail.matrix_create("ACGTN", 0, 0)
        for row in range(5):
            for column in range(5):
                matrix.set_value(row, column, int(scoring.integer_matrix[row, column]))
    gap_open, gap_extend = scoring.integer_gap_open, scoring.integer_gap_extend

    def score(query: str, reference: str) -> int:
        return function(query, reference, gap_open, gap_extend, matrix).score

    return score


def empty_pair_score(aligner: Aligner, query: str, reference: str) -> Fraction:
    """Score (user units) of a pair where at least one sequence is empty: the other one is a
    single gap, free when either of its ends is free (or in local mode)."""
    scoring = aligner.scoring
    query_start, query_end, reference_start, reference_end = switches_of(aligner)
    if aligner.mode == "local":
        return Fraction(0)
    length = len(query) + len(reference)
    free = (query_start or query_end) if query else (reference_start or reference_end)
    if length == 0 or free:
        return Fraction(0)
    return -(Fraction(scoring.gap_open) + (length - 1) * Fraction(scoring.gap_extend))


def check_against_oracles(aligner: Aligner, queries: list[str]) -> int:
    """Align every query against every reference of ``aligner`` and compare both oracles'
    scores and the invariants; returns the number of pairs checked."""
    batch = aligner.align_many(queries, all_references=True)
    reference_count = len(aligner.references)
    assert len(batch) == len(queries) * reference_count
    check_invariants(batch, aligner)
    biopython = biopython_aligner(aligner)
    parasail_score = parasail_scorer(aligner)
    scale = aligner.scoring.scale
    failures = []
    for record in range(len(batch)):
        query = queries[record // reference_count]
        reference = aligner.references[record % reference_count]
        assert int(batch.reference_index[record]) == record % reference_count
        ours = int(batch.integer_scores[record])
        if not query or not reference:
            expected = {"closed form": empty_pair_score(aligner, query, reference) * scale}
        else:
            expected = {"biopython": Fraction(biopython.score(reference, query)) * scale}
            if parasail_score is not None:
                value = parasail_score(query, reference)
                ends_on_boundary = aligner.mode != "local" and (
                    batch.query_ends[record] == 0 or batch.reference_ends[record] == 0
                )
                if ends_on_boundary and value <= ours:
                    value = ours  # parasail cannot end in row 0 or column 0: see docstring
                expected["parasail"] = value
        for oracle, value in expected.items():
            if value != ours:
                failures.append((oracle, record, query, reference, ours, value))
    assert not failures, failures[:3]
    return len(batch)


@pytest.fixture(scope="module")
def oracle_set() -> tuple[list[str], list[str]]:
    return make_references_and_queries(
        seed=2024, reference_count=10, query_count=64, max_length=300
    )


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("mode", list(MODES))
def test_scores_equal_biopython_and_parasail(oracle_set, mode, setting):
    references, queries = oracle_set
    aligner = Aligner(references, mode, **SETTINGS[setting])
    assert check_against_oracles(aligner, queries) == 640


@pytest.mark.parametrize("mode", list(MODES))
def test_oracle_pairs_also_match_the_slow_reference(oracle_set, mode):
    """The kernel against ``kernels/slow.py`` on a sample of the same pairs (the pure-Python
    reference is too slow for all of them): scores, spans and operations identical."""
    references, queries = oracle_set
    aligner = Aligner(references, mode, **SETTINGS["halves"])
    batch = aligner.align_many(queries, all_references=True)
    checked = 0
    for record in range(0, len(batch), 7):
        query = queries[record // len(references)]
        reference = references[record % len(references)]
        if len(query) * len(reference) <= 12_000:
            assert kernel_result(batch, record) == slow_result(aligner, query, reference)
            checked += 1
    assert checked >= 30


@pytest.mark.parametrize(
    "switches",
    [
        (query_start, query_end, reference_start, reference_end)
        for query_start in (False, True)
        for query_end in (False, True)
        for reference_start in (False, True)
        for reference_end in (False, True)
    ],
    ids=lambda switches: "".join("1" if flag else "0" for flag in switches),
)
def test_each_end_gap_switch_equals_oracles(switches):
    references, queries = make_references_and_queries(
        seed=7, reference_count=5, query_count=30, max_length=120
    )
    aligner = Aligner(
        references,
        "global",
        query_start_free=switches[0],
        query_end_free=switches[1],
        reference_start_free=switches[2],
        reference_end_free=switches[3],
        **SETTINGS["halves"],
    )
    assert check_against_oracles(aligner, queries) == 150


def test_parasail_gap_cost_includes_first_position():
    matrix = parasail.matrix_create("ACGT", 1, -2)
    # Two matches and one gap of length 2 (open 5 + one extension 2), then of length 3.
    assert parasail.nw("AAAA", "AA", 5, 2, matrix).score == 2 - (5 + 2)
    assert parasail.nw("AAAAA", "AA", 5, 2, matrix).score == 2 - (5 + 2 + 2)
    assert Aligner("AA").align("AAAAA").score == 2 - (5 + 2 + 2)


def test_parasail_semiglobal_names():
    matrix = parasail.matrix_create("ACGT", 1, -2)
    # Reference (s2, "database") prefix unaligned: free only with a free database beginning.
    assert parasail.sg_db("ACGT", "GGGGACGT", 5, 2, matrix).score == 4
    assert parasail.sg_qb("ACGT", "GGGGACGT", 5, 2, matrix).score < 4
    # Query (s1) suffix unaligned: free only with a free query end.
    assert parasail.sg_qe("ACGTGGGG", "ACGT", 5, 2, matrix).score == 4
    assert parasail.sg_de("ACGTGGGG", "ACGT", 5, 2, matrix).score < 4
    assert Aligner("GGGGACGT", "semiglobal").align("ACGT").score == 4
    assert Aligner("ACGT", "global", query_end_free=True).align("ACGTGGGG").score == 4


def test_biopython_deletion_is_a_gap_in_the_query():
    oracle = PairwiseAligner(
        mode="global", match_score=1, mismatch_score=-2, open_gap_score=-5, extend_gap_score=-2
    )
    oracle.open_left_deletion_score = oracle.extend_left_deletion_score = 0
    # target (reference) prefix unaligned: a leading gap in the query is free.
    assert oracle.score("GGGGACGT", "ACGT") == 4
    assert Aligner("GGGGACGT", reference_start_free=True).align("ACGT").cigar == "4="


def test_gap_open_below_gap_extend_is_refused():
    """A first gap position cheaper than the next ones would make k one-base gaps cheaper than
    one k-base gap; the recurrence (like parasail's) would then take the former while
    Biopython scores runs, so such scoring is refused instead of giving two answers."""
    with pytest.raises(ScoringError, match="gap_open"):
        Scoring(match=2, mismatch=-1, gap_open=1, gap_extend=3)
    assert Scoring(gap_open=2, gap_extend=2).integer_gap_open == 2  # equal is linear gaps
