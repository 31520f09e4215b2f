"""Time and peak memory of long pairs (the README's "Memory" table).

Each pair is a random sequence against a copy with about 1% errors (substitutions, insertions
and deletions in equal shares, fixed seed), aligned once after a warm-up on one core with
``Aligner(reference, mode).align(query)``. Each case runs in a child process, so peak RSS
(``ru_maxrss``) is that case's alone, numba and numpy included.

    python benchmarks/long_pairs.py [--length 10000 50000] [--mode global semiglobal]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time

import numpy as np


def mutated_pair(length: int, seed: int = 1) -> tuple[str, str]:
    generator = np.random.default_rng(seed)
    reference = "".join(generator.choice(list("ACGT"), length))
    query = []
    for base in reference:
        roll = generator.random()
        if roll < 0.01 / 3:
            query.append(generator.choice(list("ACGT".replace(base, ""))))
        elif roll < 0.02 / 3:
            query.append(base + generator.choice(list("ACGT")))
        elif roll >= 0.01:
            query.append(base)
    return "".join(query), reference


def run_case(length: int, mode: str, results: multiprocessing.Queue) -> None:
    import streamalign as sa

    query, reference = mutated_pair(length)
    sa.Aligner("ACGTACGT", mode).align("ACGTTACGT")  # compile / load the kernels
    started = time.perf_counter()
    try:
        alignment = sa.Aligner(reference, mode).align(query)
        outcome = f"score {alignment.score:g}"
    except sa.AlignmentTooLargeError as error:
        outcome = f"AlignmentTooLargeError: {error}"[:90]
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results.put(
        f"{length:>7,} x {length:<7,} {mode:10s} {seconds:7.2f} s {peak:7.0f} MiB  {outcome}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--mode", nargs="+", default=["global", "semiglobal"])
    arguments = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue = context.Queue()
    print("pair              mode       seconds   peak RSS  result")
    for length in arguments.length:
        for mode in arguments.mode:
            child = context.Process(target=run_case, args=(length, mode, results))
            child.start()
            print(results.get())
            child.join()


if __name__ == "__main__":
    main()
