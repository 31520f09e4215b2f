"""End-to-end benchmark: FASTQ.gz in, SAM out, streamalign beside vsearch and parasail_aligner.

Every tool runs as a command on the same files in the same run, with 1 and 2 threads:

- ``streamalign align`` (semi-global: the read fully aligned, the 16S gene's ends free);
- ``vsearch --usearch_global`` (Debian's vsearch 2.22 reads only FASTA there, so it gets the
  same reads as plain FASTA; ``--id 0 --maxaccepts 1 --maxrejects 0`` so every read is aligned
  to the reference, as streamalign does);
- ``parasail_aligner -a sg_qx_trace_striped_16`` (Debian's parasail; the gene is its query with
  free ends, the reads its database; SAM output).

It also reports streamalign's kernel-only throughput on the same reads (``Aligner.align_many``
in this process, with as many threads as workers), so the end-to-end fraction can be read
off; streamalign runs a second, larger input too, and the steady-state rate (extra reads over
extra seconds: what a run of millions of reads sees, start-up excluded) is reported beside
the rate of each whole command. With ``--rss`` it also measures the peak memory of
``streamalign align`` on synthetic stdin streams of growing size (flat memory is the claim).
Run from the repository root::

    python benchmarks/cli.py                       # ../shared/data MiSeq reads x 8 (and x 40)
    python benchmarks/cli.py --rss 100000 2000000  # plus peak RSS on stdin streams
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import dnaio
import numpy as np

REPOSITORY = Path(__file__).resolve().parent.parent
SHARED = REPOSITORY.parent / "shared" / "data"
FRAGMENT = "GAGTTTGATCCTGGCTCAGATTGAACGCTGGCGGCATGCTTAACACATGCAAGTCGAACGGCAG"


def streamalign_command(*arguments: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from streamalign.cli import console_main; console_main()",
        *arguments,
    ]


def timed(command: list[str], stdin_path: Path | None = None) -> float:
    """Wall seconds of one run of ``command`` (output discarded; failure raises)."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL  # noqa: SIM115
    started = time.perf_counter()
    try:
        subprocess.run(
            command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True
        )
    finally:
        if stdin_path:
            stdin.close()  # type: ignore[union-attr]
    return time.perf_counter() - started


def prepare(reads: Path, copies: int, folder: Path) -> tuple[Path, Path, int]:
    """The reads repeated ``copies`` times, as FASTQ.gz and as FASTA; and their count."""
    with dnaio.open(reads) as records:
        items = [(record.name, record.sequence, record.qualities) for record in records]
    fastq = folder / "reads.fastq.gz"
    fasta = folder / "reads.fa"
    with gzip.open(fastq, "wt", compresslevel=1) as out_fastq, open(fasta, "w") as out_fasta:
        for copy in range(copies):
            for name, sequence, qualities in items:
                out_fastq.write(f"@{name}_{copy}\n{sequence}\n+\n{qualities}\n")
                out_fasta.write(f">{name}_{copy}\n{sequence}\n")
    return fastq, fasta, len(items) * copies


def kernel_rate(reads: Path, reference: Path, threads: int = 1) -> float:
    """Alignments per second of the kernel alone (traceback and CIGARs, no I/O), with
    ``threads`` threads each aligning every read (wall clock, best of 3)."""
    from concurrent.futures import ThreadPoolExecutor

    from streamalign import Aligner
    from streamalign.io.readers import read_references

    with dnaio.open(reads) as records:
        sequences = [record.sequence for record in records]
    aligner = Aligner(read_references(reference), "semiglobal")
    aligner.align_many(sequences[:8])  # load the compiled kernels

    def align_all(_: int) -> None:
        aligner.align_many(sequences).cigars()

    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(3):
            started = time.perf_counter()
            list(pool.map(align_all, range(threads)))
            best = min(best, time.perf_counter() - started)
    return threads * len(sequences) / best


def peak_rss_on_stream(records: int) -> tuple[float, float]:
    """Peak RSS (MiB) and wall seconds of ``streamalign align`` reading ``records`` synthetic
    64-bp reads from a pipe (global, against the 64-bp fragment, output discarded)."""
    with tempfile.TemporaryDirectory() as folder:
        reference = Path(folder) / "fragment.fa"
        reference.write_text(f">fragment\n{FRAGMENT}\n")
        command = streamalign_command(
            "align",
            "-r",
            str(reference),
            "--mode",
            "global",
            "--quiet",
            "-o",
            os.devnull,
            "--format",
            "sam",
            "-",
        )
        generator = np.random.default_rng(1)
        letters = np.frombuffer(b"ACGT", dtype=np.uint8)
        started = time.perf_counter()
        process = subprocess.Popen(command, stdin=subprocess.PIPE)
        assert process.stdin is not None
        peak = [0]

        def watch() -> None:  # VmHWM of the child, read until it exits
            status = Path(f"/proc/{process.pid}/status")
            while process.poll() is None:
                try:
                    for line in status.read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
                except (OSError, ValueError):
                    pass
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        chunk = 10_000
        for first in range(0, records, chunk):
            count = min(chunk, records - first)
            codes = letters[generator.integers(0, 4, size=(count, 64))]
            process.stdin.write(
                b"".join(
                    b">r%d\n%s\n" % (first + number, row.tobytes())
                    for number, row in enumerate(codes)
                )
            )
        process.stdin.close()
        process.wait()
        watcher.join()
        elapsed = time.perf_counter() - started
    return peak[0] / 1024, elapsed


def streamalign_run(reference: Path, fastq: Path, output: Path, workers: int) -> list[str]:
    return streamalign_command(
        "align", "-r", str(reference), str(fastq), "-o", str(output), "--quiet", "-j", str(workers)
    )


def vsearch_run(reference: Path, fasta: Path, output: Path, workers: int) -> list[str]:
    return [
        "vsearch",
        "--usearch_global",
        str(fasta),
        "--db",
        str(reference),
        "--id",
        "0",
        "--maxaccepts",
        "1",
        "--maxrejects",
        "0",
        "--threads",
        str(workers),
        "--samout",
        str(output),
        "--quiet",
    ]


def parasail_run(fasta: Path, output: Path, workers: int) -> list[str]:
    return [
        "parasail_aligner",
        "-a",
        "sg_qx_trace_striped_16",
        "-x",
        "-d",
        "-M",
        "1",
        "-X",
        "2",
        "-o",
        "5",
        "-e",
        "2",
        "-t",
        str(workers),
        "-f",
        str(fasta),
        "-g",
        str(output),
        "-O",
        "SAM",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=Path, default=SHARED / "sam1F.fastq.gz")
    parser.add_argument("--reference", type=Path, default=SHARED / "ecoli_16S.fa")
    parser.add_argument("--copies", type=int, default=8, help="repeat the reads for every tool (8)")
    parser.add_argument(
        "--large-copies",
        type=int,
        default=40,
        help="streamalign also runs on this many copies, where its start-up (about 1 s) is "
        "amortized as on a real run; 0 skips (40)",
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--rss",
        type=int,
        nargs="*",
        default=[],
        help="also measure peak RSS on stdin streams of these sizes",
    )
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    arguments = parser.parse_args(argv)
    reference = arguments.reference

    rows = []
    large = []
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        fastq, fasta, count = prepare(arguments.reads, arguments.copies, folder)
        output = folder / "out.sam"
        timed(streamalign_run(reference, fastq, output, 1))  # warm the cache
        for workers in arguments.workers:
            seconds = timed(streamalign_run(reference, fastq, output, workers))
            rows.append(("streamalign", workers, seconds))
            if shutil.which("vsearch"):
                seconds = timed(vsearch_run(reference, fasta, output, workers))
                rows.append(("vsearch --usearch_global", workers, seconds))
            if shutil.which("parasail_aligner"):
                seconds = timed(parasail_run(fasta, output, workers), stdin_path=reference)
                rows.append(("parasail_aligner sg_qx_trace", workers, seconds))
        if arguments.large_copies:
            large_folder = folder / "large"
            large_folder.mkdir()
            large_fastq, _, large_count = prepare(
                arguments.reads, arguments.large_copies, large_folder
            )
            for workers in arguments.workers:
                seconds = timed(streamalign_run(reference, large_fastq, output, workers))
                large.append((workers, seconds))
    kernel = {
        workers: kernel_rate(arguments.reads, reference, workers) for workers in arguments.workers
    }
    streamalign_rates = {w: count / s for tool, w, s in rows if tool == "streamalign"}
    print(
        f"{count:,} reads of {arguments.reads.name} against {reference.name}, "
        f"FASTQ.gz in, SAM out ({os.cpu_count()} CPUs)"
    )
    print(f"{'tool':<30}{'threads':>8}{'seconds':>10}{'reads/s':>12}{'streamalign x':>15}")
    for tool, workers, seconds in rows:
        ratio = streamalign_rates[workers] / (count / seconds)
        print(f"{tool:<30}{workers:>8}{seconds:>10.2f}{count / seconds:>12,.0f}{ratio:>15.2f}")
    peers = {(tool, w): count / s for tool, w, s in rows if tool != "streamalign"}
    large_rates = {}
    if large:
        print(f"streamalign on {large_count:,} reads (start-up amortized):")
        for workers, seconds in large:
            rate = large_count / seconds
            large_rates[workers] = rate
            ratios = ", ".join(
                f"{rate / peer:.1f}x {tool.split()[0]}"
                for (tool, peer_workers), peer in peers.items()
                if peer_workers == workers
            )
            print(f"  {workers} worker(s): {seconds:.2f} s, {rate:,.0f} reads/s ({ratios})")
    # Steady state: the extra reads of the large run over its extra seconds (what a run of
    # millions of reads sees: start-up and the last batch's tail cancel out).
    small_seconds = {w: s for tool, w, s in rows if tool == "streamalign"}
    steady = {
        workers: (large_count - count) / (seconds - small_seconds[workers])
        for workers, seconds in large
        if workers in small_seconds and seconds > small_seconds[workers]
    }
    for workers, rate in kernel.items():
        print(
            f"kernel alone (Aligner.align_many + cigars, {workers} thread(s)): {rate:,.0f} "
            f"reads/s; end to end with {workers} worker(s) is "
            f"{streamalign_rates.get(workers, 0) / rate:.0%} of it on {count:,} reads"
            + (
                f", {large_rates[workers] / rate:.0%} on {large_count:,}"
                if workers in large_rates
                else ""
            )
            + (
                f", {steady[workers] / rate:.0%} in the steady state "
                f"({steady[workers]:,.0f} reads/s)"
                if workers in steady
                else ""
            )
        )
    for workers, rate in steady.items():
        ratios = ", ".join(
            f"{rate / peer:.1f}x {tool.split()[0]}"
            for (tool, peer_workers), peer in peers.items()
            if peer_workers == workers
        )
        print(f"steady state with {workers} worker(s): {rate:,.0f} reads/s ({ratios})")
    if 1 in streamalign_rates and 2 in streamalign_rates:
        efficiency = streamalign_rates[2] / (2 * streamalign_rates[1])
        print(f"parallel efficiency with 2 workers (threads): {efficiency:.0%}")
    memory = []
    for records in arguments.rss:
        peak, seconds = peak_rss_on_stream(records)
        memory.append(
            {"records": records, "peak_rss_mib": round(peak, 1), "seconds": round(seconds, 2)}
        )
        print(
            f"stdin stream of {records:,} 64-bp reads: peak RSS {peak:,.0f} MiB "
            f"{records / seconds:,.0f} reads/s"
        )
    if arguments.json:
        arguments.json.write_text(
            json.dumps(
                {
                    "reads": count,
                    "rows": [{"tool": t, "threads": w, "seconds": s} for t, w, s in rows],
                    "large": [{"reads": large_count, "threads": w, "seconds": s} for w, s in large],
                    "steady_reads_per_second": {str(w): r for w, r in steady.items()},
                    "kernel_reads_per_second": kernel[min(kernel)],
                    "kernel_reads_per_second_by_threads": {str(w): r for w, r in kernel.items()},
                    "memory": memory,
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
