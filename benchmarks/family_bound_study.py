"""How much a read-aware family bound would settle that the search's bound does not (a study).

The exact search bounds a family member ``M`` from its consensus ``C``: ``opt(Q, M) <=
opt(Q, C) + T``, ``T`` the worth of ``M``'s events in the worst stretch an alignment can span,
a substitution worth ``max_q S[q, x] - S[q, y]`` whatever the read (``search/bounds.py``, *A
relative's alignment*). For reads close to no gene that leaves most members of the families
near the best to be aligned one by one. This script measures a tighter bound, not in the
search yet, on real reads against an index file:

Let ``A`` be an alignment of ``Q`` against ``M`` scoring at least the best ``B``, and ``A'``
its image against ``C`` (the same proof): ``score(A') >= B - T``. A substitution at
consensus column ``p`` that ``A`` aligns with read letter ``i`` puts the column ``(i, p)``
in ``A'``, so ``through(i, p) >= B - T``, where ``through(i, p)`` is the best score of an
alignment of ``Q`` against ``C`` (reference ends free) holding that column: the forward
Gotoh value ending in it plus the backward one after it. So the substitution is worth at
most ``max(0, max S[q_i, x] - S[q_i, y])`` over the *viable* letters ``i`` of column ``p``,
and usually 0: the read's letter there is the consensus's. Runs keep their price. The bound
with these worths is again a ``T``, so the step repeats (``--iterations``).

For each read: its best score ``B`` (every reference aligned, forward strand), the family
members whose exact score reaches ``B`` (those no bound may settle), the members the
costliest-stretch bound leaves unsettled, those the read-aware bound leaves, and those the
search's position-aware bound (*by where it ends*: end maxima per ``--block`` consensus
columns) leaves; the script fails if either of the last two falls below the exact score of a
member that reaches ``B``. The
forward and backward passes here are plain scalar loops (a study of the bound, not of its
cost: a kernel for the search would compute them a consensus per SIMD lane).

    python benchmarks/family_bound_study.py references.idx reads.fastq [--reads 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
from numba import njit

_MINUS_INFINITY = -(10**9)


@njit  # (no cache=True: the tests load this file by path, and reloading its cache failed)
def forward(query, reference, matrix, gap_open, gap_extend):  # type: ignore[no-untyped-def]
    """Gotoh with the reference's ends free: per cell the best score of a query prefix
    ending there (``scores``) and ending in a substitution column there (``diagonals``)."""
    rows, columns = len(query), len(reference)
    diagonals = np.full((rows + 1, columns + 1), _MINUS_INFINITY, np.int64)
    scores = np.zeros((rows + 1, columns + 1), np.int64)  # (row 0: the reference start free)
    insertions = np.full(columns + 1, _MINUS_INFINITY, np.int64)  # query letters in a gap
    for i in range(1, rows + 1):
        scores[i, 0] = -(gap_open + (i - 1) * gap_extend)
        deletion = _MINUS_INFINITY  # reference letters in a gap, along the row
        for j in range(1, columns + 1):
            diagonals[i, j] = scores[i - 1, j - 1] + matrix[query[i - 1], reference[j - 1]]
            deletion = max(scores[i, j - 1] - gap_open, deletion - gap_extend)
            insertions[j] = max(scores[i - 1, j] - gap_open, insertions[j] - gap_extend)
            scores[i, j] = max(diagonals[i, j], deletion, insertions[j])
    return diagonals, scores


def through(query: np.ndarray, reference: np.ndarray, scoring: Any) -> tuple[np.ndarray, int]:
    """``through[i, j]``: the best score of an alignment holding the column (query letter
    ``i``, reference letter ``j``), 1-based; and the optimal score."""
    matrix = scoring.integer_matrix.astype(np.int64)
    gap_open, gap_extend = int(scoring.integer_gap_open), int(scoring.integer_gap_extend)
    diagonals, scores = forward(query, reference, matrix, gap_open, gap_extend)
    _, backward = forward(query[::-1].copy(), reference[::-1].copy(), matrix, gap_open, gap_extend)
    return diagonals + backward[::-1, ::-1], int(scores[-1].max())


@njit  # (no cache=True: the tests load this file by path, and reloading its cache failed)
def viable_worths(query, through, threshold, columns, members, consensus, matrix):  # type: ignore[no-untyped-def]
    """Per substitution (consensus column, member letter, consensus letter): the most its
    letter can gain over the consensus's for a read letter whose column can reach
    ``threshold`` (0 when none can)."""
    worths = np.zeros(len(columns), np.int64)
    for k in range(len(columns)):
        column = columns[k] + 1
        for i in range(1, len(query) + 1):
            if through[i, column] >= threshold:
                gain = matrix[query[i - 1], members[k]] - matrix[query[i - 1], consensus[k]]
                worths[k] = max(worths[k], gain)
    return worths


def consensus_columns(positions: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each event's column in the consensus (events in member coordinates, in order: a
    member-only run shifts the later ones back, a consensus-only run forward)."""
    kinds, lengths = values & 3, values >> 2
    shifts = np.where(kinds == 1, -lengths, np.where(kinds == 2, lengths, 0))
    return positions + np.concatenate([[0], np.cumsum(shifts)[:-1]]).astype(np.int64)


def study(
    index_path: str, reads_path: str, read_count: int, iterations: int, block: int = 32
) -> int:
    import dnaio

    from streamalign import Aligner
    from streamalign.alphabet import encode_string
    from streamalign.kernels import multireference
    from streamalign.references import ReferenceSequences
    from streamalign.search.families import ended_bounds, transfer_windows, window_costs
    from streamalign.search.indexfile import load_index

    index = load_index(index_path, check_source=False)
    aligner = Aligner(
        ReferenceSequences.from_index(index),
        "semiglobal",
        reference_names=list(index.names),
        index=index,
    )
    search = aligner.database_search()
    families = index.families
    scoring = aligner.scoring
    matrix = scoring.integer_matrix.astype(np.int64)
    gap_open, gap_extend = int(scoring.integer_gap_open), int(scoring.integer_gap_extend)
    members = np.flatnonzero(families.family_of >= 0)
    family_of = families.family_of[members].astype(np.int64)
    offsets = np.asarray(families.event_offsets)
    positions = np.asarray(families.event_positions).astype(np.int64)
    values = np.asarray(families.event_values).astype(np.int64)
    consensus_codes = np.asarray(families.consensus_codes)
    consensus_offsets = np.asarray(families.consensus_offsets).astype(np.int64)

    def scores_against(query: np.ndarray, codes: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        count = len(bounds) - 1
        return multireference.score_pairs(
            query,
            np.array([0, len(query)], np.int64),
            np.zeros(count, np.int64),
            codes,
            bounds[:-1],
            np.diff(bounds),
            scoring.integer_matrix,
            gap_open,
            gap_extend,
            aligner.flags,
        )

    def bounds_of(
        rows: np.ndarray, consensus: np.ndarray, windows: np.ndarray, prices: np.ndarray
    ) -> np.ndarray:
        """The family bounds of members ``rows`` with these event prices."""
        return np.asarray(consensus[family_of[rows]]) + window_costs(
            members[rows],
            windows[rows],
            families.event_offsets,
            families.event_positions,
            prices,
            search.event_longest,
        )

    print(
        "best  members  reach_best  unsettled_now  unsettled_read_aware  families  seconds  "
        "unsettled_by_end"
    )
    with dnaio.open(reads_path) as records:
        for number, record in enumerate(records):
            if number == read_count:
                break
            started = time.perf_counter()
            query = encode_string(record.sequence)
            exact = scores_against(
                query,
                np.asarray(index.reference_codes),
                np.asarray(index.reference_offsets).astype(np.int64),
            )
            best = int(exact.max())
            consensus = scores_against(query, consensus_codes, consensus_offsets)
            windows = transfer_windows(
                np.full(len(members), len(query)),
                np.full(len(members), best),
                search.top_score,
                gap_open,
                gap_extend,
            )

            everyone = np.arange(len(members))
            now = bounds_of(everyone, consensus, windows, search.event_prices)
            aware = now.copy()
            prices = search.event_prices.copy()
            unsettled = np.flatnonzero(now >= best)
            touched = np.unique(family_of[unsettled])
            for family in touched.tolist():
                rows = unsettled[family_of[unsettled] == family]
                sequence = consensus_codes[
                    consensus_offsets[family] : consensus_offsets[family + 1]
                ]
                passes, optimum = through(query, sequence, scoring)
                assert optimum == consensus[family], "the scalar pass disagrees with the kernel"
                for row in rows.tolist():
                    member = members[row]
                    first, last = offsets[member], offsets[member + 1]
                    columns = consensus_columns(positions[first:last], values[first:last])
                    substitutions = np.flatnonzero((values[first:last] & 3) == 0)
                    letters = values[first:last][substitutions]
                    bound = now[row]
                    for _ in range(iterations):
                        prices[first + substitutions] = viable_worths(
                            query,
                            passes,
                            best - (bound - consensus[family]),
                            columns[substitutions],
                            (letters >> 2) & 15,
                            (letters >> 6) & 15,
                            matrix,
                        )
                        bound = int(bounds_of(np.array([row]), consensus, windows, prices)[0])
                    aware[row] = bound
            # The search's position-aware bound (bounds.py, *by where it ends*): the
            # consensus alignments' end maxima per block, the members' events near each.
            width = int(np.diff(consensus_offsets).max()) // block + 1
            ends = np.full((families.family_count, width), -(2**62), np.int64)
            multireference.score_pairs(
                query, np.array([0, len(query)], np.int64),
                np.zeros(families.family_count, np.int64), consensus_codes,
                consensus_offsets[:-1], np.diff(consensus_offsets), scoring.integer_matrix,
                gap_open, gap_extend, aligner.flags, block, ends,
            )  # fmt: skip
            by_end = now.copy()
            by_end[unsettled] = np.minimum(
                now[unsettled],
                ended_bounds(
                    members[unsettled], family_of[unsettled],
                    np.zeros(families.family_count, np.int64),
                    np.full(families.family_count, -(2**62), np.int64),
                    np.arange(families.family_count + 1, dtype=np.int64) * width, ends.ravel(),
                    block, windows[unsettled], families.event_offsets, families.event_positions,
                    search.event_prices, search.event_longest, search.event_shifts,
                    search.event_totals, np.full(len(unsettled), 2**62, np.int64),
                    np.full(len(unsettled), 2**62, np.int64),
                )[0],
            )  # fmt: skip
            reach = exact[members] >= best
            if np.any(aware[reach] < exact[members][reach]):
                print("a read-aware bound fell below an exact score that reaches the best")
                return 1
            if np.any(by_end[reach] < exact[members][reach]):
                print("a position-aware bound fell below an exact score that reaches the best")
                return 1
            print(
                f"{best:4d}  {len(members):7d}  {int(reach.sum()):10d}  "
                f"{len(unsettled):13d}  {int((aware >= best).sum()):20d}  "
                f"{len(touched):8d}  {time.perf_counter() - started:7.1f}  "
                f"{int((by_end >= best).sum()):15d}"
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("index", help="an index file of `streamalign index` (with families)")
    parser.add_argument("reads", help="FASTA/FASTQ reads (the first --reads of them)")
    parser.add_argument("--reads", dest="read_count", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument(
        "--block", type=int, default=32, help="columns per end block (the search's: 32)"
    )
    arguments = parser.parse_args(argv)
    return study(
        arguments.index, arguments.reads, arguments.read_count, arguments.iterations,
        arguments.block,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
