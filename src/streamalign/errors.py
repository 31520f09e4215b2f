"""Exceptions raised by streamalign.

Every error a user can trigger with bad input or options derives from :class:`StreamAlignError`,
so callers (and the command line) can catch one class and print a one-line message.

Example:
    >>> from streamalign.errors import InvalidSequenceError
    >>> str(InvalidSequenceError("read7", "!", 3))
    "read7: invalid character '!' at position 3 (not an IUPAC nucleotide code)"
"""

from __future__ import annotations


class StreamAlignError(Exception):
    """Base class of every error streamalign raises on purpose."""


class ScoringError(StreamAlignError, ValueError):
    """Scoring parameters that are contradictory or out of range."""


class InvalidSequenceError(StreamAlignError, ValueError):
    """A sequence holds a character that is not an IUPAC nucleotide code.

    Attributes:
        sequence: the record's id, or ``"sequence N"`` (0-based index) when it has none.
        character: the offending character.
        position: its 1-based position in the sequence.
    """

    def __init__(self, sequence: str, character: str, position: int, detail: str = "") -> None:
        self.sequence = sequence
        self.character = character
        self.position = position
        self.detail = detail or "not an IUPAC nucleotide code"
        super().__init__(
            f"{sequence}: invalid character {character!r} at position {position} ({self.detail})"
        )

    def __reduce__(self):  # keep pickling (process backends) working with our signature
        return (type(self), (self.sequence, self.character, self.position, self.detail))


class AlignmentTooLargeError(StreamAlignError, MemoryError):
    """A pair whose traceback matrix would not fit in the memory budget."""


class InputFormatError(StreamAlignError):
    """A FASTA/FASTQ input that cannot be parsed.

    The message names the file, and where known the 1-based line and record number.
    """


class IndexFileError(InputFormatError):
    """A k-mer index file (``streamalign index``) that cannot be used: not an index, another
    format version, truncated, damaged (a checksum differs), stale (its FASTA has changed), or
    built with another k or alphabet than asked. The message names the file."""


class DeviceError(StreamAlignError):
    """The GPU failed (a CUDA driver or runtime error): the run stops, no record is to blame."""


class DeviceUnavailableError(DeviceError):
    """``device="cuda"`` asked for, but no CUDA GPU (or no numba-cuda) is there to use."""
