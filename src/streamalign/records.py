"""Batches of sequence records as compact numpy arrays.

A :class:`SequenceBatch` is what moves between the reader, the workers and the writers: the
sequences of many records concatenated into one ``uint8`` array (raw ASCII bytes) with an
``offsets`` array, so a batch crosses a process boundary as a few buffers, not one Python object
per record.

Example:
    >>> batch = SequenceBatch.from_strings(["ACGT", "GG"], names=["a", "b"])
    >>> len(batch), batch.sequence(1), batch.lengths().tolist()
    (2, 'GG', [4, 2])
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np


class DefaultNames(Sequence[str]):
    """The names ``sequence <n>`` of ``size`` records given without names, numbered from
    ``first``; each is made when asked for (20,000 f-strings cost more than encoding 20,000
    64-bp reads).

    Example:
        >>> names = DefaultNames(5, 3)
        >>> names[0], names[-1], names[1:], len(names)
        ('sequence 5', 'sequence 7', ['sequence 6', 'sequence 7'], 3)
        >>> names == ["sequence 5", "sequence 6", "sequence 7"]
        True
    """

    __slots__ = ("first", "size")

    def __init__(self, first: int, size: int) -> None:
        self.first = first
        self.size = size

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [f"sequence {self.first + k}" for k in range(*index.indices(self.size))]
        position = operator.index(index)
        if position < 0:
            position += self.size
        if not 0 <= position < self.size:
            raise IndexError("name index out of range")
        return f"sequence {self.first + position}"

    def __iter__(self) -> Iterator[str]:
        return (f"sequence {self.first + k}" for k in range(self.size))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DefaultNames):
            return self.size == other.size and (self.size == 0 or self.first == other.first)
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == self.size and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # like the list it stands for

    def __repr__(self) -> str:
        return f"DefaultNames(first={self.first}, size={self.size})"


@dataclass
class SequenceBatch:
    """Records of one batch, sequences as concatenated ASCII bytes.

    Attributes:
        names: record names (FASTA/FASTQ header up to the first whitespace); a list, or
            :class:`DefaultNames` for records given without names.
        sequences: ``uint8`` array, the ASCII bytes of every sequence, concatenated.
        offsets: ``int64`` array of ``len(names) + 1``; record ``k`` is
            ``sequences[offsets[k]:offsets[k + 1]]``.
        qualities: ``uint8`` ASCII quality bytes with the same offsets, or ``None`` (FASTA).
        index: the batch's 0-based position in the stream (used for ordering).
        first_record: 0-based number of the batch's first record in the whole stream.
        comments: the rest of each header line after the name (``""`` when absent), or ``None``.
    """

    names: Sequence[str]
    sequences: np.ndarray
    offsets: np.ndarray
    qualities: np.ndarray | None = None
    index: int = 0
    first_record: int = 0
    comments: list[str] | None = None

    def __len__(self) -> int:
        return len(self.names)

    def lengths(self) -> np.ndarray:
        """Length of every sequence, as ``int64``."""
        return np.diff(self.offsets)

    def sequence(self, k: int) -> str:
        """The ``k``-th sequence as a string."""
        return self.sequences[self.offsets[k] : self.offsets[k + 1]].tobytes().decode("ascii")

    def quality(self, k: int) -> str | None:
        """The ``k``-th quality string, or ``None`` for FASTA records."""
        if self.qualities is None:
            return None
        return self.qualities[self.offsets[k] : self.offsets[k + 1]].tobytes().decode("ascii")

    def take(self, selected: Sequence[int] | np.ndarray) -> SequenceBatch:
        """A new batch holding the records at positions ``selected``, in that order."""
        selected = np.asarray(selected, dtype=np.int64)
        starts = self.offsets[selected]
        lengths = self.offsets[selected + 1] - starts
        offsets = np.zeros(len(selected) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        gather = _gather_indices(starts, lengths)
        return SequenceBatch(
            names=[self.names[k] for k in selected],
            sequences=self.sequences[gather],
            offsets=offsets,
            qualities=None if self.qualities is None else self.qualities[gather],
            index=self.index,
            first_record=self.first_record,
            comments=None if self.comments is None else [self.comments[k] for k in selected],
        )

    @classmethod
    def concatenate(cls, batches: Sequence[SequenceBatch]) -> SequenceBatch:
        """The records of ``batches`` one after another (at least one batch; the index and
        first record number are the first batch's; qualities and comments are kept when
        every batch has them).

        Example:
            >>> first = SequenceBatch.from_strings(["ACGT"], names=["a"])
            >>> both = SequenceBatch.concatenate([first, SequenceBatch.from_strings(["GG"])])
            >>> list(both.names), both.sequence(1), both.offsets.tolist()
            (['a', 'sequence 0'], 'GG', [0, 4, 6])
        """
        if not batches:
            raise ValueError("at least one batch is needed")
        offsets = np.zeros(sum(len(batch) for batch in batches) + 1, dtype=np.int64)
        np.cumsum(np.concatenate([batch.lengths() for batch in batches]), out=offsets[1:])
        qualities = None
        if all(batch.qualities is not None for batch in batches):
            qualities = np.concatenate([batch.qualities for batch in batches])
        comments = None
        if all(batch.comments is not None for batch in batches):
            comments = [comment for batch in batches for comment in batch.comments or []]
        return cls(
            names=[name for batch in batches for name in batch.names],
            sequences=np.concatenate([batch.sequences for batch in batches]),
            offsets=offsets,
            qualities=qualities,
            index=batches[0].index,
            first_record=batches[0].first_record,
            comments=comments,
        )

    @classmethod
    def from_strings(
        cls,
        sequences: Iterable[str | bytes],
        names: Sequence[str] | None = None,
        qualities: Sequence[str | bytes] | None = None,
        index: int = 0,
        first_record: int = 0,
    ) -> SequenceBatch:
        """Build a batch from Python strings (or bytes)."""
        # latin-1 keeps one byte per character, so an invalid character is reported as itself
        # at its own position (characters beyond latin-1 become '?').
        items: list[Any] = sequences if isinstance(sequences, list) else list(sequences)
        if all(type(item) is str for item in items):  # one join, one encode: faster
            joined = "".join(items).encode("latin-1", "replace")
            pieces = items
        else:
            pieces = [
                item.encode("latin-1", "replace") if isinstance(item, str) else bytes(item)
                for item in items
            ]
            joined = b"".join(pieces)
        offsets = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, pieces), dtype=np.int64, count=len(items)), out=offsets[1:])
        data = np.frombuffer(joined, dtype=np.uint8).copy()
        if names is None:
            names = DefaultNames(first_record, len(items))
        quality_array = None
        if qualities is not None:
            joined = b"".join(
                item.encode("ascii") if isinstance(item, str) else bytes(item) for item in qualities
            )
            quality_array = np.frombuffer(joined, dtype=np.uint8).copy()
        if not isinstance(names, DefaultNames):
            names = list(names)
        return cls(names, data, offsets, quality_array, index, first_record)


def _gather_indices(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Flat indices of the ranges ``[starts[k], starts[k] + lengths[k])``, concatenated."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    range_starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=range_starts[1:])
    steps = np.ones(total, dtype=np.int64)
    nonempty = lengths > 0
    positions = range_starts[nonempty]
    previous_end = np.concatenate(([0], (starts + lengths)[nonempty][:-1]))
    steps[positions] = starts[nonempty] - previous_end + 1
    steps[0] = starts[nonempty][0]
    return np.cumsum(steps)
