"""Alphabet: encoding and validation, IUPAC codes, reverse complement (checked with Biopython)."""

from __future__ import annotations

import numpy as np
import pytest
from Bio.Seq import Seq

from streamalign import InvalidSequenceError
from streamalign.alphabet import (
    BASE_SETS,
    CODE_COUNT,
    INVALID_CODE,
    LETTERS,
    PAD_CODE,
    decode,
    encode,
    encode_string,
    invalid_positions,
    reverse_complement_ascii,
    reverse_complement_codes,
    reversed_positions,
)

IUPAC_BASES = {
    "A": "A", "C": "C", "G": "G", "T": "T", "N": "ACGT", "R": "AG", "Y": "CT", "S": "CG",
    "W": "AT", "K": "GT", "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG",
}  # fmt: skip


def ascii_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("ascii"), dtype=np.uint8)


def test_codes_follow_letters():
    assert LETTERS == "ACGTNRYSWKMBDHV" and CODE_COUNT == 15 and PAD_CODE == 15
    assert encode_string(LETTERS).tolist() == list(range(15))
    assert encode_string(LETTERS.lower()).tolist() == list(range(15))
    assert decode(np.arange(16, dtype=np.uint8)) == LETTERS + "-"
    assert encode_string(b"ACGT").tolist() == [0, 1, 2, 3]


def test_u_reads_as_t():
    assert encode_string("UuTt").tolist() == [3, 3, 3, 3]
    assert encode_string("ACGU").tolist() == encode_string("acgt").tolist()


def test_base_sets_match_iupac():
    for code, letter in enumerate(LETTERS):
        bases = "".join(base for bit, base in enumerate("ACGT") if BASE_SETS[code] >> bit & 1)
        assert bases == IUPAC_BASES[letter]


@pytest.mark.parametrize("character", [*"XEFIJLOPQZ*-. !1\t\n@", "\x00", "\xff"])
def test_invalid_characters(character):
    raw = np.frombuffer(("ACG" + character).encode("latin-1"), dtype=np.uint8)
    assert invalid_positions(raw).tolist() == [3]
    with pytest.raises(InvalidSequenceError) as caught:
        encode(raw, None, ["read1"])
    assert (caught.value.sequence, caught.value.character, caught.value.position) == (
        "read1",
        character,
        4,
    )
    assert str(caught.value) == (
        f"read1: invalid character {character!r} at position 4 (not an IUPAC nucleotide code)"
    )


def test_invalid_character_in_a_concatenated_batch_names_its_record():
    raw = ascii_array("ACGT" + "GG" + "TTQA" + "Z")
    offsets = np.array([0, 4, 6, 10, 11])
    with pytest.raises(InvalidSequenceError, match=r"^third: invalid character 'Q' at position 3"):
        encode(raw, offsets, ["first", "second", "third", "fourth"])
    with pytest.raises(InvalidSequenceError, match=r"^sequence 52: invalid character 'Q'"):
        encode(raw, offsets, None, first_record=50)
    # An empty record before the culprit does not shift the count.
    offsets = np.array([0, 4, 4, 6, 10, 11])
    with pytest.raises(InvalidSequenceError, match=r"^d: invalid character 'Q' at position 3"):
        encode(raw, offsets, ["a", "b", "c", "d", "e"])


def test_encode_string_error_names_the_sequence():
    with pytest.raises(InvalidSequenceError, match=r"^chr2: invalid character 'é' at position 2"):
        encode_string("Aé", name="chr2")
    with pytest.raises(InvalidSequenceError, match=r"^sequence 0: "):
        encode_string("A#")


def test_invalid_sequence_error_pickles():
    import pickle

    error = InvalidSequenceError("r", "!", 2)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.sequence, copy.character, copy.position, str(copy)) == ("r", "!", 2, str(error))


def test_empty_input():
    assert encode_string("").size == 0
    assert encode(np.zeros(0, np.uint8)).size == 0
    assert decode(np.zeros(0, np.uint8)) == ""


def test_reverse_complement_of_every_iupac_code_equals_biopython():
    for letter in LETTERS:
        assert decode(reverse_complement_codes(encode_string(letter))) == str(
            Seq(letter).reverse_complement()
        )
    text = "ACGTNRYSWKMBDHVAACCGGTTRRYY"
    assert decode(reverse_complement_codes(encode_string(text))) == str(
        Seq(text).reverse_complement()
    )


def test_complement_is_consistent_with_base_sets():
    swap = {1: 8, 2: 4, 4: 2, 8: 1}  # A<->T, C<->G
    complement = reverse_complement_codes(np.arange(15, dtype=np.uint8))[::-1]
    for code in range(15):
        bases = int(BASE_SETS[code])
        expected = sum(swap[bit] for bit in (1, 2, 4, 8) if bases & bit)
        assert BASE_SETS[complement[code]] == expected
        assert complement[complement[code]] == code


def test_reverse_complement_per_record():
    texts = ["ACGTT", "", "G", "RYN", ""]
    offsets = np.cumsum([0] + [len(text) for text in texts])
    codes = encode_string("".join(texts))
    reversed_codes = reverse_complement_codes(codes, offsets)
    pieces = [decode(reversed_codes[offsets[k] : offsets[k + 1]]) for k in range(len(texts))]
    assert pieces == [str(Seq(text).reverse_complement()) for text in texts]
    assert reversed_positions(offsets).tolist() == [4, 3, 2, 1, 0, 5, 8, 7, 6]
    assert reversed_positions(np.array([0])).size == 0


def test_reverse_complement_ascii_keeps_case_and_turns_u_into_a():
    texts = ["AcGtu", "nRy", "U"]
    offsets = np.cumsum([0] + [len(text) for text in texts])
    result = reverse_complement_ascii(ascii_array("".join(texts)), offsets).tobytes().decode()
    assert result == "aaCgT" + "rYn" + "A"
    # Bytes that are not nucleotides pass through unchanged (validation happens elsewhere).
    assert reverse_complement_ascii(ascii_array("A-"), np.array([0, 2])).tobytes() == b"-T"


def test_invalid_code_marker_is_not_a_code():
    assert INVALID_CODE >= CODE_COUNT
    assert encode_string("ACGTN").max() < CODE_COUNT
