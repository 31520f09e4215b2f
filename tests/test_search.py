"""The database search gives exactly the exhaustive answer, ties included, on real data.

Real MiSeq reads (``tests/data/sam1F.200.fastq.gz``) against the 100 real 16S genes of
``tests/data/example_train_set.fa.gz``: for every mode and both strands the searched batch
equals, array for array, the batch of aligning every reference (``search="exhaustive"``), with
clusters of one and of several references; ties go to the first reference in file order and
the forward strand; the command line writes the same bytes either way, serial and parallel,
and reports what it pruned.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import dnaio
import numpy as np
import pytest

from cli_helpers import DATA, READS, run_cli
from streamalign import Aligner, _config
from streamalign.aligner import MODES
from streamalign.alphabet import decode, encode_string, reverse_complement_ascii
from streamalign.records import SequenceBatch
from streamalign.search.index import build_index
from streamalign.search.searcher import _SearchState
from test_alignment_reference import mutate

TRAIN_SET = DATA / "example_train_set.fa.gz"
FIELDS = (
    "integer_scores",
    "reference_index",
    "reverse",
    "query_starts",
    "query_ends",
    "reference_starts",
    "reference_ends",
    "counts",
    "operations",
    "operation_offsets",
)


def real_genes() -> list[tuple[str, str]]:
    with dnaio.open(TRAIN_SET) as records:
        return [(record.name, record.sequence) for record in records]


def real_reads(count: int) -> list[tuple[str, str]]:
    with dnaio.open(READS) as records:
        return [
            (record.name, record.sequence) for _, record in zip(range(count), records, strict=False)
        ]


def gene_fragments(count: int, seed: int = 11) -> list[tuple[str, str]]:
    """250-bp pieces of the real genes with about 2% substitutions and indels (reads that do
    have a close reference: the MiSeq reads' genera are not in the training set)."""
    rng = random.Random(seed)
    genes = real_genes()
    fragments = []
    for number in range(count):
        _, gene = genes[rng.randrange(len(genes))]
        start = rng.randint(0, len(gene) - 250)
        fragments.append((f"fragment{number}", mutate(rng, gene[start : start + 250], 0.02, 0.0)))
    return fragments


def assert_same_batches(searched, exhaustive) -> None:
    for field in FIELDS:
        assert np.array_equal(getattr(searched, field), getattr(exhaustive, field)), field
    assert np.array_equal(searched.queries.sequences, exhaustive.queries.sequences)
    assert searched.cigars() == exhaustive.cigars()


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("cluster_size", [1, 7])
def test_search_equals_exhaustive_on_real_reads(mode: str, cluster_size: int) -> None:
    genes = real_genes()
    reads = real_reads(20) + gene_fragments(20)
    names = [name for name, _ in reads]
    sequences = [sequence for _, sequence in reads]
    # Half the reads reverse complemented: the reverse strand must win for those.
    for number in range(0, len(sequences), 2):
        raw = np.frombuffer(sequences[number].encode(), np.uint8)
        sequences[number] = (
            reverse_complement_ascii(raw, np.array([0, len(raw)])).tobytes().decode()
        )
    index = build_index([sequence for _, sequence in genes], k=8, cluster_size=cluster_size)
    searched = Aligner(genes, mode, index=index)
    exhaustive = Aligner(genes, mode, search="exhaustive")
    result = searched.align_many(sequences, names=names, strand="both")
    expected = exhaustive.align_many(sequences, names=names, strand="both")
    assert_same_batches(result, expected)
    assert result.aligned_candidates is not None
    if mode in ("semiglobal", "global"):  # reads with a close gene: most genes pruned
        assert result.aligned_candidates[20:].mean() < 0.5 * 2 * len(genes)


def test_ties_go_to_the_first_reference_and_the_forward_strand() -> None:
    rng = random.Random(3)
    genes = real_genes()[:20]
    gene = genes[5][1]
    raw = np.frombuffer(gene.encode(), np.uint8)
    reverse = reverse_complement_ascii(raw, np.array([0, len(raw)])).tobytes().decode()
    # Copies later in the file, and the gene's reverse complement: equal scores.
    references = [*genes, ("copy", gene), ("reverse", reverse), ("copy2", gene)]
    reads = []
    for _ in range(12):
        start = rng.randint(0, len(gene) - 200)
        reads.append(gene[start : start + rng.randint(60, 200)])
    reads.append(gene[:8])  # shorter than k: no k-mer, nothing pruned
    reads.append("N" * 50)
    for mode in MODES:
        searched = Aligner(references, mode).align_many(reads, strand="both")
        exhaustive = Aligner(references, mode, search="exhaustive").align_many(reads, strand="both")
        assert_same_batches(searched, exhaustive)
        # The later copies never win a tie, nor does the reverse strand of the copy.
        assert not set(searched.reference_index.tolist()) & {20, 22}
        if mode == "semiglobal":  # the gene itself (or an earlier gene holding the piece)
            assert set(searched.reference_index[:12].tolist()) <= set(range(6))
            assert not searched.reverse[:12].any()


def test_score_only_and_forward_strand_match_too() -> None:
    genes = real_genes()
    reads = [sequence for _, sequence in real_reads(10) + gene_fragments(15)]
    for traceback in (False, True):
        searched = Aligner(genes, "semiglobal").align_many(reads, traceback=traceback)
        exhaustive = Aligner(genes, "semiglobal", search="exhaustive").align_many(
            reads, traceback=traceback
        )
        assert_same_batches(searched, exhaustive)


@pytest.mark.parametrize("mode", ["semiglobal", "local"])
def test_full_length_reads_search_equals_exhaustive(mode: str, monkeypatch) -> None:
    """PacBio-like reads (whole genes with 1% errors): a read's few candidates are aligned
    one gene at a time, on the staggered kernel, and the answer is the exhaustive one."""
    from streamalign.kernels import staggered

    calls = []
    original = staggered.run

    def counting(inputs, outputs, members):  # type: ignore[no-untyped-def]
        calls.append(len(members))
        original(inputs, outputs, members)

    monkeypatch.setattr(staggered, "run", counting)
    rng = random.Random(5)
    genes = real_genes()[:40]
    reads = [mutate(rng, genes[rng.randrange(40)][1], 0.01, 0.0) for _ in range(6)]
    searched = Aligner(genes, mode).align_many(reads, strand="both", traceback=False)
    assert calls  # the path under test ran
    exhaustive = Aligner(genes, mode, search="exhaustive").align_many(
        reads, strand="both", traceback=False
    )
    assert_same_batches(searched, exhaustive)


def test_reads_close_to_no_gene_are_exhausted_and_stay_exact(monkeypatch) -> None:
    """Random reads (close to no gene: every bound far above their best) take every
    remaining candidate at once (``SEARCH_EXHAUST_SHARE``); reads with a close gene do not;
    the answer is the exhaustive one either way."""
    from streamalign import _config
    from streamalign.search.searcher import _SearchState

    exhausted = []
    original = _SearchState.exhaust

    def counting(self, read):  # type: ignore[no-untyped-def]
        exhausted.append(read)
        return original(self, read)

    monkeypatch.setattr(_SearchState, "exhaust", counting)
    monkeypatch.setattr(_config, "SEARCH_EXHAUST_AFTER", 4)
    rng = random.Random(8)
    genes = real_genes()
    junk = ["".join(rng.choice("ACGT") for _ in range(250)) for _ in range(4)]
    reads = junk + [sequence for _, sequence in gene_fragments(8)]
    searched = Aligner(genes, "semiglobal").align_many(reads, strand="both")
    exhaustive = Aligner(genes, "semiglobal", search="exhaustive").align_many(reads, strand="both")
    assert_same_batches(searched, exhaustive)
    assert set(exhausted) == {0, 1, 2, 3}
    assert searched.aligned_candidates is not None
    assert (searched.aligned_candidates[:4] >= 0.5 * 2 * len(genes)).all()


@pytest.mark.parametrize("rows", [1 << 20, 150])
def test_reads_far_from_every_gene_are_half_aligned_and_stay_exact(rows: int, monkeypatch) -> None:
    """Reads with 8% substitutions (best scores far below perfect, where every k-mer bound
    reaches the best) and real reads of genera missing from the genes: most pairs end
    after half an alignment (``DatabaseSearch.half_bounds``), those of exhausted reads
    half aligned in calls of at most about ``rows`` rows, then aligned in full in order of
    that bound; the answer is the exhaustive one, both strands."""
    from streamalign import _config
    from streamalign.search.searcher import _SearchState

    calls = []
    original = _SearchState.pool_halves

    def counting(self, table, tails, bounds):  # type: ignore[no-untyped-def]
        calls.append(len(table))
        return original(self, table, tails, bounds)

    monkeypatch.setattr(_SearchState, "pool_halves", counting)
    monkeypatch.setattr(_config, "SEARCH_EXHAUST_AFTER", 8)
    monkeypatch.setattr(_config, "SEARCH_HALF_ROWS", rows)
    rng = random.Random(12)
    genes = real_genes()
    reads = []
    for _ in range(12):
        _, gene = genes[rng.randrange(len(genes))]
        start = rng.randint(0, len(gene) - 250)
        reads.append(mutate(rng, gene[start : start + 250], 0.08, 0.01))
    reads += [sequence for _, sequence in real_reads(12)]
    searched = Aligner(genes, "semiglobal").align_many(reads, strand="both")
    exhaustive = Aligner(genes, "semiglobal", search="exhaustive").align_many(reads, strand="both")
    assert_same_batches(searched, exhaustive)
    assert searched.aligned_candidates is not None
    assert searched.half_aligned_candidates is not None
    assert searched.half_aligned_candidates.sum() > 2 * searched.aligned_candidates.sum()
    assert calls and max(calls) <= max(rows, 2 * len(genes))
    if rows < 2 * len(genes):
        assert len(calls) >= 2


def test_exhausting_waits_for_the_members_own_bounds() -> None:
    """The rule of ``_SearchState.exhausts``: once enough candidates are aligned and the
    clusters' bounds let most pairs through, a read is exhausted, unless the members opened
    so far mostly fell below its best by their own bounds (the clusters' bounds are loose:
    clusters of different genes), counting those aligned and those in its pool that can
    still beat the best."""
    from streamalign import _config
    from streamalign.alphabet import encode
    from streamalign.records import SequenceBatch
    from streamalign.search.searcher import DatabaseSearch

    genes = real_genes()
    aligner = Aligner(genes, "semiglobal")
    search = DatabaseSearch(
        build_index([sequence for _, sequence in genes], cluster_size=16), aligner
    )
    batch = SequenceBatch.from_strings([sequence for _, sequence in real_reads(1)])
    state, _ = search.start(batch, encode(batch.sequences), None, None)
    state.aligned[0] = _config.SEARCH_EXHAUST_AFTER
    state.best_score[0] = -1000  # every cluster's bound is above it
    assert state.exhausts(0)
    state.expanded[0] = 1000  # opened, and none left in the pool: the members' bounds pruned
    assert not state.exhausts(0)
    state.pools[0] = [(-5, key, 0) for key in range(800)]  # bound 5: all can still win
    assert state.exhausts(0)
    state.best_score[0] = 6  # now they cannot: 64 aligned of 1,000 opened
    assert not state.exhausts(0)


@pytest.mark.parametrize("mode", ["global", "overlap"])
def test_both_score_paths_give_the_exhaustive_answer(mode: str, monkeypatch) -> None:
    """The search's score passes on the kernel with a reference per lane (the default for
    scorings that fit 8 bits) and on the aligner's kernels (``lane_pairs`` off)."""
    from streamalign.search.searcher import DatabaseSearch

    genes = real_genes()
    reads = [sequence for _, sequence in real_reads(10) + gene_fragments(10)]
    exhaustive = Aligner(genes, mode, search="exhaustive").align_many(reads, strand="both")
    for lane_pairs in (True, False):
        aligner = Aligner(genes, mode)
        search = aligner.database_search()
        assert isinstance(search, DatabaseSearch) and search.lane_pairs
        search.lane_pairs = lane_pairs
        assert_same_batches(aligner.align_many(reads, strand="both"), exhaustive)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_cli_search_writes_the_exhaustive_bytes(jobs: str, tmp_path: Path) -> None:
    reads = tmp_path / "reads.fastq"
    with dnaio.open(reads, mode="w") as writer:
        for name, sequence in real_reads(100) + gene_fragments(100):
            writer.write(dnaio.SequenceRecord(name, sequence, "I" * len(sequence)))
    outputs = {}
    for search in ("exact", "exhaustive"):
        output = tmp_path / f"{search}.tsv"
        stats = tmp_path / f"{search}.json"
        status, _, error = run_cli(
            [
                "align",
                "-r",
                str(TRAIN_SET),
                str(reads),
                "--strand",
                "both",
                "-j",
                jobs,
                "--search",
                search,
                "-o",
                str(output),
                "--stats-json",
                str(stats),
                "--batch-size",
                "50",
            ]
        )
        assert status == 0, error
        outputs[search] = output.read_bytes()
        document = json.loads(stats.read_text())
        if search == "exact":
            assert document["searched_records"] == 200
            assert document["search_pairs_per_record"] == 200
            assert 0.3 < document["pruned_fraction"] < 1
            assert document["candidates_aligned_max"] >= document["candidates_aligned_mean"] >= 1
            assert document["candidates_half_aligned_mean"] >= 0
        else:
            assert document["searched_records"] == 0
    assert outputs["exact"] == outputs["exhaustive"]
    assert outputs["exact"].count(b"\n") == 1 + 200


def test_families_bound_their_members_and_stay_exact() -> None:
    """A database of genes and their mutants (families, ``streamalign.search.families``):
    reads close to one gene and reads close to none; the pairs their family's consensus
    settles are never aligned, and the answer is the exhaustive one, ties included (every
    gene's mutants score alike), both strands, with the index from a file or in memory."""
    rng = random.Random(21)
    genes = real_genes()[:40]
    references = []
    for name, gene in genes:
        references.append((name, gene))
        references += [(f"{name}.m{copy}", mutate(rng, gene, 0.02, 0.0)) for copy in range(5)]
    reads = [sequence for _, sequence in gene_fragments(10, seed=3)]
    for _ in range(8):
        _, gene = genes[rng.randrange(len(genes))]
        start = rng.randint(0, len(gene) - 250)
        reads.append(mutate(rng, gene[start : start + 250], 0.1, 0.01))
    reads += [sequence for _, sequence in real_reads(8)]
    index = build_index([sequence for _, sequence in references])
    assert np.count_nonzero(index.family_of >= 0) > len(references) // 2
    searched = Aligner(references, "semiglobal", index=index).align_many(reads, strand="both")
    exhaustive = Aligner(references, "semiglobal", search="exhaustive").align_many(
        reads, strand="both"
    )
    assert_same_batches(searched, exhaustive)
    assert searched.family_bounded_candidates is not None
    assert searched.family_bounded_candidates.sum() > 0
    # Without families (an in-memory index of so few references finds none): the same.
    plain = Aligner(references, "semiglobal").align_many(reads, strand="both")
    assert_same_batches(plain, exhaustive)
    assert plain.family_bounded_candidates is not None
    assert plain.family_bounded_candidates.sum() == 0


def reverse_complement(read: str) -> str:
    letters = np.frombuffer(read.encode(), np.uint8)
    return reverse_complement_ascii(letters, np.array([0, len(read)])).tobytes().decode()


def both_strands_state(search, read: str):  # type: ignore[no-untyped-def]
    """The search state of one read, both strands."""
    flipped = reverse_complement(read)
    state, _ = search.start(
        SequenceBatch.from_strings([read]),
        encode_string(read),
        SequenceBatch.from_strings([flipped]),
        encode_string(flipped),
    )
    return state


def mutant_families(genes: int = 40, copies: int = 5) -> list[tuple[str, str]]:
    """``genes`` real genes, each with ``copies`` mutants 2% away (families)."""
    rng = random.Random(21)
    references = []
    for name, gene in real_genes()[:genes]:
        references.append((name, gene))
        references += [(f"{name}.m{copy}", mutate(rng, gene, 0.02, 0.0)) for copy in range(copies)]
    return references


def test_far_reads_are_seeded_by_their_best_families(monkeypatch) -> None:
    """Before a read close to no gene is exhausted, the member nearest the consensus of each
    of its best-scoring families is aligned (``DatabaseSearch.family_seeds``): the seeds are
    those families (each consensus scored here by a one-reference aligner), the family
    bounds then settle more pairs than from the first rounds' best, and the answer stays the
    exhaustive one."""
    references = mutant_families()
    index = build_index([sequence for _, sequence in references])
    reads = [sequence for _, sequence in real_reads(8)]
    aligner = Aligner(references, "semiglobal", index=index)
    search = aligner.database_search()
    families = search.families
    assert families is not None

    # The seeds of the first read: central members of its 8 best (family, strand).
    read = reads[0]
    flipped = reverse_complement(read)
    state = both_strands_state(search, read)
    seeds = search.family_seeds(np.array([0]), state)
    assert len(search.family_seeds(np.array([0]), state)) == 0  # (once per read)
    bounds = np.asarray(families.consensus_offsets)
    consensus = [
        decode(families.consensus_codes[bounds[family] : bounds[family + 1]])
        for family in range(families.family_count)
    ]
    scores = {}
    for family, sequence in enumerate(consensus):
        one = Aligner([("consensus", sequence)], "semiglobal", search="exhaustive")
        scores[family, 0] = int(one.align_many([read], strand="forward").integer_scores[0])
        scores[family, 1] = int(one.align_many([flipped], strand="forward").integer_scores[0])
    family_of = np.asarray(families.family_of)
    seeded = {(int(family_of[reference]), int(strand)) for reference, strand, _ in seeds}
    assert len(seeded) == len(seeds) == 8
    assert min(scores[key] for key in seeded) >= max(
        score for key, score in scores.items() if key not in seeded
    )
    for reference, _, _ in seeds.tolist():
        members = np.flatnonzero(family_of == family_of[reference])
        totals = search.event_totals[members]
        assert search.event_totals[reference] == totals.min()
        assert reference == members[np.argmin(totals)]

    # The whole search, with and without seeds: exact both ways, more settled with them
    # (families bound members at the exhaust only here: opened clusters scan them all; and
    # the reads are exhausted after 64 candidates taken by k-mer bound, whose best the seeds
    # raise: exhausted after 8, these reads settle about as many either way, 2,093 and 2,095).
    monkeypatch.setattr(
        _SearchState, "settled_evidence", lambda self, *arguments: self.member_evidence(*arguments)
    )
    monkeypatch.setattr("streamalign._config.SEARCH_EXHAUST_AFTER", 64)
    exhaustive = Aligner(references, "semiglobal", search="exhaustive").align_many(
        reads, strand="both"
    )
    seeded_batch = aligner.align_many(reads, strand="both")
    monkeypatch.setattr("streamalign._config.SEARCH_SEED_FAMILIES", 0)
    unseeded_batch = Aligner(references, "semiglobal", index=index).align_many(reads, strand="both")
    assert_same_batches(seeded_batch, exhaustive)
    assert_same_batches(unseeded_batch, exhaustive)
    assert (
        seeded_batch.family_bounded_candidates.sum()
        > unseeded_batch.family_bounded_candidates.sum()
    )


def test_families_settle_opened_members_before_their_scan(monkeypatch) -> None:
    """A cluster opened for a read has its members bounded by their family's consensus
    first (``_SearchState.settled_evidence``): those it settles are not scanned for k-mers,
    fewer members are scanned in all, and the answer is the exhaustive one."""
    references = mutant_families(20, 15)  # (families of 16: clusters of 16 open 8 or more)
    index = build_index([sequence for _, sequence in references], cluster_size=16)
    reads = [sequence for _, sequence in real_reads(6) + gene_fragments(6)]
    scanned: list[int] = []
    member_evidence = _SearchState.member_evidence

    def counting(self, query, cluster, members):  # type: ignore[no-untyped-def]
        scanned.append(len(members))
        return member_evidence(self, query, cluster, members)

    monkeypatch.setattr(_SearchState, "member_evidence", counting)
    exhaustive = Aligner(references, "semiglobal", search="exhaustive").align_many(
        reads, strand="both"
    )
    first = Aligner(references, "semiglobal", index=index).align_many(reads, strand="both")
    with_families = sum(scanned)
    scanned.clear()
    monkeypatch.setattr(
        _SearchState, "settled_evidence", lambda self, *arguments: counting(self, *arguments)
    )
    plain = Aligner(references, "semiglobal", index=index).align_many(reads, strand="both")
    assert_same_batches(first, exhaustive)
    assert_same_batches(plain, exhaustive)
    assert 0 < with_families < sum(scanned)


def test_settled_members_cannot_reach_the_best_and_the_rest_keep_true_bounds() -> None:
    """``_SearchState.settled_evidence`` against exact scores of every member (the search's
    score-only kernel): with the read's best set to its exact best, a member whose bound
    falls below it scores below it, and every other bound is at least the exact score."""
    references = mutant_families()
    index = build_index([sequence for _, sequence in references])
    search = Aligner(references, "semiglobal", index=index).database_search()
    members = np.arange(len(references))
    settled_any = 0
    for _, read in real_reads(3) + gene_fragments(3):
        batch = SequenceBatch.from_strings([read])
        state, sources = search.start(batch, encode_string(read), None, None)
        table = np.zeros((len(members), 3), dtype=np.int64)
        table[:, 0] = members
        exact = search.score_pairs(table, sources)
        best = int(exact.max())
        state.best_score[0] = best
        state.best_key[0] = int(np.flatnonzero(exact == best)[0]) * 2
        _, bounds = state.settled_evidence(0, -1, members)
        settled = bounds < best
        assert np.all(exact[settled] < best)
        assert np.all(exact[~settled] <= bounds[~settled])
        settled_any += int(settled.sum())
    assert settled_any > 0


def test_family_bounds_by_where_reads_end_hold_and_settle_more() -> None:
    """``DatabaseSearch.family_bounds`` with the consensus alignments' end maxima (the
    position-aware bound) against exact scores of every member, for bests at and below the
    exact one: a member that reaches the best keeps a bound at least its score; those
    bounds settle more members than the window bound alone (``end_block`` 0); and aligned
    against the stretch ``DatabaseSearch.regions`` gives (narrower for some), a member that
    reaches the best keeps its exact score."""
    references = mutant_families(24, 6)
    index = build_index([sequence for _, sequence in references])
    search = Aligner(references, "semiglobal", index=index).database_search()
    assert search.end_block > 0
    table = np.zeros((len(references), 3), dtype=np.int64)
    table[:, 0] = np.arange(len(references))
    settled = {True: 0, False: 0}
    narrowed = 0
    rng = random.Random(5)
    reads = [read for _, read in real_reads(3) + gene_fragments(3)]
    reads += [mutate(rng, read, 0.15, 0.0) for read in reads[:4]]
    for read in reads:
        batch = SequenceBatch.from_strings([read])
        _, sources = search.start(batch, encode_string(read), None, None)
        exact = search.score_pairs(table, sources)
        for below in (0, 15, 40):
            for ended in (True, False):
                state, _ = search.start(batch, encode_string(read), None, None)
                state.best_score[0] = int(exact.max()) - below
                state.best_key[0] = 2 * len(references)
                search.end_block = _config.SEARCH_END_BLOCK if ended else 0
                bounds = search.family_bounds(table, state, rows_needed=1)
                reaching = exact >= state.best_score[0]
                assert np.all(bounds[reaching] >= exact[reaching]), (below, ended)
                settled[ended] += int((bounds < state.best_score[0]).sum())
                if ended:
                    # Each member aligned against the stretch that can hold an alignment
                    # reaching the best: its exact score wherever it does.
                    _, lengths = search.regions(table, state)
                    narrowed += int((lengths < search.lengths).sum())
                    within = search.score_pairs(table, sources, state)
                    assert np.array_equal(within[reaching], exact[reaching]), below
                    assert np.all(within <= exact)
    assert settled[True] > settled[False], settled
    assert narrowed > 0


def test_upper_families_settle_only_families_no_member_of_which_reaches_the_best(
    monkeypatch,
) -> None:
    """The index's upper families group the families' consensus sequences (each one's events
    rebuild its upper consensus). ``DatabaseSearch._ceilings``: a family settled by its
    upper alignment has no member whose exact score reaches the read's best, for bests at
    and below the exact one; its ceiling, kept as the consensus's score, leaves every
    member's family bound below the best; some families are settled; and with ceilings in
    every call the search gives the exhaustive answer."""
    from test_families import applied

    references = mutant_families(60, 4)
    index = build_index([sequence for _, sequence in references])
    search = Aligner(references, "semiglobal", index=index).database_search()
    families, upper = search.families, search.upper
    assert families is not None and upper is not None

    def consensus(of, number: int) -> str:
        start, end = of.consensus_offsets[number], of.consensus_offsets[number + 1]
        return decode(of.consensus_codes[start:end])

    grouped = np.flatnonzero(upper.family_of >= 0)
    assert len(grouped) >= 4
    for family in grouped.tolist():
        start, end = upper.event_offsets[family], upper.event_offsets[family + 1]
        above = consensus(upper, int(upper.family_of[family]))
        rebuilt = applied(
            consensus(families, family),
            above,
            upper.event_positions[start:end],
            upper.event_values[start:end],
        )
        assert rebuilt == above
    table = np.zeros((len(references), 3), dtype=np.int64)
    table[:, 0] = np.arange(len(references))
    family_of = families.family_of[table[:, 0]]
    rng = random.Random(8)
    reads = [read for _, read in real_reads(2) + gene_fragments(2)]
    reads += [mutate(rng, read, 0.2, 0.0) for read in reads]
    settled_any = shortened = 0
    for read in reads:
        batch = SequenceBatch.from_strings([read])
        _, sources = search.start(batch, encode_string(read), None, None)
        exact = search.score_pairs(table, sources)
        for below in (0, 20):
            state, _ = search.start(batch, encode_string(read), None, None)
            best = int(exact.max()) - below
            state.best_score[0] = best
            state.best_key[0] = 2 * len(references)
            keys = np.arange(families.family_count)
            ceilings, begins, ends = search._ceilings(keys, state)
            settled = np.flatnonzero(ceilings < 2**40)
            reaching = np.unique(family_of[exact >= best])
            assert not set(settled.tolist()) & set(reaching.tolist()), (below, settled)
            state.consensus_scores.update(
                zip(settled.tolist(), ceilings[settled].tolist(), strict=True)
            )
            # The others aligned against their stretch only: a family with a member that
            # reaches the best keeps its whole consensus's score, and every member that
            # reaches the best stays within its family bound (end maxima from the stretch).
            lengths = np.diff(families.consensus_offsets)
            open_keys = np.setdiff1d(keys, settled)
            stretched = search._consensus_alignments(
                open_keys, state, (begins[open_keys], ends[open_keys])
            )
            whole = search._lane_scores(
                state.codes,
                state.offsets,
                open_keys // families.family_count,
                families.consensus_codes,
                families.consensus_offsets,
                open_keys % families.family_count,
            )
            assert np.all(stretched <= whole)
            kept = np.isin(open_keys, reaching)
            assert np.array_equal(stretched[kept], whole[kept])
            check_consensus_stretches(search, state, read, open_keys, begins, ends, best)
            shortened += int((ends[open_keys] - begins[open_keys] < lengths[open_keys]).sum())
            state.consensus_scores.update(zip(open_keys.tolist(), stretched.tolist(), strict=True))
            bounds = search.family_bounds(table, state)
            assert np.all(bounds[np.isin(family_of, settled)] < best)
            assert np.all(bounds[exact >= best] >= exact[exact >= best])
            settled_any += len(settled)
    assert settled_any > 0
    assert shortened > 0
    monkeypatch.setattr("streamalign._config.SEARCH_UPPER_KEYS", 1)
    assert_same_batches(
        Aligner(references, "semiglobal", index=index).align_many(reads, strand="both"),
        Aligner(references, "semiglobal", search="exhaustive").align_many(reads, strand="both"),
    )


def check_consensus_stretches(search, state, read, keys, begins, ends, best) -> None:
    """Every alignment of consensus ``keys`` that scores ``theta`` (the read's best less its
    family's costliest member stretch, as ``_ceilings`` takes it) or more ends at or before
    ``ends`` and starts at or after ``begins`` (its best score per end column, of the read
    against the consensus, and per start column, of both reversed); and the end maxima
    kept from the stretch equal the whole consensus's where those reach ``theta``."""
    from streamalign.kernels import multireference
    from streamalign.search.families import transfer_windows

    families = search.families
    scoring = search.aligner.scoring
    gap_open, gap_extend = int(scoring.integer_gap_open), int(scoring.integer_gap_extend)
    windows = transfer_windows(
        np.full(len(keys), len(read)), np.full(len(keys), best), search.top_score,
        gap_open, gap_extend,
    )  # fmt: skip
    thetas = best - search.family_span_costs(keys, windows)
    codes = encode_string(read)
    block = search.end_block
    for key, theta in zip(keys.tolist(), thetas.tolist(), strict=True):
        start, end = families.consensus_offsets[key], families.consensus_offsets[key + 1]
        gene = np.asarray(families.consensus_codes[start:end])
        by_column = []
        for query, reference in ((codes, gene), (codes[::-1].copy(), gene[::-1].copy())):
            maxima = np.full((1, len(reference) + 1), -(2**62), np.int64)
            multireference.score_pairs(
                query, np.array([0, len(query)]), np.array([0]), reference, np.array([0]),
                np.array([len(reference)]), scoring.integer_matrix, gap_open, gap_extend,
                search.aligner.flags, 1, maxima,
            )  # fmt: skip
            by_column.append(maxima[0])
        reaching_ends = np.flatnonzero(by_column[0] >= theta)
        reaching_starts = len(gene) - np.flatnonzero(by_column[1] >= theta)
        assert np.all(reaching_ends <= ends[key]), (key, reaching_ends.max(), ends[key])
        assert np.all(reaching_starts >= begins[key]), (key, reaching_starts.min(), begins[key])
        entry = state.consensus_ends.get(key)
        if entry is None:
            continue
        first, values, _ = entry
        whole = np.full((len(gene) + block) // block, -(2**62), np.int64)
        np.maximum.at(whole, np.arange(len(gene) + 1) // block, by_column[0])
        shown = whole[first : first + len(values)]
        assert np.all(values <= shown)
        assert np.array_equal(values[shown >= theta], shown[shown >= theta])


def test_exhausted_reads_are_seeded_by_the_clusters_sharing_most_kmers(monkeypatch) -> None:
    """Before a read is exhausted, the first member of each of the 16 clusters (both strands)
    whose members hold most of its windows' 8-mers is aligned (``exhaust_seeds``; counted
    here with Python sets): the answer stays the exhaustive one, with or without seeds."""
    references = mutant_families(20, 7)
    index = build_index([sequence for _, sequence in references], cluster_size=8)
    search = Aligner(references, "semiglobal", index=index).database_search()
    _, read = real_reads(1)[0]
    flipped = reverse_complement(read)
    state = both_strands_state(search, read)
    seeds = search.exhaust_seeds(np.array([0]), state)
    assert len(search.exhaust_seeds(np.array([0]), state)) == 0  # (once per read)
    k = index.k
    members = np.asarray(index.cluster_members)
    offsets = np.asarray(index.cluster_offsets)
    counts = {}
    for cluster in range(index.cluster_count):
        held = {
            references[member][1][start : start + k]
            for member in members[offsets[cluster] : offsets[cluster + 1]].tolist()
            for start in range(len(references[member][1]) - k + 1)
        }
        for strand, query in enumerate((read, flipped)):
            windows = [query[start : start + k] for start in range(len(query) - k + 1)]
            counts[cluster, strand] = sum(window in held for window in windows)
    first_of = {int(members[offsets[cluster]]): cluster for cluster in range(index.cluster_count)}
    chosen = {(first_of[reference], strand) for reference, strand, _ in seeds.tolist()}
    assert len(chosen) == len(seeds) == 16
    assert min(counts[key] for key in chosen) >= max(
        count for key, count in counts.items() if key not in chosen
    )
    exhaustive = Aligner(references, "semiglobal", search="exhaustive").align_many(
        [read], strand="both"
    )
    assert_same_batches(
        Aligner(references, "semiglobal", index=index).align_many([read], strand="both"), exhaustive
    )
    monkeypatch.setattr("streamalign._config.SEARCH_SEED_CLUSTERS", 0)
    assert_same_batches(
        Aligner(references, "semiglobal", index=index).align_many([read], strand="both"), exhaustive
    )
