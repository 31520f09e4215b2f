"""Drop-in replacements for scikit-bio's pure-Python pairwise aligners: same answers, fast.

``global_pairwise_align_nucleotide``, ``global_pairwise_align``,
``local_pairwise_align_nucleotide`` and ``local_pairwise_align`` take the arguments of
scikit-bio 0.7's functions of the same names, with the same defaults, and return the very same
gapped sequences, score and start/end positions, computed by the numba kernel of
:mod:`streamalign.kernels.legacy` (scikit-bio's recurrence, not Gotoh's: see there). The
``*_many`` helpers align many queries against one reference in one kernel call.

With scikit-bio installed the result is scikit-bio's ``(TabularMSA, score,
start_end_positions)``; without it (or with ``as_strings=True``) a :class:`PairwiseAlignment`,
a named tuple of the two gapped strings, the score and the positions, which unpacks the same way.

Inputs are ``skbio.DNA``/``skbio.RNA`` objects (or a ``TabularMSA`` holding one sequence), or
plain strings or bytes (read case-insensitively, returned in upper case). As in scikit-bio, the
gap characters ``-`` and ``.`` may appear in an input and score 0 against anything.

Differences from scikit-bio, all deliberate:

- A character outside the substitution matrix raises :class:`~streamalign.InvalidSequenceError`
  (a ``ValueError``, as scikit-bio raises) whose message names the sequence and the character's
  1-based position. With ``ambiguous="score0"``, ``"mismatch"`` or ``"iupac"`` such IUPAC codes
  score by streamalign's ambiguity policy instead (see :class:`~streamalign.Scoring`).
- Aligning a multiple alignment (a ``TabularMSA`` of several sequences) and protein sequences
  are not supported; scores and penalties must be finite.
- No ``PendingDeprecationWarning``.

Example:
    >>> result = global_pairwise_align_nucleotide(
    ...     "GAGTTTGATCC", "GAGTTGATCC", penalize_terminal_gaps=True, as_strings=True)
    >>> gapped, score, positions = result
    >>> gapped, score, positions
    (('GAGTTTGATCC', 'GAGTT-GATCC'), 5.0, [(0, 10), (0, 9)])
    >>> [r.score for r in global_pairwise_align_nucleotide_many(
    ...     ["GAGTTTGATCC", "GAGTTGATCC"], "GAGTTTGATCC", as_strings=True)]
    [11.0, 5.0]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .. import _config
from ..alphabet import BASE_SETS, CODE_COUNT, ENCODE_TABLE, INVALID_CODE, LETTERS
from ..errors import InvalidSequenceError, ScoringError
from ..kernels import legacy
from ..kernels.operations import DELETION, INSERTION
from ..kernels.outputs import KernelOutputs
from ..scoring import AMBIGUITY_POLICIES

__all__ = [
    "PairwiseAlignment",
    "global_pairwise_align",
    "global_pairwise_align_many",
    "global_pairwise_align_nucleotide",
    "global_pairwise_align_nucleotide_many",
    "local_pairwise_align",
    "local_pairwise_align_many",
    "local_pairwise_align_nucleotide",
    "local_pairwise_align_nucleotide_many",
]

#: Code of the gap characters ``-`` and ``.`` (score 0 against anything, as in scikit-bio).
GAP_CODE = CODE_COUNT
#: Code of ``U``, kept apart from ``T`` because scikit-bio's matrices score them apart.
URACIL_CODE = CODE_COUNT + 1
TABLE_SIZE = CODE_COUNT + 2
GAP_CHARACTERS = "-."

_CODES = ENCODE_TABLE.copy()
_CODES[ord("U")] = URACIL_CODE
_CODES[ord("u")] = URACIL_CODE
for _gap in GAP_CHARACTERS:
    _CODES[ord(_gap)] = GAP_CODE
#: Letter of each code (``-`` for the gap code).
_CODE_LETTERS = LETTERS + "-U"
#: Bases (A=1, C=2, G=4, T=8) each code stands for; U stands for T.
_BASE_SETS = np.append(BASE_SETS, [0, 8]).astype(np.uint8)

_ADVICE = (
    "pass ambiguous='score0', 'mismatch' or 'iupac' to score IUPAC codes by streamalign's "
    "ambiguity policy instead"
)


class PairwiseAlignment(NamedTuple):
    """One pairwise result when scikit-bio is not used; unpacks like scikit-bio's tuple.

    Attributes:
        msa: the two gapped sequences, ``seq1`` first.
        score: the alignment score.
        start_end_positions: ``[(seq1 start, seq1 end), (seq2 start, seq2 end)]``, 0-based,
            ends inclusive (an empty span is ``(0, -1)``), as scikit-bio reports them.
    """

    msa: tuple[str, str]
    score: float
    start_end_positions: list[tuple[int, int]]


@dataclass(frozen=True)
class _Input:
    """One input sequence: upper-case text, and what scikit-bio's output needs of it."""

    text: str
    name: str
    sequence_type: type | None  # skbio.DNA / skbio.RNA, or None for a plain string
    metadata: dict[str, Any] | None


def global_pairwise_align_nucleotide(
    seq1: Any,
    seq2: Any,
    gap_open_penalty: float = 5,
    gap_extend_penalty: float = 2,
    match_score: float = 1,
    mismatch_score: float = -2,
    substitution_matrix: Any = None,
    penalize_terminal_gaps: bool = False,
    *,
    ambiguous: str | None = None,
    as_strings: bool = False,
) -> Any:
    """scikit-bio's ``global_pairwise_align_nucleotide``, exactly (same recurrence and ties).

    Args:
        seq1, seq2: ``DNA``/``RNA`` objects, or strings.
        gap_open_penalty, gap_extend_penalty: subtracted for the first and each further gap
            position (as scikit-bio decides them: see :mod:`streamalign.kernels.legacy`).
        match_score, mismatch_score: used when ``substitution_matrix`` is None (rounded to
            float32, as scikit-bio's identity matrix stores them).
        substitution_matrix: dict of dicts of scores, ``[seq1 character][seq2 character]``.
        penalize_terminal_gaps: False (scikit-bio's default) makes gaps at either end of
            either sequence free.
        ambiguous: None (scikit-bio's behaviour: characters outside the matrix raise), or an
            ambiguity policy of :class:`~streamalign.Scoring` to score them.
        as_strings: return a :class:`PairwiseAlignment` even when scikit-bio is installed.

    Returns:
        ``(TabularMSA, score, start_end_positions)``, or a :class:`PairwiseAlignment`.

    Example:
        >>> msa, score, positions = global_pairwise_align_nucleotide(
        ...     "ACGTTGCA", "ACGTGCA", penalize_terminal_gaps=True, as_strings=True)
        >>> msa, score, positions
        (('ACGTTGCA', 'ACGT-GCA'), 2.0, [(0, 7), (0, 6)])
    """
    _check_nucleotide_inputs((seq1, seq2), allow_alignment=True)
    return global_pairwise_align_nucleotide_many(
        [seq1],
        seq2,
        gap_open_penalty,
        gap_extend_penalty,
        match_score,
        mismatch_score,
        substitution_matrix,
        penalize_terminal_gaps,
        ambiguous=ambiguous,
        as_strings=as_strings,
        _names=("seq1", "seq2"),
    )[0]


def global_pairwise_align(
    seq1: Any,
    seq2: Any,
    gap_open_penalty: float,
    gap_extend_penalty: float,
    substitution_matrix: Any,
    penalize_terminal_gaps: bool = False,
    *,
    ambiguous: str | None = None,
    as_strings: bool = False,
) -> Any:
    """scikit-bio's ``global_pairwise_align`` for nucleotide sequences, exactly.

    Arguments as in :func:`global_pairwise_align_nucleotide`; ``substitution_matrix`` is
    required.

    Example:
        >>> matrix = {a: {b: 2 if a == b else -1 for b in "ACGT"} for a in "ACGT"}
        >>> global_pairwise_align("ACGT", "AGT", 3, 1, matrix, as_strings=True).msa
        ('ACGT', 'A-GT')
    """
    _check_sequence_inputs((seq1, seq2), allow_alignment=True)
    return global_pairwise_align_many(
        [seq1],
        seq2,
        gap_open_penalty,
        gap_extend_penalty,
        substitution_matrix,
        penalize_terminal_gaps,
        ambiguous=ambiguous,
        as_strings=as_strings,
        _names=("seq1", "seq2"),
    )[0]


def local_pairwise_align_nucleotide(
    seq1: Any,
    seq2: Any,
    gap_open_penalty: float = 5,
    gap_extend_penalty: float = 2,
    match_score: float = 2,
    mismatch_score: float = -3,
    substitution_matrix: Any = None,
    *,
    ambiguous: str | None = None,
    as_strings: bool = False,
) -> Any:
    """scikit-bio's ``local_pairwise_align_nucleotide`` (Smith-Waterman as it does it).

    Arguments as in :func:`global_pairwise_align_nucleotide` (note scikit-bio's local
    defaults: match 2, mismatch -3). With no positive score the result is empty, score 0 and
    positions ``[(0, -1), (0, -1)]``, as in scikit-bio.

    Example:
        >>> result = local_pairwise_align_nucleotide("TTTACGTACGTTT", "GGACGTACGGG",
        ...                                          as_strings=True)
        >>> result.msa, result.score, result.start_end_positions
        (('ACGTACG', 'ACGTACG'), 14.0, [(3, 9), (2, 8)])
    """
    _check_nucleotide_inputs((seq1, seq2), allow_alignment=False)
    return local_pairwise_align_nucleotide_many(
        [seq1],
        seq2,
        gap_open_penalty,
        gap_extend_penalty,
        match_score,
        mismatch_score,
        substitution_matrix,
        ambiguous=ambiguous,
        as_strings=as_strings,
        _names=("seq1", "seq2"),
    )[0]


def local_pairwise_align(
    seq1: Any,
    seq2: Any,
    gap_open_penalty: float,
    gap_extend_penalty: float,
    substitution_matrix: Any,
    *,
    ambiguous: str | None = None,
    as_strings: bool = False,
) -> Any:
    """scikit-bio's ``local_pairwise_align`` for nucleotide sequences, exactly.

    Example:
        >>> matrix = {a: {b: 2 if a == b else -3 for b in "ACGT"} for a in "ACGT"}
        >>> local_pairwise_align("AACGTT", "CCGTC", 5, 2, matrix, as_strings=True).msa
        ('CGT', 'CGT')
    """
    _check_sequence_inputs((seq1, seq2), allow_alignment=False)
    return local_pairwise_align_many(
        [seq1],
        seq2,
        gap_open_penalty,
        gap_extend_penalty,
        substitution_matrix,
        ambiguous=ambiguous,
        as_strings=as_strings,
        _names=("seq1", "seq2"),
    )[0]


def global_pairwise_align_nucleotide_many(
    queries: Iterable[Any],
    reference: Any,
    gap_open_penalty: float = 5,
    gap_extend_penalty: float = 2,
    match_score: float = 1,
    mismatch_score: float = -2,
    substitution_matrix: Any = None,
    penalize_terminal_gaps: bool = False,
    *,
    queries_first: bool = True,
    ambiguous: str | None = None,
    as_strings: bool = False,
    lanes: int = _config.LANES,
    memory_budget: int = _config.TRACEBACK_BUDGET_BYTES,
    _names: tuple[str, str] | None = None,
) -> list[Any]:
    """Many :func:`global_pairwise_align_nucleotide` calls against one reference, at once.

    Args:
        queries: sequences (``DNA``/``RNA`` objects or strings).
        reference: the sequence every query is aligned with.
        queries_first: each result equals ``global_pairwise_align_nucleotide(query,
            reference, ...)`` (True) or ``(reference, query, ...)`` (False).
        lanes, memory_budget: kernel tuning, as in :class:`~streamalign.Aligner`.
        Other arguments as in :func:`global_pairwise_align_nucleotide`.

    Returns:
        One result per query, in order.

    Example:
        >>> results = global_pairwise_align_nucleotide_many(
        ...     ["ACGTACGT", "ACGAACGT"], "ACGTACGT", penalize_terminal_gaps=True,
        ...     as_strings=True)
        >>> [(result.msa[0], result.score) for result in results]
        [('ACGTACGT', 8.0), ('ACGAACGT', 5.0)]
    """
    matrix = _nucleotide_matrix(match_score, mismatch_score, substitution_matrix)
    return _align_many(
        queries,
        reference,
        gap_open_penalty,
        gap_extend_penalty,
        matrix,
        legacy.LegacySettings(False, bool(penalize_terminal_gaps), bool(queries_first)),
        ambiguous,
        as_strings,
        lanes,
        memory_budget,
        _names,
    )


def global_pairwise_align_many(
    queries: Iterable[Any],
    reference: Any,
    gap_open_penalty: float,
    gap_extend_penalty: float,
    substitution_matrix: Any,
    penalize_terminal_gaps: bool = False,
    *,
    queries_first: bool = True,
    ambiguous: str | None = None,
    as_strings: bool = False,
    lanes: int = _config.LANES,
    memory_budget: int = _config.TRACEBACK_BUDGET_BYTES,
    _names: tuple[str, str] | None = None,
) -> list[Any]:
    """Many :func:`global_pairwise_align` calls against one reference, in one kernel call.

    Example:
        >>> matrix = {a: {b: 1 if a == b else -1 for b in "ACGT"} for a in "ACGT"}
        >>> [r.score for r in global_pairwise_align_many(["ACGT", "AGT"], "ACGT", 2, 1, matrix,
        ...                                              as_strings=True)]
        [4.0, 1.0]
    """
    return _align_many(
        queries,
        reference,
        gap_open_penalty,
        gap_extend_penalty,
        _matrix_mapping(substitution_matrix),
        legacy.LegacySettings(False, bool(penalize_terminal_gaps), bool(queries_first)),
        ambiguous,
        as_strings,
        lanes,
        memory_budget,
        _names,
    )


def local_pairwise_align_nucleotide_many(
    queries: Iterable[Any],
    reference: Any,
    gap_open_penalty: float = 5,
    gap_extend_penalty: float = 2,
    match_score: float = 2,
    mismatch_score: float = -3,
    substitution_matrix: Any = None,
    *,
    queries_first: bool = True,
    ambiguous: str | None = None,
    as_strings: bool = False,
    lanes: int = _config.LANES,
    memory_budget: int = _config.TRACEBACK_BUDGET_BYTES,
    _names: tuple[str, str] | None = None,
) -> list[Any]:
    """Many :func:`local_pairwise_align_nucleotide` calls against one reference, at once.

    Example:
        >>> [r.msa for r in local_pairwise_align_nucleotide_many(
        ...     ["TTACGTT", "GGGG"], "ACGTA", as_strings=True)]
        [('ACGT', 'ACGT'), ('G', 'G')]
    """
    matrix = _nucleotide_matrix(match_score, mismatch_score, substitution_matrix)
    return _align_many(
        queries,
        reference,
        gap_open_penalty,
        gap_extend_penalty,
        matrix,
        legacy.LegacySettings(True, True, bool(queries_first)),
        ambiguous,
        as_strings,
        lanes,
        memory_budget,
        _names,
    )


def local_pairwise_align_many(
    queries: Iterable[Any],
    reference: Any,
    gap_open_penalty: float,
    gap_extend_penalty: float,
    substitution_matrix: Any,
    *,
    queries_first: bool = True,
    ambiguous: str | None = None,
    as_strings: bool = False,
    lanes: int = _config.LANES,
    memory_budget: int = _config.TRACEBACK_BUDGET_BYTES,
    _names: tuple[str, str] | None = None,
) -> list[Any]:
    """Many :func:`local_pairwise_align` calls against one reference, in one kernel call.

    Example:
        >>> matrix = {a: {b: 2 if a == b else -3 for b in "ACGT"} for a in "ACGT"}
        >>> [r.score for r in local_pairwise_align_many(["CGT", "TTT"], "ACGTA", 5, 2, matrix,
        ...                                             as_strings=True)]
        [6.0, 2.0]
    """
    return _align_many(
        queries,
        reference,
        gap_open_penalty,
        gap_extend_penalty,
        _matrix_mapping(substitution_matrix),
        legacy.LegacySettings(True, True, bool(queries_first)),
        ambiguous,
        as_strings,
        lanes,
        memory_budget,
        _names,
    )


# --- inputs -----------------------------------------------------------------------------------


def _skbio() -> Any:
    """The scikit-bio module, or None when it is not installed."""
    try:
        import skbio
    except ImportError:
        return None
    return skbio


def _loaded_skbio() -> Any:
    """scikit-bio if some code imported it already (else no input can be an skbio object)."""
    return sys.modules.get("skbio")


def _check_nucleotide_inputs(sequences: tuple[Any, Any], allow_alignment: bool) -> None:
    """scikit-bio's type checks of the ``*_nucleotide`` wrappers (strings allowed too)."""
    skbio = _loaded_skbio()
    _check_same_type(sequences)
    for sequence in sequences:
        if isinstance(sequence, (str, bytes)) or skbio is None:
            continue
        allowed: tuple[type, ...] = (skbio.DNA, skbio.RNA)
        if allow_alignment:
            allowed += (skbio.TabularMSA,)
        if isinstance(sequence, skbio.TabularMSA) and allow_alignment:
            if not issubclass(sequence.dtype, (skbio.DNA, skbio.RNA)):
                raise TypeError(
                    "`seq1` and `seq2` must be TabularMSA with DNA or RNA dtype, not dtype "
                    f"{sequence.dtype.__name__!r}"
                )
        elif not isinstance(sequence, allowed):
            kinds = "DNA, RNA, or TabularMSA" if allow_alignment else "DNA or RNA"
            raise TypeError(
                f"`seq1` and `seq2` must be {kinds} (or str), not type {type(sequence).__name__!r}"
            )


def _check_sequence_inputs(sequences: tuple[Any, Any], allow_alignment: bool) -> None:
    """scikit-bio's type checks of ``global/local_pairwise_align`` (strings allowed too)."""
    skbio = _loaded_skbio()
    for sequence in sequences:
        if isinstance(sequence, (str, bytes)):
            continue
        if skbio is None:
            raise TypeError(f"cannot align an object of type {type(sequence).__name__!r}")
        from skbio.sequence import GrammaredSequence

        allowed: tuple[type, ...] = (GrammaredSequence,)
        if allow_alignment:
            allowed += (skbio.TabularMSA,)
        if not isinstance(sequence, allowed):
            kinds = "GrammaredSequence subclasses"
            if allow_alignment:
                kinds += " or TabularMSA"
            raise TypeError(
                f"`seq1` and `seq2` must be {kinds} (or str), not type {type(sequence).__name__!r}"
            )
    _check_same_type(sequences)


def _check_same_type(sequences: tuple[Any, Any]) -> None:
    """scikit-bio aligns only sequences of one type (DNA with DNA, RNA with RNA)."""
    skbio = _loaded_skbio()
    if skbio is None:
        return
    kinds = [
        sequence.dtype if isinstance(sequence, skbio.TabularMSA) else type(sequence)
        for sequence in sequences
        if not isinstance(sequence, (str, bytes))
    ]
    if len(kinds) == 2 and kinds[0] is not kinds[1]:
        raise TypeError(
            "`seq1` and `seq2` must be the same type: "
            f"{kinds[0].__name__!r} != {kinds[1].__name__!r}"
        )


def _read_input(sequence: Any, fallback_name: str) -> _Input:
    """Text, name, type and metadata of one input sequence."""
    if isinstance(sequence, bytes):
        sequence = sequence.decode("ascii", "replace")
    if isinstance(sequence, str):
        return _Input(sequence.upper(), fallback_name, None, None)
    skbio = _loaded_skbio()
    if skbio is not None and isinstance(sequence, skbio.TabularMSA):
        if sequence.shape.sequence != 1:
            raise NotImplementedError(
                "streamalign.compat.skbio aligns sequences, not multiple alignments "
                f"(got a TabularMSA of {sequence.shape.sequence} sequences)"
            )
        sequence = next(iter(sequence))
    if skbio is None or not isinstance(sequence, (skbio.DNA, skbio.RNA)):
        raise TypeError(
            "streamalign.compat.skbio aligns nucleotide sequences (skbio.DNA, skbio.RNA or "
            f"str), not {type(sequence).__name__!r}"
        )
    metadata = sequence.metadata if sequence.has_metadata() else None
    name = str(metadata["id"]) if metadata and metadata.get("id") else fallback_name
    return _Input(str(sequence), name, type(sequence), metadata)


def _encode(inputs: list[_Input]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenated bytes, codes and offsets of the inputs; non-IUPAC characters raise."""
    joined = "".join(item.text for item in inputs).encode("latin-1", "replace")
    raw = np.frombuffer(joined, dtype=np.uint8)
    offsets = np.zeros(len(inputs) + 1, dtype=np.int64)
    np.cumsum([len(item.text) for item in inputs], out=offsets[1:])
    codes = _CODES[raw]
    if codes.size and codes.max() == INVALID_CODE:
        bad = int(np.argmax(codes == INVALID_CODE))
        record = int(np.searchsorted(offsets, bad, side="right")) - 1
        raise InvalidSequenceError(
            inputs[record].name, chr(int(raw[bad])), bad - int(offsets[record]) + 1
        )
    return raw, codes, offsets


# --- scores -----------------------------------------------------------------------------------


def _nucleotide_matrix(
    match_score: float, mismatch_score: float, substitution_matrix: Any
) -> Mapping[Any, Any]:
    """The matrix the ``*_nucleotide`` wrappers use: scikit-bio's float32 identity on ACGTU."""
    if substitution_matrix is not None:
        return _matrix_mapping(substitution_matrix)
    match = float(np.float32(match_score))
    mismatch = float(np.float32(mismatch_score))
    return {a: {b: match if a == b else mismatch for b in "ACGTU"} for a in "ACGTU"}


def _matrix_mapping(substitution_matrix: Any) -> Mapping[Any, Any]:
    if isinstance(substitution_matrix, Mapping):
        return substitution_matrix
    if hasattr(substitution_matrix, "to_dict"):  # skbio.SubstitutionMatrix
        return substitution_matrix.to_dict()
    raise TypeError(
        "substitution_matrix must be a dict of dicts of scores, not "
        f"{type(substitution_matrix).__name__!r}"
    )


@dataclass
class _ScoreTable:
    """Scores ``[seq1 code, seq2 code]`` as scikit-bio looks them up, and which it has.

    Attributes:
        scores: float64 scores (gap characters score 0).
        known: True where scikit-bio finds a score (always, for gap characters).
        has_row: codes that are keys of the outer dict (``matrix[code]`` exists).
        has_column: codes that are keys of some inner dict.
    """

    scores: np.ndarray
    known: np.ndarray
    has_row: np.ndarray
    has_column: np.ndarray


def _score_table(matrix: Mapping[Any, Any], ambiguous: str | None) -> _ScoreTable:
    """Read a dict of dicts; with an ambiguity policy, fill the pairs it lacks by the policy.

    scikit-bio adds ``0 + matrix[a][b]`` and divides by 1, in floats: ``float(value)``.
    """
    table = np.zeros((TABLE_SIZE, TABLE_SIZE), dtype=np.float64)
    known = np.zeros((TABLE_SIZE, TABLE_SIZE), dtype=bool)
    has_row = np.zeros(TABLE_SIZE, dtype=bool)
    for first, row in matrix.items():
        first_code = _letter_code(first)
        if first_code is None or not isinstance(row, Mapping):
            continue
        has_row[first_code] = True
        for second, value in row.items():
            second_code = _letter_code(second)
            if second_code is None:
                continue
            try:
                table[first_code, second_code] = float(value)
            except (TypeError, ValueError):
                raise ScoringError(
                    f"substitution_matrix[{first!r}][{second!r}] is not a number: {value!r}"
                ) from None
            known[first_code, second_code] = True
    has_column: np.ndarray = np.any(known, axis=0)
    if not np.all(np.isfinite(table)):
        raise ScoringError("substitution scores must be finite")
    known[GAP_CODE, :] = True
    known[:, GAP_CODE] = True
    if ambiguous is not None:
        if ambiguous not in AMBIGUITY_POLICIES:
            raise ScoringError(
                f"ambiguous must be None or one of {', '.join(AMBIGUITY_POLICIES)}, "
                f"got {ambiguous!r}"
            )
        _fill_by_policy(table, known, ambiguous)
        has_row[:] = True
        has_column[:] = True
    return _ScoreTable(table, known, has_row, has_column)


def _letter_code(letter: Any) -> int | None:
    """Code of a one-letter matrix key as scikit-bio sequences spell it (upper case)."""
    if not isinstance(letter, str) or len(letter) != 1 or letter not in _CODE_LETTERS:
        return None
    return int(_CODES[ord(letter)]) if letter != "-" else None


def _fill_by_policy(table: np.ndarray, known: np.ndarray, policy: str) -> None:
    """Give every pair the matrix lacks a score by streamalign's ambiguity policy."""
    base_scores = []
    for first in range(TABLE_SIZE):
        for second in range(TABLE_SIZE):
            single = _BASE_SETS[first] in (1, 2, 4, 8) and _BASE_SETS[second] in (1, 2, 4, 8)
            if known[first, second] and single:
                base_scores.append(
                    (int(_BASE_SETS[first]), int(_BASE_SETS[second]), float(table[first, second]))
                )
    smallest = min((score for _, _, score in base_scores), default=0.0)
    for first in range(TABLE_SIZE):
        for second in range(TABLE_SIZE):
            if known[first, second]:
                continue
            if policy == "score0":
                value = 0.0
            elif policy == "mismatch":
                value = smallest
            else:  # iupac: the best score of the bases the two codes share
                candidates = [
                    score
                    for base_a, base_b, score in base_scores
                    if base_a & _BASE_SETS[first] and base_b & _BASE_SETS[second]
                ]
                value = max(candidates, default=0.0)
            table[first, second] = value
            known[first, second] = True


# --- the alignment ----------------------------------------------------------------------------


def _align_many(
    queries: Iterable[Any],
    reference: Any,
    gap_open_penalty: float,
    gap_extend_penalty: float,
    matrix: Mapping[Any, Any],
    settings: legacy.LegacySettings,
    ambiguous: str | None,
    as_strings: bool,
    lanes: int,
    memory_budget: int,
    names: tuple[str, str] | None,
) -> list[Any]:
    """Read, check and encode the inputs, run one kernel call, build scikit-bio's results."""
    query_list = list(queries)
    query_names = (
        [names[0]] * len(query_list)
        if names
        else [f"queries[{number}]" for number in range(len(query_list))]
    )
    query_inputs = [
        _read_input(query, name) for query, name in zip(query_list, query_names, strict=True)
    ]
    reference_input = _read_input(reference, names[1] if names else "reference")
    reference_type = reference_input.sequence_type
    for query_input in query_inputs:
        query_type = query_input.sequence_type
        if (
            query_type is not None
            and reference_type is not None
            and query_type is not reference_type
        ):
            raise TypeError(
                f"{query_input.name}: sequences to align must be the same type: "
                f"{query_type.__name__!r} != {reference_type.__name__!r}"
            )
    for penalty, what in (
        (gap_open_penalty, "gap_open_penalty"),
        (gap_extend_penalty, "gap_extend_penalty"),
    ):
        if not np.isfinite(float(penalty)):
            raise ScoringError(f"{what} must be a finite number, got {penalty!r}")
    table = _score_table(matrix, ambiguous)
    raw, codes, offsets = _encode(query_inputs)
    reference_raw, reference_codes, _ = _encode([reference_input])
    _check_known(
        query_inputs,
        codes,
        offsets,
        reference_input,
        reference_codes,
        table,
        settings.query_is_first,
    )
    results = legacy.align_arrays(
        codes,
        offsets,
        reference_codes,
        table.scores,
        float(gap_open_penalty),
        float(gap_extend_penalty),
        settings,
        lanes=lanes,
        memory_budget=memory_budget,
        names=[item.name for item in query_inputs],
    )
    skbio = None if as_strings else _skbio()
    output = []
    for number, query_input in enumerate(query_inputs):
        output.append(
            _result(
                results,
                number,
                raw[offsets[number] : offsets[number + 1]],
                query_input,
                reference_raw,
                reference_input,
                settings,
                skbio,
            )
        )
    return output


def _check_known(
    query_inputs: list[_Input],
    codes: np.ndarray,
    offsets: np.ndarray,
    reference_input: _Input,
    reference_codes: np.ndarray,
    table: _ScoreTable,
    query_is_first: bool,
) -> None:
    """Raise as scikit-bio would for a pair of characters the matrix has no score for."""
    if reference_codes.size == 0 or codes.size == 0:
        return  # scikit-bio computes no cell, so looks nothing up
    pair_known = table.known if query_is_first else table.known.T  # [query, reference]
    present = np.zeros(TABLE_SIZE, dtype=bool)
    present[reference_codes] = True
    unscorable: np.ndarray = ~np.all(pair_known[:, present], axis=1)
    if not unscorable[codes].any():
        return
    for number, query_input in enumerate(query_inputs):
        query_codes = codes[offsets[number] : offsets[number + 1]]
        if query_codes.size and unscorable[query_codes].any():
            query = (query_input, query_codes)
            reference = (reference_input, reference_codes)
            if query_is_first:
                _raise_unknown(query, reference, table)
            _raise_unknown(reference, query, table)


def _raise_unknown(
    first: tuple[_Input, np.ndarray], second: tuple[_Input, np.ndarray], table: _ScoreTable
) -> None:
    """Name the character scikit-bio would fail on: at the first cell (its order) lacking a score.

    scikit-bio's rows are ``seq2`` and its columns ``seq1``; it looks up
    ``matrix[seq1 character][seq2 character]``.
    """
    first_input, first_codes = first
    second_input, second_codes = second
    first_bad_column = np.full(TABLE_SIZE, -1, dtype=np.int64)
    for code in np.unique(second_codes):
        bad = np.flatnonzero(~table.known[first_codes, code])
        if bad.size:
            first_bad_column[code] = bad[0]
    row = int(np.argmax(first_bad_column[second_codes] >= 0))
    column = int(first_bad_column[second_codes[row]])
    first_letter = first_input.text[column]
    second_code = second_codes[row]
    if not table.has_row[first_codes[column]]:
        name, letter, position = first_input.name, first_letter, column + 1
        detail = "not in the substitution matrix"
    elif not table.has_column[second_code]:
        name, letter, position = second_input.name, second_input.text[row], row + 1
        detail = "not in the substitution matrix"
    else:
        name, letter, position = second_input.name, second_input.text[row], row + 1
        detail = f"the substitution matrix has no score for {first_letter!r} against it"
    raise InvalidSequenceError(name, letter, position, f"{detail}; {_ADVICE}")


def _result(
    results: KernelOutputs,
    number: int,
    query_raw: np.ndarray,
    query_input: _Input,
    reference_raw: np.ndarray,
    reference_input: _Input,
    settings: legacy.LegacySettings,
    skbio: Any,
) -> Any:
    """One result in scikit-bio's form (or a :class:`PairwiseAlignment`)."""
    operations = results.record_operations(number)
    query_span = (int(results.query_starts[number]), int(results.query_ends[number]))
    reference_span = (int(results.reference_starts[number]), int(results.reference_ends[number]))
    gapped_query = _gapped(query_raw[query_span[0] : query_span[1]], operations, DELETION)
    gapped_reference = _gapped(
        reference_raw[reference_span[0] : reference_span[1]], operations, INSERTION
    )
    spans = [query_span, reference_span]
    inputs = [query_input, reference_input]
    gapped = [gapped_query, gapped_reference]
    if not settings.query_is_first:
        spans.reverse()
        inputs.reverse()
        gapped.reverse()
    score = float(results.scores[number])
    positions: list[tuple[Any, Any]] = [(start, end - 1) for start, end in spans]
    if skbio is None:
        return PairwiseAlignment((gapped[0], gapped[1]), score, positions)
    if settings.local:  # scikit-bio's local positions are numpy integers
        positions = [(np.int64(start), np.int64(end)) for start, end in positions]
    sequence_type = next(
        (item.sequence_type for item in inputs if item.sequence_type is not None), skbio.DNA
    )
    aligned = [
        sequence_type(text, metadata=item.metadata, validate=False)
        for text, item in zip(gapped, inputs, strict=True)
    ]
    return skbio.TabularMSA(aligned), np.float64(score), positions


def _gapped(bases: np.ndarray, operations: np.ndarray, gap_operation: int) -> str:
    """The aligned row of one sequence: its bases, with ``-`` where the other has a base."""
    row = np.full(len(operations), ord("-"), dtype=np.uint8)
    row[operations != gap_operation] = bases
    return row.tobytes().decode("latin-1")
