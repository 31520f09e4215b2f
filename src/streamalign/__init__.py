"""streamalign: exact affine-gap alignment of huge DNA sequence streams.

Example:
    >>> import streamalign as sa
    >>> sa.align("GAGTTTAATCC", "GAGTTTGATCC").cigar
    '6=1X4='
"""

from .aligner import MODES, Aligner, align
from .errors import (
    AlignmentTooLargeError,
    InputFormatError,
    InvalidSequenceError,
    ScoringError,
    StreamAlignError,
)
from .records import SequenceBatch
from .results import Alignment, AlignmentBatch
from .scoring import Scoring

__version__ = "0.1.0"

__all__ = [
    "MODES",
    "Aligner",
    "Alignment",
    "AlignmentBatch",
    "AlignmentTooLargeError",
    "InputFormatError",
    "InvalidSequenceError",
    "Scoring",
    "ScoringError",
    "SequenceBatch",
    "StreamAlignError",
    "__version__",
    "align",
]
