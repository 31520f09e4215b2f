"""Inter-sequence vectorized Gotoh kernels (numba, nogil).

Many queries are aligned against one reference per call. Queries are grouped by length into
groups of ``lanes``; inside a group every dynamic-programming cell is computed for all lanes at
once, the lane index innermost and contiguous, so LLVM emits SIMD instructions.

Recurrence (query rows ``i``, reference columns ``j``, costs ``o`` = open, ``e`` = extend)::

    D[i][j] = max(H[i][j-1] - o, D[i][j-1] - e)          deletion  (gap in the query)
    I[i][j] = max(H[i-1][j] - o, I[i-1][j] - e)          insertion (gap in the reference)
    H[i][j] = max(H[i-1][j-1] + s(q_i, r_j), D[i][j], I[i][j])   (and 0 in local mode)

Ties: H prefers the diagonal, then the deletion, then the insertion; a gap state prefers
opening over extending; local mode stops (starts the alignment) where H <= 0. The end cell is
the first maximum over: the last query row left to right (when the reference end is free), then
the last reference column top to bottom (when the query end is free); local mode takes the first
maximum in row-major order. ``kernels/slow.py`` implements the same rules cell by cell.

Direction bits stored per cell (four bits): bits 0-1 the source of H (0 diagonal, 1 deletion,
2 insertion, 3 local start), bit 2 "deletion extends", bit 3 "insertion extends". Two
columns share a byte (low nibble: the odd column, counting from 1), except in local mode (a
byte per cell).

Performance notes (numba 0.6x, AVX2; measured on the benchmark workloads):

- Loop order: reference column outer, query row middle, lane inner. The per-column state
  (H and D of every query row, ``2 x (rows + 1) x lanes`` scores) stays in the L2 cache for
  read-length queries whatever the reference length; ``planning.plan_groups`` sizes groups for it.
- Scores are int16 where every DP value fits (``aligner._score_dtype``; read-length work),
  else float32 (exact below 2**24), int32, int64. numba computes ``int16 - int16`` in 64 bits;
  ``_narrow`` converts each result back so that LLVM keeps the cell update in 16-bit lanes
  (16 per AVX2 register, ``vpmaxsw``). On the 64-bp workload of ``benchmarks/kernels.py``
  score-only alignment went from 572k to 851k alignments/s with this alone (same machine).
- No per-column array views (their reference counting costs more than 64 lanes of work):
  flat arrays indexed with unsigned offsets (no negative-index wrap-around selects).
- Not local: two reference columns per pass (``_fill_two_columns``), the second taking the
  first's H and D from registers. ``benchmarks/kernels.py``, one core: MiSeq score-only 5.5
  to 6.1 GCUPS, pacbio 3.9 to 4.9 (Intel Xeon); with traceback too, the two columns' direction
  bits in one byte (half the bytes written): pacbio full 2,337 -> 2,927 alignments/s together
  with the lane limits of ``_config`` (about 2,300 -> 2,900 from this alone, in-process), 64-bp
  full about +10% (AMD EPYC; ``_trace`` reads the nibbles).
- The lane loop is specialized for traceback/score-only and local/end-gap modes (a runtime
  mode test inside it became masked stores and halved the speed). See ``_fill_column``.

Operations written: the codes of :mod:`streamalign.kernels.operations`.

The aligner sends most full and score-only alignments of at least 40,000 cells per pair to
:mod:`streamalign.kernels.differences` instead (the same recurrence and tie rules on 8-bit
differences, twice the lanes); this kernel takes the rest: local mode, short pairs, lone
queries, scores too large for 8-bit differences, and the CPU score passes of ``device="cuda"``.

These functions only compute; :func:`run` is their one entry: it takes a
:class:`~streamalign.kernels.inputs.KernelInput` (which ``streamalign.aligner`` builds) and a
:class:`~streamalign.kernels.outputs.KernelOutputs`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
from numba import njit, types
from numba.extending import overload
from numba.np.numpy_support import as_dtype

from .inputs import EndFlags, KernelInput
from .operations import DELETION, INSERTION, MISMATCH
from .outputs import KernelOutputs, traceback_scratch
from .planning import WindowGroup

# The flags as plain integers: the compiled kernel tests them as such.
_QUERY_START_FREE = int(EndFlags.QUERY_START_FREE)
_QUERY_END_FREE = int(EndFlags.QUERY_END_FREE)
_REFERENCE_START_FREE = int(EndFlags.REFERENCE_START_FREE)
_REFERENCE_END_FREE = int(EndFlags.REFERENCE_END_FREE)
_LOCAL = int(EndFlags.LOCAL)


def run(inputs: KernelInput, outputs: KernelOutputs) -> None:
    """Align ``inputs``' queries, in its groups, to its reference; fill ``outputs`` in place.

    The one caller of :func:`align_groups`: it checks the inputs and passes them in the
    compiled kernel's order. Outputs are written only for the queries the plan lists (the
    windowed traceback fills one batch's outputs group by group).

    Example:
        >>> from streamalign.alphabet import encode_string
        >>> from streamalign.kernels.inputs import KernelScoring
        >>> from streamalign.kernels.planning import plan_groups
        >>> offsets = np.array([0, 7])
        >>> inputs = KernelInput(
        ...     encode_string("GATTACA"), offsets, encode_string("GATCACA"),
        ...     plan_groups(np.diff(offsets), 7, lanes=16, memory_budget=2**20, traceback=True),
        ...     KernelScoring.create(np.eye(16) * 3 - 2, np.eye(16), 5, 2, -1000, np.int16),
        ...     EndFlags.NONE, traceback=True)
        >>> outputs = KernelOutputs.allocate(np.diff(offsets), 7, traceback=True)
        >>> run(inputs, outputs)
        >>> outputs.scores.tolist(), outputs.counts.tolist()
        ([4], [[6, 1, 0, 0]])
    """
    inputs.check()
    outputs.check(len(inputs.query_offsets) - 1, len(inputs.reference_codes), inputs.traceback)
    plan = inputs.plan
    scoring = inputs.scoring
    if inputs.traceback:
        scratch = traceback_scratch(plan.scratch_bytes)
    else:
        scratch = inputs.reference_codes[:0]
    align_groups(
        inputs.query_codes,
        inputs.query_offsets,
        plan.order,
        plan.starts,
        plan.lanes,
        inputs.reference_codes,
        scoring.substitution,
        scoring.match_table,
        scoring.parameters,
        int(inputs.ends),
        inputs.traceback,
        scratch,
        outputs.scores,
        outputs.query_starts,
        outputs.query_ends,
        outputs.reference_starts,
        outputs.reference_ends,
        outputs.counts,
        outputs.operations,
        outputs.capacity_offsets,
        outputs.operation_lengths,
    )


def run_windows(inputs: KernelInput, outputs: KernelOutputs, groups: Sequence[WindowGroup]) -> None:
    """Align each group's queries to its window ``reference[group.left:group.right]`` (one
    :func:`run` per group; ``inputs.plan`` is not used). Reference coordinates in
    ``outputs`` count from each group's window start.

    Example:
        >>> from streamalign.alphabet import encode_string
        >>> from streamalign.kernels.inputs import KernelScoring
        >>> from streamalign.kernels.planning import GroupPlan, WindowGroup
        >>> offsets = np.array([0, 4])
        >>> inputs = KernelInput(
        ...     encode_string("TACA"), offsets, encode_string("GGGGATTACAGGG"),
        ...     GroupPlan.single(np.array([0]), 0),
        ...     KernelScoring.create(np.eye(16) * 3 - 2, np.eye(16), 5, 2, -1000, np.int16),
        ...     EndFlags.REFERENCE_START_FREE | EndFlags.REFERENCE_END_FREE, traceback=True)
        >>> outputs = KernelOutputs.allocate(np.diff(offsets), 13, traceback=True)
        >>> run_windows(inputs, outputs, [WindowGroup(GroupPlan.single(np.array([0]), 40), 4, 11)])
        >>> outputs.scores.tolist(), outputs.reference_starts.tolist()   # in the window
        ([4], [2])
    """
    in_windows(run, inputs, outputs, groups)


def in_windows(
    kernel_run: Callable[[KernelInput, KernelOutputs], None],
    inputs: KernelInput,
    outputs: KernelOutputs,
    groups: Sequence[WindowGroup],
) -> None:
    """``kernel_run`` (a kernel module's ``run``) once per group, on the group's window of the
    reference: :func:`run_windows` for any kernel.

    Example:
        >>> from streamalign.kernels.inputs import KernelScoring
        >>> from streamalign.kernels.planning import GroupPlan, WindowGroup
        >>> inputs = KernelInput(
        ...     np.zeros(4, np.uint8), np.array([0, 4]), np.arange(12, dtype=np.uint8) % 4,
        ...     GroupPlan.single(np.array([0]), 0),
        ...     KernelScoring.create(np.eye(16), np.eye(16), 5, 2, -100, np.int16),
        ...     EndFlags.NONE, traceback=False)
        >>> seen = []
        >>> groups = [WindowGroup(GroupPlan.single(np.array([0]), 0), 2, 7)]
        >>> in_windows(lambda window, outputs: seen.append(window.reference_codes.tolist()),
        ...            inputs, None, groups)
        >>> seen
        [[2, 3, 0, 1, 2]]
    """
    reference = inputs.reference_codes
    for group in groups:
        window = dataclasses.replace(
            inputs, reference_codes=reference[group.left : group.right], plan=group.plan
        )
        kernel_run(window, outputs)


def _narrow(value, like):
    """``value`` converted to the type of ``like`` (the score type).

    numba computes ``int16 - int16`` in 64 bits; converting each result back lets LLVM keep
    the whole cell update in 16-bit lanes (16 per AVX2 register instead of 4). The bounds
    that ``aligner._score_dtype`` checks guarantee nothing is cut off. A no-op for float32.
    """
    return type(like)(value)


@overload(_narrow, inline="always")
def _narrow_overload(value, like):
    if not isinstance(like, (types.Integer, types.Float)):
        return None
    target = as_dtype(like).type

    def implementation(value, like):
        return target(value)

    return implementation


@njit(nogil=True, cache=True)
def align_groups(
    query_codes,
    query_offsets,
    order,
    group_starts,
    group_lanes,
    reference_codes,
    substitution,
    match_table,
    parameters,
    flags,
    traceback,
    traceback_budget,
    scores,
    query_starts,
    query_ends,
    reference_starts,
    reference_ends,
    counts,
    operations,
    operation_offsets,
    operation_lengths,
):
    """Align groups of queries against one reference, writing results in place.

    Args:
        query_codes: ``uint8`` codes of all queries, concatenated.
        query_offsets: ``int64`` record boundaries, ``len(queries) + 1``.
        order: ``int64`` query numbers sorted so that each group is contiguous in it.
        group_starts: ``int64`` positions in ``order`` where each group starts (+ end).
        group_lanes: ``int64`` lane count of each group (= its size).
        reference_codes: ``uint8`` codes of the reference.
        substitution: ``(16, 16)`` integer scores by (query code, reference code); code 15 pads.
        match_table: ``(16, 16)`` ``uint8``, 1 where a column counts as a match (``=``).
        parameters: array of the score dtype: ``[gap_open, gap_extend, minus_infinity]``.
        flags: an ``int`` of :class:`~streamalign.kernels.inputs.EndFlags`.
        traceback: whether to compute the alignment (else scores and end cells only).
        traceback_budget: ``uint8`` scratch of at least ``max(len_group * len(ref) * lanes)``.
        scores: ``int64`` output, one per query; the other outputs likewise.
        counts: ``int64`` output ``(queries, 4)``: matches, mismatches, insertions, deletions.
        operations: ``uint8`` output; query ``k`` writes its operations, in order, at the end
            of its capacity ``[operation_offsets[k], operation_offsets[k + 1])`` (``len(query)
            + len(reference)``); ``operation_lengths[k]`` says how many.

    Layout: the reference is the outer loop (one DP column at a time), the query rows the
    middle loop and the lanes the inner, contiguous loop. Column arrays are flat, indexed
    ``row * lanes + lane`` with unsigned offsets (no negative-index checks, no per-column array
    views), and the cell loop is specialized for (traceback, local) so that no branch or masked
    store is left in it. Direction bits are stored column-major: cell ``(row, column)`` of lane
    ``k`` at ``(((column - 1) // 2) * rows + row - 1) * lanes + k``, in the nibble of
    ``(column - 1) % 2`` (local mode: ``((column - 1) * rows + row - 1) * lanes + k``, a byte).
    """
    reference_length = reference_codes.shape[0]
    gap_open = parameters[0]
    gap_extend = parameters[1]
    minus_infinity = parameters[2]
    zero = _narrow(parameters[0] - parameters[0], parameters[0])
    query_start_free = (flags & _QUERY_START_FREE) != 0
    query_end_free = (flags & _QUERY_END_FREE) != 0
    reference_start_free = (flags & _REFERENCE_START_FREE) != 0
    reference_end_free = (flags & _REFERENCE_END_FREE) != 0
    local = (flags & _LOCAL) != 0
    # Profile rows exist only for the codes the reference uses (usually 4 of 16).
    profile_index, used_codes, used_count = _used_codes(reference_codes)
    column_profile = np.empty(reference_length, np.uint64)
    match_flat = _match_flat(match_table)
    # Row and column numbers in the score type (local mode compares them in the lane loop).
    column_values = np.empty(reference_length + 1, parameters.dtype)
    for column in range(reference_length + 1):
        column_values[column] = column
    group_count = group_starts.shape[0] - 1
    for group in range(group_count):
        lanes = group_lanes[group]
        first = group_starts[group]
        lanes_u = np.uint64(lanes)
        lengths = np.empty(lanes, np.int64)
        for lane in range(lanes):
            query = order[first + lane]
            lengths[lane] = query_offsets[query + 1] - query_offsets[query]
        # Not a running max from a literal 0: numba would also compile the callees for the
        # literal type (seconds of cold compile time).
        query_rows = lengths.max()
        rows_u = np.uint64(query_rows)
        profile = _profile(
            query_codes,
            query_offsets,
            order,
            first,
            lengths,
            query_rows,
            substitution,
            used_codes[:used_count],
            zero,
        )
        for column in range(reference_length):
            column_profile[column] = (
                np.uint64(profile_index[reference_codes[column]]) * rows_u * lanes_u
            )
        if traceback:
            directions = traceback_budget[: query_rows * reference_length * lanes]
        else:
            directions = traceback_budget[:0]
        # Column arrays, flat [row][lane]: H of the previous column and of this one (swapped
        # after each column), D (updated in place).
        column_h = np.empty((query_rows + 1) * lanes, parameters.dtype)
        next_h = np.empty((query_rows + 1) * lanes, parameters.dtype)
        column_d = np.empty((query_rows + 1) * lanes, parameters.dtype)
        # Per-lane running values down a column: H above, I.
        above_h = np.empty(lanes, parameters.dtype)
        insertion = np.empty(lanes, parameters.dtype)
        # Not local: two columns per pass (see _fill_two_columns); H of the first. Their
        # direction bits share a byte (low nibble: the odd column, counting from 1).
        paired = not local
        middle_h = np.empty((query_rows + 1) * lanes if paired else 0, parameters.dtype)
        above_h2 = np.empty(lanes, parameters.dtype)
        insertion2 = np.empty(lanes, parameters.dtype)
        # Local mode: best cell so far, tracked in the score type (row-major first maximum).
        local_score = np.empty(lanes, parameters.dtype)
        local_row = np.empty(lanes, parameters.dtype)
        local_column = np.empty(lanes, parameters.dtype)
        row_values = np.empty(query_rows + 1, parameters.dtype)
        best_score = np.empty(lanes, np.int64)
        best_row = np.zeros(lanes, np.int64)
        best_column = np.zeros(lanes, np.int64)
        for row in range(query_rows + 1):
            row_values[row] = row
            if row == 0 or query_start_free or local:
                edge = zero
            else:
                edge = -(gap_open + (row - 1) * gap_extend)
            base = row * lanes
            for lane in range(lanes):
                column_h[base + lane] = edge
                column_d[base + lane] = minus_infinity
        for lane in range(lanes):
            local_score[lane] = zero
            local_row[lane] = zero
            local_column[lane] = zero
            # Column 0 of the query's last row: the first end-cell candidate.
            best_score[lane] = column_h[lengths[lane] * lanes + lane]
            best_row[lane] = lengths[lane]
            best_column[lane] = 0
        paired_end = 1
        while paired and paired_end < reference_length:
            column = paired_end
            top = zero if reference_start_free else -(gap_open + (column - 1) * gap_extend)
            top2 = zero if reference_start_free else -(gap_open + column * gap_extend)
            for lane in range(lanes):
                middle_h[lane] = top
                next_h[lane] = top2
                above_h[lane] = top
                above_h2[lane] = top2
                insertion[lane] = minus_infinity
                insertion2[lane] = minus_infinity
            _fill_two_columns(
                column_h,
                middle_h,
                next_h,
                column_d,
                above_h,
                insertion,
                above_h2,
                insertion2,
                profile,
                column_profile[column - 1],
                column_profile[column],
                directions,
                np.uint64(column // 2) * rows_u * lanes_u,
                query_rows,
                lanes,
                gap_open,
                gap_extend,
                zero,
                traceback,
            )
            column_h, next_h = next_h, column_h
            if reference_end_free:
                # The last row, left to right: first maximum.
                for lane in range(lanes):
                    value = middle_h[lengths[lane] * lanes + lane]
                    if value > best_score[lane]:
                        best_score[lane] = value
                        best_column[lane] = column
                    value = column_h[lengths[lane] * lanes + lane]
                    if value > best_score[lane]:
                        best_score[lane] = value
                        best_column[lane] = column + 1
            paired_end += 2
        for column in range(paired_end, reference_length + 1):
            top = zero if reference_start_free or local else -(gap_open + (column - 1) * gap_extend)
            for lane in range(lanes):
                next_h[lane] = top
                above_h[lane] = top
                insertion[lane] = minus_infinity
            profile_start = column_profile[column - 1]
            # Not local: at most one column is left (the last, odd: a low nibble).
            direction_start = np.uint64(column - 1 if local else column // 2) * rows_u * lanes_u
            column_value = column_values[column]
            _fill_column(
                column_h,
                next_h,
                column_d,
                above_h,
                insertion,
                profile,
                profile_start,
                directions,
                direction_start,
                query_rows,
                lanes,
                gap_open,
                gap_extend,
                zero,
                row_values,
                column_value,
                local_score,
                local_row,
                local_column,
                local,
                traceback,
            )
            column_h, next_h = next_h, column_h
            if not local and reference_end_free:
                # The last row, left to right: first maximum.
                for lane in range(lanes):
                    value = column_h[lengths[lane] * lanes + lane]
                    if value > best_score[lane]:
                        best_score[lane] = value
                        best_column[lane] = column
        for lane in range(lanes):
            query = order[first + lane]
            if local:
                best_score[lane] = local_score[lane]
                best_row[lane] = np.int64(local_row[lane])
                best_column[lane] = np.int64(local_column[lane])
            else:
                if not reference_end_free:
                    best_score[lane] = column_h[lengths[lane] * lanes + lane]
                    best_column[lane] = reference_length
                if query_end_free:
                    # The last column, top to bottom, after the last row's candidates.
                    column_score = column_h[lane]
                    column_row = 0
                    for row in range(1, lengths[lane] + 1):
                        if column_h[row * lanes + lane] > column_score:
                            column_score = column_h[row * lanes + lane]
                            column_row = row
                    if not reference_end_free or column_score > best_score[lane]:
                        best_score[lane] = column_score
                        best_row[lane] = column_row
                        best_column[lane] = reference_length
            scores[query] = best_score[lane]
            query_ends[query] = best_row[lane]
            reference_ends[query] = best_column[lane]
            if traceback:
                _trace(
                    directions,
                    query_rows,
                    lanes,
                    lane,
                    best_row[lane],
                    best_column[lane],
                    query_codes,
                    query_offsets[query],
                    reference_codes,
                    match_flat,
                    query_start_free or local,
                    reference_start_free or local,
                    not local,
                    operations,
                    operation_offsets[query + 1],
                    operation_lengths,
                    query,
                    counts,
                    query_starts,
                    reference_starts,
                )
            else:
                query_starts[query] = 0
                reference_starts[query] = 0


@njit(nogil=True, cache=True)
def _used_codes(reference_codes):
    """The codes the reference uses in order of first use, their count, and each code's
    number among them (``profile_index``; profile planes exist for these codes only)."""
    profile_index = np.zeros(16, np.int64)
    used_codes = np.zeros(16, np.int64)
    used_count = 0
    for column in range(reference_codes.shape[0]):
        code = reference_codes[column]
        if used_count == 0 or used_codes[profile_index[code]] != code:
            profile_index[code] = used_count
            used_codes[used_count] = code
            used_count += 1
    return profile_index, used_codes, used_count


@njit(nogil=True, cache=True)
def _match_flat(match_table):
    """``match_table`` flat, ``[16 * query code + reference code]``, 1 for a match (``=``)."""
    match_flat = np.empty(256, np.uint8)
    for query_code in range(16):
        for reference_code in range(16):
            match_flat[query_code * 16 + reference_code] = (
                1 if match_table[query_code, reference_code] else 0
            )
    return match_flat


@njit(nogil=True, cache=True)
def _profile(
    query_codes, query_offsets, order, first, lengths, query_rows, substitution, used_codes, zero
):
    """Query profile, flat ``[used code][row][lane]``: the substitution score of each query
    row against each reference code the reference uses; rows past a query's end score 0.

    When the group's queries hold only A, C, G and T (the usual case), each entry is a chain
    of four selects, which vectorizes (3x faster than a table lookup per entry).
    """
    lanes = lengths.shape[0]
    used_count = used_codes.shape[0]
    # Query codes transposed to [row][lane]; code 16 marks the padding past a query's end.
    transposed = np.full(max(query_rows, 1) * lanes, 16, np.uint8)
    ambiguous = np.uint8(0)
    for lane in range(lanes):
        start = query_offsets[order[first + lane]]
        for row in range(lengths[lane]):
            code = query_codes[start + row]
            transposed[row * lanes + lane] = code
            ambiguous |= code
    size = query_rows * lanes
    profile = np.empty(max(used_count, 1) * max(size, 1), substitution.dtype)
    if ambiguous < 4:  # only codes 0-3 (A C G T), and the padding
        for used in range(used_count):
            reference_code = used_codes[used]
            score_a = substitution[0, reference_code]
            score_c = substitution[1, reference_code]
            score_g = substitution[2, reference_code]
            score_t = substitution[3, reference_code]
            base = used * size
            for position in range(size):
                code = transposed[position]
                profile[base + position] = (
                    score_a
                    if code == 0
                    else (
                        score_c
                        if code == 1
                        else (score_g if code == 2 else (score_t if code == 3 else zero))
                    )
                )
        return profile
    scores = np.empty(17, substitution.dtype)
    scores[16] = zero
    for used in range(used_count):
        for code in range(16):
            scores[code] = substitution[code, used_codes[used]]
        base = used * size
        for position in range(size):
            profile[base + position] = scores[transposed[position]]
    return profile


@njit(nogil=True, cache=True)
def _fill_two_columns(
    previous_h,
    middle_h,
    current_h,
    column_d,
    above_h,
    insertion,
    above_h2,
    insertion2,
    profile,
    profile_start,
    profile_start2,
    directions,
    direction_start,
    query_rows,
    lanes,
    gap_open,
    gap_extend,
    zero,
    traceback,
):
    """Two DP columns for every lane, not local (the cell update of :func:`_fill_column`,
    twice per row).

    The second column takes the first one's H and D of the same row from registers: D is
    read and written, and the previous H read, once per two columns, which halves the column
    traffic to the L2 cache. ``middle_h`` receives H of the first column (for the end cell),
    ``current_h`` that of the second; ``above_h2`` and ``insertion2`` are the second
    column's running values down the column. With ``traceback``, both cells' direction bits
    go to one byte of ``directions`` (the first column's in the low nibble), which halves the
    bytes written to memory.
    """
    lanes_u = np.uint64(lanes)
    one = _narrow(1, zero)
    two = _narrow(2, zero)
    four = _narrow(4, zero)
    eight = _narrow(8, zero)
    sixteen = _narrow(16, zero)
    nothing = zero
    for row in range(1, query_rows + 1):
        offset = np.uint64(row) * lanes_u
        diagonal_offset = offset - lanes_u
        profile_offset = profile_start + np.uint64(row - 1) * lanes_u
        profile_offset2 = profile_start2 + np.uint64(row - 1) * lanes_u
        direction_offset = direction_start + np.uint64(row - 1) * lanes_u
        if not traceback:
            for lane_number in range(lanes):
                lane = np.uint64(lane_number)
                up = above_h[lane]
                diagonal = _narrow(
                    previous_h[diagonal_offset + lane] + profile[profile_offset + lane], zero
                )
                deletion_value = max(
                    _narrow(previous_h[offset + lane] - gap_open, zero),
                    _narrow(column_d[offset + lane] - gap_extend, zero),
                )
                insertion_value = max(
                    _narrow(up - gap_open, zero), _narrow(insertion[lane] - gap_extend, zero)
                )
                value = max(diagonal, max(deletion_value, insertion_value))
                # The second column: its left is this value, its diagonal H[row - 1] above it.
                diagonal2 = _narrow(up + profile[profile_offset2 + lane], zero)
                deletion_value2 = max(
                    _narrow(value - gap_open, zero), _narrow(deletion_value - gap_extend, zero)
                )
                insertion_value2 = max(
                    _narrow(above_h2[lane] - gap_open, zero),
                    _narrow(insertion2[lane] - gap_extend, zero),
                )
                value2 = max(diagonal2, max(deletion_value2, insertion_value2))
                insertion[lane] = insertion_value
                above_h[lane] = value
                middle_h[offset + lane] = value
                column_d[offset + lane] = deletion_value2
                insertion2[lane] = insertion_value2
                above_h2[lane] = value2
                current_h[offset + lane] = value2
        else:
            for lane_number in range(lanes):
                lane = np.uint64(lane_number)
                up = above_h[lane]
                diagonal = _narrow(
                    previous_h[diagonal_offset + lane] + profile[profile_offset + lane], zero
                )
                deletion_open = _narrow(previous_h[offset + lane] - gap_open, zero)
                deletion_extend = _narrow(column_d[offset + lane] - gap_extend, zero)
                deletion_value = max(deletion_open, deletion_extend)
                insertion_open = _narrow(up - gap_open, zero)
                insertion_extend = _narrow(insertion[lane] - gap_extend, zero)
                insertion_value = max(insertion_open, insertion_extend)
                value = max(diagonal, max(deletion_value, insertion_value))
                source = nothing if value == diagonal else (one if value == deletion_value else two)
                diagonal2 = _narrow(up + profile[profile_offset2 + lane], zero)
                deletion_open2 = _narrow(value - gap_open, zero)
                deletion_extend2 = _narrow(deletion_value - gap_extend, zero)
                deletion_value2 = max(deletion_open2, deletion_extend2)
                insertion_open2 = _narrow(above_h2[lane] - gap_open, zero)
                insertion_extend2 = _narrow(insertion2[lane] - gap_extend, zero)
                insertion_value2 = max(insertion_open2, insertion_extend2)
                value2 = max(diagonal2, max(deletion_value2, insertion_value2))
                source2 = (
                    nothing if value2 == diagonal2 else (one if value2 == deletion_value2 else two)
                )
                bits = _narrow(
                    source
                    + (four if deletion_extend > deletion_open else nothing)
                    + (eight if insertion_extend > insertion_open else nothing),
                    zero,
                )
                bits2 = _narrow(
                    source2
                    + (four if deletion_extend2 > deletion_open2 else nothing)
                    + (eight if insertion_extend2 > insertion_open2 else nothing),
                    zero,
                )
                directions[direction_offset + lane] = np.uint8(
                    _narrow(bits + bits2 * sixteen, zero)
                )
                insertion[lane] = insertion_value
                above_h[lane] = value
                middle_h[offset + lane] = value
                column_d[offset + lane] = deletion_value2
                insertion2[lane] = insertion_value2
                above_h2[lane] = value2
                current_h[offset + lane] = value2


@njit(nogil=True, cache=True)
def _fill_column(
    previous_h,
    current_h,
    column_d,
    above_h,
    insertion,
    profile,
    profile_start,
    directions,
    direction_start,
    query_rows,
    lanes,
    gap_open,
    gap_extend,
    zero,
    row_values,
    column_value,
    local_score,
    local_row,
    local_column,
    local,
    traceback,
):
    """One DP column for every lane: the vectorized heart of the kernel.

    On entry ``previous_h`` holds H of the previous column, ``current_h`` row 0 of this one,
    ``column_d`` D of the previous column, ``above_h`` H[0] of this column and ``insertion``
    I[0] (minus infinity). On return ``current_h`` and ``column_d`` hold this column,
    ``directions`` its direction bits (``traceback``) and ``local_*`` the best cell so far
    (``local``). Two H arrays instead of one updated in place save a store per cell.

    The four (local, traceback) combinations are written out as separate loops so that each
    lane loop is branch-free and vectorizes without masked stores (numba would otherwise
    compile one specialization per combination: seconds more of cold compile time). Direction
    bits are summed as small numbers of the score type and converted once, which keeps them in
    the lanes' width (numba's integer bit operations are 64-bit).
    """
    lanes_u = np.uint64(lanes)
    # Direction bits in the score type: the same lane width as the scores (no shuffles).
    one = _narrow(1, zero)
    two = _narrow(2, zero)
    three = _narrow(3, zero)
    four = _narrow(4, zero)
    eight = _narrow(8, zero)
    nothing = zero
    for row in range(1, query_rows + 1):
        offset = np.uint64(row) * lanes_u
        diagonal_offset = offset - lanes_u
        profile_offset = profile_start + np.uint64(row - 1) * lanes_u
        direction_offset = direction_start + np.uint64(row - 1) * lanes_u
        row_value = row_values[row]
        if not local and not traceback:
            for lane_number in range(lanes):
                lane = np.uint64(lane_number)
                left = previous_h[offset + lane]
                diagonal = _narrow(
                    previous_h[diagonal_offset + lane] + profile[profile_offset + lane], zero
                )
                deletion_value = max(
                    _narrow(left - gap_open, zero),
                    _narrow(column_d[offset + lane] - gap_extend, zero),
                )
                insertion_value = max(
                    _narrow(above_h[lane] - gap_open, zero),
                    _narrow(insertion[lane] - gap_extend, zero),
                )
                value = max(diagonal, max(deletion_value, insertion_value))
                column_d[offset + lane] = deletion_value
                insertion[lane] = insertion_value
                above_h[lane] = value
                current_h[offset + lane] = value
        elif not local:
            for lane_number in range(lanes):
                lane = np.uint64(lane_number)
                left = previous_h[offset + lane]
                diagonal = _narrow(
                    previous_h[diagonal_offset + lane] + profile[profile_offset + lane], zero
                )
                deletion_open = _narrow(left - gap_open, zero)
                deletion_extend = _narrow(column_d[offset + lane] - gap_extend, zero)
                deletion_value = max(deletion_open, deletion_extend)
                insertion_open = _narrow(above_h[lane] - gap_open, zero)
                insertion_extend = _narrow(insertion[lane] - gap_extend, zero)
                insertion_value = max(insertion_open, insertion_extend)
                value = max(diagonal, max(deletion_value, insertion_value))
                # Source of H: 0 diagonal, 1 deletion, 2 insertion; + 4, + 8: gap extends.
                source = nothing if value == diagonal else (one if value == deletion_value else two)
                bits = _narrow(
                    source
                    + (four if deletion_extend > deletion_open else nothing)
                    + (eight if insertion_extend > insertion_open else nothing),
                    zero,
                )
                directions[direction_offset + lane] = np.uint8(bits)
                column_d[offset + lane] = deletion_value
                insertion[lane] = insertion_value
                above_h[lane] = value
                current_h[offset + lane] = value
        elif not traceback:
            for lane_number in range(lanes):
                lane = np.uint64(lane_number)
                left = previous_h[offset + lane]
                diagonal = _narrow(
                    previous_h[diagonal_offset + lane] + profile[profile_offset + lane], zero
                )
                deletion_value = max(
                    _narrow(left - gap_open, zero),
                    _narrow(column_d[offset + lane] - gap_extend, zero),
                )
                insertion_value = max(
                    _narrow(above_h[lane] - gap_open, zero),
                    _narrow(insertion[lane] - gap_extend, zero),
                )
                value = max(max(diagonal, max(deletion_value, insertion_value)), zero)
                # First maximum in row-major order: columns arrive in order, rows do not.
                best = local_score[lane]
                best_row = local_row[lane]
                best_column = local_column[lane]
                better = (value > best) | ((value == best) & (row_value < best_row))
                # (+ zero: a store LLVM cannot prove redundant, else a slow masked store)
                local_score[lane] = _narrow(max(value, best) + zero, zero)
                local_row[lane] = row_value if better else best_row
                local_column[lane] = column_value if better else best_column
                column_d[offset + lane] = deletion_value
                insertion[lane] = insertion_value
                above_h[lane] = value
                current_h[offset + lane] = value
        else:
            for lane_number in range(lanes):
                lane = np.uint64(lane_number)
                left = previous_h[offset + lane]
                diagonal = _narrow(
                    previous_h[diagonal_offset + lane] + profile[profile_offset + lane], zero
                )
                deletion_open = _narrow(left - gap_open, zero)
                deletion_extend = _narrow(column_d[offset + lane] - gap_extend, zero)
                deletion_value = max(deletion_open, deletion_extend)
                insertion_open = _narrow(above_h[lane] - gap_open, zero)
                insertion_extend = _narrow(insertion[lane] - gap_extend, zero)
                insertion_value = max(insertion_open, insertion_extend)
                value = max(diagonal, max(deletion_value, insertion_value))
                source = nothing if value == diagonal else (one if value == deletion_value else two)
                # 3: H <= 0, the local alignment starts here.
                source = three if value <= zero else source
                bits = _narrow(
                    source
                    + (four if deletion_extend > deletion_open else nothing)
                    + (eight if insertion_extend > insertion_open else nothing),
                    zero,
                )
                directions[direction_offset + lane] = np.uint8(bits)
                value = max(value, zero)
                best = local_score[lane]
                best_row = local_row[lane]
                best_column = local_column[lane]
                better = (value > best) | ((value == best) & (row_value < best_row))
                # (+ zero: a store LLVM cannot prove redundant, else a slow masked store)
                local_score[lane] = _narrow(max(value, best) + zero, zero)
                local_row[lane] = row_value if better else best_row
                local_column[lane] = column_value if better else best_column
                column_d[offset + lane] = deletion_value
                insertion[lane] = insertion_value
                above_h[lane] = value
                current_h[offset + lane] = value


@njit(nogil=True, cache=True)
def _trace(
    directions,
    query_rows,
    lanes,
    lane,
    row,
    column,
    query_codes,
    query_start,
    reference,
    match_flat,
    query_start_free,
    reference_start_free,
    packed,
    operations,
    end,
    operation_lengths,
    query_number,
    counts,
    query_starts,
    reference_starts,
):
    """Follow the direction bits from (row, column) back to the start; write operations.

    ``packed``: two columns share each byte (columns ``2p + 1`` and ``2p + 2``, counting from
    1, in the low and high nibble of pair ``p``; see :func:`_fill_two_columns`), else one
    byte per cell (local mode).

    The walk meets the operations last to first: it writes them backwards, ending just before
    ``operations[end]`` (the end of the query's capacity, see ``KernelOutputs``).

    ``query_codes[query_start:]`` is the query; ``match_flat[16 * query code + reference
    code]`` is 1 for a match. Positions and indices are unsigned (no negative-index checks):
    this walk is a chain of dependent steps, each instruction counts.
    """
    written = 0
    state = 0
    matches = 0
    insertions = 0
    deletions = 0
    lanes_u = np.uint64(lanes)
    # Flat position of cell (row, column) in the column-major direction bits, moved along
    # (it wraps around past row or column 0, where it is no longer read).
    # Packed: the nibble ``shift`` of the byte; a step left from a low nibble moves to the
    # previous pair's high one, from a high nibble to the low one of the same byte.
    stored_column = np.uint64(column - 1) // np.uint64(2) if packed else np.uint64(column - 1)
    shift = np.uint64(4) * (np.uint64(column - 1) & np.uint64(1)) if packed else np.uint64(0)
    toggle = np.uint64(4) if packed else np.uint64(0)
    position = (stored_column * np.uint64(query_rows) + np.uint64(row - 1)) * lanes_u
    position += np.uint64(lane)
    column_step = np.uint64(query_rows) * lanes_u
    output = np.uint64(end - 1)
    query_position = np.uint64(query_start)
    while True:
        if state == 0:
            if row == 0 or column == 0:
                if row == 0 and not reference_start_free:
                    for _ in range(column):
                        operations[end - 1 - written] = DELETION
                        written += 1
                    deletions += column
                    column = 0
                if column == 0 and not query_start_free:
                    for _ in range(row):
                        operations[end - 1 - written] = INSERTION
                        written += 1
                    insertions += row
                    row = 0
                break
            bits = (np.uint64(directions[position]) >> shift) & np.uint64(15)
            source = np.int64(bits & np.uint64(3))
            if source == 0:
                # Branch-free match/mismatch (random data would mispredict a branch).
                query_code = np.uint64(query_codes[query_position + np.uint64(row - 1)])
                reference_code = np.uint64(reference[np.uint64(column - 1)])
                is_match = np.int64(match_flat[query_code * np.uint64(16) + reference_code])
                operations[output - np.uint64(written)] = MISMATCH - is_match
                matches += is_match
                written += 1
                row -= 1
                column -= 1
                position -= lanes_u + (column_step if shift == 0 else np.uint64(0))
                shift ^= toggle
                continue
            if source == 3:
                break
            state = source  # H came from a gap: take its first step on this same cell
        else:
            bits = (np.uint64(directions[position]) >> shift) & np.uint64(15)
        if state == 1:
            operations[output - np.uint64(written)] = DELETION
            deletions += 1
            column -= 1
            position -= column_step if shift == 0 else np.uint64(0)
            shift ^= toggle
            state = 1 if bits & 4 else 0
        else:
            operations[output - np.uint64(written)] = INSERTION
            insertions += 1
            row -= 1
            position -= lanes_u
            state = 2 if bits & 8 else 0
        written += 1
    operation_lengths[query_number] = written
    query_starts[query_number] = row
    reference_starts[query_number] = column
    counts[query_number, 0] = matches
    counts[query_number, 1] = written - matches - insertions - deletions
    counts[query_number, 2] = insertions
    counts[query_number, 3] = deletions
