"""Restore input order to results that finish out of order.

Workers finish batches in whatever order they like; a writer wants them back in the order they
were read. :class:`ReorderBuffer` holds early arrivals, keyed by their index, until every earlier
index has been released, and drops anything that arrives a second time.

Example:
    >>> buffer = ReorderBuffer()
    >>> buffer.push(1, "b"), list(buffer.pop_ready())
    (True, [])
    >>> buffer.push(0, "a"), list(buffer.pop_ready())
    (True, ['a', 'b'])
    >>> buffer.push(1, "b again")  # already released: dropped
    False
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["ReorderBuffer"]

ItemType = TypeVar("ItemType")


class ReorderBuffer(Generic[ItemType]):
    """Release items strictly in index order, each index exactly once.

    Args:
        first_index: the index of the first item to release (default 0).

    Example:
        >>> buffer = ReorderBuffer(first_index=5)
        >>> for index, item in [(7, "h"), (5, "f"), (6, "g")]:
        ...     _ = buffer.push(index, item)
        >>> list(buffer.pop_ready()), buffer.next_index, len(buffer)
        (['f', 'g', 'h'], 8, 0)
    """

    def __init__(self, first_index: int = 0) -> None:
        self._next_index = first_index
        self._waiting: dict[int, ItemType] = {}

    @property
    def next_index(self) -> int:
        """The index that must arrive before anything else can be released."""
        return self._next_index

    def __len__(self) -> int:
        """Number of items held back, waiting for an earlier index."""
        return len(self._waiting)

    def push(self, index: int, item: ItemType) -> bool:
        """Store ``item`` under ``index``.

        Returns:
            ``True`` if stored; ``False`` if that index was already released or is already held
            (a duplicate, e.g. a batch that ran twice), in which case ``item`` is dropped.
        """
        if index < self._next_index or index in self._waiting:
            return False
        self._waiting[index] = item
        return True

    def pop_ready(self) -> Iterator[ItemType]:
        """Yield (and forget) the items whose every earlier index has been released."""
        while self._next_index in self._waiting:
            item = self._waiting.pop(self._next_index)
            self._next_index += 1
            yield item
