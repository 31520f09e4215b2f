"""The exact database search: each read's best reference, aligning few of them.

For every read (and strand) the k-mer index (:mod:`streamalign.search.index`) gives each
cluster of references an upper bound on the score of any of its members
(:mod:`streamalign.search.bounds`). Per read the search keeps the clusters in decreasing order
of bound and a pool of candidate references (members of expanded clusters, with their own
bound), and repeats:

1. expand clusters while the best cluster bound reaches the best candidate bound or the best
   score found (a cluster's bound is at least each member's, so the pool's best is then the
   best bound left anywhere);
2. align the pool's best few candidates score-only (all reads' candidates of a round in one
   kernel call, a pair per SIMD lane), keep the best score; where the mode aligns the read in
   full with the reference's ends free, a candidate is first *half aligned* once the read has
   a best (:meth:`DatabaseSearch.half_bounds`: the read's second half aligned, its first half
   bounded by k-mers), and aligned in full only if that bound can still beat the best;
3. drop candidates and clusters whose bound cannot beat the best.

A read whose bounds prune too little (every reference's k-mer bound above its best: a read
close to no reference) is *exhausted* (:meth:`_SearchState.exhausts`). It is first seeded
(:meth:`DatabaseSearch.exhaust_seeds`): references of the clusters sharing most of its k-mers
are aligned, so the bounds (the family bounds most) start from a best near its real one.
Then every pair left that can beat its best has its tail aligned at once, and the pairs
are taken in decreasing tail score (the heads' k-mer bounds computed as they come up),
aligned in full until none left can win.

A candidate *beats* the best when its score is higher, or equal and its (reference, strand)
comes first (reference in file order, forward before reverse): the rule of the exhaustive
path (:func:`streamalign.aligner.combine_best`). A read is done when no bound left can beat
its best, so the winner is exactly the exhaustive one, ties included.

Example:
    >>> from streamalign import Aligner
    >>> genes = {"a": "ACGTTGCAGGTACCGATTAGC" * 3, "b": "TTGACCGATAGCATGCAAGT" * 3}
    >>> aligner = Aligner(genes, mode="semiglobal")
    >>> found = DatabaseSearch(build_index(list(genes.values()), k=5), aligner)
    >>> batch = SequenceBatch.from_strings(["GATAGCATGCAAGTTTGAC"])
    >>> result = found.best(batch, encode(batch.sequences), None, None)
    >>> result.references.tolist(), result.scores.tolist(), result.aligned.tolist()
    ([1], [19], [1])
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
from typing import Any

import numpy as np
from numba import njit

from .. import _config
from ..alphabet import (
    LETTERS,
    encode,  # noqa: F401  (used by the module example)
)
from ..kernels import differences, multireference
from ..records import SequenceBatch, _gather_indices
from .bounds import SPANS, BoundModel, _pair_scores, gene_bound, length_loss, span_counts
from .counting import bound_classes, cluster_bounds, member_evidence, query_windows
from .families import (
    COST_SPANS,
    Families,
    ended_bounds,
    event_shifts,
    family_span_costs,
    kept_span_costs,
    priced_events,
    substitution_costs,
    transfer_windows,
    window_costs,
)
from .index import KmerIndex, _letter_masks, build_index  # noqa: F401  (build_index: example)

_NONE = -(2**62)
#: A bound above every score (no bound claimed).
_NO_CLAIM = 2**40


@dataclasses.dataclass
class SearchResult:
    """Per read: the winning reference, strand (True: reverse) and integer score, how many
    (reference, strand) pairs were aligned to find it, how many more only half aligned
    (:meth:`DatabaseSearch.half_bounds`) and how many more their family's consensus
    settled (:meth:`DatabaseSearch.relatives_settle`)."""

    references: np.ndarray
    reverse: np.ndarray
    scores: np.ndarray
    aligned: np.ndarray
    halved: np.ndarray
    related: np.ndarray


class DatabaseSearch:
    """The search of one aligner's references (see the module).

    Args:
        index: the k-mer index of the aligner's references (same order).
        aligner: gives the scoring, the mode and the kernels.
    """

    def __init__(self, index: KmerIndex, aligner: Any) -> None:
        if index.reference_count != len(aligner.references):
            raise ValueError(
                f"the index holds {index.reference_count} references, the aligner "
                f"{len(aligner.references)}"
            )
        self.index = index
        self.aligner = aligner
        local = aligner.mode == "local"
        self.model = BoundModel.create(
            aligner.scoring,
            index.k,
            (
                aligner.query_start_free,
                aligner.query_end_free,
                aligner.reference_start_free,
                aligner.reference_end_free,
            ),
            local=local,
        )
        lengths = index.reference_lengths.astype(np.int64)
        members = index.cluster_members
        starts = index.cluster_offsets[:-1]
        #: members per cluster
        self.cluster_sizes = np.diff(index.cluster_offsets).astype(np.int64)
        member_lengths = lengths[members]
        self.cluster_shortest = np.minimum.reduceat(member_lengths, starts)
        self.cluster_longest = np.maximum.reduceat(member_lengths, starts)
        cluster_masks = np.bitwise_or.reduceat(index.letter_masks[members], starts)
        # Letters other than A C G T per reference, their runs, and the most of both in any
        # stretch of bounds.SPANS letters (see bounds.py): counted only in references whose
        # letter mask holds one (not a pass over every base of the database, in every process).
        self.ambiguous = np.zeros(index.reference_count, dtype=np.int64)
        self.ambiguous_runs = np.zeros(index.reference_count, dtype=np.int64)
        self.span_letters = np.zeros((index.reference_count, len(SPANS)), dtype=np.int64)
        self.span_runs = np.zeros((index.reference_count, len(SPANS)), dtype=np.int64)
        holding = np.flatnonzero(index.letter_masks.astype(np.int64) & ~0b1111)
        (
            self.ambiguous[holding],
            self.ambiguous_runs[holding],
            self.span_letters[holding],
            self.span_runs[holding],
        ) = span_counts(index.reference_codes, index.reference_offsets, holding)
        self.cluster_ambiguous = np.maximum.reduceat(self.ambiguous[members], starts)
        self.cluster_ambiguous_runs = np.maximum.reduceat(self.ambiguous_runs[members], starts)
        self.cluster_span_letters = np.maximum.reduceat(self.span_letters[members], starts)
        self.cluster_span_runs = np.maximum.reduceat(self.span_runs[members], starts)
        masks, inverse = np.unique(
            np.concatenate([index.letter_masks, cluster_masks]), return_inverse=True
        )
        #: Score passes on the kernel with a reference per lane (see :meth:`score_pairs`).
        self.lane_pairs = (
            _config.DIFFERENCE_KERNEL
            and aligner.device == "cpu"
            and differences.fits(
                aligner.scoring.integer_matrix,
                int(aligner.scoring.integer_gap_open),
                int(aligner.scoring.integer_gap_extend),
                aligner.flags,
            )
        )
        #: Whether pairs are first bounded from half an alignment (see :meth:`half_bounds`):
        #: the query aligned in full, the reference's ends free, the difference kernel.
        self.half_aligns = (
            self.lane_pairs
            and aligner.reference_start_free
            and aligner.reference_end_free
            and not aligner.query_start_free
            and not aligner.query_end_free
            and aligner.mode != "local"
        )
        #: Families whose consensus's score bounds its members' (see
        #: :meth:`relatives_settle`): the reference's ends free, the difference kernel, and
        #: some reference in a family.
        families = index.families
        self.families = (
            families
            if self.lane_pairs
            and aligner.reference_start_free
            and aligner.reference_end_free
            and _config.SEARCH_FAMILIES
            and bool(np.any(families.family_of >= 0))
            and aligner.scoring.integer_gap_open >= 0
            and aligner.scoring.integer_gap_extend >= 0
            else None
        )
        #: d(x, y): what a member's letter x can score above its consensus letter y
        self.substitution_costs = substitution_costs(aligner.scoring.integer_matrix)
        self.top_score = int(aligner.scoring.integer_matrix[: len(LETTERS), : len(LETTERS)].max())
        #: per family event its worth; per reference its longest member-only run and the
        #: worth of all its events (``families.priced_events``, for this scoring; only with
        #: :attr:`families`)
        priced = families if self.families is not None else Families.none(0)
        self.event_prices, self.event_longest, self.event_totals = self._priced(priced)
        #: Reference columns per block of the consensus alignments' end maxima kept for the
        #: position-aware family bound (:meth:`family_bounds`; 0: none): with families, the
        #: query aligned in full.
        self.end_block = (
            _config.SEARCH_END_BLOCK
            if self.families is not None and not aligner.query_end_free and aligner.mode != "local"
            else 0
        )
        #: Families of the consensus sequences (``KmerIndex.upper_families``), whose
        #: alignments bound a family's consensus before it is aligned (:meth:`_ceilings`; only
        #: with :attr:`end_block`), and their events' worths, longest runs, totals and shifts.
        upper = index.upper_families
        self.upper = (
            upper
            if self.end_block
            and _config.SEARCH_UPPER_ROWS > 0
            and len(upper.family_of) == priced.family_count
            and bool(np.any(upper.family_of >= 0))
            else None
        )
        upper_priced = self.upper if self.upper is not None else Families.none(0)
        self.upper_prices, self.upper_longest, self.upper_totals = self._priced(upper_priced)
        self.upper_shifts = event_shifts(upper_priced.event_offsets, upper_priced.event_values)
        #: per family: the most its members' events are worth (a consensus scoring below the
        #: best by more settles every member)
        self.family_costs = np.zeros(priced.family_count, dtype=np.int64)
        if self.families is not None:
            in_family = np.flatnonzero(priced.family_of >= 0)
            np.maximum.at(
                self.family_costs, priced.family_of[in_family], self.event_totals[in_family]
            )
        self.masks = masks.astype(np.int64)
        self.reference_mask_ids = inverse[: index.reference_count].astype(np.int64)
        self.cluster_mask_ids = inverse[index.reference_count :].astype(np.int64)
        self.cluster_classes = bound_classes(
            self.cluster_mask_ids,
            self.cluster_ambiguous,
            self.cluster_ambiguous_runs,
            self.cluster_span_letters,
            self.cluster_span_runs,
        )
        self.lengths = lengths

    def _priced(self, families: Families) -> tuple[np.ndarray, ...]:
        """``families.priced_events`` of ``families``' events for this scoring."""
        scoring = self.aligner.scoring
        return priced_events(
            families.event_offsets,
            families.event_values,
            self.substitution_costs,
            max(self.top_score, 0),
            int(scoring.integer_gap_open),
            int(scoring.integer_gap_extend),
        )

    # ------------------------------------------------------------------ per batch

    def best(
        self,
        batch: SequenceBatch,
        codes: np.ndarray,
        reverse_batch: SequenceBatch | None,
        reverse_codes: np.ndarray | None,
    ) -> SearchResult:
        """The best (reference, strand) of every read of ``batch`` (``reverse_*``: its reverse
        complement, or None for the forward strand only), by score-only alignment."""
        state, sources = self.start(batch, codes, reverse_batch, reverse_codes)
        count = len(batch)
        # Candidates per read and round: one first (usually the winner), then a growing number
        # for the reads that need more (many near-equal references: fewer kernel calls).
        sizes = np.full(count, _config.SEARCH_FIRST_ROUND_CANDIDATES, dtype=np.int64)
        active = list(range(count))
        while active:
            pairs: list[tuple[int, int, int, int]] = []
            exhausted: list[np.ndarray] = []
            still = []
            exhausting = [read for read in active if state.exhausts(read)]
            if exhausting:
                # First a best near the read's real one, from the references sharing most of
                # its k-mers (the bounds below, the family bounds most, prune far more with
                # it); then exhausted only if the bounds still prune too little.
                seeds = self.exhaust_seeds(np.array(exhausting, dtype=np.int64), state)
                state.record_pairs(seeds, self.score_pairs(seeds, sources, state))
                exhausting = [read for read in exhausting if state.exhausts(read)]
            if exhausting and self.families is not None:
                # Still exhausting (a read 20% or more from every gene): its best families,
                # by their consensus scores (which the family bounds need all the same).
                seeds = self.family_seeds(np.array(exhausting, dtype=np.int64), state)
                state.record_pairs(seeds, self.score_pairs(seeds, sources, state))
                exhausting = [read for read in exhausting if state.exhausts(read)]
            for read in active:
                if read in exhausting:
                    # Bounds prune too little for this read: everything left that could
                    # still win, at once (see _SearchState.exhausts), half aligned where the
                    # mode allows, else aligned in full.
                    table = state.exhaust(read)
                    table = table[~self.relatives_settle(table, state)]
                    if len(table):
                        exhausted.append(table)
                        still.append(read)
                        sizes[read] = _config.SEARCH_ROUND_CANDIDATES
                    continue
                chosen = state.next_candidates(read, int(sizes[read]))
                if chosen:
                    pairs.extend(
                        (reference, strand, read, half) for reference, strand, half in chosen
                    )
                    still.append(read)
                sizes[read] = min(
                    max(sizes[read] * _config.SEARCH_ROUND_GROWTH, _config.SEARCH_ROUND_CANDIDATES),
                    _config.SEARCH_MAX_ROUND_CANDIDATES,
                )
            active = still
            if exhausted and self.half_aligns:
                # Half aligned first, then back in the reads' pools with those bounds: the
                # pairs most likely to win are aligned in full first, and few others after.
                # (A few reads' tables at a time: each can hold every reference twice.)
                while exhausted:
                    taken = 1
                    size = len(exhausted[0])
                    while (
                        taken < len(exhausted)
                        and size + len(exhausted[taken]) <= _config.SEARCH_HALF_ROWS
                    ):
                        size += len(exhausted[taken])
                        taken += 1
                    rows = np.concatenate(exhausted[:taken])
                    del exhausted[:taken]
                    state.pool_halves(rows, *self.tail_bounds(rows, state))
            if not pairs and not exhausted:
                continue
            listed = np.array(pairs, dtype=np.int64).reshape(-1, 4)
            listed = listed[~self.relatives_settle(listed[:, :3], state)]
            table = np.concatenate([listed[:, :3], *exhausted])
            if self.half_aligns:
                table = table[self._halves_may_win(table, state, listed[:, 3])]
            scores = self.score_pairs(table, sources, state)
            for strand in range(state.strands):
                on = table[:, 1] == strand
                state.record(table[on, 2], table[on, 0], strand, scores[on])
        return SearchResult(
            references=state.best_key // 2,
            reverse=(state.best_key % 2).astype(bool),
            scores=state.best_score,
            aligned=state.aligned,
            halved=state.halved,
            related=state.related,
        )

    def start(
        self,
        batch: SequenceBatch,
        codes: np.ndarray,
        reverse_batch: SequenceBatch | None,
        reverse_codes: np.ndarray | None,
        by_count: bool = False,
    ) -> tuple[_SearchState, list[tuple[SequenceBatch, np.ndarray]]]:
        """The search state of a batch (every read's clusters in decreasing bound, or with
        ``by_count`` in decreasing count of shared k-mers, no bound computed) and the
        per-strand ``(batch, codes)`` sources that :meth:`score_pairs` takes."""
        strands = 1 if reverse_codes is None else 2
        count = len(batch)
        offsets = batch.offsets.astype(np.int64)
        if strands == 2:
            assert reverse_codes is not None
            all_codes = np.concatenate([codes, reverse_codes])
            all_offsets = np.concatenate(
                [offsets[:-1], offsets[:-1] + len(codes), [2 * len(codes)]]
            )
        else:  # query-strand ``strand * count + read``
            all_codes, all_offsets = codes, offsets
        state = self._prepare(all_codes, all_offsets, strands, count, by_count)
        sources = [(batch, codes)]
        if strands == 2:
            assert reverse_batch is not None and reverse_codes is not None
            sources.append((reverse_batch, reverse_codes))
        return state, sources

    def _prepare(
        self,
        all_codes: np.ndarray,
        all_offsets: np.ndarray,
        strands: int,
        count: int,
        by_count: bool = False,
    ) -> _SearchState:
        """k-mers, letter tables and sorted cluster bounds (``by_count``: counts) of every
        query-strand."""
        k = self.index.k
        kmers, multiplicities, kmer_offsets, slots, window_offsets = query_windows(
            all_codes, all_offsets, k
        )
        query_masks = _letter_masks(all_codes, all_offsets)
        query_ambiguous = _ambiguous_counts(all_codes, all_offsets)
        pair_best, pair_plain, pair_ambiguous = _pair_table(
            self.model.matrix, query_masks, self.masks
        )
        all_lengths = np.diff(all_offsets)
        cluster_offsets, clusters, bounds, unshared, shared = cluster_bounds(
            kmers,
            multiplicities,
            kmer_offsets,
            all_lengths,
            self.index.kmer_offsets,
            self.index.postings,
            self.index.cluster_count,
            self.cluster_shortest,
            self.cluster_longest,
            self.cluster_mask_ids,
            self.cluster_ambiguous,
            self.cluster_ambiguous_runs,
            self.cluster_span_letters,
            self.cluster_span_runs,
            self.cluster_classes,
            query_ambiguous,
            pair_best,
            pair_plain,
            pair_ambiguous,
            k,
            self.model.gap_open,
            self.model.gap_extend,
            self.model.query_end_free,
            self.model.reference_ends_penalized,
            by_count,
        )
        state = _SearchState(
            self,
            strands,
            count,
            cluster_offsets,
            clusters,
            bounds,
            unshared,
            kmers,
            multiplicities,
            kmer_offsets,
            all_lengths,
            query_ambiguous,
            (pair_best, pair_plain, pair_ambiguous),
            slots,
            window_offsets,
        )
        state.shared = shared
        state.codes = all_codes
        state.offsets = all_offsets
        return state

    def reference_bounds(self, codes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, ...]:
        """For each query (forward strand) and each reference: the bound of the reference's
        cluster and the reference's own bound, as two ``(queries, references)`` arrays (what
        the search compares with scores; for tests and diagnostics)."""
        count = len(offsets) - 1
        state = self._prepare(codes, offsets.astype(np.int64), 1, count)
        index = self.index
        clusters = np.empty((count, index.reference_count), dtype=np.int64)
        members = np.empty((count, index.reference_count), dtype=np.int64)
        for query in range(count):
            start, end = state.cluster_offsets[query], state.cluster_offsets[query + 1]
            cluster_bound = np.full(index.cluster_count, int(state.unshared[query]))
            cluster_bound[state.clusters[start:end]] = state.bounds[start:end]
            for cluster in range(index.cluster_count):
                own = index.cluster_members[
                    index.cluster_offsets[cluster] : index.cluster_offsets[cluster + 1]
                ]
                clusters[query, own] = cluster_bound[cluster]
                members[query, own] = state._member_bounds(query, cluster, own)
        return clusters, members

    def half_bounds(self, table: np.ndarray, state: _SearchState) -> np.ndarray:
        """Upper bounds on the scores of the ``(reference, strand, read)`` rows of ``table``
        from half an alignment (see :mod:`streamalign.search.bounds`, *Half an alignment*):
        the score-only alignment of each query's tail (its last
        ``_config.SEARCH_TAIL_SHARE`` of letters) plus the bound of the missing windows'
        cover of its head, that head's end free. Only where :attr:`half_aligns` holds.

        A row whose tail alone, with every head letter scoring ``s_max``, stays below its
        read's best keeps that bound (its head is not scanned: it cannot win either way)."""
        tails, bounds = self.tail_bounds(table, state)
        scanned = np.flatnonzero((bounds >= state.best_score[table[:, 2]]) & (bounds < _NO_CLAIM))
        bounds[scanned] = tails[scanned] + self.head_bounds(table[scanned], state)
        return bounds

    def tail_bounds(self, table: np.ndarray, state: _SearchState) -> tuple[np.ndarray, ...]:
        """For the rows of :meth:`half_bounds`: the tails' optimal scores, and the bounds
        with every head letter at ``s_max`` (``_NO_CLAIM`` where ``s_max <= 0``)."""
        halves = state.halves
        queries = table[:, 1] * state.count + table[:, 2]
        references = table[:, 0]
        index = self.index
        tails = self._lane_scores(
            halves.tail_codes,
            halves.tail_offsets,
            queries,
            index.reference_codes,
            index.reference_offsets,
            references,
            self.regions(table, state),
        )
        s_maxima = state.pairs[0].max(axis=1)[queries]
        bounds = tails + halves.head_lengths[queries] * np.maximum(s_maxima, 0)
        bounds[s_maxima <= 0] = _NO_CLAIM
        return tails, bounds

    def _lane_scores(
        self,
        query_codes: np.ndarray,
        query_offsets: np.ndarray,
        queries: np.ndarray,
        sequence_codes: np.ndarray,
        sequence_offsets: np.ndarray,
        sequences: np.ndarray,
        regions: tuple[np.ndarray, ...] | None = None,
        maxima: np.ndarray | None = None,
    ) -> np.ndarray:
        """Score-only alignments of ``queries`` (of ``query_codes``/``query_offsets``)
        against ``sequences`` (of ``sequence_codes``/``sequence_offsets``: the references, or
        the families' consensus sequences), a pair per lane; against the stretches
        ``regions`` (starts within each sequence, lengths: :meth:`regions`) if given; each
        pair's end maxima per :attr:`end_block` columns written to the rows of ``maxima``
        if given."""
        starts = sequence_offsets[sequences].astype(np.int64)
        lengths = sequence_offsets[sequences + 1] - starts
        if regions is not None:
            starts = starts + regions[0]
            lengths = regions[1]
        scoring = self.aligner.scoring
        return multireference.score_pairs(
            query_codes,
            query_offsets,
            queries,
            sequence_codes,
            starts,
            lengths,
            scoring.integer_matrix,
            int(scoring.integer_gap_open),
            int(scoring.integer_gap_extend),
            self.aligner.flags,
            self.end_block if maxima is not None else 0,
            maxima,
        )

    @functools.cached_property
    def event_shifts(self) -> np.ndarray:
        """Per reference: the most its letters lie away from their consensus partners
        (``families.event_shifts``; only with :attr:`families`)."""
        assert self.families is not None
        return event_shifts(self.families.event_offsets, self.families.event_values)

    @functools.cached_property
    def span_costs(self) -> np.ndarray:
        """Per reference and span of ``COST_SPANS``: the worth of its costliest events in
        a stretch of that many letters, -1 until computed (``families.kept_span_costs``
        fills it as the family bounds need it)."""
        return np.full((self.index.reference_count, len(COST_SPANS)), -1, dtype=np.int32)

    def exhaust_seeds(self, reads: np.ndarray, state: _SearchState) -> np.ndarray:
        """``(reference, strand, read)`` rows to align before ``reads`` are exhausted: per
        read, the first member of each of the ``_config.SEARCH_SEED_CLUSTERS`` clusters not
        opened yet (over both strands) whose members hold the most of its windows' k-mers.
        Each read is seeded once (marked in ``state``).

        Aligning more pairs never changes a read's winner; these give the exhaust's bounds
        a best close to the read's real one where the first rounds' candidates (taken in
        decreasing k-mer *bound*, which says little for a read close to no reference) scored
        far less: a gene 20% away still shares tens of 8-mers with a 250-letter read, an
        unrelated one next to none."""
        reads = reads[~state.seeded[reads]]
        state.seeded[reads] = True
        most = _config.SEARCH_SEED_CLUSTERS
        index = self.index
        rows: list[tuple[int, int, int]] = []
        for read in reads.tolist():
            counts = []
            listed = []
            for strand in range(state.strands):
                query = strand * state.count + read
                start = int(state.cursor[query])  # (clusters not opened yet)
                end = int(state.cluster_offsets[query + 1])
                counts.append(state.shared[start:end])
                listed.append(np.stack([state.clusters[start:end], np.full(end - start, strand)]))
            shared = np.concatenate(counts)
            taken = min(most, len(shared))
            if not taken:
                continue
            top = np.argpartition(-shared, taken - 1)[:taken]
            clusters, strands = np.concatenate(listed, axis=1)[:, top]
            firsts = index.cluster_members[index.cluster_offsets[clusters]]
            rows.extend(
                (int(member), int(strand), read)
                for member, strand in zip(firsts.tolist(), strands.tolist(), strict=True)
            )
        return np.array(rows, dtype=np.int64).reshape(-1, 3)

    @functools.cached_property
    def central_members(self) -> np.ndarray:
        """Per family, its member whose events are worth least (the closest to the
        consensus; only with :attr:`families`)."""
        assert self.families is not None
        family_of = self.families.family_of.astype(np.int64)
        members = np.flatnonzero(family_of >= 0)
        order = np.lexsort((members, self.event_totals[members], family_of[members]))
        ordered = family_of[members[order]]
        first = np.flatnonzero(np.diff(ordered, prepend=-1) != 0)
        central = np.empty(self.families.family_count, dtype=np.int64)
        central[ordered[first]] = members[order[first]]
        return central

    def family_seeds(self, reads: np.ndarray, state: _SearchState) -> np.ndarray:
        """``(reference, strand, read)`` rows to align before ``reads`` are exhausted: per
        read, the central member of each of its ``_config.SEARCH_SEED_FAMILIES``
        best-scoring families, over both strands (every family's consensus aligned against
        every query-strand of the reads and kept in ``state``, as :meth:`relatives_settle`
        wants it). Each is marked seeded: a read is seeded once.

        Aligning more pairs never changes a read's winner; these give the exhaust's bounds
        a best close to the read's real one where the first rounds' candidates (taken by
        k-mer bounds, which say little for a read close to no reference) scored far less."""
        families = self.families
        assert families is not None
        reads = reads[~state.family_seeded[reads]]
        state.family_seeded[reads] = True
        count = families.family_count
        most = min(_config.SEARCH_SEED_FAMILIES, state.strands * count)
        if not len(reads) or most <= 0:
            return np.zeros((0, 3), dtype=np.int64)
        strands = np.arange(state.strands, dtype=np.int64)
        queries = (reads[:, None] + strands[None, :] * state.count).ravel()  # read-major
        keys = (queries[:, None] * count + np.arange(count, dtype=np.int64)[None, :]).ravel()
        scores = self.consensus_scores(keys, state)
        per_read = scores.reshape(len(reads), state.strands * count)
        top = np.argpartition(-per_read, most - 1, axis=1)[:, :most]
        table = np.empty((len(reads) * most, 3), dtype=np.int64)
        table[:, 0] = self.central_members[(top % count).ravel()]
        table[:, 1] = (top // count).ravel()
        table[:, 2] = np.repeat(reads, most)
        return table

    def consensus_scores(
        self,
        keys: np.ndarray,
        state: _SearchState,
        wanted: np.ndarray | None = None,
        ahead: np.ndarray | None = None,
    ) -> np.ndarray:
        """Scores of the consensus alignments ``keys`` (``query * families + family``;
        distinct), kept in ``state`` once aligned: those not known yet are aligned where
        ``wanted`` (default: all), the others are ``_NONE``. When some are aligned, so are
        the ``ahead`` keys not known yet, up to ``SEARCH_FAMILY_AHEAD`` in all (one kernel
        call takes as long for a few pairs as for 64)."""
        assert self.families is not None
        cache = state.consensus_scores
        scores = np.array([cache.get(key, _NONE) for key in keys.tolist()], dtype=np.int64)
        missing = scores == _NONE
        if wanted is not None:
            missing &= wanted
        missing = np.flatnonzero(missing)
        if not len(missing):
            return scores
        aligning = keys[missing]
        if ahead is not None and len(aligning) < _config.SEARCH_FAMILY_AHEAD:
            later = np.setdiff1d(ahead, aligning)
            later = np.array([key for key in later.tolist() if key not in cache], np.int64)
            aligning = np.concatenate(
                [aligning, later[: _config.SEARCH_FAMILY_AHEAD - len(aligning)]]
            )
        stretches = None
        if self.upper is not None and self.end_block and len(aligning) >= _config.SEARCH_UPPER_KEYS:
            ceilings, begins, ends = self._ceilings(aligning, state)
            settled = ceilings < _NO_CLAIM
            cache.update(zip(aligning[settled].tolist(), ceilings[settled].tolist(), strict=True))
            aligning = aligning[~settled]
            stretches = (begins[~settled], ends[~settled])
        if len(aligning):
            aligned = self._consensus_alignments(aligning, state, stretches)
            cache.update(zip(aligning.tolist(), aligned.tolist(), strict=True))
        scores[missing] = [cache[key] for key in keys[missing].tolist()]
        return scores

    def _ceilings(self, keys: np.ndarray, state: _SearchState) -> tuple[np.ndarray, ...]:
        """For the consensus alignments ``keys`` (``query * families + family``): where the
        alignment of the family's upper consensus (:attr:`upper`) proves that no member can
        reach the read's best ``B``, a value that stands in for the consensus's score (every
        member's bound from it stays below ``B``); ``_NO_CLAIM`` elsewhere. Also the stretch
        of each consensus (``begins``, ``ends``: a multiple of :attr:`end_block`, and past
        the last letter) that holds every alignment scoring ``theta`` or more (below), from
        the upper end blocks whose bound reaches it (:meth:`regions` one level up); the
        whole consensus where no upper alignment says so.

        Returns:
            ``(ceilings, begins, ends)``.

        A member reaching ``B`` needs ``opt(Q, C) >= theta = B - T_f``, ``T_f`` the most a
        member's events in the window of ``B`` are worth (:meth:`family_span_costs`). The
        consensus ``C`` is a member of its upper family, so an alignment of ``Q`` against it
        scoring ``theta`` or more scores at most its position-aware bound ``U`` from the
        upper consensus (``families.ended_bounds``, window of ``theta``); ``U < theta``
        proves ``opt(Q, C) < theta``. ``U`` stands in for the score: a later best ``B' >=
        B`` has ``theta' >= theta``, and every member bound the search takes from ``U``
        stays below ``U + T_f < B``. Used only where an upper family holds at least
        ``SEARCH_UPPER_ROWS`` of the keys (an upper alignment costs as much as a consensus
        one)."""
        families = self.families
        upper = self.upper
        assert families is not None and upper is not None
        result = np.full(len(keys), _NO_CLAIM, dtype=np.int64)
        count = families.family_count
        queries = keys // count
        chosen = keys % count
        begins = np.zeros(len(keys), dtype=np.int64)
        ends = families.consensus_offsets[chosen + 1] - families.consensus_offsets[chosen]
        uppers = upper.family_of[chosen].astype(np.int64)
        best = state.best_score[queries % state.count]
        rows = np.flatnonzero((uppers >= 0) & (best > _NONE))
        if not len(rows):
            return result, begins, ends
        upper_keys = queries[rows] * upper.family_count + uppers[rows]
        unique, inverse, counts = np.unique(upper_keys, return_inverse=True, return_counts=True)
        enough = counts[inverse] >= _config.SEARCH_UPPER_ROWS
        rows, inverse = rows[enough], inverse[enough]
        if not len(rows):
            return result, begins, ends
        used = np.unique(inverse)
        slots = np.searchsorted(used, inverse)
        unique = unique[used]
        maxima = self._upper_maxima(unique, state)
        scoring = self.aligner.scoring
        gap_open, gap_extend = int(scoring.integer_gap_open), int(scoring.integer_gap_extend)
        lengths = state.query_lengths[queries[rows]]
        windows = transfer_windows(lengths, best[rows], self.top_score, gap_open, gap_extend)
        thresholds = best[rows] - self.family_span_costs(chosen[rows], windows)
        theta_windows = transfer_windows(lengths, thresholds, self.top_score, gap_open, gap_extend)
        stretched = self.aligner.reference_start_free and self.aligner.reference_end_free
        ceilings, first, last = ended_bounds(
            chosen[rows],
            slots,
            np.zeros(len(unique), dtype=np.int64),
            np.full(len(unique), _NONE, dtype=np.int64),
            np.arange(len(unique) + 1, dtype=np.int64) * maxima.shape[1],
            maxima.ravel(),
            self.end_block,
            theta_windows,
            upper.event_offsets,
            upper.event_positions,
            self.upper_prices,
            self.upper_longest,
            self.upper_shifts,
            self.upper_totals,
            thresholds if stretched else np.full(len(rows), _NO_CLAIM, dtype=np.int64),
            # (past it: not settled, whatever the rest; the stretch needs every block)
            np.full(len(rows), _NO_CLAIM, dtype=np.int64) if stretched else thresholds - 1,
        )
        settled = ceilings < thresholds
        result[rows[settled]] = ceilings[settled]
        if stretched:
            # An alignment scoring theta or more ends in the blocks first to last of the
            # upper consensus and uses consensus letters from the window and the shift and
            # longest run before the first (see :meth:`regions`).
            # (The begin on a block's first column: end maxima stay on the consensus's blocks.)
            open_rows = rows[~settled]
            members = chosen[open_rows]
            begin, ends[open_rows] = _ended_stretches(
                first[~settled],
                last[~settled],
                self.end_block,
                theta_windows[~settled],
                self.upper_shifts[members] + self.upper_longest[members],
                ends[open_rows],
            )
            begins[open_rows] = begin // self.end_block * self.end_block
        return result, begins, ends

    def _upper_maxima(self, keys: np.ndarray, state: _SearchState) -> np.ndarray:
        """End maxima (rows of blocks of :attr:`end_block` columns) of the upper consensus
        alignments ``keys`` (``query * upper families + upper family``; distinct), kept in
        ``state.upper_ends`` once aligned."""
        upper = self.upper
        assert upper is not None
        block = self.end_block
        width = int(np.diff(upper.consensus_offsets).max(initial=0)) // block + 1
        kept = state.upper_ends
        missing = np.array([key not in kept for key in keys.tolist()], dtype=bool)
        if missing.any():
            aligning = keys[missing]
            _, maxima = self._end_maxima(
                state, aligning // upper.family_count, upper, aligning % upper.family_count, width
            )
            kept.update(zip(aligning.tolist(), maxima, strict=True))
        return np.stack([kept[key] for key in keys.tolist()])

    def _end_maxima(
        self,
        state: _SearchState,
        queries: np.ndarray,
        families: Families,
        chosen: np.ndarray,
        width: int,
        regions: tuple[np.ndarray, ...] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and end maxima (``width`` blocks of :attr:`end_block` columns each) of
        ``queries`` against the consensus sequences ``chosen`` of ``families`` (their
        stretches ``regions`` if given, as :meth:`_lane_scores` takes them)."""
        maxima = np.full((len(chosen), width), _NONE, dtype=np.int64)
        scores = self._lane_scores(
            state.codes,
            state.offsets,
            queries,
            families.consensus_codes,
            families.consensus_offsets,
            chosen,
            regions,
            maxima,
        )
        return scores, maxima

    def family_span_costs(self, chosen: np.ndarray, windows: np.ndarray) -> np.ndarray:
        """Per row: the most the events of any member of family ``chosen[row]`` within a
        stretch of ``windows[row]`` letters (runs overlapping it included) are worth, from
        the kept span worths (``families.kept_span_costs``; all events past the largest
        span)."""
        families = self.families
        assert families is not None
        offsets, members = self.family_members
        slots = np.searchsorted(COST_SPANS, windows + self.family_longest[chosen] - 1)
        result = self.family_costs[chosen].copy()
        spanned = np.flatnonzero(slots < len(COST_SPANS))
        result[spanned] = family_span_costs(
            chosen[spanned],
            slots[spanned],
            offsets,
            members,
            COST_SPANS,
            families.event_offsets,
            families.event_positions,
            self.event_prices,
            self.span_costs,
            self.family_kept_costs,
        )
        return result

    @functools.cached_property
    def family_members(self) -> tuple[np.ndarray, np.ndarray]:
        """Each family's members: offsets (per family) into the references by family."""
        assert self.families is not None
        family_of = self.families.family_of
        members = np.argsort(family_of, kind="stable")
        members = members[family_of[members] >= 0].astype(np.int64)
        offsets = np.searchsorted(
            family_of[members], np.arange(self.families.family_count + 1)
        ).astype(np.int64)
        return offsets, members

    @functools.cached_property
    def family_longest(self) -> np.ndarray:
        """Per family: its members' longest member-only run (at least 1)."""
        assert self.families is not None
        _, members = self.family_members
        longest = np.ones(self.families.family_count, dtype=np.int64)
        np.maximum.at(longest, self.families.family_of[members], self.event_longest[members])
        return longest

    @functools.cached_property
    def family_kept_costs(self) -> np.ndarray:
        """Per family and span of ``COST_SPANS``: :meth:`family_span_costs`' value, -1
        until computed."""
        assert self.families is not None
        return np.full((self.families.family_count, len(COST_SPANS)), -1, dtype=np.int64)

    def _consensus_alignments(
        self,
        keys: np.ndarray,
        state: _SearchState,
        stretches: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Scores of the consensus alignments ``keys`` (``query * families + family``). With
        :attr:`end_block`, each one's end maxima are kept in ``state.consensus_ends`` where
        they can matter: the blocks from the first to the last that, with the family's
        costliest member's events, reach its read's best (all without a best yet), and the
        floor ``best - 1`` that the others cannot reach; nothing where none does.

        With ``stretches`` (:meth:`_ceilings`' ``begins`` and ``ends``), each consensus is
        aligned against that stretch only: the score is the whole consensus's wherever that
        reaches ``theta``, and below ``theta`` otherwise (the reference's ends are free), so
        every member bound taken from it holds (a member that reaches the best has a
        consensus alignment scoring ``theta`` or more, which lies in the stretch; see
        :mod:`streamalign.search.bounds`). End maxima are kept on the whole consensus's
        blocks."""
        families = self.families
        assert families is not None
        count = families.family_count
        queries = keys // count
        chosen = keys % count
        if not self.end_block:
            return self._lane_scores(
                state.codes,
                state.offsets,
                queries,
                families.consensus_codes,
                families.consensus_offsets,
                chosen,
            )
        if stretches is None:
            begins = np.zeros(len(keys), dtype=np.int64)
            lengths = families.consensus_offsets[chosen + 1] - families.consensus_offsets[chosen]
        else:
            begins = stretches[0]
            lengths = stretches[1] - begins
        width = int(lengths.max(initial=0)) // self.end_block + 1
        scores = np.empty(len(keys), dtype=np.int64)
        # (In pieces: the end maxima of a far read's every family would take 100 MiB at once,
        # and fresh pages cost more than the kernel fills them in.)
        piece = max(1, _config.SEARCH_END_MAXIMA_CELLS // width)
        for first_row in range(0, len(keys), piece):
            part = slice(first_row, first_row + piece)
            scores[part], maxima = self._end_maxima(
                state, queries[part], families, chosen[part], width, (begins[part], lengths[part])
            )
            self._keep_ends(keys[part], chosen[part], maxima, begins[part] // self.end_block, state)
        return scores

    def _keep_ends(
        self,
        keys: np.ndarray,
        chosen: np.ndarray,
        maxima: np.ndarray,
        first_blocks: np.ndarray,
        state: _SearchState,
    ) -> None:
        """Keep in ``state.consensus_ends`` the end maxima of the consensus alignments
        ``keys`` (of families ``chosen``; their first column ``first_blocks`` blocks into
        the consensus) where they can matter (see :meth:`_consensus_alignments`)."""
        families = self.families
        assert families is not None
        best = state.best_score[keys // families.family_count % state.count]
        thresholds = np.where(best > _NONE, best - self.family_costs[chosen], _NONE)
        hot = maxima >= thresholds[:, None]
        rows = np.flatnonzero(hot.any(axis=1))
        firsts = hot[rows].argmax(axis=1)
        ends = hot.shape[1] - hot[rows, ::-1].argmax(axis=1)
        floors = np.where(best[rows] > _NONE, best[rows] - 1, _NONE)
        state.consensus_ends.update(
            (key, (first + shift, maxima[row, first:end].copy(), floor))
            for key, row, first, end, floor, shift in zip(
                keys[rows].tolist(),
                rows.tolist(),
                firsts.tolist(),
                ends.tolist(),
                floors.tolist(),
                first_blocks[rows].tolist(),
                strict=True,
            )
        )

    def relatives_settle(self, table: np.ndarray, state: _SearchState) -> np.ndarray:
        """Which ``(reference, strand, read)`` rows of ``table`` cannot beat their read's
        best by their family's consensus score (:meth:`family_bounds`; counted in
        ``state.related``)."""
        bounds = self.family_bounds(table, state, verdict=True)
        if not len(table):
            return np.zeros(0, dtype=bool)
        reads = table[:, 2]
        settled = ~_beats(
            bounds, table[:, 0] * 2 + table[:, 1], state.best_score[reads], state.best_key[reads]
        )
        np.add.at(state.related, reads[settled], 1)
        return settled

    def family_bounds(
        self,
        table: np.ndarray,
        state: _SearchState,
        rows_needed: int = 0,
        ahead: np.ndarray | None = None,
        verdict: bool = False,
    ) -> np.ndarray:
        """Upper bounds on the scores of the ``(reference, strand, read)`` rows of ``table``
        from their family's consensus score (:mod:`streamalign.search.bounds`, *A
        relative's alignment*; ``_NO_CLAIM`` for a row in no family, of a read with no best
        yet, or whose consensus is not aligned).

        ``opt(Q, M) <= opt(Q, C) + T(M, W)`` (``T``: the most the events of ``M`` in ``W``
        consecutive letters can be worth) holds whenever ``opt(Q, M)`` reaches the best
        ``B``, with ``W = |Q| + D``, ``D`` the most deletions an alignment scoring ``B`` can
        hold: a bound below ``B`` is valid, and one at or above it says nothing more than
        that. A consensus is aligned once per query-strand (its score kept in the state),
        once a call holds ``rows_needed`` (default ``SEARCH_FAMILY_ROWS``) of its members'
        rows; when it aligns some, the consensus sequences of the ``ahead`` keys (``query *
        families + family``) not known yet are aligned with them, up to
        ``SEARCH_FAMILY_AHEAD`` in all.

        Where that bound (with the events of the shortest kept span holding the window)
        still reaches the best: with end maxima kept (:attr:`end_block`), the lower of it
        and the position-aware bound (*A relative's alignment, by where it ends*: only the
        member's events near where the read's alignments with the consensus end count);
        without, the window's own events. With ``verdict`` (the caller only asks which rows
        can beat their read's best), a bound above the best may be any value above it."""
        result = np.full(len(table), _NO_CLAIM, dtype=np.int64)
        families = self.families
        if families is None or not len(table):
            return result
        references = table[:, 0]
        family_of = families.family_of[references].astype(np.int64)
        reads = table[:, 2]
        rows = np.flatnonzero((family_of >= 0) & (state.best_score[reads] > _NONE))
        if not len(rows):
            return result
        reads = reads[rows]
        queries = table[rows, 1] * state.count + reads
        count = families.family_count
        keys = queries * count + family_of[rows]
        unique, inverse = np.unique(keys, return_inverse=True)
        enough = np.bincount(inverse, minlength=len(unique)) >= (
            rows_needed or _config.SEARCH_FAMILY_ROWS
        )
        scores = self.consensus_scores(unique, state, enough, ahead)[inverse]
        best = state.best_score[reads]
        best_keys = state.best_key[reads]
        row_keys = references[rows] * 2 + table[rows, 1]
        # Bounds: the consensus's score plus all the member's events first, then, where that
        # reaches the best but the score alone does not, the events in a window only.
        bounds = np.where(scores == _NONE, _NO_CLAIM, scores + self.event_totals[references[rows]])
        unsure = np.flatnonzero(
            (scores > _NONE)
            & _beats(bounds, row_keys, best, best_keys)
            & ~_beats(scores, row_keys, best, best_keys)
        )
        scoring = self.aligner.scoring
        windows = transfer_windows(
            state.query_lengths[queries[unsure]],
            best[unsure],
            self.top_score,
            int(scoring.integer_gap_open),
            int(scoring.integer_gap_extend),
        )
        # First the worth of the events in the shortest kept span holding the window (each
        # member's computed once per span), then, where that still reaches the best, the
        # position-aware bound (with end maxima kept) or the window's own worth.
        members = references[rows[unsure]]
        slots = np.searchsorted(COST_SPANS, windows + self.event_longest[members] - 1)
        spanned = np.flatnonzero(slots < len(COST_SPANS))
        bounds[unsure[spanned]] = scores[unsure[spanned]] + kept_span_costs(
            members[spanned],
            slots[spanned],
            COST_SPANS,
            families.event_offsets,
            families.event_positions,
            self.event_prices,
            self.span_costs,
        )
        exact = np.flatnonzero(
            _beats(bounds[unsure], row_keys[unsure], best[unsure], best_keys[unsure])
        )
        if self.end_block:
            # Where that still reaches the best: the events near where the read's
            # alignments with the consensus end, block by block. (The window's own worth
            # is not computed first: for the growth benchmark's 18 far reads at 399,400
            # genes it settled 5,926 of the 1,144,834 rows this settles 703,602 of alone.)
            ended = self._ended_bounds(
                keys[unsure[exact]],
                members[exact],
                windows[exact],
                state,
                stops=best[unsure[exact]] if verdict else None,
            )[0]
            bounds[unsure[exact]] = np.minimum(bounds[unsure[exact]], ended)
        else:
            bounds[unsure[exact]] = scores[unsure[exact]] + window_costs(
                members[exact],
                windows[exact],
                families.event_offsets,
                families.event_positions,
                self.event_prices,
                self.event_longest,
            )
        result[rows] = bounds
        return result

    def _ended_bounds(
        self,
        keys: np.ndarray,
        members: np.ndarray,
        windows: np.ndarray,
        state: _SearchState,
        thresholds: np.ndarray | None = None,
        stops: np.ndarray | None = None,
    ) -> tuple[np.ndarray, ...]:
        """:meth:`family_bounds`' position-aware bounds of ``members`` from the end maxima
        kept for their consensus alignments ``keys`` (``_NO_CLAIM`` where none are kept):
        exact where they reach their read's best, below it otherwise (the floor starts at
        the best less one: blocks that cannot reach the best are skipped); and the first and
        last end block reaching ``thresholds`` (``families.ended_bounds``; -2 where no end
        maxima are kept). With ``stops``, a bound above its row's stop is only known to be
        above it (and its block range is unfinished).

        Returns:
            ``(bounds, first_blocks, last_blocks)``.
        """
        families = self.families
        assert families is not None
        bounds = np.full(len(keys), _NO_CLAIM, dtype=np.int64)
        first_blocks = np.full(len(keys), -2, dtype=np.int64)
        last_blocks = first_blocks.copy()
        unique, slots = np.unique(keys, return_inverse=True)
        kept = [state.consensus_ends.get(key) for key in unique.tolist()]
        present = np.array([entry is not None for entry in kept], dtype=bool)
        rows = np.flatnonzero(present[slots])
        if not len(rows):
            return bounds, first_blocks, last_blocks
        entries = [entry for entry in kept if entry is not None]
        renumbered = np.cumsum(present) - 1
        sizes = np.array([len(entry[1]) for entry in entries], dtype=np.int64)
        bounds[rows], first_blocks[rows], last_blocks[rows] = ended_bounds(
            members[rows],
            renumbered[slots[rows]],
            np.array([entry[0] for entry in entries], dtype=np.int64),
            np.maximum(
                np.array([entry[2] for entry in entries], dtype=np.int64),
                state.best_score[unique[present] // families.family_count % state.count] - 1,
            ),
            np.concatenate([[0], np.cumsum(sizes)]),
            np.concatenate([entry[1] for entry in entries]),
            self.end_block,
            windows[rows],
            families.event_offsets,
            families.event_positions,
            self.event_prices,
            self.event_longest,
            self.event_shifts,
            self.event_totals,
            np.full(len(rows), _NO_CLAIM, dtype=np.int64)
            if thresholds is None
            else thresholds[rows],
            np.full(len(rows), _NO_CLAIM, dtype=np.int64) if stops is None else stops[rows],
        )
        return bounds, first_blocks, last_blocks

    def regions(self, table: np.ndarray, state: _SearchState) -> tuple[np.ndarray, ...]:
        """Per ``(reference, strand, read)`` row of ``table``: the stretch of the reference
        (start, length) that holds every alignment of the read able to beat its best, from
        the end maxima kept for its family's consensus alignment (the blocks where the
        position-aware bound reaches the best, widened by the window, shift and longest run
        of :func:`~streamalign.search.families.ended_bounds`); the whole reference elsewhere,
        and an empty stretch where no block reaches the best. Aligning the stretch gives the
        exact score wherever it reaches the best, and a score below it otherwise (the
        reference's ends are free)."""
        references = table[:, 0]
        starts = np.zeros(len(table), dtype=np.int64)
        lengths = self.lengths[references].copy()
        families = self.families
        if not self.end_block or families is None or not len(table):
            return starts, lengths
        family_of = families.family_of[references].astype(np.int64)
        reads = table[:, 2]
        rows = np.flatnonzero((family_of >= 0) & (state.best_score[reads] > _NONE))
        if not len(rows):
            return starts, lengths
        queries = table[rows, 1] * state.count + reads[rows]
        best = state.best_score[reads[rows]]
        scoring = self.aligner.scoring
        windows = transfer_windows(
            state.query_lengths[queries],
            best,
            self.top_score,
            int(scoring.integer_gap_open),
            int(scoring.integer_gap_extend),
        )
        members = references[rows]
        _, first, last = self._ended_bounds(
            queries * families.family_count + family_of[rows], members, windows, state, best
        )
        kept = first > -2
        rows, first, last = rows[kept], first[kept], last[kept]
        members, windows = members[kept], windows[kept]
        begin, end = _ended_stretches(
            first,
            last,
            self.end_block,
            windows,
            self.event_shifts[members] + self.event_longest[members],
            lengths[rows],
        )
        reaching = first >= 0
        starts[rows] = np.where(reaching, begin, 0)
        lengths[rows] = np.where(reaching, end - begin, 0)
        return starts, lengths

    def head_bounds(self, table: np.ndarray, state: _SearchState) -> np.ndarray:
        """For the rows of :meth:`half_bounds`: the bounds of the heads by the cover of their
        missing windows, the head's end free (``_NO_CLAIM`` where ``s_max <= 0``)."""
        halves = state.halves
        queries = table[:, 1] * state.count + table[:, 2]
        references = table[:, 0]
        index = self.index
        model = self.model
        heads = np.empty(len(table), dtype=np.int64)
        order = np.argsort(queries, kind="stable")
        sorted_queries = queries[order]
        for first, last in zip(*(run.tolist() for run in _runs(sorted_queries)), strict=True):
            query = int(sorted_queries[first])
            chosen = order[first:last]
            s_max, s_plain, s_ambiguous = state.pair_scores(query, -1)
            if s_max <= 0:
                heads[chosen] = _NO_CLAIM
                continue
            _, losses = member_evidence(
                halves.kmers,
                halves.multiplicities,
                halves.kmer_offsets,
                halves.slots,
                halves.window_offsets,
                query,
                index.reference_codes,
                index.reference_offsets,
                references[chosen].astype(np.int32),
                index.k,
                max(s_max - s_plain, 0),
                model.gap_open,
                model.gap_extend,
                s_max,
                False,
                True,
                -1,
            )
            saving = min(max(s_ambiguous - s_plain, 0), 2**32)
            losses = np.maximum(losses - int(halves.ambiguous[query]) * saving, 0)
            heads[chosen] = int(halves.head_lengths[query]) * s_max - losses
        return heads

    def _halves_may_win(
        self, table: np.ndarray, state: _SearchState, bounded: np.ndarray
    ) -> np.ndarray:
        """Which rows of ``table`` may still beat their read's best: every row of a read
        with no best yet, or half aligned already (``bounded``, for its first rows), the
        others by :meth:`half_bounds` (counted in ``state.halved`` when they cannot)."""
        keep = np.ones(len(table), dtype=bool)
        reads = table[:, 2]
        unbounded = np.ones(len(table), dtype=bool)
        unbounded[: len(bounded)] = bounded == 0
        rows = np.flatnonzero((state.best_score[reads] > _NONE) & unbounded)
        if not len(rows):
            return keep
        bounds = self.half_bounds(table[rows], state)
        reads = reads[rows]
        best_scores = state.best_score[reads]
        keys = table[rows, 0] * 2 + table[rows, 1]
        keep[rows] = (bounds > best_scores) | (
            (bounds == best_scores) & (keys < state.best_key[reads])
        )
        np.add.at(state.halved, reads[~keep[rows]], 1)
        return keep

    def score_pairs(
        self,
        pairs: np.ndarray,
        sources: list[tuple[SequenceBatch, np.ndarray]],
        state: _SearchState | None = None,
    ) -> np.ndarray:
        """Score-only alignment of every ``(reference, strand, read)`` row of ``pairs``
        (``int64``, shape ``(n, 3)``; ``sources`` from :meth:`start`): the scores, in the
        rows' order.

        Where the scoring fits the 8-bit difference recurrence (``lane_pairs``), all pairs in
        one call of :mod:`streamalign.kernels.multireference`, a pair per SIMD lane, whatever
        reads and references they hold. Otherwise pairs sharing a (reference, strand) with
        at least ``SEARCH_SHARED_LANES`` reads are aligned in the usual orientation (those
        reads as SIMD lanes); the rest one read at a time against all its references (the
        references as lanes, roles swapped).

        With the search's ``state``, the kernel with a reference per lane aligns each pair
        against the stretch of its reference that can hold an alignment beating the read's
        best (:meth:`regions`): the exact score wherever it can, a lower one otherwise."""
        if self.lane_pairs:
            return self._score_lane_pairs(pairs, sources, state)
        scores = np.empty(len(pairs), dtype=np.int64)
        order = np.lexsort((pairs[:, 2], pairs[:, 1], pairs[:, 0]))
        table = pairs[order]
        starts, ends = _runs(table[:, 0] * 2 + table[:, 1])
        sizes = ends - starts
        shared = np.repeat(sizes >= _config.SEARCH_SHARED_LANES, sizes)
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            if end - start < _config.SEARCH_SHARED_LANES:
                continue
            reference = int(table[start, 0])
            strand = int(table[start, 1])
            reads = table[start:end, 2]
            batch, codes = sources[strand]
            subset = _subset(batch, codes, reads)
            outputs = self.aligner._align_gotoh(
                subset[0],
                subset[1],
                self.aligner._reference_codes[reference],
                reference,
                False,
            )
            scores[order[start:end]] = outputs.scores
        rest = table[~shared]
        rest_rows = order[~shared]
        if not len(rest):
            return scores
        second = np.lexsort((rest[:, 0], rest[:, 1], rest[:, 2]))
        rest = rest[second]
        rest_rows = rest_rows[second]
        starts, ends = _runs(rest[:, 2] * 2 + rest[:, 1])
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            read = int(rest[start, 2])
            strand = int(rest[start, 1])
            batch, codes = sources[strand]
            read_codes = codes[batch.offsets[read] : batch.offsets[read + 1]]
            references = rest[start:end, 0]
            scores[rest_rows[start:end]] = self.aligner._scores_against(
                read_codes, references, batch.names[read]
            )
        return scores

    def _score_lane_pairs(
        self,
        pairs: np.ndarray,
        sources: list[tuple[SequenceBatch, np.ndarray]],
        state: _SearchState | None,
    ) -> np.ndarray:
        """:meth:`score_pairs` on the kernel with a reference per lane (query ``strand *
        reads + read``: the strands' codes one after the other)."""
        if not len(pairs):
            return np.zeros(0, dtype=np.int64)
        batch, codes = sources[0]
        count = len(batch)
        if len(sources) == 2:
            query_codes = np.concatenate([codes, sources[1][1]])
            starts = batch.offsets[:-1].astype(np.int64)
            query_offsets = np.concatenate([starts, starts + len(codes), [2 * len(codes)]])
        else:
            query_codes = codes
            query_offsets = batch.offsets.astype(np.int64)
        index = self.index
        return self._lane_scores(
            query_codes,
            query_offsets,
            pairs[:, 1] * count + pairs[:, 2],
            index.reference_codes,
            index.reference_offsets,
            pairs[:, 0],
            None if state is None else self.regions(pairs, state),
        )


def _beats(
    bounds: np.ndarray, keys: np.ndarray, best: np.ndarray, best_keys: np.ndarray
) -> np.ndarray:
    """Which bounds can beat their best: higher, or equal with a key before it."""
    return (bounds > best) | ((bounds == best) & (keys < best_keys))


def _ended_stretches(
    first: np.ndarray,
    last: np.ndarray,
    block: int,
    windows: np.ndarray,
    slack: np.ndarray,
    lengths: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The stretch (begin, end) of each sequence that holds every alignment ending in its
    relative's blocks ``first`` to ``last`` (of ``block`` columns) within ``windows``
    letters, its letters lying at most ``slack`` (shift and longest run) from their
    partners': ``first * block - window - slack`` to ``(last + 1) * block + slack``, within
    the sequence's ``lengths`` (*A relative's alignment, by where it ends* in
    :mod:`streamalign.search.bounds`)."""
    begin = np.clip(first * block - windows - slack, 0, lengths)
    return begin, np.clip((last + 1) * block + slack, begin, lengths)


def _runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The starts and ends of the runs of equal values in ``keys`` (grouped, e.g. sorted);
    none for no keys."""
    boundaries = np.flatnonzero(np.diff(keys)) + 1
    if not len(keys):
        return boundaries, boundaries
    return np.concatenate(([0], boundaries)), np.concatenate((boundaries, [len(keys)]))


def _subset(
    batch: SequenceBatch, codes: np.ndarray, reads: np.ndarray
) -> tuple[SequenceBatch, np.ndarray]:
    """The records ``reads`` of ``batch`` and their codes (names kept for error messages)."""
    starts = batch.offsets[reads]
    lengths = batch.offsets[reads + 1] - starts
    offsets = np.zeros(len(reads) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    gather = _gather_indices(starts, lengths)
    names = [batch.names[int(read)] for read in reads]
    subset = SequenceBatch(names, batch.sequences[gather], offsets, None, batch.index)
    return subset, codes[gather]


class _SearchState:
    """Per read: best score and key so far, the cluster cursor per strand, the candidate pool."""

    def __init__(
        self,
        search: DatabaseSearch,
        strands: int,
        count: int,
        cluster_offsets: np.ndarray,
        clusters: np.ndarray,
        bounds: np.ndarray,
        unshared: np.ndarray,
        kmers: np.ndarray,
        multiplicities: np.ndarray,
        kmer_offsets: np.ndarray,
        query_lengths: np.ndarray,
        query_ambiguous: np.ndarray,
        pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
        slots: np.ndarray,
        window_offsets: np.ndarray,
    ) -> None:
        self.search = search
        self.strands = strands
        self.count = count
        self.cluster_offsets = cluster_offsets
        self.clusters = clusters
        self.bounds = bounds
        self.unshared = unshared
        self.kmers = kmers
        self.multiplicities = multiplicities
        self.kmer_offsets = kmer_offsets
        self.query_lengths = query_lengths
        self.query_ambiguous = query_ambiguous
        self.pairs = pairs
        self.slots = slots
        self.window_offsets = window_offsets
        self.cursor = cluster_offsets[:-1].copy()  # next cluster per query-strand
        self.no_windows = np.zeros_like(window_offsets)  # (member_counts: no cover loss)
        #: per listed cluster, the query's windows some member holds (set by ``_prepare``)
        self.shared = np.zeros(len(clusters), dtype=np.int64)
        self.unshared_done = np.zeros(strands * count, dtype=bool)
        self.best_score = np.full(count, _NONE, dtype=np.int64)
        self.best_key = np.full(count, 2**62, dtype=np.int64)
        self.aligned = np.zeros(count, dtype=np.int64)
        #: per read: members whose own bound was computed (for exhausts())
        self.expanded = np.zeros(count, dtype=np.int64)
        #: per read: pairs only half aligned (their bound from it fell short)
        self.halved = np.zeros(count, dtype=np.int64)
        #: per read: whether :meth:`exhaust` took its pairs (it continues from its pool)
        self.exhausted = np.zeros(count, dtype=bool)
        self._listed: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.codes = np.zeros(0, dtype=np.uint8)
        self.offsets = np.zeros(1, dtype=np.int64)
        self.pools: list[list[tuple[int, int, int]]] = [[] for _ in range(count)]
        #: per exhausted read (see :meth:`pool_halves`): its half-aligned pairs' bounds,
        #: keys and tail scores in decreasing bound, and the position of the next
        self.half_pools: dict[int, list[Any]] = {}
        #: scores of families' consensus sequences, by ``query * families + family`` (see
        #: :meth:`DatabaseSearch.relatives_settle`)
        self.consensus_scores: dict[int, int] = {}
        #: by the same keys: the end maxima of the consensus alignments that can matter
        #: (first block, maxima, floor; :meth:`DatabaseSearch._consensus_alignments`)
        self.consensus_ends: dict[int, tuple[int, np.ndarray, int]] = {}
        #: end maxima of the upper consensus alignments, by ``query * upper families +
        #: upper family`` (:meth:`DatabaseSearch._ceilings`)
        self.upper_ends: dict[int, np.ndarray] = {}
        #: per read: pairs settled by their family's consensus score (not aligned)
        self.related = np.zeros(count, dtype=np.int64)
        #: per read: members opened but settled by their family (:meth:`settled_evidence`)
        self.opened_settled = np.zeros(count, dtype=np.int64)
        #: per read: whether :meth:`DatabaseSearch.exhaust_seeds` and
        #: :meth:`DatabaseSearch.family_seeds` gave it their seeds
        self.seeded = np.zeros(count, dtype=bool)
        self.family_seeded = np.zeros(count, dtype=bool)
        #: per read: the keys (``reference * 2 + strand``) of its seeds, aligned already
        self.seed_keys: dict[int, list[int]] = {}

    @functools.cached_property
    def halves(self) -> _Halves:
        """The queries split in two, for :meth:`DatabaseSearch.half_bounds`."""
        return _Halves.of(self.codes, self.offsets, self.search.index.k, _config.SEARCH_TAIL_SHARE)

    def listed(self, query: int) -> tuple[np.ndarray, np.ndarray]:
        """For :meth:`exhausts` and :meth:`exhaust`: query-strand ``query``'s listed
        bounds negated (ascending) and the running sums of its listed clusters' sizes
        (``len + 1`` entries), computed on first use (a batch lists every cluster for every
        query-strand: 4 M entries for 110 read-strands at 39,199 clusters, most never
        needed)."""
        kept = self._listed.get(query)
        if kept is None:
            start = int(self.cluster_offsets[query])
            end = int(self.cluster_offsets[query + 1])
            sums = np.zeros(end - start + 1, dtype=np.int64)
            np.cumsum(self.search.cluster_sizes[self.clusters[start:end]], out=sums[1:])
            kept = (-self.bounds[start:end], sums)
            self._listed[query] = kept
        return kept

    def exhausts(self, read: int) -> bool:
        """Whether the references that can still beat ``read``'s best, by their clusters'
        bounds (and the candidates in its pool), are at least
        ``_config.SEARCH_EXHAUST_SHARE`` of all (reference, strand) pairs, once
        ``_config.SEARCH_EXHAUST_AFTER`` are aligned: then bounds prune too little to pay
        for themselves (a read close to no reference: every bound is far above its best
        score), and :meth:`exhaust` takes them all (once per read: it goes on from its
        pool). Aligning a candidate more never changes the winner, so either way the result
        is exact."""
        if self.exhausted[read]:
            return False
        # (pairs bounded from half an alignment count as aligned: they cost about as much)
        aligned = int(self.aligned[read]) + int(self.halved[read])
        if aligned < _config.SEARCH_EXHAUST_AFTER:
            return False  # its first rounds, which usually find a best close to the bounds
        share = _config.SEARCH_EXHAUST_SHARE
        best = int(self.best_score[read])
        expanded = int(self.expanded[read])
        if expanded:
            # The members opened so far, by their own bounds: aligned, or still able to beat
            # the best. Fewer than the share: the clusters' bounds are loose (clusters of
            # different genes), not the members', and opening clusters prunes.
            # (Members their family settled count as able: the exhaust settles them too.)
            able = sum(1 for negative, _, _ in self.pools[read] if -negative >= best)
            able += int(self.opened_settled[read])
            if able + aligned < share * expanded:
                return False
        index = self.search.index
        remaining = len(self.pools[read])  # (some may no longer beat the best: an estimate)
        for strand in range(self.strands):
            query = strand * self.count + read
            negative, sums = self.listed(query)
            cursor = int(self.cursor[query]) - int(self.cluster_offsets[query])
            above = cursor + int(np.searchsorted(negative[cursor:], -best, side="right"))
            remaining += int(sums[above] - sums[cursor])
            if not self.unshared_done[query] and int(self.unshared[query]) >= best:
                remaining += index.reference_count - int(sums[-1])
        return remaining >= share * index.reference_count * self.strands

    def exhaust(self, read: int) -> np.ndarray:
        """Every (reference, strand) that can still beat ``read``'s best, as ``(reference,
        strand, read)`` rows: the pool's candidates, the members of every cluster whose
        bound reaches the best (clusters below it never can: the best only rises), and the
        clusters sharing no k-mer if their bound reaches it. No cluster or pool entry is
        left for the read."""
        self.exhausted[read] = True
        best = int(self.best_score[read])
        index = self.search.index
        pieces = []
        for strand in range(self.strands):
            query = strand * self.count + read
            cursor = int(self.cursor[query])
            start = int(self.cluster_offsets[query])
            end = int(self.cluster_offsets[query + 1])
            above = cursor + int(
                np.searchsorted(self.listed(query)[0][cursor - start :], -best, side="right")
            )
            taken = [self.clusters[cursor:above]]
            self.cursor[query] = end
            if not self.unshared_done[query]:
                self.unshared_done[query] = True
                if int(self.unshared[query]) >= best:
                    seen = np.zeros(index.cluster_count, dtype=bool)
                    seen[self.clusters[start:end]] = True
                    taken.append(np.flatnonzero(~seen))
            clusters = np.concatenate(taken)
            if len(clusters):
                first = index.cluster_offsets[clusters]
                members = index.cluster_members[
                    _gather_indices(first, index.cluster_offsets[clusters + 1] - first)
                ]
                pieces.append(members.astype(np.int64) * 2 + strand)
        pool = self.pools[read]
        keys = [key for negative, key, _ in pool if self._beats(read, -negative, key)]
        pool.clear()
        pieces.append(np.array(keys, dtype=np.int64))
        keys_all = np.concatenate(pieces)
        seeded = self.seed_keys.pop(read, None)
        if seeded is not None:  # (aligned already: their scores are in the best)
            keys_all = keys_all[~np.isin(keys_all, seeded)]
        table = np.empty((len(keys_all), 3), dtype=np.int64)
        table[:, 0] = keys_all // 2
        table[:, 1] = keys_all % 2
        table[:, 2] = read
        return table

    def pool_halves(self, rows: np.ndarray, tails: np.ndarray, bounds: np.ndarray) -> None:
        """Give the ``(reference, strand, read)`` rows, their tails aligned (``tails``,
        bounds with a perfect head ``bounds``: :meth:`DatabaseSearch.tail_bounds`), to their
        reads (exhausted ones: nothing else left), in decreasing bound, then key; count every
        row as half aligned (:meth:`_next_halves` takes back those it hands out to be
        aligned in full)."""
        keys = rows[:, 0] * 2 + rows[:, 1]
        reads = rows[:, 2]
        np.add.at(self.halved, reads, 1)
        order = np.lexsort((keys, -bounds, reads))
        reads = reads[order]
        for start, end in zip(*(run.tolist() for run in _runs(reads)), strict=True):
            chosen = order[start:end]
            self.half_pools[int(reads[start])] = [bounds[chosen], keys[chosen], tails[chosen], 0]

    def _next_halves(self, read: int, most: int) -> list[tuple[int, int, int]]:
        """:meth:`next_candidates` from the read's half-aligned pairs: in their order, those
        whose bound with a perfect head can beat its best (a prefix) have their heads'
        bounds computed (:meth:`DatabaseSearch.head_bounds`), and those that can still win
        by it are handed out, until ``most`` are."""
        bounds, keys, tails, cursor = self.half_pools[read]
        best = int(self.best_score[read])
        best_key = int(self.best_key[read])
        chosen: list[tuple[int, int, int]] = []
        while len(chosen) < most and cursor < len(keys):
            top_bounds = bounds[cursor : cursor + most - len(chosen)]
            top_keys = keys[cursor : cursor + most - len(chosen)]
            beats = (top_bounds > best) | ((top_bounds == best) & (top_keys < best_key))
            taken = len(beats) if beats.all() else int(np.argmin(beats))
            rows = np.empty((taken, 3), dtype=np.int64)
            rows[:, 0] = top_keys[:taken] // 2
            rows[:, 1] = top_keys[:taken] % 2
            rows[:, 2] = read
            tight = tails[cursor : cursor + taken] + self.search.head_bounds(rows, self)
            keep = (tight > best) | ((tight == best) & (top_keys[:taken] < best_key))
            chosen.extend((key // 2, key % 2, 1) for key in top_keys[:taken][keep].tolist())
            cursor = cursor + taken if taken == len(beats) else len(keys)
        self.half_pools[read][3] = cursor
        self.halved[read] -= len(chosen)  # (aligned in full after all)
        return chosen

    def _beats(self, read: int, bound: int, key: int) -> bool:
        best = int(self.best_score[read])
        return bound > best or (bound == best and key < int(self.best_key[read]))

    def _frontier(self, read: int) -> tuple[int, int]:
        """The highest bound of a cluster not yet expanded, and its query-strand (-1: none)."""
        best_bound, best_strand = _NONE, -1
        for strand in range(self.strands):
            query = strand * self.count + read
            value = self._next_bound(query)
            if value > best_bound:
                best_bound, best_strand = value, strand
        return best_bound, best_strand

    def _next_bound(self, query: int) -> int:
        """The higher of the next sharing cluster's bound and (until expanded) the bound of
        the clusters sharing no k-mer (they may be higher: shorter genes, say)."""
        value = _NONE
        cursor = int(self.cursor[query])
        if cursor < int(self.cluster_offsets[query + 1]):
            value = int(self.bounds[cursor])
        if not self.unshared_done[query] and self.unshared[query] > value:
            value = int(self.unshared[query])
        return value

    def next_candidates(self, read: int, most: int) -> list[tuple[int, int, int]]:
        """Up to ``most`` (reference, strand, half aligned) to align next for ``read``, best
        bound first; empty when no bound left can beat its best."""
        if read in self.half_pools:
            return self._next_halves(read, most)
        pool = self.pools[read]
        chosen: list[tuple[int, int, int]] = []
        best = int(self.best_score[read])
        # Only an expansion moves the frontier (scores arrive between calls).
        frontier, strand = self._frontier(read)
        while len(chosen) < most:
            top = -pool[0][0] if pool else _NONE
            if strand >= 0 and frontier >= best and frontier >= top:
                # Clusters may hold better candidates: open them, as many at once as
                # candidates are wanted (a read with many near-equal bounds needs them all).
                self._expand(read, strand, most - len(chosen))
                frontier, strand = self._frontier(read)
                continue
            if not pool:
                break
            negative_bound, key, _ = heapq.heappop(pool)
            if self._beats(read, -negative_bound, key):
                chosen.append((key // 2, key % 2, 0))
        return chosen

    def _expand(self, read: int, strand: int, most: int) -> None:
        """Move the next cluster of (read, strand) into the read's pool, members with their
        own bounds (only those that can still beat the best); with ``most`` > 1, also the
        clusters after it, up to ``most`` in all, while their bound can still reach the best
        and the clusters sharing no k-mer do not come first (the pool keeps them in bound
        order: opening a cluster early changes no choice, it only saves calls)."""
        query = strand * self.count + read
        cursor = int(self.cursor[query])
        index = self.search.index
        end = int(self.cluster_offsets[query + 1])
        sharing = cursor < end
        if sharing and (
            self.unshared_done[query] or int(self.unshared[query]) <= int(self.bounds[cursor])
        ):
            stop = cursor + 1
            limit = min(end, cursor + max(most, 1))  # at least the first
            floor = int(self.best_score[read])
            if not self.unshared_done[query]:
                floor = max(floor, int(self.unshared[query]))
            while stop < limit and int(self.bounds[stop]) >= floor:
                stop += 1
            self.cursor[query] = stop
            taken = self.clusters[cursor:stop]
            if stop == cursor + 1:
                cluster = int(taken[0])
                members = index.cluster_members[
                    index.cluster_offsets[cluster] : index.cluster_offsets[cluster + 1]
                ]
                member_bounds = self._member_bounds(query, cluster, members)
            else:
                members, member_bounds = self._members_of(query, taken)
        else:  # every cluster sharing no k-mer with the read (rarely needed)
            self.unshared_done[query] = True
            seen = np.zeros(index.cluster_count, dtype=bool)
            seen[self.clusters[self.cluster_offsets[query] : self.cluster_offsets[query + 1]]] = (
                True
            )
            unseen = np.flatnonzero(~seen)
            members = (
                np.concatenate(
                    [
                        index.cluster_members[
                            index.cluster_offsets[c] : index.cluster_offsets[c + 1]
                        ]
                        for c in unseen.tolist()
                    ]
                )
                if len(unseen)
                else np.zeros(0, np.int32)
            )
            member_bounds = self._member_bounds(query, -1, members)
        pool = self.pools[read]
        keys = members.astype(np.int64) * 2 + strand
        best = int(self.best_score[read])
        # Only members that can still beat the best (see _beats) enter the pool.
        keep = (member_bounds > best) | (
            (member_bounds == best) & (keys < int(self.best_key[read]))
        )
        self.expanded[read] += len(keys)
        for key, bound in zip(keys[keep].tolist(), member_bounds[keep].tolist(), strict=True):
            heapq.heappush(pool, (-bound, key, 0))

    def _members_of(self, query: int, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The members of ``clusters`` and their bounds for ``query`` (see
        :meth:`members_evidence`, families first)."""
        members, _, bounds = self.members_evidence(query, clusters, families_first=True)
        return members, bounds

    def members_evidence(
        self, query: int, clusters: np.ndarray, bounds: bool = True, families_first: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The members of ``clusters``, their counts ``C`` and bounds for ``query``, as
        :meth:`member_evidence` gives them cluster by cluster: one call per distinct
        pair-score triple of the clusters' letter masks (all a member's bound takes from its
        cluster). Without ``bounds``: the members' clusters in place of the bounds (counts
        only: no cover of the missing windows). With ``families_first``: as
        :meth:`settled_evidence`."""
        search = self.search
        index = search.index
        starts = index.cluster_offsets[clusters]
        sizes = index.cluster_offsets[clusters + 1] - starts
        masks, inverse = np.unique(search.cluster_mask_ids[clusters], return_inverse=True)
        inverse = inverse.reshape(-1)
        if len(masks) == 1:
            groups = np.zeros(len(clusters), dtype=np.int64)
        else:
            # What a cluster's mask gives the bound: its (s_max, s_plain, s_amb) for this
            # query; masks giving the same triple share a call.
            best, plain, ambiguous = self.pairs
            triples: dict[tuple[int, int, int], int] = {}
            group_of_mask = [
                triples.setdefault(
                    (int(best[query, mask]), int(plain[query, mask]), int(ambiguous[query, mask])),
                    len(triples),
                )
                for mask in masks.tolist()
            ]
            groups = np.array(group_of_mask, dtype=np.int64)[inverse]
        singletons = bool((sizes == 1).all())
        all_members = []
        all_counts = []
        all_bounds = []
        for group in range(int(groups.max()) + 1):
            chosen = np.flatnonzero(groups == group) if len(masks) > 1 else np.arange(len(groups))
            if singletons:
                members = index.cluster_members[starts[chosen]]
            else:
                members = index.cluster_members[_gather_indices(starts[chosen], sizes[chosen])]
            if bounds and families_first:
                counts, values = self.settled_evidence(query, int(clusters[chosen[0]]), members)
            elif bounds:
                counts, values = self.member_evidence(query, int(clusters[chosen[0]]), members)
            else:
                counts = self.member_counts(query, members)
                values = np.repeat(clusters[chosen], sizes[chosen])
            all_members.append(members)
            all_counts.append(counts)
            all_bounds.append(values)
        if len(all_members) == 1:
            return all_members[0], all_counts[0], all_bounds[0]
        return (
            np.concatenate(all_members),
            np.concatenate(all_counts),
            np.concatenate(all_bounds),
        )

    def _member_bounds(self, query: int, cluster: int, members: np.ndarray) -> np.ndarray:
        """Bounds of ``members`` (of ``cluster``; -1: members of several clusters) for query
        ``query``: from their family, then from their counts and from where their missing
        windows lie (:meth:`settled_evidence`)."""
        return self.settled_evidence(query, cluster, members)[1]

    def settled_evidence(
        self, query: int, cluster: int, members: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`member_evidence` of the ``members`` their family's bound
        (:meth:`DatabaseSearch.family_bounds`) leaves able to beat the read's best (the
        lower of both bounds); the others keep the family's bound, a count of 0, are not
        scanned, and count in ``related``. A family's consensus is aligned once per
        query-strand (once a call holds ``SEARCH_FAMILY_OPEN_ROWS`` of its members, unless
        known), then bounds all its members for a few operations each, where a scan of a
        member's letters costs about a third of an alignment."""
        search = self.search
        read = query % self.count
        if (
            search.families is None
            or self.best_score[read] == _NONE
            or len(members) < _config.SEARCH_FAMILY_OPEN_ROWS
        ):
            return self.member_evidence(query, cluster, members)
        table = np.empty((len(members), 3), dtype=np.int64)
        table[:, 0] = members
        table[:, 1] = query // self.count
        table[:, 2] = read
        # (the families of the read's next clusters, aligned along with any this call needs)
        index = search.index
        cursor = int(self.cursor[query])
        upcoming = self.clusters[
            cursor : min(int(self.cluster_offsets[query + 1]), cursor + _config.SEARCH_FAMILY_AHEAD)
        ]
        first = index.cluster_offsets[upcoming]
        later = index.cluster_members[
            _gather_indices(first, index.cluster_offsets[upcoming + 1] - first)
        ]
        later_families = search.families.family_of[later].astype(np.int64)
        ahead = (
            np.unique(later_families[later_families >= 0]) + query * search.families.family_count
        )
        family = search.family_bounds(table, self, _config.SEARCH_FAMILY_OPEN_ROWS, ahead)
        able = _beats(
            family,
            table[:, 0] * 2 + table[:, 1],
            self.best_score[table[:, 2]],
            self.best_key[table[:, 2]],
        )
        self.related[read] += len(members) - int(able.sum())
        self.opened_settled[read] += len(members) - int(able.sum())
        if able.all():
            counts, bounds = self.member_evidence(query, cluster, members)
            return counts, np.minimum(bounds, family)
        counts = np.zeros(len(members), dtype=np.int32)
        bounds = family.copy()
        if able.any():
            found, values = self.member_evidence(query, cluster, members[able])
            counts[able] = found
            bounds[able] = np.minimum(values, family[able])
        return counts, bounds

    def pair_scores(self, query: int, cluster: int) -> tuple[int, int, int]:
        """``s_max``, ``s_plain``, ``s_amb`` of ``query``'s letters against ``cluster``'s
        (-1: members of several clusters, or any reference: the most favourable of all)."""
        best, plain, ambiguous = self.pairs
        if cluster >= 0:
            mask_id = int(self.search.cluster_mask_ids[cluster])
            return (
                int(best[query, mask_id]),
                int(plain[query, mask_id]),
                int(ambiguous[query, mask_id]),
            )
        return int(best[query].max()), int(plain[query].max()), int(ambiguous[query].max())

    def member_counts(self, query: int, members: np.ndarray) -> np.ndarray:
        """``C`` of each of ``members`` for ``query`` (no bound)."""
        index = self.search.index
        counts, _ = member_evidence(
            self.kmers,
            self.multiplicities,
            self.kmer_offsets,
            self.slots[:0],
            self.no_windows,
            query,
            index.reference_codes,
            index.reference_offsets,
            members,
            index.k,
            0,
            0,
            0,
            0,
            False,
            False,
            0,
        )
        return counts

    def member_evidence(
        self, query: int, cluster: int, members: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``C`` (the query's windows whose exact k-mer the member holds) and the bound of
        each of ``members``, as :meth:`_member_bounds`."""
        search = self.search
        model = search.model
        index = search.index
        best, plain, ambiguous = self.pairs
        s_max, s_plain, s_ambiguous = self.pair_scores(query, cluster)
        counts, losses = member_evidence(
            self.kmers,
            self.multiplicities,
            self.kmer_offsets,
            self.slots,
            self.window_offsets,
            query,
            index.reference_codes,
            index.reference_offsets,
            members,
            index.k,
            max(s_max - s_plain, 0),
            model.gap_open,
            model.gap_extend,
            s_max,
            model.query_prefix_free,
            model.query_suffix_free,
            min(max(s_max - s_ambiguous, 0), 2**32),
        )
        return counts, _bounds_of(
            int(self.query_lengths[query]),
            int(self.query_ambiguous[query]),
            search.lengths,
            search.reference_mask_ids,
            search.ambiguous,
            search.ambiguous_runs,
            search.span_letters,
            search.span_runs,
            members,
            counts,
            losses,
            best[query],
            plain[query],
            ambiguous[query],
            s_max,
            min(max(s_ambiguous - s_plain, 0), 2**32),  # no plain pair: -2**62
            model.k,
            model.gap_open,
            model.gap_extend,
            model.query_end_free,
            model.reference_ends_penalized,
        )

    def record_pairs(self, table: np.ndarray, scores: np.ndarray) -> None:
        """Take the scores of the ``(reference, strand, read)`` seed rows of ``table`` (kept
        in :attr:`seed_keys`: :meth:`exhaust` leaves them out)."""
        keys = table[:, 0] * 2 + table[:, 1]
        for read, key in zip(table[:, 2].tolist(), keys.tolist(), strict=True):
            self.seed_keys.setdefault(read, []).append(key)
        for strand in range(self.strands):
            on = table[:, 1] == strand
            self.record(table[on, 2], table[on, 0], strand, scores[on])

    def record(
        self, reads: np.ndarray, references: np.ndarray, strand: int, scores: np.ndarray
    ) -> None:
        """Take the scores of ``reads[i]`` against (``references[i]``, strand)."""
        for read, reference, score in zip(
            reads.tolist(), references.tolist(), scores.tolist(), strict=True
        ):
            key = reference * 2 + strand
            self.aligned[read] += 1
            best = int(self.best_score[read])
            if score > best or (score == best and key < int(self.best_key[read])):
                self.best_score[read] = score
                self.best_key[read] = key


@dataclasses.dataclass
class _Halves:
    """Each query split in two: its last ``ceil(share * m)`` letters (the *tail*) as codes
    to align, the letters before them (the *head*) as k-mer windows to bound."""

    tail_codes: np.ndarray
    tail_offsets: np.ndarray
    head_lengths: np.ndarray
    kmers: np.ndarray
    multiplicities: np.ndarray
    kmer_offsets: np.ndarray
    slots: np.ndarray
    window_offsets: np.ndarray
    ambiguous: np.ndarray

    @classmethod
    def of(cls, codes: np.ndarray, offsets: np.ndarray, k: int, share: float) -> _Halves:
        lengths = np.diff(offsets)
        tail_lengths = np.ceil(lengths * share).astype(np.int64)
        head_lengths = lengths - tail_lengths
        tail_offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(tail_lengths, out=tail_offsets[1:])
        head_offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(head_lengths, out=head_offsets[1:])
        tail_codes = codes[_gather_indices(offsets[:-1] + head_lengths, tail_lengths)]
        head_codes = codes[_gather_indices(offsets[:-1], head_lengths)]
        kmers, multiplicities, kmer_offsets, slots, window_offsets = query_windows(
            head_codes, head_offsets, k
        )
        return cls(
            tail_codes,
            tail_offsets,
            head_lengths,
            kmers,
            multiplicities,
            kmer_offsets,
            slots,
            window_offsets,
            _ambiguous_counts(head_codes, head_offsets),
        )


@njit(nogil=True, cache=True)
def _ambiguous_counts(codes, offsets):
    """Letters other than ``A C G T`` in each sequence."""
    counts = np.zeros(len(offsets) - 1, np.int64)
    for sequence in range(len(offsets) - 1):
        total = 0
        for position in range(offsets[sequence], offsets[sequence + 1]):
            total += codes[position] >= 4
        counts[sequence] = total
    return counts


@njit(nogil=True, cache=True)
def _pair_table(matrix, query_masks, masks):
    """``s_max``, ``s_plain``, ``s_amb`` of each query's letters against each distinct
    reference mask (queries with the same mask share the work)."""
    best = np.empty((len(query_masks), len(masks)), np.int64)
    plain = np.empty((len(query_masks), len(masks)), np.int64)
    ambiguous = np.empty((len(query_masks), len(masks)), np.int64)
    for query in range(len(query_masks)):
        if query > 0 and query_masks[query] == query_masks[query - 1]:
            best[query] = best[query - 1]
            plain[query] = plain[query - 1]
            ambiguous[query] = ambiguous[query - 1]
            continue
        for mask_id in range(len(masks)):
            best[query, mask_id], plain[query, mask_id], ambiguous[query, mask_id] = _pair_scores(
                matrix, query_masks[query], masks[mask_id]
            )
    return best, plain, ambiguous


@njit(nogil=True, cache=True)
def _bounds_of(
    query_length,
    query_ambiguous,
    lengths,
    mask_ids,
    ambiguous_counts,
    ambiguous_runs,
    span_letters,
    span_runs,
    members,
    counts,
    cover_losses,
    pair_best,
    pair_plain,
    pair_ambiguous,
    cover_s_max,
    ambiguous_saving,
    k,
    gap_open,
    gap_extend,
    query_end_free,
    reference_fixed,
):
    """Each member's bound: the smaller of the count's bound (its own letters) and the
    missing windows' (the cover loss, computed with ``cover_s_max``, less what the query's
    ambiguous columns may save)."""
    result = np.empty(len(members), np.int64)
    for position in range(len(members)):
        member = members[position]
        mask_id = mask_ids[member]
        value = gene_bound(
            query_length,
            lengths[member],
            lengths[member],
            counts[position],
            k,
            pair_best[mask_id],
            pair_plain[mask_id],
            pair_ambiguous[mask_id],
            query_ambiguous,
            ambiguous_counts[member],
            ambiguous_runs[member],
            span_letters[member],
            span_runs[member],
            gap_open,
            gap_extend,
            query_end_free,
            reference_fixed,
        )
        if 0 < cover_s_max <= 2**32:
            # Reference letters other than ACGT were wildcards: only the query's may save.
            loss = cover_losses[position] - query_ambiguous * ambiguous_saving
            loss = max(
                loss,
                length_loss(
                    query_length,
                    lengths[member],
                    cover_s_max,
                    gap_open,
                    gap_extend,
                    query_end_free,
                    reference_fixed,
                ),
            )
            value = min(value, query_length * cover_s_max - loss)
        result[position] = value
    return result
