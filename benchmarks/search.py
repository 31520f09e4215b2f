"""Database search benchmark (issue 13): the exact best hit among many references.

Three parts, each a set of ``streamalign`` and ``vsearch`` commands timed in this run, each
command in its own process (wall time; peak memory sampled with psutil and ``/proc``):

1. ``exact``: the reads (default ``sam1F.fastq.gz``, 1,500 MiSeq reads) against the references
   (default ``ten_16s.100.fa.gz``, 3,994 16S genes), semi-global, ``--strand both``, 2 threads:
   streamalign's search (the default of ``-r`` with many references) against its exhaustive
   path (``--search exhaustive``: the TSV outputs must be byte-identical), and against
   ``vsearch --usearch_global --id 0.8`` with its default heuristics and exhaustively
   (``--maxaccepts 0 --maxrejects 0``). Each read's vsearch hit is realigned with
   streamalign's ``Aligner`` (same mode and scoring, both strands) to count how often it is
   worse than the exact best, by score and by identity; and vsearch's default hit is compared
   with its own exhaustive hit by vsearch's identity. -> ``search.md``, ``search.json``.
2. ``scale``: a synthetic database (every reference gene mutated ``--genes-per-reference``
   times, 100 by default: 399,400 genes; 1-5% substitutions and 1-3-base indels per mutant,
   fixed seed): index build time and size, and a search's time, reads/s and peak memory, with
   threads and through ``--backend dask --dask-workers 2`` sharing the memory-mapped index.
   -> ``search_scale.md``, ``search_scale.json`` (``search_scale_fast.*`` with
   ``--scale-search fast``, which times ``--search fast`` instead of the exact search).
3. ``growth``: reads/s against 100, 1,000, 4,000, 40,000 and 400,000 references (prefixes of
   the synthetic database) -> ``search_growth.md``, ``search_growth.json`` and
   ``search_growth.png`` (needs matplotlib); ``search_growth_fast.*`` with ``--scale-search
   fast``.

Options this streamalign build does not offer yet (``--search``, ``streamalign index``) are
detected from its ``--help``; what cannot run without them is reported as not run, with the
reason. Run from the repository root::

    python benchmarks/search.py                                  # all parts, full sizes
    python benchmarks/search.py --part exact --skip-vsearch-exhaustive --reads 200
    python benchmarks/search.py --part scale growth --scale-references 40000 --workdir /tmp/w

The exit status is 1 when a check fails (outputs that should be identical differ, a vsearch
hit scores above streamalign's exact best, a command fails), else 0.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import hashlib
import importlib.util
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# ``python benchmarks/search.py`` puts benchmarks/ first on sys.path, where dask.py would
# shadow the dask package: take it off.
if sys.path and Path(sys.path[0] or ".").resolve() == HERE:
    sys.path.pop(0)

import dnaio  # noqa: E402
import numpy as np  # noqa: E402

REPOSITORY = HERE.parent
DATA = REPOSITORY.parent / "shared" / "data"
DEFAULT_READS = DATA / "sam1F.fastq.gz"
DEFAULT_REFERENCES = DATA / "ten_16s.100.fa.gz"
PARTS = ("exact", "scale", "growth")
DEFAULT_SIZES = (100, 1_000, 4_000, 40_000, 400_000)
#: The exhaustive path aligns every read against every reference, both strands: measured
#: here, 100 reads of sam1F against the 3,994 genes of ten_16s took 43 minutes on 2 threads
#: (about 150 read-reference pairs per second). Without a search, runs of more read-reference
#: pairs than this (a few minutes) are not attempted.
EXHAUSTIVE_PAIRS_LIMIT = 30_000
#: vsearch's ``--id`` in part 1 (the issue's command), also ``--search fast``'s threshold.
VSEARCH_IDENTITY = 0.8
#: Reads of part 1's exhaustive run by default (about 45 minutes on that path).
EXHAUSTIVE_READS = 100
#: Statistics the search adds to ``--stats-json`` (read defensively: any key holding one of
#: these words is reported).
SEARCH_STATISTICS_WORDS = ("candidate", "prune", "pruned", "bound", "index")
MEBIBYTE = 1024 * 1024
GIBIBYTE = 1024 * MEBIBYTE


def log(message: str) -> None:
    print(f"search.py: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# streamalign's command line, and what this build of it offers


def streamalign_command(*arguments: str) -> list[str]:
    """The command line of ``streamalign ARGUMENTS`` run by this Python."""
    return [
        sys.executable,
        "-c",
        "from streamalign.cli import console_main; console_main()",
        *arguments,
    ]


def child_environment() -> dict[str, str]:
    """This environment, with the source folder of the imported streamalign first on
    ``PYTHONPATH``: the commands run the very streamalign this process imports."""
    import streamalign

    source = str(Path(streamalign.__file__).resolve().parent.parent)
    environment = dict(os.environ)
    paths = [source, *(p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p)]
    environment["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return environment


def _help_text(arguments: Sequence[str]) -> tuple[int, str]:
    """Exit status and output of ``streamalign ARGUMENTS`` run in this process."""
    from streamalign.cli import main as streamalign_main

    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        try:
            status = streamalign_main(list(arguments), stdout=output, stderr=output)
        except SystemExit as exit_request:  # a parser that exits instead of returning
            status = int(exit_request.code or 0)
    return status, output.getvalue()


@dataclasses.dataclass
class Features:
    """What this streamalign build's command line offers for database search."""

    search_modes: tuple[str, ...]  # choices of ``align --search`` (empty: no such option)
    index: bool  # ``streamalign index refs.fa -o refs.idx`` exists
    fast_options: tuple[str, ...]  # --max-accepts / --max-rejects where present

    @property
    def search(self) -> bool:
        """``--search`` exists: the default ``-r`` path is the search, ``exhaustive`` forced."""
        return "exhaustive" in self.search_modes

    @property
    def fast(self) -> bool:
        return "fast" in self.search_modes

    def notes(self) -> list[str]:
        notes = []
        if not self.search:
            notes.append(
                "this streamalign has no `align --search` option: the default `-r` path with "
                "many references is the old exhaustive one (every read against every "
                "reference), the exhaustive run cannot be forced and the identity check "
                "cannot run"
            )
        if not self.index:
            notes.append(
                "this streamalign has no `index` command: every search builds its index in "
                "memory from the FASTA, and no index build time or size is measured"
            )
        return notes

    def as_dict(self) -> dict[str, Any]:
        return {
            "search_modes": list(self.search_modes),
            "index": self.index,
            "fast_options": list(self.fast_options),
        }


def detect_features() -> Features:
    """Read ``streamalign align --help`` and ``streamalign index --help``."""
    _, text = _help_text(["align", "--help"])
    modes: tuple[str, ...] = ()
    if "--search" in text:
        after = text.split("--search", 1)[1]
        if after.lstrip().startswith("{"):
            modes = tuple(m.strip() for m in after.split("{", 1)[1].split("}", 1)[0].split(","))
        else:  # no choices printed: assume the documented ones
            modes = ("exact", "exhaustive", "fast")
    fast = tuple(option for option in ("--max-accepts", "--max-rejects") if option in text)
    status, index_text = _help_text(["index", "--help"])
    index = status == 0 and "-o" in index_text
    return Features(modes, index, fast)


def vsearch_version() -> str | None:
    """vsearch's version line, or None when it is not installed."""
    if shutil.which("vsearch") is None:
        return None
    completed = subprocess.run(
        ["vsearch", "--version"], capture_output=True, text=True, check=False
    )
    lines = (completed.stderr + completed.stdout).splitlines()
    return next((line for line in lines if line.startswith("vsearch v")), "vsearch (version?)")


def dask_available() -> bool:
    return importlib.util.find_spec("distributed") is not None


# --------------------------------------------------------------------------------------------
# running and measuring one command


@dataclasses.dataclass
class Measurement:
    """One command's wall time, exit status and peak memory."""

    label: str
    command: list[str]
    seconds: float
    returncode: int
    largest_process_mib: float  # the largest process's peak RSS (VmHWM)
    all_processes_rss_mib: float  # peak of the sampled RSS sum over the process tree
    all_processes_pss_mib: float | None  # the same for PSS (shared pages split), if readable
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def as_dict(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        document["command"] = shlex.join(self.command)
        return document


def _high_water_mark(pid: int) -> int:
    """``VmHWM`` of a process (bytes): the peak RSS of its current program; 0 if unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclasses.dataclass
class _Peaks:
    high_water: int = 0  # largest VmHWM of a process of the tree
    rss: int = 0  # largest RSS sum over the tree
    pss: int | None = 0  # largest PSS sum over the tree (None: not readable)


def _sample_tree(process: Any, peaks: _Peaks, with_pss: bool) -> None:
    """Fold one sample of ``process`` and its descendants into ``peaks``."""
    import psutil

    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return
    rss = 0
    pss: int | None = 0
    for member in members:
        try:
            if with_pss:
                info = member.memory_full_info()
                pss = None if pss is None else pss + getattr(info, "pss", info.uss)
            else:
                info = member.memory_info()
            rss += info.rss
        except psutil.AccessDenied:
            pss = None
        except psutil.Error:  # gone, or a zombie
            continue
        peaks.high_water = max(peaks.high_water, _high_water_mark(member.pid))
    peaks.rss = max(peaks.rss, rss)
    if with_pss and peaks.pss is not None:
        peaks.pss = None if pss is None else max(peaks.pss, pss)


def measure(
    command: Sequence[str],
    label: str,
    *,
    environment: dict[str, str] | None = None,
    sample_seconds: float = 0.05,
) -> Measurement:
    """Run ``command`` once: wall seconds, exit status, peak memory.

    Memory is sampled every ``sample_seconds`` over the process and its descendants (Dask's
    workers are processes), from the moment the command's program runs (before ``exec`` the
    child is a copy of this process): the largest ``VmHWM`` (a high-water mark, so a sample
    misses only what grows in the last ``sample_seconds``), and the largest sums of RSS and
    (every tenth sample: it costs more) PSS. ``ru_maxrss`` is not used: a child's starts at
    its parent's RSS at the fork.
    """
    import psutil

    # Standard error goes to a file: a pipe could be held open by a lingering grandchild.
    errors = tempfile.TemporaryFile()  # noqa: SIM115
    started = time.perf_counter()
    child = subprocess.Popen(
        list(command), stdout=subprocess.DEVNULL, stderr=errors, env=environment
    )
    finished = threading.Event()
    peaks = _Peaks()

    def sample() -> None:
        try:
            process = psutil.Process(child.pid)
            while process.cmdline() != list(command) and not finished.is_set():
                finished.wait(0.002)  # not yet the command's program
        except psutil.Error:
            return
        count = 0
        while not finished.is_set():
            _sample_tree(process, peaks, with_pss=count % 10 == 0)
            count += 1
            finished.wait(sample_seconds)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    child.wait()
    seconds = time.perf_counter() - started
    finished.set()
    sampler.join()
    errors.seek(0)
    error_output = errors.read()
    errors.close()
    tail = error_output.decode("utf-8", "replace").strip().splitlines()[-5:]
    return Measurement(
        label=label,
        command=list(command),
        seconds=seconds,
        returncode=child.returncode,
        largest_process_mib=peaks.high_water / MEBIBYTE,
        all_processes_rss_mib=peaks.rss / MEBIBYTE,
        all_processes_pss_mib=None if peaks.pss is None else peaks.pss / MEBIBYTE,
        error="" if child.returncode == 0 else " / ".join(tail),
    )


def best_of(measurements: list[Measurement]) -> Measurement:
    """The fastest successful run (a failed one if all failed), with the highest memory."""
    good = [m for m in measurements if m.ok] or measurements
    best = min(good, key=lambda m: m.seconds)
    return dataclasses.replace(
        best,
        largest_process_mib=max(m.largest_process_mib for m in good),
        all_processes_rss_mib=max(m.all_processes_rss_mib for m in good),
    )


# --------------------------------------------------------------------------------------------
# inputs


@dataclasses.dataclass
class ReadSet:
    fastq: Path
    fasta: Path
    names: list[str]
    sequences: list[str]


def prepare_reads(path: Path, count: int | None, folder: Path, stem: str = "reads") -> ReadSet:
    """The first ``count`` reads of ``path`` (all for None) as plain FASTQ (FASTA input gets
    quality ``I``) and FASTA (Debian's vsearch reads only FASTA for ``--usearch_global``).
    Names are cut at the first whitespace, as both tools do; repeated names get ``_2``, ..."""
    names: list[str] = []
    sequences: list[str] = []
    qualities: list[str] = []
    seen: set[str] = set()
    with dnaio.open(path) as records:
        for record in records:
            if count is not None and len(names) >= count:
                break
            name = record.name.split()[0] if record.name.split() else "read"
            base, suffix = name, 2
            while name in seen:
                name, suffix = f"{base}_{suffix}", suffix + 1
            seen.add(name)
            names.append(name)
            sequences.append(record.sequence)
            qualities.append(record.qualities or "I" * len(record.sequence))
    fastq = folder / f"{stem}.fastq"
    fasta = folder / f"{stem}.fa"
    with open(fastq, "w", encoding="ascii") as out_fastq:
        for name, sequence, quality in zip(names, sequences, qualities, strict=True):
            out_fastq.write(f"@{name}\n{sequence}\n+\n{quality}\n")
    with open(fasta, "w", encoding="ascii") as out_fasta:
        for name, sequence in zip(names, sequences, strict=True):
            out_fasta.write(f">{name}\n{sequence}\n")
    return ReadSet(fastq, fasta, names, sequences)


def subset_reads(reads: ReadSet, count: int, folder: Path, stem: str) -> ReadSet:
    """The first ``count`` reads of ``reads``, written as ``stem``.fastq/.fa."""
    if count >= len(reads.names):
        return reads
    return prepare_reads(reads.fastq, count, folder, stem)


@dataclasses.dataclass
class ReferenceSet:
    fasta: Path  # plain FASTA: the one file every tool reads
    names: list[str]  # as in the file (up to the first whitespace)
    sequences: list[str]
    output_names: list[str]  # as streamalign's outputs name them


def prepare_references(path: Path, folder: Path, limit: int | None = None) -> ReferenceSet:
    """The references of ``path`` (the first ``limit``), written as plain FASTA."""
    names: list[str] = []
    sequences: list[str] = []
    with dnaio.open(path) as records:
        for record in records:
            if limit is not None and len(names) >= limit:
                break
            names.append(record.name.split()[0] if record.name.split() else "")
            sequences.append(record.sequence)
    fasta = folder / "references.fa"
    with open(fasta, "w", encoding="ascii") as out:
        for name, sequence in zip(names, sequences, strict=True):
            out.write(f">{name}\n{sequence}\n")
    return ReferenceSet(fasta, names, sequences, output_reference_names(names))


def output_reference_names(names: list[str]) -> list[str]:
    """The names streamalign's outputs give these references (SAM-valid and unique)."""
    try:
        from streamalign.io.sam import unique_reference_names
    except ImportError:  # pragma: no cover - an older or newer layout: names unchanged
        return list(names)
    return list(unique_reference_names(names))


# --------------------------------------------------------------------------------------------
# outputs: identity, TSV and vsearch hits


@dataclasses.dataclass
class Comparison:
    """Whether two output files are byte-identical (over their first ``lines`` lines)."""

    identical: bool
    lines_compared: int
    first_difference: int | None = None  # 1-based line number
    left_line: str = ""
    right_line: str = ""

    def describe(self) -> str:
        if self.identical:
            return f"identical ({self.lines_compared:,} lines, byte for byte)"
        return (
            f"DIFFERENT at line {self.first_difference}: {self.left_line[:120]!r} vs "
            f"{self.right_line[:120]!r}"
        )


def compare_outputs(left: Path, right: Path, lines: int | None = None) -> Comparison:
    """Compare two files line by line, byte for byte; ``lines``: only the first ones (then
    both must have at least that many)."""
    compared = 0
    with open(left, "rb") as left_file, open(right, "rb") as right_file:
        while lines is None or compared < lines:
            left_line = left_file.readline()
            right_line = right_file.readline()
            if not left_line and not right_line:
                break
            compared += 1
            if left_line != right_line:
                return Comparison(
                    False,
                    compared,
                    compared,
                    left_line.decode("utf-8", "replace") or "<end of file>",
                    right_line.decode("utf-8", "replace") or "<end of file>",
                )
    return Comparison(True, compared)


def read_tsv(path: Path) -> list[dict[str, str]]:
    """The records of a streamalign TSV output."""
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


@dataclasses.dataclass
class Hit:
    target: str
    identity: float  # vsearch's, in percent
    strand: str


def vsearch_command(
    reads: Path, references: Path, output: Path, threads: int, exhaustive: bool
) -> list[str]:
    command = [
        "vsearch",
        "--usearch_global",
        str(reads),
        "--db",
        str(references),
        "--id",
        str(VSEARCH_IDENTITY),
        "--strand",
        "both",
        "--threads",
        str(threads),
        "--userout",
        str(output),
        "--userfields",
        "query+target+id+qstrand",
        "--maxhits",  # output only: the best hit found (the search is unchanged)
        "1",
        "--quiet",
    ]
    if exhaustive:
        command += ["--maxaccepts", "0", "--maxrejects", "0"]
    return command


def read_vsearch_hits(path: Path) -> dict[str, Hit]:
    """Query -> its first reported hit, from ``--userout`` with query+target+id+qstrand."""
    hits: dict[str, Hit] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) >= 4 and fields[0] not in hits:
                hits[fields[0]] = Hit(fields[1], float(fields[2]), fields[3])
    return hits


@dataclasses.dataclass
class Scoring:
    """The mode and scoring of every alignment of the benchmark (ours and the rescoring)."""

    mode: str
    match: float
    mismatch: float
    gap_open: float
    gap_extend: float

    def arguments(self) -> list[str]:
        return [
            "--mode",
            self.mode,
            f"--match={self.match:g}",
            f"--mismatch={self.mismatch:g}",
            f"--gap-open={self.gap_open:g}",
            f"--gap-extend={self.gap_extend:g}",
        ]

    def aligner(self, name: str, sequence: str) -> Any:
        from streamalign import Aligner

        return Aligner(
            [(name, sequence)],
            self.mode,
            match=self.match,
            mismatch=self.mismatch,
            gap_open=self.gap_open,
            gap_extend=self.gap_extend,
        )


def rescore_hits(
    hits: dict[str, Hit], reads: ReadSet, references: ReferenceSet, scoring: Scoring
) -> dict[str, tuple[str, float, float]]:
    """Each read's vsearch hit realigned with streamalign: read -> (output name of the
    reference, score, identity), the better strand (ties: forward), as streamalign chooses."""
    index_of = {name: number for number, name in enumerate(references.names)}
    by_target: dict[int, list[int]] = {}
    for read_number, name in enumerate(reads.names):
        hit = hits.get(name)
        if hit is None:
            continue
        target = index_of.get(hit.target.split()[0])
        if target is None:
            raise ValueError(f"vsearch reported {hit.target!r}, which is not a reference")
        by_target.setdefault(target, []).append(read_number)
    rescored: dict[str, tuple[str, float, float]] = {}
    for target, read_numbers in by_target.items():
        aligner = scoring.aligner(references.names[target], references.sequences[target])
        batch = aligner.align_many([reads.sequences[r] for r in read_numbers], strand="both")
        for position, read_number in enumerate(read_numbers):
            rescored[reads.names[read_number]] = (
                references.output_names[target],
                float(batch.scores[position]),
                float(batch.identities[position]),
            )
    return rescored


def _comparison_counts(pairs: Iterable[tuple[float, float]]) -> dict[str, int]:
    counts = {"worse": 0, "equal": 0, "better": 0}
    for value, best in pairs:
        counts["worse" if value < best else "better" if value > best else "equal"] += 1
    return counts


def hit_quality(
    exact: list[dict[str, str]], other: dict[str, tuple[str, float, float]], reads: int
) -> dict[str, Any]:
    """How another tool's hits compare with the exact best (streamalign's TSV rows): counts
    of reads whose hit is worse / equal / better by score and by identity (identity rounded
    to the TSV's 6 decimals); ``better`` by score means the exact search missed a hit."""
    best = {row["query"]: row for row in exact}
    scores = []
    identities = []
    same_reference = 0
    same_reference_score_differs = 0
    for query, (reference, score, identity) in other.items():
        row = best.get(query)
        if row is None:
            continue
        scores.append((score, float(row["score"])))
        identities.append((round(identity, 6), float(row["identity"])))
        if reference == row["reference"]:
            same_reference += 1
            same_reference_score_differs += score != float(row["score"])
    return {
        "reads": reads,
        "with_hit": len(scores),
        "by_score": _comparison_counts(scores),
        "by_identity": _comparison_counts(identities),
        "same_reference": same_reference,
        # A check of the rescoring itself: the same reference must give the same score.
        "same_reference_score_differs": same_reference_score_differs,
    }


def vsearch_identity_quality(default: dict[str, Hit], exhaustive: dict[str, Hit]) -> dict[str, Any]:
    """vsearch's default hit against its exhaustive hit, by vsearch's own identity."""
    pairs = [
        (hit.identity, exhaustive[q].identity) for q, hit in default.items() if q in exhaustive
    ]
    return {
        "compared": len(pairs),
        "default_only": sum(q not in exhaustive for q in default),
        "exhaustive_only": sum(q not in default for q in exhaustive),
        "by_vsearch_identity": _comparison_counts(pairs),
    }


def search_statistics(path: Path) -> dict[str, Any]:
    """The search's figures in a ``--stats-json`` file (any key naming candidates, pruning,
    bounds or the index), and the engine's own rate; empty when the file is missing."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    found: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        elif any(word in prefix.lower() for word in SEARCH_STATISTICS_WORDS):
            found[prefix.rstrip(".")] = node

    walk(document, "")
    for key in ("records_per_second", "wall_seconds", "records", "workers", "backend"):
        if key in document:
            found[key] = document[key]
    return found


# --------------------------------------------------------------------------------------------
# the synthetic database

_LETTERS = np.frombuffer(b"ACGT", dtype=np.uint8)
_BASE_INDEX = np.zeros(256, dtype=np.uint8)
for _number, _letter in enumerate(b"ACGT"):
    _BASE_INDEX[_letter] = _number
    _BASE_INDEX[_letter + 32] = _number  # lower case
#: Shares of the events of a mutant: substitutions, insertions (the rest are deletions).
SUBSTITUTION_SHARE = 0.7
INSERTION_SHARE = 0.15
#: Indel lengths 1, 2, 3 with these probabilities.
INDEL_LENGTHS = np.array([1, 2, 3])
INDEL_PROBABILITIES = np.array([0.6, 0.25, 0.15])


def mutate(
    codes: np.ndarray, lengths: np.ndarray, rates: np.ndarray, generator: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Mutate concatenated sequences (ASCII codes, ``lengths`` each), each at its own rate.

    Each position holds an event with its sequence's rate: a substitution (to another base),
    an insertion of 1-3 random bases after it, or a deletion of 1-3 bases from it (within its
    sequence). Vectorized over all sequences. Returns the new codes and lengths.
    """
    count = len(lengths)
    total = int(lengths.sum())
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    owner = np.repeat(np.arange(count), lengths)
    rate = rates[owner]
    roll = generator.random(total)
    event = roll < rate
    kind = np.where(event, roll / rate, 2.0)  # uniform in [0, 1) where an event happens
    substitution = kind < SUBSTITUTION_SHARE
    insertion = (kind >= SUBSTITUTION_SHARE) & (kind < SUBSTITUTION_SHARE + INSERTION_SHARE)
    deletion = event & (kind >= SUBSTITUTION_SHARE + INSERTION_SHARE)

    mutated = codes.copy()
    positions = np.flatnonzero(substitution)
    shift = generator.integers(1, 4, size=positions.size).astype(np.uint8)
    mutated[positions] = _LETTERS[(_BASE_INDEX[codes[positions]] + shift) % 4]

    keep = np.ones(total, dtype=bool)
    starts = np.flatnonzero(deletion)
    deleted = generator.choice(INDEL_LENGTHS, size=starts.size, p=INDEL_PROBABILITIES)
    sequence_ends = offsets[1:][owner[starts]]
    for step in range(int(INDEL_LENGTHS.max())):
        position = starts + step
        inside = (step < deleted) & (position < sequence_ends)
        keep[position[inside]] = False

    inserted = np.zeros(total, dtype=np.int64)
    insertion &= keep
    inserted[insertion] = generator.choice(
        INDEL_LENGTHS, size=int(insertion.sum()), p=INDEL_PROBABILITIES
    )
    copies = keep.astype(np.int64) + inserted
    result = np.repeat(mutated, copies)
    first_copy = np.zeros(result.size, dtype=bool)
    first_copy[(np.cumsum(copies) - copies)[keep]] = True
    new_bases = ~first_copy
    result[new_bases] = _LETTERS[generator.integers(0, 4, size=int(new_bases.sum()))]
    new_lengths = np.add.reduceat(copies, offsets[:-1]) if count else np.zeros(0, np.int64)
    return result, new_lengths


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def synthesize_database(
    genes: Path,
    output: Path,
    copies: int,
    seed: int,
    records: int | None = None,
    low_rate: float = 0.01,
    high_rate: float = 0.05,
) -> dict[str, Any]:
    """Write ``copies`` mutants of every gene of ``genes`` (each at a rate drawn uniformly in
    [low_rate, high_rate]) to the plain FASTA ``output``, round by round (the first
    ``len(genes)`` records are one mutant of each gene, and so on, so every prefix covers the
    genes evenly), stopping after ``records`` records. Mutant ``r`` of gene ``name`` is named
    ``name.mR``. A previous file made with the same settings (a ``.json`` beside it) is kept.
    """
    settings = {
        "genes": str(genes),
        "genes_sha256": _file_digest(genes),
        "copies": copies,
        "seed": seed,
        "records": records,
        "rates": [low_rate, high_rate],
        "version": 1,
    }
    sidecar = output.with_name(output.name + ".json")
    if output.exists() and sidecar.exists():
        previous = json.loads(sidecar.read_text())
        if previous.get("settings") == settings:
            return dict(previous, reused=True)
    started = time.perf_counter()
    names = []
    sequences = []
    with dnaio.open(genes) as source:
        for record in source:
            names.append((record.name.split() or ["gene"])[0].split(";")[0])
            sequences.append(record.sequence.encode("ascii"))
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    codes = np.frombuffer(b"".join(sequences), dtype=np.uint8)
    generator = np.random.default_rng(seed)
    limit = copies * len(names) if records is None else min(records, copies * len(names))
    written = 0
    bases = 0
    partial = output.with_name(output.name + ".partial")
    with open(partial, "wb") as out:
        for round_number in range(copies):
            if written >= limit:
                break
            take = min(len(names), limit - written)
            rates = generator.uniform(low_rate, high_rate, size=len(names))
            mutated, new_lengths = mutate(codes, lengths, rates, generator)
            ends = np.cumsum(new_lengths)
            text = mutated.tobytes()
            chunk = []
            start = 0
            for number in range(take):
                end = int(ends[number])
                chunk.append(
                    b">%s.m%d\n%s\n" % (names[number].encode(), round_number, text[start:end])
                )
                start = end
            out.write(b"".join(chunk))
            written += take
            bases += int(ends[take - 1])
    partial.replace(output)
    document = {
        "settings": settings,
        "records": written,
        "bases": bases,
        "bytes": output.stat().st_size,
        "seconds": time.perf_counter() - started,
        "reused": False,
    }
    sidecar.write_text(json.dumps(document, indent=2) + "\n")
    return document


def fasta_prefix(source: Path, output: Path, records: int) -> Path:
    """The first ``records`` records of the plain FASTA ``source`` (the file itself when it
    holds no more)."""
    count = 0
    with open(source, "rb") as handle, open(output, "wb") as out:
        for line in handle:
            if line.startswith(b">"):
                count += 1
                if count > records:
                    break
            out.write(line)
    if count <= records:
        output.unlink()
        return source
    return output


def size_on_disk(path: Path) -> int:
    """Bytes of ``path`` and of the files beside it named ``path.*`` (or of a folder)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    total = path.stat().st_size if path.exists() else 0
    return total + sum(p.stat().st_size for p in path.parent.glob(path.name + ".*"))


def count_records(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(line.startswith(b">") for line in handle)


# --------------------------------------------------------------------------------------------
# the parts


@dataclasses.dataclass
class Context:
    arguments: argparse.Namespace
    features: Features
    scoring: Scoring
    workdir: Path
    results: Path
    environment: dict[str, str]
    failures: list[str] = dataclasses.field(default_factory=list)

    def run(self, command: list[str], label: str, repeats: int = 1) -> Measurement:
        log(f"{label}: {shlex.join(command[3:] if command[0] == sys.executable else command)}")
        runs = [measure(command, label, environment=self.environment) for _ in range(repeats)]
        result = best_of(runs)
        if not result.ok:
            self.failures.append(f"{label}: exit status {result.returncode}: {result.error}")
            log(f"{label} FAILED (exit status {result.returncode}): {result.error}")
        else:
            log(f"{label}: {result.seconds:.2f} s, {result.largest_process_mib:,.0f} MiB")
        return result

    def align(self, references: Path, reads: Path, output: Path, *extra: str) -> list[str]:
        """``streamalign align`` with the benchmark's mode, scoring, strands and threads."""
        return streamalign_command(
            "align",
            "-r",
            str(references),
            str(reads),
            "-o",
            str(output),
            "--format",
            "tsv",
            *self.scoring.arguments(),
            "--strand",
            "both",
            "-j",
            str(self.arguments.threads),
            "--quiet",
            "--stats-json",
            str(output.with_suffix(".stats.json")),
            *extra,
        )

    def scale_search(self) -> list[str]:
        """Parts 2 and 3: the ``align`` options of ``--scale-search`` (exact: none)."""
        if self.arguments.scale_search == "fast":
            return ["--search", "fast", "--min-identity", str(VSEARCH_IDENTITY)]
        return []

    def build_index(self, references: Path, index: Path, label: str) -> Measurement | None:
        if not self.features.index:
            return None
        extra = ["-k", str(self.arguments.k)] if self.arguments.k else []
        return self.run(
            streamalign_command("index", str(references), "-o", str(index), *extra), label
        )

    def warm_up(self, references: Path, reads: ReadSet) -> None:
        """Load (or compile) the kernels once, untimed: a few reads, few references unless a
        search prunes them."""
        if self.arguments.no_warm_up:
            return
        folder = self.workdir / "warm-up"
        folder.mkdir(exist_ok=True)
        few = subset_reads(reads, 4, folder, "reads")
        if not self.features.search:
            references = fasta_prefix(references, folder / "references.fa", 20)
        self.run(self.align(references, few.fastq, folder / "out.tsv"), "warm-up")


def _rate(reads: int, measurement: Measurement | None) -> float | None:
    if measurement is None or not measurement.ok or measurement.seconds <= 0:
        return None
    return reads / measurement.seconds


def _format(value: float | None, digits: int = 0, suffix: str = "") -> str:
    """``value`` with ``digits`` decimals (two for a small rate: 0.5, not 0); n/a for None."""
    if value is None:
        return "n/a"
    if digits == 0 and abs(value) < 10:
        digits = 2
    return f"{value:,.{digits}f}{suffix}"


def _share(count: int, total: int) -> str:
    return f"{count:,} ({count / total:.0%})" if total else f"{count:,}"


def run_exact(context: Context) -> dict[str, Any]:
    """Part 1: exact search against exhaustive, and against vsearch."""
    arguments = context.arguments
    folder = context.workdir / "exact"
    folder.mkdir(exist_ok=True)
    reads = prepare_reads(arguments.reads_file, arguments.reads, folder)
    references = prepare_references(arguments.references, folder, arguments.references_limit)
    count = len(reads.names)
    log(f"part exact: {count:,} reads, {len(references.names):,} references")
    report: dict[str, Any] = {
        "reads": count,
        "references": len(references.names),
        "reads_file": str(arguments.reads_file),
        "references_file": str(arguments.references),
        "threads": arguments.threads,
        "runs": {},
        "not_run": {},
        "checks": {},
    }
    runs: dict[str, Measurement] = {}
    features = context.features
    vsearch = vsearch_version()
    report["vsearch"] = vsearch
    reason = _searchable(context, count, len(references.names))
    if reason:
        report["not_run"]["streamalign"] = reason
    else:
        context.warm_up(references.fasta, reads)

    search_output = folder / "search.tsv"
    if not reason:
        label = "streamalign search" if features.search else "streamalign (exhaustive path)"
        runs["search"] = context.run(
            context.align(references.fasta, reads.fastq, search_output),
            label,
            arguments.repeats if features.search else 1,
        )
    if features.search and "search" in runs:
        wanted = arguments.exhaustive_reads
        subset = subset_reads(reads, wanted, folder, "reads_exhaustive")
        exhaustive_output = folder / "exhaustive.tsv"
        runs["exhaustive"] = context.run(
            context.align(
                references.fasta, subset.fastq, exhaustive_output, "--search", "exhaustive"
            ),
            f"streamalign --search exhaustive ({len(subset.names):,} reads)",
        )
        report["exhaustive_reads"] = len(subset.names)
        if runs["search"].ok and runs["exhaustive"].ok:
            comparison = compare_outputs(search_output, exhaustive_output, len(subset.names) + 1)
            report["checks"]["search_equals_exhaustive"] = dataclasses.asdict(comparison)
            log(f"search vs exhaustive: {comparison.describe()}")
            if not comparison.identical:
                context.failures.append(f"search vs exhaustive: {comparison.describe()}")
    elif "search" in runs:
        report["not_run"]["streamalign --search exhaustive"] = features.notes()[0]
    if features.index and "search" in runs:
        index = folder / "references.idx"
        runs["index"] = context.build_index(references.fasta, index, "streamalign index")  # type: ignore[assignment]
        if runs["index"].ok:
            report["index_bytes"] = size_on_disk(index)
            indexed_output = folder / "search_indexed.tsv"
            runs["search_indexed"] = context.run(
                context.align(index, reads.fastq, indexed_output),
                "streamalign search, -r refs.idx",
                arguments.repeats,
            )
            if runs["search_indexed"].ok and runs["search"].ok:
                comparison = compare_outputs(search_output, indexed_output)
                report["checks"]["search_indexed_equals_search"] = dataclasses.asdict(comparison)
                if not comparison.identical:
                    context.failures.append(f"-r refs.idx vs -r refs.fa: {comparison.describe()}")
    if features.fast and "search" in runs:
        fast_output = folder / "fast.tsv"
        runs["fast"] = context.run(
            context.align(
                references.fasta,
                reads.fastq,
                fast_output,
                "--search",
                "fast",
                "--min-identity",
                str(VSEARCH_IDENTITY),
            ),
            f"streamalign --search fast --min-identity {VSEARCH_IDENTITY} (vsearch's defaults)",
            arguments.repeats,
        )

    if vsearch is None:
        report["not_run"]["vsearch"] = "vsearch is not installed (apt-get install vsearch)"
    else:
        runs["vsearch_default"] = context.run(
            vsearch_command(
                reads.fasta,
                references.fasta,
                folder / "vsearch_default.tsv",
                arguments.threads,
                exhaustive=False,
            ),
            "vsearch --usearch_global (default heuristics)",
            arguments.repeats,
        )
        if arguments.skip_vsearch_exhaustive:
            report["not_run"]["vsearch exhaustive"] = "--skip-vsearch-exhaustive"
        else:
            runs["vsearch_exhaustive"] = context.run(
                vsearch_command(
                    reads.fasta,
                    references.fasta,
                    folder / "vsearch_exhaustive.tsv",
                    arguments.threads,
                    exhaustive=True,
                ),
                "vsearch --usearch_global --maxaccepts 0 --maxrejects 0",
            )
    report["runs"] = {key: m.as_dict() for key, m in runs.items()}

    # Ratios: wall time of the other run over streamalign's search (> 1: the search is faster).
    search = runs.get("search")
    ratios: dict[str, float] = {}
    if search is not None and search.ok:
        for key in ("vsearch_default", "vsearch_exhaustive"):
            other = runs.get(key)
            if other is not None and other.ok:
                ratios[key] = other.seconds / search.seconds
        fast = runs.get("fast")
        default = runs.get("vsearch_default")
        if fast is not None and fast.ok and default is not None and default.ok:
            ratios["fast_vs_vsearch_default"] = default.seconds / fast.seconds
        exhaustive = runs.get("exhaustive")
        if exhaustive is not None and exhaustive.ok:
            # Per read: the exhaustive run may have covered only the first reads.
            per_read = exhaustive.seconds / max(report.get("exhaustive_reads", count), 1)
            ratios["exhaustive"] = per_read * count / search.seconds
    report["time_ratios"] = ratios

    # Hit quality: the exact best is streamalign's search output (or its exhaustive path).
    quality: dict[str, Any] = {}
    if search is not None and search.ok:
        exact = read_tsv(search_output)
        for key in ("vsearch_default", "vsearch_exhaustive"):
            measured = runs.get(key)
            if measured is None or not measured.ok:
                continue
            hits = read_vsearch_hits(folder / f"{key}.tsv")
            rescored = rescore_hits(hits, reads, references, context.scoring)
            quality[key] = hit_quality(exact, rescored, count)
            better = quality[key]["by_score"]["better"]
            if better:
                context.failures.append(
                    f"{key}: {better} reads have a vsearch hit scoring above streamalign's "
                    "best (the search is not exact)"
                )
            if quality[key]["same_reference_score_differs"]:
                context.failures.append(
                    f"{key}: the rescoring disagrees with streamalign's score on the same "
                    f"reference for {quality[key]['same_reference_score_differs']} reads"
                )
        fast = runs.get("fast")
        if fast is not None and fast.ok:
            rows = read_tsv(folder / "fast.tsv")
            quality["fast"] = hit_quality(
                exact,
                {
                    r["query"]: (r["reference"], float(r["score"]), float(r["identity"]))
                    for r in rows
                },
                count,
            )
        default = runs.get("vsearch_default")
        full = runs.get("vsearch_exhaustive")
        if default is not None and default.ok and full is not None and full.ok:
            quality["vsearch_default_vs_exhaustive"] = vsearch_identity_quality(
                read_vsearch_hits(folder / "vsearch_default.tsv"),
                read_vsearch_hits(folder / "vsearch_exhaustive.tsv"),
            )
        report["statistics"] = search_statistics(search_output.with_suffix(".stats.json"))
    report["quality"] = quality
    return report


def exact_markdown(report: dict[str, Any], header: str) -> str:
    count = report["reads"]
    runs = report["runs"]
    search = runs.get("search")
    lines = [
        "# Database search: the exact best hit (`benchmarks/search.py --part exact`)",
        "",
        header,
        "",
        f"{count:,} reads of `{Path(report['reads_file']).name}` against "
        f"{report['references']:,} references of `{Path(report['references_file']).name}`, "
        f"both strands, {report['threads']} threads; every command in its own process, wall "
        "time (best of the repeats for the fast runs), peak RSS of the largest process.",
        "",
        "| run | reads | seconds | reads/s | peak RSS (MiB) | time / streamalign search |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, run in runs.items():
        reads = report.get("exhaustive_reads", count) if key == "exhaustive" else count
        if key == "index":
            reads_text, rate = "-", "-"
        else:
            reads_text = f"{reads:,}"
            rate = _format(reads / run["seconds"]) if run["returncode"] == 0 else "failed"
        ratio = "-"
        if search and search["returncode"] == 0 and run["returncode"] == 0 and key != "index":
            ratio = f"{(run['seconds'] / reads) / (search['seconds'] / count):.3g}"
        lines.append(
            f"| {run['label']} | {reads_text} | {run['seconds']:.2f} | {rate} "
            f"| {run['largest_process_mib']:,.0f} | {ratio} |"
        )
    lines += ["", "Time / streamalign search is per read (the exhaustive run may cover fewer)."]
    if "index_bytes" in report:
        lines.append(f"Index on disk: {report['index_bytes'] / MEBIBYTE:,.1f} MiB.")
    for name, reason in report["not_run"].items():
        lines.append(f"- Not run: {name}: {reason}.")
    lines += ["", "## Checks and goals", ""]
    checks = report["checks"]
    if "search_equals_exhaustive" in checks:
        comparison = Comparison(**checks["search_equals_exhaustive"])
        lines.append(f"- Search vs exhaustive TSV: {comparison.describe()}.")
    else:
        lines.append("- Search vs exhaustive TSV: not checked (see above).")
    if "search_indexed_equals_search" in checks:
        comparison = Comparison(**checks["search_indexed_equals_search"])
        lines.append(f"- `-r refs.idx` vs `-r refs.fa` TSV: {comparison.describe()}.")
    ratios = report["time_ratios"]
    for key, goal, name in (
        ("vsearch_default", 1.0, "vsearch default"),
        ("vsearch_exhaustive", 100.0, "vsearch exhaustive"),
    ):
        if key in ratios:
            verdict = "met" if ratios[key] >= goal else "NOT met"
            lines.append(
                f"- {name} wall time / streamalign search: {ratios[key]:.3g}x "
                f"(goal >= {goal:g}x: {verdict})."
            )
    if "exhaustive" in ratios:
        lines.append(f"- streamalign exhaustive / search, per read: {ratios['exhaustive']:.1f}x.")
    if "fast_vs_vsearch_default" in ratios:
        lines.append(
            "- vsearch default wall time / streamalign `--search fast` (the same rules and "
            f"threshold): {ratios['fast_vs_vsearch_default']:.3g}x."
        )
    quality = report["quality"]
    if quality:
        lines += [
            "",
            "## Hit quality against the exact best",
            "",
            "Each read's hit, realigned with streamalign's `Aligner` (same mode and scoring, "
            "better strand), against streamalign's best hit: reads whose hit is worse, equal or "
            "better (better by score would mean the exact search missed a hit).",
            "",
            "| hits of | reads with a hit | worse by score | equal score | better score "
            "| worse by identity | equal identity | better identity |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        names = {
            "vsearch_default": "vsearch default (`--id 0.8`)",
            "vsearch_exhaustive": "vsearch exhaustive",
            "fast": "streamalign `--search fast`",
        }
        for key, name in names.items():
            if key not in quality:
                continue
            entry = quality[key]
            total = entry["with_hit"]
            score, identity = entry["by_score"], entry["by_identity"]
            lines.append(
                f"| {name} | {total:,} | {_share(score['worse'], total)} "
                f"| {_share(score['equal'], total)} | {_share(score['better'], total)} "
                f"| {_share(identity['worse'], total)} | {_share(identity['equal'], total)} "
                f"| {_share(identity['better'], total)} |"
            )
        lines.append(
            "\nIdentity: streamalign's (matches / alignment columns) of each tool's hit; the "
            "exact best maximizes the score, so another hit can have a higher identity."
        )
        own = quality.get("vsearch_default_vs_exhaustive")
        if own:
            counts = own["by_vsearch_identity"]
            total = own["compared"]
            lines.append(
                f"\nBy vsearch's own identity, its default hit against its exhaustive hit "
                f"({total:,} reads with both): worse for {_share(counts['worse'], total)}, "
                f"equal for {_share(counts['equal'], total)}, better for "
                f"{_share(counts['better'], total)}; a hit only by default: "
                f"{own['default_only']}, only exhaustively: {own['exhaustive_only']}."
            )
    statistics = report.get("statistics")
    if statistics:
        lines += ["", "## Search statistics (`--stats-json` of the search run)", ""]
        lines += ["| key | value |", "|---|---|"]
        lines += [f"| {key} | {value} |" for key, value in statistics.items()]
    lines += ["", "## Commands", ""]
    lines += [f"- {run['label']}: `{run['command']}`" for run in runs.values()]
    return "\n".join(lines) + "\n"


def synthetic_database(context: Context, records: int) -> tuple[Path, dict[str, Any]]:
    arguments = context.arguments
    path = context.workdir / f"synthetic_{arguments.genes_per_reference}x_seed{arguments.seed}.fa"
    log(f"synthetic database: {records:,} records -> {path}")
    document = synthesize_database(
        arguments.references,
        path,
        copies=arguments.genes_per_reference,
        seed=arguments.seed,
        records=records,
    )
    made = "reused" if document["reused"] else f"made in {document['seconds']:.1f} s"
    log(f"synthetic database: {document['records']:,} records, {document['bases']:,} bases, {made}")
    return path, document


def _searchable(context: Context, reads: int, references: int) -> str | None:
    """Why ``reads`` reads against ``references`` references are not aligned (None: they
    are): without a search, when the exhaustive path would take more than a few minutes."""
    if not context.features.search and reads * references > EXHAUSTIVE_PAIRS_LIMIT:
        hours = reads * references / 150 / 3600
        return (
            f"no search in this build: {reads:,} reads x {references:,} references on the "
            f"exhaustive path would take about {hours:,.1f} h (150 pairs/s measured)"
        )
    return None


def run_scale(context: Context, database: Path, synthetic: dict[str, Any]) -> dict[str, Any]:
    """Part 2: index build and searches against the synthetic database."""
    arguments = context.arguments
    folder = context.workdir / "scale"
    folder.mkdir(exist_ok=True)
    reads = prepare_reads(arguments.reads_file, arguments.reads, folder)
    count = len(reads.names)
    report: dict[str, Any] = {
        "reads": count,
        "threads": arguments.threads,
        "synthetic": synthetic,
        "runs": {},
        "not_run": {},
        "checks": {},
        "statistics": {},
    }
    reason = _searchable(context, count, synthetic["records"])
    if reason:
        report["not_run"]["searches"] = reason
        return report
    references: Path = database
    index = folder / "synthetic.idx"
    built = context.build_index(database, index, "streamalign index")
    runs: dict[str, Measurement] = {}
    if built is None:
        report["not_run"]["streamalign index"] = context.features.notes()[-1]
    else:
        runs["index"] = built
        if built.ok:
            report["index_bytes"] = size_on_disk(index)
            references = index
    context.warm_up(references, reads)
    threads_output = folder / "threads.tsv"
    runs["threads"] = context.run(
        context.align(references, reads.fastq, threads_output, *context.scale_search()),
        f"search ({arguments.scale_search}), threads",
    )
    report["statistics"]["threads"] = search_statistics(threads_output.with_suffix(".stats.json"))
    if arguments.skip_dask:
        report["not_run"]["dask"] = "--skip-dask"
    elif not dask_available():
        report["not_run"]["dask"] = "dask.distributed is not installed"
    else:
        dask_output = folder / "dask.tsv"
        runs["dask"] = context.run(
            context.align(
                references,
                reads.fastq,
                dask_output,
                "--backend",
                "dask",
                "--dask-workers",
                str(arguments.threads),
                *context.scale_search(),
            ),
            f"search ({arguments.scale_search}), --backend dask --dask-workers {arguments.threads}",
        )
        report["statistics"]["dask"] = search_statistics(dask_output.with_suffix(".stats.json"))
        if runs["dask"].ok and runs["threads"].ok:
            comparison = compare_outputs(threads_output, dask_output)
            report["checks"]["dask_equals_threads"] = dataclasses.asdict(comparison)
            if not comparison.identical:
                context.failures.append(f"dask vs threads: {comparison.describe()}")
    report["runs"] = {key: m.as_dict() for key, m in runs.items()}
    return report


def scale_markdown(report: dict[str, Any], header: str) -> str:
    synthetic = report["synthetic"]
    settings = synthetic["settings"]
    lines = [
        "# Database search at scale (`benchmarks/search.py --part scale`)",
        "",
        header,
        "",
        f"Synthetic database: {synthetic['records']:,} genes (up to {settings['copies']} "
        f"mutant(s) of "
        f"each gene of `{Path(settings['genes']).name}`, {settings['rates'][0]:.0%}-"
        f"{settings['rates'][1]:.0%} substitutions and 1-3-base indels, seed "
        f"{settings['seed']}), {synthetic['bases']:,} bases, "
        f"{synthetic['bytes'] / MEBIBYTE:,.1f} MiB of plain FASTA"
        + ("" if synthetic.get("reused") else f", made in {synthetic['seconds']:.1f} s")
        + ".",
        "",
        f"{report['reads']:,} reads, both strands, {report['threads']} workers.",
        "",
        "| run | seconds | reads/s | engine reads/s | peak RSS, largest process (MiB) "
        "| peak RSS, all processes (MiB) | peak PSS, all processes (MiB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, run in report["runs"].items():
        statistics = report["statistics"].get(key, {})
        ok = run["returncode"] == 0
        rate = _format(report["reads"] / run["seconds"]) if ok and key != "index" else "-"
        engine = _format(statistics.get("records_per_second")) if key != "index" else "-"
        lines.append(
            f"| {run['label']} | {run['seconds']:.2f}{'' if ok else ' (failed)'} | {rate} "
            f"| {engine} | {run['largest_process_mib']:,.0f} "
            f"| {run['all_processes_rss_mib']:,.0f} | {_format(run['all_processes_pss_mib'])} |"
        )
    lines += [
        "",
        "reads/s: over the whole command (start-up and index loading included); engine "
        "reads/s: the run's own figure from `--stats-json`. RSS sums count the shared, "
        "memory-mapped index once per process; PSS splits shared pages between them.",
    ]
    if "index_bytes" in report:
        lines.append(f"\nIndex on disk: {report['index_bytes'] / MEBIBYTE:,.1f} MiB.")
    threads = report["runs"].get("threads")
    if threads and threads["returncode"] == 0:
        peak = threads["largest_process_mib"] * MEBIBYTE
        verdict = "met" if peak < 4 * GIBIBYTE else "NOT met"
        lines.append(
            f"\nPeak RSS of the search: {peak / GIBIBYTE:.2f} GiB (goal < 4 GiB: {verdict})."
        )
    if "dask_equals_threads" in report["checks"]:
        comparison = Comparison(**report["checks"]["dask_equals_threads"])
        lines.append(f"\nDask vs threads TSV: {comparison.describe()}.")
    for name, reason in report["not_run"].items():
        lines.append(f"\n- Not run: {name}: {reason}.")
    for key, statistics in report["statistics"].items():
        if statistics:
            values = ", ".join(f"{k} {v}" for k, v in statistics.items())
            lines.append(f"\nStatistics ({key}): {values}.")
    lines += ["", "## Commands", ""]
    lines += [f"- {run['label']}: `{run['command']}`" for run in report["runs"].values()]
    return "\n".join(lines) + "\n"


def run_growth(context: Context, database: Path, synthetic: dict[str, Any]) -> dict[str, Any]:
    """Part 3: reads/s against growing prefixes of the synthetic database."""
    arguments = context.arguments
    folder = context.workdir / "growth"
    folder.mkdir(exist_ok=True)
    reads = prepare_reads(arguments.reads_file, arguments.reads, folder)
    count = len(reads.names)
    rows = []
    not_run = {}
    warmed = False
    for size in arguments.sizes:
        if size > synthetic["records"]:
            if size - synthetic["records"] > synthetic["records"] // 100:
                not_run[str(size)] = f"the synthetic database holds {synthetic['records']:,} genes"
                continue
            size = synthetic["records"]  # "400,000": the whole database (3,994 genes x 100)
        reason = _searchable(context, count, size)
        if reason:
            not_run[str(size)] = reason
            continue
        references = fasta_prefix(database, folder / f"references_{size}.fa", size)
        row: dict[str, Any] = {"references": size}
        index = folder / f"references_{size}.idx"
        built = context.build_index(references, index, f"index, {size:,} references")
        target = references
        if built is not None:
            row["index"] = built.as_dict()
            if built.ok:
                row["index_bytes"] = size_on_disk(index)
                target = index
        if not warmed:
            context.warm_up(target, reads)
            warmed = True
        output = folder / f"search_{size}.tsv"
        measured = context.run(
            context.align(target, reads.fastq, output, *context.scale_search()),
            f"search ({arguments.scale_search}), {size:,} references",
            arguments.repeats,
        )
        row["search"] = measured.as_dict()
        row["reads_per_second"] = _rate(count, measured)
        row["statistics"] = search_statistics(output.with_suffix(".stats.json"))
        rows.append(row)
        if references != database:
            references.unlink()
    report: dict[str, Any] = {
        "reads": count,
        "threads": arguments.threads,
        "synthetic": synthetic,
        "rows": rows,
        "not_run": not_run,
    }
    slowdown = growth_slowdown(rows)
    if slowdown is not None:
        report["slowdown_4000_to_largest"] = slowdown
    return report


def growth_slowdown(rows: list[dict[str, Any]]) -> tuple[int, float] | None:
    """The largest database of the rows (at least 100,000 references: the synthetic one holds
    399,400) and how many times fewer reads/s it gives than 4,000 references (the issue's
    goal: at most 4x); None without both rows."""
    rates = {row["references"]: row["reads_per_second"] for row in rows}
    largest = max(rates, default=0)
    if not rates.get(4_000) or largest < 100_000 or not rates[largest]:
        return None
    return largest, rates[4_000] / rates[largest]


def growth_markdown(report: dict[str, Any], header: str, plot: str | None) -> str:
    lines = [
        "# Search cost against database size (`benchmarks/search.py --part growth`)",
        "",
        header,
        "",
        f"{report['reads']:,} reads against prefixes of the synthetic database (every prefix "
        "holds mutants of the genes in file order, evenly), both strands, "
        f"{report['threads']} threads; best of the repeats.",
        "",
        "| references | index build (s) | index (MiB) | search (s) | reads/s | engine reads/s "
        "| peak RSS (MiB) | candidates aligned (mean) | only half aligned (mean) "
        "| bounded by their family (mean) | pruned |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        statistics = row["statistics"]
        index = row.get("index")
        search = row["search"]
        build = f"{index['seconds']:.2f}" if index else "n/a"
        size = _format(row["index_bytes"] / MEBIBYTE, 1) if "index_bytes" in row else "n/a"
        candidates = statistics.get("candidates_aligned_mean")
        halves = statistics.get("candidates_half_aligned_mean")
        related = statistics.get("candidates_family_bounded_mean")
        pruned = next((v for k, v in statistics.items() if "prune" in k), None)
        lines.append(
            f"| {row['references']:,} "
            f"| {build} | {size} "
            f"| {search['seconds']:.2f}{'' if search['returncode'] == 0 else ' (failed)'} "
            f"| {_format(row['reads_per_second'])} "
            f"| {_format(statistics.get('records_per_second'))} "
            f"| {search['largest_process_mib']:,.0f} "
            f"| {'n/a' if candidates is None else candidates} "
            f"| {'n/a' if halves is None else halves} "
            f"| {'n/a' if related is None else related} "
            f"| {'n/a' if pruned is None else pruned} |"
        )
    lines += [
        "",
        "reads/s: over the whole command (start-up and index loading included); engine "
        "reads/s: the run's own figure from `--stats-json`. Only half aligned: pairs whose "
        "bound from half an alignment fell short (not aligned in full); bounded by their family: "
        "pairs whose family's consensus alignment bounded them below the best (not aligned); "
        "pruned: the share of (read, reference, strand) pairs not aligned in full.",
    ]
    growth = growth_slowdown(report["rows"])
    if growth is not None:
        largest, slowdown = growth
        verdict = "met" if slowdown <= 4 else "NOT met"
        lines.append(
            f"\nreads/s at 4,000 references / at {largest:,}: {slowdown:.2f}x "
            f"(goal <= 4x: {verdict})."
        )
    for size, reason in report["not_run"].items():
        lines.append(f"\n- Not run: {int(size):,} references: {reason}.")
    lines.append("")
    lines.append(
        f"![reads/s against references]({plot})"
        if plot
        else "No plot: matplotlib is not installed."
    )
    return "\n".join(lines) + "\n"


def growth_plot(report: dict[str, Any], path: Path) -> bool:
    """reads/s against references, log-log; False when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [row for row in report["rows"] if row["reads_per_second"]]
    figure, axes = plt.subplots(figsize=(6, 4))
    sizes = [row["references"] for row in rows]
    axes.plot(sizes, [row["reads_per_second"] for row in rows], "o-", label="whole command")
    engine = [(row["references"], row["statistics"].get("records_per_second")) for row in rows]
    engine = [(size, rate) for size, rate in engine if rate]
    if engine:
        axes.plot(*zip(*engine, strict=True), "s--", label="engine (--stats-json)")
    axes.set_xscale("log")
    axes.set_yscale("log")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    for axis in (axes.xaxis, axes.yaxis):  # 1,000 rather than 10^3
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.10g}"))
        axis.set_minor_formatter(NullFormatter())
    axes.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:,.3g}"))
    axes.tick_params(axis="y", which="minor", labelsize=7)
    axes.set_xticks(sizes)
    axes.set_xlabel("references")
    axes.set_ylabel("reads/s")
    axes.set_title(f"streamalign search, {report['reads']:,} reads, {report['threads']} threads")
    axes.grid(alpha=0.3, which="both")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


# --------------------------------------------------------------------------------------------


def machine_line(features: Features, vsearch: str | None, command_line: str) -> str:
    spec = importlib.util.spec_from_file_location("benchmarks_run_all", HERE / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    info = module.machine()
    versions = ", ".join(f"{name} {version}" for name, version in info["versions"].items())
    search = "yes (" + ", ".join(features.search_modes) + ")" if features.search else "no"
    return (
        f"`{command_line}`, {info['date']}; {info['cpu']}, {info['cores']} cores, load "
        f"average {info['load_average']}; {versions}; {vsearch or 'no vsearch'}; this build: "
        f"search {search}, index command {'yes' if features.index else 'no'}."
    )


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--part", nargs="+", choices=PARTS, default=list(PARTS), help="parts to run (all)"
    )
    parser.add_argument("--reads-file", type=Path, default=DEFAULT_READS, help="reads (sam1F)")
    parser.add_argument(
        "--references",
        type=Path,
        default=DEFAULT_REFERENCES,
        help="references of part 1, genes of the synthetic database (ten_16s.100.fa.gz)",
    )
    parser.add_argument("--reads", type=int, help="use only the first N reads (all)")
    parser.add_argument(
        "--references-limit", type=int, help="part 1: only the first N references (all)"
    )
    parser.add_argument("--threads", type=int, default=2, help="threads of every tool (2)")
    parser.add_argument("--mode", default="semiglobal", help="alignment mode (semiglobal)")
    parser.add_argument("--match", type=float, default=1)
    parser.add_argument("--mismatch", type=float, default=-2)
    parser.add_argument("--gap-open", type=float, default=5)
    parser.add_argument("--gap-extend", type=float, default=2)
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed runs of the fast commands (search, vsearch default); best counts (3)",
    )
    parser.add_argument(
        "--exhaustive-reads",
        type=int,
        default=EXHAUSTIVE_READS,
        help="part 1: streamalign's exhaustive run takes the first N reads (100: about 45 "
        "minutes on 2 threads; give the read count to compare every read)",
    )
    parser.add_argument(
        "--skip-vsearch-exhaustive",
        action="store_true",
        help="part 1: skip vsearch --maxaccepts 0 --maxrejects 0 (about 5 minutes)",
    )
    parser.add_argument("--skip-dask", action="store_true", help="part 2: no Dask run")
    parser.add_argument(
        "--genes-per-reference",
        type=int,
        default=100,
        help="mutants of each gene in the synthetic database (100)",
    )
    parser.add_argument(
        "--scale-references",
        type=int,
        help="part 2: only the first N synthetic genes (all: genes x --genes-per-reference)",
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=list(DEFAULT_SIZES),
        help="part 3: reference counts (100 1000 4000 40000 400000)",
    )
    parser.add_argument(
        "--scale-search",
        choices=("exact", "fast"),
        default="exact",
        help="parts 2 and 3: the search to time (exact; fast: --search fast --min-identity "
        f"{VSEARCH_IDENTITY}, vsearch's rules)",
    )
    parser.add_argument("--seed", type=int, default=13, help="seed of the synthetic database")
    parser.add_argument("-k", type=int, help="k of `streamalign index` (its default)")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="folder for inputs, outputs and the synthetic database (a temporary folder, "
        "removed at the end); a given one is kept and its synthetic database reused",
    )
    parser.add_argument("--results", type=Path, default=HERE / "results", help="output folder")
    parser.add_argument(
        "--no-warm-up",
        action="store_true",
        help="no untimed first run (it loads or compiles the kernels)",
    )
    arguments = parser.parse_args(argv)
    for name in ("reads", "references_limit", "exhaustive_reads", "scale_references"):
        value = getattr(arguments, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if arguments.repeats < 1 or arguments.threads < 1 or arguments.genes_per_reference < 1:
        parser.error("--repeats, --threads and --genes-per-reference must be at least 1")
    for path in (arguments.reads_file, arguments.references):
        if not path.is_file():
            parser.error(f"{path}: no such file")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    command_line = shlex.join(["python", "benchmarks/search.py", *(argv or sys.argv[1:])])
    features = detect_features()
    for note in features.notes():
        log(f"note: {note}")
    results: Path = arguments.results
    results.mkdir(parents=True, exist_ok=True)
    own_workdir = arguments.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="search-bench-")) if own_workdir else arguments.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    context = Context(
        arguments=arguments,
        features=features,
        scoring=Scoring(
            arguments.mode,
            arguments.match,
            arguments.mismatch,
            arguments.gap_open,
            arguments.gap_extend,
        ),
        workdir=workdir,
        results=results,
        environment=child_environment(),
    )
    header = machine_line(features, vsearch_version(), command_line)
    documents: dict[str, Any] = {"features": features.as_dict(), "command_line": command_line}
    try:
        if "exact" in arguments.part:
            report = run_exact(context)
            (results / "search.json").write_text(
                json.dumps(dict(documents, **report), indent=2) + "\n"
            )
            (results / "search.md").write_text(exact_markdown(report, header))
            log(f"wrote {results / 'search.md'}")
        if "scale" in arguments.part or "growth" in arguments.part:
            genes = count_records_any(arguments.references)
            wanted = []
            if "scale" in arguments.part:
                wanted.append(arguments.scale_references or genes * arguments.genes_per_reference)
            if "growth" in arguments.part:
                wanted.append(max(arguments.sizes))
            database, synthetic = synthetic_database(
                context, min(max(wanted), genes * arguments.genes_per_reference)
            )
            suffix = "" if arguments.scale_search == "exact" else "_fast"
            if "scale" in arguments.part:
                scale_database = database
                scale_synthetic = synthetic
                if arguments.scale_references and arguments.scale_references < synthetic["records"]:
                    scale_database = fasta_prefix(
                        database, workdir / "scale_references.fa", arguments.scale_references
                    )
                    scale_synthetic = dict(
                        synthetic,
                        records=arguments.scale_references,
                        bases=sum_bases(scale_database),
                        bytes=scale_database.stat().st_size,
                    )
                report = run_scale(context, scale_database, scale_synthetic)
                (results / f"search_scale{suffix}.json").write_text(
                    json.dumps(dict(documents, **report), indent=2) + "\n"
                )
                (results / f"search_scale{suffix}.md").write_text(scale_markdown(report, header))
                log(f"wrote {results / f'search_scale{suffix}.md'}")
            if "growth" in arguments.part:
                report = run_growth(context, database, synthetic)
                plot = results / f"search_growth{suffix}.png"
                drawn = growth_plot(report, plot)
                if not drawn:
                    log("no plot: matplotlib is not installed")
                (results / f"search_growth{suffix}.json").write_text(
                    json.dumps(dict(documents, **report), indent=2) + "\n"
                )
                (results / f"search_growth{suffix}.md").write_text(
                    growth_markdown(report, header, plot.name if drawn else None)
                )
                log(f"wrote {results / f'search_growth{suffix}.md'}")
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    for failure in context.failures:
        log(f"FAILED: {failure}")
    return 1 if context.failures else 0


def count_records_any(path: Path) -> int:
    """Records of a FASTA/FASTQ file, compressed or not."""
    with dnaio.open(path) as records:
        return sum(1 for _ in records)


def sum_bases(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(len(line) - 1 for line in handle if not line.startswith(b">"))


if __name__ == "__main__":
    sys.exit(main())
