"""``streamalign bench``: measure how throughput scales with workers on this machine's data.

For each backend and each worker count 1..N, the reads (loaded into memory once, so the disk does
not dominate) are aligned by the same in-process pipeline as ``streamalign align``
(:func:`streamalign.pipeline.run`, output discarded); the best of ``--repeats`` runs counts.
The speed-ups are fitted with Amdahl's law, ``speed-up(n) = 1 / (s + (1 - s) / n)``, for the
serial fraction ``s``; ``1 / s`` is the predicted plateau.

Example:
    >>> round(fit_amdahl([1, 2, 4], [amdahl_speedup(0.25, n) for n in (1, 2, 4)]), 6)
    0.25
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import IO, Any, BinaryIO, cast

from .aligner import Aligner
from .engine import resolve_workers
from .errors import StreamAlignError
from .io.fastx import records_as_fastx
from .io.formats import FORMATS
from .io.readers import read_batches
from .options import (
    ExitStatus,
    add_scoring_options,
    aligner_from_arguments,
    alignment_mode,
    positive_int,
)
from .pipeline import INVALID_POLICIES, RunOptions, RunStatistics, run

#: Backends ``bench`` can measure (``dask`` needs a cluster; ``serial`` has one worker).
BENCH_BACKENDS = ("threads", "processes")
#: Records aligned once before the timed runs, to load the compiled kernels.
WARMUP_RECORDS = 64


@dataclass
class BenchRow:
    """One measured (backend, workers) point."""

    backend: str
    workers: int
    reads: int
    seconds: float  # best of the repeats
    reads_per_second: float
    speedup: float  # against the same backend's 1-worker figure
    efficiency: float  # speedup / workers
    times: list[float]


def amdahl_speedup(serial_fraction: float, workers: float) -> float:
    """Amdahl's law: the speed-up of ``workers`` workers when ``serial_fraction`` is serial."""
    return 1.0 / (serial_fraction + (1.0 - serial_fraction) / workers)


def fit_amdahl(workers: Sequence[float], speedups: Sequence[float]) -> float | None:
    """Least-squares serial fraction ``s`` in [0, 1] of Amdahl's law for measured speed-ups.

    Minimizes ``sum((speedup_i - amdahl_speedup(s, n_i)) ** 2)`` over ``s`` (a grid, then a
    golden-section search in the best cell). ``None`` when no point has more than one worker
    (the law is then the same for every ``s``).
    """
    points = [(float(n), float(v)) for n, v in zip(workers, speedups, strict=True) if n > 1]
    if not points:
        return None

    def loss(s: float) -> float:
        return sum((v - amdahl_speedup(s, n)) ** 2 for n, v in points)

    steps = 1000
    grid = [k / steps for k in range(steps + 1)]
    best = min(range(len(grid)), key=lambda k: loss(grid[k]))
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, steps)]
    ratio = (math.sqrt(5) - 1) / 2
    a, b = low + (1 - ratio) * (high - low), low + ratio * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    for _ in range(200):
        if high - low < 1e-15:
            break
        if loss_a <= loss_b:
            high, b, loss_b = b, a, loss_a
            a = low + (1 - ratio) * (high - low)
            loss_a = loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + ratio * (high - low)
            loss_b = loss(b)
    candidates = [low, (low + high) / 2, high, grid[best]]
    return min(max(min(candidates, key=loss), 0.0), 1.0)


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register the ``bench`` subcommand on the ``streamalign`` subparsers."""
    bench = commands.add_parser(
        "bench",
        help="measure throughput against workers (scaling) on your data",
        description="Align the reads (loaded into memory once) with 1..N workers for each "
        "backend, print reads/s, speed-up and parallel efficiency, and fit Amdahl's law.",
    )
    bench.add_argument("-r", "--reference", required=True, help="FASTA file of references")
    bench.add_argument("reads", nargs="+", help="FASTA/FASTQ files, '-' for standard input")
    bench.add_argument(
        "--backends",
        nargs="+",
        choices=BENCH_BACKENDS,
        default=list(BENCH_BACKENDS),
        help="backends to measure (threads processes)",
    )
    bench.add_argument(
        "--max-workers",
        type=positive_int,
        metavar="N",
        help="measure 1..N workers (default: every CPU)",
    )
    bench.add_argument(
        "--repeats", type=positive_int, default=2, help="runs per point; best counts (2)"
    )
    bench.add_argument(
        "--copies",
        type=positive_int,
        default=1,
        help="align the loaded reads this many times per run (1), for longer runs",
    )
    bench.add_argument("--format", choices=FORMATS, default="sam", help="output format (sam)")
    bench.add_argument(
        "--strand", choices=["forward", "both"], default="forward", help="as for align"
    )
    bench.add_argument("--batch-size", type=positive_int, help="records per batch")
    bench.add_argument(
        "--start-method",
        choices=["fork", "spawn", "forkserver"],
        help="process start method for the processes backend",
    )
    bench.add_argument(
        "--on-invalid", choices=INVALID_POLICIES, default="reject", help="as for align"
    )
    bench.add_argument("--plot", metavar="PNG", help="draw throughput against workers")
    bench.add_argument("--json", metavar="FILE", help="write the measurements as JSON")
    bench.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_scoring_options(bench)
    return bench


def load_reads(
    reads: list[str], stdin: IO[Any] | None, copies: int = 1
) -> tuple[bytes, int, bytes]:
    """The reads of ``reads`` as one uncompressed FASTA/FASTQ text repeated ``copies`` times,
    their count, and the text of the first few records (for a warm-up run)."""
    import numpy as np

    pieces = []
    count = 0
    head = b""
    binary = cast(BinaryIO, getattr(stdin, "buffer", stdin)) if stdin is not None else None
    for batch in read_batches(reads, max_records=10_000, max_bases=10_000_000, stdin=binary):
        records = np.arange(len(batch), dtype=np.int64)
        pieces.append(records_as_fastx(batch, records))
        if not head:
            head = records_as_fastx(batch, records[:WARMUP_RECORDS])
        count += len(batch)
    return b"".join(pieces) * copies, count * copies, head


def measure(
    aligner: Aligner,
    data: bytes,
    warmup: bytes,
    base: RunOptions,
    backends: Sequence[str],
    max_workers: int,
    repeats: int,
    log: Any = None,
) -> tuple[list[BenchRow], int]:
    """Time ``pipeline.run`` for every backend and 1..``max_workers`` workers.

    Returns the rows and the number of rejected records (of one run).
    """
    # Warm up: load (or compile) the kernels outside the timed runs.
    warm = RunStatistics()
    run(
        aligner,
        ["-"],
        io.BytesIO(),
        _with(base, "serial", 1),
        stdin=io.BytesIO(warmup),
        statistics=warm,
    )
    rows: list[BenchRow] = []
    rejected = 0
    for backend in backends:
        single: float | None = None
        for workers in range(1, max_workers + 1):
            times = []
            records = 0
            for _ in range(repeats):
                statistics = RunStatistics()
                with open(os.devnull, "wb") as sink:
                    started = time.perf_counter()
                    run(
                        aligner,
                        ["-"],
                        sink,
                        _with(base, backend, workers),
                        stdin=io.BytesIO(data),
                        statistics=statistics,
                    )
                    times.append(time.perf_counter() - started)
                records = statistics.records + statistics.rejected
                rejected = statistics.rejected
            seconds = min(times)
            rate = records / seconds if seconds > 0 else 0.0
            single = rate if single is None else single
            speedup = rate / single if single else 0.0
            rows.append(
                BenchRow(
                    backend, workers, records, seconds, rate, speedup, speedup / workers, times
                )
            )
            if log is not None:
                log(f"bench: {backend} x {workers}: {rate:,.0f} reads/s")
    return rows, rejected


def _with(base: RunOptions, backend: str, workers: int) -> RunOptions:
    return RunOptions(**{**asdict(base), "backend": backend, "workers": workers})


def fits(rows: Sequence[BenchRow]) -> dict[str, float | None]:
    """Amdahl's serial fraction per backend."""
    result: dict[str, float | None] = {}
    for backend in dict.fromkeys(row.backend for row in rows):
        mine = [row for row in rows if row.backend == backend]
        result[backend] = fit_amdahl([r.workers for r in mine], [r.speedup for r in mine])
    return result


def format_table(rows: Sequence[BenchRow], serial: dict[str, float | None]) -> str:
    """The table and the Amdahl fits, as printed by ``streamalign bench``."""
    lines = [f"{'backend':<10}{'workers':>8}{'reads/s':>12}{'speed-up':>10}{'efficiency':>12}"]
    for row in rows:
        lines.append(
            f"{row.backend:<10}{row.workers:>8}{row.reads_per_second:>12,.0f}"
            f"{row.speedup:>10.2f}{row.efficiency:>12.0%}"
        )
    for backend, s in serial.items():
        lines.append(f"Amdahl fit, {backend}: {_describe_fit(s)}")
    return "\n".join(lines) + "\n"


def _describe_fit(s: float | None) -> str:
    if s is None:
        return "n/a (needs more than one worker count)"
    plateau = f"{1 / s:.2f}x" if s > 0 else "unbounded"
    return f"serial fraction s = {s:.4f}, predicted plateau 1/s = {plateau}"


def plot(
    rows: Sequence[BenchRow], serial: dict[str, float | None], path: str, title: str = ""
) -> None:
    """Throughput against workers per backend, with the ideal line and the Amdahl fit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, backend in enumerate(serial):
        mine = [row for row in rows if row.backend == backend]
        color = colors[index % len(colors)]
        workers = [row.workers for row in mine]
        single = mine[0].reads_per_second
        axes.plot(
            workers,
            [row.reads_per_second for row in mine],
            "o-",
            color=color,
            label=f"{backend}, measured",
        )
        axes.plot(
            workers,
            [single * n for n in workers],
            "--",
            color=color,
            alpha=0.5,
            label=f"{backend}, ideal (linear)",
        )
        s = serial[backend]
        if s is not None:
            steps = [1 + k * (workers[-1] - 1) / 50 for k in range(51)]
            axes.plot(
                steps,
                [single * amdahl_speedup(s, n) for n in steps],
                ":",
                color=color,
                label=f"{backend}, Amdahl s={s:.3f}",
            )
    axes.set_xlabel("workers")
    axes.set_ylabel("reads/s")
    axes.set_xticks(sorted({row.workers for row in rows}))
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    axes.set_title(title or "streamalign bench: throughput against workers", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def run_bench(
    arguments: argparse.Namespace, stdin: IO[Any], stdout: IO[Any], stderr: IO[str]
) -> int:
    """The ``bench`` subcommand; returns the exit status."""
    if arguments.plot:  # fail before the measurement, not after it
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise StreamAlignError("--plot needs matplotlib: pip install matplotlib") from None
    aligner = aligner_from_arguments(arguments)
    mode = alignment_mode(arguments)
    max_workers = arguments.max_workers or resolve_workers(0)
    base = RunOptions(
        output_format=arguments.format,
        strand=arguments.strand,
        start_method=arguments.start_method,
        batch_records=arguments.batch_size,
        on_invalid=arguments.on_invalid,
        command_line="streamalign bench",
    )

    def log(message: str) -> None:
        if not arguments.quiet:
            print(message, file=stderr, flush=True)

    data, count, warmup = load_reads(list(arguments.reads), stdin, arguments.copies)
    log(
        f"bench: {count:,} reads in memory ({len(data) / 1e6:.1f} MB), mode {mode}, "
        f"{', '.join(arguments.backends)} x 1..{max_workers} workers, best of "
        f"{arguments.repeats}"
    )
    rows, rejected = measure(
        aligner, data, warmup, base, arguments.backends, max_workers, arguments.repeats, log
    )
    serial = fits(rows)
    _write(stdout, format_table(rows, serial))
    if arguments.json:
        document = {
            "reads": count,
            "reference": arguments.reference,
            "inputs": list(arguments.reads),
            "mode": mode,
            "repeats": arguments.repeats,
            "cpus": os.cpu_count(),
            "rows": [asdict(row) for row in rows],
            "amdahl_serial_fraction": serial,
            "amdahl_plateau": {b: (1 / s if s else None) for b, s in serial.items()},
        }
        with open(arguments.json, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(document, indent=2) + "\n")
    if arguments.plot:
        plot(
            rows,
            serial,
            arguments.plot,
            f"streamalign bench: {count:,} reads, {mode}, {os.cpu_count()} CPUs",
        )
    return ExitStatus.REJECTED if rejected else ExitStatus.SUCCESS


def _write(stream: IO[Any], text: str) -> None:
    if isinstance(stream, io.TextIOBase) or hasattr(stream, "encoding"):
        stream.write(text)
    else:
        stream.write(text.encode())
    stream.flush()
