"""The ``streamalign`` command line: ``align`` reads, ``index`` a reference set ahead of time,
``demo`` the classic workload.

``main(argv)`` returns an exit code (see :class:`ExitStatus`) instead of exiting, and takes its
standard streams as arguments, so tests run it in-process.

Example:
    >>> import io
    >>> stdout, stderr = io.BytesIO(), io.StringIO()
    >>> int(main(["demo", "--sequences", "50", "--quiet"], stdout=stdout, stderr=stderr))
    0
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import math
import os
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from typing import IO, Any, BinaryIO, cast

import numpy as np

from . import __version__, _config, bench
from .aligner import DEVICES, SEARCHES, STRANDS, Aligner
from .alphabet import encode
from .checkpoint import CheckpointKeeper, ResumeError, load_checkpoint, truncate_to
from .engine import BACKENDS
from .errors import InputFormatError, InvalidSequenceError, StreamAlignError
from .io.formats import FORMATS, format_from_path
from .io.readers import InputProgress
from .options import (
    ArgumentParser,
    ExitStatus,
    ParserExit,
    UsageError,
    add_scoring_options,
    aligner_from_arguments,
    checked_device,
    fraction,
    kmer_length,
    non_negative_int,
    positive_int,
    read_reference_file,
)
from .pipeline import INVALID_POLICIES, RunOptions, RunStatistics, fingerprint, run
from .progress import ProgressEstimator, make_reporter
from .search.index import MAX_K, MIN_K, index_arrays
from .search.indexfile import load_index, save_index

#: Environment variables naming the Dask scheduler for ``--backend dask``, in precedence order.
SCHEDULER_VARIABLES = ("STREAMALIGN_SCHEDULER", "DASK_SCHEDULER_ADDRESS")

#: The 64-bp 5' fragment of the E. coli 16S rRNA gene used by the classic demo workload.
DEMO_REFERENCE = "GAGTTTGATCCTGGCTCAGATTGAACGCTGGCGGCATGCTTAACACATGCAAGTCGAACGGCAG"


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("execution")
    group.add_argument(
        "-j", "--jobs", type=non_negative_int, default=0, help="workers; 0 = all CPUs (default)"
    )
    group.add_argument(
        "--backend",
        choices=list(BACKENDS),
        default="threads",
        help="threads (default; the kernels release the GIL), processes, "
        "serial, dask (a Dask cluster: see --scheduler, --dask-workers)",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="--backend dask: the Dask scheduler, e.g. tcp://host:8786 "
        f"(default: ${SCHEDULER_VARIABLES[0]}, else ${SCHEDULER_VARIABLES[1]}, "
        "else a local cluster)",
    )
    group.add_argument(
        "--dask-workers",
        type=positive_int,
        metavar="N",
        help="--backend dask: start a local cluster of N single-threaded "
        "worker processes (default without a scheduler: -j)",
    )
    group.add_argument(
        "--start-method",
        choices=["fork", "spawn", "forkserver"],
        help="process start method for --backend processes",
    )
    group.add_argument(
        "--device",
        choices=list(DEVICES),
        default="cpu",
        help="where the alignment kernel runs: cpu (default) or cuda (an NVIDIA GPU; "
        "pip install 'streamalign[gpu]'); the output is the same",
    )
    group.add_argument(
        "--batch-size",
        type=positive_int,
        help="records per batch (default: sized to ~0.1 s of work)",
    )
    group.add_argument(
        "--unordered",
        action="store_true",
        help="write batches as they finish instead of in input order",
    )
    group.add_argument("--quiet", action="store_true", help="no progress bar, no summary")
    group.add_argument("--stats-json", metavar="FILE", help="write the run's statistics as JSON")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``streamalign``."""
    parser = ArgumentParser(
        prog="streamalign",
        description="Exact affine-gap alignment of DNA sequence streams on every core.",
    )
    parser.add_argument("--version", action="version", version=f"streamalign {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    align = commands.add_parser(
        "align",
        help="align reads against references",
        description="Align FASTA/FASTQ reads (plain, gz, bz2, xz, or - for stdin) against the "
        "references; write SAM, TSV or JSONL in input order.",
    )
    align.add_argument(
        "-r",
        "--reference",
        required=True,
        help="references: a FASTA or FASTQ file (plain or compressed; FASTQ qualities are "
        "ignored), or an index file made by `streamalign index`",
    )
    align.add_argument(
        "reads",
        nargs="*",
        default=["-"],
        help="FASTA/FASTQ files, '-' for standard input (default)",
    )
    align.add_argument("-o", "--output", help="output file (default: standard output)")
    align.add_argument(
        "--format",
        choices=FORMATS,
        help="output format (default: from the output's extension, SAM for standard output)",
    )
    align.add_argument(
        "--strand",
        choices=STRANDS,
        default="forward",
        help="both: also align the reverse complement, keep the better",
    )
    thresholds = align.add_mutually_exclusive_group()
    thresholds.add_argument(
        "--min-score",
        type=float,
        help="records scoring below this are written as unmapped (replaces the default rule: "
        "unmapped when no stretch of the alignment beats chance; --min-score=-inf maps all)",
    )
    thresholds.add_argument(
        "--min-identity",
        type=fraction,
        help="records with a lower identity are written as unmapped",
    )
    align.add_argument(
        "--all-refs",
        action="store_true",
        help="one record per reference instead of the best reference; with --min-score or "
        "--min-identity, one per reference that passes (the best primary, the others "
        "secondary; a read with none: its best alignment, unmapped), aligning only the "
        "references whose proven score or identity bound can pass",
    )
    align.add_argument(
        "--search",
        choices=SEARCHES,
        default="exact",
        help="with several references: exact (default) finds each read's best reference "
        "through a k-mer index, aligning only the references whose score bound can win (the "
        "same results as exhaustive); exhaustive aligns every reference; fast follows "
        "vsearch's rules: candidates in decreasing score bound, accepted when they pass "
        "--min-identity or --min-score (required), stopping at --max-accepts accepted or "
        "--max-rejects rejected (faster, not always the best hit)",
    )
    align.add_argument(
        "--max-accepts",
        type=non_negative_int,
        metavar="N",
        help="--search fast: stop after N accepted candidates, report the best (default 1; "
        "0: no limit; vsearch's --maxaccepts)",
    )
    align.add_argument(
        "--max-rejects",
        type=non_negative_int,
        metavar="N",
        help="--search fast: stop after N rejected candidates (default 32; 0: no limit; "
        "vsearch's --maxrejects)",
    )
    align.add_argument("--classic-cigar", action="store_true", help="CIGAR with M instead of =/X")
    align.add_argument(
        "-k",
        "--kmer-length",
        type=kmer_length,
        metavar="K",
        help=f"k-mer length of the search index of many references (default {_config.SEARCH_K}; "
        "an index file must have been built with this k)",
    )
    align.add_argument(
        "--on-invalid",
        choices=INVALID_POLICIES,
        default="reject",
        help="records with non-IUPAC characters: stop with an error, skip "
        "them, or reject them to --rejects (default)",
    )
    align.add_argument(
        "--rejects", metavar="FILE", help="write rejected records here (FASTA/FASTQ as read)"
    )
    align.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run from the end of its -o file (ordered "
        "runs to a file keep a FILE.checkpoint for this)",
    )
    add_scoring_options(align)
    _add_engine_options(align)

    _add_index_parser(commands)

    demo = commands.add_parser(
        "demo",
        help="the classic demo workload on all cores",
        description="Align random 64-bp sequences against the 64-bp 16S rRNA fragment "
        f"{DEMO_REFERENCE} (global, end gaps penalized, scikit-bio defaults) and print a "
        "summary.",
    )
    demo.add_argument(
        "--sequences", type=positive_int, default=1000, help="number of random sequences (1000)"
    )
    demo.add_argument("--length", type=positive_int, default=64, help="their length (64)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (0)")
    demo.add_argument("-o", "--output", help="also write the alignments (SAM/TSV/JSONL)")
    demo.add_argument("--format", choices=FORMATS, help="output format")
    _add_engine_options(demo)

    bench.add_parser(commands)
    return parser


def _add_index_parser(commands: Any) -> None:
    index = commands.add_parser(
        "index",
        help="build the k-mer index of a reference set ahead of time",
        description="Build the k-mer index of the references once and save it, with the "
        "references, as one file that `streamalign align -r INDEX` opens memory-mapped "
        "instead of indexing the FASTA on every run. With --verify, check an existing index "
        "file instead (every checksum, and that its FASTA has not changed).",
    )
    index.add_argument(
        "reference",
        help="FASTA/FASTQ file of references (plain or compressed); with --verify, the index file",
    )
    index.add_argument("-o", "--output", metavar="INDEX", help="the index file to write")
    index.add_argument(
        "-k",
        "--kmer-length",
        type=kmer_length,
        metavar="K",
        help=f"k-mer length ({_config.SEARCH_K}; between {MIN_K} and {MAX_K})",
    )
    index.add_argument(
        "--cluster-size",
        type=positive_int,
        metavar="N",
        help="references per cluster of the postings (default: 1 up to "
        f"{_config.SEARCH_SINGLETON_REFERENCES:,} references, else "
        f"{_config.SEARCH_CLUSTER_SIZE})",
    )
    index.add_argument(
        "-j",
        "--jobs",
        type=positive_int,
        metavar="N",
        help="threads finding the families of near-identical references (default: one per core)",
    )
    index.add_argument(
        "--verify", action="store_true", help="check the index file REFERENCE instead"
    )
    index.add_argument("--quiet", action="store_true", help="no summary line")


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: IO[Any] | None = None,
    stdout: IO[Any] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run the command line; return the exit status instead of exiting."""
    arguments_list = list(sys.argv[1:] if argv is None else argv)
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    parser = build_parser()
    try:
        arguments = parser.parse_args(arguments_list)
    except UsageError as error:
        print(parser.format_usage().rstrip(), file=stderr)
        print(error, file=stderr)
        return ExitStatus.USAGE
    except ParserExit as exit_request:
        return exit_request.status
    command_line = shlex.join(["streamalign", *arguments_list])
    try:
        if arguments.command == "demo":
            return _demo(arguments, command_line, stdout, stderr)
        if arguments.command == "bench":
            return bench.run_bench(arguments, stdin, stdout, stderr)
        if arguments.command == "index":
            return _index(arguments, stderr)
        return _align(arguments, command_line, stdin, stdout, stderr)
    except UsageError as error:
        print(f"streamalign: error: {error}", file=stderr)
        return ExitStatus.USAGE
    except StreamAlignError as error:
        print(f"streamalign: error: {error}", file=stderr)
        return ExitStatus.ERROR
    except BrokenPipeError:
        print(
            "streamalign: error: the output was closed before the run finished (broken pipe)",
            file=stderr,
        )
        with contextlib.suppress(OSError, ValueError):  # nothing more may reach a closed pipe
            os.dup2(os.open(os.devnull, os.O_WRONLY), _binary(stdout).fileno())
        return ExitStatus.ERROR
    except OSError as error:
        name = f"{error.filename}: " if getattr(error, "filename", None) else ""
        print(f"streamalign: error: {name}{error.strerror or error}", file=stderr)
        return ExitStatus.ERROR


def _binary(stream: IO[Any]) -> BinaryIO:
    return cast(BinaryIO, getattr(stream, "buffer", stream))


def _dask_target(arguments: argparse.Namespace) -> tuple[str | None, int]:
    """The scheduler address (``None``: a local cluster) and the worker count of a run.

    Precedence for ``--backend dask``: ``--scheduler``, ``--dask-workers`` (a local cluster),
    ``$STREAMALIGN_SCHEDULER``, ``$DASK_SCHEDULER_ADDRESS``, a local cluster of ``-j`` workers.
    """
    scheduler = arguments.scheduler
    dask_workers = arguments.dask_workers
    if arguments.backend != "dask":
        if scheduler is not None or dask_workers is not None:
            raise UsageError("--scheduler and --dask-workers need --backend dask")
        return None, arguments.jobs
    if scheduler is not None and dask_workers is not None:
        raise UsageError(
            "--scheduler (a running cluster) and --dask-workers (a local one) exclude each other"
        )
    if scheduler is None and dask_workers is None:
        scheduler = next(
            (os.environ[name] for name in SCHEDULER_VARIABLES if os.environ.get(name)), None
        )
    return scheduler, arguments.jobs if dask_workers is None else dask_workers


def _start_method(arguments: argparse.Namespace) -> str | None:
    """``--start-method``; with ``--device cuda`` and ``--backend processes``, spawn unless
    given (a forked child cannot use the CUDA driver its parent started)."""
    start_method: str | None = arguments.start_method
    if arguments.device == "cuda" and arguments.backend == "processes":
        if start_method == "fork":
            raise UsageError(
                "--device cuda with --backend processes needs --start-method spawn or "
                "forkserver (a forked process cannot use CUDA)"
            )
        return start_method or "spawn"
    return start_method


def _options(arguments: argparse.Namespace, command_line: str, output_format: str) -> RunOptions:
    scheduler, workers = _dask_target(arguments)
    min_score = getattr(arguments, "min_score", None)
    if min_score is not None and math.isnan(min_score):
        raise UsageError("--min-score must be a number, got nan")
    return RunOptions(
        output_format=output_format,
        strand=getattr(arguments, "strand", "forward"),
        all_references=getattr(arguments, "all_refs", False),
        min_score=min_score,
        min_identity=getattr(arguments, "min_identity", None),
        extended_cigar=not getattr(arguments, "classic_cigar", False),
        backend=arguments.backend,
        workers=workers,
        scheduler=scheduler,
        start_method=_start_method(arguments),
        ordered=not arguments.unordered,
        batch_records=arguments.batch_size,
        on_invalid=getattr(arguments, "on_invalid", "reject"),
        command_line=command_line,
    )


def _align(
    arguments: argparse.Namespace,
    command_line: str,
    stdin: IO[Any],
    stdout: IO[Any],
    stderr: IO[str],
) -> int:
    output_format = _output_format(arguments)
    aligner = aligner_from_arguments(arguments, stderr=stderr)
    options = _options(arguments, command_line, output_format)
    return _execute(aligner, arguments.reads, options, arguments, stdin, stdout, stderr)


def _index(arguments: argparse.Namespace, stderr: IO[str]) -> int:
    """``streamalign index``: build and save the index of a reference file, or ``--verify``
    one; a one-line summary on ``stderr`` unless ``--quiet``."""
    path = arguments.reference
    if arguments.verify:
        if arguments.output or arguments.kmer_length or arguments.cluster_size or arguments.jobs:
            raise UsageError("--verify checks an index: it takes no -o, -k, -j or --cluster-size")
        return _verify_index(path, arguments.quiet, stderr)
    output = arguments.output
    if output is None:
        raise UsageError("index: give the index file to write with -o, e.g. -o refs.idx")
    if path == "-":
        raise UsageError(
            "index: the references must be a file, not standard input (the index records "
            "the file's checksum, to notice when it changes)"
        )
    if os.path.isdir(output):
        raise UsageError(
            f"-o {output}: is a directory; give a file name, e.g. "
            f"{os.path.join(output, 'refs.idx')}"
        )
    if os.path.exists(output) and os.path.exists(path) and os.path.samefile(output, path):
        raise UsageError(f"-o {output}: is the reference file itself")
    started = time.perf_counter()
    k = arguments.kmer_length or _config.SEARCH_K
    references = read_reference_file(path, None if arguments.quiet else stderr)
    names = [name for name, _ in references]
    sequences = np.frombuffer("".join(sequence for _, sequence in references).encode(), np.uint8)
    offsets = np.zeros(len(references) + 1, np.int64)
    np.cumsum([len(sequence) for _, sequence in references], out=offsets[1:])
    try:
        codes = encode(sequences, offsets, names)
    except InvalidSequenceError as error:
        record = names.index(error.sequence) + 1
        raise InputFormatError(f"{path}: record {record:,}: {error}") from None
    index = index_arrays(
        codes,
        offsets,
        k=k,
        names=names,
        cluster_size=arguments.cluster_size,
        threads=arguments.jobs,
    )
    try:
        size = save_index(index, output, source=path, sequences=sequences)
    except OSError as error:  # nothing is left behind: save_index writes, then renames
        raise StreamAlignError(
            f"{output}: cannot write the index ({error.strerror or error})"
        ) from None
    if not arguments.quiet:
        print(
            f"streamalign index: {index.reference_count:,} references "
            f"({int(offsets[-1]):,} bases), k={k}, {index.cluster_count:,} clusters, "
            f"{index.families.family_count:,} families of "
            f"{int(np.count_nonzero(index.family_of >= 0)):,} references, "
            f"{_size_text(size)}, {time.perf_counter() - started:.1f} s -> {output}",
            file=stderr,
        )
    return ExitStatus.SUCCESS


def _verify_index(path: str, quiet: bool, stderr: IO[str]) -> int:
    """``streamalign index --verify``: every check of :func:`load_index`, every checksum."""
    index = load_index(path, verify=True)
    header = index.header
    if not quiet:
        source = header.source
        origin = "no source file recorded"
        if source is not None:
            state = "unchanged" if os.path.exists(source.path) else "no longer there"
            origin = f"built from {source.path} ({state})"
        print(
            f"{path}: a valid streamalign index (format {header.format_version}, written by "
            f"streamalign {header.streamalign_version}): {index.reference_count:,} references, "
            f"k={index.k}, {index.cluster_count:,} clusters, {_size_text(header.file_size)}; "
            f"every checksum matches; {origin}",
            file=stderr,
        )
    return ExitStatus.SUCCESS


def _size_text(size: int) -> str:
    """A file size for people: ``1.5 MiB``."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


def _output_format(arguments: argparse.Namespace) -> str:
    """The output format; first, a one-line error for an output path that is a directory."""
    for option, attribute, example in (
        ("-o", "output", "out.sam"),
        ("--rejects", "rejects", "rejects.fastq"),
        ("--stats-json", "stats_json", "stats.json"),
    ):
        path = getattr(arguments, attribute, None)
        if path is not None and path != "-" and os.path.isdir(path):
            raise UsageError(
                f"{option} {path}: is a directory; give a file name, e.g. "
                f"{os.path.join(path, example)}"
            )
    try:
        return format_from_path(arguments.output, arguments.format)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _demo(
    arguments: argparse.Namespace, command_line: str, stdout: IO[Any], stderr: IO[str]
) -> int:
    generator = np.random.default_rng(arguments.seed)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    codes = generator.integers(0, 4, size=(arguments.sequences, arguments.length))
    fasta = b"".join(
        b">random%d\n%s\n" % (number, letters[row].tobytes()) for number, row in enumerate(codes)
    )
    output_format = _output_format(arguments)
    aligner = Aligner(
        DEMO_REFERENCE,
        "global",
        reference_name="16S_fragment",
        device=checked_device(arguments),
    )
    options = _options(arguments, command_line, output_format)
    if not arguments.quiet:
        print(
            f"demo: {arguments.sequences:,} random {arguments.length}-bp sequences against the "
            f"{len(DEMO_REFERENCE)}-bp 16S rRNA fragment (global, match 1, mismatch -2, "
            "gap open 5, gap extend 2)",
            file=stderr,
        )
    status = _execute(
        aligner,
        ["-"],
        options,
        arguments,
        io.BytesIO(fasta),
        stdout,
        stderr,
        discard_output=arguments.output is None,
    )
    if status == ExitStatus.SUCCESS and not arguments.quiet:
        example = aligner.align(fasta.split(b"\n")[1].decode("ascii"), name="random0")
        print(f"\nfirst alignment (score {example.score:g}, {example.cigar}):", file=stderr)
        print(example, file=stderr)
    return status


def _execute(
    aligner: Aligner,
    reads: list[str],
    options: RunOptions,
    arguments: argparse.Namespace,
    stdin: IO[Any],
    stdout: IO[Any],
    stderr: IO[str],
    *,
    discard_output: bool = False,
) -> int:
    statistics = RunStatistics()
    output_path: str | None = getattr(arguments, "output", None)
    rejects_path: str | None = getattr(arguments, "rejects", None)
    resume = getattr(arguments, "resume", False)
    keeper = None
    skip_records = 0
    to_file = not discard_output and output_path is not None and output_path != "-"
    if resume and (not to_file or not options.ordered):
        raise UsageError("--resume needs an output file (-o) and ordered output")
    regular = (
        output_path is not None
        and to_file
        and (os.path.isfile(output_path) or not os.path.exists(output_path))
    )
    if resume and not regular:
        raise UsageError("--resume needs a regular output file")
    if regular and output_path is not None and options.ordered:  # not /dev/null, a FIFO...
        keeper = CheckpointKeeper(output_path, fingerprint(aligner, options, reads))
        if resume:
            saved = load_checkpoint(output_path)
            if saved.fingerprint != keeper.fingerprint:
                raise ResumeError(
                    f"{output_path}: the checkpoint was written with other inputs or options; "
                    "resume with the same command"
                )
            truncate_to(output_path, saved.output_bytes)
            truncate_to(rejects_path, saved.rejects_bytes)
            skip_records = saved.records
            for name, value in saved.statistics.items():
                setattr(statistics, name, value)
    output: BinaryIO
    mode = "ab" if resume else "wb"
    if discard_output:
        output = open(os.devnull, "wb")  # noqa: SIM115 - closed below
    elif output_path is None or not to_file:
        output = _binary(stdout)
    else:
        output = cast(BinaryIO, open(output_path, mode))  # noqa: SIM115 - closed below
    rejects: BinaryIO | None = None
    if rejects_path:
        rejects = cast(BinaryIO, open(rejects_path, mode))  # noqa: SIM115 - closed below
    status = ExitStatus.SUCCESS
    input_progress = InputProgress()
    estimator = ProgressEstimator(input_progress, initial_records=skip_records)
    reporter = make_reporter(stderr, estimator, quiet=arguments.quiet)
    say = functools.partial(print, file=stderr) if reporter is None else reporter.message
    try:
        if reporter is not None:
            reporter.start()
        run(
            aligner,
            reads,
            output,
            options,
            stdin=_binary(stdin),
            rejects=rejects,
            on_progress=estimator.update,
            on_rejection=None
            if arguments.quiet
            else lambda reason: say(f"streamalign: rejected {reason}"),
            statistics=statistics,
            checkpoint=keeper,
            skip_records=skip_records,
            input_progress=input_progress,
        )
        if keeper is not None:
            keeper.remove()
        if statistics.rejected:
            status = ExitStatus.REJECTED
    except KeyboardInterrupt:
        statistics.interrupted = True
        status = ExitStatus.INTERRUPTED
    finally:
        if reporter is not None:
            reporter.close()
        with contextlib.ExitStack() as closing:  # close everything even if a flush fails
            if rejects is not None:
                closing.callback(rejects.close)
            if output is not _binary(stdout):
                closing.callback(output.close)
            output.flush()
    if arguments.stats_json:
        with open(arguments.stats_json, "w", encoding="utf-8") as handle:
            handle.write(statistics.to_json())
    if not arguments.quiet or status == ExitStatus.INTERRUPTED:
        print(statistics.summary(), file=stderr)
    return status


def _terminate(signal_number: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the run like Ctrl-C: flush, summary, exit 130


def console_main() -> None:
    """Entry point of the ``streamalign`` console script."""
    signal.signal(signal.SIGTERM, _terminate)
    status = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader of our standard output has gone (| head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = status or ExitStatus.ERROR
    sys.exit(status)
