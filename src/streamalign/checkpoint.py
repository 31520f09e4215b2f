"""Checkpoints that let an interrupted ordered run resume where its output ends.

After every batch it writes, an ordered run to a file records in ``OUTPUT.checkpoint`` how many
input records are fully accounted for and how many bytes of output (and rejects) hold them.
The file is replaced atomically (write, fsync, rename), so after any interruption, even SIGKILL,
it describes a prefix of the output that ends at a record boundary. ``--resume`` cuts the output
back to that length, skips that many input records without aligning them, and appends the rest;
the finished output equals an uninterrupted run. A finished run removes its checkpoint.

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> keeper = CheckpointKeeper(folder / "out.sam", fingerprint="abc")
    >>> keeper.save(Checkpoint(records=10, output_bytes=123, rejects_bytes=0, fingerprint="abc"))
    >>> load_checkpoint(folder / "out.sam").records
    10
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import StreamAlignError

SUFFIX = ".checkpoint"
SCHEMA_VERSION = 1


class ResumeError(StreamAlignError):
    """A run cannot be resumed (no checkpoint, other options, output shorter than recorded)."""


@dataclass
class Checkpoint:
    """How far an ordered run got: input records done and the output bytes that hold them."""

    records: int
    output_bytes: int
    rejects_bytes: int
    fingerprint: str
    statistics: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION


def checkpoint_path(output: str | os.PathLike[str]) -> Path:
    """Where the checkpoint of ``output`` lives."""
    output = Path(output)
    return output.with_name(output.name + SUFFIX)


def load_checkpoint(output: str | os.PathLike[str]) -> Checkpoint:
    """Read the checkpoint of ``output``; :class:`ResumeError` if there is none or it is bad."""
    path = checkpoint_path(output)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            raise ValueError(f"a JSON {type(document).__name__}, not an object")
        if document.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"schema version {document.get('schema_version')!r}")
        return Checkpoint(**document)
    except FileNotFoundError:
        raise ResumeError(
            f"{output}: nothing to resume (no {path.name}; the run finished or never started)"
        ) from None
    except (ValueError, TypeError) as error:
        raise ResumeError(f"{path}: unreadable checkpoint ({error})") from None


def truncate_to(path: str | os.PathLike[str] | None, length: int) -> None:
    """Cut ``path`` back to ``length`` bytes (the end of its last checkpointed record)."""
    if path is None:
        return
    size = os.path.getsize(path) if os.path.exists(path) else 0
    if size < length:
        raise ResumeError(f"{path}: holds {size} bytes, fewer than the {length} checkpointed")
    with open(path, "r+b") as handle:
        handle.truncate(length)


class CheckpointKeeper:
    """Writes the checkpoint of one output file atomically."""

    def __init__(self, output: str | os.PathLike[str], fingerprint: str) -> None:
        self.path = checkpoint_path(output)
        self.fingerprint = fingerprint
        self._temporary = self.path.with_name(self.path.name + ".tmp")

    def save(self, checkpoint: Checkpoint) -> None:
        """Replace the checkpoint with ``checkpoint`` (durable once this returns)."""
        with open(self._temporary, "w", encoding="utf-8") as handle:
            json.dump(asdict(checkpoint), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(self._temporary, self.path)

    def remove(self) -> None:
        """Delete the checkpoint: the run finished."""
        for path in (self.path, self._temporary):
            if path.exists():
                path.unlink()
