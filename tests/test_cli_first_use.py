"""What a new user met first (issue 15): a real taxonomy training set as references, reads of
the wrong strand, and error messages that must point the right way. Each test failed before
the change it covers."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import dnaio
import pysam
import pytest

from cli_helpers import run_cli
from streamalign.cli import ExitStatus

DATA = Path(__file__).parent / "data"
READS = DATA / "sam1F.200.fastq.gz"
ECOLI = DATA / "ecoli_16S.fa"
TRAINING_SET = DATA / "example_train_set.fa.gz"  # DADA2 taxonomy training set, 100 genes
COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def training_names() -> list[str]:
    with dnaio.open(TRAINING_SET) as references:
        return [record.name for record in references]


def few_reads(tmp_path: Path, count: int = 20, reverse_complement: bool = False) -> Path:
    path = tmp_path / "reads.fastq"
    with dnaio.open(READS) as reads, dnaio.open(path, mode="w") as out:
        for number, record in enumerate(reads):
            if number == count:
                break
            if reverse_complement:
                record = dnaio.SequenceRecord(
                    record.name, record.sequence.translate(COMPLEMENT)[::-1], record.qualities[::-1]
                )
            out.write(record)
    return path


def test_the_training_set_repeats_names_on_purpose() -> None:
    names = training_names()
    assert len(set(names)) < len(names)  # the fixture still shows the problem


def test_repeated_reference_names_give_valid_sam_and_one_note(tmp_path: Path) -> None:
    reads = few_reads(tmp_path)
    output = tmp_path / "out.sam"
    status, _, stderr = run_cli(["align", "-r", str(TRAINING_SET), str(reads), "-o", str(output)])
    assert status == ExitStatus.SUCCESS
    assert stderr.count("repeat an earlier name") == 1
    pysam.quickcheck(str(output))
    with pysam.AlignmentFile(str(output)) as sam:
        header_names = list(sam.references)
        records = list(sam)
    assert len(header_names) == len(training_names()) == len(set(header_names))
    assert len(records) == 20 and all(not record.is_unmapped for record in records)
    # The rule: a name's first reference keeps it, later ones get _2, _3, ... in file order.
    originals = training_names()
    repeated = next(name for name in originals if originals.count(name) > 1)
    positions = [number for number, name in enumerate(originals) if name == repeated]
    assert header_names[positions[1]] == header_names[positions[0]] + "_2"


def test_every_format_names_references_as_sam_does(tmp_path: Path) -> None:
    reads = few_reads(tmp_path)
    common = ["align", "-r", str(TRAINING_SET), str(reads), "--all-refs", "--quiet"]
    _, sam, _ = run_cli([*common, "--format", "sam"])
    _, tsv, _ = run_cli([*common, "--format", "tsv"])
    _, jsonl, _ = run_cli([*common, "--format", "jsonl"])
    sam_names = [
        line.split(b"\t")[2].decode() for line in sam.splitlines() if not line.startswith(b"@")
    ]
    tsv_lines = tsv.decode().splitlines()
    column = tsv_lines[0].split("\t").index("reference")
    tsv_names = [line.split("\t")[column] for line in tsv_lines[1:]]
    jsonl_names = [json.loads(line)["reference"] for line in jsonl.splitlines()]
    assert tsv_names == jsonl_names
    # SAM writes "*" for unmapped records; every mapped one names what TSV names.
    assert all(s in ("*", t) for s, t in zip(sam_names, tsv_names, strict=True))
    assert sum(s != "*" for s in sam_names) > 0
    assert set(tsv_names) <= {
        line.split("\t")[1][3:] for line in sam.decode().splitlines() if line.startswith("@SQ")
    }


def test_wrong_strand_reads_are_unmapped_by_default(tmp_path: Path) -> None:
    reads = few_reads(tmp_path, 50, reverse_complement=True)
    output = tmp_path / "out.sam"
    statistics = tmp_path / "stats.json"
    status, _, stderr = run_cli(
        ["align", "-r", str(ECOLI), str(reads), "-o", str(output), "--stats-json", str(statistics)]
    )
    assert status == ExitStatus.SUCCESS
    with pysam.AlignmentFile(str(output)) as sam:
        assert all(record.is_unmapped for record in sam)
    document = json.loads(statistics.read_text())
    assert (document["mapped"], document["unmapped"]) == (0, 50)
    assert "unmapped" in stderr and "50" in stderr
    # --strand both finds them; --min-score replaces the chance rule.
    status, _, _ = run_cli(
        ["align", "-r", str(ECOLI), str(reads), "--strand", "both", "-o", str(output), "--quiet"]
    )
    with pysam.AlignmentFile(str(output)) as sam:
        assert all(not record.is_unmapped and record.is_reverse for record in sam)
    run_cli(["align", "-r", str(ECOLI), str(reads), "--min-score", "-1000", "-o", str(output)])
    with pysam.AlignmentFile(str(output)) as sam:
        assert all(not record.is_unmapped for record in sam)


def test_forward_reads_stay_mapped(tmp_path: Path) -> None:
    statistics = tmp_path / "stats.json"
    status, _, _ = run_cli(
        ["align", "-r", str(ECOLI), str(READS), "--quiet", "--stats-json", str(statistics)]
    )
    assert status == ExitStatus.SUCCESS
    assert json.loads(statistics.read_text())["mapped"] == 200


@pytest.mark.parametrize("option", ["-o", "--rejects", "--stats-json"])
def test_an_output_that_is_a_directory_says_so(option: str, tmp_path: Path) -> None:
    status, output, stderr = run_cli(["align", "-r", str(ECOLI), str(READS), option, str(tmp_path)])
    assert status == ExitStatus.USAGE
    assert output == b""
    assert f"{option} {tmp_path}: is a directory" in stderr
    assert "extension" not in stderr and "Traceback" not in stderr


def test_fastq_references_are_accepted_and_documented(tmp_path: Path) -> None:
    references = tmp_path / "references.fastq.gz"
    with gzip.open(READS, "rb") as source:
        references.write_bytes(gzip.compress(b"".join(source.readlines()[:8])))
    reads = few_reads(tmp_path, 2)
    status, output, _ = run_cli(["align", "-r", str(references), str(reads), "--quiet"])
    assert status == ExitStatus.SUCCESS
    assert output.count(b"@SQ") == 2
    _, help_text, _ = run_cli_help()
    assert "FASTA or FASTQ" in help_text


def run_cli_help() -> tuple[int, str, str]:
    import contextlib
    import io

    from streamalign.cli import main

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = main(["align", "--help"])
    return status, stdout.getvalue(), ""


def fastq_prefix(count: int) -> bytes:
    with gzip.open(READS, "rb") as handle:
        return b"".join(handle.read().splitlines(True)[: 4 * count])


def truncated_gzip(tmp_path: Path) -> tuple[Path, int]:
    """sam1F.200 cut in the middle of its gzip stream; and how many records stay whole."""
    data = READS.read_bytes()
    path = tmp_path / "truncated.fastq.gz"
    path.write_bytes(data[: len(data) // 2])
    text = zlib.decompressobj(wbits=31).decompress(path.read_bytes())  # all that is there
    whole = text.count(b"\n") // 4  # dnaio needs the next header to end a record
    return path, whole


def bad_quality(tmp_path: Path) -> tuple[Path, int]:
    path = tmp_path / "bad_quality.fastq"
    path.write_bytes(fastq_prefix(10) + b"@bad\nACGT\n+\nII\n" + fastq_prefix(20)[40 * 4 :])
    return path, 10


BACKENDS = [
    ["--backend", "serial"],
    ["-j", "2", "--batch-size", "7"],
    ["--backend", "processes", "-j", "2", "--batch-size", "7"],
]


@pytest.mark.parametrize(
    "broken", [truncated_gzip, bad_quality], ids=["truncated-gzip", "bad-quality"]
)
@pytest.mark.parametrize("backend", BACKENDS, ids=["serial", "threads", "processes"])
@pytest.mark.parametrize("output_format", ["tsv", "sam"])
def test_records_before_a_malformed_record_are_written(
    broken, backend: list[str], output_format: str, tmp_path: Path
) -> None:
    path, good = broken(tmp_path)
    assert good > 5
    status, output, stderr = run_cli(
        ["align", "-r", str(ECOLI), str(path), "--format", output_format, "--quiet", *backend]
    )
    assert status == ExitStatus.ERROR
    assert stderr.count("\n") == 1 and stderr.startswith(f"streamalign: error: {path}")
    assert f"record {good + 1}" in stderr
    # Exactly what the good records alone give, complete lines, in order.
    prefix = tmp_path / "prefix.fastq"
    prefix.write_bytes(fastq_prefix(good))
    status, expected, _ = run_cli(
        ["align", "-r", str(ECOLI), str(prefix), "--format", output_format, "--quiet"]
    )
    assert status == ExitStatus.SUCCESS
    drop_program = [line for line in output.splitlines(True) if not line.startswith(b"@PG")]
    assert b"".join(drop_program) == b"".join(
        line for line in expected.splitlines(True) if not line.startswith(b"@PG")
    )


@pytest.mark.parametrize("backend", BACKENDS, ids=["serial", "threads", "processes"])
def test_records_before_an_invalid_record_are_written_with_on_invalid_error(
    backend: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "invalid.fastq"
    path.write_bytes(
        fastq_prefix(10) + b"@inv\nACGTJACGT\n+\nIIIIIIIII\n" + fastq_prefix(20)[40 * 4 :]
    )
    status, output, stderr = run_cli(
        [
            "align",
            "-r",
            str(ECOLI),
            str(path),
            "--format",
            "tsv",
            "--quiet",
            "--on-invalid",
            "error",
            *backend,
        ]
    )
    assert status == ExitStatus.ERROR
    assert stderr.count("\n") == 1 and "record 11 (inv)" in stderr and "position 5" in stderr
    lines = output.decode().splitlines()
    assert len(lines) == 1 + 10 and all(line.count("\t") == lines[0].count("\t") for line in lines)
