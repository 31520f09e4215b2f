"""streamalign.checkpoint: where checkpoints live, that they round-trip and are replaced
whole, that bad ones are refused, and cutting an output back to its checkpointed length."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamalign.checkpoint import (
    SCHEMA_VERSION,
    Checkpoint,
    CheckpointKeeper,
    ResumeError,
    checkpoint_path,
    load_checkpoint,
    truncate_to,
)
from streamalign.errors import StreamAlignError


def test_the_checkpoint_sits_next_to_its_output(tmp_path: Path) -> None:
    assert checkpoint_path(tmp_path / "out.sam") == tmp_path / "out.sam.checkpoint"
    assert checkpoint_path("runs/a.b.tsv") == Path("runs/a.b.tsv.checkpoint")


def test_a_saved_checkpoint_loads_back_whole(tmp_path: Path) -> None:
    output = tmp_path / "out.sam"
    keeper = CheckpointKeeper(output, fingerprint="f00d")
    saved = Checkpoint(
        records=120,
        output_bytes=45_678,
        rejects_bytes=90,
        fingerprint="f00d",
        statistics={"records": 118, "rejected": 2},
    )
    keeper.save(saved)
    assert load_checkpoint(output) == saved
    document = json.loads(checkpoint_path(output).read_text())  # plain JSON, by field name
    assert document["records"] == 120 and document["schema_version"] == SCHEMA_VERSION
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.sam.checkpoint"]


def test_saving_again_replaces_the_checkpoint_and_remove_deletes_it(tmp_path: Path) -> None:
    output = tmp_path / "out.tsv"
    keeper = CheckpointKeeper(output, fingerprint="x")
    for records in (1, 2, 3):
        keeper.save(Checkpoint(records, 10 * records, 0, "x"))
    assert load_checkpoint(output).records == 3
    assert load_checkpoint(output).output_bytes == 30
    keeper.remove()
    assert not checkpoint_path(output).exists()
    keeper.remove()  # a second time is harmless
    with pytest.raises(ResumeError, match="nothing to resume"):
        load_checkpoint(output)


def test_a_leftover_temporary_file_is_removed_too(tmp_path: Path) -> None:
    output = tmp_path / "out.sam"
    leftover = tmp_path / "out.sam.checkpoint.tmp"  # a save killed before its rename
    leftover.write_text("{")
    keeper = CheckpointKeeper(output, fingerprint="x")
    keeper.save(Checkpoint(5, 50, 0, "x"))
    assert not leftover.exists()  # the rename consumed it
    leftover.write_text("{")
    keeper.remove()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "content",
    [
        "{",
        "[]",
        '{"records": 1, "output_bytes": 0, "rejects_bytes": 0, "fingerprint": "f"}',
        '{"records": 1, "output_bytes": 0, "rejects_bytes": 0, "fingerprint": "f", '
        '"schema_version": 99}',
        '{"records": 1, "output_bytes": 0, "rejects_bytes": 0, "fingerprint": "f", '
        '"schema_version": 1, "unexpected": true}',
        '{"output_bytes": 0, "rejects_bytes": 0, "fingerprint": "f", "schema_version": 1}',
    ],
    ids=["truncated", "not_an_object", "no_version", "other_version", "extra_field", "missing"],
)
def test_a_bad_checkpoint_is_a_resume_error(content: str, tmp_path: Path) -> None:
    output = tmp_path / "out.sam"
    checkpoint_path(output).write_text(content)
    with pytest.raises(ResumeError, match="unreadable checkpoint"):
        load_checkpoint(output)


def test_resume_errors_are_streamalign_errors() -> None:
    assert issubclass(ResumeError, StreamAlignError)


def test_truncate_cuts_the_output_back_to_the_checkpointed_length(tmp_path: Path) -> None:
    path = tmp_path / "out.sam"
    path.write_bytes(b"line 1\nline 2\nhalf a li")
    truncate_to(path, 14)
    assert path.read_bytes() == b"line 1\nline 2\n"
    truncate_to(path, 14)  # already that long
    assert path.read_bytes() == b"line 1\nline 2\n"
    truncate_to(None, 5)  # no file (no --rejects): nothing to do
    with pytest.raises(ResumeError, match="fewer than the 20 checkpointed"):
        truncate_to(path, 20)
    assert path.read_bytes() == b"line 1\nline 2\n"  # left as it was
