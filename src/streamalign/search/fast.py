"""The vsearch-style fast search: accept the first good hits in bound order, then stop.

The exact search (:mod:`streamalign.search.searcher`) aligns references until no score bound
can beat the best score found. The fast search trades that guarantee for a fixed amount of
work per read, with the stopping rules of vsearch's ``--usearch_global`` (``--maxaccepts``,
``--maxrejects``, ``--id``):

1. every (reference, strand) of a read is a candidate, taken in decreasing order of the
   number of the read's k-mers (by position, all ``A C G T``) the reference holds exactly, as
   vsearch orders them; ties in decreasing score upper bound
   (:mod:`streamalign.search.bounds`), then reference file order, forward strand first. (The
   bound alone ranks poorly: a reference's ambiguity codes match any k-mer in the bound,
   which lifts genes full of ``N`` to the top.);
2. each candidate is aligned: it is *accepted* when it passes the threshold (identity, the
   matches over the alignment columns, at least ``min_identity``; or score at least
   ``min_score``), otherwise *rejected*. With ``min_score``, a candidate whose bound is below
   it is rejected without being aligned (its score cannot reach it), except the read's first
   candidate, which is always aligned so that every read has an alignment to write;
3. the read is done after ``max_accepts`` accepted or ``max_rejects`` rejected candidates
   (0: no limit), or when no candidate is left.

The read's hit is its best-scoring accepted candidate (ties: first reference, forward
strand), or when none was accepted its best-scoring rejected one, which fails the threshold
(the pipeline writes it as unmapped). The result depends only on these rules, not on how the
candidates are batched into kernel calls.

Example:
    >>> from streamalign import Aligner
    >>> from streamalign.alphabet import encode
    >>> from streamalign.records import SequenceBatch
    >>> genes = {"a": "ACGTTGCAGGTACCGATTAGC" * 3, "b": "TTGACCGATAGCATGCAAGT" * 3}
    >>> aligner = Aligner(genes, mode="semiglobal", search=FastSearch(min_identity=0.9))
    >>> batch = SequenceBatch.from_strings(["GATAGCATGCAAGTTTGAC"])
    >>> found = fast_best(aligner.database_search(), batch, encode(batch.sequences), None, None)
    >>> found.references.tolist(), found.scores.tolist(), found.accepted.tolist()
    ([1], [19], [1])
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from typing import Any

import numpy as np

from .. import _config
from ..records import SequenceBatch, _gather_indices

_NONE = -(2**62)
_NO_KEY = 2**62


@dataclasses.dataclass(frozen=True)
class FastSearch:
    """The fast search's settings (see the module); exactly one threshold is given.

    Attributes:
        min_identity: accept a candidate whose identity is at least this (vsearch's ``--id``).
        min_score: accept a candidate whose score is at least this.
        max_accepts: stop after this many accepted candidates (vsearch's ``--maxaccepts``,
            default 1); 0: no limit.
        max_rejects: stop after this many rejected candidates (``--maxrejects``, default
            32); 0: no limit.

    Example:
        >>> FastSearch(min_identity=0.97).max_rejects
        32
        >>> FastSearch()
        Traceback (most recent call last):
        ...
        ValueError: the fast search needs a threshold: min_identity or min_score
    """

    min_identity: float | None = None
    min_score: float | None = None
    max_accepts: int = 1
    max_rejects: int = 32

    def __post_init__(self) -> None:
        if (self.min_identity is None) == (self.min_score is None):
            raise ValueError(
                "the fast search needs a threshold: min_identity or min_score"
                if self.min_identity is None
                else "give the fast search min_identity or min_score, not both"
            )
        if self.min_identity is not None and not 0.0 <= self.min_identity <= 1.0:
            raise ValueError(f"min_identity must be between 0 and 1, got {self.min_identity}")
        if self.min_score is not None and math.isnan(self.min_score):
            raise ValueError("min_score must be a number, got nan")
        for name in ("max_accepts", "max_rejects"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0 (0: no limit), got {value!r}")

    @property
    def needs_alignment(self) -> bool:
        """Whether accepting takes a traceback (identity), not only a score."""
        return self.min_identity is not None


@dataclasses.dataclass
class FastResult:
    """Per read: the hit's reference, strand (True: reverse) and integer score, the number of
    candidates aligned, and how many of them were accepted."""

    references: np.ndarray
    reverse: np.ndarray
    scores: np.ndarray
    aligned: np.ndarray
    accepted: np.ndarray


def fast_best(
    search: Any,
    batch: SequenceBatch,
    codes: np.ndarray,
    reverse_batch: SequenceBatch | None,
    reverse_codes: np.ndarray | None,
    settings: FastSearch | None = None,
) -> FastResult:
    """The fast search's hit of every read of ``batch`` (see the module).

    Args:
        search: the :class:`~streamalign.search.searcher.DatabaseSearch` of the references.
        batch, codes: the reads and their codes.
        reverse_batch, reverse_codes: their reverse complements, or None (forward only).
        settings: default: the aligner's (``Aligner(search=FastSearch(...))``).
    """
    if settings is None:
        settings = search.aligner.search
    assert isinstance(settings, FastSearch)
    state, sources = search.start(batch, codes, reverse_batch, reverse_codes, by_count=True)
    ranking = _Ranking(state)
    count = len(batch)
    accepted = np.zeros(count, dtype=np.int64)
    rejected = np.zeros(count, dtype=np.int64)
    aligned = np.zeros(count, dtype=np.int64)
    taken = np.zeros(count, dtype=np.int64)  # candidates consumed, aligned or not
    best = [np.full(count, _NONE, dtype=np.int64), np.full(count, _NO_KEY, dtype=np.int64)]
    fallback = [np.full(count, _NONE, dtype=np.int64), np.full(count, _NO_KEY, dtype=np.int64)]
    cutoff = -math.inf if settings.min_score is None else settings.min_score
    per_round = _config.SEARCH_FIRST_ROUND_CANDIDATES
    active = list(range(count))
    while active:
        rows: list[tuple[int, int, int]] = []
        # Per read: its candidates of this round in order, as a row of ``rows`` or -1 (rejected
        # by its bound, not aligned).
        owners: list[tuple[int, list[int]]] = []
        for read in active:
            ranked = ranking.next(
                read, _wanted(per_round, settings, accepted[read], rejected[read])
            )
            picks = []
            for number, (bound, reference, strand) in enumerate(ranked):
                if bound < cutoff and (taken[read] or number):
                    picks.append(-1)
                else:
                    picks.append(len(rows))
                    rows.append((reference, strand, read))
            if picks:
                owners.append((read, picks))
        if not owners:
            break
        table = np.array(rows, dtype=np.int64).reshape(-1, 3)
        scores, identities = (
            _evaluate(search, table, sources, settings.needs_alignment)
            if len(table)
            else (np.zeros(0, np.int64), np.zeros(0))
        )
        if settings.min_identity is not None:
            passing = identities >= settings.min_identity
        else:
            passing = scores >= cutoff
        still = []
        for read, picks in owners:
            # Fewer candidates than asked for: they ran out.
            done = len(picks) < _wanted(per_round, settings, accepted[read], rejected[read])
            for row in picks:
                taken[read] += 1
                if row < 0:
                    rejected[read] += 1
                else:
                    key = int(table[row, 0]) * 2 + int(table[row, 1])
                    score = int(scores[row])
                    aligned[read] += 1
                    _keep(fallback, read, score, key)
                    if passing[row]:
                        accepted[read] += 1
                        _keep(best, read, score, key)
                    else:
                        rejected[read] += 1
                if (settings.max_accepts and accepted[read] >= settings.max_accepts) or (
                    settings.max_rejects and rejected[read] >= settings.max_rejects
                ):
                    done = True
                    break
            if not done:
                still.append(read)
        active = still
        per_round = min(
            max(per_round * _config.SEARCH_ROUND_GROWTH, _config.SEARCH_ROUND_CANDIDATES),
            _config.SEARCH_MAX_ROUND_CANDIDATES,
        )
    found = accepted > 0
    keys = np.where(found, best[1], fallback[1])
    return FastResult(
        references=keys // 2,
        reverse=(keys % 2).astype(bool),
        scores=np.where(found, best[0], fallback[0]),
        aligned=aligned,
        accepted=accepted,
    )


class _Ranking:
    """Every (reference, strand) of each read in the fast search's order (see the module):
    decreasing shared count ``C``, then bound, then (reference, strand).

    Clusters are opened lazily, in decreasing count of the read's k-mers some member holds (at
    least each member's ``C``): a cluster is opened while that count reaches the pool's best
    ``C``, so the pool's best is the best left anywhere. A query-strand opens its clusters a
    growing number at a time (1, 2, 4, ... up to ``_config.SEARCH_FAST_OPEN``; opening one
    early changes no choice, the pool keeps the order). Clusters sharing no k-mer (members'
    ``C`` = 0) are opened last, all at once.

    Members enter the pool with their count only. The bound, which only orders members of
    equal ``C``, is computed when a count reaches the top: every member with that count is in
    the pool then (no unopened cluster reaches it), and they are served in decreasing bound,
    then key (a member's bound adds the cover of its missing windows to the scan that counts
    them, and the search takes few candidates of the many members it opens)."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.clusters: list[np.ndarray] = []
        self.shared: list[np.ndarray] = []
        for query in range(state.strands * state.count):
            # Listed in decreasing count, then cluster (``start(..., by_count=True)``).
            start, end = int(state.cluster_offsets[query]), int(state.cluster_offsets[query + 1])
            self.clusters.append(state.clusters[start:end])
            self.shared.append(state.shared[start:end])
        self.cursor = np.zeros(state.strands * state.count, dtype=np.int64)
        self.opening = np.ones(state.strands * state.count, dtype=np.int64)
        self.unshared_done = np.zeros(state.strands * state.count, dtype=bool)
        # Per read: members waiting, (-C, key, query-strand, cluster); and the members of the
        # count being served, with their bounds, best last.
        self.pools: list[list[tuple[int, int, int, int]]] = [[] for _ in range(state.count)]
        self.levels: list[list[tuple[int, int]]] = [[] for _ in range(state.count)]

    def _frontier(self, read: int) -> tuple[int, int]:
        """The highest count of a cluster not yet opened, and its query-strand (-1: none)."""
        best_count, best_strand = -1, -1
        for strand in range(self.state.strands):
            query = strand * self.state.count + read
            cursor = int(self.cursor[query])
            if cursor < len(self.clusters[query]):
                value = int(self.shared[query][cursor])
            elif not self.unshared_done[query]:
                value = 0
            else:
                continue
            if value > best_count:
                best_count, best_strand = value, strand
        return best_count, best_strand

    def next(self, read: int, most: int) -> list[tuple[int, int, int]]:
        """Up to ``most`` next candidates of ``read``: ``(bound, reference, strand)``."""
        pool = self.pools[read]
        level = self.levels[read]
        chosen: list[tuple[int, int, int]] = []
        while len(chosen) < most:
            if level:
                bound, key = level.pop()
                chosen.append((bound, key // 2, key % 2))
                continue
            frontier, strand = self._frontier(read)
            top = -pool[0][0] if pool else -1
            if strand >= 0 and frontier >= top:
                self._open(read, strand)
                continue
            if not pool:
                break
            self._serve_level(read)
        return chosen

    def _serve_level(self, read: int) -> None:
        """Move every member with the pool's top count into the read's level, with its
        bound, best (highest bound, then lowest key) last."""
        pool = self.pools[read]
        top = pool[0][0]
        by_source: dict[tuple[int, int], list[int]] = {}
        while pool and pool[0][0] == top:
            _, key, query, cluster = heapq.heappop(pool)
            by_source.setdefault((query, cluster), []).append(key)
        level = self.levels[read]
        for (query, cluster), keys in by_source.items():
            members = np.array(keys, dtype=np.int64) // 2
            _, bounds = self.state.member_evidence(query, cluster, members.astype(np.int32))
            level.extend(zip(bounds.tolist(), keys, strict=True))
        level.sort(key=lambda item: (item[0], -item[1]))

    def _open(self, read: int, strand: int) -> None:
        state = self.state
        index = state.search.index
        query = strand * state.count + read
        cursor = int(self.cursor[query])
        if cursor < len(self.clusters[query]):
            step = int(self.opening[query])
            self.opening[query] = min(2 * step, _config.SEARCH_FAST_OPEN)
            taken = self.clusters[query][cursor : cursor + step]
            self.cursor[query] = cursor + len(taken)
            members, counts, sources = state.members_evidence(query, taken, bounds=False)
        else:
            self.unshared_done[query] = True
            seen = np.zeros(index.cluster_count, dtype=bool)
            seen[self.clusters[query]] = True
            members = np.concatenate(
                [np.zeros(0, np.int32)]
                + [
                    index.cluster_members[index.cluster_offsets[c] : index.cluster_offsets[c + 1]]
                    for c in np.flatnonzero(~seen).tolist()
                ]
            )
            if not len(members):
                return
            counts = state.member_counts(query, members)
            sources = np.full(len(members), -1, dtype=np.int64)
        pool = self.pools[read]
        for member, shared, source in zip(
            members.tolist(), counts.tolist(), sources.tolist(), strict=True
        ):
            heapq.heappush(pool, (-shared, member * 2 + strand, query, source))


def _wanted(per_round: int, settings: FastSearch, accepted: int, rejected: int) -> int:
    """Candidates to ask of a read this round: ``per_round``, but no more than can be needed
    before a limit is reached."""
    if settings.max_accepts and settings.max_rejects:
        return min(
            per_round,
            settings.max_accepts - int(accepted) + settings.max_rejects - int(rejected) - 1,
        )
    return per_round


def _keep(best: list[np.ndarray], read: int, score: int, key: int) -> None:
    """Take (score, key) as ``read``'s best when it beats it (ties: the smaller key)."""
    if score > best[0][read] or (score == best[0][read] and key < best[1][read]):
        best[0][read] = score
        best[1][read] = key


def _evaluate(
    search: Any,
    table: np.ndarray,
    sources: list[tuple[SequenceBatch, np.ndarray]],
    identities: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores (and, with ``identities``, the identities of the optimal alignments) of the
    ``(reference, strand, read)`` rows of ``table``, in the rows' order."""
    if not identities:
        return search.score_pairs(table, sources), np.zeros(len(table))
    aligner = search.aligner
    scores = np.empty(len(table), dtype=np.int64)
    identity = np.empty(len(table), dtype=np.float64)
    keys = table[:, 0] * 2 + table[:, 1]
    order = np.argsort(keys, kind="stable")
    boundaries = np.flatnonzero(np.diff(keys[order])) + 1
    for rows in np.split(order, boundaries):
        reference, strand = int(table[rows[0], 0]), int(table[rows[0], 1])
        source, source_codes = sources[strand]
        subset = source.take(table[rows, 2])
        starts = source.offsets[table[rows, 2]]
        subset_codes = source_codes[_gather_indices(starts, np.diff(subset.offsets))]
        group = aligner._align_codes(subset, subset_codes, reference, True, bool(strand))
        scores[rows] = group.integer_scores
        identity[rows] = group.identities
    return scores, identity
