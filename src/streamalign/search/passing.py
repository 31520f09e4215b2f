"""Every reference that passes a threshold, aligning only the pairs whose bounds reach it.

``align_many(..., all_references=True, min_score=S, min_identity=F)`` keeps, per read, the
references whose alignment passes (:mod:`streamalign.thresholds`). Without a search that means
aligning every (read, reference, strand) pair with traceback. Here, per read-strand, the k-mer
index bounds every cluster of references and every member (:mod:`streamalign.search.bounds`
for the score, the identity bound below), and only the pairs whose bounds reach the threshold
are aligned (with traceback; grouped by reference and strand, so the reads are the kernel's
SIMD lanes):

1. clusters whose score bound is below ``S`` or identity bound below ``F`` are skipped whole;
   in the others, members whose own bounds are below are skipped;
2. the surviving pairs are aligned; with ``strand="both"`` a reference's record is its better
   strand (ties: forward), as without a threshold. A strand skipped for its score bound
   (``< S``) cannot beat a passing one; a strand skipped for its identity bound may still
   score higher (and then be the record, failing): where its score bound says it might, it is
   aligned score-only to decide;
3. a read with no passing reference gets its best alignment (the one ``all_references=False``
   gives), taken from the aligned pairs when every skipped pair's score bound is below the best
   of them, else found by the search of :class:`~streamalign.search.searcher.DatabaseSearch`.

The result is the same, array for array, as aligning every reference and keeping what passes
(:meth:`streamalign.thresholds.Threshold.select`).

**The identity bound.** Let the query (read) have ``m`` letters and be aligned in full (no free
query end, not local: the modes ``global`` and ``semiglobal``; with a free query end, or in
local mode, letters left out cost nothing and nothing below holds, so ``F`` prunes nothing
there). Identity is ``M / (M + X + I + D)``: matches (``=`` columns, by the scoring's match
table), mismatch columns, inserted query letters and deleted reference letters. Every query
letter is in a column, so ``M + X + I = m``, and with ``E = X + I + D`` the columns that are not
matches, identity ``= (m - a) / (m + E - a)`` for ``a = X + I`` in ``[0, E]``. Its derivative in
``a`` is ``-E / (m + E - a)**2 <= 0``: it is largest when every edit is a deletion (``a = 0``),
so **identity <= m / (m + E)**, decreasing in ``E``; a lower bound on ``E`` bounds identity.

*Edits from k-mers* (the q-gram lemma of Jokinen and Ukkonen, by position). The query has
``W = max(m - k + 1, 0)`` windows (its k-mers by position). A window whose ``k`` letters are
all in ``=`` columns, with no deletion column between its first and its last letter, lies
against ``k`` consecutive reference letters. With the ``score0`` and ``mismatch`` policies an
``=`` column pairs two equal letters of ``A C G T``, so the window's k-mer occurs in the
reference: each window that does not has an edit *touching* it (a mismatch or an inserted
letter among its letters, or a deletion between two of them). An edit touches at most ``k``
consecutive windows (a mismatch or inserted letter at query letter ``p``: the windows
``p - k + 1 .. p``; a deletion between letters ``p`` and ``p + 1``: ``k - 1`` of those;
deletions before the first or after the last letter: none), so the windows missing from the
reference are covered by at most ``E`` runs of ``k`` consecutive windows. Hence ``E >=`` the
least number of such runs that covers every missing window (found left to right, greedily,
which is optimal for runs of one length: :func:`~streamalign.search.bounds.cover_loss` with unit
costs), and ``E >= ceil((W - C) / k)`` for ``C`` windows found (the count alone).

*Ambiguity codes.* A window holding a query letter other than ``A C G T`` is never found: with
``score0`` and ``mismatch`` that letter's column is a mismatch or an insertion (no ``=``), an
edit touching the window, so nothing changes. With ``iupac`` a column of compatible letters is
``=`` too: the window of an ambiguous query letter at ``p`` may be missing with no edit; those
windows are the run ``p - k + 1 .. p``, so each of the query's ``A_q`` ambiguous letters
explains one run, and ``E >= runs - A_q``. A reference letter other than ``A C G T`` is a
wildcard where the search tells which windows are missing
(:func:`~streamalign.search.counting.member_evidence`: a window is found when a reference window
equals it on its other letters), so a window against it is found whenever it has no edit,
whatever the policy; finding more windows only lowers the bound on ``E``. The count ``C``,
though, counts exact k-mers only, so with ``iupac`` each of the reference's ``A_r`` ambiguous
letters (in one column, whose query letter is in at most ``k`` windows) may explain ``k``
missing windows: ``E >= ceil((W - C) / k) - A_q - A_r``.

*Lengths.* ``M <= min(m, n)`` for a reference of ``n`` letters and there are at least ``m``
columns; when neither reference end is free every reference letter is in a column too, so there
are at least ``max(m, n)``: identity ``<= min(m, n) / max(m, n)`` (``<= min(m, n) / m`` with a
free reference end).

The bound of a member is the smallest of the three (runs, count, lengths); of a cluster, the
count's and the lengths' with the cluster's count (at least each member's), its largest ``A_r``
and its length range (the largest value over the range), so at least each member's bound. Both
are compared with ``F`` as identities are (``float64`` division, which is monotone:
``M / columns <= m / (m + E)`` stays so once rounded), and a pair is skipped only when its bound
is below ``F``. ``tests/test_all_refs_pruned.py`` checks the bound with hypothesis against the
identity of the optimal alignment on random and mutated pairs with ambiguity codes, every
policy, and the pruned records against those of aligning every reference on real reads.

Example:
    >>> from streamalign import Aligner
    >>> from streamalign.thresholds import Threshold
    >>> genes = {"a": "ACGTTGCAGGTACCGATTAGCAATG" * 2, "b": "TTGACCGATAGCATGCAAGTCCATG" * 2}
    >>> aligner = Aligner(genes, mode="semiglobal")
    >>> batch = aligner.align_many(["GATAGCATGCAAGTCCATGTTGACC", "GGCCGGCCGGCCGGCCGGCC"],
    ...                            all_references=True, min_identity=0.9)
    >>> batch.record_queries.tolist(), batch.reference_index.tolist(), batch.cigars()
    ([0, 1], [1, 1], ['25=', '1X1=1X1=1X1=3X2=2X2=2X1=1X1='])
    >>> batch.identities.tolist()  # the second read's best alignment: it fails, unmapped
    [1.0, 0.45]
    >>> batch.aligned_candidates.tolist()  # pairs aligned per read, of 2 references
    [1, 2]
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from numba import njit

from ..records import SequenceBatch, _gather_indices
from ..results import AlignmentBatch
from ..thresholds import Threshold
from .bounds import score_bound
from .counting import member_evidence

_NONE = -(2**62)


def identity_applies(aligner: Any) -> bool:
    """Whether the identity bound holds in ``aligner``'s mode: the query aligned in full."""
    return aligner.mode != "local" and not aligner.query_start_free and not aligner.query_end_free


def prunes(aligner: Any, threshold: Threshold) -> bool:
    """Whether the bounds can skip pairs for ``threshold``: the search is used (several
    references, Gotoh's recurrence, ``search="exact"``) and the threshold has a finite
    ``min_score`` or, where the identity bound holds, a positive ``min_identity``."""
    if not aligner.searches:
        return False
    if threshold.min_score is not None and threshold.min_score > -math.inf:
        return True
    return bool(threshold.min_identity) and identity_applies(aligner)


@njit(nogil=True, cache=True)
def identity_of_edits(query_length, edits):
    """``m / (m + E)``: the highest identity of a query of ``m`` letters aligned in full with
    at least ``E`` columns that are not matches (1.0 for an empty query).

    Example:
        >>> identity_of_edits(250, 5)
        0.9803921568627451
    """
    if query_length <= 0:
        return 1.0
    return query_length / (query_length + max(edits, 0))


@njit(nogil=True, cache=True)
def length_identity(query_length, shortest, longest, reference_fixed):
    """The highest identity the lengths allow, for references of ``shortest`` to
    ``longest`` letters (``reference_fixed``: neither reference end free)."""
    if query_length <= 0:
        return 1.0
    if query_length > longest:
        return longest / query_length
    if reference_fixed and query_length < shortest:
        return query_length / shortest
    return 1.0


@njit(nogil=True, cache=True)
def count_identity(query_length, shared, k, unexplained, shortest, longest, reference_fixed):
    """The identity bound of ``shared`` windows found (``unexplained``: the ambiguous letters
    that may explain missing windows), with the lengths' bound."""
    windows = max(query_length - k + 1, 0)
    missing = max(windows - shared, 0)
    edits = -((-missing) // k) - unexplained
    return min(
        identity_of_edits(query_length, edits),
        length_identity(query_length, shortest, longest, reference_fixed),
    )


@njit(nogil=True, cache=True)
def _add_cluster_counts(
    counts, kmers, multiplicities, kmer_offsets, query, kmer_table_offsets, postings
):
    """Add to ``counts[c]`` the windows of query ``query`` whose k-mer cluster ``c`` holds."""
    for position in range(kmer_offsets[query], kmer_offsets[query + 1]):
        code = kmers[position]
        weight = multiplicities[position]
        for slot in range(kmer_table_offsets[code], kmer_table_offsets[code + 1]):
            counts[postings[slot]] += weight


@njit(nogil=True, cache=True)
def _cluster_identity(
    query_length,
    query_ambiguous,
    shared,
    cluster,
    cluster_shortest,
    cluster_longest,
    cluster_ambiguous,
    k,
    reference_fixed,
    iupac,
):
    """The identity bound of a cluster sharing ``shared`` windows with the query."""
    unexplained = query_ambiguous + cluster_ambiguous[cluster] if iupac else 0
    return count_identity(
        query_length,
        shared,
        k,
        unexplained,
        cluster_shortest[cluster],
        cluster_longest[cluster],
        reference_fixed,
    )


@njit(nogil=True, cache=True)
def _cluster_identities(
    kmers,
    multiplicities,
    kmer_offsets,
    query_lengths,
    query_ambiguous,
    kmer_table_offsets,
    postings,
    cluster_shortest,
    cluster_longest,
    cluster_ambiguous,
    k,
    reference_fixed,
    iupac,
):
    """The identity bound of every (query, cluster), as a table (for tests)."""
    query_count = len(kmer_offsets) - 1
    cluster_count = len(cluster_shortest)
    table = np.empty((query_count, cluster_count), np.float64)
    counts = np.zeros(cluster_count, np.int64)
    for query in range(query_count):
        _add_cluster_counts(
            counts, kmers, multiplicities, kmer_offsets, query, kmer_table_offsets, postings
        )
        for cluster in range(cluster_count):
            table[query, cluster] = _cluster_identity(
                query_lengths[query],
                query_ambiguous[query],
                counts[cluster],
                cluster,
                cluster_shortest,
                cluster_longest,
                cluster_ambiguous,
                k,
                reference_fixed,
                iupac,
            )
            counts[cluster] = 0
    return table


@njit(nogil=True, cache=True)
def _member_identities(
    query_length,
    query_ambiguous,
    counts,
    runs,
    member_lengths,
    member_ambiguous,
    k,
    reference_fixed,
    iupac,
):
    """The identity bound of each member: the smallest of the runs' (``runs``: the fewest
    runs of k windows covering the missing ones), the count's and the lengths' bounds."""
    result = np.empty(len(counts), np.float64)
    explained = query_ambiguous if iupac else 0
    for position in range(len(counts)):
        length = member_lengths[position]
        value = count_identity(
            query_length,
            counts[position],
            k,
            explained + (member_ambiguous[position] if iupac else 0),
            length,
            length,
            reference_fixed,
        )
        result[position] = min(value, identity_of_edits(query_length, runs[position] - explained))
    return result


@njit(nogil=True, cache=True)
def _surviving_clusters(
    kmers,
    multiplicities,
    kmer_offsets,
    query_lengths,
    query_ambiguous,
    kmer_table_offsets,
    postings,
    sharing_offsets,
    sharing_clusters,
    sharing_bounds,
    unshared,
    cluster_shortest,
    cluster_longest,
    cluster_mask_ids,
    cluster_ambiguous,
    pair_best,
    pair_plain,
    pair_ambiguous,
    k,
    gap_open,
    gap_extend,
    query_end_free,
    reference_fixed,
    scale,
    min_score,
    use_identity,
    min_identity,
    iupac,
):
    """Per query: the clusters whose score bound reaches ``min_score`` (as ``bound / scale``)
    and, with ``use_identity``, whose identity bound reaches ``min_identity``, with their score
    bounds; and the highest score bound of the clusters left out.

    ``sharing_*`` and ``unshared`` are the score bounds of
    :func:`~streamalign.search.counting.cluster_bounds`; the clusters sharing no k-mer are
    bounded one by one only when their highest bound reaches ``min_score``."""
    query_count = len(kmer_offsets) - 1
    cluster_count = len(cluster_shortest)
    counts = np.zeros(cluster_count, np.int64)
    score_of = np.empty(cluster_count, np.int64)
    sharing = np.zeros(cluster_count, np.bool_)
    kept = np.empty(cluster_count, np.int32)
    kept_bounds = np.empty(cluster_count, np.int64)
    offsets = np.zeros(query_count + 1, np.int64)
    pruned = np.full(query_count, _NONE, np.int64)
    pieces_clusters = []
    pieces_bounds = []
    for query in range(query_count):
        length = query_lengths[query]
        if use_identity:
            _add_cluster_counts(
                counts, kmers, multiplicities, kmer_offsets, query, kmer_table_offsets, postings
            )
        score_of[:] = unshared[query]
        sharing[:] = False
        for position in range(sharing_offsets[query], sharing_offsets[query + 1]):
            score_of[sharing_clusters[position]] = sharing_bounds[position]
            sharing[sharing_clusters[position]] = True
        if unshared[query] / scale >= min_score:
            for cluster in range(cluster_count):
                if not sharing[cluster]:
                    mask_id = cluster_mask_ids[cluster]
                    score_of[cluster] = score_bound(
                        length,
                        cluster_shortest[cluster],
                        cluster_longest[cluster],
                        0,
                        k,
                        pair_best[query, mask_id],
                        pair_plain[query, mask_id],
                        pair_ambiguous[query, mask_id],
                        query_ambiguous[query] + cluster_ambiguous[cluster],
                        query_ambiguous[query] + cluster_ambiguous[cluster],
                        gap_open,
                        gap_extend,
                        query_end_free,
                        reference_fixed,
                    )
        found = 0
        for cluster in range(cluster_count):
            keep = score_of[cluster] / scale >= min_score
            if keep and use_identity:
                keep = (
                    _cluster_identity(
                        length,
                        query_ambiguous[query],
                        counts[cluster],
                        cluster,
                        cluster_shortest,
                        cluster_longest,
                        cluster_ambiguous,
                        k,
                        reference_fixed,
                        iupac,
                    )
                    >= min_identity
                )
            if keep:
                kept[found] = cluster
                kept_bounds[found] = score_of[cluster]
                found += 1
            elif score_of[cluster] > pruned[query]:
                pruned[query] = score_of[cluster]
            counts[cluster] = 0
        pieces_clusters.append(kept[:found].copy())
        pieces_bounds.append(kept_bounds[:found].copy())
        offsets[query + 1] = offsets[query] + found
    clusters = np.empty(offsets[query_count], np.int32)
    bounds = np.empty(offsets[query_count], np.int64)
    for query in range(query_count):
        clusters[offsets[query] : offsets[query + 1]] = pieces_clusters[query]
        bounds[offsets[query] : offsets[query + 1]] = pieces_bounds[query]
    return offsets, clusters, bounds, pruned


@dataclasses.dataclass
class PassingPlan:
    """The pairs to align for a threshold, and what the skipped ones can score.

    Attributes:
        pairs: ``int64`` ``(P, 3)``: read, reference, strand (1: reverse) of each pair whose
            bounds reach the threshold, by read-strand and reference.
        skipped_bound: per read, the highest score bound of a pair not in ``pairs``
            (``-2**62``: none skipped).
        state: the search state of the batch's read-strands (member bounds on demand).
    """

    pairs: np.ndarray
    skipped_bound: np.ndarray
    state: Any


class PassingSearch:
    """The threshold search of a :class:`~streamalign.search.searcher.DatabaseSearch` (see
    the module)."""

    def __init__(self, search: Any) -> None:
        self.search = search
        aligner = search.aligner
        index = search.index
        self.iupac = aligner.scoring.ambiguous == "iupac"
        self.identity_applies = identity_applies(aligner)
        self.scale = int(aligner.scoring.scale)
        cluster_of = np.empty(index.reference_count, np.int64)
        cluster_of[index.cluster_members] = np.repeat(
            np.arange(index.cluster_count), np.diff(index.cluster_offsets)
        )
        #: The cluster of each reference.
        self.reference_cluster = cluster_of

    def members(self, cluster: int) -> np.ndarray:
        """The references of ``cluster``."""
        index = self.search.index
        return index.cluster_members[
            index.cluster_offsets[cluster] : index.cluster_offsets[cluster + 1]
        ]

    def plan(
        self,
        all_codes: np.ndarray,
        all_offsets: np.ndarray,
        strands: int,
        count: int,
        threshold: Threshold,
    ) -> PassingPlan:
        """The pairs of ``count`` reads (query-strand ``strand * count + read`` of
        ``all_codes``/``all_offsets``) whose bounds reach ``threshold``."""
        search = self.search
        model = search.model
        index = search.index
        state = search._prepare(all_codes, all_offsets, strands, count)
        best, plain, ambiguous = state.pairs
        use_identity = self.identity_applies and threshold.min_identity is not None
        offsets, clusters, cluster_scores, skipped = _surviving_clusters(
            state.kmers,
            state.multiplicities,
            state.kmer_offsets,
            state.query_lengths,
            state.query_ambiguous,
            index.kmer_offsets,
            index.postings,
            state.cluster_offsets,
            state.clusters,
            state.bounds,
            state.unshared,
            search.cluster_shortest,
            search.cluster_longest,
            search.cluster_mask_ids,
            search.cluster_ambiguous,
            best,
            plain,
            ambiguous,
            index.k,
            model.gap_open,
            model.gap_extend,
            model.query_end_free,
            model.reference_ends_penalized,
            self.scale,
            threshold.score_floor,
            use_identity,
            float(threshold.min_identity or 0.0),
            self.iupac,
        )
        pieces: list[np.ndarray] = []
        for query in range(strands * count):
            start, end = int(offsets[query]), int(offsets[query + 1])
            if start == end:
                continue
            members, scores, skipped_here = self._surviving_members(
                query, clusters[start:end], cluster_scores[start:end], state, threshold
            )
            if use_identity and len(members):
                keep = self.member_identities(query, members, state) >= threshold.min_identity
                if not keep.all():
                    skipped_here = max(skipped_here, int(scores[~keep].max()))
                members = members[keep]
            skipped[query] = max(int(skipped[query]), skipped_here)
            if len(members):
                piece = np.empty((len(members), 3), np.int64)
                piece[:, 0] = query % count
                piece[:, 1] = members
                piece[:, 2] = query // count
                pieces.append(piece)
        pairs = np.concatenate(pieces) if pieces else np.zeros((0, 3), np.int64)
        return PassingPlan(pairs, skipped.reshape(strands, count).max(axis=0), state)

    def _surviving_members(
        self,
        query: int,
        clusters: np.ndarray,
        cluster_scores: np.ndarray,
        state: Any,
        threshold: Threshold,
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """The members of ``clusters`` whose score bound reaches ``min_score``, a score bound
        of each (its own with ``min_score``, else its cluster's), and the highest bound of the
        members left out."""
        member_pieces = []
        score_pieces = []
        skipped = _NONE
        for cluster, cluster_score in zip(clusters.tolist(), cluster_scores.tolist(), strict=True):
            members = self.members(cluster)
            if threshold.min_score is None:
                member_pieces.append(members)
                score_pieces.append(np.full(len(members), cluster_score, np.int64))
                continue
            bounds = state._member_bounds(query, cluster, members)
            keep = threshold.scores_pass(bounds, self.scale)
            if not keep.all():
                skipped = max(skipped, int(bounds[~keep].max()))
            member_pieces.append(members[keep])
            score_pieces.append(bounds[keep])
        return np.concatenate(member_pieces), np.concatenate(score_pieces), skipped

    def member_identities(self, query: int, members: np.ndarray, state: Any) -> np.ndarray:
        """The identity bound of query-strand ``query`` against each of ``members``."""
        search = self.search
        index = search.index
        if not self.identity_applies:
            return np.ones(len(members))
        counts, runs = member_evidence(
            state.kmers,
            state.multiplicities,
            state.kmer_offsets,
            state.slots,
            state.window_offsets,
            query,
            index.reference_codes,
            index.reference_offsets,
            members,
            index.k,
            1,  # unit costs: the loss is the fewest runs of k windows covering the missing
            1,
            1,
            1,
            False,
            False,
            -1,  # no grouped cover: identities count an ambiguous column like a mismatch
        )
        return _member_identities(
            int(state.query_lengths[query]),
            int(state.query_ambiguous[query]),
            counts,
            runs,
            search.lengths[members],
            search.ambiguous[members],
            index.k,
            search.model.reference_ends_penalized,
            self.iupac,
        )

    def identity_bounds(
        self, codes: np.ndarray, offsets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each query (forward strand) and each reference: the identity bound of the
        reference's cluster and the reference's own, as two ``(queries, references)`` arrays
        (for tests and diagnostics; 1.0 everywhere where the bound does not hold)."""
        search = self.search
        index = search.index
        count = len(offsets) - 1
        state = search._prepare(codes, offsets.astype(np.int64), 1, count)
        clusters = np.ones((count, index.reference_count))
        members = np.ones((count, index.reference_count))
        if not self.identity_applies:
            return clusters, members
        table = _cluster_identities(
            state.kmers,
            state.multiplicities,
            state.kmer_offsets,
            state.query_lengths,
            state.query_ambiguous,
            index.kmer_offsets,
            index.postings,
            search.cluster_shortest,
            search.cluster_longest,
            search.cluster_ambiguous,
            index.k,
            search.model.reference_ends_penalized,
            self.iupac,
        )
        everyone = np.arange(index.reference_count, dtype=np.int32)
        for query in range(count):
            clusters[query] = table[query, self.reference_cluster]
            members[query] = self.member_identities(query, everyone, state)
        return clusters, members


def align_passing(
    aligner: Any,
    batch: SequenceBatch,
    codes: np.ndarray,
    reverse_batch: SequenceBatch | None,
    reverse_codes: np.ndarray | None,
    threshold: Threshold,
    traceback: bool = True,
) -> AlignmentBatch:
    """Each read's passing references (or its best alignment when none passes), aligning only
    the pairs whose bounds reach ``threshold`` (see the module); ``reverse_*``: the reverse
    complement, or None for the forward strand only."""
    search = aligner.database_search()
    passing = PassingSearch(search)
    strands = 1 if reverse_codes is None else 2
    count = len(batch)
    offsets = batch.offsets.astype(np.int64)
    if reverse_codes is not None:
        all_codes = np.concatenate([codes, reverse_codes])
        all_offsets = np.concatenate([offsets[:-1], offsets[:-1] + len(codes), [2 * len(codes)]])
    else:
        all_codes, all_offsets = codes, offsets
    plan = passing.plan(all_codes, all_offsets, strands, count, threshold)
    sources = [(batch, codes), (reverse_batch, reverse_codes)]
    pairs = plan.pairs
    aligned = np.bincount(pairs[:, 0], minlength=count).astype(np.int64)
    half_aligned = np.zeros(count, dtype=np.int64)
    family_bounded = np.zeros(count, dtype=np.int64)
    # 1. The surviving pairs, grouped by (reference, strand): the reads are the lanes.
    groups, group_of, position_of = _align_groups(aligner, pairs, sources, traceback)
    scores = np.empty(len(pairs), np.int64)
    passes = np.zeros(len(pairs), bool)
    for number, group in enumerate(groups):
        members = np.flatnonzero(group_of == number)
        scores[members] = group.integer_scores[position_of[members]]
        passes[members] = threshold.passes(group)[position_of[members]]
    # 2. Each (read, reference)'s record: its better strand among those aligned.
    reference_count = len(aligner.references)
    chosen, single = _better_strands(pairs, scores, reference_count)
    if strands == 2 and threshold.min_identity is not None:
        beaten = _beaten_by_skipped_strand(
            aligner, passing, plan, pairs, scores, chosen[single & passes[chosen]], sources
        )
        aligned += np.bincount(pairs[beaten[1], 0], minlength=count) if len(beaten[1]) else 0
        passes[beaten[0]] = False
    records = chosen[passes[chosen]]
    # 3. Reads with no passing reference: their best alignment.
    has_passing = np.zeros(count, bool)
    has_passing[pairs[records, 0]] = True
    failing = np.flatnonzero(~has_passing)
    best_pairs = _best_pairs(pairs, scores, count)
    best_scores = np.full(count, _NONE, np.int64)
    has_pair = best_pairs >= 0
    best_scores[has_pair] = scores[best_pairs[has_pair]]
    # The best aligned pair is the read's best when no skipped pair's bound reaches it.
    from_pairs = failing[has_pair[failing] & (best_scores[failing] > plan.skipped_bound[failing])]
    searched = np.setdiff1d(failing, from_pairs)
    pieces = list(groups)
    chosen_rows = [
        _rows(pairs[records, 0], group_of[records], position_of[records], pairs[records, 1]),
        _rows(from_pairs, group_of[best_pairs[from_pairs]], position_of[best_pairs[from_pairs]]),
    ]
    if len(searched):
        found = aligner.align_many(
            batch.take(searched),
            strand="forward" if strands == 1 else "both",
            traceback=traceback,
        )
        if found.aligned_candidates is not None:
            aligned[searched] += found.aligned_candidates
        if found.half_aligned_candidates is not None:
            half_aligned[searched] += found.half_aligned_candidates
        if found.family_bounded_candidates is not None:
            family_bounded[searched] += found.family_bounded_candidates
        pieces.append(found)
        chosen_rows.append(
            _rows(searched, np.full(len(searched), len(groups)), np.arange(len(searched)))
        )
    rows = np.concatenate(chosen_rows)
    rows = rows[np.lexsort((rows[:, 3], rows[:, 0]))]
    starts = np.concatenate(([0], np.cumsum([len(piece) for piece in pieces])))
    result = AlignmentBatch.concatenate(pieces).take(starts[rows[:, 1]] + rows[:, 2])
    result.record_queries = rows[:, 0]
    result.aligned_candidates = aligned
    result.half_aligned_candidates = half_aligned
    result.family_bounded_candidates = family_bounded
    return result


def _rows(
    reads: np.ndarray,
    groups: np.ndarray,
    positions: np.ndarray,
    references: np.ndarray | None = None,
) -> np.ndarray:
    """Output records as rows (read, piece, position in the piece, reference order key)."""
    rows = np.zeros((len(reads), 4), np.int64)
    rows[:, 0] = reads
    rows[:, 1] = groups
    rows[:, 2] = positions
    if references is not None:
        rows[:, 3] = references
    return rows


def _subset(
    batch: SequenceBatch, codes: np.ndarray, reads: np.ndarray
) -> tuple[SequenceBatch, np.ndarray]:
    """Records ``reads`` of ``batch`` (qualities too) and their codes."""
    subset = batch.take(reads)
    return subset, codes[_gather_indices(batch.offsets[reads], np.diff(subset.offsets))]


def _align_groups(
    aligner: Any, pairs: np.ndarray, sources: list[Any], traceback: bool
) -> tuple[list[AlignmentBatch], np.ndarray, np.ndarray]:
    """Align ``pairs`` (read, reference, strand) in one kernel call per (reference, strand);
    the groups, and each pair's group and position in it."""
    group_of = np.empty(len(pairs), np.int64)
    position_of = np.empty(len(pairs), np.int64)
    groups: list[AlignmentBatch] = []
    if not len(pairs):
        return groups, group_of, position_of
    order = np.lexsort((pairs[:, 0], pairs[:, 2], pairs[:, 1]))
    keys = pairs[order, 1] * 2 + pairs[order, 2]
    boundaries = np.flatnonzero(np.diff(keys)) + 1
    for members in np.split(order, boundaries):
        reference, strand = int(pairs[members[0], 1]), int(pairs[members[0], 2])
        source, source_codes = sources[strand]
        subset, subset_codes = _subset(source, source_codes, pairs[members, 0])
        group_of[members] = len(groups)
        position_of[members] = np.arange(len(members))
        groups.append(aligner._align_codes(subset, subset_codes, reference, traceback, strand == 1))
    return groups, group_of, position_of


def _better_strands(
    pairs: np.ndarray, scores: np.ndarray, reference_count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per (read, reference) aligned: the pair of its better strand (ties: forward), and
    whether it was its only strand aligned."""
    if not len(pairs):
        return np.zeros(0, np.int64), np.zeros(0, bool)
    keys = pairs[:, 0] * reference_count + pairs[:, 1]
    order = np.lexsort((pairs[:, 2], keys))
    starts = np.flatnonzero(np.concatenate(([True], keys[order][1:] != keys[order][:-1])))
    sizes = np.diff(np.concatenate((starts, [len(order)])))
    chosen = order[starts]
    both = sizes == 2
    reverse = order[starts[both] + 1]
    chosen[both] = np.where(scores[reverse] > scores[chosen[both]], reverse, chosen[both])
    return chosen, ~both


def _beaten_by_skipped_strand(
    aligner: Any,
    passing: PassingSearch,
    plan: PassingPlan,
    pairs: np.ndarray,
    scores: np.ndarray,
    candidates: np.ndarray,
    sources: list[Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Of the passing pairs ``candidates`` whose other strand was skipped (for its identity
    bound), those the other strand beats (a higher score, or equal on the forward strand:
    that strand is the reference's record, and fails); and the candidates whose other strand
    had to be aligned (score-only) to tell."""
    if not len(candidates):
        return candidates, candidates
    count = len(plan.skipped_bound)
    other = 1 - pairs[candidates, 2]
    queries = other * count + pairs[candidates, 0]
    clusters = passing.reference_cluster[pairs[candidates, 1]]
    bounds = np.empty(len(candidates), np.int64)
    keys = queries * (len(passing.reference_cluster) + 1) + clusters
    order = np.argsort(keys, kind="stable")
    boundaries = np.flatnonzero(np.diff(keys[order])) + 1
    for members in np.split(order, boundaries):
        references = pairs[candidates[members], 1].astype(np.int32)
        bounds[members] = plan.state._member_bounds(
            int(queries[members[0]]), int(clusters[members[0]]), references
        )
    mine = scores[candidates]
    may_beat = (bounds > mine) | ((bounds == mine) & (other == 0))
    checked = candidates[may_beat]
    if not len(checked):
        return checked, checked
    rivals = pairs[checked].copy()
    rivals[:, 2] = 1 - rivals[:, 2]
    groups, group_of, position_of = _align_groups(aligner, rivals, sources, False)
    rival_scores = np.empty(len(rivals), np.int64)
    for number, group in enumerate(groups):
        members = np.flatnonzero(group_of == number)
        rival_scores[members] = group.integer_scores[position_of[members]]
    mine = scores[checked]
    beaten = (rival_scores > mine) | ((rival_scores == mine) & (rivals[:, 2] == 0))
    return checked[beaten], checked


def _best_pairs(pairs: np.ndarray, scores: np.ndarray, count: int) -> np.ndarray:
    """Per read, its best aligned pair (highest score, ties: first reference, forward
    strand); -1 for a read with none."""
    best = np.full(count, -1, np.int64)
    if not len(pairs):
        return best
    order = np.lexsort((pairs[:, 1] * 2 + pairs[:, 2], -scores, pairs[:, 0]))
    reads = pairs[order, 0]
    first = np.concatenate(([True], reads[1:] != reads[:-1]))
    best[reads[first]] = order[first]
    return best
