"""The alignment run: reads in, batches aligned on workers, records out, statistics kept.

This module wires the layers together (readers, :class:`~streamalign.aligner.Aligner`, the
generic engine, writers); the command line only parses options into a :class:`RunOptions`.
Workers align a batch *and* format its output, so formatting runs in parallel too; the parent
only writes finished bytes in batch order.

Example:
    >>> import io, streamalign.pipeline as pipeline
    >>> reads = io.BytesIO(b">r1\\nGAGTTTGATCCTGGCTCAG\\n>r2\\nGAGTTTGATCTGGCTCAG\\n")
    >>> output = io.BytesIO()
    >>> options = pipeline.RunOptions(output_format="tsv", backend="serial")
    >>> aligner = pipeline.Aligner("GAGTTTGATCCTGGCTCAG", reference_name="frag")
    >>> statistics = pipeline.run(aligner, ["-"], output, options, stdin=reads)
    >>> statistics.records, statistics.mapped
    (2, 2)
    >>> output.getvalue().decode().splitlines()[2].split("\\t")[:5]
    ['r2', 'frag', '+', '1', '13']
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO

import numpy as np

from . import _config
from .aligner import Aligner
from .alphabet import invalid_positions
from .checkpoint import Checkpoint, CheckpointKeeper
from .engine import execute, resolve_workers
from .errors import DeviceError, InvalidSequenceError, StreamAlignError
from .io.fastx import records_as_fastx
from .io.formats import make_writer
from .io.readers import InputProgress, read_batches
from .records import SequenceBatch
from .significance import ChanceFilter
from .thresholds import secondary_records

#: Version of the ``--stats-json`` layout.
STATISTICS_SCHEMA_VERSION = 1
INVALID_POLICIES = ("error", "skip", "reject")


@dataclass
class RunOptions:
    """Everything about a run except the aligner, the inputs and the output stream."""

    output_format: str = "sam"
    strand: str = "forward"
    all_references: bool = False
    min_score: float | None = None
    min_identity: float | None = None
    extended_cigar: bool = True
    backend: str = "threads"
    workers: int = 0
    start_method: str | None = None
    ordered: bool = True
    batch_records: int | None = None
    on_invalid: str = "reject"
    command_line: str = "streamalign"
    #: ``backend="dask"``: the scheduler's address (``tcp://host:8786``); ``None``: a local
    #: cluster of ``workers`` processes, or the ``client`` given to :func:`run`.
    scheduler: str | None = None


@dataclass
class BatchOutcome:
    """What a worker sends back for one batch: formatted bytes and counts."""

    output: bytes
    records: int
    mapped: int
    rejected: int
    rejects: bytes = b""
    reasons: list[str] = field(default_factory=list)
    #: With ``on_invalid="error"``: the invalid record that ended the batch; the output holds
    #: the records before it, and the run stops once it has written them.
    error: InvalidSequenceError | None = None
    #: The database search (several references): records it searched, the (reference,
    #: strand) pairs it aligned for them in all, and the most for one record.
    searched: int = 0
    candidates: int = 0
    most_candidates: int = 0
    #: the pairs it aligned only half of the query for (their bound then fell short)
    half_candidates: int = 0
    #: the pairs its family's consensus bounded below the best (not aligned at all)
    family_candidates: int = 0


@dataclass
class RunStatistics:
    """The run's account, printed as the summary and written by ``--stats-json``."""

    records: int = 0
    mapped: int = 0
    unmapped: int = 0
    rejected: int = 0
    batches: int = 0
    wall_seconds: float = 0.0
    workers: int = 1
    backend: str = "threads"
    records_per_worker: dict[str, int] = field(default_factory=dict)
    rejection_reasons: list[str] = field(default_factory=list)
    interrupted: bool = False
    #: Database search: (reference, strand) pairs each record could align to (0: no search),
    #: records searched, pairs aligned in all, and the most for one record. With
    #: ``--all-refs`` and a threshold that prunes, the pairs aligned for a record are those
    #: its bounds let through, the other strands aligned to pick a reference's strand, and
    #: for a record with no passing reference those its best-reference search aligned (a
    #: pair may then count twice).
    search_pairs_per_record: int = 0
    searched_records: int = 0
    candidates_aligned: int = 0
    candidates_aligned_max: int = 0
    #: pairs the search only half aligned (the bound of half the query's alignment fell
    #: short; not counted as aligned above)
    candidates_half_aligned: int = 0
    #: pairs bounded by their family's consensus alignment (``streamalign.search.families``;
    #: not aligned at all)
    candidates_family_bounded: int = 0

    @property
    def records_per_second(self) -> float:
        return self.records / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def candidates_aligned_mean(self) -> float:
        """(Reference, strand) pairs the search aligned per record, on average."""
        return self.candidates_aligned / self.searched_records if self.searched_records else 0.0

    @property
    def candidates_half_aligned_mean(self) -> float:
        """Pairs the search only half aligned per record, on average."""
        if not self.searched_records:
            return 0.0
        return self.candidates_half_aligned / self.searched_records

    @property
    def candidates_family_bounded_mean(self) -> float:
        """Pairs bounded by their family's consensus per record, on average."""
        if not self.searched_records:
            return 0.0
        return self.candidates_family_bounded / self.searched_records

    @property
    def pruned_fraction(self) -> float:
        """The share of (record, reference, strand) pairs the search did not align."""
        possible = self.searched_records * self.search_pairs_per_record
        return 1.0 - self.candidates_aligned / possible if possible else 0.0

    def counts(self) -> dict[str, Any]:
        """The counters a resumed run carries on from."""
        return {
            "records": self.records,
            "mapped": self.mapped,
            "unmapped": self.unmapped,
            "rejected": self.rejected,
            "batches": self.batches,
        }

    def to_json(self) -> str:
        document = {"schema_version": STATISTICS_SCHEMA_VERSION, **asdict(self)}
        document["records_per_second"] = round(self.records_per_second, 3)
        document["candidates_aligned_mean"] = round(self.candidates_aligned_mean, 3)
        document["candidates_half_aligned_mean"] = round(self.candidates_half_aligned_mean, 3)
        document["candidates_family_bounded_mean"] = round(self.candidates_family_bounded_mean, 3)
        document["pruned_fraction"] = round(self.pruned_fraction, 6)
        document["wall_seconds"] = round(self.wall_seconds, 6)
        return json.dumps(document, indent=2, sort_keys=True) + "\n"

    def summary(self) -> str:
        lines = [
            f"records      {self.records:>12,}",
            f"mapped       {self.mapped:>12,}",
            f"unmapped     {self.unmapped:>12,}",
            f"rejected     {self.rejected:>12,}",
            f"wall time    {self.wall_seconds:>12.2f} s",
            f"throughput   {self.records_per_second:>12,.0f} records/s"
            f"  ({self.workers} worker{'s' if self.workers != 1 else ''}, {self.backend})",
        ]
        if self.searched_records:
            lines.append(
                f"searched     {self.candidates_aligned_mean:>12,.1f} of "
                f"{self.search_pairs_per_record:,} reference-strands aligned per record "
                f"(max {self.candidates_aligned_max:,}; {100 * self.pruned_fraction:.2f}% pruned)"
            )
            if self.candidates_half_aligned:
                lines.append(
                    f"             {self.candidates_half_aligned_mean:>12,.1f} more half aligned "
                    "per record (their bound fell short)"
                )
            if self.candidates_family_bounded:
                lines.append(
                    f"             {self.candidates_family_bounded_mean:>12,.1f} more bounded by "
                    "their family's consensus per record"
                )
        for worker, count in sorted(self.records_per_worker.items(), key=lambda item: item[0]):
            lines.append(f"  worker-{worker} done with {count:,} records")
        if self.interrupted:
            lines.append("interrupted: the output ends at the last complete record listed above")
        return "\n".join(lines)


class AlignBatchTask:
    """Aligns one :class:`SequenceBatch` and formats its output (picklable, sent once).

    Records holding characters outside IUPAC are handled by ``on_invalid``: ``"error"``
    raises :class:`InvalidSequenceError`, ``"skip"`` drops them, ``"reject"`` drops them from
    the output and returns them (as FASTA/FASTQ) for the rejects file.
    """

    def __init__(self, aligner: Aligner, options: RunOptions) -> None:
        self.aligner = aligner
        self.options = options
        self._writer: Any = None
        self._chance: ChanceFilter | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"aligner": self.aligner, "options": self.options, "_writer": None, "_chance": None}

    def __call__(self, batch: SequenceBatch) -> BatchOutcome:
        kept, rejects, reasons, error = self._screen(batch)
        pieces: list[bytes] = []
        # records written, of which mapped; search: records, pairs, most, pairs half aligned
        counts = [0, 0, 0, 0, 0, 0, 0]
        failed: list[int] = []
        self._align_isolating(kept, np.arange(len(kept)), pieces, counts, failed, reasons)
        if failed:  # records that could not be aligned go where rejected records go
            rejects += records_as_fastx(kept, np.array(failed, dtype=np.int64))
        handled = len(batch) if error is None else len(kept)  # records after an error: none
        return BatchOutcome(
            b"".join(pieces),
            counts[0],
            counts[1],
            handled - counts[0],
            rejects,
            reasons,
            error,
            searched=counts[2],
            candidates=counts[3],
            most_candidates=counts[4],
            half_candidates=counts[5],
            family_candidates=counts[6],
        )

    def _align_isolating(
        self,
        batch: SequenceBatch,
        positions: np.ndarray,
        pieces: list[bytes],
        counts: list[int],
        failed: list[int],
        reasons: list[str],
    ) -> None:
        """Align ``batch``; if that fails, split it in halves until the failing records are
        alone, and set those aside (in input order) with the reason."""
        try:
            pieces.append(self._align_and_format(batch, counts))
        except (InvalidSequenceError, DeviceError):  # not the records' fault
            raise
        except Exception as error:
            if len(batch) <= 1:
                if len(batch) == 1:
                    failed.append(int(positions[0]))
                    reasons.append(
                        f"record {batch.first_record + 1} ({batch.names[0]}): "
                        f"{type(error).__name__}: {error}"
                    )
                return
            middle = len(batch) // 2
            for part in (np.arange(middle), np.arange(middle, len(batch))):
                half = batch.take(part)
                half.first_record = batch.first_record + int(part[0])
                self._align_isolating(half, positions[part], pieces, counts, failed, reasons)

    def _align_and_format(self, batch: SequenceBatch, counts: list[int]) -> bytes:
        options = self.options
        # With every reference, a threshold keeps the passing ones (a read with none: one).
        choosing = options.all_references
        alignments = self.aligner.align_many(
            batch,
            strand=options.strand,
            all_references=options.all_references,
            min_score=options.min_score if choosing else None,
            min_identity=options.min_identity if choosing else None,
        )
        mapped = np.ones(len(alignments), dtype=bool)
        if options.min_score is not None:
            mapped &= alignments.scores >= options.min_score
        if options.min_identity is not None:
            mapped &= alignments.identities >= options.min_identity
        if options.min_score is None and options.min_identity is None:
            if self._chance is None:
                self._chance = ChanceFilter(self.aligner.references, self.aligner.scoring)
            mapped = self._chance.mapped(alignments)
        secondary = None
        if alignments.record_queries is not None:  # a threshold chose the records
            secondary = secondary_records(alignments.integer_scores, alignments.record_queries)
        elif options.all_references and len(self.aligner.references) > 1:
            secondary = _secondary_mask(alignments.integer_scores, len(self.aligner.references))
        if self._writer is None:
            self._writer = make_writer(
                options.output_format,
                io.BytesIO(),
                reference_names=self.aligner.reference_names,
                reference_lengths=self.aligner.references.lengths.tolist(),
                command_line=options.command_line,
                extended_cigar=options.extended_cigar,
            )
        formatted: bytes = self._writer.format_batch(alignments, mapped, secondary)
        counts[0] += len(batch)
        counts[1] += int(mapped.sum()) if secondary is None else int((mapped & ~secondary).sum())
        if alignments.aligned_candidates is not None and len(alignments.aligned_candidates):
            counts[2] += len(alignments.aligned_candidates)
            counts[3] += int(alignments.aligned_candidates.sum())
            counts[4] = max(counts[4], int(alignments.aligned_candidates.max()))
        if alignments.half_aligned_candidates is not None:
            counts[5] += int(alignments.half_aligned_candidates.sum())
        if alignments.family_bounded_candidates is not None:
            counts[6] += int(alignments.family_bounded_candidates.sum())
        return formatted

    def _screen(
        self, batch: SequenceBatch
    ) -> tuple[SequenceBatch, bytes, list[str], InvalidSequenceError | None]:
        """The records to align, the rejects' text, the reasons, and (``on_invalid="error"``)
        the first invalid record's error, with only the records before it kept."""
        bad_positions = invalid_positions(batch.sequences)
        if bad_positions.size == 0:
            return batch, b"", [], None
        bad_records = np.unique(np.searchsorted(batch.offsets, bad_positions, side="right") - 1)
        first_bad: dict[int, int] = {}
        for position, record in zip(
            bad_positions.tolist(),
            (np.searchsorted(batch.offsets, bad_positions, side="right") - 1).tolist(),
            strict=True,
        ):
            first_bad.setdefault(record, position)
        reasons = []
        for record in bad_records.tolist():
            position = first_bad[record]
            error = InvalidSequenceError(
                f"record {batch.first_record + record + 1} ({batch.names[record]})",
                chr(int(batch.sequences[position])),
                position - int(batch.offsets[record]) + 1,
            )
            if self.options.on_invalid == "error":
                before = batch.take(np.arange(record))
                before.first_record = batch.first_record
                return before, b"", [], error
            reasons.append(str(error))
        keep = np.setdiff1d(np.arange(len(batch)), bad_records)
        rejects = b""
        if self.options.on_invalid == "reject":
            rejects = records_as_fastx(batch, bad_records)
        return batch.take(keep), rejects, reasons, None


def _secondary_mask(scores: np.ndarray, reference_count: int) -> np.ndarray:
    """For query-major records (``reference_count`` per query): all but each query's best."""
    grouped = scores.reshape(-1, reference_count)
    secondary = np.ones(grouped.shape, dtype=bool)
    secondary[np.arange(grouped.shape[0]), np.argmax(grouped, axis=1)] = False
    return secondary.reshape(-1)


def batch_limits(
    aligner: Aligner,
    strand: str,
    requested_records: int | None,
    all_references: bool = False,
    pruned: bool = False,
) -> tuple[int, int]:
    """Records and bases per batch: about ``TARGET_CELLS_PER_BATCH`` DP cells of work each, or
    exactly ``requested_records`` records (``--batch-size``) whatever their length. With the
    database search a record aligns against a few references, not all: the work is estimated
    from ``SEARCH_EXPECTED_CANDIDATES`` references of mean length; so too with
    ``all_references`` when a threshold prunes them (``pruned``:
    :meth:`Aligner.prunes_all_references`)."""
    if requested_records is not None:
        return requested_records, 2**62
    reference_bases = int(aligner.references.lengths.sum()) or 1
    if aligner.searches and (not all_references or pruned):
        reference_bases = max(
            1,
            reference_bases
            * min(_config.SEARCH_EXPECTED_CANDIDATES, len(aligner.references))
            // len(aligner.references),
        )
    strands = 2 if strand == "both" else 1
    if aligner.device == "cuda":  # one GPU thread per pair: larger batches
        target, max_records = _config.GPU_TARGET_CELLS_PER_BATCH, _config.GPU_MAX_RECORDS_PER_BATCH
    else:
        target, max_records = _config.TARGET_CELLS_PER_BATCH, _config.MAX_RECORDS_PER_BATCH
    max_bases = max(1, target // (reference_bases * strands))
    if len(aligner.references) > 1 and not aligner.searches and not all_references:
        # Every read against every reference (``--search exhaustive``), best hit kept: the
        # target alone gives one read per batch against a database, so one SIMD lane per
        # kernel call. Batch enough bases to fill the lanes, within a larger cell budget
        # (`benchmarks/search.py --part exact`, 10 reads x 3,994 genes: 70.8 -> 43.4 s).
        roomy = _config.EXHAUSTIVE_BATCH_CELLS // (reference_bases * strands)
        max_bases = max(max_bases, min(_config.EXHAUSTIVE_BATCH_BASES, roomy))
    return max_records, max_bases


def run(
    aligner: Aligner,
    inputs: list[str],
    output: BinaryIO,
    options: RunOptions,
    *,
    stdin: BinaryIO | None = None,
    rejects: BinaryIO | None = None,
    on_progress: Callable[[int], None] | None = None,
    on_rejection: Callable[[str], None] | None = None,
    statistics: RunStatistics | None = None,
    client: Any = None,
    checkpoint: CheckpointKeeper | None = None,
    skip_records: int = 0,
    input_progress: InputProgress | None = None,
) -> RunStatistics:
    """Align every record of ``inputs`` and write the results to ``output``.

    ``statistics`` (created if not given) is updated as batches are written, so a caller that
    is interrupted still holds the account of what was written. ``client``: an existing
    ``distributed.Client`` for ``backend="dask"`` (a keyword, not a :class:`RunOptions` field:
    the options travel to the workers inside the task, a client cannot).

    ``checkpoint``: after a batch (at most once a second, and when the run stops), record how
    many input records are done and how long the output (and ``rejects``) are, so that
    ``skip_records`` can resume an interrupted run: the first ``skip_records`` input records
    are read but not aligned, and no header is written.

    ``input_progress``: kept up to date with how far the inputs have been read (for a
    progress display's percentage and ETA).
    """
    if options.on_invalid not in INVALID_POLICIES:
        raise ValueError(f"on_invalid must be one of {', '.join(INVALID_POLICIES)}")
    statistics = statistics if statistics is not None else RunStatistics()
    worker_count = 1 if options.backend == "serial" else resolve_workers(options.workers)
    statistics.workers = worker_count
    statistics.backend = options.backend
    started = time.perf_counter()
    pruned = options.all_references and aligner.prunes_all_references(
        options.min_score, options.min_identity
    )
    max_records, max_bases = batch_limits(
        aligner, options.strand, options.batch_records, options.all_references, pruned
    )
    if aligner.searches and (not options.all_references or pruned):
        statistics.search_pairs_per_record = len(aligner.references) * (
            2 if options.strand == "both" else 1
        )
    # Open the inputs first: a missing input fails before anything is written.
    batches: Iterator[SequenceBatch]
    # An input error ends the stream of batches here and is raised once every batch read
    # before it has been written: the output keeps every record before a malformed one.
    input_end = _InputEnd(
        read_batches(
            inputs,
            max_records=max_records,
            max_bases=max_bases,
            stdin=stdin,
            progress=input_progress,
        )
    )
    batches = iter(input_end)
    if worker_count > 1 and options.batch_records is None:  # an explicit size is kept
        batches = _spread_first_batch(batches, 2 * worker_count)
    if skip_records:  # resuming: the output already has its header
        batches = _skip_records(batches, skip_records)
    else:
        writer = make_writer(
            options.output_format,
            output,
            reference_names=aligner.reference_names,
            reference_lengths=aligner.references.lengths.tolist(),
            command_line=options.command_line,
            extended_cigar=options.extended_cigar,
        )
        writer.write_header()
        output.flush()
    task = AlignBatchTask(aligner, options)
    completed_batches = _completed_batches(task, batches, options, worker_count, client)
    pending: Checkpoint | None = None
    last_saved = -math.inf
    try:
        for completed in completed_batches:
            outcome: BatchOutcome = completed.result
            output.write(outcome.output)
            output.flush()
            if outcome.error is not None:  # --on-invalid error: written up to the record
                statistics.records += outcome.records
                statistics.mapped += outcome.mapped
                statistics.unmapped += outcome.records - outcome.mapped
                raise outcome.error
            if rejects is not None and outcome.rejects:
                rejects.write(outcome.rejects)
                rejects.flush()
            statistics.batches += 1
            statistics.records += outcome.records
            statistics.mapped += outcome.mapped
            statistics.unmapped += outcome.records - outcome.mapped
            statistics.rejected += outcome.rejected
            statistics.rejection_reasons.extend(outcome.reasons)
            statistics.searched_records += outcome.searched
            statistics.candidates_aligned += outcome.candidates
            statistics.candidates_half_aligned += outcome.half_candidates
            statistics.candidates_family_bounded += outcome.family_candidates
            statistics.candidates_aligned_max = max(
                statistics.candidates_aligned_max, outcome.most_candidates
            )
            worker = str(completed.worker)
            statistics.records_per_worker[worker] = (
                statistics.records_per_worker.get(worker, 0) + outcome.records
            )
            if on_rejection is not None:
                for reason in outcome.reasons:
                    on_rejection(reason)
            if on_progress is not None:
                on_progress(outcome.records + outcome.rejected)
            if checkpoint is not None:
                # Every batch is a consistent point; it is made durable at most once per
                # CHECKPOINT_SECONDS (an fsync per batch cost 1% of a run), and at the end.
                pending = Checkpoint(
                    records=skip_records + statistics.records + statistics.rejected,
                    output_bytes=output.tell(),
                    rejects_bytes=rejects.tell() if rejects is not None else 0,
                    fingerprint=checkpoint.fingerprint,
                    statistics=statistics.counts(),
                )
                if time.perf_counter() - last_saved >= _config.CHECKPOINT_SECONDS:
                    checkpoint.save(pending)
                    pending = None
                    last_saved = time.perf_counter()
        if input_end.error is not None:
            raise input_end.error
    finally:
        if checkpoint is not None and pending is not None:
            # Interrupted or failed after a batch that was written in full: keep its place.
            checkpoint.save(pending)
        close = getattr(completed_batches, "close", None)
        if close is not None:
            close()  # stops the workers at once when the loop ended early
        statistics.wall_seconds = time.perf_counter() - started
        if options.backend == "dask":  # the cluster's size is not ours: count who worked
            statistics.workers = len(statistics.records_per_worker)
    return statistics


class _InputEnd:
    """Iterates over ``batches`` and ends early, without raising, at an input error (kept in
    :attr:`error`), so the engine finishes and hands back every batch read before it."""

    def __init__(self, batches: Iterator[SequenceBatch]) -> None:
        self.batches = batches
        self.error: BaseException | None = None

    def __iter__(self) -> Iterator[SequenceBatch]:
        try:
            yield from self.batches
        except (StreamAlignError, OSError) as error:
            self.error = error


class CrashIsolator:
    """Finds the records of a batch that kill any process aligning them (a crash in native
    code, an out-of-memory kill) by bisection in throw-away child processes; the others are
    aligned there, the culprits rejected. Used for batches the process pool gave up on.
    """

    def __init__(self, task: AlignBatchTask, start_method: str | None) -> None:
        self.task = task
        self.context: Any = multiprocessing.get_context(start_method)

    def __call__(self, batch: SequenceBatch, error: Exception) -> BatchOutcome:
        outcomes: list[BatchOutcome] = []
        self._bisect(batch, error, outcomes)
        return BatchOutcome(
            b"".join(outcome.output for outcome in outcomes),
            sum(outcome.records for outcome in outcomes),
            sum(outcome.mapped for outcome in outcomes),
            sum(outcome.rejected for outcome in outcomes),
            b"".join(outcome.rejects for outcome in outcomes),
            [reason for outcome in outcomes for reason in outcome.reasons],
            searched=sum(outcome.searched for outcome in outcomes),
            candidates=sum(outcome.candidates for outcome in outcomes),
            most_candidates=max((outcome.most_candidates for outcome in outcomes), default=0),
            half_candidates=sum(outcome.half_candidates for outcome in outcomes),
            family_candidates=sum(outcome.family_candidates for outcome in outcomes),
        )

    def _bisect(self, batch: SequenceBatch, error: Exception, outcomes: list[BatchOutcome]) -> None:
        if len(batch) == 0:
            return
        outcome = self._attempt(batch)
        if outcome is not None:
            outcomes.append(outcome)
        elif len(batch) == 1:
            reason = (
                f"record {batch.first_record + 1} ({batch.names[0]}): the process "
                f"aligning it died ({error})"
            )
            outcomes.append(
                BatchOutcome(b"", 0, 0, 1, records_as_fastx(batch, np.zeros(1, int)), [reason])
            )
        else:
            middle = len(batch) // 2
            for part in (np.arange(middle), np.arange(middle, len(batch))):
                half = batch.take(part)
                half.first_record = batch.first_record + int(part[0])
                self._bisect(half, error, outcomes)

    def _attempt(self, batch: SequenceBatch) -> BatchOutcome | None:
        """The task's outcome on ``batch`` in a child process, or None if the child died."""
        receiver, sender = self.context.Pipe(duplex=False)
        child = self.context.Process(
            target=_run_in_child, args=(self.task, batch, sender), daemon=True
        )
        child.start()
        sender.close()
        try:
            outcome: BatchOutcome = receiver.recv()
        except EOFError:
            return None
        finally:
            receiver.close()
            child.join()
        return outcome


def _run_in_child(task: AlignBatchTask, batch: SequenceBatch, sender: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    sender.send(task(batch))
    sender.close()


def _spread_first_batch(batches: Iterator[SequenceBatch], pieces: int) -> Iterator[SequenceBatch]:
    """The first batch cut into ``pieces`` smaller ones, the rest as they come: a small input
    (one batch) still keeps every worker busy, a large one is not affected."""
    for number, batch in enumerate(batches):
        if number == 0 and len(batch) >= 2 * pieces:
            for part in np.array_split(np.arange(len(batch)), pieces):
                piece = batch.take(part)
                piece.first_record = batch.first_record + int(part[0])
                yield piece
        else:
            yield batch


def _skip_records(batches: Iterator[SequenceBatch], count: int) -> Iterator[SequenceBatch]:
    """The batches without their first ``count`` records (read, not aligned)."""
    for batch in batches:
        if count >= len(batch):
            count -= len(batch)
            continue
        if count:
            kept = batch.take(np.arange(count, len(batch)))
            kept.first_record = batch.first_record + count
            batch = kept
            count = 0
        yield batch


def fingerprint(aligner: Aligner, options: RunOptions, inputs: list[str]) -> str:
    """A digest of everything that decides the output's bytes (not how the work is run)."""
    described = {
        "references": _references_digest(aligner),
        "mode": aligner.mode,
        "flags": aligner.flags,
        "scoring": repr(aligner.scoring),
        "inputs": [os.path.abspath(path) if path != "-" else path for path in inputs],
        "format": options.output_format,
        "strand": options.strand,
        "all_references": options.all_references,
        "min_score": options.min_score,
        "min_identity": options.min_identity,
        "extended_cigar": options.extended_cigar,
        "on_invalid": options.on_invalid,
    }
    if not isinstance(aligner.search, str):  # the fast search's hits depend on its settings
        described["search"] = repr(aligner.search)
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:32]


def _references_digest(aligner: Aligner) -> str:
    """SHA-256 of the references' names, lengths and letters, from the aligner's arrays (no
    string per reference: a database may hold hundreds of thousands). References that are an
    index file's arrays count by that file's header digest instead, which covers the SHA-256
    of every array written (the letters of 400,000 genes took 0.4-1.3 s to hash per run)."""
    references = aligner.references
    digest = hashlib.sha256()
    digest.update("\0".join(aligner.reference_names).encode("utf-8", "surrogatepass"))
    index = references.index
    if index is not None:
        digest.update(f"index {index.header.digest}".encode())
        return digest.hexdigest()
    digest.update(np.ascontiguousarray(references.offsets, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(references.ascii).data)
    return digest.hexdigest()


def _completed_batches(
    task: AlignBatchTask,
    batches: Iterator[SequenceBatch],
    options: RunOptions,
    workers: int,
    client: Any = None,
) -> Iterator[Any]:
    on_crash = CrashIsolator(task, options.start_method) if options.backend == "processes" else None
    return execute(
        task,
        batches,
        on_crash=on_crash,
        backend=options.backend,
        workers=workers,
        ordered=options.ordered,
        start_method=options.start_method,
        client=client,
        scheduler=options.scheduler,
    )


__all__ = [
    "AlignBatchTask",
    "Aligner",
    "BatchOutcome",
    "RunOptions",
    "RunStatistics",
    "StreamAlignError",
    "batch_limits",
    "run",
]
