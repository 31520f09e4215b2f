"""Helpers shared by the command-line test modules (run in-process or as a subprocess)."""

from __future__ import annotations

import io
import sys

from streamalign.cli import main


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
