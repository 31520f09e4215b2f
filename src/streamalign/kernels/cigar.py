"""CIGAR strings for a whole batch in one compiled pass.

Example:
    >>> import numpy as np
    >>> operations = np.array([0, 0, 1, 2, 0], dtype=np.uint8)
    >>> text, bounds = cigar_text(operations, np.array([0, 3, 5]), np.frombuffer(b"=XID", np.uint8))
    >>> text.tobytes(), bounds.tolist()
    (b'2=1X1I1=', [0, 4, 8])
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def cigar_text(operations, operation_offsets, letters):
    """Run-length encode the operations of every record into one ASCII buffer.

    Args:
        operations: ``uint8`` operation codes of all records, concatenated.
        operation_offsets: ``int64`` record boundaries in ``operations`` (records + 1).
        letters: ``uint8`` letter of each operation code (``=XID`` or ``MMID``); runs are
            formed on letters, so ``=`` and ``X`` merge into one ``M`` run.

    Returns:
        ``(text, bounds)``: record ``k``'s CIGAR is ``text[bounds[k]:bounds[k + 1]]``.
    """
    count = operation_offsets.shape[0] - 1
    # A run takes at least one operation and writes at most 19 digits and a letter.
    text = np.empty(operations.shape[0] * 20 + 1, np.uint8)
    bounds = np.empty(count + 1, np.int64)
    digits = np.empty(20, np.uint8)
    written = 0
    for record in range(count):
        bounds[record] = written
        position = operation_offsets[record]
        end = operation_offsets[record + 1]
        while position < end:
            letter = letters[operations[position]]
            run_end = position + 1
            while run_end < end and letters[operations[run_end]] == letter:
                run_end += 1
            length = run_end - position
            digit_count = 0
            while length > 0:
                digits[digit_count] = 48 + length % 10
                length //= 10
                digit_count += 1
            for digit in range(digit_count - 1, -1, -1):
                text[written] = digits[digit]
                written += 1
            text[written] = letter
            written += 1
            position = run_end
    bounds[count] = written
    return text[:written], bounds
