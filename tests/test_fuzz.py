"""hypothesis fuzzing: random bytes into the readers, random parameters into the API.

Only documented exceptions may come out: ``InputFormatError`` from the readers, and
``ScoringError``/``InvalidSequenceError``/``ValueError``/``TypeError`` from the API.
"""

from __future__ import annotations

import gzip
import io
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamalign import Aligner, InputFormatError, InvalidSequenceError, Scoring, ScoringError
from streamalign.io.readers import read_batches

FUZZ = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

records = st.lists(
    st.tuples(st.text("ACGTN\r ", max_size=12), st.text("ACGTNRYacgtu-*!\r", max_size=30)),
    max_size=4,
)


def _read_all(data: bytes) -> int:
    count = 0
    for batch in read_batches("-", stdin=io.BytesIO(data), max_records=3, flush_seconds=None):
        assert len(batch.offsets) == len(batch) + 1
        count += len(batch)
    return count


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_give_records_or_an_input_format_error(data: bytes) -> None:
    try:
        _read_all(data)
    except InputFormatError as error:
        assert "\n" not in str(error)


@FUZZ
@given(records, st.sampled_from([">", "@"]), st.booleans(), st.integers(0, 40))
def test_mangled_fasta_and_fastq(items, marker, compress, cut) -> None:
    text = "".join(
        f"{marker}{name}\n{sequence}\n" + (f"+\n{'I' * len(sequence)}\n" if marker == "@" else "")
        for name, sequence in items
    ).encode()
    data = gzip.compress(text) if compress else text
    if cut:
        data = data[:-cut]
    try:
        _read_all(data)
    except InputFormatError as error:
        assert "\n" not in str(error)


numbers = st.one_of(
    st.integers(-20, 20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e300, -1e300, 1e-300, 2.5e17]),
    st.fractions(min_value=-10, max_value=10, max_denominator=8),
)


@FUZZ
@given(
    numbers,
    numbers,
    numbers,
    numbers,
    st.sampled_from(["global", "semiglobal", "overlap", "local", "other"]),
    st.sampled_from(["score0", "mismatch", "iupac", "bogus"]),
    st.text("ACGTNRY!x", max_size=20),
    st.text("ACGTN", max_size=20),
)
def test_random_parameters_give_results_or_documented_errors(
    match, mismatch, gap_open, gap_extend, mode, ambiguous, query, reference
) -> None:
    try:
        scoring = Scoring(
            match=match,
            mismatch=mismatch,
            gap_open=gap_open,
            gap_extend=gap_extend,
            ambiguous=ambiguous,
        )
        alignment = Aligner(reference, mode, scoring=scoring).align(query)
    except (ScoringError, InvalidSequenceError, ValueError, TypeError) as error:
        assert str(error)
        return
    assert 0 <= alignment.query_start <= alignment.query_end <= len(query)
    assert 0 <= alignment.reference_start <= alignment.reference_end <= len(reference)
    assert math.isfinite(alignment.score)
    assert len(alignment.gapped_query) == len(alignment.gapped_reference) == alignment.length
