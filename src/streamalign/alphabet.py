"""Nucleotide encoding: IUPAC codes to small integers, validation, reverse complement.

Codes: ``A C G T`` are 0-3, ``N`` is 4, then ``R Y S W K M B D H V`` are 5-14 (:data:`LETTERS`).
Lower case (soft-masked bases) is accepted and ``U`` is read as ``T``. Any other byte is invalid.

Example:
    >>> encode_string("ACGTNu").tolist()
    [0, 1, 2, 3, 4, 3]
    >>> decode(reverse_complement_codes(encode_string("AACGR"))).lower()
    'ycgtt'
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from .errors import InvalidSequenceError

#: Letters of the codes 0..14, in code order.
LETTERS = "ACGTNRYSWKMBDHV"
#: Number of valid codes.
CODE_COUNT = len(LETTERS)
#: Code used to pad queries inside the kernels (never produced by :func:`encode`).
PAD_CODE = CODE_COUNT
#: Marker for a byte that is not an IUPAC nucleotide code.
INVALID_CODE = 255

#: Bit set of the bases (A=1, C=2, G=4, T=8) each code stands for.
BASE_SETS = np.array([1, 2, 4, 8, 15, 5, 10, 6, 9, 12, 3, 14, 13, 11, 7], dtype=np.uint8)

_COMPLEMENT_LETTERS = "TGCANYRSWMKVHDB"

ENCODE_TABLE = np.full(256, INVALID_CODE, dtype=np.uint8)
for _code, _letter in enumerate(LETTERS):
    ENCODE_TABLE[ord(_letter)] = _code
    ENCODE_TABLE[ord(_letter.lower())] = _code
ENCODE_TABLE[ord("U")] = ENCODE_TABLE[ord("T")]
ENCODE_TABLE[ord("u")] = ENCODE_TABLE[ord("T")]

DECODE_TABLE = np.frombuffer(LETTERS.encode("ascii") + b"-", dtype=np.uint8).copy()
COMPLEMENT_CODES = np.array([LETTERS.index(letter) for letter in _COMPLEMENT_LETTERS], np.uint8)
COMPLEMENT_ASCII = np.arange(256, dtype=np.uint8)
for _letter, _complement in zip(LETTERS + "U", _COMPLEMENT_LETTERS + "A", strict=True):
    COMPLEMENT_ASCII[ord(_letter)] = ord(_complement)
    COMPLEMENT_ASCII[ord(_letter.lower())] = ord(_complement.lower())


def encode(
    sequences: np.ndarray,
    offsets: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    first_record: int = 0,
) -> np.ndarray:
    """Encode concatenated ASCII bytes into codes, raising on the first invalid byte.

    Args:
        sequences: ``uint8`` ASCII bytes of one or many concatenated sequences.
        offsets: record boundaries (``len(records) + 1``), used only to name the culprit.
        names: record names, used in the error message.
        first_record: stream number of the first record, for records without a name.

    Raises:
        InvalidSequenceError: naming the record, the character and its 1-based position.
    """
    codes, bad = _encode(sequences, ENCODE_TABLE)
    if bad >= 0:
        record, position = 0, bad
        if offsets is not None:
            record = int(np.searchsorted(offsets, bad, side="right")) - 1
            position = bad - int(offsets[record])
        name = names[record] if names is not None else f"sequence {first_record + record}"
        raise InvalidSequenceError(name, chr(int(sequences[bad])), position + 1)
    return codes


@njit(nogil=True, cache=True)
def _encode(sequences, table):
    """``table[sequences]`` and the index of the first invalid byte (-1: none), in one pass
    (numpy's fancy indexing and a separate check take five times longer)."""
    codes = np.empty(sequences.shape[0], np.uint8)
    invalid = np.uint8(0)
    for position in range(sequences.shape[0]):
        code = table[sequences[position]]
        codes[position] = code
        invalid |= np.uint8(code == INVALID_CODE)
    if invalid:
        for position in range(sequences.shape[0]):
            if codes[position] == INVALID_CODE:
                return codes, position
    return codes, -1


def encode_string(sequence: str | bytes, name: str = "sequence 0") -> np.ndarray:
    """Encode one sequence given as ``str`` or ``bytes``."""
    raw = sequence.encode("latin-1", "replace") if isinstance(sequence, str) else bytes(sequence)
    return encode(np.frombuffer(raw, dtype=np.uint8), None, [name])


def invalid_positions(sequences: np.ndarray) -> np.ndarray:
    """Indices of the bytes in ``sequences`` that are not IUPAC nucleotide codes."""
    codes, first_invalid = _encode(sequences, ENCODE_TABLE)
    if first_invalid < 0:  # the usual case: one compiled pass
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(codes == INVALID_CODE)


def decode(codes: np.ndarray) -> str:
    """Codes back to upper-case letters (``PAD_CODE`` decodes to ``-``)."""
    return DECODE_TABLE[codes].tobytes().decode("ascii")


def reverse_complement_codes(codes: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
    """Reverse complement of each record of concatenated codes (one record if no offsets)."""
    if offsets is None:
        return COMPLEMENT_CODES[codes[::-1]]
    return COMPLEMENT_CODES[codes[reversed_positions(offsets)]]


def reverse_complement_ascii(sequences: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Reverse complement of each record of concatenated ASCII bytes, keeping letter case."""
    return COMPLEMENT_ASCII[sequences[reversed_positions(offsets)]]


def reversed_positions(offsets: np.ndarray) -> np.ndarray:
    """Gather indices that reverse every record ``[offsets[k], offsets[k + 1])`` in place."""
    lengths = np.diff(offsets)
    total = int(offsets[-1]) if len(offsets) else 0
    mirror = np.repeat(offsets[:-1] + offsets[1:] - 1, lengths)
    return mirror - np.arange(total, dtype=np.int64)
