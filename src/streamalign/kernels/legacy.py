"""scikit-bio's pairwise recurrence, reproduced exactly (numba, nogil, batched).

scikit-bio's pure-Python ``global_pairwise_align`` and ``local_pairwise_align`` keep one score
matrix ``M`` and one pointer per cell. Whether a gap move opens or extends a gap is read from the
pointer of the cell it comes from, not from a separate gap state as in Gotoh's algorithm, so the
result can be a sub-optimal affine alignment. This module computes the same numbers, pointers and
tracebacks, many queries against one reference per kernel call.

The recurrence, in this module's frame (query rows ``i``, reference columns ``j``; ``o`` = open,
``e`` = extend, ``P`` the pointer of a cell: end, diagonal, insertion or deletion)::

    diagonal  = M[i-1][j-1] + s(i, j)
    insertion = M[i-1][j] - (e if P[i-1][j] is insertion else o)   (query base against a gap)
    deletion  = M[i][j-1] - (e if P[i][j-1] is deletion else o)    (reference base against a gap)
    M[i][j]   = first strict maximum of [floor, first gap, diagonal, second gap]

``floor`` is 0 (pointer "end") in local mode and minus infinity in global mode. scikit-bio
prefers the gap that consumes its *first* sequence (``seq1``), so the order of the two gap
candidates depends on which of query and reference plays ``seq1``. Borders: ``P`` is "end" at
``(0, 0)``; row 0 points left (deletions) and column 0 up (insertions) in global mode, all "end"
in local mode. With end gaps penalized the borders hold ``-o - (k - 1) * e``; without
(scikit-bio's default ``penalize_terminal_gaps=False``) they hold 0, and every deletion on the
query's last row and every insertion on the reference's last column costs nothing. Global
alignments end in the last cell; local ones in the first maximum of ``M`` in scikit-bio's
row-major order (its rows are ``seq2``). The traceback follows the pointers to an "end" cell.

Exactness: scikit-bio computes in float64. When every score is a multiple of a power of two
(integers, 0.5, 0.25, ...), every intermediate value is exact, so the kernel computes on those
values scaled to integers (in float32 when they are small, which vectorizes best). Otherwise it
repeats scikit-bio's float64 operations one for one, rounding included.

Example:
    >>> from streamalign import Aligner
    >>> aligner = Aligner("GAGTTTGATCCTGG", recurrence="skbio")
    >>> alignment = aligner.align("GAGTTGATCCTGG")
    >>> alignment.score, alignment.cigar
    (8.0, '3=1D10=')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit, types
from numba.extending import overload

from .. import _config
from ..errors import ScoringError
from .inputs import ALL_ENDS_FREE, EndFlags, KernelInput, KernelScoring
from .operations import DELETION, INSERTION, MATCH, MISMATCH
from .outputs import KernelOutputs, traceback_scratch
from .planning import plan_groups

#: Pointer values (also the traceback directions stored per cell).
POINTER_END = 0
POINTER_DIAGONAL = 1
POINTER_INSERTION = 2
POINTER_DELETION = 3

#: Largest power of two tried when looking for an exact integer scaling of the scores.
_LARGEST_SCALE_EXPONENT = 30


@dataclass(frozen=True)
class LegacySettings:
    """Which scikit-bio call an alignment reproduces.

    Attributes:
        local: ``local_pairwise_align`` (True) or ``global_pairwise_align`` (False).
        penalize_terminal_gaps: scikit-bio's switch of the same name (global only).
        query_is_first: the query plays scikit-bio's ``seq1`` and the reference ``seq2``
            (True, what :class:`~streamalign.Aligner` does), or the other way round.
    """

    local: bool
    penalize_terminal_gaps: bool = True
    query_is_first: bool = True

    @property
    def ends(self) -> EndFlags:
        """The end flags of this call: ``LOCAL``, none free, or all four free.

        Example:
            >>> LegacySettings(local=False, penalize_terminal_gaps=False).ends == ALL_ENDS_FREE
            True
        """
        if self.local:
            return EndFlags.LOCAL
        return EndFlags.NONE if self.penalize_terminal_gaps else ALL_ENDS_FREE


def settings_for(mode: str, ends: EndFlags) -> LegacySettings:
    """The scikit-bio call equivalent to an :class:`~streamalign.Aligner`'s mode and ends.

    ``global`` (every end gap penalized) is ``global_pairwise_align(query, reference,
    penalize_terminal_gaps=True)``; ``overlap`` (every end gap free) is the same with
    ``penalize_terminal_gaps=False``; ``local`` is ``local_pairwise_align(query, reference)``.
    scikit-bio frees all four ends or none, so ``semiglobal`` and any other mix of end-gap
    switches cannot be expressed.

    Raises:
        ScoringError: for a mode scikit-bio's recurrence cannot express.

    Example:
        >>> settings_for("overlap", ALL_ENDS_FREE)
        LegacySettings(local=False, penalize_terminal_gaps=False, query_is_first=True)
    """
    if ends & EndFlags.LOCAL:
        return LegacySettings(local=True)
    if ends == EndFlags.NONE:
        return LegacySettings(local=False, penalize_terminal_gaps=True)
    if ends == ALL_ENDS_FREE:
        return LegacySettings(local=False, penalize_terminal_gaps=False)
    free = [
        bool(ends & flag)
        for flag in (
            EndFlags.QUERY_START_FREE,
            EndFlags.QUERY_END_FREE,
            EndFlags.REFERENCE_START_FREE,
            EndFlags.REFERENCE_END_FREE,
        )
    ]
    raise ScoringError(
        f"recurrence='skbio' cannot express mode {mode!r} with end gaps free at "
        f"query start/end {free[0]}/{free[1]} and reference start/end {free[2]}/{free[3]}: "
        "scikit-bio penalizes all four end gaps (mode='global') or none (mode='overlap'); "
        "use mode 'global', 'overlap' or 'local', or recurrence='gotoh'"
    )


def align_arrays(
    query_codes: np.ndarray,
    query_offsets: np.ndarray,
    reference_codes: np.ndarray,
    substitution: np.ndarray,
    gap_open: float,
    gap_extend: float,
    settings: LegacySettings,
    *,
    match_table: np.ndarray | None = None,
    traceback: bool = True,
    trim_free_end_gaps: bool = False,
    lanes: int = _config.LANES,
    memory_budget: int = _config.TRACEBACK_BUDGET_BYTES,
    names: Sequence[str] | None = None,
) -> KernelOutputs:
    """Align concatenated encoded queries against one reference with scikit-bio's recurrence.

    Args:
        query_codes: ``uint8`` codes of all queries, concatenated (any code below the size of
            ``substitution``).
        query_offsets: ``int64`` record boundaries, ``len(queries) + 1``.
        reference_codes: ``uint8`` codes of the reference.
        substitution: float64 square table of scores in the caller's units, indexed
            ``[seq1 code, seq2 code]`` as scikit-bio looks them up
            (``substitution_matrix[seq1 character][seq2 character]``).
        gap_open, gap_extend: scikit-bio's ``gap_open_penalty`` and ``gap_extend_penalty``.
        settings: global or local, ``penalize_terminal_gaps``, and which sequence is ``seq1``.
        match_table: ``uint8`` table ``[query code, reference code]``, 1 where a column counts
            as ``=``; by default equal codes below 4.
        traceback: False computes scores and end positions only (starts are then 0).
        trim_free_end_gaps: leave free end gaps (``penalize_terminal_gaps=False``) out of the
            operations and spans; False keeps them, as scikit-bio's gapped rows do.
        lanes: queries aligned side by side.
        memory_budget: most bytes of traceback pointers one group of lanes may use.
        names: query names for error messages.

    Returns:
        The kernel's outputs; ``scores`` are float64 in the caller's units, bit for bit
        scikit-bio's.

    Raises:
        AlignmentTooLargeError: a query whose pointer matrix alone exceeds ``memory_budget``.

    Example:
        >>> from streamalign.alphabet import encode_string
        >>> table = np.where(np.eye(16, dtype=bool), 1.0, -2.0)
        >>> query = encode_string("ACGTTGCA")
        >>> outputs = align_arrays(query, np.array([0, 8]), encode_string("ACGTGCA"), table,
        ...                        5, 2, LegacySettings(local=False))
        >>> outputs.scores.tolist(), outputs.record_operations(0).tolist()
        ([2.0], [0, 0, 0, 0, 2, 0, 0, 0])
    """
    query_offsets = np.ascontiguousarray(query_offsets, dtype=np.int64)
    query_codes = np.ascontiguousarray(query_codes, dtype=np.uint8)
    reference_codes = np.ascontiguousarray(reference_codes, dtype=np.uint8)
    substitution = np.asarray(substitution, dtype=np.float64)
    size = substitution.shape[0]
    if substitution.ndim != 2 or substitution.shape[1] != size:
        raise ScoringError(f"substitution must be a square table, got {substitution.shape}")
    lengths = np.diff(query_offsets)
    count = len(lengths)
    reference_length = len(reference_codes)
    if match_table is None:
        match_table = np.zeros((size, size), dtype=np.uint8)
        match_table[np.arange(min(size, 4)), np.arange(min(size, 4))] = 1
    longest = int(lengths.max()) if count else 0
    value_type, factor = computation_type(
        substitution, gap_open, gap_extend, longest + reference_length
    )
    # The kernel's table is indexed [query code, reference code].
    oriented = substitution if settings.query_is_first else substitution.T
    inputs = KernelInput(
        query_codes=query_codes,
        query_offsets=query_offsets,
        reference_codes=reference_codes,
        plan=plan_groups(
            lengths,
            reference_length,
            lanes=lanes,
            memory_budget=memory_budget,
            traceback=traceback,
            border=1,
            names=names,
        ),
        scoring=KernelScoring.create(
            oriented * factor,
            match_table,
            gap_open * factor,
            gap_extend * factor,
            0.0 if settings.local else -np.inf,
            value_type,
        ),
        ends=settings.ends,
        traceback=traceback,
    )
    outputs = KernelOutputs.allocate(lengths, reference_length, traceback, np.float64)
    run(
        inputs,
        outputs,
        query_is_first=settings.query_is_first,
        trim_free_end_gaps=trim_free_end_gaps,
    )
    if factor != 1.0:
        outputs.scores /= factor
    return outputs


def run(
    inputs: KernelInput,
    outputs: KernelOutputs,
    *,
    query_is_first: bool = True,
    trim_free_end_gaps: bool = False,
) -> None:
    """Align ``inputs`` with scikit-bio's recurrence; fill ``outputs`` (float64 scores, in the
    units of ``inputs.scoring``) in place.

    The one caller of :func:`align_groups`: it checks the inputs and passes them in the
    compiled kernel's order. ``inputs.ends`` must be ``LOCAL``, ``NONE`` (end gaps penalized)
    or all four ends free (scikit-bio's ``penalize_terminal_gaps=False``);
    ``inputs.scoring.parameters`` end with the floor (0 local, minus infinity global).

    Args:
        inputs: the queries, reference, groups (``border=1`` plans) and scores.
        outputs: where the results go.
        query_is_first: the query plays scikit-bio's ``seq1``.
        trim_free_end_gaps: leave free end gaps out of the operations and spans.
    """
    inputs.check()
    outputs.check(len(inputs.query_offsets) - 1, len(inputs.reference_codes), inputs.traceback)
    ends = inputs.ends
    if ends not in (EndFlags.NONE, EndFlags.LOCAL, ALL_ENDS_FREE):
        raise ValueError(f"the legacy kernel frees all four ends or none, not {ends!r}")
    local = ends == EndFlags.LOCAL
    free_end_gaps = ends == ALL_ENDS_FREE
    scoring = inputs.scoring
    plan = inputs.plan
    pointer_type = np.int32 if scoring.substitution.dtype == np.float32 else np.int64
    # (a score-only plan needs 0 bytes: the thread's kept buffer, unused)
    scratch = traceback_scratch(plan.scratch_bytes)
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
        np.arange(4, dtype=pointer_type),
        local,
        free_end_gaps,
        query_is_first,
        inputs.traceback,
        trim_free_end_gaps and free_end_gaps,
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


def computation_type(
    substitution: np.ndarray, gap_open: float, gap_extend: float, path_length: int
) -> tuple[type, float]:
    """Choose how to compute exactly what scikit-bio's float64 arithmetic gives.

    Returns ``(dtype, factor)``: the kernel works on values multiplied by ``factor``. When all
    scores times a power of two are integers and every reachable value stays below 2**23 (2**52),
    the scaled values are held in float32 (float64) and nothing is ever rounded, in scikit-bio's
    arithmetic or ours. Otherwise ``(float64, 1.0)``: the same float64 operations as scikit-bio.

    Example:
        >>> table = np.full((16, 16), -2.0)
        >>> computation_type(table, 2.5, 0.5, 128), computation_type(table, 0.1, 1, 128)
        ((<class 'numpy.float32'>, 2.0), (<class 'numpy.float64'>, 1.0))
    """
    values = np.concatenate(
        [np.asarray(substitution, dtype=np.float64).ravel(), [float(gap_open), float(gap_extend)]]
    )
    if not np.all(np.isfinite(values)):
        raise ScoringError("scores and gap penalties must be finite")
    largest = float(np.abs(values).max()) if values.size else 0.0
    for exponent in range(_LARGEST_SCALE_EXPONENT + 1):
        factor = float(2**exponent)
        scaled = values * factor  # exact: a power of two only shifts the exponent
        if np.all(scaled == np.round(scaled)):
            # Every M value is reached by at most path_length moves of at most `largest` each,
            # and a candidate adds one more.
            bound = (path_length + 2) * largest * factor
            if bound < 2**23:
                return np.float32, factor
            if bound < 2**52:
                return np.float64, factor
            break
    return np.float64, 1.0


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
    pointer_values,
    local,
    free_end_gaps,
    query_is_first,
    traceback,
    trim_free_end_gaps,
    scratch,
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
    """Align groups of queries against one reference with scikit-bio's recurrence, in place.

    Args:
        query_codes: ``uint8`` codes of all queries, concatenated.
        query_offsets: ``int64`` record boundaries, ``len(queries) + 1``.
        order: ``int64`` query numbers, sorted so that each group is contiguous in it.
        group_starts: ``int64`` positions in ``order`` where each group starts (+ end).
        group_lanes: ``int64`` size of each group.
        reference_codes: ``uint8`` codes of the reference.
        substitution: square table (float32 or float64) ``[query code, reference code]``.
        match_table: ``uint8`` ``[query code, reference code]``, 1 where a column is ``=``.
        parameters: ``[gap_open, gap_extend, floor]`` in the table's type (floor: 0 for local,
            minus infinity for global).
        pointer_values: ``[end, diagonal, insertion, deletion]`` = ``[0, 1, 2, 3]`` in an
            integer type as wide as the table's (int32 for float32): pointers computed in the
            same width as the scores keep the lane loop in SIMD registers.
        local: local (True) or global alignment.
        free_end_gaps: global without terminal gap penalties (zero borders, free moves along
            the last row and column).
        query_is_first: the query is scikit-bio's ``seq1``: insertions win ties over the
            diagonal, the diagonal over deletions, and local ties go to the lowest column.
            Otherwise deletions come first and local ties go to the lowest row.
        traceback: store pointers and write operations and starts.
        trim_free_end_gaps: leave free end gaps out of operations and spans.
        scratch: ``uint8`` pointer storage, at least ``(rows + 1) * (n + 1) * lanes`` bytes.
        scores: float64 output, the end cell's value; the other outputs likewise per query.
        counts: ``int64`` ``(queries, 4)``: matches, mismatches, insertions, deletions.
        operations: ``uint8`` output; query ``k`` writes at the end of its capacity
            ``[operation_offsets[k], operation_offsets[k + 1])`` (``len(query) +
            len(reference)``), ``operation_lengths[k]`` says how many.
    """
    reference_length = reference_codes.shape[0]
    columns = reference_length + 1
    gap_open = parameters[0]
    gap_extend = parameters[1]
    floor = parameters[2]
    zero = gap_open - gap_open
    end_pointer = pointer_values[POINTER_END]
    insertion_pointer = pointer_values[POINTER_INSERTION]
    deletion_pointer = pointer_values[POINTER_DELETION]
    table_size = substitution.shape[1]
    for group in range(group_starts.shape[0] - 1):
        lanes = group_lanes[group]
        first = group_starts[group]
        lengths = np.empty(lanes, np.int64)
        rows = 0
        for lane in range(lanes):
            query = order[first + lane]
            lengths[lane] = query_offsets[query + 1] - query_offsets[query]
            rows = max(rows, lengths[lane])
        # Query profile: score of query row i (per lane) against each reference code, written
        # lane-innermost (rows past a query's end hold code 0's scores and are never used).
        profile = np.empty((max(rows, 1), table_size, lanes), substitution.dtype)
        by_reference_code = np.ascontiguousarray(substitution.T)
        row_codes = np.zeros(lanes, np.int64)
        for row in range(rows):
            for lane in range(lanes):
                if row < lengths[lane]:
                    row_codes[lane] = query_codes[query_offsets[order[first + lane]] + row]
                else:
                    row_codes[lane] = 0
            for reference_code in range(table_size):
                scores_by_code = by_reference_code[reference_code]
                destination = profile[row, reference_code]
                for lane in range(lanes):
                    destination[lane] = scores_by_code[row_codes[lane]]
        if traceback:
            stored = scratch[: (rows + 1) * columns * lanes].reshape((rows + 1, columns, lanes))
        else:
            stored = scratch[:0].reshape((0, columns, lanes))
        previous = np.empty((columns, lanes), substitution.dtype)
        current = np.empty((columns, lanes), substitution.dtype)
        above_pointers = np.empty((columns, lanes), pointer_values.dtype)
        current_pointers = np.empty((columns, lanes), pointer_values.dtype)
        # Pointers of each query's last row and of the last column: enough to find where free
        # end gaps begin in a score-only run.
        last_row_pointers = np.empty((columns, lanes), np.uint8)
        last_column_pointers = np.empty((rows + 1, lanes), np.uint8)
        left_open = np.empty(lanes, substitution.dtype)
        left_extend = np.empty(lanes, substitution.dtype)
        end_values = np.empty(lanes, substitution.dtype)
        row_best = np.empty(lanes, substitution.dtype)
        best_values = np.empty(lanes, substitution.dtype)
        best_rows = np.zeros(lanes, np.int64)
        best_columns = np.zeros(lanes, np.int64)
        # Row 0.
        for column in range(columns):
            if column == 0 or local or free_end_gaps:
                value = zero
            else:
                value = -gap_open - (column - 1) * gap_extend
            pointer = end_pointer if column == 0 or local else deletion_pointer
            for lane in range(lanes):
                previous[column, lane] = value
                above_pointers[column, lane] = pointer
        if traceback:
            _store_row(above_pointers, stored[0])
        for lane in range(lanes):
            best_values[lane] = zero
            last_column_pointers[0, lane] = above_pointers[reference_length, lane]
            if lengths[lane] == 0:
                end_values[lane] = previous[reference_length, lane]
                for column in range(columns):
                    last_row_pointers[column, lane] = above_pointers[column, lane]
        for row in range(1, rows + 1):
            edge = zero if local or free_end_gaps else -gap_open - (row - 1) * gap_extend
            # Without terminal penalties, a deletion along a query's last row is free.
            free_lanes = False
            for lane in range(lanes):
                current[0, lane] = edge
                current_pointers[0, lane] = end_pointer if local else insertion_pointer
                free = free_end_gaps and row == lengths[lane]
                free_lanes = free_lanes or free
                left_open[lane] = zero if free else gap_open
                left_extend[lane] = zero if free else gap_extend
            _fill_row(
                previous,
                current,
                above_pointers,
                current_pointers,
                profile[row - 1],
                reference_codes,
                gap_open,
                gap_extend,
                zero,
                left_open,
                left_extend,
                free_lanes,
                free_end_gaps,
                floor,
                pointer_values,
                query_is_first,
            )
            if local:
                _update_local_best(
                    current,
                    row,
                    lengths,
                    query_is_first,
                    row_best,
                    best_values,
                    best_rows,
                    best_columns,
                )
            if traceback:
                _store_row(current_pointers, stored[row])
            for lane in range(lanes):
                last_column_pointers[row, lane] = current_pointers[reference_length, lane]
                if lengths[lane] == row:
                    end_values[lane] = current[reference_length, lane]
                    for column in range(columns):
                        last_row_pointers[column, lane] = current_pointers[column, lane]
            previous, current = current, previous
            above_pointers, current_pointers = current_pointers, above_pointers
        for lane in range(lanes):
            query = order[first + lane]
            length = lengths[lane]
            if local:
                end_row = best_rows[lane]
                end_column = best_columns[lane]
                scores[query] = best_values[lane]
            else:
                end_row = length
                end_column = reference_length
                scores[query] = end_values[lane]
            if trim_free_end_gaps:
                # Walk back over the free gaps at the end: deletions along the last row,
                # insertions down the last column.
                while True:
                    if end_row == length:
                        pointer = last_row_pointers[end_column, lane]
                    else:
                        pointer = last_column_pointers[end_row, lane]
                    if pointer == POINTER_DELETION and end_row == length:
                        end_column -= 1
                    elif pointer == POINTER_INSERTION and end_column == reference_length:
                        end_row -= 1
                    else:
                        break
            query_ends[query] = end_row
            reference_ends[query] = end_column
            if traceback:
                _trace(
                    stored,
                    lane,
                    end_row,
                    end_column,
                    query_codes[query_offsets[query] : query_offsets[query + 1]],
                    reference_codes,
                    match_table,
                    trim_free_end_gaps,
                    operations,
                    operation_offsets[query + 1],
                    operation_lengths,
                    query,
                    counts,
                    query_starts,
                    reference_starts,
                )


@njit(nogil=True, cache=True)
def _fill_row(
    previous,
    current,
    above_pointers,
    current_pointers,
    profile,
    reference_codes,
    gap_open,
    gap_extend,
    zero,
    left_open,
    left_extend,
    free_lanes,
    free_end_gaps,
    floor,
    pointer_values,
    query_is_first,
):
    """Compute one row (columns 1..n) of M and pointers for every lane.

    ``previous``/``above_pointers`` hold the row above, ``current``/``current_pointers`` this
    row with column 0 already set; ``profile[code]`` the row's substitution scores against a
    reference code.
    """
    reference_length = reference_codes.shape[0]
    insertion_pointer = pointer_values[POINTER_INSERTION]
    deletion_pointer = pointer_values[POINTER_DELETION]
    for column in range(1, reference_length + 1):
        # Without terminal penalties, an insertion down the last column is free.
        free = free_end_gaps and column == reference_length
        up_open = zero if free else gap_open
        up_extend = zero if free else gap_extend
        diagonal_values = previous[column - 1]
        row_profile = profile[reference_codes[column - 1]]
        # scikit-bio's tie order: the gap consuming its seq1 first, then the diagonal,
        # then the other gap. Orientation and per-lane costs are chosen here, outside
        # the lane loop, so that the loop stays free of branches and vectorizes.
        if query_is_first and free_lanes:
            _cells(
                diagonal_values,
                row_profile,
                previous[column],
                above_pointers[column],
                insertion_pointer,
                up_open,
                up_extend,
                current[column - 1],
                current_pointers[column - 1],
                deletion_pointer,
                left_open,
                left_extend,
                current[column],
                current_pointers[column],
                floor,
                pointer_values,
            )
        elif query_is_first:
            _cells(
                diagonal_values,
                row_profile,
                previous[column],
                above_pointers[column],
                insertion_pointer,
                up_open,
                up_extend,
                current[column - 1],
                current_pointers[column - 1],
                deletion_pointer,
                gap_open,
                gap_extend,
                current[column],
                current_pointers[column],
                floor,
                pointer_values,
            )
        elif free_lanes:
            _cells(
                diagonal_values,
                row_profile,
                current[column - 1],
                current_pointers[column - 1],
                deletion_pointer,
                left_open,
                left_extend,
                previous[column],
                above_pointers[column],
                insertion_pointer,
                up_open,
                up_extend,
                current[column],
                current_pointers[column],
                floor,
                pointer_values,
            )
        else:
            _cells(
                diagonal_values,
                row_profile,
                current[column - 1],
                current_pointers[column - 1],
                deletion_pointer,
                gap_open,
                gap_extend,
                previous[column],
                above_pointers[column],
                insertion_pointer,
                up_open,
                up_extend,
                current[column],
                current_pointers[column],
                floor,
                pointer_values,
            )


def _lane_value(values, lane):  # pragma: no cover - replaced by the overload below
    """``values[lane]`` for a per-lane array, ``values`` itself for a scalar."""
    raise NotImplementedError


@overload(_lane_value, inline="always")
def _lane_value_overload(values, lane):
    if isinstance(values, types.Array):
        return lambda values, lane: values[lane]
    return lambda values, lane: values


@njit(nogil=True, cache=True)
def _cells(
    diagonal_values,
    profile,
    first_values,
    first_pointers,
    first_pointer,
    first_open,
    first_extend,
    second_values,
    second_pointers,
    second_pointer,
    second_open,
    second_extend,
    out_values,
    out_pointers,
    floor,
    pointer_values,
):
    """One cell for every lane: the candidates, scikit-bio's first strict maximum, its pointer.

    The two gap moves are given in scikit-bio's tie order (the one consuming its ``seq1``
    first). For each: M and pointers of the cell it comes from, its pointer value (the move
    extends a gap when the source cell's pointer is the same move), and its open and extend
    costs, each a scalar or a per-lane array (free end gaps on some lanes' last row).
    ``diagonal_values`` is M of the cell diagonally before, ``profile`` the substitution
    scores. The loop body is branch-free so that it vectorizes over lanes.
    """
    end_pointer = pointer_values[POINTER_END]
    diagonal_pointer = pointer_values[POINTER_DIAGONAL]
    for lane in range(out_values.shape[0]):
        diagonal = diagonal_values[lane] + profile[lane]
        first_gap = first_values[lane] - (
            _lane_value(first_extend, lane)
            if first_pointers[lane] == first_pointer
            else _lane_value(first_open, lane)
        )
        second_gap = second_values[lane] - (
            _lane_value(second_extend, lane)
            if second_pointers[lane] == second_pointer
            else _lane_value(second_open, lane)
        )
        best = floor
        pointer = end_pointer
        take = first_gap > best
        pointer = first_pointer if take else pointer
        best = first_gap if take else best
        take = diagonal > best
        pointer = diagonal_pointer if take else pointer
        best = diagonal if take else best
        take = second_gap > best
        pointer = second_pointer if take else pointer
        best = second_gap if take else best
        out_values[lane] = best
        out_pointers[lane] = pointer


@njit(nogil=True, cache=True)
def _store_row(row_pointers, destination):
    """Copy one row of pointers (computed wide) into the ``uint8`` traceback storage."""
    source = row_pointers.ravel()
    target = destination.ravel()
    for position in range(source.shape[0]):
        target[position] = source[position]


@njit(nogil=True, cache=True)
def _update_local_best(
    values, row, lengths, query_is_first, row_best, best_values, best_rows, best_columns
):
    """Keep each lane's first maximum in scikit-bio's order after computing one more row.

    scikit-bio takes the first maximum row-major in its own frame: lowest row of this frame
    first when the query is ``seq2``, lowest column first when it is ``seq1``.
    """
    columns = values.shape[0]
    lanes = values.shape[1]
    for lane in range(lanes):
        row_best[lane] = values[0, lane]
    for column in range(1, columns):
        for lane in range(lanes):
            row_best[lane] = max(row_best[lane], values[column, lane])
    for lane in range(lanes):
        if row > lengths[lane]:
            continue
        value = row_best[lane]
        if value > best_values[lane] or (query_is_first and value == best_values[lane]):
            for column in range(1, columns):
                if values[column, lane] == value:
                    if value > best_values[lane] or column < best_columns[lane]:
                        best_values[lane] = value
                        best_rows[lane] = row
                        best_columns[lane] = column
                    break


@njit(nogil=True, cache=True)
def _trace(
    pointers,
    lane,
    row,
    column,
    query,
    reference,
    match_table,
    trim_free_end_gaps,
    operations,
    end,
    operation_lengths,
    query_number,
    counts,
    query_starts,
    reference_starts,
):
    """Follow the stored pointers from (row, column) to an end cell; write operations.

    The walk meets the operations last to first: it writes them backwards, ending just before
    ``operations[end]`` (the end of the query's capacity, see ``KernelOutputs``).

    With ``trim_free_end_gaps`` the walk also stops on reaching row 0 or column 0: the gaps
    along the borders are free end gaps.
    """
    written = 0
    matches = 0
    mismatches = 0
    insertions = 0
    deletions = 0
    while True:
        if trim_free_end_gaps and (row == 0 or column == 0):
            break
        pointer = pointers[row, column, lane]
        if pointer == POINTER_END:
            break
        if pointer == POINTER_DIAGONAL:
            if match_table[query[row - 1], reference[column - 1]]:
                operations[end - 1 - written] = MATCH
                matches += 1
            else:
                operations[end - 1 - written] = MISMATCH
                mismatches += 1
            row -= 1
            column -= 1
        elif pointer == POINTER_INSERTION:
            operations[end - 1 - written] = INSERTION
            insertions += 1
            row -= 1
        else:
            operations[end - 1 - written] = DELETION
            deletions += 1
            column -= 1
        written += 1
    operation_lengths[query_number] = written
    query_starts[query_number] = row
    reference_starts[query_number] = column
    counts[query_number, 0] = matches
    counts[query_number, 1] = mismatches
    counts[query_number, 2] = insertions
    counts[query_number, 3] = deletions
