"""Overhead of the dask backend: a local Dask cluster against worker threads, at equal cores.

Both runs go through :func:`streamalign.pipeline.run` (what ``streamalign align`` does), on the
same reads held in memory, with the same batches: ``--backend threads -j N`` against the
``LocalCluster(n_workers=N, threads_per_worker=1, processes=True)`` that ``--dask-workers N``
starts, reached through a ``distributed.Client`` (``--backend dask``). Each is warmed up once
(numba's compiled kernels are loaded in every worker process), then both are timed
``--repeats`` times, alternately (a change in the machine's load hits both alike); the best time
of each counts. The cluster's start is timed apart, as is one cold ``--dask-workers N`` run that
starts and closes its own cluster (and whose workers load, or compile, the kernels).

The outputs of both backends must be byte-identical; the exit status is 1 when they are not,
or when the cluster's best throughput is more than ``--target`` (25%) below the threads'.

Default workload: the 1,500 MiSeq V4 reads of ``../shared/data/sam1F.fastq.gz`` (250 bp),
``--copies`` times over, against the *E. coli* 16S gene ``../shared/data/ecoli_16S.fa``
(1,465 bp), semi-global (DADA2 example data, LGPL-2; see ``../shared/data/README.md``).

Usage::

    python benchmarks/dask.py
    python benchmarks/dask.py --workers 2 --copies 4 --repeats 3 --format sam
    python benchmarks/dask.py --reads R.fastq.gz --reference REF.fa --json out.json

Figures depend on the machine and on what else runs on it: the report prints the CPU count
and the load average before and after; on a shared machine treat them as indicative.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

# This file is called dask.py: run as a script, its folder comes first on sys.path, where it
# would shadow the real ``dask`` package for distributed (and for the spawned workers).
sys.path[:] = [
    entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent
]

REPOSITORY = Path(__file__).resolve().parent.parent
DATA = REPOSITORY.parent / "shared" / "data"
DEFAULT_READS = DATA / "sam1F.fastq.gz"
DEFAULT_REFERENCE = DATA / "ecoli_16S.fa"


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reads", type=Path, default=DEFAULT_READS, help="FASTA/FASTQ(.gz)")
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="FASTA")
    parser.add_argument("--mode", default="semiglobal", help="alignment mode (semiglobal)")
    parser.add_argument("--workers", type=int, default=2, help="threads = worker processes (2)")
    parser.add_argument("--copies", type=int, default=4, help="the reads this many times (4)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per backend (3)")
    parser.add_argument("--batch-size", type=int, help="records per batch (default: sized)")
    parser.add_argument(
        "--target-cells",
        type=int,
        help="DP cells per batch (default: streamalign._config.TARGET_CELLS_PER_BATCH)",
    )
    parser.add_argument("--format", default="sam", choices=["sam", "tsv", "jsonl"])
    parser.add_argument(
        "--target", type=float, default=0.25, help="largest throughput loss accepted (0.25)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


def load_reads(path: Path, copies: int) -> tuple[bytes, int]:
    """The reads file's bytes (decompressed), ``copies`` times, and the number of records."""
    import dnaio

    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if data and not data.endswith(b"\n"):
        data += b"\n"
    with dnaio.open(io.BytesIO(data)) as records:
        count = sum(1 for _ in records)
    return data * copies, count * copies


BATCHES: list[int] = []  # batches of the last run
CPU: list[float] = []  # CPU seconds of the last run: this process and the workers' processes


def cpu_seconds(client: Any) -> float:
    """CPU time used so far by this process and, with a client, by its workers' processes."""
    workers = sum(client.run(time.process_time).values()) if client is not None else 0.0
    return time.process_time() + workers


def timed_run(aligner: Any, reads: bytes, options: Any, client: Any = None) -> tuple[float, bytes]:
    from streamalign.pipeline import run

    output = io.BytesIO()
    cpu_before = cpu_seconds(client)
    started = time.perf_counter()
    run_statistics = run(aligner, ["-"], output, options, stdin=io.BytesIO(reads), client=client)
    seconds = time.perf_counter() - started
    CPU[:] = [cpu_seconds(client) - cpu_before]
    BATCHES[:] = [run_statistics.batches]
    return seconds, output.getvalue()


def load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    import distributed

    from streamalign import Aligner, _config
    from streamalign.engine.dask_backend import start_local_cluster
    from streamalign.io.readers import read_references
    from streamalign.pipeline import RunOptions

    if arguments.target_cells is not None:  # batches are cut in this process
        _config.TARGET_CELLS_PER_BATCH = arguments.target_cells
    reads, records = load_reads(arguments.reads, arguments.copies)
    aligner = Aligner(read_references(str(arguments.reference)), arguments.mode)
    workers = arguments.workers

    def options(backend: str) -> RunOptions:
        return RunOptions(
            output_format=arguments.format,
            backend=backend,
            workers=workers,
            batch_records=arguments.batch_size,
        )

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    load_before = load_average()
    results: dict[str, Any] = {
        "reads": str(arguments.reads),
        "reference": str(arguments.reference),
        "records": records,
        "mode": arguments.mode,
        "workers": workers,
        "format": arguments.format,
        "batch_size": arguments.batch_size,
        "target_cells_per_batch": _config.TARGET_CELLS_PER_BATCH,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "distributed": metadata.version("distributed"),
        "load_average_before": load_before,
    }

    log(f"threads backend, {workers} threads: warm-up")
    timed_run(aligner, reads, options("threads"))
    log(f"dask backend, LocalCluster of {workers} single-threaded worker processes")
    started = time.perf_counter()
    cluster = start_local_cluster(workers, host="127.0.0.1")  # what --dask-workers starts
    client = distributed.Client(cluster, set_as_default=False)
    cluster_start = time.perf_counter() - started
    thread_times: list[float] = []
    dask_times: list[float] = []
    thread_cpu: list[float] = []
    dask_cpu: list[float] = []
    try:
        warm_up, _ = timed_run(aligner, reads, options("dask"), client)
        log(f"  warm-up (every worker loads the kernels): {warm_up:.3f} s")
        # Interleaved, so that a change in the machine's load hits both alike.
        for repeat in range(arguments.repeats):
            seconds, thread_output = timed_run(aligner, reads, options("threads"))
            thread_times.append(seconds)
            thread_cpu.append(CPU[0])
            log(f"  run {repeat + 1}: threads {seconds:.3f} s, {CPU[0]:.3f} CPU s")
            seconds, dask_output = timed_run(aligner, reads, options("dask"), client)
            dask_times.append(seconds)
            dask_cpu.append(CPU[0])
            log(f"  run {repeat + 1}: dask    {seconds:.3f} s, {CPU[0]:.3f} CPU s")
    finally:
        client.close()
        cluster.close()
    log(f"dask backend, cold: --dask-workers {workers} (starts and closes its own cluster)")
    cold, cold_output = timed_run(aligner, reads, options("dask"))

    identical = thread_output == dask_output == cold_output
    best_threads, best_dask = min(thread_times), min(dask_times)
    threads_rate, dask_rate = records / best_threads, records / best_dask
    loss = 1 - dask_rate / threads_rate
    results.update(
        threads_seconds=thread_times,
        dask_seconds=dask_times,
        threads_cpu_seconds=thread_cpu,
        dask_cpu_seconds=dask_cpu,
        threads_reads_per_second=threads_rate,
        dask_reads_per_second=dask_rate,
        cluster_start_seconds=cluster_start,
        dask_warm_up_seconds=warm_up,
        dask_cold_seconds=cold,
        dask_cold_reads_per_second=records / cold,
        throughput_loss=loss,
        target=arguments.target,
        outputs_identical=identical,
        batches=BATCHES[0],
        load_average_after=load_average(),
    )

    print(
        f"{records:,} reads ({arguments.reads.name} x {arguments.copies}) against "
        f"{arguments.reference.name}, {arguments.mode}, {arguments.format} output, "
        f"{BATCHES[0]} batches of ~{_config.TARGET_CELLS_PER_BATCH / 1e6:g}M cells, "
        f"{workers} workers; {os.cpu_count()} CPUs, load average {load_before} before, "
        f"{results['load_average_after']} after (a shared machine: indicative figures)"
    )
    print(f"{'backend':<44}{'best s':>9}{'median s':>10}{'reads/s':>10}{'CPU s':>8}")
    print(
        f"{f'threads ({workers} threads)':<44}{best_threads:>9.3f}"
        f"{statistics.median(thread_times):>10.3f}{threads_rate:>10,.0f}"
        f"{min(thread_cpu):>8.2f}"
    )
    print(
        f"{f'dask (LocalCluster, {workers} processes, warm)':<44}{best_dask:>9.3f}"
        f"{statistics.median(dask_times):>10.3f}{dask_rate:>10,.0f}{min(dask_cpu):>8.2f}"
    )
    print(
        f"{f'dask cold (--dask-workers {workers}, 1 run)':<44}{cold:>9.3f}{'':>10}"
        f"{records / cold:>10,.0f}"
    )
    print(
        "reads/s from the best time; CPU s: the least of the runs, all processes (for dask: "
        f"client and scheduler, workers); dask/threads CPU: {min(dask_cpu) / min(thread_cpu):.2f}"
    )
    print(f"cluster start (processes up, client connected): {cluster_start:.2f} s")
    print(
        f"overhead: the cluster's throughput is {dask_rate / threads_rate:.1%} of the threads' "
        f"(time ratio {best_dask / best_threads:.3f}; target: at most {arguments.target:.0%} "
        f"lower) -> {'OK' if loss <= arguments.target else 'MISSED'}"
    )
    print(f"outputs identical: {'yes' if identical else 'NO'}")
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if identical and loss <= arguments.target else 1


if __name__ == "__main__":
    sys.exit(main())
