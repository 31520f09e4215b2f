"""SAM output (version 1.6), accepted by ``samtools view`` and read by pysam.

Header::

    @HD  VN:1.6  SO:unknown  GO:query
    @SQ  SN:<reference name>  LN:<length>        (one per non-empty reference)
    @PG  ID:streamalign  PN:streamalign  VN:<version>  CL:<command line>

One line per record, in the batch's order:

=========  ============================================================================
QNAME      the query's name (characters SAM forbids replaced by ``_``, ``*`` if empty)
FLAG       16 reverse strand, 4 unmapped, 256 secondary (combined)
RNAME      the reference's name; ``*`` when unmapped
POS        ``reference_start + 1``; 0 when unmapped
MAPQ       255 (not available) when mapped; 0 when unmapped
CIGAR      ``<query_start>S`` + the alignment's operations + ``<length - query_end>S``
           (clips only where non-zero), ``=``/``X`` or ``M``; ``*`` when unmapped
RNEXT ...  ``*``, 0, 0 (no mates)
SEQ        the query as aligned (reverse complemented for FLAG 16), upper case; ``*`` empty
QUAL       the qualities as aligned (reversed for FLAG 16); ``*`` for FASTA or empty
tags       ``AS:i:<score>`` (``AS:f`` for a fractional score), ``NM:i:<edit distance>``;
           mapped records only
=========  ============================================================================

Decisions:

- Unmapped records (failing the caller's thresholds, or without an aligned base) keep their
  name, SEQ, QUAL and the 16 and 256 bits (so a query keeps exactly one primary record, and
  FLAG 16 still says that SEQ is reverse complemented), but carry no alignment: RNAME ``*``,
  POS 0, CIGAR ``*``, and no AS/NM tags, as bwa and minimap2 do. TSV and JSONL keep the
  scores of unmapped records.
- Alignments are written as computed: a global alignment may begin or end with ``I`` or
  ``D``; POS is then the first reference position of the alignment, deletion included.
- An empty reference gets no ``@SQ`` line (SAM needs ``LN`` >= 1); no record can map to it.
- Names that SAM forbids (QNAME ``[!-?A-~]{1,254}``, RNAME ``[0-9A-Za-z!#$%&+./:;?@^_|~-]
  [0-9A-Za-z!#$%&*+./:;=?@^_|~-]*``) have each offending character replaced by ``_``
  (QNAMEs are also cut to 254 characters); a repeated reference name gets ``_2``, ``_3``, ...
  (:func:`unique_reference_names`). The command line gives the references these names before
  it aligns, so TSV and JSONL name them the same way; a library caller's TSV and JSONL
  writers keep the names they are given.

Example:
    >>> import io
    >>> from streamalign import Aligner
    >>> aligner = Aligner({"gene": "TTACGTACGTTTGACCA"}, mode="local", match=2, mismatch=-3)
    >>> batch = aligner.align_many(["GGACGTTCGTAA"], names=["read1"])
    >>> stream = io.BytesIO()
    >>> writer = SamWriter(stream, reference_names=["gene"], reference_lengths=[17],
    ...                    command_line="streamalign gene.fa reads.fa")
    >>> writer.write_header()
    >>> writer.write_batch(batch, mapped=batch.scores > 0)
    66
    >>> print(stream.getvalue().decode().replace("\\t", " "), end="")  # doctest: +ELLIPSIS
    @HD VN:1.6 SO:unknown GO:query
    @SQ SN:gene LN:17
    @PG ID:streamalign PN:streamalign VN:... CL:streamalign gene.fa reads.fa
    read1 0 gene 3 255 2S4=1X3=2S * 0 0 GGACGTTCGTAA * AS:i:11 NM:i:1
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..results import AlignmentBatch
from .writers import (
    BatchWriter,
    LineAssembler,
    add_scores,
    check_batch,
    upper_case,
)

FLAG_REVERSE = 16
FLAG_UNMAPPED = 4
FLAG_SECONDARY = 256
#: MAPQ of mapped records: 255 means "not available".
MAPPING_QUALITY_UNAVAILABLE = 255
MAXIMUM_QUERY_NAME_LENGTH = 254

_QUERY_NAME_INVALID = re.compile(r"[^!-?A-~]")
_REFERENCE_NAME_INVALID = re.compile(r"[^0-9A-Za-z!#$%&*+./:;=?@^_|~-]")
_REFERENCE_NAME_INVALID_BUT_TAB = re.compile(r"[^0-9A-Za-z!#$%&*+./:;=?@^_|~\t-]")
#: ASCII bytes to themselves where valid in a reference name (and tab), else to ``_``.
_REFERENCE_NAME_BYTES = bytes(
    byte if _REFERENCE_NAME_INVALID_BUT_TAB.match(chr(byte)) is None else ord("_")
    for byte in range(256)
)
_HEADER_VALUE_INVALID = re.compile(r"[\t\n\r]")


def sam_query_names(names: Sequence[str]) -> Sequence[str]:
    """Names valid as QNAME: forbidden characters become ``_``, empty names ``*``.

    Example:
        >>> sam_query_names(["read1", "sequence 2", "@odd", ""])
        ['read1', 'sequence_2', '_odd', '*']
    """
    if not names:
        return names
    lengths = list(map(len, names))
    if (
        _QUERY_NAME_INVALID.search("".join(names)) is None
        and min(lengths) > 0
        and max(lengths) <= MAXIMUM_QUERY_NAME_LENGTH
    ):
        return names
    return [_QUERY_NAME_INVALID.sub("_", name[:MAXIMUM_QUERY_NAME_LENGTH]) or "*" for name in names]


def sam_reference_name(name: str) -> str:
    """A name valid as RNAME and ``@SQ SN``: forbidden characters become ``_``.

    Example:
        >>> sam_reference_name("chr1"), sam_reference_name("*gene (b)"), sam_reference_name("")
        ('chr1', '_gene__b_', '_')
    """
    fixed = _REFERENCE_NAME_INVALID.sub("_", name)
    if not fixed:
        return "_"
    if fixed[0] in "*=":
        fixed = "_" + fixed[1:]
    return fixed


def sam_reference_names(names: Sequence[str]) -> list[str]:
    """:func:`sam_reference_name` of every name, in one pass over all of them (a byte table
    for ASCII names, else one regular expression): a pass per name took 0.8 s for 500,000
    references, this one 0.2 s.

    Example:
        >>> sam_reference_names(["chr1", "*gene (b)", "", "=x"])
        ['chr1', '_gene__b_', '_', '_x']
    """
    joined = "\t".join(names)  # a tab is never valid in a name: a safe separator
    if joined.count("\t") != len(names) - 1:  # a name holds a tab: name by name
        return [sam_reference_name(name) for name in names]
    if joined.isascii():  # a byte table is four times faster than the expression
        fixed = joined.encode("ascii").translate(_REFERENCE_NAME_BYTES).decode("ascii")
    else:
        fixed = _REFERENCE_NAME_INVALID_BUT_TAB.sub("_", joined)
    return [
        name if name and name[0] not in "*=" else sam_reference_name(name)
        for name in fixed.split("\t")
    ]


def unique_reference_names(names: Sequence[str]) -> list[str]:
    """Names valid as RNAME (see :func:`sam_reference_name`) and unique, in file order.

    The first reference of a name keeps it; each later one gets ``_2``, ``_3``, ... (the
    first suffix that no reference's name uses), so a name that occurs once is never changed
    by another's suffix. Linear in the number of names: every lookup is in a hash set or
    dictionary, and the suffixes tried for one name continue where the last one stopped.

    Example:
        >>> unique_reference_names(["a", "b,c", "a", "a_2", "a"])
        ['a', 'b_c', 'a_3', 'a_2', 'a_4']
    """
    valid = sam_reference_names(names)
    taken = set(valid)
    if len(taken) == len(valid):  # no name repeats (the usual case)
        return valid
    seen: set[str] = set()
    last_suffix: dict[str, int] = {}
    unique = []
    for name in valid:
        if name in seen:
            suffix = last_suffix.get(name, 1)
            while True:
                suffix += 1
                candidate = f"{name}_{suffix}"
                if candidate not in taken:
                    break
            last_suffix[name] = suffix
            taken.add(candidate)
            name = candidate
        seen.add(name)
        unique.append(name)
    return unique


class SamWriter(BatchWriter):
    """Writes SAM; see the module docstring for the columns and decisions.

    Reference names go through :func:`unique_reference_names`, so repeated names (taxonomy
    training sets repeat them on purpose) still make a valid header.
    """

    format_name = "sam"

    def _prepare(self) -> None:
        """SAM names, header positions and lengths of the references."""
        self.sam_reference_names = unique_reference_names(self.reference_names)
        # Header position of each reference; -1 for empty references (no @SQ line). A
        # batch's reference is looked up by index when the writer's reference of that index
        # has the same name (names may repeat), else by name (the first reference of that
        # name); only the references a batch uses are looked up (see _header_positions).
        lengths = np.array(self.reference_lengths, dtype=np.int64)
        self._own_positions = np.where(lengths > 0, np.arange(len(lengths), dtype=np.int64), -1)
        self._header_position: dict[str, int] | None = None  # by name: made when needed
        self._lengths = np.append(lengths, 0)
        self._rname_table = [*self.sam_reference_names, "*"]

    def header(self) -> bytes:
        """The ``@HD``, ``@SQ`` and ``@PG`` lines."""
        from .. import __version__

        lines = ["@HD\tVN:1.6\tSO:unknown\tGO:query"]
        lines.extend(
            f"@SQ\tSN:{name}\tLN:{length}"
            for name, length in zip(self.sam_reference_names, self.reference_lengths, strict=True)
            if length > 0
        )
        program = f"@PG\tID:streamalign\tPN:streamalign\tVN:{__version__}"
        command_line = _HEADER_VALUE_INVALID.sub(" ", self.command_line).strip()
        if command_line:
            program += f"\tCL:{command_line}"
        lines.append(program)
        return ("\n".join(lines) + "\n").encode("utf-8")

    def _header_positions(self, batch: AlignmentBatch) -> np.ndarray:
        """Header position of each record's reference (-1: not in the header).

        Work in proportion to the references the batch uses, not to all references."""
        used, inverse = np.unique(batch.reference_index, return_inverse=True)
        own_names = self.reference_names
        positions = np.empty(len(used), dtype=np.int64)
        for slot, index in enumerate(used.tolist()):
            name = batch.reference_names[index]
            if index < len(own_names) and own_names[index] == name:
                positions[slot] = self._own_positions[index]
            else:
                positions[slot] = self._positions_by_name().get(name, -1)
        return positions[inverse.reshape(-1)]

    def _positions_by_name(self) -> dict[str, int]:
        """Header position of the first reference of each name."""
        if self._header_position is None:
            # Reversed, so that the first reference of a repeated name is the one kept.
            self._header_position = dict(
                zip(
                    reversed(self.reference_names),
                    reversed(self._own_positions.tolist()),
                    strict=True,
                )
            )
        return self._header_position

    def format_batch(
        self, batch: AlignmentBatch, mapped: np.ndarray, secondary: np.ndarray | None = None
    ) -> bytes:
        """The batch's SAM lines.

        Raises:
            ValueError: a mapped record's reference has no ``@SQ`` line, or its alignment
                ends past the reference length given to the writer.
        """
        mapped, secondary = check_batch(batch, mapped, secondary)
        count = len(batch)
        if count == 0:
            return b""
        header_positions = self._header_positions(batch)
        if np.any(mapped & (header_positions < 0)):
            record = int(np.flatnonzero(mapped & (header_positions < 0))[0])
            name = batch.reference_names[int(batch.reference_index[record])]
            raise ValueError(
                f"{batch.queries.names[record]}: reference {name!r} is not in the SAM header"
            )
        header_positions = np.where(mapped, header_positions, len(self.reference_names))
        beyond = mapped & (batch.reference_ends > self._lengths[header_positions])
        if beyond.any():
            record = int(np.flatnonzero(beyond)[0])
            raise ValueError(
                f"{batch.queries.names[record]}: alignment ends at "
                f"{int(batch.reference_ends[record])}, past the end of reference "
                f"{self.reference_names[int(header_positions[record])]!r} "
                f"({int(self._lengths[header_positions[record]])})"
            )
        queries = batch.queries
        query_lengths = queries.lengths()
        query_starts = queries.offsets[:-1]
        empty = query_lengths == 0
        prefix_clips = batch.query_starts
        suffix_clips = query_lengths - batch.query_ends
        flags = (
            batch.reverse.astype(np.int64) * FLAG_REVERSE
            + (~mapped) * FLAG_UNMAPPED
            + secondary * FLAG_SECONDARY
        )

        lines = LineAssembler(count)
        lines.strings(sam_query_names(queries.names)).constant("\t")
        lines.integers(flags).constant("\t")
        lines.table(self._rname_table, header_positions).constant("\t")
        lines.integers(np.where(mapped, batch.reference_starts + 1, 0)).constant("\t")
        lines.integers(np.where(mapped, MAPPING_QUALITY_UNAVAILABLE, 0)).constant("\t")
        # CIGAR: soft clip, operations, soft clip; "*" when unmapped.
        lines.integers(prefix_clips, mapped & (prefix_clips > 0))
        lines.constant("S", mapped & (prefix_clips > 0))
        lines.cigars(batch.operations, batch.operation_offsets, self.extended_cigar, mapped)
        lines.integers(suffix_clips, mapped & (suffix_clips > 0))
        lines.constant("S", mapped & (suffix_clips > 0))
        lines.constant("*", ~mapped)
        lines.constant("\t*\t0\t0\t")
        lines.slices(upper_case(queries.sequences), query_starts, query_lengths)
        lines.constant("*", empty).constant("\t")
        if queries.qualities is None:
            lines.constant("*")
        else:
            lines.slices(queries.qualities, query_starts, query_lengths).constant("*", empty)
        # Tags of mapped records.
        integral = batch.integer_scores % batch.scoring.scale == 0
        lines.constant("\tAS:i:", mapped & integral).constant("\tAS:f:", mapped & ~integral)
        add_scores(lines, batch, mapped)
        lines.constant("\tNM:i:", mapped).integers(batch.edit_distances, mapped)
        lines.constant("\n")
        return lines.to_bytes()
