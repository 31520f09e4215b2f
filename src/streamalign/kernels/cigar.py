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
def cigar_text(operations, operation_offsets, letters, separator=-1):
    """Run-length encode the operations of every record into one ASCII buffer.

    Args:
        operations: ``uint8`` operation codes of all records, concatenated.
        operation_offsets: ``int64`` record boundaries in ``operations`` (records + 1).
        letters: ``uint8`` letter of each operation code (``=XID`` or ``MMID``); runs are
            formed on letters, so ``=`` and ``X`` merge into one ``M`` run.
        separator: a byte written after each record's CIGAR, or -1 for none.

    Returns:
        ``(text, bounds)``: record ``k``'s CIGAR is ``text[bounds[k]:bounds[k + 1]]``
        (followed by the separator, if any).
    """
    count = operation_offsets.shape[0] - 1
    # A run of n operations writes at most len(str(n)) + 1 <= 2n bytes (+ 1 for the
    # speculative write past the last run).
    text = np.empty(operations.shape[0] * 2 + count + 1, np.uint8)
    bounds = np.empty(count + 1, np.int64)
    digits = np.empty(20, np.uint8)
    written = 0
    last = operations.shape[0] - 1
    for record in range(count):
        bounds[record] = written
        end = operation_offsets[record + 1]
        run = 0
        for position in range(operation_offsets[record], end):
            letter = letters[operations[position]]
            following = letters[operations[min(position + 1, last)]]
            ends = (position + 1 == end) | (following != letter)
            run += 1
            if run < 10:
                # Branch-free for short runs (random data would mispredict a run-end test):
                # write the run so far, keep it only where the run ends.
                text[written] = 48 + run
                text[written + 1] = letter
                written += 2 * ends
            elif ends:
                digit_count = 0
                while run > 0:
                    digits[digit_count] = 48 + run % 10
                    run //= 10
                    digit_count += 1
                for digit in range(digit_count - 1, -1, -1):
                    text[written] = digits[digit]
                    written += 1
                text[written] = letter
                written += 1
            run = 0 if ends else run
        if separator >= 0:
            text[written] = separator
            written += 1
    bounds[count] = written
    return text[:written], bounds
