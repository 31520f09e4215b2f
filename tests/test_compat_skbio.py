"""scikit-bio's pairwise recurrence: streamalign.compat.skbio and recurrence="skbio", checked
against scikit-bio itself (gapped rows, score and start/end positions, pair by pair).

scikit-bio's pure-Python aligner takes ~20-60 ms per 64 x 64 pair, so the pairs are mostly short:
random pairs (one side up to 200 bases, some empty), and mutated copies.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from streamalign import Aligner, AlignmentTooLargeError, InvalidSequenceError, ScoringError
from streamalign.compat import skbio as compat
from streamalign.kernels import legacy

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

#: A matrix that is not symmetric: it tells seq1 from seq2 (and uses 0.25 steps).
ASYMMETRIC = {
    first: {
        second: 3.0
        if first == second
        else -1.0 - 0.5 * "ACGT".index(first) + 0.25 * "ACGT".index(second)
        for second in "ACGT"
    }
    for first in "ACGT"
}


@pytest.fixture(scope="module")
def skbio() -> Any:
    return pytest.importorskip("skbio")


def random_dna(rng: random.Random, length: int) -> str:
    return "".join(rng.choice("ACGT") for _ in range(length))


def mutate(rng: random.Random, sequence: str, rate: float = 0.08) -> str:
    """Substitutions, deletions and short insertions at about ``rate`` each."""
    pieces = []
    for base in sequence:
        draw = rng.random()
        if draw < rate:
            continue
        pieces.append(rng.choice("ACGT") if draw < 2 * rate else base)
        if rng.random() < rate:
            pieces.append(random_dna(rng, rng.randint(1, 3)))
    return "".join(pieces)


def make_pairs(seed: int, count: int, long_pairs: int = 0) -> list[tuple[str, str]]:
    """Random pairs (one side up to 200 bases), empty sides, and mutated copies."""
    rng = random.Random(seed)
    pairs = [("", ""), ("", random_dna(rng, 7)), (random_dna(rng, 9), "")]
    for _ in range(long_pairs):
        sequence = random_dna(rng, rng.randint(150, 200))
        pairs.append((mutate(rng, sequence), sequence))
    while len(pairs) < count:
        draw = rng.random()
        if draw < 0.6:
            pair = (random_dna(rng, rng.randint(0, 30)), random_dna(rng, rng.randint(0, 30)))
        elif draw < 0.92:
            sequence = random_dna(rng, rng.randint(8, 40))
            pair = (mutate(rng, sequence), sequence)
        else:
            pair = (random_dna(rng, rng.randint(31, 200)), random_dna(rng, rng.randint(0, 12)))
        pairs.append(pair if rng.random() < 0.5 else (pair[1], pair[0]))
    return pairs


def normalized(result: Any) -> tuple[list[str], float, list[tuple[int, int]]]:
    """Gapped rows, score and positions of a scikit-bio-style result, as plain values."""
    msa, score, positions = result
    rows = [str(row) for row in msa]
    return rows, float(score), [(int(start), int(end)) for start, end in positions]


def assert_same(expected: list[Any], actual: list[Any], pairs: list[tuple[str, str]]) -> None:
    mismatches = [
        (pair, normalized(old), normalized(new))
        for pair, old, new in zip(pairs, expected, actual, strict=True)
        if normalized(old) != normalized(new)
    ]
    assert not mismatches, f"{len(mismatches)} of {len(pairs)} differ, first: {mismatches[0]}"


# (name, function, positional arguments after the two sequences, keywords, pairs, seed)
SCENARIOS = [
    ("global_default", "global_pairwise_align_nucleotide", (), {}, 400, 1),
    (
        "global_penalized",
        "global_pairwise_align_nucleotide",
        (),
        {"penalize_terminal_gaps": True},
        400,
        2,
    ),
    ("global_fractional", "global_pairwise_align_nucleotide", (2.5, 0.5, 1.5, -1), {}, 250, 3),
    (
        "global_fractional_penalized",
        "global_pairwise_align_nucleotide",
        (2.5, 0.5, 1.5, -1),
        {"penalize_terminal_gaps": True},
        250,
        4,
    ),
    (
        "global_custom_scores",
        "global_pairwise_align_nucleotide",
        (4, 1, 2, -3),
        {"penalize_terminal_gaps": True},
        150,
        5,
    ),
    ("global_matrix", "global_pairwise_align", (4, 1, ASYMMETRIC), {}, 200, 6),
    ("global_matrix_penalized", "global_pairwise_align", (4, 1, ASYMMETRIC, True), {}, 200, 7),
    ("local_default", "local_pairwise_align_nucleotide", (), {}, 400, 8),
    ("local_fractional", "local_pairwise_align_nucleotide", (2.5, 0.5, 1.5, -1), {}, 250, 9),
    ("local_matrix", "local_pairwise_align", (4, 1, ASYMMETRIC), {}, 200, 10),
    # Not multiples of a power of two: scikit-bio's float rounding is reproduced too (the
    # nucleotide wrappers even round match/mismatch to float32).
    (
        "global_decimal",
        "global_pairwise_align_nucleotide",
        (0.3, 0.1, 0.7, -0.9),
        {"penalize_terminal_gaps": True},
        60,
        11,
    ),
    ("local_decimal", "local_pairwise_align_nucleotide", (0.3, 0.1, 0.7, -0.9), {}, 60, 12),
]


@pytest.mark.parametrize(
    ("function", "arguments", "keywords", "count", "seed"),
    [scenario[1:] for scenario in SCENARIOS],
    ids=[scenario[0] for scenario in SCENARIOS],
)
def test_pairs_match_scikit_bio(
    skbio: Any, function: str, arguments: tuple, keywords: dict, count: int, seed: int
) -> None:
    """Every pair: the same gapped rows, score and positions as scikit-bio; batched too."""
    old: Callable[..., Any] = getattr(skbio.alignment, function)
    new: Callable[..., Any] = getattr(compat, function)
    pairs = make_pairs(seed, count, long_pairs=2 if seed == 1 else 0)
    expected = [
        old(skbio.DNA(first), skbio.DNA(second), *arguments, **keywords) for first, second in pairs
    ]
    single = [
        new(skbio.DNA(first), skbio.DNA(second), *arguments, **keywords) for first, second in pairs
    ]
    assert_same(expected, single, pairs)
    # Plain strings give the same, as do the batched helpers (one kernel call per reference).
    strings = [new(first, second, *arguments, **keywords) for first, second in pairs[:50]]
    assert_same(expected[:50], strings, pairs[:50])
    many: Callable[..., Any] = getattr(compat, f"{function}_many")
    references = sorted({second for _, second in pairs})[:5]
    for reference in references:
        group = [(first, second) for first, second in pairs if second == reference]
        batched = many([first for first, _ in group], reference, *arguments, **keywords)
        assert_same([expected[pairs.index(pair)] for pair in group], batched, group)


@pytest.mark.parametrize("queries_first", [True, False])
@pytest.mark.parametrize(
    ("function", "arguments"),
    [
        ("global_pairwise_align", (4, 1, ASYMMETRIC, True)),
        ("global_pairwise_align_nucleotide", ()),
        ("local_pairwise_align", (4, 1, ASYMMETRIC)),
        ("local_pairwise_align_nucleotide", (3, 1, 1.5, -2)),
    ],
)
def test_batched_matches_scikit_bio_in_both_orders(
    skbio: Any, function: str, arguments: tuple, queries_first: bool
) -> None:
    rng = random.Random(20 + queries_first)
    reference = random_dna(rng, 24)
    queries = [mutate(rng, reference) for _ in range(30)]
    queries += [random_dna(rng, rng.randint(0, 30)) for _ in range(10)] + [""]
    old: Callable[..., Any] = getattr(skbio.alignment, function)
    many: Callable[..., Any] = getattr(compat, f"{function}_many")
    batched = many(queries, reference, *arguments, queries_first=queries_first, lanes=8)
    ordered = [(query, reference) if queries_first else (reference, query) for query in queries]
    expected = [old(skbio.DNA(first), skbio.DNA(second), *arguments) for first, second in ordered]
    assert_same(expected, batched, ordered)


@pytest.mark.parametrize(
    ("function", "arguments"),
    [
        ("global_pairwise_align_nucleotide", (5, 2, 1, -2, None, True)),
        ("global_pairwise_align", (3, 1, ASYMMETRIC)),
        ("local_pairwise_align_nucleotide", ()),
        ("local_pairwise_align", (4, 2, ASYMMETRIC)),
    ],
)
def test_batched_equals_one_at_a_time(function: str, arguments: tuple) -> None:
    """Many queries of mixed lengths in one call = one call per query (no scikit-bio needed)."""
    rng = random.Random(30)
    reference = random_dna(rng, 70)
    queries = [mutate(rng, reference[rng.randint(0, 30) :]) for _ in range(150)]
    queries += [random_dna(rng, rng.randint(0, 90)) for _ in range(100)] + ["", "A"]
    single: Callable[..., Any] = getattr(compat, function)
    many: Callable[..., Any] = getattr(compat, f"{function}_many")
    expected = [single(query, reference, *arguments, as_strings=True) for query in queries]
    for lanes in (1, 7, 64):
        assert many(queries, reference, *arguments, as_strings=True, lanes=lanes) == expected


def test_gap_characters_rna_and_metadata(skbio: Any) -> None:
    """Gap characters in an input score 0; RNA stays RNA; metadata is carried over."""
    old = skbio.alignment.global_pairwise_align_nucleotide
    new = compat.global_pairwise_align_nucleotide
    first = skbio.DNA("AC-GT.ACCA", metadata={"id": "read1"})
    second = skbio.DNA("ACGTTACA", metadata={"id": "ref"})
    for penalize in (False, True):
        expected = old(first, second, penalize_terminal_gaps=penalize)
        actual = new(first, second, penalize_terminal_gaps=penalize)
        assert normalized(actual) == normalized(expected)
        assert [row.metadata for row in actual[0]] == [{"id": "read1"}, {"id": "ref"}]
    expected = old(skbio.RNA("ACGUUAGU"), skbio.RNA("ACGUAGGU"))
    actual = new(skbio.RNA("ACGUUAGU"), skbio.RNA("ACGUAGGU"))
    assert normalized(actual) == normalized(expected)
    assert actual[0].dtype is skbio.RNA
    assert type(actual[1]) is type(expected[1])
    single = compat.global_pairwise_align_nucleotide(skbio.TabularMSA([first]), second)
    assert normalized(single) == normalized(old(first, second))


def test_result_types_match_scikit_bio(skbio: Any) -> None:
    for function in ("global_pairwise_align_nucleotide", "local_pairwise_align_nucleotide"):
        expected = getattr(skbio.alignment, function)(skbio.DNA("ACGTAC"), skbio.DNA("CGTA"))
        actual = getattr(compat, function)(skbio.DNA("ACGTAC"), skbio.DNA("CGTA"))
        assert isinstance(actual, tuple) and isinstance(actual[0], skbio.TabularMSA)
        assert type(actual[1]) is type(expected[1])
        assert [type(value) for pair in actual[2] for value in pair] == [
            type(value) for pair in expected[2] for value in pair
        ]


def test_result_object_without_scikit_bio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compat, "_skbio", lambda: None)
    result = compat.global_pairwise_align_nucleotide(
        "ACGTTGCA", "ACGTGCA", penalize_terminal_gaps=True
    )
    assert isinstance(result, compat.PairwiseAlignment)
    msa, score, positions = result
    assert msa == ("ACGTTGCA", "ACGT-GCA") == result.msa
    assert score == 2.0 == result.score
    assert positions == [(0, 7), (0, 6)] == result.start_end_positions
    local = compat.local_pairwise_align_nucleotide("AAAA", "CCCC")
    assert local == (("", ""), 0.0, [(0, -1), (0, -1)])


def test_character_outside_the_matrix_raises_like_scikit_bio(skbio: Any) -> None:
    with pytest.raises(ValueError):
        skbio.alignment.global_pairwise_align_nucleotide(skbio.DNA("ACGNT"), skbio.DNA("ACGT"))
    with pytest.raises(ValueError, match=r"read7: invalid character 'N' at position 4") as error:
        compat.global_pairwise_align_nucleotide(
            skbio.DNA("ACGNT", metadata={"id": "read7"}), skbio.DNA("ACGT")
        )
    assert isinstance(error.value, InvalidSequenceError)
    assert (error.value.sequence, error.value.character, error.value.position) == ("read7", "N", 4)
    assert "ambiguous=" in str(error.value)
    with pytest.raises(InvalidSequenceError, match=r"seq2: invalid character 'R' at position 3"):
        compat.local_pairwise_align("ACGT", "ACRT", 5, 2, ASYMMETRIC)
    with pytest.raises(InvalidSequenceError, match=r"queries\[1\]: .*'Y' at position 2"):
        compat.global_pairwise_align_nucleotide_many(["ACGT", "AYGT"], "ACGT")
    # scikit-bio looks nothing up when one side is empty, and neither do we.
    assert compat.global_pairwise_align_nucleotide("NNN", "", as_strings=True).score == 0.0
    with pytest.raises(InvalidSequenceError, match="not an IUPAC nucleotide code"):
        compat.global_pairwise_align_nucleotide("ACXT", "ACGT", ambiguous="score0")


@pytest.mark.parametrize("policy", ["score0", "mismatch", "iupac"])
def test_ambiguity_opt_in_scores_by_the_policy(skbio: Any, policy: str) -> None:
    """``ambiguous=`` equals scikit-bio given a matrix filled in by the same policy."""
    from streamalign import Scoring
    from streamalign.alphabet import LETTERS

    scoring = Scoring(match=2, mismatch=-3, ambiguous=policy)
    filled = {
        first: {second: scoring.score_of(row, column) for column, second in enumerate(LETTERS)}
        for row, first in enumerate(LETTERS)
    }
    rng = random.Random(40)
    pairs = [
        (
            "".join(rng.choice("ACGTNRYKM") for _ in range(rng.randint(1, 25))),
            "".join(rng.choice("ACGTNS") for _ in range(rng.randint(1, 25))),
        )
        for _ in range(40)
    ]
    for penalize in (False, True):
        expected = [
            skbio.alignment.global_pairwise_align(
                skbio.DNA(a), skbio.DNA(b), 5, 2, filled, penalize
            )
            for a, b in pairs
        ]
        actual = [
            compat.global_pairwise_align_nucleotide(
                a, b, 5, 2, 2, -3, None, penalize, ambiguous=policy
            )
            for a, b in pairs
        ]
        assert_same(expected, actual, pairs)


def test_type_checks_like_scikit_bio(skbio: Any) -> None:
    with pytest.raises(TypeError, match="same type"):
        compat.global_pairwise_align_nucleotide(skbio.DNA("ACGT"), skbio.RNA("ACGU"))
    with pytest.raises(TypeError):
        compat.global_pairwise_align_nucleotide(skbio.Protein("PEPTIDE"), skbio.DNA("ACGT"))
    with pytest.raises(TypeError):
        compat.global_pairwise_align_nucleotide(12, "ACGT")
    with pytest.raises(NotImplementedError):
        compat.global_pairwise_align_nucleotide(
            skbio.TabularMSA([skbio.DNA("ACGT"), skbio.DNA("ACGA")]), skbio.DNA("ACGT")
        )


# --- recurrence="skbio" through the Aligner ---------------------------------------------------


def full_rows(alignment: Any) -> list[str]:
    """The Aligner's alignment with its free end gaps put back, as scikit-bio's rows show."""
    query, reference = alignment.query, alignment.reference
    query_start, query_end = alignment.query_start, alignment.query_end
    reference_start, reference_end = alignment.reference_start, alignment.reference_end
    top = (
        query[:query_start]
        + "-" * reference_start
        + alignment.gapped_query
        + query[query_end:]
        + "-" * (len(reference) - reference_end)
    )
    bottom = (
        "-" * query_start
        + reference[:reference_start]
        + alignment.gapped_reference
        + "-" * (len(query) - query_end)
        + reference[reference_end:]
    )
    return [top, bottom]


@pytest.mark.parametrize(
    ("mode", "scores"),
    [
        ("global", {}),
        ("global", {"gap_open": 2.5, "gap_extend": 0.5, "match": 1.5, "mismatch": -1}),
        ("overlap", {}),
        ("overlap", {"gap_open": 3, "gap_extend": 0.5, "match": 2, "mismatch": -2.5}),
        ("local", {"match": 2, "mismatch": -3}),
        ("local", {"gap_open": 2.5, "gap_extend": 0.5, "match": 1.5, "mismatch": -1}),
    ],
)
def test_aligner_skbio_recurrence_matches_scikit_bio(skbio: Any, mode: str, scores: dict) -> None:
    """``Aligner(..., recurrence="skbio").align(query)`` = scikit-bio's (query, reference)."""
    rng = random.Random(50)
    reference = random_dna(rng, 26)
    queries = [
        mutate(rng, reference[rng.randint(0, 6) : rng.randint(20, 26)], 0.1) for _ in range(30)
    ]
    queries += [random_dna(rng, rng.randint(0, 30)) for _ in range(10)] + [""]
    aligner = Aligner(reference, mode, recurrence="skbio", lanes=16, **scores)
    batch = aligner.align_many(queries)
    score_only = aligner.align_many(queries, traceback=False)
    parameters = (
        scores.get("gap_open", 5),
        scores.get("gap_extend", 2),
        scores.get("match", 1),
        scores.get("mismatch", -2),
    )
    for number, query in enumerate(queries):
        if mode == "local":
            expected = skbio.alignment.local_pairwise_align_nucleotide(
                skbio.DNA(query), skbio.DNA(reference), *parameters
            )
        else:
            expected = skbio.alignment.global_pairwise_align_nucleotide(
                skbio.DNA(query),
                skbio.DNA(reference),
                *parameters,
                penalize_terminal_gaps=mode == "global",
            )
        rows, score, positions = normalized(expected)
        alignment = batch[number]
        assert alignment.score == score
        if mode == "overlap":
            assert full_rows(alignment) == rows
        else:
            assert [alignment.gapped_query, alignment.gapped_reference] == rows
            assert positions == [
                (alignment.query_start, alignment.query_end - 1),
                (alignment.reference_start, alignment.reference_end - 1),
            ]
        # Counts and spans agree with the operations.
        columns = len(alignment.operations)
        matches, mismatches, insertions, deletions = (
            alignment.operations.count(letter) for letter in "=XID"
        )
        assert (alignment.matches, alignment.mismatches) == (matches, mismatches)
        assert (alignment.insertions, alignment.deletions) == (insertions, deletions)
        assert alignment.query_end - alignment.query_start == columns - deletions
        assert alignment.reference_end - alignment.reference_start == columns - insertions
        assert score_only[number].score == score
        assert score_only[number].query_end == alignment.query_end
        assert score_only[number].reference_end == alignment.reference_end


def test_aligner_modes_scikit_bio_cannot_express() -> None:
    with pytest.raises(ScoringError, match="semiglobal"):
        Aligner("ACGT", "semiglobal", recurrence="skbio")
    with pytest.raises(ScoringError):
        Aligner("ACGT", "global", recurrence="skbio", query_end_free=True)
    overlap = Aligner(
        "ACGT",
        "global",
        recurrence="skbio",
        query_start_free=True,
        query_end_free=True,
        reference_start_free=True,
        reference_end_free=True,
    )
    assert legacy.settings_for(overlap.mode, overlap.flags) == legacy.LegacySettings(
        False, False, True
    )


def test_aligner_skbio_recurrence_other_paths() -> None:
    """Both strands, several references, ambiguity codes and the memory budget."""
    aligner = Aligner({"one": "ACGTACGTTA", "two": "TTGCAGGTAC"}, recurrence="skbio")
    reverse = "TAACGTACGT"  # reverse complement of reference "one"
    batch = aligner.align_many(["ACGTACGTTA", reverse, "ACGNACGTTA"], strand="both")
    assert batch.scores.tolist() == [10.0, 10.0, 9.0]
    assert batch.reverse.tolist() == [False, True, False]
    assert [batch[k].reference_name for k in range(3)] == ["one", "one", "one"]
    everything = aligner.align_many(["ACGTACGTTA"], all_references=True)
    assert everything.reference_index.tolist() == [0, 1]
    small = Aligner("ACGT" * 50, recurrence="skbio", memory_budget=1000)
    with pytest.raises(AlignmentTooLargeError):
        small.align("ACGT" * 10)
    assert small.align_many(["ACGT" * 10], traceback=False).scores.tolist() == [-283.0]


def test_kernel_releases_the_gil() -> None:
    """Threads running the kernel at once give the same results as one after the other."""
    rng = random.Random(60)
    reference = random_dna(rng, 64)
    chunks = [[random_dna(rng, 64) for _ in range(200)] for _ in range(4)]
    aligner = Aligner(reference, recurrence="skbio")
    expected = [aligner.align_many(chunk).cigars() for chunk in chunks]
    with ThreadPoolExecutor(max_workers=4) as executor:
        actual = list(executor.map(lambda chunk: aligner.align_many(chunk).cigars(), chunks))
    assert actual == expected


def test_computation_type_is_exact() -> None:
    table = np.full((17, 17), -2.0)
    assert legacy.computation_type(table, 5, 2, 200) == (np.float32, 1.0)
    assert legacy.computation_type(table, 2.5, 0.25, 200) == (np.float32, 4.0)
    assert legacy.computation_type(table, 5, 2, 10**7) == (np.float64, 1.0)
    assert legacy.computation_type(table, 0.1, 2, 200) == (np.float64, 1.0)
    with pytest.raises(ScoringError):
        legacy.computation_type(table, float("inf"), 2, 10)
