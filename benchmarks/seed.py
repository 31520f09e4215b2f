"""The old scikit-bio pipeline against its streamalign rewrite, on the same sequences.

Old design (as it was, except that results are collected instead of discarded): worker
processes pull ``(index, sequence)`` items from a ``multiprocessing.Queue``, align each with
scikit-bio's pure-Python ``global_pairwise_align_nucleotide(DNA(sequence), fragment,
penalize_terminal_gaps=True)`` (gap open 5, extend 2, match 1, mismatch -2) and put the result
on a second queue. New design: ``examples/seed_pipeline.py`` (batches on threads, nogil numba
kernel, ``recurrence="skbio"``).

Every result is checked to be identical (gapped rows, score, start/end positions); then both wall
times and their ratio are printed. The new design's one-time numba compilation (cached on disk
after the first run) is done before its clock starts and reported apart.

Run::

    python benchmarks/seed.py --sequences 1000 --workers 2 --seed 0
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import sys
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

#: One result, as compared: (gapped query, gapped reference, score, start/end positions).
Result = tuple[str, str, float, list[tuple[int, int]]]

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "seed_pipeline.py"


def load_example() -> ModuleType:
    """``examples/seed_pipeline.py`` as a module (it is a script, not part of the package)."""
    specification = importlib.util.spec_from_file_location("seed_pipeline", EXAMPLE)
    assert specification is not None and specification.loader is not None
    module = importlib.util.module_from_spec(specification)
    sys.modules["seed_pipeline"] = module
    specification.loader.exec_module(module)
    return module


def old_worker(tasks: Any, results: Any, fragment: str) -> None:
    """The original worker: take a sequence from the queue, align it with scikit-bio, repeat."""
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    from skbio import DNA
    from skbio.alignment import global_pairwise_align_nucleotide

    reference = DNA(fragment)
    while True:
        item = tasks.get()
        if item is None:  # sentinel: no more work
            break
        index, sequence = item
        msa, score, positions = global_pairwise_align_nucleotide(
            DNA(sequence),
            reference,
            gap_open_penalty=5,
            gap_extend_penalty=2,
            match_score=1,
            mismatch_score=-2,
            penalize_terminal_gaps=True,
        )
        results.put(
            (
                index,
                (
                    str(msa[0]),
                    str(msa[1]),
                    float(score),
                    [(int(start), int(end)) for start, end in positions],
                ),
            )
        )


def run_old(sequences: list[str], workers: int, fragment: str) -> list[Result]:
    """Worker processes fed through a Queue; results collected (not lost) and put in order."""
    tasks: Any = multiprocessing.Queue()
    results: Any = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=old_worker, args=(tasks, results, fragment))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    for item in enumerate(sequences):
        tasks.put(item)
    for _ in processes:
        tasks.put(None)
    collected: list[Any] = [None] * len(sequences)
    for _ in sequences:
        index, result = results.get()
        collected[index] = result
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"an old-design worker exited with {process.exitcode}")
    return collected


def run_new(example: ModuleType, sequences: list[str], workers: int) -> list[Result]:
    alignments = example.align_all(sequences, workers=workers, compat="skbio")
    return [
        (
            alignment.gapped_query,
            alignment.gapped_reference,
            alignment.score,
            [
                (alignment.query_start, alignment.query_end - 1),
                (alignment.reference_start, alignment.reference_end - 1),
            ],
        )
        for alignment in alignments
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=1000, help="how many (default 1000)")
    parser.add_argument(
        "--workers", type=int, default=0, help="processes (old) and threads (new); 0 = all CPUs"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    options = parser.parse_args(argv)
    workers = options.workers or len(os.sched_getaffinity(0))
    example = load_example()
    sequences = example.random_sequences(options.sequences, options.seed)
    print(
        f"{len(sequences)} random 64-bp sequences (seed {options.seed}) against the 64-bp "
        f"16S fragment, global, end gaps penalized; {workers} workers each"
    )

    start = time.perf_counter()
    example.align_all(sequences[:8], workers=1)  # numba: compile, or load the disk cache
    warm_up = time.perf_counter() - start
    start = time.perf_counter()
    new = run_new(example, sequences, workers)
    new_seconds = time.perf_counter() - start

    start = time.perf_counter()
    old = run_old(sequences, workers, example.FRAGMENT)
    old_seconds = time.perf_counter() - start

    differences = [number for number, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
    if differences:
        first = differences[0]
        print(
            f"FAIL: {len(differences)} results differ; first, sequence {first}:\n"
            f"  old {old[first]}\n  new {new[first]}"
        )
        return 1
    print(f"identical: all {len(sequences)} results (gapped rows, score, start/end positions)")
    print(
        f"old  (scikit-bio, {workers} processes, Queue): {old_seconds:9.3f} s  "
        f"({old_seconds / len(sequences) * 1e3:.2f} ms per sequence)"
    )
    print(
        f"new  (streamalign, {workers} threads):         {new_seconds:9.3f} s  "
        f"({new_seconds / len(sequences) * 1e6:.2f} us per sequence; one-time numba "
        f"compile/cache load {warm_up:.2f} s not included)"
    )
    print(f"ratio old / new: {old_seconds / new_seconds:,.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
