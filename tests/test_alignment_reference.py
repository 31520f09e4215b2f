"""The numba kernel (through ``Aligner.align_many``) against the slow reference, cell for cell.

``streamalign.kernels.slow`` implements the documented Gotoh rules in plain Python. Here both
run on the same pairs and must agree exactly: score, query and reference spans, and the
operation string (so the tie-breaking rules agree too), in every mode, with each end-gap switch
on its own, for several lane counts, with empty sequences, with the int32/int64 score types,
with every ambiguity policy, NUC.4.4 and a dict matrix, and for random scoring parameters
(hypothesis). Every returned alignment is also checked for the structural invariants
(:func:`check_invariants`), which ``test_alignment_oracles`` and ``test_alignment_api`` reuse.

Sizes are kept small because the reference is pure Python (about a microsecond per cell).
"""

from __future__ import annotations

import itertools
import random
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamalign import Aligner, AlignmentBatch, Scoring
from streamalign.aligner import MODES, _score_dtype
from streamalign.alphabet import LETTERS, encode_string
from streamalign.kernels.slow import SlowResult, align_pair

# --------------------------------------------------------------------------------------------
# Shared helpers (imported by the other test_alignment_* modules).
# --------------------------------------------------------------------------------------------


def random_sequence(rng: random.Random, length: int, letters: str = "ACGT") -> str:
    return "".join(rng.choices(letters, k=length))


def mutate(rng: random.Random, sequence: str, rate: float = 0.08, n_rate: float = 0.01) -> str:
    """A copy with substitutions, deletions and insertion runs (``rate`` split evenly among
    the three), then about ``n_rate`` of its positions replaced by ``N``."""
    pieces = []
    for base in sequence:
        roll = rng.random()
        if roll < rate / 3:
            pieces.append(rng.choice("ACGT"))
        elif roll < 2 * rate / 3:
            continue
        elif roll < rate:
            pieces.append(base + random_sequence(rng, rng.randint(1, 6)))
        else:
            pieces.append(base)
    mutated = list("".join(pieces))
    for position in range(len(mutated)):
        if rng.random() < n_rate:
            mutated[position] = "N"
    return "".join(mutated)


def related_query(rng: random.Random, reference: str, max_length: int) -> str:
    """A mutated copy of the reference, of a piece of it, or of it with random flanks."""
    kind = rng.randrange(3)
    if kind == 0 or not reference:
        source = reference
    elif kind == 1:
        start = rng.randrange(len(reference))
        source = reference[start : start + rng.randint(1, len(reference) - start)]
    else:
        source = (
            random_sequence(rng, rng.randint(0, 20))
            + reference
            + random_sequence(rng, rng.randint(0, 20))
        )
    return mutate(rng, source, rate=rng.choice([0.02, 0.08, 0.2]))[:max_length]


def make_references_and_queries(
    seed: int, reference_count: int, query_count: int, max_length: int
) -> tuple[list[str], list[str]]:
    """References of random lengths in ``[0, max_length]`` and queries, about a third random
    (unrelated, lengths in ``[0, max_length]``) and the rest mutated copies of a reference.
    The first reference and the first query are empty."""
    rng = random.Random(seed)
    references = [""] + [
        random_sequence(rng, rng.randint(1, max_length)) for _ in range(reference_count - 1)
    ]
    queries = [""]
    while len(queries) < query_count:
        if rng.random() < 0.35:
            queries.append(random_sequence(rng, rng.randint(0, max_length), "ACGTACGTACGTN"))
        else:
            queries.append(related_query(rng, rng.choice(references[1:]), max_length))
    return references, queries


def run_length(operations: str) -> str:
    return "".join(f"{len(list(run))}{op}" for op, run in itertools.groupby(operations))


def end_switches(aligner: Aligner) -> tuple[bool, bool, bool, bool]:
    """(query_start_free, query_end_free, reference_start_free, reference_end_free)."""
    if aligner.mode == "local":
        return (True, True, True, True)
    return (
        aligner.query_start_free,
        aligner.query_end_free,
        aligner.reference_start_free,
        aligner.reference_end_free,
    )


def slow_result(aligner: Aligner, query: str, reference: str) -> SlowResult:
    """The reference implementation's alignment for one pair, with the aligner's settings."""
    scoring = aligner.scoring
    query_start_free, query_end_free, reference_start_free, reference_end_free = end_switches(
        aligner
    )
    return align_pair(
        encode_string(query),
        encode_string(reference),
        scoring.integer_matrix,
        scoring.match_table,
        scoring.integer_gap_open,
        scoring.integer_gap_extend,
        query_start_free=query_start_free,
        query_end_free=query_end_free,
        reference_start_free=reference_start_free,
        reference_end_free=reference_end_free,
        local=aligner.mode == "local",
    )


def kernel_result(batch: AlignmentBatch, record: int) -> SlowResult:
    """One record of a kernel batch in the reference's shape (integer score)."""
    alignment = batch[record]
    return SlowResult(
        int(batch.integer_scores[record]),
        alignment.query_start,
        alignment.query_end,
        alignment.reference_start,
        alignment.reference_end,
        alignment.operations,
    )


def rescore(alignment, scoring: Scoring) -> int:
    """Integer score of the alignment's columns: substitutions plus affine gap costs. Flanks
    outside the spans are unaligned and cost nothing.

    A run of ``k`` gap columns costs ``gap_open + (k - 1) * gap_extend`` (``Scoring`` requires
    ``gap_open >= gap_extend``, so a run is never cheaper as several gaps).
    """
    query = encode_string(alignment.query)
    reference = encode_string(alignment.reference)
    row, column = alignment.query_start, alignment.reference_start
    total = 0
    for operation in alignment.operations:
        if operation in "=X":
            query_code, reference_code = query[row], reference[column]
            total += int(scoring.integer_matrix[query_code, reference_code])
            is_match = bool(scoring.match_table[query_code, reference_code])
            assert is_match == (operation == "="), (operation, row, column)
            row += 1
            column += 1
        elif operation == "I":
            row += 1
        else:
            column += 1
    assert (row, column) == (alignment.query_end, alignment.reference_end)
    gap_open, gap_extend = scoring.integer_gap_open, scoring.integer_gap_extend
    for operation, run in itertools.groupby(alignment.operations):
        if operation in "ID":
            total -= gap_open + (len(list(run)) - 1) * gap_extend
    return total


def check_invariants(batch: AlignmentBatch, aligner: Aligner) -> None:
    """Structural checks on every record of a batch aligned with traceback."""
    scoring = aligner.scoring
    query_start_free, query_end_free, reference_start_free, reference_end_free = end_switches(
        aligner
    )
    cigars = batch.cigars()
    classic = batch.cigars(extended=False)
    for record, alignment in enumerate(batch):
        query, reference = alignment.query, alignment.reference
        operations = alignment.operations
        assert 0 <= alignment.query_start <= alignment.query_end <= len(query)
        assert 0 <= alignment.reference_start <= alignment.reference_end <= len(reference)
        # The CIGAR consumes exactly the two spans.
        query_consumed = sum(operation in "=XI" for operation in operations)
        reference_consumed = sum(operation in "=XD" for operation in operations)
        assert query_consumed == alignment.query_end - alignment.query_start
        assert reference_consumed == alignment.reference_end - alignment.reference_start
        # Counts, identity, edit distance, CIGAR strings.
        matches, mismatches = operations.count("="), operations.count("X")
        insertions, deletions = operations.count("I"), operations.count("D")
        assert (alignment.matches, alignment.mismatches) == (matches, mismatches)
        assert (alignment.insertions, alignment.deletions) == (insertions, deletions)
        assert alignment.length == len(operations) == batch.alignment_lengths[record]
        assert alignment.identity == (matches / len(operations) if operations else 0.0)
        assert batch.identities[record] == alignment.identity
        assert alignment.edit_distance == mismatches + insertions + deletions
        assert batch.edit_distances[record] == alignment.edit_distance
        assert alignment.cigar == run_length(operations) == cigars[record]
        assert alignment.cigar_classic() == classic[record]
        assert classic[record] == run_length(operations.replace("X", "=").replace("=", "M"))
        # Gapped strings spell the spans.
        assert (
            alignment.gapped_query.replace("-", "")
            == query[alignment.query_start : alignment.query_end]
        )
        assert (
            alignment.gapped_reference.replace("-", "")
            == reference[alignment.reference_start : alignment.reference_end]
        )
        # Ends that are not free are aligned.
        if not query_start_free:
            assert alignment.query_start == 0
        if not query_end_free:
            assert alignment.query_end == len(query)
        if not reference_start_free:
            assert alignment.reference_start == 0
        if not reference_end_free:
            assert alignment.reference_end == len(reference)
        # Re-scoring the columns gives the reported score.
        assert rescore(alignment, scoring) == batch.integer_scores[record]
        assert alignment.score == batch.integer_scores[record] / scoring.scale
        if aligner.mode == "local":
            assert batch.integer_scores[record] >= 0
            assert (batch.integer_scores[record] > 0) == bool(operations)
            if operations:
                assert operations[0] in "=X" and operations[-1] in "=X"


def assert_matches_reference(
    aligner: Aligner, queries: list[str], batch: AlignmentBatch | None = None
) -> AlignmentBatch:
    """Align ``queries`` (single reference) and compare every record with the reference."""
    if batch is None:
        batch = aligner.align_many(queries)
    assert len(batch) == len(queries)
    reference = aligner.references[0]
    for record, query in enumerate(queries):
        expected = slow_result(aligner, query, reference)
        assert kernel_result(batch, record) == expected, (record, query, reference)
    check_invariants(batch, aligner)
    return batch


# --------------------------------------------------------------------------------------------
# Tests.
# --------------------------------------------------------------------------------------------

SCORINGS = {
    "defaults": Scoring(),
    "halves": Scoring(match=1, mismatch=-1.5, gap_open=2.5, gap_extend=0.5),
    "match2": Scoring(match=2, mismatch=-3, gap_open=5, gap_extend=2),
    "free-gaps": Scoring(match=1, mismatch=-1, gap_open=0, gap_extend=0),
}


@pytest.fixture(scope="module")
def small_set() -> tuple[list[str], list[str]]:
    """Three references (the first empty) and 40 queries of up to 70 bases."""
    return make_references_and_queries(seed=11, reference_count=3, query_count=40, max_length=70)


@pytest.mark.parametrize("scoring_name", sorted(SCORINGS))
@pytest.mark.parametrize("mode", list(MODES))
def test_modes_and_lanes_match_reference(small_set, mode, scoring_name):
    references, queries = small_set
    scoring = SCORINGS[scoring_name]
    for reference in references:
        expected = [
            slow_result(Aligner(reference, mode, scoring=scoring), query, reference)
            for query in queries
        ]
        for lanes in (1, 3, 64):
            aligner = Aligner(reference, mode, scoring=scoring, lanes=lanes)
            batch = aligner.align_many(queries)
            assert [kernel_result(batch, k) for k in range(len(queries))] == expected
            if lanes == 3:
                check_invariants(batch, aligner)


@pytest.mark.parametrize(
    "switches",
    list(itertools.product((False, True), repeat=4)),
    ids=lambda s: "".join("1" if flag else "0" for flag in s),
)
def test_each_end_gap_switch_matches_reference(switches):
    query_start_free, query_end_free, reference_start_free, reference_end_free = switches
    references, queries = make_references_and_queries(
        seed=23, reference_count=3, query_count=24, max_length=50
    )
    for scoring in (SCORINGS["defaults"], SCORINGS["halves"]):
        for reference in references:
            aligner = Aligner(
                reference,
                "global",
                scoring=scoring,
                query_start_free=query_start_free,
                query_end_free=query_end_free,
                reference_start_free=reference_start_free,
                reference_end_free=reference_end_free,
                lanes=4,
            )
            assert_matches_reference(aligner, queries)


def test_named_modes_are_the_documented_switches():
    assert MODES["global"] == (False, False, False, False)
    assert MODES["semiglobal"] == (False, False, True, True)
    assert MODES["overlap"] == (True, True, True, True)
    aligner = Aligner("ACGT", "semiglobal", query_end_free=True)
    assert end_switches(aligner) == (False, True, True, True)
    with pytest.raises(ValueError, match="local"):
        Aligner("ACGT", "local", query_start_free=True)


def test_mixed_query_lengths_in_one_batch():
    rng = random.Random(5)
    reference = random_sequence(rng, 40)
    lengths = [0, 1, 2, 3, 5, 8, 13, 21, 34, 40, 41, 55, 1, 0, 39, 7]
    queries = [related_query(rng, reference, 60)[:length] for length in lengths]
    queries += [random_sequence(rng, length) for length in lengths]
    for mode in MODES:
        for lanes in (1, 2, 5, 64):
            assert_matches_reference(Aligner(reference, mode, lanes=lanes), queries)


@pytest.mark.parametrize("mode", list(MODES))
def test_empty_query_and_empty_reference(mode):
    queries = ["", "A", "ACGTTGCA", "", "NNN"]
    for reference in ("", "G", "ACGTGCA"):
        for scoring in (SCORINGS["defaults"], SCORINGS["free-gaps"]):
            batch = assert_matches_reference(Aligner(reference, mode, scoring=scoring), queries)
            for record, query in enumerate(queries):
                if not query or not reference:
                    assert batch[record].matches == 0
                    if mode == "local":
                        assert batch[record].operations == ""
                        assert kernel_result(batch, record)[:5] == (0, 0, 0, 0, 0)


def test_empty_pairs_cost_one_gap_when_penalized():
    batch = Aligner("ACGTA", "global", gap_open=5, gap_extend=2).align_many([""])
    assert batch[0].score == -(5 + 4 * 2) and batch[0].cigar == "5D"
    batch = Aligner("", "global", gap_open=5, gap_extend=2).align_many(["ACG"])
    assert batch[0].score == -(5 + 2 * 2) and batch[0].cigar == "3I"
    batch = Aligner("", "overlap").align_many(["ACG"])
    assert batch[0].score == 0 and batch[0].cigar == ""


WIDE_SCORINGS = {
    # Near the edge of int16 (minus infinity about -27,000): nothing may wrap around.
    np.int16: Scoring(match=100, mismatch=-200, gap_open=500, gap_extend=200),
    # Scores beyond int16's range use float32.
    np.float32: Scoring(match=10_000, mismatch=-20_000, gap_open=50_000, gap_extend=20_000),
    # Gap costs beyond float32's exact range force int32.
    np.int32: Scoring(match=1_000_000, mismatch=-2_000_000, gap_open=5e6, gap_extend=2e6),
    # ... and beyond int32's range, int64.
    np.int64: Scoring(match=10**9, mismatch=-(2 * 10**9), gap_open=5 * 10**9, gap_extend=2e9),
}


@pytest.mark.parametrize(
    "dtype",
    [np.int16, np.float32, np.int32, np.int64],
    ids=["int16", "float32", "int32", "int64"],
)
@pytest.mark.parametrize("mode", list(MODES))
def test_wider_score_types_match_reference(mode, dtype):
    scoring = WIDE_SCORINGS[dtype]
    references, queries = make_references_and_queries(
        seed=31, reference_count=3, query_count=25, max_length=60
    )
    for reference in references:
        assert _score_dtype(scoring, 60, len(reference))[0] is dtype
        assert_matches_reference(Aligner(reference, mode, scoring=scoring, lanes=8), queries)


def test_score_dtype_widens_for_long_sequences():
    scoring = Scoring()
    assert _score_dtype(scoring, 100, 100)[0] is np.int16
    assert _score_dtype(scoring, 250, 1500)[0] is np.int16
    assert _score_dtype(scoring, 10_000, 10_000)[0] is np.float32
    assert _score_dtype(scoring, 3_000_000, 3_000_000)[0] is np.int32
    assert _score_dtype(scoring, 10**9, 10**9)[0] is np.int64


def test_very_negative_substitution_does_not_wrap_around():
    # Regression: the most negative substitution score was not considered when choosing the
    # score type, so -3e9 was cast to int32 and wrapped around to a large positive score.
    scoring = Scoring(match=1, mismatch=-3e9, gap_open=1e7, gap_extend=1)
    assert _score_dtype(scoring, 10, 10)[0] is np.int64
    queries = ["ACGTACGTAC", "ACGTTCGTAC", "TTTTT"]
    for mode in MODES:
        batch = assert_matches_reference(Aligner("ACGAACGTAC", mode, scoring=scoring), queries)
        assert (batch.scores < 20).all()


IUPAC_SCORINGS = {
    "score0": Scoring(match=2, mismatch=-3, gap_open=4, gap_extend=1, ambiguous="score0"),
    "mismatch": Scoring(match=2, mismatch=-3, gap_open=4, gap_extend=1, ambiguous="mismatch"),
    "iupac": Scoring(match=2, mismatch=-3, gap_open=4, gap_extend=1, ambiguous="iupac"),
    "NUC.4.4": Scoring(matrix="NUC.4.4", gap_open=10, gap_extend=1),
    "dict": Scoring(
        matrix={
            "A": {"A": 3, "C": -2, "G": -1, "T": -2, "N": 0.5},
            "C": {"A": -2, "C": 3, "G": -2, "T": -1},
            "G": {"A": -1, "C": -2, "G": 3, "T": -2},
            "T": {"A": -2, "C": -1, "G": -2, "T": 3, "N": 0.5},
        },
        gap_open=3.5,
        gap_extend=1,
        ambiguous="mismatch",
    ),
    "array-4x4-iupac": Scoring(
        matrix=[[2, -1, -1, -1], [-1, 2, -1, -1], [-1, -1, 2, -1], [-1, -1, -1, 2]],
        gap_open=3,
        gap_extend=1,
        ambiguous="iupac",
    ),
}


@pytest.mark.parametrize("scoring_name", sorted(IUPAC_SCORINGS))
@pytest.mark.parametrize("mode", list(MODES))
def test_ambiguity_policies_and_matrices_match_reference(mode, scoring_name):
    scoring = IUPAC_SCORINGS[scoring_name]
    rng = random.Random(sorted(IUPAC_SCORINGS).index(scoring_name))
    reference = random_sequence(rng, 50, "ACGT" * 6 + LETTERS)
    queries = [related_query(rng, reference, 60) for _ in range(12)]
    queries += [random_sequence(rng, rng.randint(0, 50), LETTERS) for _ in range(12)]
    assert_matches_reference(Aligner(reference, mode, scoring=scoring, lanes=5), queries)


# Scores in half units, match >= mismatch, costs >= 0.
halves = st.integers(min_value=-8, max_value=12).map(lambda value: Fraction(value, 2))


@st.composite
def scoring_parameters(draw):
    match = draw(halves)
    mismatch = match - draw(st.integers(min_value=0, max_value=10)) / Fraction(2)
    gap_extend = draw(st.integers(min_value=0, max_value=8)) / Fraction(2)
    gap_open = gap_extend + draw(st.integers(min_value=0, max_value=8)) / Fraction(2)
    return Scoring(match=match, mismatch=mismatch, gap_open=gap_open, gap_extend=gap_extend)


sequences = st.text(alphabet="ACGTN", max_size=24)


@settings(
    deadline=None,
    max_examples=200,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    reference=sequences,
    queries=st.lists(sequences, min_size=1, max_size=4),
    scoring=scoring_parameters(),
    mode=st.sampled_from(list(MODES)),
    lanes=st.sampled_from([1, 2, 64]),
)
def test_random_parameters_match_reference(reference, queries, scoring, mode, lanes):
    assert_matches_reference(Aligner(reference, mode, scoring=scoring, lanes=lanes), queries)


@settings(deadline=None, max_examples=60, database=None)
@given(
    reference=sequences,
    queries=st.lists(sequences, min_size=1, max_size=3),
    scoring=scoring_parameters(),
    switches=st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
)
def test_random_end_switches_match_reference(reference, queries, scoring, switches):
    aligner = Aligner(
        reference,
        "global",
        scoring=scoring,
        query_start_free=switches[0],
        query_end_free=switches[1],
        reference_start_free=switches[2],
        reference_end_free=switches[3],
    )
    assert_matches_reference(aligner, queries)
