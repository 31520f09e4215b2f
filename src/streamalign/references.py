"""The references of an aligner: one array of letters and one of codes, not a string each.

:class:`ReferenceSequences` is a read-only sequence of the reference strings (as given: lower
case kept) that stores them concatenated as ASCII bytes, with their codes
(:mod:`streamalign.alphabet`) and offsets. A reference set of 400,000 16S genes is then three
arrays instead of 800,000 Python objects, and when the aligner's k-mer index was opened from a
file (:func:`streamalign.search.indexfile.load_index`) the arrays are views of that file's
memory map: the set pickles as the index file's path, so worker processes and Dask workers
share the pages of one mapping instead of each receiving a copy.

Example:
    >>> references = ReferenceSequences.from_strings(["ACGTn", "GGA"], ["a", "b"])
    >>> len(references), references[0], list(references), references.codes(1).tolist()
    (2, 'ACGTn', ['ACGTn', 'GGA'], [2, 2, 0])
    >>> references.lengths.tolist(), references.piece(0, 1, 4)
    ([5, 3], 'CGT')
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np

from .alphabet import encode


class ReferenceSequences(Sequence[str]):
    """The references' letters (``ascii``), codes (``codes_all``) and ``offsets``
    (``len + 1``); item ``n`` is reference ``n`` as a string.

    Build with :meth:`from_strings`, or :meth:`from_index` for an index opened from a file.
    """

    def __init__(
        self,
        ascii: np.ndarray,
        codes_all: np.ndarray,
        offsets: np.ndarray,
        index: Any = None,
    ) -> None:
        self.ascii = ascii
        self.codes_all = codes_all
        self.offsets = offsets
        self.lengths = np.diff(offsets)
        self._bounds = offsets.tolist()
        self._index = index  # the MappedKmerIndex the arrays view, if any

    @classmethod
    def from_strings(cls, sequences: Sequence[str], names: Sequence[str]) -> ReferenceSequences:
        """The references ``sequences`` (named ``names`` in errors), encoded once.

        Raises:
            InvalidSequenceError: a reference holds a non-IUPAC character (named, with its
                1-based position).
        """
        raw = "".join(sequences).encode("latin-1", "replace")
        ascii = np.frombuffer(raw, dtype=np.uint8)
        offsets = np.zeros(len(sequences) + 1, dtype=np.int64)
        np.cumsum([len(sequence) for sequence in sequences], out=offsets[1:])
        return cls(ascii, encode(ascii, offsets, names), offsets)

    @classmethod
    def from_index(cls, index: Any) -> ReferenceSequences:
        """The references held by an index opened from a file (views of its mapping)."""
        return cls(index.sequences, index.reference_codes, index.reference_offsets, index)

    @classmethod
    def matching_index(
        cls, sequences: Sequence[str], names: Sequence[str], index: Any
    ) -> ReferenceSequences:
        """:meth:`from_index` when ``index`` was opened from a file and holds exactly
        ``sequences``, else :meth:`from_strings`."""
        if getattr(index, "sequences", None) is not None and _same_letters(sequences, index):
            return cls.from_index(index)
        return cls.from_strings(sequences, names)

    def __len__(self) -> int:
        return len(self._bounds) - 1

    @overload
    def __getitem__(self, number: int) -> str: ...

    @overload
    def __getitem__(self, number: slice) -> list[str]: ...

    def __getitem__(self, number: int | slice) -> str | list[str]:
        if isinstance(number, slice):
            return [self[item] for item in range(*number.indices(len(self)))]
        if number < 0:
            number += len(self)
        if not 0 <= number < len(self):
            raise IndexError(f"reference {number} of {len(self)}")
        return self.piece(number, 0, self._bounds[number + 1] - self._bounds[number])

    def __iter__(self) -> Iterator[str]:
        for number in range(len(self)):
            yield self[number]

    @property
    def index(self) -> Any:
        """The index opened from a file whose mapping these arrays view, or None."""
        return self._index

    def codes(self, number: int) -> np.ndarray:
        """The codes of reference ``number`` (a view)."""
        return self.codes_all[self._bounds[number] : self._bounds[number + 1]]

    def piece(self, number: int, start: int, end: int) -> str:
        """``self[number][start:end]`` without making the whole string."""
        first = self._bounds[number]
        return self.ascii[first + start : first + end].tobytes().decode("latin-1")

    def __reduce__(self) -> tuple[Any, ...]:
        if self._index is not None:  # the index pickles as its path: no copy of the arrays
            return (ReferenceSequences.from_index, (self._index,))
        return (ReferenceSequences, (self.ascii, self.codes_all, self.offsets))


class CodeViews(Sequence[np.ndarray]):
    """Reference ``n``'s codes as item ``n`` (views of one :class:`ReferenceSequences`)."""

    def __init__(self, references: ReferenceSequences) -> None:
        self.references = references

    def __len__(self) -> int:
        return len(self.references)

    @overload
    def __getitem__(self, number: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, number: slice) -> list[np.ndarray]: ...

    def __getitem__(self, number: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(number, slice):
            return [self[item] for item in range(*number.indices(len(self)))]
        return self.references.codes(number)


def _same_letters(sequences: Sequence[str], index: Any) -> bool:
    """Whether the index's references are ``sequences``, compared in slices (no copy of the
    whole set at once)."""
    offsets = index.reference_offsets
    if len(offsets) - 1 != len(sequences):
        return False
    lengths = np.fromiter((len(sequence) for sequence in sequences), np.int64, len(sequences))
    if not np.array_equal(lengths, np.diff(offsets)):
        return False
    step = 4096
    for first in range(0, len(sequences), step):
        last = min(first + step, len(sequences))
        given = "".join(sequences[first:last]).encode("latin-1", "replace")
        if given != index.sequences[offsets[first] : offsets[last]].tobytes():
            return False
    return True
