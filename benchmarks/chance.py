"""How the default "mapped" rule splits real reads from chance alignments.

Aligns real reads forward and reverse-complemented (the wrong strand) against a gene in each
mode and prints, per case, the best-stretch scores (min / median / max), the chance threshold
and the share mapped (:mod:`streamalign.significance`). The figures in the README's
"Mapped or not" paragraph come from the defaults:

    python benchmarks/chance.py [--reads ../shared/data/sam1F.fastq.gz] [--reference FASTA]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dnaio
import numpy as np

import streamalign as sa
from streamalign.significance import ChanceFilter

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", default=str(SHARED / "sam1F.fastq.gz"))
    parser.add_argument("--reference", default=str(SHARED / "ecoli_16S.fa"))
    arguments = parser.parse_args()
    with dnaio.open(arguments.reference) as references:
        reference = next(iter(references)).sequence
    with dnaio.open(arguments.reads) as reads:
        forward = [record.sequence for record in reads]
    wrong_strand = [read.translate(COMPLEMENT)[::-1] for read in forward]
    print(f"{len(forward):,} reads of {arguments.reads} against {arguments.reference}")
    print("mode        reads          stretch min/median/max  threshold  mapped")
    for mode in ("semiglobal", "local", "global", "overlap"):
        aligner = sa.Aligner(reference, mode)
        chance = ChanceFilter(aligner.references, aligner.scoring)
        for label, queries in (("forward", forward), ("wrong strand", wrong_strand)):
            batch = aligner.align_many(queries)
            stretch = chance.stretch_scores(batch)
            lengths = np.diff(batch.queries.offsets)
            threshold = chance.thresholds(lengths, np.full(len(batch), len(reference)))
            print(
                f"{mode:11s} {label:13s} {stretch.min():6.0f} {np.median(stretch):6.0f} "
                f"{stretch.max():6.0f}      {np.median(threshold):6.1f}  "
                f"{chance.mapped(batch).mean():7.1%}"
            )


if __name__ == "__main__":
    main()
