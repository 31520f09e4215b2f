"""The kernel with a reference per SIMD lane against the roles-swapped calls it replaced (one core).

The database search scores many (read, gene) pairs per round. Before
``kernels/multireference.py`` it aligned each read against its candidate genes in one call,
the genes as the lanes of the 8-bit difference kernel (``Aligner._scores_against``); now every
pair of a round goes to one call, a pair per lane. Figures behind ``PASS_LANES`` and behind
``DatabaseSearch.score_pairs``:

- ``rounds``: N reads (pieces of the genes, 250 bp) each against C random genes, for each C
  of ``--candidates``: seconds and GCUPS of one ``score_pairs`` call against one
  ``_scores_against`` call per read (the same scores, checked).
- ``passes``: one read (``--read-length`` letters of a gene, 250 by default) against
  ``--genes-per-read`` genes, a pass of ``PASS_LANES`` lanes at each value of
  ``--pass-lanes``: GCUPS (how far lanes overlap each other's dependency chains down the
  rows, against the column state's cache footprint) and microseconds per pair.

Each figure is the best of ``--repeats`` timed calls after a warm-up.

    python benchmarks/multireference.py [--part rounds passes] [--genes G.fa.gz]
"""

from __future__ import annotations

import argparse
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


def load_genes(path: Path, limit: int) -> list[tuple[str, str]]:
    import dnaio

    genes = []
    with dnaio.open(path) as records:
        for record in records:
            genes.append((record.name, record.sequence))
            if len(genes) == limit:
                break
    return genes


def part_rounds(arguments: argparse.Namespace, genes: list[tuple[str, str]]) -> None:
    from streamalign import Aligner
    from streamalign.alphabet import encode_string
    from streamalign.kernels import multireference

    aligner = Aligner(genes, "semiglobal")
    rng = np.random.default_rng(arguments.seed)
    gene_codes = [encode_string(sequence) for _, sequence in genes]
    lengths = np.array([len(codes) for codes in gene_codes], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    joined = np.concatenate(gene_codes)
    reads = []
    for _ in range(arguments.reads):
        codes = gene_codes[int(rng.integers(len(genes)))]
        start = int(rng.integers(max(len(codes) - 250, 1)))
        reads.append(codes[start : start + 250].copy())
    read_offsets = np.concatenate([[0], np.cumsum([len(read) for read in reads])])
    read_codes = np.concatenate(reads)
    scoring = aligner.scoring
    print(f"rounds: {arguments.reads} reads (250 bp) x C random genes, semi-global, one core")
    print(f"{'C':>6} {'per read s':>11} {'GCUPS':>7} {'one call s':>11} {'GCUPS':>7}")
    for candidates in arguments.candidates:
        chosen = [rng.integers(0, len(genes), candidates) for _ in reads]
        flat = np.concatenate(chosen)
        queries = np.repeat(np.arange(len(reads)), candidates)
        cells = float(
            sum(len(read) * lengths[picks].sum() for read, picks in zip(reads, chosen, strict=True))
        )

        def per_read(chosen=chosen):  # type: ignore[no-untyped-def]
            return [
                aligner._scores_against(read, picks, "read")
                for read, picks in zip(reads, chosen, strict=True)
            ]

        def one_call(flat=flat, queries=queries):  # type: ignore[no-untyped-def]
            return multireference.score_pairs(
                read_codes,
                read_offsets,
                queries,
                joined,
                starts[flat],
                lengths[flat],
                scoring.integer_matrix,
                int(scoring.integer_gap_open),
                int(scoring.integer_gap_extend),
                aligner.flags,
            )

        if not np.array_equal(np.concatenate(per_read()), one_call()):
            raise SystemExit("multireference.py: the two paths' scores differ")
        old = best_seconds(per_read, arguments.repeats)
        new = best_seconds(one_call, arguments.repeats)
        print(
            f"{candidates:>6} {old:>11.3f} {cells / old / 1e9:>7.2f} "
            f"{new:>11.3f} {cells / new / 1e9:>7.2f}"
        )


def part_passes(arguments: argparse.Namespace, genes: list[tuple[str, str]]) -> None:
    from streamalign import Aligner
    from streamalign.alphabet import encode_string
    from streamalign.kernels import multireference

    aligner = Aligner(genes, "semiglobal")
    gene_codes = [encode_string(sequence) for _, sequence in genes]
    count = min(arguments.genes_per_read, len(genes))
    lengths = np.array([len(codes) for codes in gene_codes[:count]], dtype=np.int64)
    starts = np.cumsum(lengths) - lengths
    joined = np.concatenate(gene_codes[:count])
    read = gene_codes[0][100 : 100 + arguments.read_length].copy()
    scoring = aligner.scoring
    cells = float(len(read) * lengths.sum())
    print(f"passes: one {len(read)}-bp read against {count} genes, semi-global, one core")
    print(f"{'lanes':>6} {'seconds':>8} {'GCUPS':>7} {'us/pair':>8}")
    saved = multireference.PASS_LANES
    try:
        for lanes in arguments.pass_lanes:
            multireference.PASS_LANES = lanes

            def call():  # type: ignore[no-untyped-def]
                return multireference.score_against(
                    read,
                    joined,
                    starts,
                    lengths,
                    scoring.integer_matrix,
                    int(scoring.integer_gap_open),
                    int(scoring.integer_gap_extend),
                    aligner.flags,
                )

            seconds = best_seconds(call, arguments.repeats)
            print(
                f"{lanes:>6} {seconds:>8.3f} {cells / seconds / 1e9:>7.2f} "
                f"{seconds / count * 1e6:>8.2f}"
            )
    finally:
        multireference.PASS_LANES = saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--part", nargs="+", choices=("rounds", "passes"), default=["rounds", "passes"]
    )
    parser.add_argument(
        "--genes", type=Path, default=HERE.parent.parent / "shared" / "data" / "ten_16s.100.fa.gz"
    )
    parser.add_argument("--gene-count", type=int, default=4000, help="genes read (first N)")
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--candidates", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--genes-per-read", type=int, default=2048)
    parser.add_argument(
        "--read-length",
        type=int,
        default=250,
        help="letters of the read in the passes part (short reads show the cost per pair "
        "that does not grow with the read: the sequences' transposition into lanes)",
    )
    parser.add_argument("--pass-lanes", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)
    genes = load_genes(arguments.genes, arguments.gene_count)
    if "rounds" in arguments.part:
        part_rounds(arguments, genes)
    if "passes" in arguments.part:
        part_passes(arguments, genes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
