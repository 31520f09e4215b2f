"""streamalign.pipeline: run() against the aligner and a writer used directly, batching, the
run's account, resuming, and the batch task's isolation of failing records."""

from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pytest

from cli_helpers import ECOLI, READS
from fault_tasks import FaultyAlignBatchTask
from streamalign import _config
from streamalign.aligner import Aligner
from streamalign.errors import InvalidSequenceError
from streamalign.io.formats import make_writer
from streamalign.io.readers import read_batches, read_references
from streamalign.pipeline import (
    AlignBatchTask,
    RunOptions,
    RunStatistics,
    batch_limits,
    fingerprint,
    run,
)
from streamalign.records import SequenceBatch
from streamalign.significance import ChanceFilter

FRAGMENT = "GAGTTTGATCCTGGCTCAGATTGAACGCTGGCGGCATGCTTAACACATGCAAGTCGAACGGCAG"


def random_fasta(count: int, seed: int = 0, length: int = 40) -> tuple[bytes, list[str]]:
    generator = np.random.default_rng(seed)
    sequences = ["".join(generator.choice(list("ACGT"), size=length)) for _ in range(count)]
    text = "".join(f">r{k}\n{sequence}\n" for k, sequence in enumerate(sequences))
    return text.encode(), sequences


def direct_output(aligner: Aligner, sequences: list[str], output_format: str) -> bytes:
    """What run() should write: the aligner and the writer, used directly on every record."""
    alignments = aligner.align_many(sequences, names=[f"r{k}" for k in range(len(sequences))])
    stream = io.BytesIO()
    writer = make_writer(
        output_format,
        stream,
        reference_names=aligner.reference_names,
        reference_lengths=[len(reference) for reference in aligner.references],
        command_line="streamalign",
    )
    writer.write_header()
    writer.write_batch(
        alignments, ChanceFilter(aligner.references, aligner.scoring).mapped(alignments)
    )
    return stream.getvalue()


def run_on_text(text: bytes, options: RunOptions, aligner: Aligner, **keywords):
    output = io.BytesIO()
    statistics = run(aligner, ["-"], output, options, stdin=io.BytesIO(text), **keywords)
    return output.getvalue(), statistics


@pytest.mark.parametrize("output_format", ["sam", "tsv", "jsonl"])
@pytest.mark.parametrize(("backend", "workers"), [("serial", 1), ("threads", 2)])
def test_run_writes_what_the_aligner_and_writer_give_record_by_record(
    output_format: str, backend: str, workers: int
) -> None:
    # Half random (unmapped by the default chance rule), half pieces of the fragment.
    _, sequences = random_fasta(15)
    sequences += [FRAGMENT[start : start + 40] for start in range(0, 15)]
    text = "".join(f">r{k}\n{sequence}\n" for k, sequence in enumerate(sequences)).encode()
    aligner = Aligner(FRAGMENT, "semiglobal", reference_name="fragment")
    options = RunOptions(
        output_format=output_format, backend=backend, workers=workers, batch_records=4
    )
    output, statistics = run_on_text(text, options, aligner)
    assert output == direct_output(aligner, sequences, output_format)
    assert (statistics.records, statistics.mapped, statistics.rejected) == (30, 15, 0)
    assert statistics.batches == 8  # 30 records, 4 a batch
    assert sum(statistics.records_per_worker.values()) == 30


def test_min_score_counts_the_records_below_it_as_unmapped() -> None:
    text, sequences = random_fasta(40, seed=3)
    aligner = Aligner(FRAGMENT, "semiglobal")
    scores = [aligner.align(sequence).score for sequence in sequences]
    threshold = sorted(scores)[len(scores) // 2]
    options = RunOptions(output_format="tsv", backend="serial", min_score=threshold)
    output, statistics = run_on_text(text, options, aligner)
    expected_mapped = sum(score >= threshold for score in scores)
    assert 0 < expected_mapped < 40
    assert (statistics.mapped, statistics.unmapped) == (expected_mapped, 40 - expected_mapped)
    mapped_column = [line.split(b"\t")[3] for line in output.splitlines()[1:]]
    assert mapped_column.count(b"1") == expected_mapped


def test_invalid_records_are_rejected_skipped_or_stop_the_run() -> None:
    text = b">good1\nGAGTTTGATCC\n>bad\nGAGTJTGATCC\n>good2\nCTGGCTCAG\n"
    aligner = Aligner(FRAGMENT, "semiglobal")
    rejects = io.BytesIO()
    reasons: list[str] = []
    options = RunOptions(output_format="tsv", backend="serial", on_invalid="reject")
    output, statistics = run_on_text(
        text, options, aligner, rejects=rejects, on_rejection=reasons.append
    )
    assert [line.split(b"\t")[0] for line in output.splitlines()[1:]] == [b"good1", b"good2"]
    assert rejects.getvalue() == b">bad\nGAGTJTGATCC\n"
    assert statistics.rejected == 1 and len(reasons) == 1 and "record 2 (bad)" in reasons[0]
    skipped, statistics = run_on_text(
        text, RunOptions(output_format="tsv", backend="serial", on_invalid="skip"), aligner
    )
    assert skipped == output and statistics.rejected == 1
    with pytest.raises(InvalidSequenceError, match="record 2"):
        run_on_text(
            text, RunOptions(output_format="tsv", backend="serial", on_invalid="error"), aligner
        )
    with pytest.raises(ValueError, match="on_invalid"):
        run_on_text(text, RunOptions(on_invalid="ignore"), aligner)


def test_skip_records_continues_without_a_header() -> None:
    text, _ = random_fasta(20, seed=5)
    aligner = Aligner(FRAGMENT, "semiglobal")
    options = RunOptions(output_format="tsv", backend="serial", batch_records=6)
    full, _ = run_on_text(text, options, aligner)
    resumed, statistics = run_on_text(text, options, aligner, skip_records=7)
    header_and_records = full.splitlines(True)
    assert resumed == b"".join(header_and_records[1 + 7 :])
    assert statistics.records == 13


def test_a_small_input_is_spread_over_every_worker() -> None:
    # Without --batch-size, the first batch is cut into 2 * workers pieces.
    text, _ = random_fasta(40, seed=1)
    aligner = Aligner(FRAGMENT, "semiglobal")
    for workers, batches in ((1, 1), (2, 4), (3, 6)):
        options = RunOptions(output_format="tsv", backend="threads", workers=workers)
        _, statistics = run_on_text(text, options, aligner)
        assert statistics.batches == batches, workers
    explicit = RunOptions(output_format="tsv", backend="threads", workers=2, batch_records=100)
    assert run_on_text(text, explicit, aligner)[1].batches == 1


def test_batch_limits_follow_the_cell_target_or_the_requested_size() -> None:
    aligner = Aligner({"one": "A" * 600, "two": "C" * 400})
    cells = _config.TARGET_CELLS_PER_BATCH
    assert batch_limits(aligner, "forward", None) == (_config.MAX_RECORDS_PER_BATCH, cells // 1000)
    assert batch_limits(aligner, "both", None) == (_config.MAX_RECORDS_PER_BATCH, cells // 2000)
    assert batch_limits(aligner, "both", 7) == (7, 2**62)


def test_batch_size_is_exact_even_past_the_automatic_limit_on_bases() -> None:
    # Against a 17-kb reference the automatic batches hold about 145 reads of 250 bases;
    # a requested size of 150 must give 150 records a batch all the same.
    gene = "".join(ECOLI.read_text().splitlines()[1:])
    aligner = Aligner(gene * 12, "semiglobal")
    _, automatic_bases = batch_limits(aligner, "forward", None)
    assert automatic_bases < 150 * 250
    records, bases = batch_limits(aligner, "forward", 150)
    sizes = [
        len(batch) for batch in read_batches([str(READS)], max_records=records, max_bases=bases)
    ]
    assert sizes == [150, 50]


def test_the_statistics_account() -> None:
    statistics = RunStatistics(records=10, mapped=7, unmapped=3, rejected=2, batches=3)
    statistics.wall_seconds = 2.0
    statistics.records_per_worker = {"1": 6, "0": 4}
    assert statistics.records_per_second == 5.0
    assert RunStatistics().records_per_second == 0.0
    document = json.loads(statistics.to_json())
    assert document["schema_version"] == 1 and document["records_per_second"] == 5.0
    assert document["records"] == 10 and document["records_per_worker"] == {"0": 4, "1": 6}
    assert statistics.counts() == {
        "records": 10,
        "mapped": 7,
        "unmapped": 3,
        "rejected": 2,
        "batches": 3,
    }
    lines = statistics.summary().splitlines()
    assert lines[0].split() == ["records", "10"]
    assert [line.split()[0] for line in lines[-2:]] == ["worker-0", "worker-1"]
    statistics.interrupted = True
    assert statistics.summary().splitlines()[-1].startswith("interrupted")


def test_the_fingerprint_covers_the_output_not_the_execution() -> None:
    aligner = Aligner(FRAGMENT, "semiglobal")
    base = RunOptions(output_format="sam")
    same = fingerprint(aligner, base, ["reads.fa"])
    assert fingerprint(aligner, RunOptions(backend="processes", workers=7), ["reads.fa"]) == same
    assert fingerprint(aligner, RunOptions(batch_records=3, ordered=False), ["reads.fa"]) == same
    others = {
        fingerprint(aligner, RunOptions(output_format="tsv"), ["reads.fa"]),
        fingerprint(aligner, RunOptions(min_score=3.0), ["reads.fa"]),
        fingerprint(aligner, RunOptions(strand="both"), ["reads.fa"]),
        fingerprint(aligner, base, ["other.fa"]),
        fingerprint(Aligner(FRAGMENT, "global"), base, ["reads.fa"]),
        fingerprint(Aligner(FRAGMENT[:-1], "semiglobal"), base, ["reads.fa"]),
    }
    assert same not in others and len(others) == 6


def test_the_task_sets_a_failing_record_aside_and_aligns_the_rest() -> None:
    aligner = Aligner(read_references(str(ECOLI)), "semiglobal")
    options = RunOptions(output_format="tsv")
    batch = next(read_batches([str(READS)], max_records=13, max_bases=2**62))
    culprit = batch.names[6]
    clean = AlignBatchTask(aligner, options)(batch)
    faulty = FaultyAlignBatchTask(aligner, options, kind="raise", culprit=culprit)(batch)
    kept = [line for line in clean.output.splitlines(True) if not line.startswith(culprit.encode())]
    assert faulty.output == b"".join(kept)
    assert (faulty.records, faulty.rejected) == (12, 1)
    assert faulty.rejects.startswith(f"@{culprit}".encode())
    assert faulty.reasons == [f"record 7 ({culprit}): RuntimeError: injected fault on {culprit}"]


def test_the_task_pickles_without_its_writer() -> None:
    aligner = Aligner(FRAGMENT, "semiglobal")
    task = AlignBatchTask(aligner, RunOptions(output_format="jsonl"))
    batch = SequenceBatch.from_strings(["GAGTTTGATCC", "CTGGCTCAG"], names=["a", "b"])
    first = task(batch)  # builds the task's writer
    copy = pickle.loads(pickle.dumps(task))
    assert copy._writer is None
    assert copy(batch).output == first.output


def test_exhaustive_batches_hold_enough_reads_to_fill_the_lanes(monkeypatch) -> None:
    """Against a database the cell target alone gives one read per batch; the exhaustive
    search batches more, within its own cell budget, and the searched paths do not."""
    references = {f"gene{number}": "ACGT" * 250 for number in range(8)}  # 8,000 bases
    monkeypatch.setattr(_config, "TARGET_CELLS_PER_BATCH", 80_000)
    monkeypatch.setattr(_config, "EXHAUSTIVE_BATCH_CELLS", 64 * 80_000)
    exhaustive = Aligner(references, "semiglobal", search="exhaustive")
    assert batch_limits(exhaustive, "forward", None)[1] == 64 * 80_000 // 8000
    assert batch_limits(exhaustive, "both", None)[1] == 64 * 80_000 // 16000
    monkeypatch.setattr(_config, "EXHAUSTIVE_BATCH_BASES", 100)
    assert batch_limits(exhaustive, "forward", None)[1] == 100
    # Every reference reported, the searched path, one reference: the cell target alone.
    assert batch_limits(exhaustive, "forward", None, all_references=True)[1] == 10
    assert batch_limits(Aligner(references, "semiglobal"), "forward", None)[1] == 10
    single = Aligner("ACGT" * 2000, "semiglobal", search="exhaustive")
    assert batch_limits(single, "forward", None)[1] == 10
