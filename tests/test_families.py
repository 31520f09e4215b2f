"""Families of near-identical references (``streamalign.search.families``).

The edit distance is checked against a plain dynamic program, the events against the
sequences they describe (applied to the member, they give its representative), the windowed
event cost against a brute force over every stretch, and the grouping on mutants of real
genes (``tests/data``): a gene's mutants share a family whose consensus is the gene itself.
The bound the search draws from a family is checked in ``test_search_bounds.py``.
"""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from streamalign.alphabet import LETTERS, encode_string
from streamalign.scoring import Scoring
from streamalign.search.families import (
    MEMBER_ONLY,
    REPRESENTATIVE_ONLY,
    SUBSTITUTION,
    Families,
    _edit_distance,
    edit_events,
    event_costs,
    find_families,
    kept_span_costs,
    priced_events,
    substitution_costs,
)
from test_alignment_reference import mutate, random_sequence
from test_search import real_genes


def levenshtein(first: str, second: str) -> int:
    row = list(range(len(second) + 1))
    for i, letter in enumerate(first, 1):
        previous, row[0] = row[:], i
        for j, other in enumerate(second, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (letter != other))
    return row[-1]


def codes_of(text: str) -> np.ndarray:
    return encode_string(text) if text else np.zeros(0, dtype=np.uint8)


def edited(rng: random.Random, text: str, edits: int) -> str:
    letters = list(text)
    for _ in range(edits):
        roll = rng.random()
        if roll < 0.4 and letters:
            letters[rng.randrange(len(letters))] = rng.choice("ACGTN")
        elif roll < 0.7:
            place = rng.randint(0, len(letters))
            letters[place:place] = random_sequence(rng, rng.randint(1, 3))
        elif letters:
            place = rng.randrange(len(letters))
            del letters[place : place + rng.randint(1, 3)]
    return "".join(letters)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(0, 60), edits=st.integers(0, 14))
def test_edit_distance_is_levenshtein_within_the_limit(seed, length, edits):
    rng = random.Random(seed)
    first = random_sequence(rng, length)
    second = edited(rng, first, edits)
    expected = levenshtein(first, second)
    buffer = np.empty(41 * 83, dtype=np.int32)
    for limit in (40, 3):
        found = _edit_distance(codes_of(first), codes_of(second), limit, buffer, 0.0)
        assert found == (expected if expected <= limit else -1)


def applied(member: str, representative: str, positions, values) -> str:
    """The member with its events undone: the representative (its own letters where a run
    only it holds is, which the events do not record)."""
    pieces, at, taken = [], 0, 0
    for position, value in zip(positions.tolist(), values.tolist(), strict=True):
        pieces.append(member[at:position])
        taken += position - at
        at = position
        kind, length = value & 3, value >> 2
        if kind == SUBSTITUTION:
            assert member[at] == LETTERS[(value >> 2) & 15]
            pieces.append(LETTERS[(value >> 6) & 15])
            at += 1
            taken += 1
        elif kind == MEMBER_ONLY:
            at += length
        else:
            assert kind == REPRESENTATIVE_ONLY
            pieces.append(representative[taken : taken + length])
            taken += length
        taken = len("".join(pieces))
    pieces.append(member[at:])
    return "".join(pieces)


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(1, 80), edits=st.integers(0, 12))
def test_events_turn_the_member_into_its_representative(seed, length, edits):
    rng = random.Random(seed)
    representative = random_sequence(rng, length)
    member = edited(rng, representative, edits)
    positions, values = edit_events(codes_of(member), codes_of(representative))
    assert applied(member, representative, positions, values) == representative
    assert np.all(np.diff(positions) >= 0)
    # Runs merged: no two member-only runs touch, no two representative-only runs share a place.
    kinds = values & 3
    for first in range(len(positions) - 1):
        if kinds[first] == kinds[first + 1] == REPRESENTATIVE_ONLY:
            assert positions[first] != positions[first + 1]
        if kinds[first] == kinds[first + 1] == MEMBER_ONLY:
            assert positions[first] + (values[first] >> 2) != positions[first + 1]
    # At most one event per edit of a shortest script.
    assert len(positions) <= levenshtein(member, representative)


def brute_force_cost(positions, values, window, costs, positive, gap_open, gap_extend) -> int:
    """The most the events touching any stretch of ``window`` member letters cost."""

    def cost(value: int) -> int:
        kind, length = value & 3, value >> 2
        gap = max(gap_open + (length - 1) * gap_extend, length * gap_extend)
        if kind == SUBSTITUTION:
            return int(costs[(value >> 2) & 15, (value >> 6) & 15])
        return length * positive + gap if kind == MEMBER_ONLY else gap

    best = 0
    last = int(positions.max()) if len(positions) else 0
    for start in range(-window, last + 1):
        total = 0
        for position, value in zip(positions.tolist(), values.tolist(), strict=True):
            end = position + ((value >> 2) if value & 3 == MEMBER_ONLY else 1)
            if position < start + window and end > start:
                total += cost(value)
        best = max(best, total)
    return best


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    window=st.integers(1, 40),
    gap_open=st.integers(0, 8),
    gap_extend=st.integers(0, 4),
)
def test_event_cost_is_the_costliest_stretch(seed, window, gap_open, gap_extend):
    rng = random.Random(seed)
    representative = random_sequence(rng, rng.randint(20, 120))
    member = edited(rng, representative, rng.randint(0, 20))
    positions, values = edit_events(codes_of(member), codes_of(representative))
    costs = substitution_costs(Scoring(match=2, mismatch=-3).integer_matrix)
    found = event_costs(
        np.array([0]),
        np.array([window]),
        np.array([0, len(positions)]),
        positions,
        values,
        costs,
        2,
        gap_open,
        gap_extend,
    )
    expected = brute_force_cost(positions, values, window, costs, 2, gap_open, gap_extend)
    # The kernel takes a member-only run wherever it starts within a run's length of the
    # stretch: never less than the brute force, and equal when no run is longer than 1.
    assert found[0] >= expected
    if not np.any((values & 3 == MEMBER_ONLY) & (values >> 2 > 1)):
        assert found[0] == expected
    # The search's kept worths per span: the window's when the span is the window plus the
    # longest run, at least that for a longer span, and the same when asked again.
    offsets = np.array([0, len(positions)])
    prices, longest, _ = priced_events(offsets, values, costs, 2, gap_open, gap_extend)
    spans = np.array([window + int(longest[0]) - 1, window + int(longest[0]) + 6])
    kept = np.full((1, 2), -1, dtype=np.int32)
    for _ in range(2):
        worths = kept_span_costs(
            np.array([0, 0]), np.array([0, 1]), spans, offsets, positions, prices, kept
        )
        assert worths[0] == found[0] and worths[1] >= found[0]
        assert kept.tolist() == [worths.tolist()]


def test_substitution_costs_are_the_best_gain_over_any_query_letter() -> None:
    scoring = Scoring(match=1, mismatch=-2)
    costs = substitution_costs(scoring.integer_matrix)
    a, c, n = (LETTERS.index(letter) for letter in "ACN")
    assert costs[a, c] == 3 and costs[a, a] == 0
    assert costs[n, a] == 0 - (-2) or costs[n, a] == max(
        int(scoring.integer_matrix[q, n] - scoring.integer_matrix[q, a]) for q in range(15)
    )


def test_mutants_of_a_gene_share_a_family_whose_consensus_is_the_gene() -> None:
    rng = random.Random(5)
    genes = [sequence for _, sequence in real_genes()[:6]]
    references = []
    for gene in genes:
        references += [mutate(rng, gene, 0.015, 0.0) for _ in range(9)]
    references.append(random_sequence(rng, 1400))  # related to nothing
    codes = [encode_string(reference) for reference in references]
    offsets = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum([len(code) for code in codes], out=offsets[1:])
    families = find_families(np.concatenate(codes), offsets, threads=2)
    family_of = families.family_of
    assert family_of[-1] == -1
    for number, gene in enumerate(genes):
        mutants = family_of[number * 9 : (number + 1) * 9]
        assert np.all(mutants == mutants[0]) and mutants[0] >= 0
        start, end = families.consensus_offsets[mutants[0] : mutants[0] + 2]
        consensus = "".join(LETTERS[code] for code in families.consensus_codes[start:end])
        assert levenshtein(consensus, gene) <= 3  # 9 mutants at 1.5% outvote any one
    # Each member's events are its edits against its consensus.
    member = 4
    start, end = families.event_offsets[member : member + 2]
    family = family_of[member]
    consensus = "".join(
        LETTERS[code]
        for code in families.consensus_codes[
            families.consensus_offsets[family] : families.consensus_offsets[family + 1]
        ]
    )
    assert (
        applied(
            references[member],
            consensus,
            families.event_positions[start:end],
            families.event_values[start:end],
        )
        == consensus
    )


def test_no_family_for_a_single_or_unrelated_reference() -> None:
    rng = random.Random(2)
    for references in ([random_sequence(rng, 300)], [random_sequence(rng, 300) for _ in range(4)]):
        codes = [encode_string(reference) for reference in references]
        offsets = np.cumsum([0] + [len(code) for code in codes]).astype(np.int64)
        families = find_families(np.concatenate(codes), offsets)
        assert np.all(families.family_of == -1) and families.family_count == 0
    assert Families.none(3).event_offsets.tolist() == [0, 0, 0, 0]


def test_genes_sharing_conserved_regions_still_find_their_copies() -> None:
    # 120 genes alike in half their letters (as 16S genes of a phylum share conserved
    # regions), each in two copies 3% apart: the conserved k-mers make up about half of every
    # gene's smallest hashes, so seeds met through them join unrelated genes; genes do not
    # meet through hashes that many references hold, and each gene's copies find each other.
    rng = random.Random(11)
    conserved = random_sequence(rng, 300)
    references = []
    for _ in range(120):
        gene = conserved[:150] + random_sequence(rng, 300) + conserved[150:]
        references += [gene, mutate(rng, gene, 0.03, 0.0)]
    codes = [encode_string(reference) for reference in references]
    offsets = np.cumsum([0] + [len(code) for code in codes]).astype(np.int64)
    family_of = find_families(np.concatenate(codes), offsets, threads=2).family_of
    copies = family_of.reshape(-1, 2)
    together = (copies[:, 0] == copies[:, 1]) & (copies[:, 0] >= 0)
    # 119 of 120 here (copies can share fewer than 4 of their 12 hashes by chance); 27
    # when genes met through conserved hashes.
    assert together.sum() >= 108
    gene_of = np.repeat(np.arange(120), 2)
    for family in np.unique(family_of[family_of >= 0]):  # no family holds two genes
        assert len(np.unique(gene_of[family_of == family])) == 1


def test_mutants_of_a_gene_with_hundreds_of_copies_join_its_family() -> None:
    # One real gene in 150 copies a few letters apart (a species many sequencing runs
    # submitted): its k-mers' hashes are in more than 1% of the sketches, and references do
    # not meet through such hashes. Five mutants 5% away keep some of those hashes and get
    # new ones no one holds, so they met nobody; the larger sketch of the last pass (rare
    # hashes among the consensus sequences) finds them their gene's family. The other real
    # genes stay apart from it.
    rng = random.Random(5)
    genes = [sequence for _, sequence in real_genes()]
    abundant = genes[0]
    references = [mutate(rng, abundant, 0.003, 0.0) for _ in range(150)]
    mutants = [mutate(rng, abundant, 0.05, 0.0) for _ in range(5)]
    references += mutants + genes[1:]
    codes = [encode_string(reference) for reference in references]
    offsets = np.cumsum([0] + [len(code) for code in codes]).astype(np.int64)
    family_of = find_families(np.concatenate(codes), offsets, threads=2).family_of
    copies = family_of[:150]
    assert np.all(copies == copies[0]) and copies[0] >= 0
    assert np.all(family_of[150:155] == copies[0])
    others = family_of[155:]
    assert not np.any(others == copies[0])
