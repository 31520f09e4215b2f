"""The chance rule for "mapped": Karlin-Altschul lambda and the best stretch of an alignment.

The stretch scores are checked against a plain-Python scan of each alignment's gapped rows,
lambda against its closed form, and the rule against real reads: MiSeq 16S reads aligned to
the E. coli gene are mapped, the same reads reverse complemented (the wrong strand) are not.
"""

from __future__ import annotations

import math
from pathlib import Path

import dnaio
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamalign import Aligner
from streamalign.scoring import Scoring
from streamalign.significance import CHANCE_EXPECTATION, ChanceFilter, chance_lambda

DATA = Path(__file__).parent / "data"
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def real_reads() -> list[str]:
    with dnaio.open(DATA / "sam1F.200.fastq.gz") as reads:
        return [record.sequence for record in reads]


def ecoli() -> str:
    with dnaio.open(DATA / "ecoli_16S.fa") as references:
        return next(iter(references)).sequence


def slow_best_stretch(alignment, scoring: Scoring) -> float:
    """Kadane's scan over the columns of the gapped rows, in plain Python."""
    query_row, reference_row = alignment.gapped_query, alignment.gapped_reference
    best = running = 0.0
    previous = ""
    for query_letter, reference_letter in zip(query_row, reference_row, strict=True):
        if query_letter == "-" or reference_letter == "-":
            kind = "I" if reference_letter == "-" else "D"
            column = -(scoring.gap_extend if previous == kind else scoring.gap_open)
        else:
            kind = "M"
            column = scoring.score_of(
                "ACGTNRYSWKMBDHV".index(query_letter.upper()),
                "ACGTNRYSWKMBDHV".index(reference_letter.upper()),
            )
        previous = kind
        running = max(0.0, running + column)
        best = max(best, running)
    return best


def test_lambda_of_the_defaults_has_its_closed_form() -> None:
    # 1/4 e^l + 3/4 e^(-2l) = 1  <=>  x^3 - 4x^2 + 3 = 0 with x = e^l, root (3 + sqrt 21) / 2.
    assert chance_lambda(Scoring()) == pytest.approx(math.log((3 + math.sqrt(21)) / 2), 1e-9)


def test_lambda_is_in_the_callers_units() -> None:
    # Doubling every score halves lambda; halving the scores (fractions, scaled) doubles it.
    base = chance_lambda(Scoring())
    assert base is not None
    doubled = chance_lambda(Scoring(match=2, mismatch=-4, gap_open=10, gap_extend=4))
    halved = chance_lambda(Scoring(match=0.5, mismatch=-1, gap_open=2.5, gap_extend=1))
    assert doubled == pytest.approx(base / 2, 1e-9)
    assert halved == pytest.approx(base * 2, 1e-9)


@pytest.mark.parametrize(
    "scoring", [Scoring(match=1, mismatch=0), Scoring(match=2, mismatch=-0.5), Scoring(match=-1)]
)
def test_no_chance_level_without_a_negative_expected_score(scoring: Scoring) -> None:
    assert chance_lambda(scoring) is None
    aligner = Aligner("ACGTACGTAC", scoring=scoring)
    batch = aligner.align_many(["TTTTTTTTTT"])
    assert ChanceFilter(aligner.references, scoring).mapped(batch).tolist() == [True]


@settings(max_examples=60, deadline=None)
@given(
    query=st.text("ACGTN", min_size=1, max_size=40),
    reference=st.text("ACGT", min_size=1, max_size=40),
    mode=st.sampled_from(["global", "semiglobal", "overlap", "local"]),
)
def test_stretch_scores_match_a_scan_of_the_gapped_rows(
    query: str, reference: str, mode: str
) -> None:
    aligner = Aligner(reference, mode)
    batch = aligner.align_many([query])
    stretch = ChanceFilter(aligner.references, aligner.scoring).stretch_scores(batch)
    assert stretch[0] == slow_best_stretch(batch[0], aligner.scoring)
    # A stretch is a local alignment: never above the optimal local score.
    assert stretch[0] <= Aligner(reference, "local").align(query).score


def test_thresholds_follow_the_formula() -> None:
    aligner = Aligner("A" * 1465)
    chance = ChanceFilter(aligner.references, aligner.scoring)
    threshold = chance.thresholds(np.array([250]), np.array([1465]))[0]
    expected = (math.log(250 * 1465) - math.log(CHANCE_EXPECTATION)) / chance_lambda(Scoring())
    assert threshold == pytest.approx(expected)
    assert 14.7 < threshold < 14.9


@pytest.mark.parametrize("mode", ["global", "semiglobal", "overlap", "local"])
def test_wrong_strand_reads_are_unmapped_and_real_ones_mapped(mode: str) -> None:
    reads = real_reads()
    aligner = Aligner(ecoli(), mode)
    chance = ChanceFilter(aligner.references, aligner.scoring)
    wrong_strand = [read.translate(COMPLEMENT)[::-1] for read in reads]
    assert not chance.mapped(aligner.align_many(wrong_strand)).any()
    if mode in ("semiglobal", "local"):  # the modes for reads inside a gene
        assert chance.mapped(aligner.align_many(reads)).mean() > 0.99


def test_random_reads_are_unmapped() -> None:
    generator = np.random.default_rng(7)
    reads = ["".join(generator.choice(list("ACGT"), 250)) for _ in range(100)]
    for mode in ("semiglobal", "local"):
        aligner = Aligner(ecoli(), mode)
        chance = ChanceFilter(aligner.references, aligner.scoring)
        assert not chance.mapped(aligner.align_many(reads)).any()
