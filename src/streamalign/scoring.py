"""Scoring: substitution scores, affine gap costs, ambiguity policy, integer scaling.

A gap of length ``k`` costs ``gap_open + (k - 1) * gap_extend``; the defaults are scikit-bio's
nucleotide defaults (match 1, mismatch -2, gap open 5, gap extend 2). Scores may be fractions
such as 0.5: they are scaled by a common denominator and computed exactly in integers.

Example:
    >>> scoring = Scoring(match=2, mismatch=-3, gap_open=2.5, gap_extend=0.5)
    >>> scoring.scale, int(scoring.integer_gap_open), scoring.to_user_units(7)
    (2, 5, 3.5)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .alphabet import BASE_SETS, CODE_COUNT, LETTERS, PAD_CODE
from .errors import ScoringError

AMBIGUITY_POLICIES = ("score0", "mismatch", "iupac")
RECURRENCES = ("gotoh", "skbio")
#: Largest common denominator accepted for fractional scores.
MAX_SCALE = 1_000_000

# NUC.4.4 (also called EDNAFULL), the NCBI nucleotide matrix, in this module's code order
# (A C G T N R Y S W K M B D H V). Values as distributed with NCBI BLAST and EMBOSS.
_NUC_4_4 = [
    [5, -4, -4, -4, -2, 1, -4, -4, 1, -4, 1, -4, -1, -1, -1],
    [-4, 5, -4, -4, -2, -4, 1, 1, -4, -4, 1, -1, -4, -1, -1],
    [-4, -4, 5, -4, -2, 1, -4, 1, -4, 1, -4, -1, -1, -4, -1],
    [-4, -4, -4, 5, -2, -4, 1, -4, 1, 1, -4, -1, -1, -1, -4],
    [-2, -2, -2, -2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1],
    [1, -4, 1, -4, -1, -1, -4, -2, -2, -2, -2, -3, -1, -3, -1],
    [-4, 1, -4, 1, -1, -4, -1, -2, -2, -2, -2, -1, -3, -1, -3],
    [-4, 1, 1, -4, -1, -2, -2, -1, -4, -2, -2, -1, -3, -3, -1],
    [1, -4, -4, 1, -1, -2, -2, -4, -1, -2, -2, -3, -1, -1, -3],
    [-4, -4, 1, 1, -1, -2, -2, -2, -2, -1, -4, -1, -1, -3, -3],
    [1, 1, -4, -4, -1, -2, -2, -2, -2, -4, -1, -3, -3, -1, -1],
    [-4, -1, -1, -1, -1, -3, -1, -1, -3, -1, -3, -1, -2, -2, -2],
    [-1, -4, -1, -1, -1, -1, -3, -3, -1, -1, -3, -2, -1, -2, -2],
    [-1, -1, -4, -1, -1, -3, -1, -3, -1, -3, -1, -2, -2, -1, -2],
    [-1, -1, -1, -4, -1, -1, -3, -1, -3, -3, -1, -2, -2, -2, -1],
]
NAMED_MATRICES: dict[str, list[list[int]]] = {"NUC.4.4": _NUC_4_4, "EDNAFULL": _NUC_4_4}


def _fraction(value: Any, what: str) -> Fraction:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ScoringError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ScoringError(f"{what} must be finite, got {value!r}")
    # Exact rationals (int, Fraction, numpy integers) as given; any other number through its
    # shortest float repr, so 0.1 means 1/10. (Testing for ``float`` let numpy.float32 reach
    # Fraction(), which raised a bare TypeError.)
    return Fraction(value) if isinstance(value, numbers.Rational) else Fraction(repr(number))


def _compatible(first: int, second: int) -> bool:
    return bool(BASE_SETS[first] & BASE_SETS[second])


@dataclass(frozen=True)
class Scoring:
    """Scores for substitutions and gaps, validated and converted to integers.

    Args:
        match: score of two identical unambiguous bases (used when ``matrix`` is None).
        mismatch: score of two different unambiguous bases.
        gap_open: cost (>= 0) of the first position of a gap.
        gap_extend: cost (>= 0) of each further position of the same gap.
        matrix: None, a name (``"NUC.4.4"``), a 4x4 array in ``ACGT`` order, a 15x15 array in
            :data:`streamalign.alphabet.LETTERS` order, or a dict of dicts keyed by letters
            (scikit-bio's form; letters it lacks follow the ambiguity policy).
        ambiguous: how a column with an ambiguity code (``N``, ``R``, ...) scores when the
            matrix does not say: ``"score0"`` (0, counted as a mismatch for identity),
            ``"mismatch"`` (the mismatch score, or the smallest matrix entry), or ``"iupac"``
            (codes that share a base score as a match and count as a match).
        recurrence: ``"gotoh"`` (exact optimal affine alignment) or ``"skbio"`` (scikit-bio's
            single-matrix recurrence, reproducing its results).
    """

    match: float = 1
    mismatch: float = -2
    gap_open: float = 5
    gap_extend: float = 2
    matrix: Any = None
    ambiguous: str = "score0"
    recurrence: str = "gotoh"
    scale: int = field(init=False, repr=False)
    integer_matrix: np.ndarray = field(init=False, repr=False, compare=False)
    match_table: np.ndarray = field(init=False, repr=False, compare=False)
    integer_gap_open: int = field(init=False, repr=False)
    integer_gap_extend: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.ambiguous not in AMBIGUITY_POLICIES:
            raise ScoringError(
                f"ambiguous must be one of {', '.join(AMBIGUITY_POLICIES)}, got {self.ambiguous!r}"
            )
        if self.recurrence not in RECURRENCES:
            raise ScoringError(
                f"recurrence must be one of {', '.join(RECURRENCES)}, got {self.recurrence!r}"
            )
        gap_open = _fraction(self.gap_open, "gap_open")
        gap_extend = _fraction(self.gap_extend, "gap_extend")
        if gap_open < 0 or gap_extend < 0:
            raise ScoringError(
                "gap_open and gap_extend are costs and must be >= 0 "
                f"(got gap_open={self.gap_open}, gap_extend={self.gap_extend})"
            )
        if self.recurrence == "gotoh" and gap_open < gap_extend:
            # With a first gap position cheaper than the next ones, a run of k gaps would cost
            # more than k one-base gaps, and the recurrence (like parasail's) takes the latter.
            raise ScoringError(
                f"gap_open ({self.gap_open}) must be >= gap_extend ({self.gap_extend}): a gap's "
                "first position costs gap_open, each further one gap_extend"
            )
        table = self._fraction_table()
        denominators = [gap_open.denominator, gap_extend.denominator]
        denominators += [value.denominator for row in table for value in row]
        scale = 1
        for denominator in denominators:
            scale = scale * denominator // math.gcd(scale, denominator)
        if scale > MAX_SCALE:
            raise ScoringError(f"scores need a resolution finer than 1/{MAX_SCALE}")
        largest = max([abs(value) for row in table for value in row] + [gap_open, gap_extend])
        if largest * scale >= 2**62:
            raise ScoringError(f"scores too large: |{float(largest):g}| exceeds 2**62 once scaled")
        integer = np.zeros((CODE_COUNT + 1, CODE_COUNT + 1), dtype=np.int64)
        for row in range(CODE_COUNT):
            for column in range(CODE_COUNT):
                integer[row, column] = int(table[row][column] * scale)
        matches = np.zeros((CODE_COUNT + 1, CODE_COUNT + 1), dtype=np.uint8)
        for row in range(CODE_COUNT):
            for column in range(CODE_COUNT):
                if self.ambiguous == "iupac":
                    matches[row, column] = _compatible(row, column)
                else:
                    matches[row, column] = row == column and row < 4
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "integer_matrix", integer)
        object.__setattr__(self, "match_table", matches)
        object.__setattr__(self, "integer_gap_open", int(gap_open * scale))
        object.__setattr__(self, "integer_gap_extend", int(gap_extend * scale))

    def _fraction_table(self) -> list[list[Fraction]]:
        """The 15x15 substitution table in exact fractions (``None`` entries filled by policy)."""
        size = CODE_COUNT
        cells: list[list[Fraction | None]] = [[None] * size for _ in range(size)]
        matrix = self.matrix
        if isinstance(matrix, str):
            if matrix.upper() not in NAMED_MATRICES:
                raise ScoringError(
                    f"unknown matrix {matrix!r}; known: {', '.join(sorted(NAMED_MATRICES))}"
                )
            matrix = NAMED_MATRICES[matrix.upper()]
        if matrix is None:
            match = _fraction(self.match, "match")
            mismatch = _fraction(self.mismatch, "mismatch")
            if match < mismatch:
                raise ScoringError(
                    f"match score ({self.match}) is below the mismatch score ({self.mismatch})"
                )
            for row in range(4):
                for column in range(4):
                    cells[row][column] = match if row == column else mismatch
        elif isinstance(matrix, Mapping):
            for first, row_scores in matrix.items():
                for second, value in row_scores.items():
                    for code_a in self._codes_of(first):
                        for code_b in self._codes_of(second):
                            cells[code_a][code_b] = _fraction(value, f"matrix[{first}][{second}]")
        else:
            array = np.asarray(matrix)
            if array.shape not in ((4, 4), (size, size)):
                raise ScoringError(
                    f"matrix must be 4x4 (ACGT) or {size}x{size} ({LETTERS}), got {array.shape}"
                )
            for row in range(array.shape[0]):
                for column in range(array.shape[1]):
                    cells[row][column] = _fraction(array[row, column].item(), "matrix entry")
        base = [[cells[r][c] for c in range(4)] for r in range(4)]
        if any(value is None for row_values in base for value in row_values):
            raise ScoringError("matrix must give a score for every pair of A, C, G, T")
        known_base = [[value for value in row_values if value is not None] for row_values in base]
        smallest = min(min(row_values) for row_values in known_base)
        filled: list[list[Fraction]] = []
        for row in range(size):
            filled_row = []
            for column in range(size):
                value = cells[row][column]
                if value is None:
                    value = self._ambiguous_score(row, column, base, smallest)
                filled_row.append(value)
            filled.append(filled_row)
        return filled

    @staticmethod
    def _codes_of(letter: Any) -> list[int]:
        text = str(letter).upper().replace("U", "T")
        if len(text) != 1 or text not in LETTERS:
            return []  # letters outside the nucleotide alphabet cannot occur in a sequence
        return [LETTERS.index(text)]

    def _ambiguous_score(self, row: int, column: int, base: Any, smallest: Fraction) -> Fraction:
        if self.ambiguous == "score0":
            return Fraction(0)
        if self.ambiguous == "mismatch":
            return smallest
        pairs = [
            base[first][second]
            for first in range(4)
            if BASE_SETS[row] >> first & 1
            for second in range(4)
            if BASE_SETS[column] >> second & 1
        ]
        return max(pairs)

    @property
    def padded_matrix(self) -> np.ndarray:
        """Integer scores indexed by code, with a zero row/column for :data:`PAD_CODE`."""
        assert self.integer_matrix.shape[0] == PAD_CODE + 1
        return self.integer_matrix

    def to_user_units(self, integer_score: int | np.ndarray) -> Any:
        """Convert kernel (scaled integer) scores back to the caller's units."""
        return integer_score / self.scale

    def score_of(self, query_code: int, reference_code: int) -> float:
        """Score of one column, in the caller's units."""
        return float(self.integer_matrix[query_code, reference_code]) / self.scale
