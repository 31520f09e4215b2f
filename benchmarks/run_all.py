"""Run every benchmark once and write ``benchmarks/results/``: a Markdown summary and plots.

Runs, in this process and one after another:

1. ``benchmarks/kernels.py`` (single-core kernels against peer tools) -> ``kernels.json``,
   ``kernels.md`` and ``throughput.png`` (alignments/s per tool and workload, log scale);
2. ``benchmarks/cli.py`` (end to end, FASTQ.gz in, SAM out, 1 and 2 threads) -> ``cli.json``;
3. ``streamalign bench`` (throughput against workers, threads and processes, Amdahl fit)
   -> ``scaling.json`` and ``scaling.png``;

then ``summary.md`` (a table per benchmark and the machine). Run from the repository root::

    python benchmarks/run_all.py            # full run, a few minutes
    python benchmarks/run_all.py --quick    # small sizes, one repeat: a smoke run
    python benchmarks/run_all.py --reads R.fastq.gz --reference REF.fa --results DIR

Timings depend on what else runs on the machine: the summary gives the load average.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
# Running ``python benchmarks/run_all.py`` puts benchmarks/ first on sys.path, where dask.py
# would shadow the dask package: take it off, and load the sibling scripts by path instead.
if sys.path and Path(sys.path[0] or ".").resolve() == HERE:
    sys.path.pop(0)

DATA = HERE.parent.parent / "shared" / "data"


def load_script(name: str) -> ModuleType:
    """Import ``benchmarks/<name>.py`` under the module name ``benchmarks_<name>``."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def machine() -> dict[str, Any]:
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for name in ("streamalign", "numpy", "numba"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "versions": versions,
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _number(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def kernels_table(report: dict[str, Any]) -> str:
    lines = [
        "| workload | tool | variant | pairs | alignments/s | GCUPS/core | vs streamalign full "
        "| score mismatches |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        if row["status"] != "ok":
            continue
        lines.append(
            f"| {row['workload']} | {row['tool']} | {row['variant']} | {row['pairs']:,} "
            f"| {_number(row['alignments_per_second'])} | {_number(row['gcups'], 3)} "
            f"| {_number(row['ratio_to_streamalign_full'], 2)} "
            f"| {'' if row['score_mismatches'] is None else row['score_mismatches']} |"
        )
    skipped = [
        f"{r['tool']} {r['variant']} ({r['status']})" for r in report["rows"] if r["status"] != "ok"
    ]
    if skipped:
        lines += ["", "Not measured: " + ", ".join(sorted(set(skipped))) + "."]
    return "\n".join(lines)


def cli_table(report: dict[str, Any]) -> str:
    reads = report["reads"]
    lines = ["| tool | threads | reads | seconds | reads/s |", "|---|---:|---:|---:|---:|"]
    rows = [dict(row, reads=reads) for row in report["rows"]]
    rows += [dict(row, tool="streamalign") for row in report.get("large", [])]
    for row in rows:
        lines.append(
            f"| {row['tool']} | {row['threads']} | {row['reads']:,} | {row['seconds']:.2f} "
            f"| {row['reads'] / row['seconds']:,.0f} |"
        )
    kernel = report.get("kernel_reads_per_second_by_threads") or {
        "1": report["kernel_reads_per_second"]
    }
    lines += [
        "",
        "streamalign kernel alone (`Aligner.align_many` + CIGARs, no I/O): "
        + ", ".join(
            f"{rate:,.0f} reads/s with {threads} thread(s)" for threads, rate in kernel.items()
        )
        + ".",
    ]
    steady = report.get("steady_reads_per_second") or {}
    peers = {
        (row["tool"].split()[0], str(row["threads"])): reads / row["seconds"]
        for row in report["rows"]
        if row["tool"] != "streamalign"
    }
    for threads, rate in steady.items():
        ratios = ", ".join(
            f"{rate / peer:.1f}x {tool}"
            for (tool, peer_threads), peer in peers.items()
            if peer_threads == threads
        )
        share = f", {rate / kernel[threads]:.0%} of the kernel alone" if threads in kernel else ""
        lines.append(
            f"Steady state with {threads} worker(s) (extra reads over extra seconds between the "
            f"two input sizes: start-up excluded): {rate:,.0f} reads/s{share}; {ratios}."
        )
    return "\n".join(lines)


def scaling_table(report: dict[str, Any]) -> str:
    lines = [
        "| backend | workers | reads/s | speed-up | parallel efficiency |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in report["rows"]:
        lines.append(
            f"| {row['backend']} | {row['workers']} | {row['reads_per_second']:,.0f} "
            f"| {row['speedup']:.2f} | {row['efficiency']:.0%} |"
        )
    lines.append("")
    for backend, s in report["amdahl_serial_fraction"].items():
        if s is None:
            lines.append(f"- Amdahl fit, {backend}: n/a (one worker count)")
        else:
            plateau = f"{1 / s:.2f}x" if s > 0 else "unbounded"
            lines.append(
                f"- Amdahl fit, {backend}: serial fraction s = {s:.4f}, predicted plateau "
                f"1/s = {plateau}"
            )
    return "\n".join(lines)


def throughput_plot(report: dict[str, Any], path: Path) -> None:
    """Alignments/s per tool and variant, one panel per workload, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["rows"] if r["status"] == "ok" and r["alignments_per_second"]]
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    heights = [max(1, sum(r["workload"] == w for r in rows)) for w in workloads]
    figure, axes_list = plt.subplots(
        len(workloads),
        1,
        figsize=(8, 1.2 + 0.38 * sum(heights)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for axes, workload in zip(axes_list[:, 0], workloads, strict=True):
        mine = sorted(
            (r for r in rows if r["workload"] == workload), key=lambda r: r["alignments_per_second"]
        )
        labels = [f"{r['tool']} ({r['variant']})" for r in mine]
        values = [r["alignments_per_second"] for r in mine]
        colors = ["tab:red" if r["tool"] == "streamalign" else "tab:blue" for r in mine]
        bars = axes.barh(labels, values, color=colors)
        axes.set_xscale("log")
        axes.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=8)
        axes.set_xlim(right=max(values) * 8)
        axes.set_title(f"{workload}: alignments/s, one core (log scale)", fontsize=10)
        axes.tick_params(axis="y", labelsize=8)
        axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=Path, default=DATA / "sam1F.fastq.gz")
    parser.add_argument("--reference", type=Path, default=DATA / "ecoli_16S.fa")
    parser.add_argument("--results", type=Path, default=HERE / "results", help="output folder")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    arguments = parser.parse_args(argv)
    results: Path = arguments.results
    results.mkdir(parents=True, exist_ok=True)
    began = time.time()  # a JSON file older than this is a previous run's: not summarized
    data = ["--reads", str(arguments.reads), "--reference", str(arguments.reference)]
    info = machine()
    statuses: dict[str, int] = {}
    seconds: dict[str, float] = {}

    def log(message: str) -> None:
        print(f"run_all: {message}", file=sys.stderr, flush=True)

    log("kernels.py ...")
    started = time.perf_counter()
    kernels = load_script("kernels")
    statuses["kernels"] = kernels.main(
        [
            *data,
            "--json",
            str(results / "kernels.json"),
            "--markdown",
            str(results / "kernels.md"),
            *(["--quick"] if arguments.quick else []),
        ]
    )
    seconds["kernels"] = time.perf_counter() - started

    log("cli.py ...")
    started = time.perf_counter()
    cli_benchmark = load_script("cli")
    statuses["cli"] = cli_benchmark.main(
        [
            *data,
            "--json",
            str(results / "cli.json"),
            *(["--copies", "1", "--large-copies", "2"] if arguments.quick else []),
        ]
    )
    seconds["cli"] = time.perf_counter() - started

    log("streamalign bench ...")
    started = time.perf_counter()
    from streamalign.cli import main as streamalign_main

    statuses["bench"] = streamalign_main(
        [
            "bench",
            "-r",
            str(arguments.reference),
            str(arguments.reads),
            "--copies",
            "1" if arguments.quick else "8",
            "--repeats",
            "1" if arguments.quick else "2",
            "--plot",
            str(results / "scaling.png"),
            "--json",
            str(results / "scaling.json"),
        ]
    )
    seconds["bench"] = time.perf_counter() - started

    def section(name: str, table: Any) -> str:
        path = results / f"{name}.json"
        if not path.exists() or path.stat().st_mtime < began:
            status = statuses["bench" if name == "scaling" else name]
            return f"Failed (exit status {status}): no {path.name}."
        report = json.loads(path.read_text())
        if name == "kernels":
            throughput_plot(report, results / "throughput.png")
        return str(table(report))

    kernels_section = section("kernels", kernels_table)
    cli_section = section("cli", cli_table)
    scaling_section = section("scaling", scaling_table)
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]

    versions = ", ".join(f"{name} {version}" for name, version in info["versions"].items())
    summary = f"""# streamalign benchmarks{" (--quick)" if arguments.quick else ""}

`python benchmarks/run_all.py{" --quick" if arguments.quick else ""}`, {info["date"]}.

## Machine

| | |
|---|---|
| CPU | {info["cpu"]} |
| cores | {info["cores"]} logical ({info["usable_cores"]} usable by this process) |
| Python | {info["python"]} |
| versions | {versions} |
| platform | {info["platform"]} |
| load average before / after | {info["load_average"]} / {info["load_average_after"]} |

Timings depend on what else runs on the machine; compare only rows of one run.

## Kernels, one core (`benchmarks/kernels.py`, {seconds["kernels"]:.0f} s)

Reads `{arguments.reads.name}` against `{arguments.reference.name}` (miseq) and random 64-bp
reads against the 16S fragment (64bp). Full details: `kernels.md`.

{kernels_section}

![alignments/s per tool](throughput.png)

## End to end (`benchmarks/cli.py`, {seconds["cli"]:.0f} s)

{cli_section}

## Scaling with workers (`streamalign bench`, {seconds["bench"]:.0f} s)

In-process `pipeline.run` on the reads loaded into memory, output discarded; best of the
repeats. Speed-up against the same backend's 1-worker figure.

{scaling_section}

![throughput against workers](scaling.png)

Exit statuses: {", ".join(f"{name} {status}" for name, status in statuses.items())}.
"""
    (results / "summary.md").write_text(summary, encoding="utf-8")
    log(f"wrote {results / 'summary.md'}, throughput.png, scaling.png")
    return max(statuses.values())


if __name__ == "__main__":
    sys.exit(main())
