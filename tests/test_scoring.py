"""Scoring: validation, exact integer scaling of fractional scores, matrices, ambiguity codes."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest

from streamalign import Scoring, ScoringError
from streamalign.alphabet import LETTERS, PAD_CODE
from streamalign.scoring import MAX_SCALE, NAMED_MATRICES

A, C, G, T, N = range(5)
R, Y = LETTERS.index("R"), LETTERS.index("Y")


def test_defaults_are_scikit_bio_nucleotide_defaults():
    scoring = Scoring()
    assert (scoring.match, scoring.mismatch, scoring.gap_open, scoring.gap_extend) == (1, -2, 5, 2)
    assert scoring.scale == 1
    assert (scoring.integer_gap_open, scoring.integer_gap_extend) == (5, 2)
    assert scoring.integer_matrix[A, A] == 1 and scoring.integer_matrix[A, C] == -2
    assert scoring.ambiguous == "score0" and scoring.recurrence == "gotoh"


@pytest.mark.parametrize(
    "fields, scale",
    [
        ({"match": 1, "mismatch": -1.5, "gap_open": 2.5, "gap_extend": 0.5}, 2),
        ({"gap_extend": 0.25}, 4),
        ({"gap_open": 0.1, "gap_extend": 0.05}, 20),
        ({"match": Fraction(1, 3), "mismatch": Fraction(-1, 7)}, 21),
        ({"match": 2, "mismatch": -3, "gap_open": 5, "gap_extend": 2}, 1),
        ({"match": np.int64(2), "gap_open": np.float64(2.5)}, 2),
        ({"gap_open": np.float32(2.5), "gap_extend": np.float32(0.75)}, 4),
        ({"match": "2", "gap_extend": "0.5"}, 2),
    ],
)
def test_fractional_scores_are_scaled_by_a_common_denominator(fields, scale):
    scoring = Scoring(**fields)
    assert scoring.scale == scale
    # Every integer is exactly the scaled value.
    assert Fraction(scoring.integer_gap_open, scale) == _exact(scoring.gap_open)
    assert Fraction(scoring.integer_gap_extend, scale) == _exact(scoring.gap_extend)
    assert Fraction(int(scoring.integer_matrix[A, A]), scale) == _exact(scoring.match)
    assert Fraction(int(scoring.integer_matrix[G, T]), scale) == _exact(scoring.mismatch)
    assert scoring.score_of(A, A) == float(_exact(scoring.match))
    assert scoring.to_user_units(7 * scale) == 7
    assert np.array_equal(scoring.to_user_units(np.array([scale, -2 * scale])), [1.0, -2.0])


def _exact(value) -> Fraction:
    """The value a score stands for: exact for rationals, the shortest decimal otherwise."""
    if isinstance(value, (int, Fraction, np.integer)):
        return Fraction(value)
    return Fraction(repr(float(value)))


def test_documented_scaling_example():
    scoring = Scoring(match=2, mismatch=-3, gap_open=2.5, gap_extend=0.5)
    assert (scoring.scale, scoring.integer_gap_open, scoring.to_user_units(7)) == (2, 5, 3.5)


def test_scores_needing_too_fine_a_resolution_are_refused():
    with pytest.raises(ScoringError, match="resolution"):
        Scoring(match=1 / 3)  # 0.3333333333333333 is a fraction of 10**16
    with pytest.raises(ScoringError, match="resolution"):
        Scoring(gap_extend=Fraction(1, MAX_SCALE + 1))
    assert Scoring(gap_extend=Fraction(1, MAX_SCALE)).scale == MAX_SCALE


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"gap_open": -1}, "must be >= 0"),
        ({"gap_extend": -1}, "must be >= 0"),
        ({"match": -1, "mismatch": 0}, "below the mismatch"),
        ({"ambiguous": "N"}, "ambiguous must be one of score0, mismatch, iupac"),
        ({"recurrence": "sw"}, "recurrence must be one of gotoh, skbio"),
        ({"matrix": "PAM250"}, "unknown matrix 'PAM250'"),
        ({"matrix": np.zeros((5, 5))}, "must be 4x4"),
        ({"matrix": {"A": {"A": 1}}}, "every pair of A, C, G, T"),
        ({"match": None}, "match must be a number"),
        ({"gap_extend": float("nan")}, "finite"),
    ],
)
def test_invalid_scoring(fields, message):
    with pytest.raises(ScoringError, match=message):
        Scoring(**fields)


def test_scoring_error_is_a_value_error():
    assert issubclass(ScoringError, ValueError)


def test_zero_costs_and_equal_match_mismatch_are_allowed():
    scoring = Scoring(match=0, mismatch=0, gap_open=0, gap_extend=0)
    assert scoring.scale == 1 and not scoring.integer_matrix.any()


def test_nuc_4_4_equals_biopython():
    from Bio.Align import substitution_matrices

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        biopython = substitution_matrices.load("NUC.4.4")
    for name in ("NUC.4.4", "EDNAFULL", "nuc.4.4", "ednafull"):
        scoring = Scoring(matrix=name)
        for row, first in enumerate(LETTERS):
            for column, second in enumerate(LETTERS):
                assert scoring.integer_matrix[row, column] == biopython[first][second], (
                    name,
                    first,
                    second,
                )
    assert set(NAMED_MATRICES) == {"NUC.4.4", "EDNAFULL"}


def test_pad_code_scores_zero():
    scoring = Scoring(matrix="NUC.4.4")
    assert scoring.integer_matrix.shape == (PAD_CODE + 1, PAD_CODE + 1)
    assert (
        not scoring.padded_matrix[PAD_CODE].any() and not scoring.padded_matrix[:, PAD_CODE].any()
    )


def test_ambiguity_policy_score0():
    scoring = Scoring(match=2, mismatch=-3, ambiguous="score0")
    assert scoring.integer_matrix[N, A] == scoring.integer_matrix[A, N] == 0
    assert scoring.integer_matrix[N, N] == scoring.integer_matrix[R, A] == 0
    # Only identical unambiguous bases are matches ('='); N against N is a mismatch column.
    assert scoring.match_table[A, A] and not scoring.match_table[N, N]
    assert not scoring.match_table[R, A] and not scoring.match_table[A, C]


def test_ambiguity_policy_mismatch():
    scoring = Scoring(match=2, mismatch=-3, ambiguous="mismatch")
    assert scoring.integer_matrix[N, A] == scoring.integer_matrix[R, R] == -3
    matrix = Scoring(
        matrix=[[4, -1, -2, -1], [-1, 4, -1, -5], [-2, -1, 4, -1], [-1, -1, -1, 4]],
        ambiguous="mismatch",
    )
    assert matrix.integer_matrix[N, A] == -5  # the smallest entry of the matrix
    assert not scoring.match_table[N, N]


def test_ambiguity_policy_iupac():
    scoring = Scoring(match=2, mismatch=-3, ambiguous="iupac")
    # R = A or G: compatible with A and G (a match), not with C or T.
    assert scoring.integer_matrix[R, A] == scoring.integer_matrix[G, R] == 2
    assert scoring.integer_matrix[R, C] == scoring.integer_matrix[R, Y] == -3
    assert scoring.integer_matrix[N, T] == scoring.integer_matrix[N, N] == 2
    assert scoring.match_table[R, A] and scoring.match_table[N, N]
    assert not scoring.match_table[R, Y] and not scoring.match_table[C, R]
    for row in range(len(LETTERS)):
        for column in range(len(LETTERS)):
            assert scoring.match_table[row, column] == scoring.match_table[column, row]


def test_dict_matrix_like_scikit_bio():
    matrix = {
        "A": {"A": 5, "C": -4, "G": -4, "T": -4, "N": 0.5},
        "C": {"A": -4, "C": 5, "G": -4, "T": -4},
        "g": {"A": -4, "C": -4, "G": 5, "T": -4},
        "U": {"A": -4, "C": -4, "G": -4, "U": 5},
        "*": {"*": 10},  # letters outside the alphabet are ignored
    }
    scoring = Scoring(matrix=matrix, gap_open=2, gap_extend=1, ambiguous="mismatch")
    assert scoring.scale == 2
    assert scoring.score_of(A, N) == 0.5
    assert scoring.score_of(N, A) == -4  # not given: the ambiguity policy (smallest entry)
    assert scoring.score_of(G, G) == scoring.score_of(T, T) == 5


def test_array_matrices():
    four = np.array([[1, -1, -2, -1], [-1, 1, -1, -2], [-2, -1, 1, -1], [-1, -2, -1, 1]])
    scoring = Scoring(matrix=four, ambiguous="iupac")
    assert np.array_equal(scoring.integer_matrix[:4, :4], four)
    assert scoring.integer_matrix[R, A] == 1  # best of (A, A), (G, A)
    full = np.arange(15 * 15).reshape(15, 15) / 2
    scoring = Scoring(matrix=full)
    assert scoring.scale == 2
    assert np.array_equal(scoring.integer_matrix[:15, :15], np.arange(15 * 15).reshape(15, 15))
