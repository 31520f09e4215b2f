"""Score-only long pairs: the staggered kernel against the inter-sequence kernel (one core).

The figures behind ``_config.STAGGERED_MAX_GROUP_LANES`` and ``kernels/staggered.py``: a
group of ``g`` long pairs against one reference, score-only, aligned by the inter-sequence
kernel (``g`` lanes) and by the staggered kernel (each pair on all lanes, one after another),
in GCUPS; and a lone pair of each ``--lone`` length on the staggered kernel. Pairs are a
random reference and copies of it with 2% substitutions (fixed seed); each figure is the best
of ``--repeats`` timed runs after a warm-up.

    python benchmarks/staggered.py [--length 6000] [--groups 1 2 4 8 12] [--lone 10000 50000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def copies(reference: str, count: int, rng: np.random.Generator) -> list[str]:
    """``count`` copies of ``reference`` with 2% substitutions."""
    result = []
    for _ in range(count):
        letters = list(reference)
        for position in rng.choice(len(letters), len(letters) // 50, replace=False):
            letters[position] = "ACGT"[int(rng.integers(0, 4))]
        result.append("".join(letters))
    return result


def best_seconds(function, repeats: int) -> float:  # type: ignore[no-untyped-def]
    function()  # warm-up (compiles or loads the kernels)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    import streamalign as sa
    from streamalign import _config

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=int, default=6_000, help="pair length of the groups")
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 2, 4, 8, 12])
    parser.add_argument("--lone", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--mode", default="semiglobal")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2)
    arguments = parser.parse_args(argv)
    rng = np.random.default_rng(arguments.seed)
    saved = _config.STAGGERED_MIN_CELLS, _config.STAGGERED_MAX_GROUP_LANES
    print(f"{arguments.length:,}-bp pairs, {arguments.mode}, score-only, one core: GCUPS")
    print(f"{'group':>5}  {'inter-sequence':>14}  {'staggered':>9}")
    try:
        reference = "".join(rng.choice(list("ACGT"), size=arguments.length))
        aligner = sa.Aligner(reference, mode=arguments.mode)
        for count in arguments.groups:
            queries = copies(reference, count, rng)
            cells = count * arguments.length * len(reference)
            rates = []
            for minimum, most in ((2**62, 0), (0, 2**62)):
                _config.STAGGERED_MIN_CELLS, _config.STAGGERED_MAX_GROUP_LANES = minimum, most
                seconds = best_seconds(
                    lambda queries=queries: aligner.align_many(queries, traceback=False),
                    arguments.repeats,
                )
                rates.append(cells / seconds / 1e9)
            print(f"{count:>5}  {rates[0]:>14.2f}  {rates[1]:>9.2f}")
        _config.STAGGERED_MIN_CELLS, _config.STAGGERED_MAX_GROUP_LANES = 0, 2**62
        for length in arguments.lone:
            reference = "".join(rng.choice(list("ACGT"), size=length))
            query = copies(reference, 1, rng)
            aligner = sa.Aligner(reference, mode=arguments.mode)
            seconds = best_seconds(
                lambda aligner=aligner, query=query: aligner.align_many(query, traceback=False),
                arguments.repeats,
            )
            print(
                f"lone {length:,}-bp pair on the staggered kernel: "
                f"{seconds:.3f} s, {length * length / seconds / 1e9:.2f} GCUPS"
            )
    finally:
        _config.STAGGERED_MIN_CELLS, _config.STAGGERED_MAX_GROUP_LANES = saved
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
