"""Rewrite the golden output files of tests/test_cli.py (``test_golden_outputs``) from the
current code; not a test (pytest does not collect it), and the tests never write these files.

Run it only when an output change is intended, then review ``git diff tests/data/golden``
before committing: the test compares every backend's output with the committed files.

    PYTHONPATH=src python tests/regenerate_golden.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from cli_helpers import (
    GOLDEN,
    GOLDEN_CASES,
    GOLDEN_FORMATS,
    GOLDEN_READS,
    golden_arguments,
    run_cli,
    small_reads,
    without_program_line,
)


def main() -> int:
    """Write every golden file with the serial backend; report which ones changed."""
    with tempfile.TemporaryDirectory() as directory:
        reads = small_reads(Path(directory), GOLDEN_READS)
        for name in GOLDEN_CASES:
            for output_format in GOLDEN_FORMATS:
                arguments = golden_arguments(name, output_format, reads)
                status, output, errors = run_cli([*arguments, "--backend", "serial"])
                if status != 0:
                    print(
                        f"{name}.{output_format}: exit status {status}\n{errors}", file=sys.stderr
                    )
                    return 1
                golden = GOLDEN / f"{name}.{output_format}"
                content = without_program_line(output)
                changed = not golden.exists() or golden.read_bytes() != content
                golden.write_bytes(content)
                print(f"{golden}: {'rewritten' if changed else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
