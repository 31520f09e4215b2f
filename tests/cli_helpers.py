"""Helpers shared by the command-line test modules (run in-process or as a subprocess)."""

from __future__ import annotations

import gzip
import io
import sys
from pathlib import Path

from streamalign.cli import main

DATA = Path(__file__).parent / "data"
READS = DATA / "sam1F.200.fastq.gz"
ECOLI = DATA / "ecoli_16S.fa"
FIVE_REFERENCES = DATA / "ten_16s.5.fa"
GOLDEN = DATA / "golden"

#: The golden-output cases: name and reference options. Each is kept in ``GOLDEN`` as
#: ``NAME.FORMAT`` for every format of ``GOLDEN_FORMATS``, made from ``GOLDEN_READS`` reads.
GOLDEN_CASES = {
    "semiglobal_five_references": ["-r", str(FIVE_REFERENCES)],
    "global_both_strands": ["-r", str(ECOLI), "--mode", "global", "--strand", "both"],
    "local_all_references": ["-r", str(FIVE_REFERENCES), "--mode", "local", "--all-refs"],
}
GOLDEN_FORMATS = ("sam", "tsv")
GOLDEN_READS = 12


def run_cli(arguments: list[str], stdin: bytes = b"") -> tuple[int, bytes, str]:
    """``streamalign ARGUMENTS`` in-process: exit status, standard output, standard error."""
    stdout = io.BytesIO()
    stderr = io.StringIO()
    status = main(arguments, stdin=io.BytesIO(stdin), stdout=stdout, stderr=stderr)
    return status, stdout.getvalue(), stderr.getvalue()


def console_command(*arguments: str) -> list[str]:
    """The argv of ``streamalign ARGUMENTS`` as a real process (the console entry point)."""
    return [
        sys.executable,
        "-c",
        "from streamalign.cli import console_main; console_main()",
        *arguments,
    ]


def without_program_line(output: bytes) -> bytes:
    """SAM minus its @PG line, which records the (differing) command line."""
    return b"".join(line for line in output.splitlines(True) if not line.startswith(b"@PG"))


def small_reads(directory: Path, count: int = 24) -> Path:
    """The first ``count`` real MiSeq reads as a plain FASTQ file in ``directory``."""
    with gzip.open(READS, "rb") as handle:
        lines = handle.read().splitlines(True)[: 4 * count]
    path = directory / "reads.fastq"
    path.write_bytes(b"".join(lines))
    return path


def golden_arguments(name: str, output_format: str, reads: Path) -> list[str]:
    """The ``streamalign`` arguments of one golden case (add execution options to taste)."""
    return ["align", *GOLDEN_CASES[name], str(reads), "--format", output_format, "--quiet"]
