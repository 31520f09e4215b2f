"""Families of near-identical references: one representative, and each member's differences.

A large 16S database holds many copies of a gene a few letters apart (strains, sequencing
variants). The search aligns a family's representative and bounds every other member's score
from it (:mod:`streamalign.search.bounds`, *A relative's alignment*): a member's score exceeds
its representative's by at most what its differences from it can be worth, so a family far
below a read's best is settled by one alignment instead of one per member.

Families are found when the index is built (:func:`find_families`), in four steps:

1. *Seeds.* Each reference gets its ``FAMILY_SKETCH`` smallest hashes of ``FAMILY_K``-mers.
   In each run of references sharing a hash, a reference joins the first of the run's
   anchors whose sketch shares ``FAMILY_SKETCH_SHARED`` values with its own (or becomes one).
   Runs of *common* hashes (more than ``FAMILY_COMMON_SHARE`` of the sketches hold them:
   k-mers of regions that the genes of a whole phylum share) are skipped: there a gene would
   meet hundreds of unrelated genes, join the first that shares enough conserved hashes, and
   be lost to its real copies.
2. *Consensus.* Each seed's anchor and first ``FAMILY_SAMPLE`` members are aligned (unit
   edit distance by diagonal transitions, O(n + d^2) for d edits); per letter of the anchor,
   the consensus holds the letter or deletion most of them hold, plus any run of letters
   more than half of them hold where the anchor has none. Mutants of one gene lie half as
   far from their consensus as from each other, and a consensus of a few is the gene.
3. *Families.* Every reference joins the first of the ``FAMILY_CANDIDATES`` consensus
   sequences sharing most of its sketch that lies within ``FAMILY_EDIT_SHARE`` of the longer
   length (and ``FAMILY_MAX_EDITS``). After the first pass, references that joined none
   seed more families (their anchors as consensus); then each consensus is voted again by
   its members and every reference joins again, ``FAMILY_REFINEMENTS`` times. Before each
   pass a consensus within ``FAMILY_MERGE_SHARE`` of an earlier one is dropped (one gene
   seeded twice), and after the last, references still in no family look again with a
   sketch of ``FAMILY_RESCUE_SKETCH`` hashes: mutants of a gene with hundreds of copies,
   whose hashes are nearly all common.
4. *Events.* A member's differences from its consensus are the edits of a shortest edit
   script, in the member's coordinates: a substitution (the member's letter and the
   consensus's), a run of letters only the member has, a run only the consensus has (placed
   before the member's position).

The edit-distance passes run on ``threads`` threads (the kernels release the GIL). A
400,000-gene set takes about as long again as its k-mer index (the README gives figures).
Which references form a family only affects speed: every bound holds for any representative
sequence and any edit script between it and the member.

Example:
    >>> from streamalign.alphabet import encode_string
    >>> genes = ["GATTACAGATTACAGGCATTACCAGT" * 3, "GATTACAGATTACAGGCATTACCAGT" * 3,
    ...          "CCCCGGGGAAAATTTT" * 4]
    >>> mutant = list(genes[0]); mutant[10] = "G"; del mutant[40]; genes[1] = "".join(mutant)
    >>> codes = [encode_string(gene) for gene in genes]
    >>> offsets = np.cumsum([0] + [len(c) for c in codes])
    >>> families = find_families(np.concatenate(codes), offsets)
    >>> families.family_of.tolist()  # the third gene is in no family
    [0, 0, -1]
    >>> describe_events(families, 0), describe_events(families, 1)  # the consensus is gene 0
    ([], [('substitution', 10, 'G', 'T'), ('representative only', 41, 1)])
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import os
from typing import Any

import numpy as np
from numba import njit

from ..alphabet import LETTERS

#: k-mer length of the hashes that group references into families.
FAMILY_K = 12
#: Smallest hashes kept per reference (each a chance to meet a relative)...
FAMILY_SKETCH = 12
#: ... but a hash held by more than ``FAMILY_COMMON_SHARE`` of the sketches (and more than
#: ``FAMILY_COMMON_MIN``) comes from a region conserved across genera: it counts towards the
#: values two sketches share, but references do not meet through it (a run of hundreds of
#: unrelated genes sharing it)...
FAMILY_COMMON_SHARE = 1 / 100
FAMILY_COMMON_MIN = 64
#: ... of which a reference and an anchor or consensus must share this many.
FAMILY_SKETCH_SHARED = 4
#: A seed's member votes for its consensus within this share of the longer length from the
#: anchor (two mutants of one gene lie twice as far apart as from the gene)...
FAMILY_GROUP_SHARE = 1 / 5
#: ... and a member lies within this share of its consensus...
FAMILY_EDIT_SHARE = 1 / 10
#: ... each at most this many edits.
FAMILY_MAX_EDITS = 320
#: Anchors a reference tries per shared hash when seeding.
FAMILY_TRIES = 4
#: Families compared per shared hash when a reference looks for its nearest consensus.
FAMILY_NEAREST_TRIES = 32
#: Times each consensus is voted again by the members that joined it.
FAMILY_REFINEMENTS = 2
#: Consensus sequences a reference tries to join, most shared hashes first.
FAMILY_CANDIDATES = 3
#: Members (besides the anchor) whose edit scripts make a family's consensus.
FAMILY_SAMPLE = 4
#: Before each joining pass, a consensus within this share of the longer length of an earlier
#: one is dropped (its members join the earlier one): seeds of one gene's copies give many
#: consensus sequences of that gene, which split its copies among them.
FAMILY_MERGE_SHARE = 1 / 100
#: References in no family after the refinements look once more for a consensus with a
#: sketch of this many hashes (``_rescue``): a mutant of a gene with hundreds of near-equal
#: copies holds mostly hashes common to those copies, and met none through the rest.
FAMILY_RESCUE_SKETCH = 48

#: Event kinds (the low 2 bits of an event's value).
SUBSTITUTION = 0
MEMBER_ONLY = 1
REPRESENTATIVE_ONLY = 2
_KIND_NAMES = ("substitution", "member only", "representative only")


@dataclasses.dataclass(frozen=True)
class Families:
    """Each reference's family, the families' consensus sequences, and each member's
    differences from its consensus (see the module).

    Attributes:
        family_of: ``int32``, each reference's family, or -1.
        consensus_offsets, consensus_codes: family ``f``'s consensus is
            ``consensus_codes[consensus_offsets[f]:consensus_offsets[f + 1]]`` (``int64``/
            ``uint8`` codes of :mod:`streamalign.alphabet`).
        event_offsets: ``int64``, reference ``r``'s events are
            ``event_positions/values[event_offsets[r]:event_offsets[r + 1]]``, by position.
        event_positions: ``int32``, where each event lies in the member.
        event_values: ``int32``, kind (2 bits), then a substitution's member and
            consensus codes (4 bits each), or a run's length (from bit 2).
    """

    family_of: np.ndarray
    consensus_offsets: np.ndarray
    consensus_codes: np.ndarray
    event_offsets: np.ndarray
    event_positions: np.ndarray
    event_values: np.ndarray

    @property
    def family_count(self) -> int:
        """Number of families."""
        return len(self.consensus_offsets) - 1

    @classmethod
    def none(cls, count: int) -> Families:
        """No families."""
        return cls(
            np.full(count, -1, dtype=np.int32),
            np.zeros(1, dtype=np.int64),
            np.zeros(0, dtype=np.uint8),
            np.zeros(count + 1, dtype=np.int64),
            np.zeros(0, dtype=np.int32),
            np.zeros(0, dtype=np.int32),
        )


def find_families(codes: np.ndarray, offsets: np.ndarray, threads: int | None = None) -> Families:
    """The families of the references given as concatenated codes and offsets (see the
    module), with ``threads`` threads (default: one per core)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    count = len(offsets) - 1
    if count < 2:
        return Families.none(count)
    threads = max(1, threads or os.cpu_count() or 1)
    sketches = _sketches(codes, offsets, FAMILY_K, FAMILY_SKETCH)
    common = _common_hashes(sketches)
    hashes, holders = _sorted_hashes(sketches, common)
    numbers = np.arange(count)
    # Seeds: references sharing enough of their sketch with an anchor.
    anchors = _seed(sketches, hashes, holders, FAMILY_SKETCH_SHARED, FAMILY_TRIES)
    members = np.flatnonzero(anchors != numbers)
    heads = np.unique(anchors[members])
    if not len(heads):
        return Families.none(count)
    seed_of = np.full(count, -1, dtype=np.int64)
    seed_of[heads] = np.arange(len(heads))
    seed_of[members] = seed_of[anchors[members]]
    # Each seed's consensus, from its anchor and first FAMILY_SAMPLE members' edit scripts
    # against the anchor (those close enough).
    order = np.lexsort((numbers, seed_of))
    order = order[seed_of[order] >= 0]
    first = np.searchsorted(seed_of[order], np.arange(len(heads)))
    ranks = np.arange(len(order)) - np.repeat(first, np.diff(np.append(first, len(order))))
    sampled = order[(ranks <= FAMILY_SAMPLE) & (anchors[order] != order)]
    targets = numbers.copy()
    targets[sampled] = anchors[sampled]
    distances = np.zeros(count, dtype=np.int64)
    _in_threads(
        _distances, count, threads, codes, offsets, targets, FAMILY_GROUP_SHARE,
        FAMILY_MAX_EDITS, outputs=(distances,),
    )  # fmt: skip
    targets[distances < 0] = numbers[distances < 0]
    positions, values, event_offsets = _events_against(
        codes, offsets, targets, np.maximum(distances, 0), threads
    )
    voters = order[(targets[order] != order) | (anchors[order] == order)]
    voter_offsets = np.searchsorted(seed_of[voters], np.arange(len(heads) + 1))
    consensus_codes, consensus_offsets = _consensus(
        codes, offsets, heads, voters, voter_offsets, event_offsets, positions, values
    )
    # Families: every reference joins the first of the consensus sequences sharing most of
    # its sketch that lies close enough; references joining none seed new families (their
    # anchors as consensus); then each consensus is voted again by its members, and they
    # join again.
    for refinement in range(FAMILY_REFINEMENTS + 1):
        consensus_codes, consensus_offsets = _merged(consensus_codes, consensus_offsets, threads)
        consensus_sketches = _sketches(consensus_codes, consensus_offsets, FAMILY_K, FAMILY_SKETCH)
        consensus_hashes, consensus_holders = _sorted_hashes(consensus_sketches, common)
        candidates = _nearest(
            sketches,
            consensus_sketches,
            consensus_hashes,
            consensus_holders,
            FAMILY_SKETCH_SHARED,
            FAMILY_NEAREST_TRIES,
            FAMILY_CANDIDATES,
        )
        all_codes = np.concatenate([codes, consensus_codes])
        all_offsets = np.concatenate([offsets, offsets[-1] + consensus_offsets[1:]])
        family_of = np.empty(count, dtype=np.int64)
        distances = np.empty(count, dtype=np.int64)
        _in_threads(
            _closest, count, threads, all_codes, all_offsets, candidates, FAMILY_EDIT_SHARE,
            FAMILY_MAX_EDITS, outputs=(family_of, distances),
        )  # fmt: skip
        if refinement == FAMILY_REFINEMENTS:
            _rescue(
                codes, offsets, consensus_codes, consensus_offsets, family_of, distances, threads
            )
        targets = np.where(family_of >= 0, count + family_of, numbers)
        positions, values, event_offsets = _events_against(
            all_codes, all_offsets, targets, distances, threads
        )
        if refinement == FAMILY_REFINEMENTS:
            break
        voters = np.lexsort((numbers, family_of))
        voters = voters[family_of[voters] >= 0]
        families = len(consensus_offsets) - 1
        voter_offsets = np.searchsorted(family_of[voters], np.arange(families + 1))
        consensus_codes, consensus_offsets = _consensus(
            all_codes,
            all_offsets,
            count + np.arange(families),
            voters,
            voter_offsets,
            event_offsets,
            positions,
            values,
        )
        if refinement == 0:
            alone = np.flatnonzero(family_of < 0)
            alone_hashes, alone_holders = _sorted_hashes(sketches[alone], common)
            alone_anchors = _seed(
                sketches[alone], alone_hashes, alone_holders, FAMILY_SKETCH_SHARED, FAMILY_TRIES
            )
            new_heads = alone[np.unique(alone_anchors[alone_anchors != np.arange(len(alone))])]
            lengths = np.diff(offsets)[new_heads]
            consensus_codes = np.concatenate(
                [consensus_codes, codes[_ranges(offsets[new_heads], lengths)]]
            )
            consensus_offsets = np.concatenate(
                [consensus_offsets, consensus_offsets[-1] + np.cumsum(lengths)]
            )
    # (families no reference joined are left out)
    used = np.unique(family_of[family_of >= 0])
    renumber = np.full(len(consensus_offsets) - 1, -1, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    family_of = np.where(family_of >= 0, renumber[np.maximum(family_of, 0)], -1)
    lengths = np.diff(consensus_offsets)[used]
    consensus_codes = consensus_codes[_ranges(consensus_offsets[used], lengths)]
    consensus_offsets = np.zeros(len(used) + 1, dtype=np.int64)
    np.cumsum(lengths, out=consensus_offsets[1:])
    return Families(
        family_of.astype(np.int32),
        consensus_offsets,
        consensus_codes,
        event_offsets[: count + 1],
        positions,
        values,
    )


def _merged(
    consensus_codes: np.ndarray, consensus_offsets: np.ndarray, threads: int
) -> tuple[np.ndarray, np.ndarray]:
    """The consensus sequences without those within ``FAMILY_MERGE_SHARE`` edits of an
    earlier one (found among the ``FAMILY_CANDIDATES`` earlier ones sharing most of their
    sketch): the same gene seeded twice."""
    count = len(consensus_offsets) - 1
    if count < 2:
        return consensus_codes, consensus_offsets
    earlier, _ = _nearest_within(
        consensus_codes, consensus_offsets, consensus_codes, consensus_offsets,
        FAMILY_SKETCH, FAMILY_MERGE_SHARE, threads, earlier_only=True,
    )  # fmt: skip
    kept = np.flatnonzero(earlier < 0)
    lengths = np.diff(consensus_offsets)[kept]
    offsets = np.zeros(len(kept) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return consensus_codes[_ranges(consensus_offsets[kept], lengths)], offsets


@njit(nogil=True, cache=True)
def _earlier(candidates):
    """Each row's candidates below the row's own number, in order (-1 after them)."""
    kept = np.full_like(candidates, -1)
    for row in range(len(candidates)):
        taken = 0
        for rank in range(candidates.shape[1]):
            value = candidates[row, rank]
            if 0 <= value < row:
                kept[row, taken] = value
                taken += 1
    return kept


def _rescue(
    codes: np.ndarray,
    offsets: np.ndarray,
    consensus_codes: np.ndarray,
    consensus_offsets: np.ndarray,
    family_of: np.ndarray,
    distances: np.ndarray,
    threads: int,
) -> None:
    """Give the references in no family (``family_of`` -1) the first of their
    ``FAMILY_CANDIDATES`` consensus sequences sharing most of a ``FAMILY_RESCUE_SKETCH``
    sketch that lies within the edit distance, in place (``distances`` too).

    A gene with hundreds of copies a few letters apart puts its k-mers' hashes in more than
    ``FAMILY_COMMON_SHARE`` of the sketches: references meet through none of them, and a
    mutant whose few other hashes its mutations changed finds no consensus, though it shares
    most of its sketch with its copies'. A larger sketch holds more of the rare hashes (those
    common among the consensus sequences are still skipped)."""
    alone = np.flatnonzero(family_of < 0)
    if not len(alone):
        return
    lengths = np.diff(offsets)[alone]
    alone_offsets = np.zeros(len(alone) + 1, dtype=np.int64)
    np.cumsum(lengths, out=alone_offsets[1:])
    family_of[alone], distances[alone] = _nearest_within(
        codes[_ranges(offsets[alone], lengths)], alone_offsets, consensus_codes,
        consensus_offsets, FAMILY_RESCUE_SKETCH, FAMILY_EDIT_SHARE, threads,
    )  # fmt: skip


def _nearest_within(
    codes: np.ndarray,
    offsets: np.ndarray,
    target_codes: np.ndarray,
    target_offsets: np.ndarray,
    sketch: int,
    share: float,
    threads: int,
    earlier_only: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Per sequence, the first of the ``FAMILY_CANDIDATES`` targets sharing most of a
    ``sketch``-hash sketch (hashes common among the targets skipped) that lies within
    ``share`` edits (and ``FAMILY_MAX_EDITS``), and that distance (-1 and 0 where none does).
    ``earlier_only``: the targets are the sequences themselves, and only earlier ones count."""
    target_sketches = _sketches(target_codes, target_offsets, FAMILY_K, sketch)
    sketches = target_sketches if earlier_only else _sketches(codes, offsets, FAMILY_K, sketch)
    hashes, holders = _sorted_hashes(target_sketches, _common_hashes(target_sketches))
    candidates = _nearest(
        sketches,
        target_sketches,
        hashes,
        holders,
        FAMILY_SKETCH_SHARED,
        FAMILY_NEAREST_TRIES,
        FAMILY_CANDIDATES + 1 if earlier_only else FAMILY_CANDIDATES,  # (itself among them)
    )
    if earlier_only:
        candidates = _earlier(candidates)
    count = len(offsets) - 1
    nearest = np.empty(count, dtype=np.int64)
    found = np.empty(count, dtype=np.int64)
    _in_threads(
        _closest, count, threads, np.concatenate([codes, target_codes]),
        np.concatenate([offsets, offsets[-1] + target_offsets[1:]]), candidates, share,
        FAMILY_MAX_EDITS, outputs=(nearest, found),
    )  # fmt: skip
    return nearest, found


def _events_against(
    codes: np.ndarray,
    offsets: np.ndarray,
    targets: np.ndarray,
    distances: np.ndarray,
    threads: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each sequence's events against sequence ``targets[i]`` (itself: none), at most
    ``distances[i]`` of them: positions, values and offsets."""
    count = len(targets)
    room = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.where(targets != np.arange(count), distances, 0), out=room[1:])
    positions = np.empty(room[-1], dtype=np.int32)
    values = np.empty(room[-1], dtype=np.int32)
    used = np.zeros(count, dtype=np.int64)
    _in_threads(
        _fill_events, count, threads, codes, offsets, targets, distances, room, positions,
        values, outputs=(used,),
    )  # fmt: skip
    event_offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(used, out=event_offsets[1:])
    keep = np.repeat(room[:-1], used) + (
        np.arange(event_offsets[-1]) - np.repeat(event_offsets[:-1], used)
    )
    return positions[keep], values[keep], event_offsets


def _in_threads(
    function: Any, count: int, threads: int, *arguments: Any, outputs: tuple[np.ndarray, ...]
) -> None:
    """Run the kernel ``function(*arguments, buffer, first, last, *outputs)`` over ``0 ..
    count`` in ``threads`` contiguous parts at once (it releases the GIL), a wavefront
    buffer each."""

    def part(bounds: tuple[int, int]) -> None:
        buffer = np.empty((FAMILY_MAX_EDITS + 1) * (2 * FAMILY_MAX_EDITS + 3), dtype=np.int32)
        function(*arguments, buffer, bounds[0], bounds[1], *outputs)

    edges = np.linspace(0, count, min(threads, max(count, 1)) + 1).astype(np.int64).tolist()
    parts = list(itertools.pairwise(edges))
    if len(parts) == 1:
        part(parts[0])
        return
    with concurrent.futures.ThreadPoolExecutor(len(parts)) as pool:
        list(pool.map(part, parts))


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions ``starts[i] .. starts[i] + lengths[i] - 1``, one range after another."""
    firsts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=firsts[1:])
    return np.repeat(starts - firsts, lengths) + np.arange(int(lengths.sum()))


def _common_hashes(sketches: np.ndarray) -> np.ndarray:
    """The hashes (ascending) that more than ``FAMILY_COMMON_SHARE`` of the sketches (and
    ``FAMILY_COMMON_MIN``) hold: k-mers of regions that genes of a whole phylum share."""
    hashes, _ = _sorted_hashes(sketches)
    values, counts = np.unique(hashes, return_counts=True)
    most = max(FAMILY_COMMON_MIN, int(len(sketches) * FAMILY_COMMON_SHARE))
    return values[counts > most]


def _sorted_hashes(
    sketches: np.ndarray, common: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Every (hash, holder) of the sketches, sorted by hash then holder (empty slots out, and
    the ``common`` hashes where given: references do not meet through them)."""
    holders = np.repeat(np.arange(len(sketches)), sketches.shape[1])
    hashes = sketches.ravel()
    kept = hashes != np.uint64(0xFFFFFFFFFFFFFFFF)
    if common is not None:
        kept &= ~np.isin(hashes, common)
    hashes, holders = hashes[kept], holders[kept]
    order = np.lexsort((holders, hashes))
    return hashes[order], holders[order]


def describe_events(families: Families, reference: int) -> list[tuple[object, ...]]:
    """Reference ``reference``'s events, readable: ``(kind, position, member letter,
    representative letter)`` for a substitution, ``(kind, position, length)`` for a run."""
    start, end = families.event_offsets[reference], families.event_offsets[reference + 1]
    described: list[tuple[object, ...]] = []
    for position, value in zip(
        families.event_positions[start:end].tolist(),
        families.event_values[start:end].tolist(),
        strict=True,
    ):
        kind = value & 3
        if kind == SUBSTITUTION:
            described.append(
                (
                    _KIND_NAMES[kind],
                    position,
                    LETTERS[(value >> 2) & 15],
                    LETTERS[(value >> 6) & 15],
                )
            )
        else:
            described.append((_KIND_NAMES[kind], position, value >> 2))
    return described


def edit_events(member: np.ndarray, representative: np.ndarray) -> tuple[np.ndarray, ...]:
    """The events of ``member`` against ``representative`` (code arrays) of a shortest edit
    script: positions and values, as one reference's slice of :class:`Families`.

    Example:
        >>> from streamalign.alphabet import encode_string
        >>> positions, values = edit_events(encode_string("GATTCA"), encode_string("GATTACA"))
        >>> positions.tolist(), [value & 3 for value in values.tolist()]  # A missing at 4
        ([4], [2])
    """
    codes = np.concatenate([member, representative]).astype(np.uint8)
    offsets = np.array([0, len(member), len(codes)], dtype=np.int64)
    limit = max(len(member), len(representative), 1)
    buffer = np.empty((limit + 1) * (2 * limit + 3), dtype=np.int32)
    distance = _edit_distance(member, representative, limit, buffer, 0.0)
    positions = np.empty(distance, dtype=np.int32)
    values = np.empty(distance, dtype=np.int32)
    used = np.zeros(2, dtype=np.int64)
    targets = np.array([1, 1], dtype=np.int64)
    distances = np.array([distance, 0], dtype=np.int64)
    room = np.zeros(2, dtype=np.int64)
    _fill_events(codes, offsets, targets, distances, room, positions, values, buffer, 0, 1, used)
    return positions[: used[0]], values[: used[0]]


def substitution_costs(matrix: np.ndarray) -> np.ndarray:
    """``d(x, y) = max_q (S[q, x] - S[q, y])`` over the alphabet's codes (a 16 x 16 ``int64``
    table for :func:`event_costs`): what a member's letter ``x`` can score above the
    consensus letter ``y`` against any query letter."""
    used = np.asarray(matrix)[: len(LETTERS), : len(LETTERS)].astype(np.int64)
    costs = np.zeros((16, 16), dtype=np.int64)
    costs[: len(LETTERS), : len(LETTERS)] = (used[:, :, None] - used[:, None, :]).max(axis=0)
    return costs


def transfer_windows(
    query_lengths: np.ndarray,
    thresholds: np.ndarray,
    top_score: int,
    gap_open: int,
    gap_extend: int,
) -> np.ndarray:
    """The member letters an alignment of a query of each length scoring at least each
    threshold can span: the query's letters plus the most deletions it can afford (one
    run of ``D`` costs ``gap_open + (D - 1) * gap_extend`` at least; every letter scores at
    most ``top_score``); unbounded (2**40) when extending a gap is free."""
    room = query_lengths * top_score - thresholds - gap_open
    if gap_extend <= 0:
        return np.full(len(query_lengths), 2**40, dtype=np.int64)
    return query_lengths + np.where(room < 0, 0, room // gap_extend + 1)


def event_costs(
    references: np.ndarray,
    windows: np.ndarray,
    event_offsets: np.ndarray,
    event_positions: np.ndarray,
    event_values: np.ndarray,
    substitution_costs: np.ndarray,
    positive_score: int,
    gap_open: int,
    gap_extend: int,
) -> np.ndarray:
    """For each row: the most that ``references[row]``'s events lying within any stretch of
    ``windows[row]`` of its letters can be worth (*A relative's alignment* in
    :mod:`streamalign.search.bounds`): a substitution ``substitution_costs[member letter,
    representative letter]``, a run of ``n`` member-only letters ``n * positive_score`` plus
    an ``n``-letter gap, a run of ``n`` representative-only letters an ``n``-letter gap (a gap
    costing the more of ``gap_open + (n - 1) * gap_extend`` and ``n * gap_extend``). A run of
    member letters counts wherever it overlaps the stretch. (:func:`priced_events` once, then
    :func:`window_costs` per call, is the same.)"""
    prices, longest, _ = priced_events(
        event_offsets, event_values, substitution_costs, positive_score, gap_open, gap_extend
    )
    return window_costs(references, windows, event_offsets, event_positions, prices, longest)


@njit(nogil=True, cache=True)
def priced_events(
    event_offsets, event_values, substitution_costs, positive_score, gap_open, gap_extend
):  # fmt: skip
    """Each event's worth (see :func:`event_costs`), and per reference its longest run of
    member-only letters (at least 1) and the worth of all its events."""
    count = len(event_offsets) - 1
    prices = np.empty(len(event_values), np.int32)
    longest = np.ones(count, np.int64)
    totals = np.zeros(count, np.int64)
    for reference in range(count):
        for event in range(event_offsets[reference], event_offsets[reference + 1]):
            value = event_values[event]
            prices[event] = _event_cost(
                value, substitution_costs, positive_score, gap_open, gap_extend
            )
            totals[reference] += prices[event]
            if value & 3 == 1 and (value >> 2) > longest[reference]:
                longest[reference] = value >> 2
    return prices, longest, totals


@njit(nogil=True, cache=True)
def window_costs(references, windows, event_offsets, event_positions, prices, longest):
    """:func:`event_costs` from :func:`priced_events`' prices and longest runs."""
    costs = np.zeros(len(references), np.int64)
    for row in range(len(references)):
        reference = references[row]
        first = event_offsets[reference]
        last = event_offsets[reference + 1]
        span = windows[row] + longest[reference] - 1
        costs[row] = _costliest_stretch(first, last, span, event_positions, prices)
    return costs


@njit(nogil=True, cache=True)
def _costliest_stretch(first, last, span, event_positions, prices):
    """The most that events ``first`` to ``last - 1`` (in order of position) lying within
    any stretch of ``span`` letters are worth."""
    total = 0
    best = 0
    left = first
    for event in range(first, last):
        total += prices[event]
        while event_positions[event] - event_positions[left] >= span:
            total -= prices[left]
            left += 1
        if total > best:
            best = total
    return best


@njit(nogil=True, cache=True)
def event_shifts(event_offsets, event_values):
    """Per reference: the most its letters lie away from their partners in the consensus,
    ``max |c(p) - p|`` over its letters ``p`` (``c(p)``: the consensus position paired with
    ``p``, or where a member-only letter sits), from the runs of its edit script.

    Example:
        >>> from streamalign.alphabet import encode_string
        >>> _, values = edit_events(encode_string("GATTCA"), encode_string("GATTACA"))
        >>> event_shifts(np.array([0, len(values)]), values).tolist()  # one letter missing
        [1]
    """
    count = len(event_offsets) - 1
    shifts = np.zeros(count, np.int64)
    for reference in range(count):
        shift = 0
        for event in range(event_offsets[reference], event_offsets[reference + 1]):
            value = event_values[event]
            kind = value & 3
            if kind == 1:
                shift -= value >> 2
            elif kind == 2:
                shift += value >> 2
            if abs(shift) > shifts[reference]:
                shifts[reference] = abs(shift)
    return shifts


@njit(nogil=True, cache=True)
def ended_bounds(
    references,
    slots,
    firsts,
    floors,
    value_offsets,
    values,
    block,
    windows,
    event_offsets,
    event_positions,
    prices,
    longest,
    shifts,
    totals,
    thresholds,
    stops,
):  # fmt: skip
    """Per row: the position-aware family bound (*A relative's alignment, by where it ends*
    in :mod:`streamalign.search.bounds`) of member ``references[row]``: the most, over the
    consensus end blocks ``b`` kept for its query (slot ``slots[row]``: blocks ``firsts[slot]``
    on, their end maxima ``values[value_offsets[slot]:value_offsets[slot + 1]]``, blocks not
    kept lying below ``floors[slot]``), of the block's end maximum plus the worth of the
    member's events at positions ``b * block - windows[row] - shift - longest`` up to (not
    including) ``(b + 1) * block + shift + longest`` (``shift``, ``longest``: the member's
    :func:`event_shifts` and longest member-only run); at least ``floors[slot]``. Also the
    first and last block whose sum reaches ``thresholds[row]`` (-1 where none does): an
    alignment of the member scoring that much ends in the member letters of that range.
    Blocks that can neither raise the bound nor reach the threshold even with all the
    member's events (``totals``) are skipped. A row stops at the first block that takes its
    bound above ``stops[row]``: its bound is then only known to exceed that, and its block
    range is unfinished (for callers that only ask whether it does; ``NO_BOUND`` scans
    every block).

    Returns:
        ``(bounds, first_blocks, last_blocks)``.
    """
    count = len(references)
    bounds = np.empty(count, np.int64)
    first_blocks = np.full(count, -1, np.int64)
    last_blocks = np.full(count, -1, np.int64)
    for row in range(count):
        reference = references[row]
        slot = slots[row]
        last = event_offsets[reference + 1]
        slack = shifts[reference] + longest[reference]
        best = floors[slot]
        low = event_offsets[reference]
        high = low
        total = 0
        for value in range(value_offsets[slot], value_offsets[slot + 1]):
            if values[value] + totals[reference] < min(best + 1, thresholds[row]):
                continue
            number = firsts[slot] + value - value_offsets[slot]
            start = number * block - windows[row] - slack
            end = (number + 1) * block + slack
            while high < last and event_positions[high] < end:
                total += prices[high]
                high += 1
            while low < high and event_positions[low] < start:
                total -= prices[low]
                low += 1
            reach = values[value] + total
            if reach > best:
                best = reach
            if reach >= thresholds[row]:
                if first_blocks[row] < 0:
                    first_blocks[row] = number
                last_blocks[row] = number
            if best > stops[row]:
                break
        bounds[row] = best
    return bounds, first_blocks, last_blocks


#: Stretches of member letters for which the search keeps each member's costliest events once
#: computed (:func:`kept_span_costs`; the windows of reads of 150-400 letters fall among them).
COST_SPANS = np.array([192, 256, 288, 320, 352, 384, 416, 448, 512, 640, 768, 1024], np.int64)


@njit(nogil=True, cache=True)
def kept_span_costs(references, slots, spans, event_offsets, event_positions, prices, kept):
    """Per row: the most ``references[row]``'s events within any stretch of
    ``spans[slots[row]]`` letters are worth (:func:`window_costs` with that span, runs'
    lengths not added: a window of ``W`` letters and longest run ``L`` lies within any span
    of at least ``W + L - 1`` letters, so its worth is at most the span's). Each value is
    computed once and kept in ``kept[reference, slot]`` (-1: not yet; callers in several
    threads at once at worst compute one twice)."""
    costs = np.empty(len(references), np.int64)
    for row in range(len(references)):
        costs[row] = _kept_worth(
            references[row], slots[row], spans, event_offsets, event_positions, prices, kept
        )
    return costs


@njit(nogil=True, cache=True)
def _kept_worth(reference, slot, spans, event_offsets, event_positions, prices, kept):
    """:func:`kept_span_costs` of one reference and slot (computed once, then kept)."""
    value = kept[reference, slot]
    if value < 0:
        value = _costliest_stretch(
            event_offsets[reference], event_offsets[reference + 1], spans[slot],
            event_positions, prices,
        )  # fmt: skip
        kept[reference, slot] = value
    return value


@njit(nogil=True, cache=True)
def family_span_costs(
    families, slots, member_offsets, members, spans, event_offsets, event_positions, prices,
    kept, family_kept,
):  # fmt: skip
    """Per row: the most the events of any member of family ``families[row]`` within a
    stretch of ``spans[slots[row]]`` letters are worth (:func:`kept_span_costs` of each
    member: ``members[member_offsets[f]:member_offsets[f + 1]]``), kept in
    ``family_kept[family, slot]`` (-1: not yet)."""
    costs = np.empty(len(families), np.int64)
    for row in range(len(families)):
        family = families[row]
        slot = slots[row]
        value = family_kept[family, slot]
        if value < 0:
            value = 0
            for position in range(member_offsets[family], member_offsets[family + 1]):
                worth = _kept_worth(
                    members[position], slot, spans, event_offsets, event_positions, prices, kept
                )
                value = max(value, worth)
            family_kept[family, slot] = value
        costs[row] = value
    return costs


@njit(nogil=True, cache=True)
def _event_cost(value, substitution_costs, positive_score, gap_open, gap_extend):
    kind = value & 3
    if kind == 0:
        return substitution_costs[(value >> 2) & 15, (value >> 6) & 15]
    length = value >> 2
    gap = max(gap_open + (length - 1) * gap_extend, length * gap_extend)
    if kind == 1:
        return length * positive_score + gap
    return gap


@njit(nogil=True, cache=True)
def _mix(value):
    """A 64-bit mixing function (splitmix64's finalizer) for MinHash values."""
    value = (value ^ (value >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    value = (value ^ (value >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return value ^ (value >> np.uint64(31))


@njit(nogil=True, cache=True)
def _sketches(codes, offsets, k, size):
    """The ``size`` smallest hashes of each sequence's k-mers of ``A C G T`` (ascending;
    all ones where it has fewer)."""
    count = len(offsets) - 1
    empty = np.uint64(0xFFFFFFFFFFFFFFFF)
    sketches = np.full((count, size), empty, np.uint64)
    mask = np.uint64((1 << (2 * k)) - 1)
    for sequence in range(count):
        sketch = sketches[sequence]
        code = np.uint64(0)
        valid = 0
        for position in range(offsets[sequence], offsets[sequence + 1]):
            letter = codes[position]
            if letter < 4:
                code = ((code << np.uint64(2)) | np.uint64(letter)) & mask
                valid += 1
            else:
                valid = 0
            if valid >= k:
                hashed = _mix(code)
                if hashed < sketch[size - 1]:
                    slot = size - 1
                    while slot > 0 and sketch[slot - 1] > hashed:
                        sketch[slot] = sketch[slot - 1]
                        slot -= 1
                    if slot > 0 and sketch[slot - 1] == hashed:
                        # (already held: undo the shift)
                        while slot < size - 1:
                            sketch[slot] = sketch[slot + 1]
                            slot += 1
                        sketch[size - 1] = empty
                        continue
                    sketch[slot] = hashed
    return sketches


@njit(nogil=True, cache=True)
def _common(first, second):
    """How many values two ascending sketches share (all-ones slots excluded)."""
    empty = np.uint64(0xFFFFFFFFFFFFFFFF)
    i = 0
    j = 0
    found = 0
    while i < len(first) and j < len(second) and first[i] != empty and second[j] != empty:
        if first[i] == second[j]:
            found += 1
            i += 1
            j += 1
        elif first[i] < second[j]:
            i += 1
        else:
            j += 1
    return found


@njit(nogil=True, cache=True)
def _seed(sketches, hashes, holders, shared, tries):
    """Per reference its anchor (itself when none): in each run of equal hashes, an unplaced
    reference joins the first of the run's first ``tries`` anchors whose sketch shares
    ``shared`` values with its own; one that joins none becomes an anchor for the rest of
    the run (and for later runs once another joins it)."""
    count = len(sketches)
    anchors = np.arange(count).astype(np.int64)
    status = np.zeros(count, np.int8)  # 0 unplaced, 1 anchor of others, 2 member
    candidates = np.empty(max(tries, 1), np.int64)
    start = 0
    while start < len(hashes):
        end = start + 1
        while end < len(hashes) and hashes[end] == hashes[start]:
            end += 1
        if end - start >= 2:
            found = 0
            for slot in range(start, end):
                if status[holders[slot]] == 1 and found < tries:
                    candidates[found] = holders[slot]
                    found += 1
            for slot in range(start, end):
                reference = holders[slot]
                if status[reference] != 0:
                    continue
                joined = False
                for choice in range(found):
                    anchor = candidates[choice]
                    if anchor != reference and (
                        _common(sketches[reference], sketches[anchor]) >= shared
                    ):
                        anchors[reference] = anchor
                        status[reference] = 2
                        status[anchor] = 1
                        joined = True
                        break
                if not joined and found < tries:
                    candidates[found] = reference
                    found += 1
        start = end
    return anchors


@njit(nogil=True, cache=True)
def _consensus(codes, offsets, heads, order, family_offsets, event_offsets, positions, values):
    """Each family's consensus: per letter of its anchor (``heads[f]``), the letter or
    deletion most of the family's references (``order[family_offsets[f]:...]``, events
    against the anchor) hold, the anchor's letter on ties; and where more than half of them
    hold letters the anchor lacks, the first such run (at most the anchor's length of
    such letters per family)."""
    families = len(heads)
    longest = 0
    total = 0
    for family in range(families):
        length = offsets[heads[family] + 1] - offsets[heads[family]]
        longest = max(longest, length)
        total += length
    votes = np.zeros((longest, 17), np.int32)
    # Per place before an anchor letter (or after the last): members holding letters there
    # that the anchor lacks, and the first such run (its member, start and length).
    inserted = np.zeros(longest + 1, np.int32)
    sources = np.zeros((longest + 1, 3), np.int64)
    consensus_codes = np.empty(2 * total, np.uint8)
    consensus_offsets = np.zeros(families + 1, np.int64)
    written = 0
    for family in range(families):
        head = heads[family]
        anchor = codes[offsets[head] : offsets[head + 1]]
        votes[: len(anchor)] = 0
        inserted[: len(anchor) + 1] = 0
        voters = family_offsets[family + 1] - family_offsets[family]
        for slot in range(family_offsets[family], family_offsets[family + 1]):
            reference = order[slot]
            member = codes[offsets[reference] : offsets[reference + 1]]
            p = 0
            j = 0
            for event in range(event_offsets[reference], event_offsets[reference + 1]):
                place = positions[event]
                while p < place:
                    votes[j, member[p]] += 1
                    p += 1
                    j += 1
                kind = values[event] & 3
                length = values[event] >> 2
                if kind == 0:
                    votes[j, member[p]] += 1
                    p += 1
                    j += 1
                elif kind == 1:
                    if inserted[j] == 0:
                        sources[j, 0] = offsets[reference] + p
                        sources[j, 1] = length
                    inserted[j] += 1
                    p += length
                else:
                    for step in range(length):
                        votes[j + step, 16] += 1
                    j += length
            while p < len(member):
                votes[j, member[p]] += 1
                p += 1
                j += 1
        added = 0
        for j in range(len(anchor) + 1):
            if 2 * inserted[j] > voters and added + sources[j, 1] <= len(anchor):
                for step in range(sources[j, 1]):
                    consensus_codes[written] = codes[sources[j, 0] + step]
                    written += 1
                added += sources[j, 1]
            if j == len(anchor):
                break
            chosen = anchor[j]
            top = votes[j, chosen]
            for option in range(17):
                if votes[j, option] > top:
                    top = votes[j, option]
                    chosen = option
            if chosen != 16:
                consensus_codes[written] = chosen
                written += 1
        consensus_offsets[family + 1] = written
    return consensus_codes[:written].copy(), consensus_offsets


@njit(nogil=True, cache=True)
def _nearest(sketches, consensus_sketches, hashes, holders, shared, tries, most):
    """Per reference the ``most`` families whose consensus sketches share most of its values
    (at least ``shared``; the first ``tries`` families per hash compared), most first; -1
    where fewer."""
    count = len(sketches)
    candidates = np.full((count, most), -1, np.int64)
    overlaps = np.zeros(most, np.int64)
    for reference in range(count):
        overlaps[:] = shared - 1
        for slot in range(sketches.shape[1]):
            value = sketches[reference, slot]
            if value == np.uint64(0xFFFFFFFFFFFFFFFF):
                break
            at = np.searchsorted(hashes, value)
            end = at
            while end < len(hashes) and hashes[end] == value and end - at < tries:
                end += 1
            for choice in range(at, end):
                family = holders[choice]
                seen = False
                for rank in range(most):
                    if candidates[reference, rank] == family:
                        seen = True
                if seen:
                    continue
                common = _common(sketches[reference], consensus_sketches[family])
                rank = most
                while rank > 0 and common > overlaps[rank - 1]:
                    rank -= 1
                if rank < most:
                    for move in range(most - 1, rank, -1):
                        candidates[reference, move] = candidates[reference, move - 1]
                        overlaps[move] = overlaps[move - 1]
                    candidates[reference, rank] = family
                    overlaps[rank] = common
    return candidates


@njit(nogil=True, cache=True)
def _closest(codes, offsets, candidates, share, most, buffer, first, last, family_of, distances):
    """For references ``first`` to ``last`` (of the first ``len(candidates)`` sequences): the
    first candidate family (sequence ``len(candidates) + family``) within the edit
    distance, and that distance, into ``family_of`` and ``distances`` (-1 and 0 where none
    is)."""
    count = len(candidates)
    for reference in range(first, last):
        family_of[reference] = -1
        distances[reference] = 0
        member = codes[offsets[reference] : offsets[reference + 1]]
        for rank in range(candidates.shape[1]):
            family = candidates[reference, rank]
            if family < 0:
                break
            target = codes[offsets[count + family] : offsets[count + family + 1]]
            limit = min(most, int(max(len(member), len(target)) * share))
            distance = _edit_distance(member, target, limit, buffer, 2 * share)
            if distance >= 0:
                family_of[reference] = family
                distances[reference] = distance
                break


@njit(nogil=True, cache=True)
def _distances(codes, offsets, targets, share, most, buffer, first, last, distances):
    """Edit distance of sequences ``first`` to ``last`` to sequence ``targets[i]`` (0 for
    itself) into ``distances``: -1 above ``share`` of the longer length or ``most``."""
    for sequence in range(first, last):
        target = targets[sequence]
        distances[sequence] = 0
        if target == sequence:
            continue
        member = codes[offsets[sequence] : offsets[sequence + 1]]
        other = codes[offsets[target] : offsets[target + 1]]
        limit = min(most, int(max(len(member), len(other)) * share))
        distances[sequence] = _edit_distance(member, other, limit, buffer, 2 * share)


@njit(nogil=True, cache=True)
def _edit_distance(member, representative, limit, buffer, rate=2.0):
    """Unit edit distance of the two code arrays by diagonal transitions, or -1 above
    ``limit`` or, when ``rate`` is positive, once the edits so far exceed 8 plus ``rate``
    times the member letters passed (diverging sequences give up early: families only
    affect speed). ``buffer`` holds wavefront ``d`` at ``d * (2 * limit + 3)``: on diagonal
    ``k = x - y`` (``x`` in the member, ``y`` in the representative), the furthest ``x``
    reached with ``d`` edits (entry ``k + limit + 1``)."""
    n = len(member)
    m = len(representative)
    width = 2 * limit + 3
    target = n - m
    if abs(target) > limit:
        return -1
    low = -(1 << 30)
    x = 0
    while x < n and x < m and member[x] == representative[x]:
        x += 1
    for slot in range(max(limit - 1, 0), min(limit + 4, width)):
        buffer[slot] = low
    buffer[limit + 1] = x
    if target == 0 and x == n:
        return 0
    furthest = x
    for distance in range(1, limit + 1):
        if rate > 0 and distance > 8 + rate * furthest:
            return -1
        previous = (distance - 1) * width
        current = distance * width
        # (this level's diagonals, and two more each side that the next level reads)
        for slot in range(max(limit - distance - 1, 0), min(limit + distance + 4, width)):
            buffer[current + slot] = low
        for diagonal in range(-distance, distance + 1):
            slot = diagonal + limit + 1
            x = _reach(buffer, previous + slot, diagonal, n, m)
            if x < 0 or x - diagonal < 0:
                continue
            while x < n and x - diagonal < m and member[x] == representative[x - diagonal]:
                x += 1
            buffer[current + slot] = x
            furthest = max(furthest, x)
        if abs(target) <= distance and buffer[current + target + limit + 1] == n:
            return distance
    return -1


@njit(nogil=True, cache=True)
def _reach(buffer, slot, diagonal, n, m):
    """The furthest member position on ``diagonal`` with one edit more than the wavefront at
    ``slot`` (its diagonal's entry): staying, a substitution, a member-only letter (from the
    diagonal below) or a representative-only letter (from the one above), inside both
    sequences; negative when none."""
    stay = buffer[slot]
    x = stay
    substituted = buffer[slot] + 1
    if substituted <= n and substituted - diagonal <= m and substituted > x:
        x = substituted
    deleted = buffer[slot - 1] + 1
    if deleted <= n and deleted > x:
        x = deleted
    inserted = buffer[slot + 1]
    if inserted - diagonal <= m and inserted > x:
        x = inserted
    return x


@njit(nogil=True, cache=True)
def _fill_events(
    codes, offsets, targets, distances, room, positions, values, buffer, first, last, used
):  # fmt: skip
    """The events of sequences ``first`` to ``last`` against sequence ``targets[i]`` (at most
    its distance of them, from ``room[i]``), by position; their counts into ``used``."""
    for reference in range(first, last):
        used[reference] = 0
        distance = distances[reference]
        if targets[reference] == reference or distance == 0:
            continue
        anchor = targets[reference]
        member = codes[offsets[reference] : offsets[reference + 1]]
        anchor_codes = codes[offsets[anchor] : offsets[anchor + 1]]
        _edit_distance(member, anchor_codes, distance, buffer, 0.0)
        used[reference] = _trace(
            member, anchor_codes, distance, buffer, positions, values, room[reference]
        )


@njit(nogil=True, cache=True)
def _trace(member, representative, distance, buffer, positions, values, at):
    """Walk the wavefronts of :func:`_edit_distance` back from the end and write the events
    (runs merged) from ``at``, by position; their count."""
    limit = distance
    width = 2 * limit + 3
    diagonal = len(member) - len(representative)
    written = 0
    # Backwards, one edit at a time: (kind, member position, member code, representative code)
    kinds = np.empty(distance, np.int64)
    places = np.empty(distance, np.int64)
    letters = np.empty(distance, np.int64)
    others = np.empty(distance, np.int64)
    steps = 0
    for level in range(distance, 0, -1):
        previous = (level - 1) * width
        slot = diagonal + limit + 1
        stay = buffer[previous + slot]
        start = _reach(buffer, previous + slot, diagonal, len(member), len(representative))
        if stay == start:
            continue  # reached with one edit fewer
        if buffer[previous + slot] + 1 == start:
            kinds[steps] = 0
            places[steps] = start - 1
            letters[steps] = member[start - 1]
            others[steps] = representative[start - 1 - diagonal]
        elif buffer[previous + slot - 1] + 1 == start:
            kinds[steps] = 1
            places[steps] = start - 1
            diagonal -= 1
        else:
            kinds[steps] = 2
            places[steps] = start
            diagonal += 1
        steps += 1
    # Forwards, merging runs: member-only letters at consecutive positions, and
    # representative-only letters at one position.
    step = steps - 1
    while step >= 0:
        kind = kinds[step]
        place = places[step]
        if kind == 0:
            positions[at + written] = place
            values[at + written] = (letters[step] << 2) | (others[step] << 6)
            step -= 1
        else:
            length = 1
            while (
                step - length >= 0
                and kinds[step - length] == kind
                and places[step - length] == place + (length if kind == 1 else 0)
            ):
                length += 1
            positions[at + written] = place
            values[at + written] = kind | (length << 2)
            step -= length
        written += 1
    return written
