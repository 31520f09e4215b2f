"""GPU benchmark: the CUDA kernel against one CPU core and every core, and end to end.

On a machine with an NVIDIA GPU and ``pip install -e '.[gpu]'``, from the repository root::

    python benchmarks/gpu.py                      # everything, table on stdout (minutes)
    python benchmarks/gpu.py --json gpu.json      # the same, plus every timing as JSON
    python benchmarks/gpu.py --compile-check      # no GPU needed: registers and spills

Kernels: the ``64bp``, ``miseq`` and ``pacbio`` workloads of ``benchmarks/kernels.py`` (the same
builders, data and scoring), each repeated ``--copies`` times so that a GPU has enough pairs
to fill it, full (alignment and CIGARs) and score-only. Three contenders on the same queries:

- ``cpu, 1 core``: ``Aligner(...).align_many(queries)`` in one thread;
- ``cpu, N cores``: the queries in N chunks, one thread each (the kernels release the GIL);
- ``gpu``: ``Aligner(..., device="cuda").align_many`` on ``--gpu-threads`` chunks from as many
  host threads (so one chunk's transfers overlap another's kernel). Everything a caller pays
  is timed: encoding, transfers both ways, the kernel, the results, the CIGAR strings.

Every GPU result is checked against the one-core CPU result (scores, spans, CIGARs); the exit
status is 1 on any difference. GCUPS = query bases x reference bases / seconds / 1e9; the best
of ``--repeats`` runs counts; the first GPU call (the CUDA compile, or loading it from the
cache) is reported apart.

End to end: the MiSeq reads repeated ``--e2e-copies`` times as FASTQ.gz, ``streamalign align``
(semi-global, SAM) with ``--device cuda`` and with ``--device cpu`` (all cores), whole
commands, start-up included; the two SAM files must hold the same records. Beside them, each
stage alone, to tell which one limits the GPU run: reading and parsing the FASTQ.gz (records/s),
the GPU kernel (from the kernel table), and SAM formatting on one core (records/s, times the
cores as an upper bound).

``--quick`` cuts everything to a few pairs of at most 40 bases: a smoke run of the script that
also works on numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), where figures mean nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import importlib.util
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent
#: Copies of each workload's queries (20,000 x 64 bp, 1,500 MiSeq reads, 500 PacBio genes).
COPIES = {"64bp": 50, "miseq": 40, "pacbio": 8}


def load_kernels_module() -> ModuleType:
    """``benchmarks/kernels.py``, for its workload builders."""
    spec = importlib.util.spec_from_file_location("benchmarks_kernels", HERE / "kernels.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def workloads(arguments: argparse.Namespace) -> list[Any]:
    """The kernel workloads, their queries repeated (and cut short with ``--max-length``)."""
    kernels = load_kernels_module()
    built = []
    for name in arguments.workload:
        if name == "64bp":
            workload = kernels.random_workload(count=arguments.count, seed=arguments.seed)
        elif name == "miseq":
            workload = kernels.miseq_workload(arguments.reads, arguments.reference, arguments.limit)
        else:
            workload = kernels.pacbio_workload(
                arguments.genes, arguments.reference, count=arguments.limit or 500
            )
        copies = arguments.copies if arguments.copies is not None else COPIES[name]
        queries = workload.queries * copies
        reference = workload.reference
        if arguments.max_length:
            queries = [query[: arguments.max_length] for query in queries]
            reference = reference[: arguments.max_length]
        built.append(
            dataclasses.replace(
                workload,
                queries=queries,
                reference=reference,
                description=f"{workload.description}; queries x {copies}"
                + (f"; cut to {arguments.max_length} bases" if arguments.max_length else ""),
            )
        )
    return built


def best_time(function: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best wall seconds of ``repeats`` calls, and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def chunked(queries: Sequence[str], chunks: int) -> list[Sequence[str]]:
    size = -(-len(queries) // max(chunks, 1))
    return [queries[start : start + size] for start in range(0, len(queries), size)]


def align_pieces(
    aligner: Any, pieces: list[Sequence[str]], threads: int, traceback: bool
) -> list[Any]:
    """Each piece aligned by one ``align_many`` (and its CIGARs), on ``threads`` threads."""

    def one(piece: Sequence[str]) -> Any:
        batch = aligner.align_many(piece, traceback=traceback)
        if traceback:
            batch.cigars()
        return batch

    if threads == 1:
        return [one(piece) for piece in pieces]
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, pieces))


def summary(batches: list[Any], traceback: bool) -> dict[str, list[Any]]:
    """The fields two runs must agree on, over their batches in order."""
    fields: dict[str, list[Any]] = {"scores": [], "ends": [], "starts": [], "cigars": []}
    for batch in batches:
        fields["scores"].extend(batch.integer_scores.tolist())
        fields["ends"].extend(
            zip(batch.query_ends.tolist(), batch.reference_ends.tolist(), strict=True)
        )
        if traceback:
            fields["starts"].extend(
                zip(batch.query_starts.tolist(), batch.reference_starts.tolist(), strict=True)
            )
            fields["cigars"].extend(batch.cigars())
    return fields


def kernel_rows(workload: Any, arguments: argparse.Namespace, cores: int) -> list[dict[str, Any]]:
    """The three contenders on one workload, full and score-only."""
    from streamalign import Aligner

    options = {"match": 1, "mismatch": -2, "gap_open": 5, "gap_extend": 2}
    cpu = Aligner(workload.reference, workload.mode, **options)
    gpu = Aligner(workload.reference, workload.mode, device="cuda", **options)
    queries = workload.queries
    cells = workload.cells()
    rows = []
    for traceback in (True, False):
        cpu.align_many(queries[:8], traceback=traceback)  # load the compiled CPU kernels
        started = time.perf_counter()
        gpu.align_many(queries[:8], traceback=traceback)
        first_call = time.perf_counter() - started
        contenders = [
            ("cpu, 1 core", cpu, [queries], 1),
            (f"cpu, {cores} cores", cpu, chunked(queries, cores), cores),
            (
                f"gpu, {arguments.gpu_threads} host threads",
                gpu,
                chunked(queries, arguments.gpu_threads),
                arguments.gpu_threads,
            ),
        ]
        reference_fields = None
        for label, aligner, pieces, threads in contenders:
            seconds, batches = best_time(
                lambda aligner=aligner, pieces=pieces, threads=threads, traceback=traceback: (
                    align_pieces(aligner, pieces, threads, traceback)
                ),
                arguments.repeats,
            )
            fields = summary(batches, traceback)
            if reference_fields is None:
                reference_fields = fields
            differences = sum(
                sum(a != b for a, b in zip(fields[name], reference_fields[name], strict=True))
                for name in fields
            )
            rows.append(
                {
                    "workload": workload.name,
                    "variant": "full" if traceback else "score",
                    "contender": label,
                    "pairs": len(queries),
                    "seconds": seconds,
                    "alignments_per_second": len(queries) / seconds,
                    "gcups": cells / seconds / 1e9,
                    "differences_from_cpu": differences,
                    "first_call_seconds": first_call if aligner is gpu else None,
                }
            )
    one_core = {row["variant"]: row["alignments_per_second"] for row in rows[::3]}
    for row in rows:
        row["speedup_vs_one_core"] = row["alignments_per_second"] / one_core[row["variant"]]
    return rows


def prepare_fastq(
    reads: Path, copies: int, folder: Path, max_length: int | None, limit: int | None
) -> tuple[Path, int]:
    """The first ``limit`` reads (all: None) repeated ``copies`` times as FASTQ.gz (cut to
    ``max_length`` bases); and their count."""
    import dnaio

    with dnaio.open(os.fspath(reads)) as records:
        items = [(record.name, record.sequence, record.qualities) for record in records]
    items = items[:limit]
    if max_length:
        items = [
            (name, sequence[:max_length], quality[:max_length]) for name, sequence, quality in items
        ]
    path = folder / "reads.fastq.gz"
    with gzip.open(path, "wt", compresslevel=1) as out:
        for copy in range(copies):
            for name, sequence, qualities in items:
                out.write(f"@{name}_{copy}\n{sequence}\n+\n{qualities}\n")
    return path, len(items) * copies


def end_to_end(
    arguments: argparse.Namespace, cores: int, gpu_kernel_rate: float | None
) -> dict[str, Any]:
    """Whole ``streamalign align`` commands on FASTQ.gz, GPU and CPU, and each stage alone."""
    from streamalign import Aligner
    from streamalign.io.formats import make_writer
    from streamalign.io.readers import read_batches, read_references
    from streamalign.significance import ChanceFilter

    folder = Path(tempfile.mkdtemp(prefix="streamalign-gpu-"))
    try:
        reference = folder / "reference.fa"
        references = read_references(os.fspath(arguments.reference))[:1]
        if arguments.max_length:
            references = [(name, sequence[: arguments.max_length]) for name, sequence in references]
        reference.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in references))
        fastq, count = prepare_fastq(
            arguments.reads, arguments.e2e_copies, folder, arguments.max_length, arguments.limit
        )
        commands = {}
        outputs = {}
        for device in ("cuda", "cpu"):
            output = folder / f"{device}.sam"
            command = [
                sys.executable, "-c", "from streamalign.cli import console_main; console_main()",
                "align", "-r", os.fspath(reference), os.fspath(fastq), "-o", os.fspath(output),
                "--mode", "semiglobal", "--device", device, "--quiet",
            ]  # fmt: skip
            started = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            commands[device] = time.perf_counter() - started
            with open(output, "rb") as handle:
                outputs[device] = [line for line in handle if not line.startswith(b"@PG")]
        # Stages alone: reading, formatting (the GPU kernel comes from the kernel table).
        started = time.perf_counter()
        read = sum(
            len(batch)
            for batch in read_batches([os.fspath(fastq)], max_records=16384, max_bases=2**40)
        )
        reading_rate = read / (time.perf_counter() - started)
        import dnaio

        with dnaio.open(os.fspath(arguments.reads)) as records:
            sample = [record.sequence[: arguments.max_length or None] for record in records]
        sample = sample[: arguments.limit]
        aligner = Aligner(references, "semiglobal")
        alignments = aligner.align_many(sample)
        mapped = ChanceFilter(aligner.references, aligner.scoring).mapped(alignments)
        writer = make_writer(
            "sam", io.BytesIO(), reference_names=aligner.reference_names,
            reference_lengths=[len(sequence) for sequence in aligner.references],
            command_line="streamalign", extended_cigar=True,
        )  # fmt: skip
        writer.format_batch(alignments, mapped, None)
        format_seconds, _ = best_time(lambda: writer.format_batch(alignments, mapped, None), 3)
        formatting_rate = len(sample) / format_seconds
        stages = {
            "reading FASTQ.gz (1 thread)": reading_rate,
            f"SAM formatting ({cores} cores, 1-core rate x {cores})": formatting_rate * cores,
        }
        if gpu_kernel_rate is not None:
            stages["GPU kernel (miseq full)"] = gpu_kernel_rate
        return {
            "reads": count,
            "seconds": commands,
            "reads_per_second": {device: count / seconds for device, seconds in commands.items()},
            "identical_records": outputs["cuda"] == outputs["cpu"],
            "stage_rates": stages,
            "limiting_stage": min(stages, key=lambda name: stages[name]),
        }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def compile_check() -> int:
    """Compile the kernel to PTX for sm_90 and, where ptxas is found, print its registers and
    spills. Needs numba-cuda with NVVM (``numba-cuda[cu12]``), not a GPU."""
    import types as python_types

    import numba.cuda.dispatcher as dispatcher
    from numba import cuda

    # Without a GPU there is no current device to ask for its compute capability.
    dispatcher.get_current_device = lambda: python_types.SimpleNamespace(  # type: ignore[attr-defined]
        compute_capability=(9, 0)
    )
    from streamalign.kernels.cuda import gotoh

    signature = (
        "void(int64[:], uint8[:], uint8[:], int32[:], uint8[:], int32[:], int64, boolean, "
        "uint64[:], int32[:], int32[:], int64[:], uint8[:])"
    )
    ptx, _ = cuda.compile_ptx(gotoh.align_pairs.py_func, signature, cc=(9, 0))
    local = sum(".local" in line for line in ptx.splitlines())
    print(f"PTX for sm_90: {len(ptx.splitlines())} lines, {local} local-memory declarations")
    ptxas = shutil.which("ptxas")
    if ptxas is None:
        spec = importlib.util.find_spec("nvidia.cuda_nvcc")
        if spec is not None and spec.submodule_search_locations:
            candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "ptxas"
            ptxas = os.fspath(candidate) if candidate.exists() else None
    if ptxas is None:
        print("ptxas not found: no register count")
        return 0
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "kernel.ptx"
        path.write_text(ptx)
        report = subprocess.run(
            [ptxas, "-arch=sm_90", "-v", os.fspath(path), "-o", os.fspath(path.with_suffix(".o"))],
            capture_output=True,
            text=True,
            check=True,
        )
    for line in report.stderr.splitlines():
        if "registers" in line or "spill" in line:
            print(line.strip())
    return 0


def format_report(report: dict[str, Any]) -> str:
    lines = [f"# GPU benchmark ({report['machine']['gpu']}; {report['machine']['cpu']})", ""]
    for description in report["workloads"]:
        lines.append(f"- {description}")
    lines += [
        "",
        "| workload | variant | contender | alignments/s | GCUPS | x 1 core | differences |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for row in report["kernels"]:
        lines.append(
            f"| {row['workload']} | {row['variant']} | {row['contender']} | "
            f"{row['alignments_per_second']:,.0f} | {row['gcups']:.2f} | "
            f"{row['speedup_vs_one_core']:.1f} | {row['differences_from_cpu']} |"
        )
    first_calls = {
        f"{row['workload']} {row['variant']}": row["first_call_seconds"]
        for row in report["kernels"]
        if row["first_call_seconds"] is not None
    }
    lines += ["", "First GPU call (compile or cache load, s): " + ", ".join(
        f"{name} {seconds:.2f}" for name, seconds in first_calls.items()
    )]  # fmt: skip
    e2e = report.get("end_to_end")
    if e2e:
        lines += [
            "",
            f"End to end, {e2e['reads']:,} MiSeq reads, FASTQ.gz -> SAM (whole command):",
            "",
            "| device | seconds | reads/s |",
            "|---|---:|---:|",
        ]
        for device, seconds in e2e["seconds"].items():
            lines.append(f"| {device} | {seconds:.2f} | {e2e['reads_per_second'][device]:,.0f} |")
        lines += ["", "Stages alone (records/s):", ""]
        for stage, rate in e2e["stage_rates"].items():
            lines.append(f"- {stage}: {rate:,.0f}")
        lines += [
            "",
            f"Limiting stage: {e2e['limiting_stage']}; SAM records identical on both devices: "
            f"{e2e['identical_records']}",
        ]
    return "\n".join(lines) + "\n"


def machine() -> dict[str, Any]:
    from numba import cuda

    gpu = "numba CUDA simulator"
    if not os.environ.get("NUMBA_ENABLE_CUDASIM"):
        device = cuda.get_current_device()
        name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
        gpu = f"{name}, compute capability {'.'.join(map(str, device.compute_capability))}"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"gpu": gpu, "cpu": f"{cpu}, {os.cpu_count()} CPUs", "python": platform.python_version()}


def build_parser() -> argparse.ArgumentParser:
    kernels_defaults = load_kernels_module()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", action="append", choices=list(COPIES))
    parser.add_argument("--copies", type=int, help="copies of each workload's queries")
    parser.add_argument("--count", type=int, default=20_000, help="random 64-bp queries")
    parser.add_argument("--limit", type=int, help="first N MiSeq reads / PacBio genes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gpu-threads", type=int, default=4, help="host threads feeding the GPU")
    parser.add_argument("--cores", type=int, help="threads of the all-cores CPU run (all CPUs)")
    parser.add_argument("--reads", type=Path, default=kernels_defaults.DEFAULT_READS)
    parser.add_argument("--reference", type=Path, default=kernels_defaults.DEFAULT_REFERENCE)
    parser.add_argument("--genes", type=Path, default=kernels_defaults.DEFAULT_GENES)
    parser.add_argument("--e2e-copies", type=int, default=100, help="MiSeq reads x N end to end")
    parser.add_argument("--no-e2e", action="store_true", help="skip the end-to-end runs")
    parser.add_argument("--max-length", type=int, help="cut every sequence to N bases")
    parser.add_argument("--quick", action="store_true", help="a few short pairs: a smoke run")
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    parser.add_argument("--compile-check", action="store_true", help="PTX and registers only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if arguments.compile_check:
        return compile_check()
    from streamalign.kernels.cuda.device import device_problem

    problem = device_problem()
    if problem is not None:
        print(f"gpu.py: --device cuda: {problem}", file=sys.stderr)
        return 2
    if arguments.workload is None:
        arguments.workload = list(COPIES)
    if arguments.quick:
        arguments.count, arguments.limit, arguments.copies = 6, 2, 1
        arguments.repeats, arguments.e2e_copies = 1, 1
        arguments.max_length = arguments.max_length or 40
        arguments.gpu_threads = 2
    cores = arguments.cores or len(os.sched_getaffinity(0))
    report: dict[str, Any] = {"machine": machine(), "arguments": vars(arguments).copy()}
    report["arguments"] = {key: str(value) for key, value in report["arguments"].items()}
    report["workloads"] = []
    report["kernels"] = []
    for workload in workloads(arguments):
        print(f"{workload.name} ...", file=sys.stderr)
        report["workloads"].append(f"{workload.name}: {workload.description}")
        report["kernels"].extend(kernel_rows(workload, arguments, cores))
    if not arguments.no_e2e:
        print("end to end ...", file=sys.stderr)
        gpu_rate = next(
            (
                row["alignments_per_second"]
                for row in report["kernels"]
                if row["workload"] == "miseq" and row["variant"] == "full"
                and row["contender"].startswith("gpu")
            ),
            None,
        )  # fmt: skip
        report["end_to_end"] = end_to_end(arguments, cores, gpu_rate)
    print(format_report(report), end="")
    if arguments.json:
        arguments.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    differences = sum(row["differences_from_cpu"] for row in report["kernels"])
    identical = report.get("end_to_end", {}).get("identical_records", True)
    return 0 if differences == 0 and identical else 1


if __name__ == "__main__":
    sys.exit(main())
