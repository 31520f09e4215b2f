"""Edit operation codes and their letters: the one definition every layer imports.

The kernels write one ``uint8`` code per alignment column; results, CIGAR strings and the
writers turn the codes into letters by indexing a table with them.

Example:
    >>> codes = np.array([MATCH, MISMATCH, INSERTION, DELETION], dtype=np.uint8)
    >>> EXTENDED_LETTERS[codes].tobytes(), CLASSIC_LETTERS[codes].tobytes()
    (b'=XID', b'MMID')
"""

from __future__ import annotations

import numpy as np

#: A diagonal column whose bases match (``=``).
MATCH = 0
#: A diagonal column whose bases differ (``X``).
MISMATCH = 1
#: A query base against a gap in the reference (``I``).
INSERTION = 2
#: A reference base against a gap in the query (``D``).
DELETION = 3

#: The letter of each code, extended CIGAR style: ``"=XID"[code]``.
LETTERS = "=XID"
#: ``uint8`` ASCII letter of each code, extended CIGAR (``=`` and ``X``).
EXTENDED_LETTERS = np.frombuffer(LETTERS.encode("ascii"), dtype=np.uint8)
#: ``uint8`` ASCII letter of each code, classic CIGAR (``M`` for both matches and mismatches).
CLASSIC_LETTERS = np.frombuffer(b"MMID", dtype=np.uint8)
