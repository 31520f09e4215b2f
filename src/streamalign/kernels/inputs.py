"""The one input record of a kernel call, and its end-gap flags.

A kernel module exposes one validated entry, ``run(inputs, outputs)``, that takes a
:class:`KernelInput` and fills a :class:`~streamalign.kernels.outputs.KernelOutputs`; only that
function knows the order of its compiled kernel's positional arguments.

Example:
    >>> from streamalign.alphabet import encode_string
    >>> from streamalign.kernels.planning import plan_groups
    >>> codes = encode_string("ACGTACGT")
    >>> offsets = np.array([0, 3, 8])
    >>> inputs = KernelInput(
    ...     query_codes=codes,
    ...     query_offsets=offsets,
    ...     reference_codes=encode_string("ACGT"),
    ...     plan=plan_groups(np.diff(offsets), 4, lanes=8, memory_budget=1000, traceback=True),
    ...     scoring=KernelScoring.create(np.eye(16) * 3 - 2, np.eye(16), 5, 2, -1000, np.int16),
    ...     ends=EndFlags.from_ends(reference_start_free=True, reference_end_free=True),
    ...     traceback=True,
    ... )
    >>> inputs.lengths.tolist(), inputs.ends, int(inputs.ends)
    ([3, 5], <EndFlags.REFERENCE_START_FREE|REFERENCE_END_FREE: 12>, 12)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from .planning import GroupPlan


class EndFlags(enum.IntFlag):
    """Which ends of the two sequences may stay unaligned at no cost (``LOCAL``: all four,
    Smith-Waterman)."""

    NONE = 0
    QUERY_START_FREE = 1
    QUERY_END_FREE = 2
    REFERENCE_START_FREE = 4
    REFERENCE_END_FREE = 8
    LOCAL = 16

    @classmethod
    def from_ends(
        cls,
        query_start_free: bool = False,
        query_end_free: bool = False,
        reference_start_free: bool = False,
        reference_end_free: bool = False,
    ) -> EndFlags:
        """The flags of four end-gap switches.

        Example:
            >>> EndFlags.from_ends(query_start_free=True, query_end_free=True)
            <EndFlags.QUERY_START_FREE|QUERY_END_FREE: 3>
        """
        flags = cls.NONE
        if query_start_free:
            flags |= cls.QUERY_START_FREE
        if query_end_free:
            flags |= cls.QUERY_END_FREE
        if reference_start_free:
            flags |= cls.REFERENCE_START_FREE
        if reference_end_free:
            flags |= cls.REFERENCE_END_FREE
        return flags


#: All four ends free (the ``overlap`` mode), without local alignment's zero floor.
ALL_ENDS_FREE = (
    EndFlags.QUERY_START_FREE
    | EndFlags.QUERY_END_FREE
    | EndFlags.REFERENCE_START_FREE
    | EndFlags.REFERENCE_END_FREE
)


@dataclass(frozen=True)
class KernelScoring:
    """Scores as a kernel computes with them, all in one numeric type.

    Attributes:
        substitution: ``(codes, codes)`` scores ``[query code, reference code]``.
        match_table: ``uint8`` ``[query code, reference code]``, 1 where a column is ``=``.
        parameters: ``[gap_open, gap_extend, bound]`` in the type of ``substitution``;
            ``bound`` is the Gotoh kernel's minus infinity, the legacy kernel's floor.
    """

    substitution: np.ndarray
    match_table: np.ndarray
    parameters: np.ndarray

    @classmethod
    def create(
        cls,
        substitution: np.ndarray,
        match_table: np.ndarray,
        gap_open: float,
        gap_extend: float,
        bound: float,
        dtype: type,
    ) -> KernelScoring:
        """Tables and parameters converted to ``dtype`` (``uint8`` for the match table)."""
        return cls(
            substitution=np.ascontiguousarray(substitution, dtype=dtype),
            match_table=np.ascontiguousarray(match_table, dtype=np.uint8),
            parameters=np.array([gap_open, gap_extend, bound], dtype=dtype),
        )


@dataclass(frozen=True)
class KernelInput:
    """Everything a kernel call reads: queries, reference, groups, scores and end flags.

    Attributes:
        query_codes: ``uint8`` codes of all queries, concatenated.
        query_offsets: ``int64`` record boundaries, ``len(queries) + 1``.
        reference_codes: ``uint8`` codes of the reference.
        plan: the query groups and the traceback scratch they need.
        scoring: the scores in the kernel's numeric type.
        ends: the end-gap flags.
        traceback: compute the alignments (else scores and end cells only).
    """

    query_codes: np.ndarray
    query_offsets: np.ndarray
    reference_codes: np.ndarray
    plan: GroupPlan
    scoring: KernelScoring
    ends: EndFlags
    traceback: bool

    @property
    def lengths(self) -> np.ndarray:
        """Length of each query."""
        return np.diff(self.query_offsets)

    def check(self) -> None:
        """Raise ValueError unless the arrays have the types and shapes the kernels take."""
        for name, dtype in (
            ("query_codes", np.uint8),
            ("query_offsets", np.int64),
            ("reference_codes", np.uint8),
        ):
            array = getattr(self, name)
            if array.dtype != dtype or array.ndim != 1:
                raise ValueError(f"{name} must be a 1-D {np.dtype(dtype)} array")
        plan = self.plan
        if plan.order.dtype != np.int64 or plan.starts.dtype != np.int64:
            raise ValueError("the group plan's arrays must be int64")
        if len(plan.starts) != len(plan.lanes) + 1:
            raise ValueError("the group plan needs one start per group, and the end")
        scoring = self.scoring
        if scoring.parameters.dtype != scoring.substitution.dtype:
            raise ValueError("gap parameters and substitution scores must share one type")


@dataclass(frozen=True)
class BandInput:
    """The input of a banded traceback (:mod:`streamalign.kernels.banded`): a kernel input
    whose plan lists the banded queries, and per query (indexed by query number) its band of
    diagonals ``column - row`` and the end cell its score-only pass found.

    Attributes:
        kernel: queries, reference, plan (one group; scratch = the largest band), scoring
            (``int64``, ``bound`` a minus infinity far below any score) and end flags.
        lower_diagonals, upper_diagonals: ``int64`` first and last diagonal of each band.
        end_rows, end_columns: ``int64`` end cell of each query's optimal alignment.

    Example:
        >>> from streamalign.kernels.planning import GroupPlan
        >>> kernel = KernelInput(
        ...     np.zeros(4, np.uint8), np.array([0, 4]), np.zeros(4, np.uint8),
        ...     GroupPlan.single(np.array([0]), 4),
        ...     KernelScoring.create(np.eye(16), np.eye(16), 5, 2, -2**60, np.int64),
        ...     EndFlags.NONE, traceback=True)
        >>> band = BandInput(kernel, np.array([0]), np.array([0]), np.array([4]), np.array([4]))
        >>> band.check()
    """

    kernel: KernelInput
    lower_diagonals: np.ndarray
    upper_diagonals: np.ndarray
    end_rows: np.ndarray
    end_columns: np.ndarray

    def check(self) -> None:
        """Raise ValueError unless the arrays fit the kernel: one ``int64`` per query, each
        band holding its end cell's diagonal, scores in ``int64``."""
        self.kernel.check()
        if not self.kernel.traceback:
            raise ValueError("a banded kernel call is a traceback")
        if self.kernel.scoring.substitution.dtype != np.int64:
            raise ValueError("the banded kernel computes in int64")
        count = len(self.kernel.query_offsets) - 1
        arrays = (self.lower_diagonals, self.upper_diagonals, self.end_rows, self.end_columns)
        for array in arrays:
            if array.dtype != np.int64 or array.shape != (count,):
                raise ValueError("band arrays must be int64, one value per query")
        members = self.kernel.plan.order
        diagonals = self.end_columns[members] - self.end_rows[members]
        if np.any(self.lower_diagonals[members] > diagonals) or np.any(
            self.upper_diagonals[members] < diagonals
        ):
            raise ValueError("each band must hold its end cell")
        lengths = self.kernel.lengths[members]
        if (
            np.any(self.end_rows[members] > lengths)
            or np.any(self.end_columns[members] > len(self.kernel.reference_codes))
            or np.any(self.end_rows[members] < 0)
            or np.any(self.end_columns[members] < 0)
        ):
            raise ValueError("end cells must lie in the matrix")
