"""Command-line pieces shared by the subcommands (``align``/``demo`` in :mod:`streamalign.cli`,
``bench`` in :mod:`streamalign.bench`): exit statuses, a parser that raises instead of exiting,
option types, and the scoring options with the aligner they describe.

Both command modules import this one and neither imports the other's internals, so the
arrows run one way: ``cli`` -> ``bench`` -> ``options``.

Example:
    >>> parser = ArgumentParser(prog="example")
    >>> add_scoring_options(parser)
    >>> arguments = parser.parse_args(["--match", "2", "--compat", "skbio"])
    >>> scoring_from_arguments(arguments).match, alignment_mode(arguments)
    (2.0, 'global')
    >>> positive_int("3")
    3
    >>> parser.parse_args(["--mode", "sideways"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    streamalign.options.UsageError: example: error: argument --mode: invalid choice: ...
"""

from __future__ import annotations

import argparse
import enum
import os
import re
import sys
from collections.abc import Sequence
from typing import IO, Any

from .aligner import MODES, Aligner
from .errors import InputFormatError, InvalidSequenceError, StreamAlignError
from .io.readers import STDIN_NAME, read_references
from .io.sam import sam_reference_names, unique_reference_names
from .references import ReferenceSequences
from .scoring import AMBIGUITY_POLICIES, Scoring
from .search.fast import FastSearch
from .search.index import MAX_K, MIN_K
from .search.indexfile import is_index_file, load_index

#: A reference file named so is read as an index file (a one-line error if it is not one);
#: an index is recognised by its first bytes under any other name too.
INDEX_SUFFIX = ".idx"
#: A reference needs one of these (else it is empty or all N).
_UNAMBIGUOUS_BASE = re.compile("[ACGTUacgtu]")


class ExitStatus(enum.IntEnum):
    """Exit codes of the command line."""

    SUCCESS = 0
    ERROR = 1  # bad input, unreadable file, failed run
    USAGE = 2  # bad or contradictory options
    REJECTED = 3  # the run finished, but some records were rejected (see --rejects)
    INTERRUPTED = 130  # Ctrl-C or SIGTERM


class UsageError(Exception):
    """Bad or contradictory options: the command exits with :attr:`ExitStatus.USAGE`."""


class ParserExit(Exception):
    """The parser finished the command by itself (``--help``, ``--version``) with ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` can return a code."""

    def error(self, message: str) -> Any:
        raise UsageError(f"{self.prog}: error: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        if message:
            self._print_message(message, sys.stderr)
        raise ParserExit(status)


def non_negative_int(text: str) -> int:
    """An option's integer, 0 or more."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_int(text: str) -> int:
    """An option's integer, 1 or more."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def kmer_length(text: str) -> int:
    """An option's k-mer length for the search index."""
    value = int(text)
    if not MIN_K <= value <= MAX_K:
        raise argparse.ArgumentTypeError(f"must be between {MIN_K} and {MAX_K}, got {value}")
    return value


def fraction(text: str) -> float:
    """An option's number between 0 and 1."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value


def add_scoring_options(parser: argparse.ArgumentParser) -> None:
    """The options :func:`scoring_from_arguments` and :func:`aligner_from_arguments` read."""
    group = parser.add_argument_group("scoring (defaults: scikit-bio's nucleotide defaults)")
    group.add_argument(
        "--mode",
        choices=list(MODES),
        help="global: end gaps penalized; semiglobal: read fully aligned, "
        "reference ends free (default; global with --compat skbio); overlap: "
        "all ends free; local",
    )
    group.add_argument("--match", type=float, default=1.0, help="match score (1)")
    group.add_argument("--mismatch", type=float, default=-2.0, help="mismatch score (-2)")
    group.add_argument(
        "--gap-open", type=float, default=5.0, help="cost of a gap's first position (5)"
    )
    group.add_argument(
        "--gap-extend", type=float, default=2.0, help="cost of each further gap position (2)"
    )
    group.add_argument(
        "--matrix", help="substitution matrix by name, e.g. NUC.4.4 (replaces --match/--mismatch)"
    )
    group.add_argument(
        "--ambiguous",
        choices=AMBIGUITY_POLICIES,
        default="score0",
        help="scoring of N and other IUPAC codes (score0)",
    )
    group.add_argument(
        "--compat", choices=["skbio"], help="skbio: reproduce scikit-bio's pairwise aligner exactly"
    )


def scoring_from_arguments(arguments: argparse.Namespace) -> Scoring:
    """The :class:`~streamalign.scoring.Scoring` of the scoring options.

    Raises:
        UsageError: the options describe no valid scoring.
    """
    try:
        return Scoring(
            match=arguments.match,
            mismatch=arguments.mismatch,
            gap_open=arguments.gap_open,
            gap_extend=arguments.gap_extend,
            matrix=arguments.matrix,
            ambiguous=arguments.ambiguous,
            recurrence="skbio" if arguments.compat == "skbio" else "gotoh",
        )
    except StreamAlignError as error:
        raise UsageError(str(error)) from None


def alignment_mode(arguments: argparse.Namespace) -> str:
    """``--mode``, else ``global`` with ``--compat skbio`` (scikit-bio's), else ``semiglobal``."""
    if arguments.mode:
        return str(arguments.mode)
    return "global" if arguments.compat == "skbio" else "semiglobal"


def aligner_from_arguments(arguments: argparse.Namespace, stderr: IO[str] | None = None) -> Aligner:
    """The :class:`~streamalign.aligner.Aligner` of the scoring options for the references of
    ``--reference`` (read after the scoring is checked), under the names every output format
    uses (:func:`references_for_output`; the note goes to ``stderr`` unless ``--quiet``).

    ``--reference`` is a FASTA/FASTQ file, or an index file of ``streamalign index``
    (recognised by its first bytes, or named ``*.idx``): then the references are the index's
    and its k-mer index is used as it is, memory-mapped, not rebuilt. ``-k`` (where the
    command has it) sets the k of the index built from a FASTA, and must be an index file's.

    Raises:
        UsageError: the options describe no valid scoring or aligner.
        StreamAlignError: the reference file cannot be read, holds no sequence, or holds an
            empty or all-N one; an index file that cannot be used
            (:class:`~streamalign.errors.IndexFileError`).
    """
    scoring = scoring_from_arguments(arguments)
    search = search_from_arguments(arguments)
    device = checked_device(arguments)
    quiet = getattr(arguments, "quiet", False)
    kmer_length = getattr(arguments, "kmer_length", None)
    path = arguments.reference
    index = None
    references: Any
    names = None
    if is_index_path(path):
        # The index's arrays as they are (memory-mapped): no string per reference.
        index = load_index(path, k=kmer_length)
        references = ReferenceSequences.from_index(index)
        names = output_names(index.names, None if quiet else stderr)
    else:
        references = read_reference_file(path, None if quiet else stderr)
    try:
        return Aligner(
            references,
            alignment_mode(arguments),
            reference_names=names,
            scoring=scoring,
            device=device,
            search=search,
            index=index,
            search_k=kmer_length,
        )
    except InvalidSequenceError as error:
        raise InputFormatError(f"{path}: {error}") from None
    except ValueError as error:
        raise UsageError(str(error)) from None


def search_from_arguments(arguments: argparse.Namespace) -> str | FastSearch:
    """``--search``; for ``fast``, its :class:`~streamalign.search.fast.FastSearch` of
    ``--min-identity`` or ``--min-score`` and ``--max-accepts``/``--max-rejects``.

    Raises:
        UsageError: ``fast`` without a threshold or with ``--all-refs``, or the limits
            without ``fast``.
    """
    search = str(getattr(arguments, "search", "exact"))
    max_accepts = getattr(arguments, "max_accepts", None)
    max_rejects = getattr(arguments, "max_rejects", None)
    if search != "fast":
        if max_accepts is not None or max_rejects is not None:
            raise UsageError("--max-accepts and --max-rejects need --search fast")
        return search
    min_identity = getattr(arguments, "min_identity", None)
    min_score = getattr(arguments, "min_score", None)
    if min_identity is None and min_score is None:
        raise UsageError(
            "--search fast needs --min-identity (vsearch's --id) or --min-score: the test a "
            "candidate must pass to be accepted"
        )
    if getattr(arguments, "all_refs", False):
        raise UsageError(
            "--search fast reports one hit per read; for every reference that passes a "
            "threshold use --all-refs with --min-score or --min-identity (exact)"
        )
    return FastSearch(
        min_identity=min_identity,
        min_score=min_score,
        max_accepts=1 if max_accepts is None else max_accepts,
        max_rejects=32 if max_rejects is None else max_rejects,
    )


def is_index_path(path: str) -> bool:
    """Whether a ``--reference`` is to be read as an index file: it starts with the index
    signature, or its name ends in :data:`INDEX_SUFFIX`.

    Example:
        >>> is_index_path("tests/data/ecoli_16S.fa"), is_index_path("-")
        (False, False)
    """
    return is_index_file(path) or (path.endswith(INDEX_SUFFIX) and os.path.isfile(path))


def read_reference_file(path: str, stderr: IO[str] | None = None) -> list[tuple[str, str]]:
    """The references of a FASTA/FASTQ file, checked (:func:`check_reference_sequences`), under
    the names of :func:`references_for_output` (its note on ``stderr`` when names repeat).

    Raises:
        StreamAlignError: the file cannot be read, holds no record, or an empty or all-N one.
    """
    references = read_references(path)
    check_reference_sequences(references, STDIN_NAME if path == "-" else path)
    return references_for_output(references, stderr)


def check_reference_sequences(references: list[tuple[str, str]], path: str) -> None:
    """Refuse a reference set with an empty sequence, or one without a single ``A``, ``C``,
    ``G`` or ``T`` (all ``N`` or other ambiguity codes): no read can align to it.

    Raises:
        InputFormatError: one line naming the file, the 1-based record and its name.

    Example:
        >>> check_reference_sequences([("a", "ACGT"), ("b", "NNNN")], "refs.fa")
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        streamalign.errors.InputFormatError: refs.fa: record 2 ('b'): all N (no A, C, G ...
    """
    for number, (name, sequence) in enumerate(references, start=1):
        if not sequence:
            raise InputFormatError(
                f"{path}: record {number:,} ({name!r}): empty sequence; remove the record"
            )
        if _UNAMBIGUOUS_BASE.search(sequence) is None:
            raise InputFormatError(
                f"{path}: record {number:,} ({name!r}): all N (no A, C, G or T): nothing can "
                "align to it; remove the record"
            )


def checked_device(arguments: argparse.Namespace) -> str:
    """``--device`` (``cpu`` when the command has none), once it is known to be usable.

    Raises:
        UsageError: ``--device cuda`` without numba-cuda or without a GPU (one line naming
            what is missing).

    Example:
        >>> checked_device(argparse.Namespace(device="cpu"))
        'cpu'
    """
    device = str(getattr(arguments, "device", "cpu"))
    if device == "cuda":
        from .kernels.cuda.device import device_problem

        problem = device_problem()
        if problem is not None:
            raise UsageError(f"--device cuda: {problem}")
    return device


def references_for_output(
    references: list[tuple[str, str]], stderr: IO[str] | None = None
) -> list[tuple[str, str]]:
    """The references under names unique and valid in SAM, used by every output format (so
    SAM and TSV/JSONL results join by name); one note on ``stderr`` when names repeat.

    Example:
        >>> import io
        >>> note = io.StringIO()
        >>> references_for_output([("a b", "AC"), ("a b", "GT")], note)
        [('a_b', 'AC'), ('a_b_2', 'GT')]
        >>> print(note.getvalue(), end="")  # doctest: +ELLIPSIS
        streamalign: note: 1 of 2 references repeat an earlier name ... (first: 'a b' -> 'a_b_2')
    """
    names = output_names([name for name, _ in references], stderr)
    return [(name, sequence) for name, (_, sequence) in zip(names, references, strict=True)]


def output_names(originals: Sequence[str], stderr: IO[str] | None = None) -> list[str]:
    """The names of :func:`references_for_output`, from the names alone (an index file's
    references need no string each).

    Example:
        >>> output_names(["a b", "a b", "c"])
        ['a_b', 'a_b_2', 'c']
    """
    names = unique_reference_names(list(originals))
    valid = sam_reference_names(originals)  # (one pass over all names, not one each)
    repeated = [
        (original, name)
        for original, name, fixed in zip(originals, names, valid, strict=True)
        if fixed != name
    ]
    if repeated and stderr is not None:
        original, name = repeated[0]
        print(
            f"streamalign: note: {len(repeated):,} of {len(originals):,} references repeat an "
            "earlier name and are called NAME_2, NAME_3, ... in file order in every output "
            f"format (first: {original!r} -> {name!r})",
            file=stderr,
        )
    return names
