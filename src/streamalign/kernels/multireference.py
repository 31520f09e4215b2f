"""Score-only kernel of one query against a different reference in each SIMD lane (numba).

The database search (:mod:`streamalign.search.searcher`) aligns one read against many
references. :mod:`~streamalign.kernels.differences` puts queries in its lanes and shares one
reference across them; a read against many genes then has to swap the roles (the genes as
lanes, the read as the reference), which makes the column state as long as a gene: 1,500
rows of 64 lanes, out of the L1 cache. Here the lanes hold the references instead: the query
runs down the rows, the same in every lane, and each lane walks its own reference along the
columns. The column state is as long as the read (250 rows of 64 lanes: 16 KB per array), and
the substitution score of a cell is one vector load from a small per-column table (the
column's score against each letter of the query, per lane).

The recurrence is :mod:`~streamalign.kernels.differences`' (Gotoh on ``int8`` differences;
its :func:`~streamalign.kernels.differences.fits` says for which scorings), so every score is
exactly the one :mod:`~streamalign.kernels.gotoh` computes for the pair, in every mode but
local. Lanes whose reference ends before the group's longest one run on over padding
columns, which nothing reads: the last row counts only columns up to a lane's own length,
and a fixed reference end (or a free query end) takes the lane's own last column, summed
down when the fill passes it (a column where some lane ends is filled alone, not in a pair).

Example:
    >>> from streamalign.alphabet import encode_string
    >>> from streamalign.kernels.inputs import EndFlags
    >>> references = encode_string("GATTACA" + "TTGATCACAGG")
    >>> score_against(
    ...     encode_string("GATCACA"), references, np.array([0, 7]), np.array([7, 11]),
    ...     np.eye(16, dtype=np.int8) * 3 - 2, 5, 2,
    ...     EndFlags.REFERENCE_START_FREE | EndFlags.REFERENCE_END_FREE,
    ... ).tolist()
    [4, 7]
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .differences import _cell, first_column, fits
from .gotoh import _narrow
from .inputs import EndFlags

_QUERY_START_FREE = int(EndFlags.QUERY_START_FREE)
_QUERY_END_FREE = int(EndFlags.QUERY_END_FREE)
_REFERENCE_START_FREE = int(EndFlags.REFERENCE_START_FREE)
_REFERENCE_END_FREE = int(EndFlags.REFERENCE_END_FREE)
#: Lanes of one pass at most: eight AVX-512 registers of ``int8`` per row, independent of
#: each other, which the core overlaps (one register alone waits on its own dependency chain
#: down the rows: ``python benchmarks/multireference.py``).
PASS_LANES = 512
#: Passes are padded to a multiple of this many lanes (one AVX-512 register of ``int8``).
REGISTER_LANES = 64
#: Below every score (the end maxima's running start).
_LOWEST = -(2**62)
#: Positions per tile when the sequences are transposed into lanes (:func:`_align_pass`).
_TILE = 64


def score_against(
    query_codes: np.ndarray,
    reference_codes: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    substitution: np.ndarray,
    gap_open: int,
    gap_extend: int,
    ends: EndFlags,
) -> np.ndarray:
    """Optimal scores (``int64``) of ``query_codes`` against each reference
    ``reference_codes[starts[i] : starts[i] + lengths[i]]``, with ``ends`` as the aligner's
    (the query is the aligner's query). See the module for an example, and
    :func:`score_pairs` for many queries."""
    query_offsets = np.array([0, len(query_codes)], dtype=np.int64)
    return score_pairs(
        query_codes,
        query_offsets,
        np.zeros(len(starts), dtype=np.int64),
        reference_codes,
        starts,
        lengths,
        substitution,
        gap_open,
        gap_extend,
        ends,
    )


def score_pairs(
    query_codes: np.ndarray,
    query_offsets: np.ndarray,
    queries: np.ndarray,
    reference_codes: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    substitution: np.ndarray,
    gap_open: int,
    gap_extend: int,
    ends: EndFlags,
    block: int = 0,
    end_maxima: np.ndarray | None = None,
) -> np.ndarray:
    """Optimal scores (``int64``) of each pair ``i``: query ``queries[i]`` (``query_codes
    [query_offsets[q] : query_offsets[q + 1]]``) against the reference
    ``reference_codes[starts[i] : starts[i] + lengths[i]]``. The scoring must pass
    :func:`~streamalign.kernels.differences.fits` (``substitution`` is taken as ``int8``).

    With ``block > 0`` (the reference's end free only), ``end_maxima`` (``int64``, one row per
    pair, at least ``lengths.max() // block + 1`` columns, filled by the caller with a value
    below every score) receives per pair and per ``block`` reference columns the best score
    of an alignment with the query in full ending there: entry ``[i, b]`` is the largest
    last-row value over reference columns ``b * block`` to ``(b + 1) * block - 1`` (column 0:
    no reference letter used) that pair ``i``'s reference has.

    Example:
        >>> from streamalign.alphabet import encode_string
        >>> score_pairs(
        ...     encode_string("GATCACAACGT"), np.array([0, 7, 11]), np.array([0, 1, 1]),
        ...     encode_string("GATTACAACGA"), np.array([0, 7, 0]), np.array([7, 4, 4]),
        ...     np.eye(16, dtype=np.int8) * 3 - 2, 5, 2, EndFlags.NONE,
        ... ).tolist()
        [4, 1, -5]
    """
    if not fits(substitution, gap_open, gap_extend, ends):
        raise ValueError("these scores or ends do not fit the difference kernel")
    query_offsets = np.asarray(query_offsets, dtype=np.int64)
    queries = np.asarray(queries, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    if not (queries.ndim == starts.ndim == lengths.ndim == 1) or not (
        len(queries) == len(starts) == len(lengths)
    ):
        raise ValueError("queries, starts and lengths must be one-dimensional and of one length")
    if len(query_offsets) < 1 or int(query_offsets[-1]) > len(query_codes):
        raise ValueError("query_offsets lie outside query_codes")
    if len(queries) and (int(queries.min()) < 0 or int(queries.max()) >= len(query_offsets) - 1):
        raise ValueError("a query number lies outside query_offsets")
    if len(starts) and (
        int(starts.min()) < 0
        or int(lengths.min()) < 0
        or int((starts + lengths).max()) > len(reference_codes)
    ):
        raise ValueError("a reference lies outside reference_codes")
    if block > 0:
        if not ends & EndFlags.REFERENCE_END_FREE:
            raise ValueError("end maxima need the reference's end free")
        needed = int(lengths.max()) // block + 1 if len(lengths) else 0
        if (
            end_maxima is None
            or end_maxima.dtype != np.int64
            or end_maxima.ndim != 2
            or end_maxima.shape[0] != len(queries)
            or end_maxima.shape[1] < needed
        ):
            raise ValueError(f"end_maxima must be int64 of {len(queries)} rows, {needed} columns")
    else:
        block = 0
        end_maxima = np.zeros((0, 0), dtype=np.int64)
    scores = np.empty(len(queries), dtype=np.int64)
    align_pairs(
        np.ascontiguousarray(query_codes, dtype=np.uint8),
        query_offsets,
        queries,
        np.ascontiguousarray(reference_codes, dtype=np.uint8),
        starts,
        lengths,
        np.ascontiguousarray(substitution[:16, :16], dtype=np.int8),
        np.int8(gap_open),
        np.int8(gap_extend),
        int(ends),
        PASS_LANES,
        scores,
        block,
        end_maxima,
    )
    return scores


@njit(nogil=True, cache=True)
def align_pairs(
    query_codes,
    query_offsets,
    queries,
    reference_codes,
    starts,
    lengths,
    substitution,
    gap_open,
    gap_extend,
    flags,
    pass_lanes,
    scores,
    block,
    end_maxima,
):
    """The kernel behind :func:`score_pairs` (arguments validated there): the pairs by
    reference length, in passes of up to ``pass_lanes`` lanes (a multiple of
    ``REGISTER_LANES``)."""
    count = queries.shape[0]
    order = np.argsort(lengths, kind="mergesort")
    for first in range(0, count, pass_lanes):
        _align_pass(
            query_codes,
            query_offsets,
            queries,
            reference_codes,
            starts,
            lengths,
            order[first : first + pass_lanes],
            substitution,
            gap_open,
            gap_extend,
            flags,
            scores,
            block,
            end_maxima,
        )


@njit(nogil=True, cache=True)
def _align_pass(
    query_codes,
    query_offsets,
    queries,
    reference_codes,
    starts,
    lengths,
    chosen,
    substitution,
    gap_open,
    gap_extend,
    flags,
    scores,
    block,
    end_maxima,
):
    """One pass: the pairs ``chosen``, one per lane (padding lanes: empty pairs, not
    written out); the end maxima too where ``block > 0``."""
    members = chosen.shape[0]
    lanes = (members + REGISTER_LANES - 1) // REGISTER_LANES * REGISTER_LANES
    zero = _narrow(gap_open - gap_open, gap_open)
    open_64 = np.int64(gap_open)
    extend_64 = np.int64(gap_extend)
    query_start_free = (flags & _QUERY_START_FREE) != 0
    query_end_free = (flags & _QUERY_END_FREE) != 0
    reference_start_free = (flags & _REFERENCE_START_FREE) != 0
    reference_end_free = (flags & _REFERENCE_END_FREE) != 0
    down = (not reference_end_free) or query_end_free
    sentinel = _narrow(gap_extend - gap_open - 1, zero)
    lane_rows = np.zeros(lanes, np.int64)
    lane_columns = np.zeros(lanes, np.int64)
    rows = 0
    columns = 0
    for lane in range(members):
        pair = chosen[lane]
        query = queries[pair]
        lane_rows[lane] = query_offsets[query + 1] - query_offsets[query]
        lane_columns[lane] = lengths[pair]
        rows = max(rows, lane_rows[lane])
        columns = max(columns, lane_columns[lane])
    # Both sequences transposed, [position][lane]; past a sequence's end and in padding
    # lanes: code 0 (nothing reads those cells).
    query_rows = np.zeros(max(rows, 1) * lanes, np.uint8)
    transposed = np.zeros(max(columns, 1) * lanes, np.uint8)
    # In tiles of _TILE positions, lanes inside: a lane's letters are read in order and each
    # tile's rows of the transposed array stay in the cache while every lane writes to them
    # (a lane at a time over all its positions costs three times as much: a cache line
    # written per letter).
    for first in range(0, max(rows, columns), _TILE):
        for lane in range(members):
            pair = chosen[lane]
            start = query_offsets[queries[pair]]
            for row in range(first, min(first + _TILE, lane_rows[lane])):
                query_rows[row * lanes + lane] = query_codes[start + row] & 15
            start = starts[pair]
            for column in range(first, min(first + _TILE, lane_columns[lane])):
                transposed[column * lanes + lane] = reference_codes[start + column] & 15
    # One match and one mismatch score among A, C, G and T, and one score for every pair
    # with another letter (the default scoring's 0): cells compare codes.
    match_score = substitution[0, 0]
    mismatch_score = substitution[0, 1]
    other_score = substitution[4, 4]
    uniform = True
    for first in range(16):
        for second in range(16):
            if first >= 4 or second >= 4:
                expected = other_score
            elif first == second:
                expected = match_score
            else:
                expected = mismatch_score
            if substitution[first, second] != expected:
                uniform = False
    # Otherwise: the query letters present (code 0 always: padding), and per column their
    # scores against each lane's reference letter.
    present = np.zeros(16, np.bool_)
    present[0] = True
    if not uniform:
        for position in range(rows * lanes):
            present[query_rows[position]] = True
    letters = np.flatnonzero(present).astype(np.uint8)
    table = np.empty(letters.shape[0] * lanes, np.int8)
    table2 = np.empty(letters.shape[0] * lanes, np.int8)
    row_scores = np.empty(lanes, np.int8)
    row_scores2 = np.empty(lanes, np.int8)
    # Columns where some lane's reference ends (filled alone, then summed down if needed),
    # rows where some lane's query ends (its last-row v kept there).
    ends_at = np.zeros(columns + 2, np.bool_)
    rows_end = np.zeros(rows + 1, np.bool_)
    for lane in range(members):
        ends_at[lane_columns[lane]] = True
        rows_end[lane_rows[lane]] = True
    size = max(rows, 1) * lanes
    column_u = np.empty(size, np.int8)
    column_x = np.empty(size, np.int8)
    above_v = np.empty(lanes, np.int8)
    above_y = np.empty(lanes, np.int8)
    above_v2 = np.empty(lanes, np.int8)
    above_y2 = np.empty(lanes, np.int8)
    last_v = np.empty(lanes, np.int8)
    last_v2 = np.empty(lanes, np.int8)
    # Columns three and four of a four-column fill (compared scores only).
    above_v3 = np.empty(lanes, np.int8)
    above_y3 = np.empty(lanes, np.int8)
    above_v4 = np.empty(lanes, np.int8)
    above_y4 = np.empty(lanes, np.int8)
    last_v3 = np.empty(lanes, np.int8)
    last_v4 = np.empty(lanes, np.int8)
    first_column(column_u, column_x, rows, lanes, query_start_free, gap_open, gap_extend, zero)
    # Per lane: H of its query's last row at the current column, and the best score so far.
    last_h = np.empty(lanes, np.int64)
    best = np.empty(lanes, np.int64)
    for lane in range(lanes):
        if query_start_free or lane_rows[lane] == 0:
            last_h[lane] = 0
        else:
            last_h[lane] = -(open_64 + (lane_rows[lane] - 1) * extend_64)
        best[lane] = last_h[lane]
    # End maxima: per lane the running maximum of the current block of columns.
    running = np.full(lanes, _LOWEST, np.int64)
    if block > 0:
        for lane in range(members):
            running[lane] = last_h[lane]
            if block == 1 or columns == 0:
                # (column 0 ends its block)
                end_maxima[chosen[lane], 0] = last_h[lane]
                running[lane] = _LOWEST
    ends = (block, running, chosen, columns, end_maxima)
    if down:
        # References of length 0: their last column is column 0.
        for lane in range(members):
            if lane_columns[lane] == 0:
                _down_lane(
                    column_u,
                    lanes,
                    lane,
                    lane_rows[lane],
                    np.int64(0),
                    reference_end_free,
                    query_end_free,
                    best,
                )
    column = 1
    while column <= columns:
        if (
            uniform
            and column + 3 <= columns
            and not (ends_at[column] or ends_at[column + 1] or ends_at[column + 2])
        ):
            # Four columns in one fill: the column state read and written once for four.
            if reference_start_free:
                top = zero
            else:
                top = _narrow(-gap_open if column == 1 else -gap_extend, zero)
            later = zero if reference_start_free else _narrow(-gap_extend, zero)
            for lane in range(lanes):
                above_y[lane] = sentinel
                above_y2[lane] = sentinel
                above_y3[lane] = sentinel
                above_y4[lane] = sentinel
                above_v[lane] = top
                above_v2[lane] = later
                above_v3[lane] = later
                above_v4[lane] = later
                last_v[lane] = top
                last_v2[lane] = later
                last_v3[lane] = later
                last_v4[lane] = later
            _fill_four(
                column_u,
                column_x,
                (above_v, above_v2, above_v3, above_v4),
                (above_y, above_y2, above_y3, above_y4),
                (last_v, last_v2, last_v3, last_v4),
                query_rows,
                (
                    transposed[(column - 1) * lanes : column * lanes],
                    transposed[column * lanes : (column + 1) * lanes],
                    transposed[(column + 1) * lanes : (column + 2) * lanes],
                    transposed[(column + 2) * lanes : (column + 3) * lanes],
                ),
                match_score,
                mismatch_score,
                other_score,
                lane_rows,
                rows_end,
                rows,
                lanes,
                gap_open,
                gap_extend,
                zero,
            )
            done = column + 3
            if reference_end_free:
                _last_row(last_h, best, last_v, column, lane_columns, lanes, ends)
                _last_row(
                    last_h,
                    best,
                    last_v2,
                    column + 1,
                    lane_columns,
                    lanes,
                    ends,
                )
                _last_row(
                    last_h,
                    best,
                    last_v3,
                    column + 2,
                    lane_columns,
                    lanes,
                    ends,
                )
                _last_row(last_h, best, last_v4, done, lane_columns, lanes, ends)
            if down and ends_at[done]:
                top_of_column = np.int64(0)
                if not reference_start_free:
                    top_of_column = -(open_64 + (done - 1) * extend_64)
                for lane in range(members):
                    if lane_columns[lane] == done:
                        _down_lane(
                            column_u,
                            lanes,
                            lane,
                            lane_rows[lane],
                            top_of_column,
                            reference_end_free,
                            query_end_free,
                            best,
                        )
            column = done + 1
            continue
        paired = column < columns and not ends_at[column]
        if reference_start_free:
            top = zero
            top2 = zero
        else:
            top = _narrow(-gap_open if column == 1 else -gap_extend, zero)
            top2 = _narrow(-gap_extend, zero)
        for lane in range(lanes):
            above_y[lane] = sentinel
            above_y2[lane] = sentinel
            above_v[lane] = top
            above_v2[lane] = top2
            # (An empty query's last row is row 0: the top edge.)
            last_v[lane] = top
            last_v2[lane] = top2
        codes = transposed[(column - 1) * lanes : column * lanes]
        codes2 = transposed[column * lanes : (column + 1) * lanes] if paired else codes
        if not uniform:
            _column_table(codes, letters, substitution, table)
            _column_table(codes2, letters, substitution, table2)
        _fill(
            column_u,
            column_x,
            above_v,
            above_y,
            above_v2,
            above_y2,
            last_v,
            last_v2,
            query_rows,
            codes,
            codes2,
            uniform,
            match_score,
            mismatch_score,
            other_score,
            letters,
            table,
            table2,
            row_scores,
            row_scores2,
            lane_rows,
            rows_end,
            rows,
            lanes,
            gap_open,
            gap_extend,
            zero,
            paired,
        )
        done = column + 1 if paired else column
        if reference_end_free:
            _last_row(last_h, best, last_v, column, lane_columns, lanes, ends)
            if paired:
                _last_row(last_h, best, last_v2, done, lane_columns, lanes, ends)
        if down and ends_at[done]:
            top_of_column = np.int64(0)
            if not reference_start_free:
                top_of_column = -(open_64 + (done - 1) * extend_64)
            for lane in range(members):
                if lane_columns[lane] == done:
                    _down_lane(
                        column_u,
                        lanes,
                        lane,
                        lane_rows[lane],
                        top_of_column,
                        reference_end_free,
                        query_end_free,
                        best,
                    )
        column = done + 1
    for lane in range(members):
        scores[chosen[lane]] = best[lane]


@njit(nogil=True, cache=True)
def _last_row(last_h, best, last_v, column, lane_columns, lanes, ends):
    """The last row's H at ``column`` (``last_h`` plus each lane's last-row ``v``), and its
    maximum over the columns a lane's reference has (reference end free); with end maxima
    (``ends``: block, running maxima, the pass's pairs, its last column, the maxima), the
    running block maxima too, written out at each block's last column."""
    for lane in range(lanes):
        last_h[lane] += np.int64(last_v[lane])
        if column <= lane_columns[lane] and last_h[lane] > best[lane]:
            best[lane] = last_h[lane]
    block, running, chosen, columns, end_maxima = ends
    if block > 0:
        for lane in range(lanes):
            if column <= lane_columns[lane] and last_h[lane] > running[lane]:
                running[lane] = last_h[lane]
        if column % block == block - 1 or column == columns:
            slot = column // block
            for lane in range(chosen.shape[0]):
                row = chosen[lane]
                if running[lane] > end_maxima[row, slot]:
                    end_maxima[row, slot] = running[lane]
                running[lane] = _LOWEST


@njit(nogil=True, cache=True)
def _fill_four(
    column_u,
    column_x,
    above_v,
    above_y,
    last_v,
    query_rows,
    codes,
    match,
    mismatch,
    other,
    lane_rows,
    rows_end,
    rows,
    lanes,
    gap_open,
    gap_extend,
    zero,
):
    """Four columns of every lane, down every row, as :func:`_fill`'s compare case does two:
    ``above_v``, ``above_y``, ``last_v`` and ``codes`` hold one array per column."""
    lanes_u = np.uint64(lanes)
    v1, v2, v3, v4 = above_v
    y1, y2, y3, y4 = above_y
    codes1, codes2, codes3, codes4 = codes
    for row in range(1, rows + 1):
        offset = np.uint64(row - 1) * lanes_u
        for lane_number in range(lanes):
            lane = np.uint64(lane_number)
            code = query_rows[offset + lane]
            u, new_v1, x, new_y1, _ = _cell(
                column_u[offset + lane],
                column_x[offset + lane],
                v1[lane],
                y1[lane],
                _compared(code, codes1[lane], match, mismatch, other),
                gap_open,
                gap_extend,
                zero,
            )
            u, new_v2, x, new_y2, _ = _cell(
                u,
                x,
                v2[lane],
                y2[lane],
                _compared(code, codes2[lane], match, mismatch, other),
                gap_open,
                gap_extend,
                zero,
            )
            u, new_v3, x, new_y3, _ = _cell(
                u,
                x,
                v3[lane],
                y3[lane],
                _compared(code, codes3[lane], match, mismatch, other),
                gap_open,
                gap_extend,
                zero,
            )
            u, new_v4, x, new_y4, _ = _cell(
                u,
                x,
                v4[lane],
                y4[lane],
                _compared(code, codes4[lane], match, mismatch, other),
                gap_open,
                gap_extend,
                zero,
            )
            v1[lane] = new_v1
            y1[lane] = new_y1
            v2[lane] = new_v2
            y2[lane] = new_y2
            v3[lane] = new_v3
            y3[lane] = new_y3
            v4[lane] = new_v4
            y4[lane] = new_y4
            column_u[offset + lane] = u
            column_x[offset + lane] = x
        if rows_end[row]:
            # The v of this row, where a lane's query ends here.
            for lane in range(lanes):
                if lane_rows[lane] == row:
                    last_v[0][lane] = v1[lane]
                    last_v[1][lane] = v2[lane]
                    last_v[2][lane] = v3[lane]
                    last_v[3][lane] = v4[lane]


@njit(nogil=True, cache=True)
def _down_lane(column_u, lanes, lane, rows, top, reference_end_free, query_end_free, best):
    """A lane whose reference ends at the column ``column_u`` holds: H down it from ``top``
    (row 0) to the query's last row ``rows``. A fixed reference end scores that last cell
    (or, query end free, the column's best); a free one also takes the column's best when
    the query end is free."""
    value = top
    column_best = top
    for row in range(1, rows + 1):
        value += np.int64(column_u[(row - 1) * lanes + lane])
        column_best = max(column_best, value)
    if not reference_end_free:
        best[lane] = column_best if query_end_free else value
    elif column_best > best[lane]:
        best[lane] = column_best


@njit(nogil=True, cache=True)
def _column_table(codes, letters, substitution, table):
    """``table[letter][lane]``: each present query letter's score against the lane's
    reference code ``codes[lane]``."""
    lanes = codes.shape[0]
    for index in range(letters.shape[0]):
        scores = substitution[letters[index]]
        base = index * lanes
        for lane in range(lanes):
            table[base + lane] = scores[codes[lane]]


@njit(nogil=True, cache=True)
def _row_scores(query_rows, offset, letters, table, table2, row_scores, row_scores2, lanes):
    """Each lane's score at this row (``offset``) in both columns: its query letter's row of
    the column tables, picked by a compare and a mask per present letter (exactly one
    letter matches each lane)."""
    lanes_u = np.uint64(lanes)
    for lane in range(lanes):
        row_scores[lane] = 0
        row_scores2[lane] = 0
    for index in range(letters.shape[0]):
        letter = letters[index]
        base = np.uint64(index) * lanes_u
        for lane_number in range(lanes):
            lane = np.uint64(lane_number)
            mask = np.int8(0) - np.int8(query_rows[offset + lane] == letter)
            row_scores[lane] |= table[base + lane] & mask
            row_scores2[lane] |= table2[base + lane] & mask


@njit(nogil=True, cache=True, inline="always")
def _compared(query_code, reference_code, match, mismatch, other):
    """The score of two codes under a scoring :func:`_fill` may compare."""
    value = match if query_code == reference_code else mismatch
    return other if (query_code | reference_code) >= 4 else value


@njit(nogil=True, cache=True)
def _fill(
    column_u,
    column_x,
    above_v,
    above_y,
    above_v2,
    above_y2,
    last_v,
    last_v2,
    query_rows,
    codes,
    codes2,
    compare,
    match,
    mismatch,
    other,
    letters,
    table,
    table2,
    row_scores,
    row_scores2,
    lane_rows,
    rows_end,
    rows,
    lanes,
    gap_open,
    gap_extend,
    zero,
    paired,
):
    """Columns ``j`` and ``j + 1`` (or only ``j``) of every lane, down every row (query codes
    ``query_rows``, the columns' reference codes ``codes`` and ``codes2``); ``last_v`` and
    ``last_v2`` take ``v`` of the row where each lane's query ends.

    ``compare``: the scoring has one match and one mismatch score among A, C, G and T and
    one score, ``other``, for every pair with another letter, and a cell compares codes
    (vector compares). Else its score comes from the column's ``table`` (``[letter][lane]``,
    ``letters`` the query codes present), picked per row by a compare per letter. Each case
    has a lane loop of its own (see :func:`streamalign.kernels.differences._fill_pair`)."""
    lanes_u = np.uint64(lanes)
    for row in range(1, rows + 1):
        offset = np.uint64(row - 1) * lanes_u
        if paired and compare:
            for lane_number in range(lanes):
                lane = np.uint64(lane_number)
                code = query_rows[offset + lane]
                u1, v1, x1, y1, _ = _cell(
                    column_u[offset + lane],
                    column_x[offset + lane],
                    above_v[lane],
                    above_y[lane],
                    _compared(code, codes[lane], match, mismatch, other),
                    gap_open,
                    gap_extend,
                    zero,
                )
                u2, v2, x2, y2, _ = _cell(
                    u1,
                    x1,
                    above_v2[lane],
                    above_y2[lane],
                    _compared(code, codes2[lane], match, mismatch, other),
                    gap_open,
                    gap_extend,
                    zero,
                )
                above_v[lane] = v1
                above_y[lane] = y1
                above_v2[lane] = v2
                above_y2[lane] = y2
                column_u[offset + lane] = u2
                column_x[offset + lane] = x2
        elif paired:
            _row_scores(query_rows, offset, letters, table, table2, row_scores, row_scores2, lanes)
            for lane_number in range(lanes):
                lane = np.uint64(lane_number)
                u1, v1, x1, y1, _ = _cell(
                    column_u[offset + lane],
                    column_x[offset + lane],
                    above_v[lane],
                    above_y[lane],
                    row_scores[lane],
                    gap_open,
                    gap_extend,
                    zero,
                )
                u2, v2, x2, y2, _ = _cell(
                    u1,
                    x1,
                    above_v2[lane],
                    above_y2[lane],
                    row_scores2[lane],
                    gap_open,
                    gap_extend,
                    zero,
                )
                above_v[lane] = v1
                above_y[lane] = y1
                above_v2[lane] = v2
                above_y2[lane] = y2
                column_u[offset + lane] = u2
                column_x[offset + lane] = x2
        else:
            if not compare:
                _row_scores(
                    query_rows, offset, letters, table, table2, row_scores, row_scores2, lanes
                )
            for lane_number in range(lanes):
                lane = np.uint64(lane_number)
                if compare:
                    score = _compared(
                        query_rows[offset + lane], codes[lane], match, mismatch, other
                    )
                else:
                    score = row_scores[lane]
                u1, v1, x1, y1, _ = _cell(
                    column_u[offset + lane],
                    column_x[offset + lane],
                    above_v[lane],
                    above_y[lane],
                    score,
                    gap_open,
                    gap_extend,
                    zero,
                )
                above_v[lane] = v1
                above_y[lane] = y1
                column_u[offset + lane] = u1
                column_x[offset + lane] = x1
        if rows_end[row]:
            # The v of this row, where a lane's query ends here.
            for lane in range(lanes):
                if lane_rows[lane] == row:
                    last_v[lane] = above_v[lane]
                    last_v2[lane] = above_v2[lane]
