"""The Aligner's behaviour around the kernel: one-at-a-time vs batch, strands, several
references, score-only runs, input validation and errors, the memory budget."""

from __future__ import annotations

import random

import numpy as np
import pytest

from streamalign import (
    Aligner,
    AlignmentTooLargeError,
    InvalidSequenceError,
    Scoring,
    ScoringError,
    SequenceBatch,
    StreamAlignError,
    align,
)
from streamalign.aligner import MODES
from streamalign.alphabet import decode, encode_string, reverse_complement_codes
from streamalign.kernels import planning
from test_alignment_reference import (
    check_invariants,
    kernel_result,
    make_references_and_queries,
    random_sequence,
    slow_result,
)


def reverse_complement(sequence: str) -> str:
    return decode(reverse_complement_codes(encode_string(sequence)))


def as_tuple(alignment):
    return (
        alignment.score,
        alignment.query_start,
        alignment.query_end,
        alignment.reference_start,
        alignment.reference_end,
        alignment.operations,
        alignment.matches,
        alignment.mismatches,
        alignment.insertions,
        alignment.deletions,
        alignment.reference_name,
        alignment.reverse,
        alignment.query,
    )


@pytest.fixture(scope="module")
def pairs() -> tuple[list[str], list[str]]:
    return make_references_and_queries(seed=99, reference_count=3, query_count=24, max_length=90)


@pytest.mark.parametrize("mode", list(MODES))
def test_align_many_equals_align_one_at_a_time(pairs, mode):
    references, queries = pairs
    for reference in references:
        aligner = Aligner(reference, mode, match=2, mismatch=-3, gap_open=3, gap_extend=1)
        batch = aligner.align_many(queries)
        singles = [aligner.align(query) for query in queries]
        assert [as_tuple(alignment) for alignment in batch] == [
            as_tuple(alignment) for alignment in singles
        ]


def test_module_level_align_is_aligner_align():
    alignment = align("ACGTTGCA", "ACGTGCA", mode="global", gap_open=3, gap_extend=1)
    expected = Aligner("ACGTGCA", gap_open=3, gap_extend=1).align("ACGTTGCA")
    assert as_tuple(alignment) == as_tuple(expected)
    assert align("TTTTACGTACGTTTTT", "GGACGTACGTGG", mode="local", match=2, mismatch=-3).cigar == (
        "8="
    )


@pytest.mark.parametrize("mode", list(MODES))
def test_score_only_gives_the_same_scores_and_ends(pairs, mode):
    references, queries = pairs
    aligner = Aligner(references[2], mode)
    full = aligner.align_many(queries)
    scores_only = aligner.align_many(queries, traceback=False)
    assert np.array_equal(full.integer_scores, scores_only.integer_scores)
    assert np.array_equal(full.query_ends, scores_only.query_ends)
    assert np.array_equal(full.reference_ends, scores_only.reference_ends)
    assert not scores_only.has_alignment
    assert (scores_only.query_starts == 0).all() and (scores_only.reference_starts == 0).all()
    assert scores_only.cigars() == [""] * len(queries)


def test_strand_both_picks_the_reverse_complement_when_it_scores_higher():
    rng = random.Random(8)
    reference = random_sequence(rng, 120)
    forward_read = reference[30:80]
    reverse_read = reverse_complement(reference[10:70])
    palindrome = "ACGTACGT"  # its own reverse complement: a tie keeps the forward strand
    aligner = Aligner(reference, "semiglobal")
    queries = [forward_read, reverse_read, palindrome]
    batch = aligner.align_many(queries, names=["fwd", "rev", "pal"], strand="both")
    check_invariants(batch, aligner)
    assert batch.reverse.tolist() == [False, True, False]
    forward, reverse, tie = batch
    assert (forward.cigar, forward.reference_start) == ("50=", 30)
    assert (reverse.cigar, reverse.reference_start, reverse.reference_end) == ("60=", 10, 70)
    assert reverse.reverse and reverse.query == reference[10:70]
    assert reverse.query_name == "rev"
    assert reverse.score == aligner.align(reference[10:70]).score
    assert reverse.score > aligner.align(reverse_read).score
    assert not tie.reverse and tie.query == palindrome
    # strand="forward" never reverses.
    assert not aligner.align_many(queries, strand="forward").reverse.any()
    with pytest.raises(ValueError, match="strand"):
        aligner.align_many(queries, strand="reverse")


def test_strand_both_keeps_qualities_with_their_bases():
    reference = "GGGGGAAACCCTTTGGGGG"
    read = reverse_complement("AAACCCTTT")
    batch = SequenceBatch.from_strings([read], names=["r"], qualities=["ABCDEFGHI"])
    result = Aligner(reference, "semiglobal").align_many(batch, strand="both")
    assert result[0].reverse
    assert result.queries.quality(0) == "IHGFEDCBA"
    assert result[0].query == "AAACCCTTT"


def test_several_references_best_wins_and_ties_go_to_the_first():
    rng = random.Random(4)
    first, second = random_sequence(rng, 80), random_sequence(rng, 80)
    references = [("first", first), ("second", second), ("copy", second)]
    aligner = Aligner(references, "semiglobal")
    queries = [first[10:50], second[5:60], random_sequence(rng, 30)]
    batch = aligner.align_many(queries)
    check_invariants(batch, aligner)
    assert [alignment.reference_name for alignment in list(batch)[:2]] == ["first", "second"]
    # "second" and "copy" are identical: the tie goes to the first of them.
    assert batch.reference_index.tolist()[:2] == [0, 1]
    for record, query in enumerate(queries):
        best = max(
            (Aligner(sequence, "semiglobal").align(query).score, -number)
            for number, (_, sequence) in enumerate(references)
        )
        assert (batch[record].score, -int(batch.reference_index[record])) == best
    # A dict of references and a list of plain sequences work too.
    assert Aligner({"a": first, "b": second}).reference_names == ["a", "b"]
    assert Aligner([first, second]).reference_names == ["reference0", "reference1"]


@pytest.mark.parametrize("strand", ["forward", "both"])
def test_all_references_is_query_major(strand):
    rng = random.Random(12)
    references = [random_sequence(rng, length) for length in (40, 0, 70)]
    queries = [references[0][5:30], reverse_complement(references[2][10:60]), "", "ACGTN"]
    aligner = Aligner(references, "semiglobal")
    batch = aligner.align_many(queries, all_references=True, strand=strand)
    check_invariants(batch, aligner)
    assert len(batch) == len(queries) * len(references)
    for record, alignment in enumerate(batch):
        query_number, reference_number = divmod(record, len(references))
        assert int(batch.reference_index[record]) == reference_number
        assert alignment.query_name == f"sequence {query_number}"
        single = Aligner(references[reference_number], "semiglobal").align_many(
            [queries[query_number]], strand=strand
        )[0]
        assert as_tuple(alignment)[:-3] == as_tuple(single)[:-3]
        assert (alignment.reverse, alignment.query) == (single.reverse, single.query)
    if strand == "both":
        assert batch[1 * len(references) + 2].reverse  # query 1 against reference 2


def test_all_references_with_both_strands_shows_each_records_own_strand():
    # Regression: with all_references=True and strand="both", a record aligned on the forward
    # strand showed the reverse-complemented query when another reference chose the reverse.
    query = "AAAACCCCGGGTTTAGC"
    references = [("r0", "TT" + reverse_complement(query) + "TT"), ("r1", "TT" + query + "TT")]
    aligner = Aligner(references, "semiglobal")
    batch = aligner.align_many([query], all_references=True, strand="both")
    check_invariants(batch, aligner)
    on_r0, on_r1 = batch
    assert (on_r0.reverse, on_r0.query, on_r0.cigar) == (True, reverse_complement(query), "17=")
    assert (on_r1.reverse, on_r1.query, on_r1.cigar) == (False, query, "17=")
    assert on_r1.gapped_query == on_r1.gapped_reference == query


def test_invalid_query_names_the_sequence_character_and_position():
    aligner = Aligner("ACGT")
    with pytest.raises(InvalidSequenceError) as caught:
        aligner.align_many(["ACGT", "ACGT", "AC!T"], names=["a", "b", "read7"])
    error = caught.value
    assert (error.sequence, error.character, error.position) == ("read7", "!", 3)
    assert str(error).startswith("read7: invalid character '!' at position 3")
    with pytest.raises(
        InvalidSequenceError,
        match=r"^sequence 1: invalid character 'X' at "
        r"position 5",
    ):
        aligner.align_many(["ACGT", "ACGTX"])
    with pytest.raises(InvalidSequenceError, match="position 1"):
        aligner.align("-ACGT", name="gapped")
    batch = SequenceBatch.from_strings(["ACGT", "AC GT"], first_record=1000)
    with pytest.raises(
        InvalidSequenceError,
        match=r"^sequence 1001: invalid character ' ' at "
        r"position 3",
    ):
        aligner.align_many(batch)
    assert isinstance(error, StreamAlignError) and isinstance(error, ValueError)


def test_invalid_reference_is_named():
    with pytest.raises(InvalidSequenceError, match=r"^chr1: invalid character '\*' at position 4"):
        Aligner([("chr1", "ACG*T")])
    with pytest.raises(InvalidSequenceError, match=r"^reference: invalid character 'J'"):
        Aligner("ACGJ")


def test_u_is_read_as_t_and_lower_case_is_accepted():
    alignment = Aligner("ACGTACGT").align("acguACGU")
    assert (alignment.score, alignment.cigar) == (8.0, "8=")
    assert Aligner("acgtnacgt").align("ACGTNACGT").cigar == "4=1X4="  # N is never '='
    assert Aligner("uuuu").align("TTTT").cigar == "4="


@pytest.mark.parametrize(
    "options, message",
    [
        ({"gap_open": -1}, "gap_open"),
        ({"gap_extend": -0.5}, "gap_extend"),
        ({"match": -3, "mismatch": -2}, "mismatch"),
        ({"ambiguous": "ignore"}, "ambiguous"),
        ({"matrix": "BLOSUM62"}, "unknown matrix"),
        ({"matrix": [[1, 2], [3, 4]]}, "4x4"),
        ({"recurrence": "needleman"}, "recurrence"),
        ({"match": "one"}, "number"),
        ({"gap_open": float("inf")}, "finite"),
    ],
)
def test_invalid_scoring_raises_scoring_error(options, message):
    with pytest.raises(ScoringError, match=message):
        Aligner("ACGT", **options)
    with pytest.raises(ScoringError, match=message):
        Scoring(**options)


def test_invalid_aligner_options():
    with pytest.raises(ValueError, match="mode"):
        Aligner("ACGT", mode="glocal")
    with pytest.raises(ValueError, match="lanes"):
        Aligner("ACGT", lanes=0)
    with pytest.raises(TypeError):
        Aligner("ACGT", scoring=Scoring(), match=2)
    with pytest.raises(ValueError, match="at least one reference"):
        Aligner([])


def test_pair_over_the_memory_budget_raises():
    aligner = Aligner("ACGT" * 25, "semiglobal", memory_budget=1000)  # 1000 cells
    assert aligner.align("ACGT" * 2).cigar == "8="  # 800 cells fit
    # 2000 cells do not, but the band of diagonals its optimal alignments use does.
    assert aligner.align("ACGT" * 5).cigar == "20="
    # Globally, the 80 reference bases left over force a band of 81 diagonals: too large.
    global_aligner = Aligner("ACGT" * 25, "global", memory_budget=1000)
    with pytest.raises(AlignmentTooLargeError, match=r"^long_read: a 20 x 100 alignment") as caught:
        global_aligner.align_many(["ACGT" * 2, "ACGT" * 5], names=["short", "long_read"])
    assert isinstance(caught.value, StreamAlignError) and isinstance(caught.value, MemoryError)
    # Scores only need no traceback memory.
    assert aligner.align_many(["ACGT" * 5], traceback=False)[0].score == 20


def test_small_budget_with_many_queries_shrinks_the_lanes():
    rng = random.Random(21)
    reference = random_sequence(rng, 100)
    queries = [random_sequence(rng, rng.randint(0, 10)) + reference[20:28] for _ in range(150)]
    roomy = Aligner(reference, "semiglobal").align_many(queries)
    tight_aligner = Aligner(reference, "semiglobal", memory_budget=2000)
    tight = tight_aligner.align_many(queries)
    lengths = np.array([len(query) for query in queries])
    plan = planning.plan_groups(
        lengths, len(reference), lanes=256, memory_budget=2000, traceback=True, score_bytes=2
    )
    assert plan.lanes.max() < 64 and plan.scratch_bytes <= 2000
    assert [kernel_result(tight, k) for k in range(len(queries))] == [
        kernel_result(roomy, k) for k in range(len(queries))
    ]
    for record in range(0, len(queries), 15):
        assert kernel_result(tight, record) == slow_result(
            tight_aligner, queries[record], reference
        )


@pytest.mark.parametrize("all_references", [False, True])
@pytest.mark.parametrize("strand", ["forward", "both"])
def test_empty_batch(strand, all_references):
    batch = Aligner(["ACGT", "GG"]).align_many([], strand=strand, all_references=all_references)
    assert len(batch) == 0 and batch.cigars() == [] and list(batch) == []


def test_scores_only_with_both_strands_picks_the_same_strand():
    rng = random.Random(17)
    reference = random_sequence(rng, 150)
    queries = [reference[20:90], reverse_complement(reference[40:120]), random_sequence(rng, 50)]
    aligner = Aligner(reference, "local")
    full = aligner.align_many(queries, strand="both")
    scores_only = aligner.align_many(queries, strand="both", traceback=False)
    assert full.reverse.tolist() == scores_only.reverse.tolist() == [False, True, False]
    assert np.array_equal(full.integer_scores, scores_only.integer_scores)
    assert np.array_equal(full.reference_ends, scores_only.reference_ends)
