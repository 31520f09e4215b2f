"""The kernel with a reference per SIMD lane against the slow reference and the aligner.

``kernels/multireference.py`` scores many (query, reference) pairs at once, one pair per
lane, on the 8-bit difference recurrence. Its scores must be those of ``kernels/slow.py``
(plain Python, cell by cell) for every non-local end combination, for random scorings that
compare codes (one match, one mismatch, one score for ambiguity codes) and random matrices
that do not, empty queries and references, ambiguity codes on both sides, lanes of different
lengths and passes past ``PASS_LANES``; and on real reads and genes those of the aligner's
own kernels.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamalign import Aligner
from streamalign.alphabet import encode_string
from streamalign.kernels import differences, multireference
from streamalign.kernels.inputs import EndFlags
from streamalign.kernels.slow import align_pair
from test_alignment_reference import mutate
from test_search import gene_fragments, real_genes, real_reads

NOT_LOCAL = [EndFlags(value) for value in range(16)]


def _scoring(match: int, mismatch: int, other: int, structured: bool, seed: int) -> np.ndarray:
    """One match and mismatch among A, C, G, T and ``other`` for the rest (``structured``:
    the kernel compares codes), or that with random changes (the kernel looks scores up)."""
    substitution = np.full((16, 16), other, dtype=np.int64)
    substitution[:4, :4] = mismatch
    np.fill_diagonal(substitution[:4, :4], match)
    if not structured:
        rng = np.random.default_rng(seed)
        low, high = min(mismatch, other), max(match, other)
        substitution += rng.integers(-1, 2, (16, 16))
        substitution = np.clip(substitution, low, high)
    return substitution


def _codes(sequence: str) -> np.ndarray:
    return encode_string(sequence) if sequence else np.zeros(0, np.uint8)


def _check(queries, pairs, substitution, gap_open, gap_extend, flags) -> None:  # type: ignore[no-untyped-def]
    query_codes = [_codes(query) for query in queries]
    reference_codes = [_codes(reference) for _, reference in pairs]
    query_offsets = np.concatenate([[0], np.cumsum([len(codes) for codes in query_codes])])
    lengths = np.array([len(codes) for codes in reference_codes], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    joined_queries = np.concatenate([*query_codes, np.zeros(0, np.uint8)])
    joined_references = np.concatenate([*reference_codes, np.zeros(0, np.uint8)])
    scores = multireference.score_pairs(
        joined_queries,
        query_offsets,
        np.array([query for query, _ in pairs], dtype=np.int64),
        joined_references,
        starts,
        lengths,
        substitution,
        gap_open,
        gap_extend,
        flags,
    )
    ends = (
        bool(flags & EndFlags.QUERY_START_FREE),
        bool(flags & EndFlags.QUERY_END_FREE),
        bool(flags & EndFlags.REFERENCE_START_FREE),
        bool(flags & EndFlags.REFERENCE_END_FREE),
    )
    for number, (query, _) in enumerate(pairs):
        expected = align_pair(
            query_codes[query],
            reference_codes[number],
            substitution,
            np.eye(16),
            gap_open,
            gap_extend,
            *ends,
        ).score
        assert scores[number] == expected, (number, queries[query], pairs[number][1])


@st.composite
def _cases(draw):  # type: ignore[no-untyped-def]
    match = draw(st.integers(1, 5))
    mismatch = draw(st.integers(-6, 0))
    other = draw(st.integers(mismatch, match))
    gap_open = draw(st.integers(0, 12))
    gap_extend = draw(st.integers(0, gap_open))
    structured = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    substitution = _scoring(match, mismatch, other, structured, seed)
    flags = draw(st.sampled_from(NOT_LOCAL))
    letters = draw(st.sampled_from(["ACGT", "ACGTN", "ACGTRYN"]))
    sequence = st.text(alphabet=letters, min_size=0, max_size=30)
    queries = draw(st.lists(sequence, min_size=1, max_size=4))
    rng = random.Random(seed)
    pairs = []
    for _ in range(draw(st.integers(0, 40))):
        query = rng.randrange(len(queries))
        if rng.random() < 0.5 and queries[query]:
            # A reference holding a mutated piece of its query (high scores, long runs).
            start = rng.randrange(len(queries[query]))
            piece = queries[query][start:]
            flank = "".join(rng.choice(letters) for _ in range(rng.randrange(6)))
            reference = mutate(rng, flank + piece + flank[::-1], 0.1, 0.0)
        else:
            reference = "".join(rng.choice(letters) for _ in range(rng.randrange(41)))
        pairs.append((query, reference))
    return queries, pairs, substitution, gap_open, gap_extend, flags


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cases())
def test_scores_equal_the_slow_reference(case) -> None:  # type: ignore[no-untyped-def]
    queries, pairs, substitution, gap_open, gap_extend, flags = case
    if not differences.fits(substitution, gap_open, gap_extend, flags):
        with pytest.raises(ValueError, match="do not fit"):
            _check(queries, pairs, substitution, gap_open, gap_extend, flags)
        return
    _check(queries, pairs, substitution, gap_open, gap_extend, flags)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cases(), st.sampled_from([1, 2, 3, 8, 32]))
def test_end_maxima_equal_the_slow_reference_on_every_prefix(case, block) -> None:  # type: ignore[no-untyped-def]
    """Per block of reference columns, the best score of an alignment with the query in full
    ending there: the slow reference's optimum against each prefix of the reference, its
    end fixed (the query's end fixed too, its start and the reference's as the flags say)."""
    queries, pairs, substitution, gap_open, gap_extend, flags = case
    flags |= EndFlags.REFERENCE_END_FREE
    if not differences.fits(substitution, gap_open, gap_extend, flags) or not pairs:
        return
    query_codes = [_codes(query) for query in queries]
    reference_codes = [_codes(reference) for _, reference in pairs]
    query_offsets = np.concatenate([[0], np.cumsum([len(codes) for codes in query_codes])])
    lengths = np.array([len(codes) for codes in reference_codes], dtype=np.int64)
    maxima = np.full((len(pairs), int(lengths.max()) // block + 2), -(2**62), dtype=np.int64)
    scores = multireference.score_pairs(
        np.concatenate([*query_codes, np.zeros(0, np.uint8)]),
        query_offsets,
        np.array([query for query, _ in pairs], dtype=np.int64),
        np.concatenate([*reference_codes, np.zeros(0, np.uint8)]),
        np.cumsum(lengths) - lengths,
        lengths,
        substitution,
        gap_open,
        gap_extend,
        flags,
        block,
        maxima,
    )
    for number, (query, _) in enumerate(pairs):
        reference = reference_codes[number]
        expected = np.full(maxima.shape[1], -(2**62), dtype=np.int64)
        for end in range(len(reference) + 1):
            score = align_pair(
                query_codes[query],
                reference[:end],
                substitution,
                np.eye(16),
                gap_open,
                gap_extend,
                bool(flags & EndFlags.QUERY_START_FREE),
                False,
                bool(flags & EndFlags.REFERENCE_START_FREE),
                False,
            ).score
            expected[end // block] = max(expected[end // block], score)
        assert np.array_equal(maxima[number], expected), (number, block)
        if not flags & EndFlags.QUERY_END_FREE:
            assert scores[number] == expected.max()


def test_end_maxima_need_the_reference_end_free_and_room() -> None:
    codes = encode_string("ACGTAC")
    substitution = _scoring(1, -2, 0, True, 0)
    arguments = (codes, np.array([0, 6]), np.array([0]), codes, np.array([0]), np.array([6]))
    with pytest.raises(ValueError, match="reference's end free"):
        multireference.score_pairs(
            *arguments, substitution, 5, 2, EndFlags.NONE, 4, np.zeros((1, 2), np.int64)
        )
    with pytest.raises(ValueError, match="2 columns"):
        multireference.score_pairs(
            *arguments, substitution, 5, 2, EndFlags(15), 4, np.zeros((1, 1), np.int64)
        )


@pytest.mark.parametrize("structured", [True, False])
@pytest.mark.parametrize("flags", [EndFlags.NONE, EndFlags(15), EndFlags(12), EndFlags(3)])
def test_several_passes_of_mixed_references(structured: bool, flags: EndFlags) -> None:
    """More pairs than one pass holds, references with and without ambiguity codes, of
    every length up to 24."""
    rng = random.Random(7)
    queries = ["".join(rng.choice("ACGT") for _ in range(rng.randrange(1, 16))) for _ in range(9)]
    queries.append("ACGNNTTA")
    pairs = []
    for number in range(multireference.PASS_LANES + 150):
        letters = "ACGTN" if number % 5 == 0 else "ACGT"
        reference = "".join(rng.choice(letters) for _ in range(rng.randrange(25)))
        pairs.append((rng.randrange(len(queries)), reference))
    substitution = _scoring(2, -3, -1, structured, 3)
    _check(queries, pairs, substitution, 5, 2, flags)


@pytest.mark.parametrize("mode", ["global", "semiglobal", "overlap"])
def test_real_reads_against_real_genes_equal_the_aligner(mode: str) -> None:
    """MiSeq reads and mutated gene pieces against real 16S genes (some with ambiguity
    codes): the scores of the aligner's own kernels, read by read."""
    genes = real_genes()
    reads = [sequence for _, sequence in real_reads(4) + gene_fragments(4)]
    aligner = Aligner(genes, mode)
    gene_codes = [_codes(sequence) for _, sequence in genes]
    lengths = np.array([len(codes) for codes in gene_codes], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    joined = np.concatenate(gene_codes)
    query_codes = [_codes(read) for read in reads]
    query_offsets = np.concatenate([[0], np.cumsum([len(codes) for codes in query_codes])])
    rng = np.random.default_rng(1)
    chosen = [rng.choice(len(genes), size=30, replace=False) for _ in reads]
    scores = multireference.score_pairs(
        np.concatenate(query_codes),
        query_offsets,
        np.repeat(np.arange(len(reads)), 30),
        joined,
        starts[np.concatenate(chosen)],
        lengths[np.concatenate(chosen)],
        aligner.scoring.integer_matrix,
        int(aligner.scoring.integer_gap_open),
        int(aligner.scoring.integer_gap_extend),
        aligner.flags,
    )
    for number in range(len(reads)):
        expected = aligner._scores_against(query_codes[number], chosen[number], "read")
        assert np.array_equal(scores[number * 30 : (number + 1) * 30], expected)


def test_bad_arguments_are_refused() -> None:
    codes = encode_string("ACGT")
    substitution = _scoring(1, -2, 0, True, 0)
    with pytest.raises(ValueError, match="do not fit"):
        multireference.score_against(
            codes, codes, np.array([0]), np.array([4]), substitution, 5, 2, EndFlags.LOCAL
        )
    with pytest.raises(ValueError, match="outside reference_codes"):
        multireference.score_against(
            codes, codes, np.array([1]), np.array([4]), substitution, 5, 2, EndFlags.NONE
        )
    with pytest.raises(ValueError, match="outside query_offsets"):
        multireference.score_pairs(
            codes,
            np.array([0, 4]),
            np.array([1]),
            codes,
            np.array([0]),
            np.array([4]),
            substitution,
            5,
            2,
            EndFlags.NONE,
        )
