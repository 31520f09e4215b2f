"""The 8-bit difference kernel against the 16-bit Gotoh kernel, kernel calls alone (one core).

The figures behind the aligner's choice between them (``_config.DIFFERENCE_MIN_CELLS``,
``Aligner._difference_inputs``) and behind ``_config.MIN_LANES_INT8``:

- ``shapes``: random queries against a random reference, global, with traceback, for each
  ``QUERYxREFERENCE`` shape (about ``--cells`` cells each): GCUPS of both kernels.
- ``lanes``: groups of 1, 2, 4, 16 and 64 random 250-bp reads against a random 1,500-bp gene
  (the reference's ends free), score-only and with traceback: milliseconds per call.
- ``granule``: the ``pacbio`` workload of ``benchmarks/kernels.py`` (full-length 16S genes
  with PacBio-like errors against the *E. coli* gene, global, traceback) on the difference
  kernel, its groups planned in multiples of 16 and of 64 lanes, its direction bits written
  with non-temporal stores (``_config.STREAM_DIRECTION_BYTES``) and with plain ones: the
  groups and GCUPS.

Each figure is the best of ``--repeats`` timed calls after a warm-up.

    python benchmarks/differences.py [--part shapes lanes granule] [--genes G.fa.gz]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def best_seconds(function, repeats: int) -> float:  # type: ignore[no-untyped-def]
    function()  # warm-up (compiles or loads the kernels)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def kernel_call(queries, reference, ends, traceback, int8, lanes=256):  # type: ignore[no-untyped-def]
    """A function running one kernel call: ``queries`` against ``reference``, match 1,
    mismatch -2, gap open 5, extend 2; the difference kernel (``int8``) or gotoh's."""
    from streamalign.alphabet import encode_string
    from streamalign.kernels import differences, gotoh
    from streamalign.kernels.inputs import KernelInput, KernelScoring
    from streamalign.kernels.outputs import KernelOutputs
    from streamalign.kernels.planning import plan_groups

    offsets = np.concatenate([[0], np.cumsum([len(query) for query in queries])]).astype(np.int64)
    codes = encode_string("".join(queries))
    reference_codes = encode_string(reference)
    lengths = np.diff(offsets)
    substitution = np.full((16, 16), -2)
    np.fill_diagonal(substitution, 1)
    dtype, bound, module = (np.int8, -128, differences) if int8 else (np.int16, -30_000, gotoh)
    plan = plan_groups(
        lengths,
        len(reference_codes),
        lanes=lanes,
        memory_budget=2**31,
        traceback=traceback,
        score_bytes=np.dtype(dtype).itemsize,
    )
    scoring = KernelScoring.create(substitution, np.eye(16), 5, 2, bound, dtype)
    inputs = KernelInput(codes, offsets, reference_codes, plan, scoring, ends, traceback)
    outputs = KernelOutputs.allocate(lengths, len(reference_codes), traceback)
    return (lambda: module.run(inputs, outputs)), plan


def random_sequences(count: int, length: int, rng: np.random.Generator) -> list[str]:
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, size=(count, length))]
    return [row.tobytes().decode("ascii") for row in letters]


def part_shapes(arguments: argparse.Namespace, rng: np.random.Generator) -> None:
    from streamalign.kernels.inputs import EndFlags

    print("shapes: random queries, global, traceback; GCUPS, one core")
    print(f"{'shape':>11}  {'int16 gotoh':>11}  {'int8 differences':>16}")
    for shape in arguments.shapes:
        query_length, reference_length = (int(part) for part in shape.split("x"))
        count = max(1, arguments.cells // (query_length * reference_length))
        queries = random_sequences(count, query_length, rng)
        reference = random_sequences(1, reference_length, rng)[0]
        cells = count * query_length * reference_length
        figures = []
        for int8 in (False, True):
            run, _ = kernel_call(queries, reference, EndFlags.NONE, True, int8)
            figures.append(cells / best_seconds(run, arguments.repeats) / 1e9)
        print(f"{shape:>11}  {figures[0]:>11.2f}  {figures[1]:>16.2f}")


def part_lanes(arguments: argparse.Namespace, rng: np.random.Generator) -> None:
    from streamalign.kernels.inputs import EndFlags

    ends = EndFlags.REFERENCE_START_FREE | EndFlags.REFERENCE_END_FREE
    gene = random_sequences(1, 1500, rng)[0]
    print("lanes: N random 250-bp reads vs a random 1,500-bp gene, reference ends free; ms/call")
    print(
        f"{'reads':>5}  {'score int16':>11}  {'score int8':>10}  "
        f"{'full int16':>10}  {'full int8':>9}"
    )
    for count in arguments.reads:
        reads = random_sequences(count, 250, rng)
        figures = []
        for traceback in (False, True):
            for int8 in (False, True):
                run, _ = kernel_call(reads, gene, ends, traceback, int8)
                figures.append(best_seconds(run, arguments.repeats) * 1e3)
        print(
            f"{count:>5}  {figures[0]:>11.3f}  {figures[1]:>10.3f}  {figures[2]:>10.3f}  "
            f"{figures[3]:>9.3f}"
        )


def part_granule(arguments: argparse.Namespace) -> None:
    from streamalign import _config
    from streamalign.kernels.inputs import EndFlags

    spec = importlib.util.spec_from_file_location("benchmarks_kernels", HERE / "kernels.py")
    assert spec is not None and spec.loader is not None
    kernels = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = kernels
    spec.loader.exec_module(kernels)
    workload = kernels.pacbio_workload(
        genes=arguments.genes, reference=arguments.reference, count=arguments.pacbio_count
    )
    cells = sum(len(query) for query in workload.queries) * len(workload.reference)
    print(f"granule: pacbio ({len(workload.queries)} reads), difference kernel, traceback")
    saved = _config.MIN_LANES_INT8, _config.STREAM_DIRECTION_BYTES
    try:
        for granule in arguments.granules:
            for streamed in (True, False):
                _config.MIN_LANES_INT8 = granule
                _config.STREAM_DIRECTION_BYTES = saved[1] if streamed else 2**62
                run, plan = kernel_call(
                    workload.queries, workload.reference, EndFlags.NONE, True, True
                )
                seconds = best_seconds(run, arguments.repeats)
                stores = "non-temporal" if streamed else "plain"
                print(
                    f"  lanes in multiples of {granule:>3}, {stores:>12} direction stores: "
                    f"groups {plan.lanes.tolist()}, {cells / seconds / 1e9:.2f} GCUPS"
                )
    finally:
        _config.MIN_LANES_INT8, _config.STREAM_DIRECTION_BYTES = saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--part",
        nargs="+",
        choices=("shapes", "lanes", "granule"),
        default=["shapes", "lanes", "granule"],
    )
    parser.add_argument(
        "--shapes", nargs="+", default=["64x64", "150x150", "100x400", "250x250", "64x1465"]
    )
    parser.add_argument("--cells", type=int, default=200_000_000, help="cells per shape")
    parser.add_argument("--reads", type=int, nargs="+", default=[1, 2, 4, 16, 64])
    parser.add_argument("--granules", type=int, nargs="+", default=[16, 64])
    parser.add_argument(
        "--genes", type=Path, default=HERE.parent.parent / "shared" / "data" / "ten_16s.100.fa.gz"
    )
    parser.add_argument(
        "--reference", type=Path, default=HERE.parent.parent / "shared" / "data" / "ecoli_16S.fa"
    )
    parser.add_argument("--pacbio-count", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)
    rng = np.random.default_rng(arguments.seed)
    if "shapes" in arguments.part:
        part_shapes(arguments, rng)
    if "lanes" in arguments.part:
        part_lanes(arguments, rng)
    if "granule" in arguments.part:
        part_granule(arguments)
    return 0


if __name__ == "__main__":
    sys.exit(main())
