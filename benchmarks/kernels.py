"""Single-core kernel benchmark: streamalign against parasail, pyopal, Biopython and scikit-bio.

Every tool runs on one thread with the same scoring (match 1, mismatch -2, gap open 5, gap
extend 2; a gap of length ``k`` costs ``5 + 2 * (k - 1)``) and its scores are checked against
streamalign's on the same pairs: a speed comparison between different answers is worthless.

Workloads:

* ``64bp``: ``--count`` (20,000) random 64-bp sequences (numpy ``default_rng(--seed)``) against
  the 64-bp 16S 5' fragment, global alignment, end gaps penalized.
* ``miseq``: the 1,500 MiSeq V4 reads of ``sam1F.fastq.gz`` against the *E. coli* 16S gene
  ``ecoli_16S.fa`` (DADA2 example data, LGPL-2; see ``../shared/data/README.md``), semi-global:
  the read fully aligned, the reference's ends free.
* ``pacbio``: full-length 16S "reads" against the same *E. coli* gene, global. There is no
  PacBio file in the data, so the reads are made reproducibly from real genes: every 6th
  record of ``ten_16s.100.fa.gz`` holding only ``ACGT`` (full-length 16S genes of about 400
  genera, 980-1,592 bp; the first ``--pacbio-count``, 500), each given PacBio-CCS-like errors
  with numpy ``default_rng(--seed)``: 1% of positions, 40% insertions (of the base before:
  homopolymer-like), 40% deletions, 20% substitutions. Global, end gaps penalized: about
  1,470 x 1,465 cells per pair, genes 75-100% identical to *E. coli*'s.

Each (tool, variant) is warmed up on the first few pairs (that first call, which includes any
JIT compilation or cache loading, is reported as ``first call s``), then timed ``--repeats``
times on the whole workload (or a fixed subset for the slow pure-Python tools); the best time
counts. streamalign's cold numba compile time is measured apart, in a child process with an
empty numba cache directory.

Usage::

    python benchmarks/kernels.py                       # full run, table on stdout
    python benchmarks/kernels.py --quick               # small sizes, smoke test
    python benchmarks/kernels.py --markdown out.md --json out.json

The module is importable: :func:`main` takes ``argv``; :func:`random_workload`,
:func:`miseq_workload`, :func:`pacbio_workload`, :func:`run_workload` and
:func:`check_gap_conventions` are the pieces.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

REPOSITORY = Path(__file__).resolve().parent.parent
DATA = REPOSITORY.parent / "shared" / "data"
DEFAULT_READS = DATA / "sam1F.fastq.gz"
DEFAULT_REFERENCE = DATA / "ecoli_16S.fa"
DEFAULT_GENES = DATA / "ten_16s.100.fa.gz"
#: Every PACBIO_STRIDE-th gene of DEFAULT_GENES is a read (the file lists 10 copies per genus).
PACBIO_STRIDE = 6
#: Share of positions with a PacBio-CCS-like error, and how errors split (insertion, deletion,
#: substitution).
PACBIO_ERROR_RATE = 0.01
PACBIO_ERROR_SPLIT = (0.4, 0.4, 0.2)

#: The 64-bp 5' fragment of the 16S rRNA gene used by the classic demo workload.
FRAGMENT_16S = "GAGTTTGATCCTGGCTCAGATTGAACGCTGGCGGCATGCTTAACACATGCAAGTCGAACGGCAG"

MATCH = 1
MISMATCH = -2
#: Cost of a gap of length 1; each further position costs GAP_EXTEND (streamalign's convention,
#: also parasail's, Opal's, Biopython's and scikit-bio's legacy functions': no conversion).
GAP_OPEN = 5
GAP_EXTEND = 2

#: Pairs aligned by the untimed-for-throughput first call of each tool.
WARMUP_PAIRS = 8

ALPHABET = frozenset("ACGT")

Runner = Callable[[Sequence[str]], np.ndarray]


# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------


@dataclass
class Workload:
    """Queries aligned against one reference in one streamalign mode.

    Attributes:
        name: short label (``"64bp"``, ``"miseq"``).
        mode: streamalign mode, ``"global"`` or ``"semiglobal"``.
        reference: the reference sequence (upper-case ``ACGT``).
        queries: the query sequences (upper-case ``ACGT``).
        description: one line saying where the sequences come from.
    """

    name: str
    mode: str
    reference: str
    queries: list[str]
    description: str

    def cells(self, pairs: int | None = None) -> int:
        """Dynamic-programming cells (query length x reference length) of the first pairs."""
        queries = self.queries if pairs is None else self.queries[:pairs]
        return len(self.reference) * sum(len(query) for query in queries)


def random_workload(count: int = 20_000, seed: int = 1, length: int = 64) -> Workload:
    """``count`` random ``length``-bp sequences against :data:`FRAGMENT_16S`, global."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4, size=(count, length), dtype=np.uint8)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)[codes]
    queries = [row.tobytes().decode("ascii") for row in letters]
    return Workload(
        name="64bp",
        mode="global",
        reference=FRAGMENT_16S,
        queries=queries,
        description=(
            f"{count:,} random {length}-bp sequences (numpy default_rng({seed})) vs the "
            f"{len(FRAGMENT_16S)}-bp 16S 5' fragment; global, end gaps penalized"
        ),
    )


def miseq_workload(
    reads: str | os.PathLike[str] = DEFAULT_READS,
    reference: str | os.PathLike[str] = DEFAULT_REFERENCE,
    limit: int | None = None,
) -> Workload:
    """Real MiSeq reads (FASTQ/FASTA, gzip allowed) against the first record of ``reference``.

    Reads holding a character other than ``ACGT`` are left out (the tools would score them
    differently: an ambiguity policy is not a kernel speed question); the description says how
    many.
    """
    import dnaio

    with dnaio.open(os.fspath(reference)) as records:
        first = next(iter(records), None)
    if first is None:
        raise ValueError(f"{reference}: no sequence")
    reference_sequence = first.sequence.upper()
    if not set(reference_sequence) <= ALPHABET:
        raise ValueError(f"{reference}: the reference holds characters other than ACGT")
    queries: list[str] = []
    skipped = 0
    with dnaio.open(os.fspath(reads)) as records:
        for record in records:
            if limit is not None and len(queries) >= limit:
                break
            sequence = record.sequence.upper()
            if set(sequence) <= ALPHABET:
                queries.append(sequence)
            else:
                skipped += 1
    if not queries:
        raise ValueError(f"{reads}: no read made only of ACGT")
    lengths = sorted({len(query) for query in queries})
    length_text = f"{lengths[0]}" if len(lengths) == 1 else f"{lengths[0]}-{lengths[-1]}"
    skipped_text = f", {skipped} reads with non-ACGT characters left out" if skipped else ""
    return Workload(
        name="miseq",
        mode="semiglobal",
        reference=reference_sequence,
        queries=queries,
        description=(
            f"{len(queries):,} MiSeq reads ({length_text} bp, {Path(reads).name}) vs "
            f"{first.name.split(';')[0]} ({len(reference_sequence):,} bp, {Path(reference).name})"
            f"; semi-global: read fully aligned, reference ends free{skipped_text}"
        ),
    )


def pacbio_errors(sequence: str, rng: np.random.Generator) -> str:
    """A copy of ``sequence`` with PacBio-CCS-like errors (:data:`PACBIO_ERROR_RATE`, split as
    :data:`PACBIO_ERROR_SPLIT`); an insertion repeats the base before it."""
    insertion, deletion, _ = PACBIO_ERROR_SPLIT
    rolls = rng.random(len(sequence))
    kinds = rng.random(len(sequence))
    substitutes = rng.integers(0, 4, size=len(sequence))
    pieces = []
    for position, base in enumerate(sequence):
        if rolls[position] >= PACBIO_ERROR_RATE:
            pieces.append(base)
        elif kinds[position] < insertion:
            pieces.append(base + base)
        elif kinds[position] < insertion + deletion:
            continue
        else:
            pieces.append("ACGT"[substitutes[position]])
    return "".join(pieces)


def pacbio_workload(
    genes: str | os.PathLike[str] = DEFAULT_GENES,
    reference: str | os.PathLike[str] = DEFAULT_REFERENCE,
    count: int = 500,
    seed: int = 1,
) -> Workload:
    """Full-length 16S genes with PacBio-like errors against the first record of ``reference``,
    global (see the module docstring)."""
    import dnaio

    with dnaio.open(os.fspath(reference)) as records:
        first = next(iter(records))
    reference_sequence = first.sequence.upper()
    rng = np.random.default_rng(seed)
    queries: list[str] = []
    with dnaio.open(os.fspath(genes)) as records:
        for number, record in enumerate(records):
            if len(queries) >= count:
                break
            sequence = record.sequence.upper()
            if number % PACBIO_STRIDE == 0 and set(sequence) <= ALPHABET:
                queries.append(pacbio_errors(sequence, rng))
    if not queries:
        raise ValueError(f"{genes}: no gene made only of ACGT")
    lengths = [len(query) for query in queries]
    return Workload(
        name="pacbio",
        mode="global",
        reference=reference_sequence,
        queries=queries,
        description=(
            f"{len(queries):,} full-length 16S genes (every {PACBIO_STRIDE}th ACGT-only record "
            f"of {Path(genes).name}) with PacBio-CCS-like errors ({PACBIO_ERROR_RATE:.0%}, "
            f"default_rng({seed})), {min(lengths)}-{max(lengths)} bp, vs "
            f"{first.name.split(';')[0]} ({len(reference_sequence):,} bp, "
            f"{Path(reference).name}); global, end gaps penalized"
        ),
    )


# --------------------------------------------------------------------------------------------
# Tools: each builder turns a workload into (call description, runner) or a reason for n/a.
# A runner takes the query strings and returns their scores as float64, in order.
# --------------------------------------------------------------------------------------------


def _streamalign(traceback: bool) -> Callable[[Workload], tuple[str, Runner] | str]:
    def build(workload: Workload) -> tuple[str, Runner] | str:
        from streamalign import Aligner

        aligner = Aligner(
            workload.reference,
            workload.mode,
            match=MATCH,
            mismatch=MISMATCH,
            gap_open=GAP_OPEN,
            gap_extend=GAP_EXTEND,
        )

        def run(queries: Sequence[str]) -> np.ndarray:
            batch = aligner.align_many(queries, traceback=traceback)
            if traceback:
                batch.cigars()
            return np.asarray(batch.scores, dtype=np.float64)

        extra = " + cigars()" if traceback else ""
        call = f"Aligner(mode={workload.mode!r}).align_many(traceback={traceback}){extra}"
        return call, run

    return build


#: parasail function per (streamalign mode, variant); s1 = query (read), s2 = reference.
#: ``sg_dx``: gaps at both ends of s2 (the database sequence) free = the reference's ends free.
#: ``{vector}`` is ``striped`` (Farrar) or ``scan`` (prefix scan), parasail's two 16-bit
#: vectorizations of one pair.
PARASAIL_FUNCTIONS = {
    ("global", "full"): "nw_trace_{vector}_16",
    ("global", "score"): "nw_{vector}_16",
    ("semiglobal", "full"): "sg_dx_trace_{vector}_16",
    ("semiglobal", "score"): "sg_dx_{vector}_16",
}
#: The same with a query profile of the *reference* built once (s1 = reference, s2 = read), so
#: the reference's ends are s1's: ``sg_qx``.
PARASAIL_PROFILE_FUNCTIONS = {
    ("global", "full"): "nw_trace_striped_profile_16",
    ("global", "score"): "nw_striped_profile_16",
    ("semiglobal", "full"): "sg_qx_trace_striped_profile_16",
    ("semiglobal", "score"): "sg_qx_striped_profile_16",
}


def _parasail(
    variant: str, profile: bool, vector: str = "striped"
) -> Callable[[Workload], tuple[str, Runner] | str]:
    def build(workload: Workload) -> tuple[str, Runner] | str:
        import parasail

        full = variant == "full"
        matrix = parasail.matrix_create("ACGT", MATCH, MISMATCH)
        reference = workload.reference
        if profile:
            name = PARASAIL_PROFILE_FUNCTIONS[workload.mode, variant]
            function = getattr(parasail, name)
            reference_profile = parasail.profile_create_16(reference, matrix)

            def align_one(query: str) -> Any:
                return function(reference_profile, query, GAP_OPEN, GAP_EXTEND)

            call = f"parasail.{name}(profile_create_16(reference), read)"
        else:
            name = PARASAIL_FUNCTIONS[workload.mode, variant].format(vector=vector)
            function = getattr(parasail, name)

            def align_one(query: str) -> Any:
                return function(query, reference, GAP_OPEN, GAP_EXTEND, matrix)

            call = f"parasail.{name}(read, reference)"

        def run(queries: Sequence[str]) -> np.ndarray:
            scores = np.empty(len(queries), dtype=np.float64)
            for number, query in enumerate(queries):
                result = align_one(query)
                scores[number] = result.score
                if full:
                    result.cigar.decode  # noqa: B018 (decoding the CIGAR is the work timed)
            return scores

        return call + (" + .cigar.decode" if full else ""), run

    return build


def _pyopal(variant: str) -> Callable[[Workload], tuple[str, Runner] | str]:
    def build(workload: Workload) -> tuple[str, Runner] | str:
        import pyopal
        from scoring_matrices import ScoringMatrix

        full = variant == "full"
        matrix = ScoringMatrix.from_match_mismatch(MATCH, MISMATCH, alphabet="ACGT")
        reference = workload.reference
        opal_mode: Any = variant  # "full" or "score" (pyopal's stubs want a literal)
        if workload.mode == "global":
            # Opal vectorizes over the database: the reference is Opal's query, the reads its
            # database (global scores are symmetric).
            def run(queries: Sequence[str]) -> np.ndarray:
                scores = np.empty(len(queries), dtype=np.float64)
                results = pyopal.align(
                    reference,
                    queries,
                    matrix,
                    gap_open=GAP_OPEN,
                    gap_extend=GAP_EXTEND,
                    mode=opal_mode,
                    algorithm="nw",
                    threads=1,
                    ordered=True,  # type: ignore[call-overload]
                )
                for result in results:
                    scores[result.target_index] = result.score
                    if full:
                        result.cigar()
                return scores

            call = f"pyopal.align(reference, reads, mode={variant!r}, algorithm='nw', threads=1)"
            return call + (" + .cigar()" if full else ""), run
        # Opal's "hw" frees the ends of the database sequence around a fully aligned query; no
        # Opal mode frees only the query's ends, so each read is the query of a one-sequence
        # database holding the reference (Opal cannot vectorize over reads here).
        aligner = pyopal.Aligner(matrix, gap_open=GAP_OPEN, gap_extend=GAP_EXTEND)
        database = pyopal.Database([reference], matrix.alphabet)

        def run_each(queries: Sequence[str]) -> np.ndarray:
            scores = np.empty(len(queries), dtype=np.float64)
            for number, query in enumerate(queries):
                result = aligner.align(query, database, mode=opal_mode, algorithm="hw")[0]
                scores[number] = result.score
                if full:
                    result.cigar()
            return scores

        call = (
            f"pyopal.Aligner.align(read, Database([reference]), mode={variant!r}, algorithm='hw')"
        )
        return call + (" + .cigar()" if full else ""), run_each

    return build


def _biopython(variant: str) -> Callable[[Workload], tuple[str, Runner] | str]:
    def build(workload: Workload) -> tuple[str, Runner] | str:
        from Bio.Align import PairwiseAligner

        aligner = PairwiseAligner(
            mode="global",
            match_score=MATCH,
            mismatch_score=MISMATCH,
            open_gap_score=-GAP_OPEN,
            extend_gap_score=-GAP_EXTEND,
        )
        ends = ""
        if workload.mode == "semiglobal":
            # target = reference: a deletion is a reference base against a gap in the read.
            aligner.end_deletion_score = 0
            ends = ", end_deletion_score=0"
        reference = workload.reference

        if variant == "full":

            def run(queries: Sequence[str]) -> np.ndarray:
                scores = np.empty(len(queries), dtype=np.float64)
                for number, query in enumerate(queries):
                    alignments = aligner.align(reference, query)
                    alignments[0].coordinates  # noqa: B018 (traceback of the first alignment)
                    scores[number] = alignments.score
                return scores

            return f"PairwiseAligner(mode='global'{ends}).align(reference, read)[0]", run

        def run_score(queries: Sequence[str]) -> np.ndarray:
            return np.array([aligner.score(reference, query) for query in queries], np.float64)

        return f"PairwiseAligner(mode='global'{ends}).score(reference, read)", run_score

    return build


def _skbio_legacy(workload: Workload) -> tuple[str, Runner] | str:
    if workload.mode != "global":
        return "n/a: semi-global (one sequence's ends only) is not expressible"
    from skbio import DNA
    from skbio.alignment import global_pairwise_align_nucleotide

    reference = DNA(workload.reference)

    def run(queries: Sequence[str]) -> np.ndarray:
        scores = np.empty(len(queries), dtype=np.float64)
        with warnings.catch_warnings():
            # "pure Python implementation ... very slow": that is what is measured here.
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            for number, query in enumerate(queries):
                _, score, _ = global_pairwise_align_nucleotide(
                    DNA(query),
                    reference,
                    gap_open_penalty=GAP_OPEN,
                    gap_extend_penalty=GAP_EXTEND,
                    match_score=MATCH,
                    mismatch_score=MISMATCH,
                    penalize_terminal_gaps=True,
                )
                scores[number] = score
        return scores

    return (
        "global_pairwise_align_nucleotide(DNA(read), DNA(reference), penalize_terminal_gaps=True)",
        run,
    )


def _skbio_pair_align(variant: str) -> Callable[[Workload], tuple[str, Runner] | str]:
    def build(workload: Workload) -> tuple[str, Runner] | str:
        from skbio.alignment import pair_align

        full = variant == "full"
        # seq1 = read, seq2 = reference; (True, False): the read's terminal gaps are free, that
        # is the reference's overhangs. pair_align charges o + e * k for a gap of length k.
        free_ends: bool | tuple[bool, bool] = False if workload.mode == "global" else (True, False)
        gap_cost = (GAP_OPEN - GAP_EXTEND, GAP_EXTEND)
        reference = workload.reference

        def run(queries: Sequence[str]) -> np.ndarray:
            scores = np.empty(len(queries), dtype=np.float64)
            for number, query in enumerate(queries):
                result = pair_align(
                    query,
                    reference,
                    mode="global",
                    sub_score=(MATCH, MISMATCH),
                    gap_cost=gap_cost,
                    free_ends=free_ends,
                    max_paths=1 if full else 0,
                )
                scores[number] = result.score
                if full:
                    result.paths[0].to_cigar()
            return scores

        extra = ", max_paths=1) + to_cigar()" if full else ", max_paths=0)"
        return f"pair_align(read, reference, gap_cost={gap_cost}, free_ends={free_ends}{extra}", run

    return build


@dataclass(frozen=True)
class Contender:
    """One (tool, variant) of the comparison.

    Attributes:
        tool: the tool's name as printed.
        variant: ``"full"`` (score and alignment) or ``"score"`` (score only), with a detail.
        module: import name whose absence makes the row "not installed".
        build: turns a workload into ``(call description, runner)`` or an n/a reason.
        subset: key into :attr:`Settings.subsets` for tools too slow for the whole workload.
        exact: whether the tool computes optimal affine scores (expected to match exactly).
    """

    tool: str
    variant: str
    module: str
    build: Callable[[Workload], tuple[str, Runner] | str]
    subset: str | None = None
    exact: bool = True


STREAMALIGN = "streamalign"
BASELINE_VARIANT = "full"

CONTENDERS: tuple[Contender, ...] = (
    Contender(STREAMALIGN, "full", "streamalign", _streamalign(traceback=True)),
    Contender(STREAMALIGN, "score", "streamalign", _streamalign(traceback=False)),
    Contender("parasail", "full", "parasail", _parasail("full", profile=False)),
    Contender("parasail", "score", "parasail", _parasail("score", profile=False)),
    Contender("parasail", "full, scan", "parasail", _parasail("full", False, "scan")),
    Contender("parasail", "score, scan", "parasail", _parasail("score", False, "scan")),
    Contender("parasail", "full, ref profile", "parasail", _parasail("full", profile=True)),
    Contender("parasail", "score, ref profile", "parasail", _parasail("score", profile=True)),
    Contender("pyopal", "full", "pyopal", _pyopal("full")),
    Contender("pyopal", "score", "pyopal", _pyopal("score")),
    Contender("biopython", "full", "Bio", _biopython("full"), subset="biopython"),
    Contender("biopython", "score", "Bio", _biopython("score"), subset="biopython"),
    Contender("skbio-legacy", "full", "skbio", _skbio_legacy, subset="skbio_legacy", exact=False),
    Contender("skbio-pair_align", "full", "skbio", _skbio_pair_align("full"), subset="pair_align"),
    Contender(
        "skbio-pair_align", "score", "skbio", _skbio_pair_align("score"), subset="pair_align"
    ),
)


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


@dataclass
class Settings:
    """Sizes and repeats of one benchmark run."""

    repeats: int = 3
    count: int = 20_000
    seed: int = 1
    miseq_limit: int | None = None
    pacbio_count: int = 500
    #: Pair caps per subset key and workload.
    subsets: dict[str, dict[str, int]] = field(
        default_factory=lambda: {
            "biopython": {"64bp": 500, "miseq": 100, "pacbio": 10},
            "skbio_legacy": {"64bp": 50, "miseq": 0, "pacbio": 0},
            "pair_align": {"64bp": 2000, "miseq": 200, "pacbio": 20},
        }
    )

    @classmethod
    def quick(cls) -> Settings:
        """Small sizes for smoke tests (seconds, not minutes)."""
        return cls(
            repeats=1,
            count=256,
            miseq_limit=32,
            pacbio_count=16,
            subsets={
                "biopython": {"64bp": 32, "miseq": 8, "pacbio": 2},
                "skbio_legacy": {"64bp": 3, "miseq": 0, "pacbio": 0},
                "pair_align": {"64bp": 32, "miseq": 8, "pacbio": 2},
            },
        )

    def pairs_for(self, contender: Contender, workload: Workload) -> int:
        total = len(workload.queries)
        if contender.subset is None:
            return total
        return min(total, self.subsets.get(contender.subset, {}).get(workload.name, total))


@dataclass
class Row:
    """One line of the result table (``None`` where a figure does not apply)."""

    workload: str
    tool: str
    variant: str
    status: str  # "ok", "n/a", "not installed", "error"
    call: str = ""
    pairs: int = 0
    seconds: float | None = None
    alignments_per_second: float | None = None
    gcups: float | None = None
    ratio_to_streamalign_full: float | None = None
    score_mismatches: int | None = None
    first_call_seconds: float | None = None
    times: list[float] = field(default_factory=list)
    note: str = ""
    scores: np.ndarray | None = field(default=None, repr=False)

    def public(self) -> dict[str, Any]:
        """The row as JSON-ready data (scores left out)."""
        data = asdict(replace(self, scores=None))
        data.pop("scores")
        return data


def _timed(runner: Runner, queries: Sequence[str]) -> tuple[float, np.ndarray]:
    collect = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        scores = runner(queries)
        elapsed = time.perf_counter() - start
    finally:
        if collect:
            gc.enable()
    return elapsed, scores


def run_contender(
    contender: Contender, workload: Workload, settings: Settings, log: Callable[[str], None]
) -> Row:
    """Warm up, then time one contender on (a prefix of) the workload; scores kept in the row."""
    row = Row(workload.name, contender.tool, contender.variant, status="ok")
    if find_spec(contender.module) is None:
        row.status, row.note = "not installed", f"import {contender.module} failed"
        return row
    pairs = settings.pairs_for(contender, workload)
    try:
        built = contender.build(workload)
    except Exception as error:  # a tool that fails to set up must not sink the whole run
        row.status, row.note = "error", f"{type(error).__name__}: {error}"
        return row
    if isinstance(built, str) or pairs == 0:
        row.status = "n/a"
        row.note = built if isinstance(built, str) else "n/a: no pairs in the subset"
        return row
    row.call, runner = built
    queries = workload.queries[:pairs]
    log(f"  {workload.name:6} {contender.tool:17} {contender.variant:19} {pairs:>6} pairs ...")
    try:
        row.first_call_seconds, _ = _timed(runner, queries[:WARMUP_PAIRS])
        for _ in range(settings.repeats):
            elapsed, scores = _timed(runner, queries)
            row.times.append(elapsed)
            if row.scores is None:
                row.scores = scores
    except Exception as error:
        row.status, row.note = "error", f"{type(error).__name__}: {error}"
        return row
    row.pairs = pairs
    row.seconds = min(row.times)
    row.alignments_per_second = pairs / row.seconds
    row.gcups = workload.cells(pairs) / row.seconds / 1e9
    return row


def _legacy_streamalign_scores(workload: Workload, pairs: int) -> np.ndarray | None:
    """streamalign's scikit-bio recurrence, where this checkout has it (else None)."""
    try:
        from streamalign import Aligner

        aligner = Aligner(
            workload.reference,
            workload.mode,
            match=MATCH,
            mismatch=MISMATCH,
            gap_open=GAP_OPEN,
            gap_extend=GAP_EXTEND,
            recurrence="skbio",
        )
        return np.asarray(
            aligner.align_many(workload.queries[:pairs], traceback=False).scores, np.float64
        )
    except Exception:
        return None


def compare_scores(rows: list[Row], workload: Workload) -> None:
    """Fill the mismatch counts (against streamalign score-only) and the ratios, in place."""
    truth_row = next(
        (r for r in rows if r.tool == STREAMALIGN and r.variant == "score" and r.status == "ok"),
        None,
    )
    baseline = next(
        (
            r
            for r in rows
            if r.tool == STREAMALIGN and r.variant == BASELINE_VARIANT and r.status == "ok"
        ),
        None,
    )
    for row in rows:
        if row.status != "ok":
            continue
        if baseline is not None and baseline.alignments_per_second:
            assert row.alignments_per_second is not None
            row.ratio_to_streamalign_full = row.alignments_per_second / (
                baseline.alignments_per_second
            )
        if truth_row is None or truth_row.scores is None or row.scores is None:
            continue
        truth = truth_row.scores[: row.pairs]
        different = row.scores != truth
        row.score_mismatches = int(different.sum())
        if row.tool == "skbio-legacy" and row.score_mismatches:
            lower = int((row.scores[different] < truth[different]).sum())
            note = (
                f"{row.score_mismatches} of {row.pairs} scores differ, {lower} of them below "
                "the optimum: scikit-bio's single-matrix recurrence (a gap extends only where "
                "the traceback of the neighbouring cell is a gap) is not exact Gotoh"
            )
            legacy = _legacy_streamalign_scores(workload, row.pairs)
            if legacy is not None:
                note += (
                    f"; vs streamalign recurrence='skbio': {int((legacy != row.scores).sum())}"
                    " mismatches"
                )
            row.note = note
        elif row.score_mismatches:
            row.note = (row.note + "; " if row.note else "") + "SCORES DIFFER FROM STREAMALIGN"


def run_workload(
    workload: Workload,
    settings: Settings,
    contenders: Sequence[Contender] = CONTENDERS,
    log: Callable[[str], None] = lambda message: None,
) -> list[Row]:
    """Run every contender on one workload; rows with mismatch counts and ratios filled."""
    rows = [run_contender(contender, workload, settings, log) for contender in contenders]
    compare_scores(rows, workload)
    return rows


# --------------------------------------------------------------------------------------------
# Checks and measurements besides the table
# --------------------------------------------------------------------------------------------


def check_gap_conventions() -> dict[str, float | None]:
    """Score one pair with a 3-base deletion and a 1-base insertion with every tool.

    With a gap of length ``k`` costing ``GAP_OPEN + (k - 1) * GAP_EXTEND`` the optimal global
    score is ``61 * MATCH - (5 + 2 * 2) - 5 = 47``; a tool charging ``open + k * extend`` would
    give ``61 - 11 - 7 = 43``. Returns ``{"tool variant": score}`` (``None`` where not
    installed) with the optimum under ``"expected"``. scikit-bio's legacy function is not exact
    (see :func:`compare_scores`); its score is set beside streamalign's ``recurrence="skbio"``
    (``"streamalign recurrence=skbio"``, where this checkout has it).
    """
    reference = FRAGMENT_16S
    query = reference[:10] + reference[13:40] + "T" + reference[40:]
    expected = (len(reference) - 3) * MATCH - (GAP_OPEN + 2 * GAP_EXTEND) - GAP_OPEN
    workload = Workload("convention", "global", reference, [query], "gap convention check")
    scores: dict[str, float | None] = {"expected": float(expected)}
    for contender in CONTENDERS:
        if not contender.variant.startswith("score") and contender.tool != "skbio-legacy":
            continue
        label = f"{contender.tool} {contender.variant}"
        if find_spec(contender.module) is None:
            scores[label] = None
            continue
        built = contender.build(workload)
        assert not isinstance(built, str)
        scores[label] = float(built[1]([query])[0])
    if "skbio-legacy full" in scores:
        legacy = _legacy_streamalign_scores(workload, 1)
        scores["streamalign recurrence=skbio"] = None if legacy is None else float(legacy[0])
    return scores


_COMPILE_PROBE = """
import json, sys, time
started = time.perf_counter()
from streamalign import Aligner
imported = time.perf_counter()
reference, mode, query = sys.argv[1], sys.argv[2], sys.argv[3]
aligner = Aligner(reference, mode, match={match}, mismatch={mismatch}, gap_open={gap_open},
                  gap_extend={gap_extend})
aligner.align_many([query], traceback=True).cigars()
compiled = time.perf_counter()
aligner.align_many([query], traceback=False)
aligner.align_many([query], traceback=True).cigars()
again = time.perf_counter()
print(json.dumps({{"import_seconds": imported - started, "first_call_seconds": compiled - imported,
                  "second_calls_seconds": again - compiled}}))
"""


def measure_cold_compile(workload: Workload, timeout: float = 600) -> dict[str, Any]:
    """streamalign's first call in a fresh process with an empty numba cache directory.

    That is the numba JIT compile time a user pays once (the kernels are then cached on disk);
    the in-process ``first call s`` of the table is usually a cache load instead.
    """
    code = _COMPILE_PROBE.format(
        match=MATCH, mismatch=MISMATCH, gap_open=GAP_OPEN, gap_extend=GAP_EXTEND
    )
    with tempfile.TemporaryDirectory(prefix="streamalign-numba-cache-") as cache:
        environment = dict(os.environ, NUMBA_CACHE_DIR=cache)
        completed = subprocess.run(
            [sys.executable, "-c", code, workload.reference, workload.mode, workload.queries[0]],
            capture_output=True,
            text=True,
            env=environment,
            timeout=timeout,
            check=False,
        )
    if completed.returncode != 0:
        return {"error": completed.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """CPU, core count, load and tool versions: what the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {
        name: _version(name)
        for name in (
            "streamalign",
            "numpy",
            "numba",
            "parasail",
            "pyopal",
            "biopython",
            "scikit-bio",
            "dnaio",
        )
    }
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

COLUMNS = (
    "workload",
    "tool",
    "variant",
    "pairs",
    "seconds",
    "alignments/s",
    "GCUPS/core",
    "vs streamalign full",
    "score mismatches",
    "first call s",
)


def _number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    if value >= 10**digits:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _cells(row: Row) -> list[str]:
    if row.status != "ok":
        return [row.workload, row.tool, row.variant, "-", "-", "-", "-", "-", "-", row.status]
    return [
        row.workload,
        row.tool,
        row.variant,
        f"{row.pairs:,}",
        f"{row.seconds:.4f}" if row.seconds is not None else "-",
        _number(row.alignments_per_second),
        f"{row.gcups:.3f}" if row.gcups is not None else "-",
        f"{row.ratio_to_streamalign_full:.3g}" if row.ratio_to_streamalign_full else "-",
        "-" if row.score_mismatches is None else str(row.score_mismatches),
        f"{row.first_call_seconds:.3f}" if row.first_call_seconds is not None else "-",
    ]


def format_table(rows: Sequence[Row]) -> str:
    """Plain-text table, one line per row, numbers right-aligned."""
    lines = [list(COLUMNS)] + [_cells(row) for row in rows]
    widths = [max(len(line[column]) for line in lines) for column in range(len(COLUMNS))]
    left = {0, 1, 2}
    out = []
    for number, line in enumerate(lines):
        out.append(
            "  ".join(
                cell.ljust(width) if column in left else cell.rjust(width)
                for column, (cell, width) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
        if number == 0:
            out.append("  ".join("-" * width for width in widths))
    return "\n".join(out)


def format_notes(rows: Sequence[Row]) -> list[str]:
    """One line per row: the exact call timed and any note."""
    notes = []
    for row in rows:
        text = row.call
        if row.note:
            text = f"{text}  [{row.note}]" if text else row.note
        notes.append(f"{row.workload} / {row.tool} / {row.variant}: {text}")
    return notes


def format_jit(jit: dict[str, Any]) -> list[str]:
    lines = []
    for name, probe in jit.items():
        if "error" in probe:
            lines.append(f"{name}: cold compile probe failed: {probe['error']}")
            continue
        lines.append(
            f"{name}: first call with an empty numba cache (fresh process) "
            f"{probe['first_call_seconds']:.2f} s (import {probe['import_seconds']:.2f} s, "
            f"next calls {probe['second_calls_seconds'] * 1000:.1f} ms)"
        )
    return lines


def format_text(report: dict[str, Any], rows: Sequence[Row]) -> str:
    machine = report["machine"]
    parts = [
        "streamalign kernel benchmark (single thread per tool)",
        f"command: {report['command']}",
        f"machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, Python "
        f"{machine['python']}; load average before {_load(machine['load_average'])}, "
        f"after {_load(report['load_average_after'])}",
        "workloads:",
        *(f"  {name}: {text}" for name, text in report["workloads"].items()),
        f"gap convention check (expected {report['gap_conventions'].get('expected')}): "
        + ", ".join(
            f"{tool} {score:g}" if score is not None else f"{tool} -"
            for tool, score in report["gap_conventions"].items()
            if tool != "expected"
        ),
        "",
        format_table(rows),
        "",
        "seconds: best of the repeats; GCUPS/core: query length x reference length cells per "
        "pair, summed, / seconds / 1e9, on one thread; vs streamalign full: alignments/s "
        "divided by streamalign full's; score mismatches: pairs whose score differs from "
        "streamalign score-only's; first call s: the warm-up call on the first "
        f"{WARMUP_PAIRS} pairs (includes JIT compile or cache load).",
        "",
        "calls and notes:",
        *(f"  {line}" for line in format_notes(rows)),
    ]
    if report.get("jit"):
        parts += ["", "streamalign numba JIT:"]
        parts += [f"  {line}" for line in format_jit(report["jit"])]
    return "\n".join(parts) + "\n"


def _load(load: list[float] | None) -> str:
    return "n/a" if not load else " ".join(f"{value:.2f}" for value in load)


def format_markdown(report: dict[str, Any], rows: Sequence[Row]) -> str:
    machine = report["machine"]
    versions = ", ".join(
        f"{name} {version}" for name, version in machine["versions"].items() if version
    )
    lines = [
        "# streamalign kernel benchmark (single thread per tool)",
        "",
        f"- Command: `{report['command']}`",
        f"- Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs, Python "
        f"{machine['python']}; load average before {_load(machine['load_average'])}, after "
        f"{_load(report['load_average_after'])}",
        f"- Versions: {versions}",
        *(f"- Workload `{name}`: {text}" for name, text in report["workloads"].items()),
        f"- Scoring: match {MATCH}, mismatch {MISMATCH}, gap open {GAP_OPEN}, gap extend "
        f"{GAP_EXTEND} (a gap of length k costs {GAP_OPEN} + {GAP_EXTEND}(k - 1))",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" if n < 3 else "---:" for n in range(len(COLUMNS))) + "|",
    ]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    lines += ["", "Calls and notes:", ""]
    lines += [f"- {line}" for line in format_notes(rows)]
    if report.get("jit"):
        lines += ["", "streamalign numba JIT:", ""]
        lines += [f"- {line}" for line in format_jit(report["jit"])]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/kernels.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the random 64bp queries")
    parser.add_argument("--count", type=int, help="random 64bp queries (default 20000)")
    parser.add_argument("--repeats", type=int, help="timed runs per tool; best counts (3)")
    parser.add_argument("--reads", type=Path, default=DEFAULT_READS, help="MiSeq reads")
    parser.add_argument(
        "--reference", type=Path, default=DEFAULT_REFERENCE, help="reference FASTA (first record)"
    )
    parser.add_argument(
        "--workload",
        action="append",
        choices=("64bp", "miseq", "pacbio"),
        help="run only this workload (repeatable; default all three)",
    )
    parser.add_argument(
        "--tool",
        action="append",
        choices=sorted({c.tool for c in CONTENDERS}),
        help="run only this tool (repeatable; streamalign always runs: it is the reference)",
    )
    parser.add_argument(
        "--genes", type=Path, default=DEFAULT_GENES, help="full-length 16S genes (pacbio)"
    )
    parser.add_argument("--pacbio-count", type=int, help="pacbio reads (default 500)")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument(
        "--no-compile-probe",
        action="store_true",
        help="skip measuring the cold numba compile in a child process",
    )
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write Markdown")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; returns 0, or 1 when an exact tool's scores differ from streamalign's."""
    arguments = build_parser().parse_args(argv)
    settings = Settings.quick() if arguments.quick else Settings()
    if arguments.count is not None:
        settings.count = arguments.count
    if arguments.repeats is not None:
        settings.repeats = max(1, arguments.repeats)
    if arguments.pacbio_count is not None:
        settings.pacbio_count = arguments.pacbio_count
    settings.seed = arguments.seed
    machine = machine_info()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    names = arguments.workload or ["64bp", "miseq", "pacbio"]
    workloads = []
    if "64bp" in names:
        workloads.append(random_workload(settings.count, settings.seed))
    if "miseq" in names:
        workloads.append(miseq_workload(arguments.reads, arguments.reference, settings.miseq_limit))
    if "pacbio" in names:
        workloads.append(
            pacbio_workload(
                arguments.genes, arguments.reference, settings.pacbio_count, settings.seed
            )
        )
    contenders = [
        c for c in CONTENDERS if not arguments.tool or c.tool in {STREAMALIGN, *arguments.tool}
    ]

    rows: list[Row] = []
    for workload in workloads:
        log(f"{workload.name}: {workload.description}")
        rows += run_workload(workload, settings, contenders, log)
    conventions = check_gap_conventions()  # after the runs: the first calls are the warm-ups
    jit: dict[str, Any] = {}
    if not arguments.no_compile_probe and not arguments.quick:
        for workload in workloads:
            log(f"  {workload.name}: cold numba compile in a child process ...")
            jit[workload.name] = measure_cold_compile(workload)

    given = list(sys.argv[1:] if argv is None else argv)
    command = shlex.join(["python", "benchmarks/kernels.py", *given])
    report: dict[str, Any] = {
        "command": command,
        "machine": machine,
        "load_average_after": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "settings": asdict(settings),
        "scoring": {
            "match": MATCH,
            "mismatch": MISMATCH,
            "gap_open": GAP_OPEN,
            "gap_extend": GAP_EXTEND,
        },
        "workloads": {workload.name: workload.description for workload in workloads},
        "gap_conventions": conventions,
        "warmup_pairs": WARMUP_PAIRS,
        "jit": jit,
    }
    sys.stdout.write(format_text(report, rows))
    if arguments.markdown:
        arguments.markdown.parent.mkdir(parents=True, exist_ok=True)
        arguments.markdown.write_text(format_markdown(report, rows), encoding="utf-8")
    if arguments.json:
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        data = dict(report, rows=[row.public() for row in rows])
        arguments.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    exact = {(c.tool, c.variant) for c in contenders if c.exact}
    failed = [
        row
        for row in rows
        if (row.tool, row.variant) in exact and (row.score_mismatches or row.status == "error")
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
