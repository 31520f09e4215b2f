"""SequenceBatch and DefaultNames (streamalign.records) against plain Python lists of strings."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from streamalign import Aligner
from streamalign.records import DefaultNames, SequenceBatch


def random_strings(generator: np.random.Generator, count: int) -> list[str]:
    """DNA strings of 0 to 12 bases (empty ones included, on purpose)."""
    lengths = generator.integers(0, 13, size=count)
    return ["".join(generator.choice(list("ACGT"), size=length)) for length in lengths]


def test_from_strings_concatenates_with_offsets() -> None:
    batch = SequenceBatch.from_strings(["ACGT", "", "GGA"], names=["a", "b", "c"])
    assert batch.sequences.tobytes() == b"ACGTGGA"
    assert batch.offsets.tolist() == [0, 4, 4, 7]
    assert batch.lengths().tolist() == [4, 0, 3]
    assert [batch.sequence(k) for k in range(3)] == ["ACGT", "", "GGA"]
    assert batch.names == ["a", "b", "c"] and len(batch) == 3
    assert batch.qualities is None and batch.quality(0) is None


def test_from_strings_accepts_bytes_and_keeps_qualities() -> None:
    batch = SequenceBatch.from_strings([b"AC", "GTT"], qualities=["II", b"#5I"])
    assert batch.sequences.tobytes() == b"ACGTT"
    assert [batch.quality(0), batch.quality(1)] == ["II", "#5I"]


def test_characters_outside_ascii_stay_at_their_position() -> None:
    # latin-1 keeps one byte per character; beyond latin-1 a character becomes "?".
    batch = SequenceBatch.from_strings(["AC\u00e9T", "G\u20acC"])
    assert batch.offsets.tolist() == [0, 4, 7]
    assert batch.sequences.tolist()[2] == 0xE9
    assert batch.sequences[4:7].tobytes() == b"G?C"


def test_records_given_without_names_are_numbered_from_the_first_record() -> None:
    batch = SequenceBatch.from_strings(["AC", "GT"], first_record=41)
    assert isinstance(batch.names, DefaultNames)
    assert list(batch.names) == ["sequence 41", "sequence 42"]
    assert batch.take([1]).names == ["sequence 42"]


@pytest.mark.parametrize("seed", range(5))
def test_take_equals_selecting_from_the_lists(seed: int) -> None:
    generator = np.random.default_rng(seed)
    sequences = random_strings(generator, 40)
    names = [f"read{k}" for k in range(40)]
    qualities = [
        "".join(chr(33 + (k + i) % 40) for i in range(len(s))) for k, s in enumerate(sequences)
    ]
    batch = SequenceBatch.from_strings(sequences, names=names, qualities=qualities, index=7)
    batch.comments = [f"comment {k}" for k in range(40)]
    selected = generator.integers(0, 40, size=25)  # repeats and any order
    taken = batch.take(selected)
    assert [taken.sequence(k) for k in range(len(taken))] == [sequences[k] for k in selected]
    assert [taken.quality(k) for k in range(len(taken))] == [qualities[k] for k in selected]
    assert taken.names == [names[k] for k in selected]
    assert taken.comments == [f"comment {k}" for k in selected]
    assert taken.index == 7
    assert taken.offsets[-1] == len(taken.sequences) == sum(len(sequences[k]) for k in selected)


def test_take_of_nothing_and_of_empty_sequences() -> None:
    batch = SequenceBatch.from_strings(["", "ACG", ""], names=["x", "y", "z"])
    nothing = batch.take([])
    assert len(nothing) == 0 and nothing.offsets.tolist() == [0] and nothing.sequences.size == 0
    empties = batch.take([2, 0])
    assert empties.names == ["z", "x"] and empties.offsets.tolist() == [0, 0, 0]
    assert batch.take([1, 2, 1]).sequences.tobytes() == b"ACGACG"


def test_default_names_behave_like_the_list_they_stand_for() -> None:
    names = DefaultNames(5, 3)
    expected = ["sequence 5", "sequence 6", "sequence 7"]
    assert list(names) == expected and len(names) == 3
    assert names[0] == expected[0] and names[-1] == expected[-1] and names[-3] == expected[0]
    assert names[1:] == expected[1:] and names[::-1] == expected[::-1] and names[5:] == []
    assert names == expected and names != expected[:2] and names != ["sequence 5"] * 3
    assert "sequence 6" in names and "sequence 8" not in names
    assert names.index("sequence 7") == 2
    for position in (3, -4):
        with pytest.raises(IndexError):
            names[position]
    with pytest.raises(TypeError):
        hash(names)
    assert repr(names) == "DefaultNames(first=5, size=3)"


def test_default_names_compare_by_the_names_they_make() -> None:
    assert DefaultNames(5, 2) == DefaultNames(5, 2)
    assert DefaultNames(5, 2) != DefaultNames(6, 2)
    assert DefaultNames(0, 0) == DefaultNames(9, 0) == []
    assert DefaultNames(0, 1) != "sequence 0"  # a string is not a sequence of names


def test_default_names_survive_pickling() -> None:
    names = DefaultNames(12, 4)
    restored = pickle.loads(pickle.dumps(names))
    assert isinstance(restored, DefaultNames) and restored == names
    assert list(restored) == [f"sequence {k}" for k in range(12, 16)]


def test_a_batch_survives_pickling() -> None:
    batch = SequenceBatch.from_strings(["ACGT", "GG"], qualities=["IIII", "##"], first_record=3)
    restored = pickle.loads(pickle.dumps(batch))
    assert restored.names == batch.names and restored.first_record == 3
    assert np.array_equal(restored.sequences, batch.sequences)
    assert np.array_equal(restored.offsets, batch.offsets)
    assert restored.quality(1) == "##"


def test_aligned_queries_keep_the_names_they_were_given_or_numbered_ones() -> None:
    aligner = Aligner("ACGTACGT")
    named = aligner.align_many(["ACGT", "ACGA"], names=["first", "second"])
    assert [alignment.query_name for alignment in named] == ["first", "second"]
    unnamed = aligner.align_many(["ACGT", "ACGA", "TTTT"])
    assert isinstance(unnamed.queries.names, DefaultNames)
    assert [alignment.query_name for alignment in unnamed] == [
        "sequence 0",
        "sequence 1",
        "sequence 2",
    ]
