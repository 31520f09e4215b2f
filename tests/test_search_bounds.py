"""The search's score bound is never below the exact score (``streamalign.search.bounds``).

For random, mutated and adversarial (repeats, runs of ``N``, ambiguity codes, reads shorter than
k, unrelated sequence) pairs, in every mode, with random scorings: every reference's bound, and
its cluster's bound, are at least the exact optimal score the kernels compute (themselves
checked cell for cell against ``kernels/slow.py`` in ``test_alignment_reference``; a few pairs
here go through the slow reference directly). The interval-cover dynamic program is checked
against a brute-force search over defect placements on short window rows.
"""

from __future__ import annotations

import itertools
import random
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamalign import Aligner, Scoring
from streamalign.aligner import MODES
from streamalign.alphabet import encode, encode_string
from streamalign.kernels.slow import align_pair
from streamalign.records import SequenceBatch
from streamalign.search.bounds import (
    NO_BOUND,
    SPANS,
    BoundModel,
    cover_loss,
    gene_bound,
    grouped_cover_loss,
    span_counts,
)
from streamalign.search.index import build_index
from streamalign.search.searcher import DatabaseSearch
from test_alignment_reference import mutate, random_sequence


def exact_scores(references: list[str], queries: list[str], mode: str, scoring: Scoring):
    """(queries, references) exact integer scores, one reference at a time."""
    table = np.empty((len(queries), len(references)), dtype=np.int64)
    for number, reference in enumerate(references):
        aligner = Aligner(reference, mode, scoring=scoring)
        table[:, number] = aligner.align_many(queries, traceback=False).integer_scores
    return table


def bounds_of(references, queries, mode, scoring, k, cluster_size):
    aligner = Aligner(references, mode, scoring=scoring)
    index = build_index(references, k=k, cluster_size=cluster_size)
    search = DatabaseSearch(index, aligner)
    batch = SequenceBatch.from_strings(queries)
    return search.reference_bounds(encode(batch.sequences), batch.offsets)


def adversarial_set(rng: random.Random, size: int) -> tuple[list[str], list[str]]:
    base = random_sequence(rng, rng.randint(30, 90))
    references = [
        base,
        mutate(rng, base, 0.1, 0.0),
        mutate(rng, base, 0.2, 0.05),
        "N" * rng.randint(1, 20) + base[: len(base) // 2] + "N" * 7 + base[len(base) // 2 :],
        (base[:12] * 8)[: len(base)],  # a repeat of the read's start
        random_sequence(rng, rng.randint(5, 80)),
        random_sequence(rng, 60, "ACGTRYKMSWN"),
        base[::-1],
        # The read's middle against a run of N (longer than k: every window a wildcard),
        # and against short runs with plain letters between them.
        base[: len(base) // 3] + "N" * rng.randint(9, 30) + base[2 * len(base) // 3 :],
        "".join(
            letter if rng.random() < 0.7 else "N" * rng.randint(1, 3)
            for letter in mutate(rng, base, 0.1, 0.05)
        ),
    ][:size]
    queries = [
        base[rng.randint(0, 10) : len(base) - rng.randint(0, 10)],
        mutate(rng, base, 0.05, 0.02),
        mutate(rng, base, 0.3, 0.0),
        base[:6],  # shorter than k
        "ACGT" * 10,
        random_sequence(rng, 40, "ACGTN"),
        "N" * 30,
        base[: len(base) // 3] + random_sequence(rng, 15) + base[len(base) // 3 :],
    ]
    return references, queries


scorings = st.builds(
    lambda match, mismatch, gap_open, extra: Scoring(
        match=match, mismatch=mismatch, gap_open=gap_open + extra, gap_extend=gap_open
    ),
    st.integers(1, 5),
    st.integers(-6, 0),
    st.integers(0, 4),
    st.integers(0, 6),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    mode=st.sampled_from(list(MODES)),
    scoring=scorings,
    k=st.integers(4, 9),
    cluster_size=st.sampled_from([1, 3]),
)
def test_bound_is_never_below_the_exact_score(seed, mode, scoring, k, cluster_size):
    rng = random.Random(seed)
    references, queries = adversarial_set(rng, 10)
    cluster, member = bounds_of(references, queries, mode, scoring, k, cluster_size)
    exact = exact_scores(references, queries, mode, scoring)
    assert np.all(member >= exact), (member - exact).min()
    assert np.all(cluster >= member)


def matrix_scoring(rng: random.Random, matrix: str | None, ambiguous: str) -> Scoring:
    """A scoring with a named matrix, or a random one (``"random"``), and an ambiguity
    policy."""
    if matrix == "random":
        values = np.array([[rng.randint(-5, 6) for _ in range(4)] for _ in range(4)])
        values[np.arange(4), np.arange(4)] = [rng.randint(1, 8) for _ in range(4)]
        return Scoring(matrix=values, ambiguous=ambiguous, gap_open=3, gap_extend=1)
    return Scoring(matrix=matrix, ambiguous=ambiguous, gap_open=4, gap_extend=1)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    mode=st.sampled_from(list(MODES)),
    ambiguous=st.sampled_from(["score0", "mismatch", "iupac"]),
    matrix=st.sampled_from([None, "NUC.4.4", "random"]),
)
def test_bound_holds_for_matrices_and_ambiguity_policies(seed, mode, ambiguous, matrix):
    rng = random.Random(seed)
    scoring = matrix_scoring(rng, matrix, ambiguous)
    references, queries = adversarial_set(rng, 10)
    _, member = bounds_of(references, queries, mode, scoring, 5, 1)
    exact = exact_scores(references, queries, mode, scoring)
    assert np.all(member >= exact)


def test_bound_against_the_slow_reference_and_real_genes():
    """Reads cut from real 16S genes with errors, against those genes and unrelated ones."""
    rng = random.Random(7)
    from test_search import real_genes

    genes = [sequence for _, sequence in real_genes()[:6]]
    queries = []
    for gene in genes[:3]:
        start = rng.randint(0, len(gene) - 120)
        queries.append(mutate(rng, gene[start : start + 120], 0.04, 0.005))
    scoring = Scoring()
    for mode in MODES:
        _, member = bounds_of(genes, queries, mode, scoring, 8, 1)
        exact = exact_scores(genes, queries, mode, scoring)
        assert np.all(member >= exact)
        if mode == "semiglobal":  # the bound is tight enough to prune unrelated genes
            assert np.sum(member < exact.max(axis=1, keepdims=True)) > len(queries)
    # The kernel's exact scores themselves, through the slow reference, on a short pair.
    query, reference = queries[0][:40], genes[0][:300]
    slow = align_pair(
        encode_string(query).tolist(),
        encode_string(reference).tolist(),
        scoring.integer_matrix.tolist(),
        scoring.match_table.tolist(),
        scoring.integer_gap_open,
        scoring.integer_gap_extend,
        *MODES["semiglobal"],
    )
    fast = Aligner(reference, "semiglobal").align_many([query]).integer_scores
    assert slow.score == fast[0]
    _, member = bounds_of([reference], [query], "semiglobal", scoring, 8, 1)
    assert member[0, 0] >= slow.score


def brute_force_cover(absent, k, mismatch, gap_open, gap_extend, s_max, start, end):
    """Cheapest set of defects covering every absent window, by trying every placement (tiny
    rows only): mismatches and deletions at each position, insertion runs, end clips."""
    return brute_force_grouped_cover(
        absent, k, mismatch, gap_open, gap_extend, s_max, start, end, runs=0, run_loss=0
    )


def random_cover_case(rng: random.Random, share: float) -> tuple:
    """A short row of windows (each absent with probability ``share``), the cover's costs
    ``(k, mismatch, gap_open, gap_extend, s_max)`` and whether each query end is free."""
    k = rng.randint(3, 5)
    count = rng.randint(1, 10)
    absent = np.array([rng.random() < share for _ in range(count)], dtype=np.bool_)
    parameters = (k, rng.randint(1, 6), rng.randint(1, 6), rng.randint(0, 2), rng.randint(1, 3))
    return absent, parameters, rng.random() < 0.5, rng.random() < 0.5


@pytest.mark.parametrize("seed", range(40))
def test_cover_loss_is_the_cheapest_cover(seed):
    absent, parameters, start, end = random_cover_case(random.Random(seed), 0.3)
    expected = brute_force_cover(absent, *parameters, start, end)
    found = cover_loss(absent, *parameters, start, end)
    if expected == NO_BOUND:  # needs more than 2 defects: the program finds no 2-defect cover
        assert found > 0
        return
    # Costs are positive, so a 3-defect cover can only beat the best 2-defect one when it
    # is cheaper than it; the program is exact either way: never above a cover found here.
    assert found <= expected
    if expected <= 2 * min(parameters[1], parameters[2], parameters[4]):
        assert found == expected


def brute_force_grouped_cover(
    absent, k, mismatch, gap_open, gap_extend, s_max, start, end, runs, run_loss
):
    """:func:`brute_force_cover` with runs of ambiguous letters as defects too (at most
    ``runs`` of them): any window interval, ``run_loss`` for its first k windows and
    ``min(run_loss, s_max)`` for each further one."""
    count = len(absent)
    needed = {window for window in range(count) if absent[window]}
    options = []
    for position in range(count + k):
        options.append((mismatch, set(range(position - k + 1, position + 1)), 0))
        options.append((gap_open, set(range(position - k + 2, position + 1)), 0))
        for run in range(1, count + 1):
            cost = run * s_max + gap_open + (run - 1) * gap_extend
            options.append((cost, set(range(position - k + 1, position + run)), 0))
        for length in range(1, count + k):
            cost = run_loss + max(length - k, 0) * min(run_loss, s_max)
            options.append((cost, set(range(position - length + 1, position + 1)), 1))
    for length in range(1, count + 1):
        if start:
            options.append((length * s_max, set(range(length)), 0))
        if end:
            options.append((length * s_max, set(range(count - length, count)), 0))
    best = NO_BOUND
    for size in range(0, 3):
        for chosen in itertools.combinations(options, size):
            if sum(group for _, _, group in chosen) > runs:
                continue
            covered = set().union(*(windows for _, windows, _ in chosen)) if chosen else set()
            if needed <= covered:
                best = min(best, sum(cost for cost, _, _ in chosen))
    return best


@pytest.mark.parametrize("seed", range(40))
def test_grouped_cover_loss_is_the_cheapest_cover(seed):
    rng = random.Random(seed)
    absent, parameters, start, end = random_cover_case(rng, 0.4)
    runs, run_loss = rng.randint(0, 2), rng.randint(0, 3)
    expected = brute_force_grouped_cover(absent, *parameters, start, end, runs, run_loss)
    found = grouped_cover_loss(absent, *parameters, start, end, runs, run_loss)
    assert found <= cover_loss(absent, *parameters, start, end)
    if runs == 0:
        assert found == cover_loss(absent, *parameters, start, end)
    if expected == NO_BOUND:
        assert found > 0
        return
    assert found <= expected
    if expected <= 2 * min(parameters[1], parameters[2], parameters[4], max(run_loss, 1)):
        assert found == expected


def test_a_run_of_n_bounds_like_one_letter() -> None:
    """A gene with a run of 70 N, against an unrelated read: the bound counts the run as one
    unit (its first column covers k windows, the others one each), far below what 70 single
    N would allow, and still above the exact score."""
    rng = random.Random(11)
    gene = random_sequence(rng, 1400)
    gene = gene[:600] + "N" * 70 + gene[670:]
    read = random_sequence(rng, 250)
    model = BoundModel.create(Scoring(), k=8, mode_flags=(False, False, True, True))
    per_letter = model.bound(250, 1400, 20, 0b1111, 0b11111, ambiguous_letters=70)
    per_run = model.bound(250, 1400, 20, 0b1111, 0b11111, ambiguous_letters=70, ambiguous_units=1)
    assert per_letter == 250 - 28  # 70 * 8 windows at 1/8: ceil((243 - 20) / 8)
    assert per_run < per_letter - 40
    _, member = bounds_of([gene], [read], "semiglobal", Scoring(), 8, 1)
    exact = exact_scores([gene], [read], "semiglobal", Scoring())
    assert exact[0, 0] <= member[0, 0] <= per_run


@pytest.mark.parametrize("mode", ["global", "semiglobal", "local"])
def test_runs_of_two_n_count_as_runs(mode: str) -> None:
    """A read against itself with ``NN`` every 9 letters, mismatches and gaps dearer than N
    columns: every window touches a run. The grouped count (a run's first column covers 8
    windows at its loss, its second one window) is above the exact score (each N costs 1)
    and close to it; counting every N as covering 8 windows leaves it higher, and counting a
    run's first column as covering fewer windows would put it far below the exact score."""
    rng = random.Random(5)
    read = random_sequence(rng, 160)
    gene = "".join(
        "N" if position % 9 in (3, 4) else letter for position, letter in enumerate(read)
    )
    letters = gene.count("N")
    scoring = Scoring(mismatch=-10, gap_open=20, gap_extend=10)
    cluster, member = bounds_of([gene, gene], [read], mode, scoring, 8, 2)
    exact = exact_scores([gene], [read], mode, scoring)
    assert exact[0, 0] == 160 - letters
    # 153 windows: 18 runs * 8 at 1/8, 9 more at 1.
    assert exact[0, 0] <= member[0, 0] <= cluster[0, 0] <= exact[0, 0] + 9
    model = BoundModel.create(scoring, k=8, mode_flags=(False, False, False, False))
    per_letter = model.bound(160, 160, 0, 0b1111, 0b11111, ambiguous_letters=letters)
    assert per_letter == 160 - 20 > member[0, 0]


@pytest.mark.parametrize("seed", range(30))
def test_span_counts_hold_every_stretch(seed: int) -> None:
    """The most ambiguous letters and runs of any stretch of each span length, against a
    count over every stretch."""
    rng = random.Random(seed)
    pieces = [
        rng.choice("ACGT") if rng.random() < 0.96 else "N" * rng.randint(1, 40)
        for _ in range(rng.randint(1, 2500))
    ]
    sequence = "".join(pieces)
    codes = encode_string(sequence, "gene")
    letters, runs, span_letters, span_runs = span_counts(
        codes, np.array([0, len(codes)]), np.array([0])
    )
    ambiguous = np.array([letter not in "ACGT" for letter in sequence])
    run_spans = [(match.start(), match.end()) for match in re.finditer("[^ACGT]+", sequence)]
    assert letters[0] == ambiguous.sum() and runs[0] == len(run_spans)
    sums = np.concatenate([[0], np.cumsum(ambiguous)])
    for number, length in enumerate(SPANS.tolist()):
        for start in range(0, len(sequence), 5):
            end = min(start + length, len(sequence))
            assert span_letters[0, number] >= sums[end] - sums[start]
            meeting = sum(1 for first, last in run_spans if first < end and last > start)
            assert span_runs[0, number] >= meeting
    if run_spans:
        assert span_runs[0, 0] >= 1 and span_letters[0, -1] <= letters[0]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    mode=st.sampled_from(list(MODES)),
    scoring=scorings,
)
def test_bound_holds_on_long_genes_with_scattered_n(seed, mode, scoring):
    """Genes of 600-1,500 letters with N and runs of N along them (the spans' case), against
    reads cut from them with mutations and long deletions, and unrelated reads."""
    rng = random.Random(seed)
    genes = []
    for _ in range(3):
        gene = random_sequence(rng, rng.randint(600, 1500))
        genes.append(
            "".join(
                letter if rng.random() < 0.95 else "N" * rng.choice([1, 1, 2, 12])
                for letter in gene
            )
        )
    queries = []
    for gene in genes[:2]:
        start = rng.randint(0, len(gene) - 300)
        piece = gene[start : start + rng.randint(100, 300)].replace("N", "A")
        queries.append(mutate(rng, piece, 0.05, 0.02))
        cut = rng.randint(10, len(piece) - 10)
        queries.append(piece[:cut] + piece[cut + rng.randint(5, 60) :])  # a long deletion
    queries.append(random_sequence(rng, 250))
    cluster, member = bounds_of(genes, queries, mode, scoring, 8, 2)
    exact = exact_scores(genes, queries, mode, scoring)
    assert np.all(member >= exact), (member - exact).min()
    assert np.all(cluster >= member)


def test_n_along_a_gene_counts_only_near_the_read() -> None:
    """A 1,500-letter gene with an N every 20 letters against an unrelated 250-letter read:
    an alignment meets at most the N of a stretch of SPANS letters (or deletes many), so the
    bound is well below the one allowing every N of the gene, and above the exact score."""
    rng = random.Random(3)
    gene = "".join(
        "N" if position % 20 == 7 else letter
        for position, letter in enumerate(random_sequence(rng, 1500))
    )
    read = random_sequence(rng, 250)
    _, member = bounds_of([gene], [read], "semiglobal", Scoring(), 8, 1)
    exact = exact_scores([gene], [read], "semiglobal", Scoring())
    model = BoundModel.create(Scoring(), k=8, mode_flags=(False, False, True, True))
    whole = model.bound(250, 1500, 0, 0b1111, 0b11111, ambiguous_letters=75)
    assert exact[0, 0] <= member[0, 0] <= whole - 20


def test_a_cheap_long_deletion_meets_n_beyond_one_stretch() -> None:
    """The read's halves lie 300 letters apart in the gene, each with an N every 8 letters;
    with free gap extension the alignment deletes the 300 letters for 7 and meets the N of
    both halves, more than any 256-letter stretch holds. The span bound must then fall back
    on the cost of that deletion; counting the stretch's N alone would put it below the exact
    score."""
    rng = random.Random(9)
    read = random_sequence(rng, 250)

    def with_n(piece: str) -> str:
        return "".join("N" if position % 8 == 3 else base for position, base in enumerate(piece))

    gene = with_n(read[:125]) + random_sequence(rng, 300) + with_n(read[125:])
    scoring = Scoring(match=1, mismatch=-10, gap_open=7, gap_extend=0)
    _, member = bounds_of([gene], [read], "semiglobal", scoring, 8, 1)
    exact = exact_scores([gene], [read], "semiglobal", scoring)
    assert exact[0, 0] == 250 - gene.count("N") - 7
    # The whole gene's N cover every window at 1/8 each: 250 - ceil(243 / 8).
    assert exact[0, 0] <= member[0, 0] == 250 - 31


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-(2**40), 2**40), max_size=60)
    | st.lists(st.integers(-5, 300), max_size=400)
)
def test_cluster_order_is_a_stable_descending_sort(values: list[int]) -> None:
    """The clusters' order (``counting._descending_order``: a counting sort for a narrow
    range of bounds, else argsort): decreasing bound, ties in increasing position."""
    from streamalign.search.counting import _descending_order

    array = np.array(values, dtype=np.int64)
    expected = sorted(range(len(values)), key=lambda position: (-values[position], position))
    assert _descending_order(array).tolist() == expected


@pytest.mark.parametrize("mode", ["semiglobal", "global", "overlap"])
def test_cluster_bounds_equal_the_bound_of_their_counts(mode: str) -> None:
    """Every listed cluster's bound (some taken from a per-count memo, some computed) is
    ``gene_bound`` of its shared count and its letters, lengths and ambiguity."""
    from test_search import real_genes, real_reads

    genes = real_genes()
    aligner = Aligner(genes, mode)
    search = aligner.database_search()
    # (long reads share k-mers with every cluster; the short ones with a few, listed as
    # touched)
    reads = [sequence for _, sequence in real_reads(6)] + ["ACGTNACGT" * 20, genes[3][1][:200]]
    reads += [genes[5][1][100:112], genes[9][1][40:60], "GATTACAGATTACA"]
    batch = SequenceBatch.from_strings(reads)
    state, _ = search.start(batch, encode(batch.sequences), None, None)
    model = search.model
    best, plain, ambiguous = state.pairs
    for query in range(len(reads)):
        start, end = state.cluster_offsets[query], state.cluster_offsets[query + 1]
        for position in range(start, end):
            cluster = int(state.clusters[position])
            mask_id = int(search.cluster_mask_ids[cluster])
            expected = gene_bound(
                int(state.query_lengths[query]),
                int(search.cluster_shortest[cluster]),
                int(search.cluster_longest[cluster]),
                int(state.shared[position]),
                model.k,
                best[query, mask_id],
                plain[query, mask_id],
                ambiguous[query, mask_id],
                int(state.query_ambiguous[query]),
                int(search.cluster_ambiguous[cluster]),
                int(search.cluster_ambiguous_runs[cluster]),
                search.cluster_span_letters[cluster],
                search.cluster_span_runs[cluster],
                model.gap_open,
                model.gap_extend,
                model.query_end_free,
                model.reference_ends_penalized,
            )
            assert state.bounds[position] == expected
        listed = state.bounds[start:end]
        assert (np.diff(listed) <= 0).all()
        # Ties in increasing cluster order (whether the clusters were listed as touched or
        # found by one pass over them all).
        tied = np.diff(listed) == 0
        assert (np.diff(state.clusters[start:end].astype(np.int64))[tied] > 0).all()


def half_bounds_of(references, queries, scoring, k):
    """(queries, references) bounds from half an alignment (``DatabaseSearch.half_bounds``:
    semiglobal, forward strand)."""
    aligner = Aligner(references, "semiglobal", scoring=scoring)
    search = DatabaseSearch(build_index(references, k=k, cluster_size=1), aligner)
    assert search.half_aligns
    batch = SequenceBatch.from_strings(queries)
    state, _ = search.start(batch, encode(batch.sequences), None, None)
    reads, genes = np.meshgrid(np.arange(len(queries)), np.arange(len(references)), indexing="ij")
    table = np.stack([genes.ravel(), np.zeros(genes.size, np.int64), reads.ravel()], axis=1)
    return search.half_bounds(table, state).reshape(len(queries), len(references))


def split_queries(rng: random.Random, base: str) -> list[str]:
    """Queries whose edits sit where the search splits them (after ``floor(m / 2)`` letters):
    an inserted run, a deletion and mismatches across the cut, and ``N`` on either side."""
    half = len(base) // 2
    inserted = random_sequence(rng, rng.randint(1, 12))
    return [
        base[: half - rng.randint(0, 6)] + inserted + base[half - rng.randint(0, 6) :],
        base[: half - 3] + base[half + rng.randint(1, 20) :],
        base[: half - 1] + "".join(rng.choice("ACGT") for _ in range(3)) + base[half + 2 :],
        base[: half - 4] + "N" + base[half - 3 :],
        base[: half + 4] + "NN" + base[half + 6 :],
        base[:1],
        base[: 2 * 8],
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), scoring=scorings, k=st.integers(4, 9))
def test_half_bound_is_never_below_the_exact_score(seed, scoring, k):
    """``opt(tail) + U_head`` (bounds.py, *Half an alignment*) against the exact scores, on
    the adversarial set and on queries edited across the cut."""
    rng = random.Random(seed)
    references, queries = adversarial_set(rng, 10)
    queries += split_queries(rng, references[0]) + split_queries(rng, references[2])
    bounds = half_bounds_of(references, queries, scoring, k)
    exact = exact_scores(references, queries, "semiglobal", scoring)
    assert np.all(bounds >= exact), (bounds - exact).min()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    ambiguous=st.sampled_from(["score0", "mismatch", "iupac"]),
    matrix=st.sampled_from([None, "NUC.4.4", "random"]),
)
def test_half_bound_holds_for_matrices_and_ambiguity_policies(seed, ambiguous, matrix):
    """As above with substitution matrices (a letter's best pair differs by letter: the
    bound takes the query's most favourable scores) and each policy for ambiguity codes."""
    rng = random.Random(seed)
    scoring = matrix_scoring(rng, matrix, ambiguous)
    references, queries = adversarial_set(rng, 10)
    queries += split_queries(rng, references[0]) + split_queries(rng, references[1])
    bounds = half_bounds_of(references, queries, scoring, 5)
    exact = exact_scores(references, queries, "semiglobal", scoring)
    assert np.all(bounds >= exact), (bounds - exact).min()


def test_an_insertion_across_the_cut() -> None:
    """A read with 6 letters inserted across the cut (3 on each side), dear gap opening and
    free extension. The bound is the tail's exact optimum (from the aligner) plus the head's
    cover: its 3 last windows hold inserted letters, covered by one mismatch (loss 2 + 3),
    cheaper than leaving 3 letters out (2 each) at the head's free end."""
    rng = random.Random(4)
    gene = random_sequence(rng, 600)
    piece = gene[200:440]
    read = piece[:120] + "GATTAC" + piece[120:]  # 246 letters: the cut after letter 123
    scoring = Scoring(match=2, mismatch=-3, gap_open=12, gap_extend=0)
    exact = exact_scores([gene], [read], "semiglobal", scoring)
    assert exact[0, 0] == 2 * 240 - 12
    tail = exact_scores([gene], [read[123:]], "semiglobal", scoring)
    bound = half_bounds_of([gene], [read], scoring, 8)
    assert bound[0, 0] == tail[0, 0] + 2 * 123 - 5 >= exact[0, 0]


def test_the_head_ends_free() -> None:
    """Two letters inserted at the cut, one on each side; the opening (5) is charged to the
    tail part, and the head's last letter is inserted at no opening cost: the head's end is
    free (its letter loses 1). The tail's own best is one above its part (its first letter
    matches an earlier gene letter across a deletion, 5, not inserted, 1 + 5), so the bound
    is one above the score; without the free end the head's last window would need a
    deletion or a mismatch (at least 5) and the bound would fall 3 below the score."""
    rng = random.Random(6)
    gene = random_sequence(rng, 600)
    piece = gene[200:440]
    others = [letter for letter in "ACGT" if letter not in (piece[119], piece[120])]
    read = piece[:120] + others[0] + others[-1] + piece[120:]  # the cut after letter 121
    scoring = Scoring(match=1, mismatch=-6, gap_open=5, gap_extend=0)
    exact = exact_scores([gene], [read], "semiglobal", scoring)
    assert exact[0, 0] == 240 - 5
    assert half_bounds_of([gene], [read], scoring, 8)[0, 0] == exact[0, 0] + 1


def test_half_bound_prunes_what_the_k_mers_cannot() -> None:
    """Reads cut from real genes with 8% substitutions and 1% indels (best scores 100-163 of
    250, where the k-mer bounds of every gene reach the best): the half-alignment bounds of
    few genes do. Real MiSeq reads of genera missing from the genes (best scores 77-151)
    are pruned less, and still some."""
    from test_search import real_genes, real_reads

    genes = [sequence for _, sequence in real_genes()]
    rng = random.Random(2)
    reads = []
    for _ in range(8):
        gene = genes[rng.randrange(len(genes))]
        start = rng.randint(0, len(gene) - 250)
        reads.append(mutate(rng, gene[start : start + 250], 0.08, 0.01))
    real = [sequence for _, sequence in real_reads(8)]
    exact = exact_scores(genes, reads + real, "semiglobal", Scoring())
    best = exact.max(axis=1, keepdims=True)
    _, member = bounds_of(genes, reads + real, "semiglobal", Scoring(), 8, 1)
    halves = half_bounds_of(genes, reads + real, Scoring(), 8)
    assert np.all(halves >= exact)
    assert np.all(member >= best)
    assert np.mean(halves[:8] >= best[:8]) < 0.1
    assert np.mean(halves[8:] >= best[8:]) < 0.8


def transfer_case(rng: random.Random) -> tuple[str, str, str]:
    """A representative, a member a few edits from it, and a query: a mutated piece of
    either (or of an unrelated sequence), with N now and then."""
    representative = random_sequence(rng, rng.randint(20, 120), rng.choice(["ACGT", "ACGTN"]))
    if rng.random() < 0.4:
        # Tight cases: a few substitutions, or one short indel, and the query an exact
        # piece of the member, or one with a deletion (every event it covers counts in
        # full).
        letters = list(representative)
        for _ in range(rng.randint(1, 4)):
            place = rng.randrange(len(letters))
            letters[place] = rng.choice("ACGT".replace(letters[place], "") or "A")
        if rng.random() < 0.5:
            place = rng.randrange(len(letters))
            if rng.random() < 0.5:
                letters[place:place] = random_sequence(rng, rng.randint(1, 3))
            else:
                del letters[place : place + rng.randint(1, 3)]
        member = "".join(letters)
        start = rng.randint(0, max(len(member) - 10, 0))
        query = member[start : start + rng.randint(5, 60)] or member
        if rng.random() < 0.4 and len(query) > 12:
            # (the query skips a few member letters: its alignment spans more than itself)
            place = rng.randint(3, len(query) - 8)
            query = query[:place] + query[place + rng.randint(1, 5) :]
        return representative, member, query
    member = mutate(rng, representative, rng.choice([0.02, 0.08, 0.25]), rng.choice([0.0, 0.03]))
    source = rng.choice([member, representative, random_sequence(rng, 80)])
    start = rng.randint(0, max(len(source) - 10, 0))
    piece = source[start : start + rng.randint(5, 70)] or "ACGT"
    return representative, member, mutate(rng, piece, rng.choice([0.0, 0.05, 0.2]), 0.02)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    mode=st.sampled_from(["semiglobal", "local"]),
    scoring=scorings,
    matrix=st.sampled_from([None, None, "NUC.4.4", "random"]),
    ambiguous=st.sampled_from(["score0", "mismatch", "iupac"]),
)
def test_a_relatives_score_bounds_a_members(seed, mode, scoring, matrix, ambiguous):
    """``opt(Q, M) <= opt(Q, C) + T(M, W)`` (*A relative's alignment* in bounds.py), with the
    window ``W`` that a score as high as ``opt(Q, M)`` allows: exact scores from the
    kernels (checked against the slow reference elsewhere), for reference ends free."""
    from streamalign.search.families import (
        edit_events,
        event_costs,
        substitution_costs,
        transfer_windows,
    )

    rng = random.Random(seed)
    if matrix is not None:
        scoring = matrix_scoring(rng, matrix, ambiguous)
    representative, member, query = transfer_case(rng)
    member_score, representative_score = exact_scores(
        [member, representative], [query], mode, scoring
    )[0]
    positions, values = edit_events(encode_string(member), encode_string(representative))
    top = int(scoring.integer_matrix[:15, :15].max())
    gap_open, gap_extend = int(scoring.integer_gap_open), int(scoring.integer_gap_extend)
    window = transfer_windows(
        np.array([len(query)]), np.array([member_score]), top, gap_open, gap_extend
    )
    slack = event_costs(
        np.array([0]),
        window,
        np.array([0, len(positions)]),
        positions,
        values,
        substitution_costs(scoring.integer_matrix),
        max(top, 0),
        gap_open,
        gap_extend,
    )[0]
    assert member_score <= representative_score + slack, (member_score, representative_score, slack)


def shifted_case(rng: random.Random) -> tuple[str, str, str]:
    """A member whose letters lie far from their representative partners (many one-letter
    insertions or deletions early on) with a substitution later, and a query read from the
    member that ends or starts at that substitution: where its alignments end in the
    representative lies well away from the member's event it meets."""
    representative = random_sequence(rng, rng.randint(60, 140))
    letters = list(representative)
    inserting = rng.random() < 0.5
    for _ in range(rng.randint(4, 16)):
        place = rng.randrange(1, len(letters) // 4)
        if inserting:
            letters.insert(place, rng.choice("ACGT"))
        else:
            del letters[place]
    place = rng.randrange(len(letters) // 2, len(letters) - 1)
    letters[place] = rng.choice("ACGT".replace(letters[place], ""))
    member = "".join(letters)
    length = rng.randint(8, 40)
    if rng.random() < 0.5:
        return representative, member, member[max(place + 1 - length, 0) : place + 1]
    return representative, member, member[place : place + length]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    scoring=scorings,
    matrix=st.sampled_from([None, None, "NUC.4.4", "random"]),
    ambiguous=st.sampled_from(["score0", "mismatch", "iupac"]),
    block=st.sampled_from([1, 4, 32]),
)
def test_a_relatives_ends_bound_a_members(seed, scoring, matrix, ambiguous, block):
    """The position-aware form (*A relative's alignment, by where it ends* in bounds.py):
    ``opt(Q, M)`` is at most, over blocks of the representative's columns, the best score
    of the query in full ending in the block plus the member's events near it (window,
    shift and longest run as ``families.ended_bounds`` takes them), semiglobal."""
    from streamalign.kernels import differences

    rng = random.Random(seed)
    if matrix is not None:
        scoring = matrix_scoring(rng, matrix, ambiguous)
    aligner = Aligner(["A"], "semiglobal", scoring=scoring)
    gap_open, gap_extend = int(scoring.integer_gap_open), int(scoring.integer_gap_extend)
    if not differences.fits(scoring.integer_matrix, gap_open, gap_extend, aligner.flags):
        return
    representative, member, query = shifted_case(rng) if rng.random() < 0.5 else transfer_case(rng)
    member_score = exact_scores([member], [query], "semiglobal", scoring)[0][0]
    bound = ended_bound(representative, member, query, member_score, scoring, block)
    assert member_score <= bound, (member_score, bound)


@pytest.mark.parametrize("block", [1, 4])
def test_a_relatives_ends_bound_members_far_from_their_partners(block: int) -> None:
    """Members with many one-letter insertions or deletions before a substitution that the
    query's alignment ends or starts at (:func:`shifted_case`): where the alignment ends in
    the representative is that far from where it ends in the member, so the events counted
    must reach that far (a tenth of these cases fail without the shift)."""
    scoring = Scoring()
    for seed in range(60):
        representative, member, query = shifted_case(random.Random(seed))
        member_score = exact_scores([member], [query], "semiglobal", scoring)[0][0]
        bound = ended_bound(representative, member, query, member_score, scoring, block)
        assert member_score <= bound, (seed, member_score, bound)


@pytest.mark.parametrize("seed", range(20))
def test_ended_bounds_stopped_early_give_the_same_verdicts(seed: int) -> None:
    """``families.ended_bounds`` with ``stops`` (the search's settle-only callers): every row
    whose full bound is above its stop is still above it, every other row's bound is the
    full one, on random end maxima and member events."""
    from streamalign.search.families import ended_bounds

    rng = np.random.default_rng(seed)
    members, keys, blocks, block = 30, 6, 40, 8
    counts = rng.integers(0, 25, members)
    event_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    positions = np.concatenate(
        [np.sort(rng.integers(0, blocks * block, count)) for count in counts]
    ).astype(np.int64)
    prices = rng.integers(1, 9, len(positions)).astype(np.int32)
    totals = np.add.reduceat(np.append(prices, 0).astype(np.int64), event_offsets[:-1])
    totals[counts == 0] = 0
    sizes = rng.integers(1, blocks, keys)
    value_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    values = rng.integers(-40, 60, int(value_offsets[-1])).astype(np.int64)
    rows = 400
    arguments = [
        rng.integers(0, members, rows).astype(np.int64),
        rng.integers(0, keys, rows).astype(np.int64),
        rng.integers(0, blocks // 2, keys).astype(np.int64),
        rng.integers(-60, 20, keys).astype(np.int64),
        value_offsets,
        values,
        block,
        rng.integers(10, 60, rows).astype(np.int64),
        event_offsets,
        positions,
        prices,
        rng.integers(1, 4, members).astype(np.int64),
        rng.integers(0, 6, members).astype(np.int64),
        totals,
        np.full(rows, 2**40, np.int64),
    ]
    full = ended_bounds(*arguments, np.full(rows, 2**40, np.int64))[0]
    stops = rng.integers(0, 100, rows).astype(np.int64)
    stopped = ended_bounds(*arguments, stops)[0]
    assert ((stopped > stops) == (full > stops)).all()
    below = full <= stops
    assert below.any() and (~below).any()
    assert (stopped[below] == full[below]).all()
    assert (stopped <= full).all()


def ended_bound(
    representative: str, member: str, query: str, threshold: int, scoring: Scoring, block: int
) -> int:
    """``families.ended_bounds`` of ``member`` for ``query``, the threshold's window, from
    the end maxima of the query against ``representative`` (the kernel's, checked against
    the slow reference in test_multireference.py)."""
    from streamalign.kernels import multireference
    from streamalign.search.families import (
        edit_events,
        ended_bounds,
        event_shifts,
        priced_events,
        substitution_costs,
        transfer_windows,
    )

    gap_open, gap_extend = int(scoring.integer_gap_open), int(scoring.integer_gap_extend)
    flags = Aligner(["A"], "semiglobal", scoring=scoring).flags
    codes = encode_string(representative)
    maxima = np.full((1, len(codes) // block + 1), -(2**62), dtype=np.int64)
    multireference.score_pairs(
        encode_string(query), np.array([0, len(query)]), np.array([0]), codes, np.array([0]),
        np.array([len(codes)]), scoring.integer_matrix, gap_open, gap_extend, flags, block,
        maxima,
    )  # fmt: skip
    positions, values = edit_events(encode_string(member), codes)
    offsets = np.array([0, len(positions)])
    top = int(scoring.integer_matrix[:15, :15].max())
    prices, longest, totals = priced_events(
        offsets, values, substitution_costs(scoring.integer_matrix), max(top, 0), gap_open,
        gap_extend,
    )  # fmt: skip
    window = transfer_windows(
        np.array([len(query)]), np.array([threshold]), top, gap_open, gap_extend
    )
    return int(
        ended_bounds(
            np.array([0]), np.array([0]), np.array([0]), np.array([-(2**62)]),
            np.array([0, maxima.shape[1]]), maxima[0], block, window, offsets, positions,
            prices, longest, event_shifts(offsets, values), totals, np.array([2**62]),
            np.array([2**62]),
        )[0][0]
    )  # fmt: skip


def test_a_relatives_bound_needs_every_event() -> None:
    """A member one substitution from its representative, the query matching the member:
    the bound is the representative's score plus exactly that substitution's worth
    (mismatch to match: 3), and without it the member's score would exceed the bound."""
    from streamalign.search.families import edit_events, event_costs, substitution_costs

    representative = "ACGTTGCAGGTACCGATTAGCAAGT"
    member = representative[:12] + "G" + representative[13:]
    query = member[4:20]
    scoring = Scoring()
    member_score, representative_score = exact_scores(
        [member, representative], [query], "semiglobal", scoring
    )[0]
    positions, values = edit_events(encode_string(member), encode_string(representative))
    slack = event_costs(
        np.array([0]), np.array([len(query)]), np.array([0, len(positions)]), positions, values,
        substitution_costs(scoring.integer_matrix), 1, 5, 2,
    )[0]  # fmt: skip
    # 16 matches against the member; 15 and a mismatch against the representative.
    assert (member_score, representative_score, slack) == (16, 13, 3)


def test_a_relatives_window_covers_the_deletions_a_score_allows() -> None:
    """The query skips 4 of the member's letters, between its two differences from the
    representative (21 letters apart): a window of the query's 20 letters holds one of
    them and the bound would fall short of the member's score; the 4 deletions its score
    of 9 allows widen it to both."""
    from streamalign.search.families import (
        edit_events,
        event_costs,
        substitution_costs,
        transfer_windows,
    )

    representative = random_sequence(random.Random(3), 40)
    letters = list(representative)
    for place in (1, 22):
        letters[place] = "ACGT"[("ACGT".index(letters[place]) + 1) % 4]
    member = "".join(letters)
    query = member[:10] + member[14:24]
    scoring = Scoring()
    member_score, representative_score = exact_scores(
        [member, representative], [query], "semiglobal", scoring
    )[0]
    positions, values = edit_events(encode_string(member), encode_string(representative))
    costs = substitution_costs(scoring.integer_matrix)

    def slack(window: int) -> int:
        return int(
            event_costs(
                np.array([0]), np.array([window]), np.array([0, len(positions)]), positions,
                values, costs, 1, 5, 2,
            )[0]
        )  # fmt: skip

    window = int(transfer_windows(np.array([len(query)]), np.array([member_score]), 1, 5, 2)[0])
    assert (member_score, representative_score, window) == (9, 3, 24)
    assert member_score <= representative_score + slack(window)
    assert member_score > representative_score + slack(len(query))
