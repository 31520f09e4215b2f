"""The index file (``streamalign index``, ``-r refs.idx``): round trip, memory mapping,
pickling by path, every refusal (foreign, version, truncated, damaged, stale, k, alphabet),
and ``align -r refs.idx`` against ``align -r refs.fa`` byte for byte, on the 100 real 16S
genes of the DADA2 training set and real MiSeq reads."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import mmap
import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dnaio
import numpy as np
import pytest

from cli_helpers import DATA, ECOLI, READS, run_cli, small_reads, without_program_line
from streamalign import Aligner, AlignmentTooLargeError, _config
from streamalign.alphabet import encode_string
from streamalign.errors import IndexFileError
from streamalign.options import ExitStatus, read_reference_file
from streamalign.references import ReferenceSequences
from streamalign.search import indexfile
from streamalign.search.index import KmerIndex, index_arrays
from streamalign.search.indexfile import (
    MAGIC,
    MappedKmerIndex,
    file_sha256,
    is_index_file,
    load_index,
    save_index,
)

TRAINING_SET = DATA / "example_train_set.fa.gz"  # DADA2's taxonomy training set: 100 16S genes
READ_COUNT = 8


def first_reads(count: int = READ_COUNT) -> tuple[list[str], list[str]]:
    """Names and sequences of the first real MiSeq reads."""
    with dnaio.open(READS) as reads:
        records = [record for record, _ in zip(reads, range(count), strict=False)]
    return [record.name for record in records], [record.sequence for record in records]


def in_memory_index(references: list[tuple[str, str]], k: int = 8, **options: Any) -> KmerIndex:
    """The index of ``references`` built in memory, as ``Aligner`` would."""
    from streamalign.alphabet import encode_string

    codes = [encode_string(sequence) for _, sequence in references]
    offsets = np.zeros(len(codes) + 1, np.int64)
    np.cumsum([len(item) for item in codes], out=offsets[1:])
    return index_arrays(
        np.concatenate(codes), offsets, k=k, names=[name for name, _ in references], **options
    )


def header_of(path: Path) -> tuple[dict[str, Any], int]:
    """The JSON header and the data section's start, read by the layout the module documents."""
    data = path.read_bytes()
    assert data[:16] == MAGIC
    length = int.from_bytes(data[24:32], "little")
    header_bytes = data[64 : 64 + length]
    assert hashlib.sha256(header_bytes).digest() == data[32:64]
    return json.loads(header_bytes), -(-(64 + length) // 64) * 64


def rewrite_header(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit the header and write it back with a valid checksum (a well-formed foreign file)."""
    data = path.read_bytes()
    header, data_start = header_of(path)
    change(header)
    new = json.dumps(header).encode()
    prefix = data[:24] + len(new).to_bytes(8, "little") + hashlib.sha256(new).digest()
    padding = bytes(-(-(64 + len(new)) // 64) * 64 - 64 - len(new))
    path.write_bytes(prefix + new + padding + data[data_start:])


def is_mapped(array: np.ndarray) -> bool:
    """Whether ``array`` is a view of a memory-mapped file (numpy's base, then the buffer's)."""
    base: Any = array
    while isinstance(base, (np.ndarray, memoryview)):
        if isinstance(base, np.ndarray) and base.flags.owndata:
            return False
        base = base.base if isinstance(base, np.ndarray) else base.obj
    return isinstance(base, mmap.mmap)


def one_line_error(status: int, errors: str, path: Path | str, *words: str) -> None:
    assert status == ExitStatus.ERROR
    assert errors.count("\n") == 1 and "Traceback" not in errors, errors
    assert str(path) in errors, errors
    for word in words:
        assert word in errors, errors


@pytest.fixture(scope="module")
def references() -> list[tuple[str, str]]:
    return read_reference_file(str(TRAINING_SET))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``streamalign index`` of the training set (never modified: tests copy it)."""
    path = tmp_path_factory.mktemp("index") / "train.idx"
    status, _, errors = run_cli(["index", str(TRAINING_SET), "-o", str(path)])
    assert status == ExitStatus.SUCCESS, errors
    lines = errors.splitlines()
    assert "NAME_2" in lines[0]  # the training set repeats names: renamed as align does
    assert lines[1].startswith("streamalign index: 100 references (") and str(path) in lines[1]
    assert "k=8, 100 clusters" in lines[1]
    return path


@pytest.fixture
def copy(built: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.idx"
    shutil.copyfile(built, target)
    return target


# --------------------------------------------------------------------------- round trip


def test_round_trip_keeps_every_array_name_and_sequence(built: Path, references: list) -> None:
    loaded = load_index(built)
    expected = in_memory_index(references)
    for field in dataclasses.fields(KmerIndex):
        value = getattr(loaded, field.name)
        if isinstance(value, np.ndarray):
            assert value.dtype == getattr(expected, field.name).dtype, field.name
            np.testing.assert_array_equal(value, getattr(expected, field.name), err_msg=field.name)
    assert loaded.k == 8 and list(loaded.names) == [name for name, _ in references]
    assert loaded.reference_pairs() == references
    assert loaded.header.source is not None
    assert loaded.header.source.path == str(TRAINING_SET.resolve())
    assert loaded.header.source.sha256 == hashlib.sha256(TRAINING_SET.read_bytes()).hexdigest()


def test_layout_is_the_documented_one(built: Path, references: list) -> None:
    """Read an array with nothing but the documented layout (magic, lengths, JSON, offsets)."""
    header, data_start = header_of(built)
    assert header["format_version"] == 3 and header["k"] == 8
    assert int.from_bytes(built.read_bytes()[16:20], "little") == 3
    entry = header["arrays"]["postings"]
    assert (data_start + entry["offset"]) % 64 == 0
    postings = np.fromfile(
        built, dtype=entry["dtype"], count=entry["length"], offset=data_start + entry["offset"]
    )
    np.testing.assert_array_equal(postings, in_memory_index(references).postings)
    assert hashlib.sha256(postings.tobytes()).hexdigest() == entry["sha256"]


def test_search_with_the_loaded_index_equals_the_exhaustive_alignment(
    built: Path, references: list
) -> None:
    names, reads = first_reads()
    loaded = load_index(built)
    searched = Aligner(references, "semiglobal", index=loaded)
    exhaustive = Aligner(references, "semiglobal", search="exhaustive")
    found = searched.align_many(reads, names=names, strand="both")
    expected = exhaustive.align_many(reads, names=names, strand="both")
    assert searched.database_search().index is loaded  # used as it is, not rebuilt
    np.testing.assert_array_equal(found.reference_index, expected.reference_index)
    np.testing.assert_array_equal(found.scores, expected.scores)
    assert found.cigars() == expected.cigars()
    assert len(set(found.reference_index.tolist())) > 1  # reads of several genes


def test_arrays_are_views_of_the_mapped_file_that_never_write_it(copy: Path) -> None:
    digest = file_sha256(copy)
    loaded = load_index(copy)
    for name in (*indexfile._INDEX_ARRAYS, "sequences"):
        array = getattr(loaded, name)
        assert is_mapped(array), name
    loaded.postings[:10] = -1  # copy-on-write: this process's pages only
    assert file_sha256(copy) == digest
    assert load_index(copy).postings[0] != -1
    assert not is_mapped(np.arange(3)) and not is_mapped(np.arange(3)[1:])


def test_a_loaded_index_pickles_as_its_path(built: Path, references: list) -> None:
    loaded = load_index(built)
    array_bytes = loaded.header.array_bytes
    assert array_bytes > 1_000_000
    pickled = pickle.dumps(loaded)
    assert len(pickled) < 1000
    again = pickle.loads(pickled)
    assert isinstance(again, MappedKmerIndex) and is_mapped(again.postings)
    np.testing.assert_array_equal(again.postings, loaded.postings)
    assert again.names == loaded.names
    # The aligner carries the references, not the index: an in-memory index would add it.
    from_file = Aligner(references, "semiglobal", index=loaded)
    from_memory = Aligner(references, "semiglobal", index=in_memory_index(references))
    difference = len(pickle.dumps(from_memory)) - len(pickle.dumps(from_file))
    assert difference > array_bytes - 100_000


def test_an_aligner_of_a_loaded_index_shares_its_letters(built: Path, references: list) -> None:
    """With an index opened from a file, the aligner's references are views of its mapping
    and pickle as the path: a worker gets the names, not the letters or codes."""
    loaded = load_index(built)
    aligner = Aligner(references, "semiglobal", index=loaded)
    assert is_mapped(aligner.references.ascii) and is_mapped(aligner.references.codes_all)
    letters = sum(len(sequence) for _, sequence in references)
    pickled = pickle.dumps(aligner)
    names = sum(len(name) for name, _ in references)
    assert len(pickled) < names + 20_000
    assert len(pickle.dumps(Aligner(references, "semiglobal"))) > 2 * letters  # letters, codes
    again = pickle.loads(pickled)
    assert is_mapped(again.references.ascii)
    assert list(again.references) == [sequence for _, sequence in references]
    assert again.references.codes(3).tolist() == encode_string(references[3][1]).tolist()
    # Other letters than the index's: the aligner keeps its own (and the search refuses a
    # mismatching index by its reference count only, so the letters must be its own).
    changed = [(name, sequence.lower()) for name, sequence in references]
    own = Aligner(changed, "semiglobal", index=loaded)
    assert not is_mapped(own.references.ascii)
    assert own.references[0] == changed[0][1]
    reads = first_reads()[1]
    assert np.array_equal(
        again.align_many(reads).integer_scores, aligner.align_many(reads).integer_scores
    )


def test_unpickling_refuses_a_replaced_file(copy: Path, references: list) -> None:
    pickled = pickle.dumps(load_index(copy))
    save_index(in_memory_index(references, k=6), copy, source=None)
    with pytest.raises(IndexFileError, match="replaced during the run"):
        pickle.loads(pickled)
    copy.unlink()
    with pytest.raises(IndexFileError, match="must be at that path there too"):
        pickle.loads(pickled)


# --------------------------------------------------------------------------- refusals


def test_foreign_files_are_not_indexes(tmp_path: Path) -> None:
    fasta_named_idx = tmp_path / "genes.idx"
    shutil.copyfile(ECOLI, fasta_named_idx)
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00\x01 not an index at all" * 10)
    for path in (fasta_named_idx, garbage):
        with pytest.raises(IndexFileError, match="not a streamalign index"):
            load_index(path)
    status, _, errors = run_cli(["align", "-r", str(fasta_named_idx), str(READS)])
    one_line_error(status, errors, fasta_named_idx, "not a streamalign index")
    assert not is_index_file(ECOLI) and not is_index_file(garbage)


def test_another_format_version_is_refused(copy: Path) -> None:
    data = bytearray(copy.read_bytes())
    data[16:20] = (1).to_bytes(4, "little")  # (the layout before families)
    copy.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="format version 1, but this streamalign reads"):
        load_index(copy)
    status, _, errors = run_cli(["align", "-r", str(copy), str(READS)])
    one_line_error(status, errors, copy, "version 1", "streamalign index")


@pytest.mark.parametrize("kept", [40, 100, 0.5, -1])
def test_a_truncated_file_is_refused(copy: Path, kept: float) -> None:
    data = copy.read_bytes()
    end = int(len(data) * kept) if isinstance(kept, float) else kept % len(data)
    copy.write_bytes(data[:end])
    with pytest.raises(IndexFileError, match="truncated"):
        load_index(copy)
    status, _, errors = run_cli(["align", "-r", str(copy), str(READS)])
    one_line_error(status, errors, copy, "truncated")


def test_a_flipped_byte_is_caught(copy: Path) -> None:
    header, data_start = header_of(copy)
    data = bytearray(copy.read_bytes())
    entry = header["arrays"]["postings"]
    data[data_start + entry["offset"] + 4 * (entry["length"] // 2)] ^= 0x10
    copy.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="checksum mismatch in array 'postings'"):
        load_index(copy)  # small: hashed on every load
    status, _, errors = run_cli(["align", "-r", str(copy), str(READS)])
    one_line_error(status, errors, copy, "checksum mismatch", "damaged")
    load_index(copy, verify=False)  # sizes only: asked for


def test_large_indexes_are_hashed_on_request_only(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header, data_start = header_of(copy)
    data = bytearray(copy.read_bytes())
    data[data_start + header["arrays"]["sequences"]["offset"]] ^= 0x20  # 'A' -> 'a'
    copy.write_bytes(bytes(data))
    monkeypatch.setattr(_config, "INDEX_VERIFY_BYTES", 1000)  # as if 2 GB
    load_index(copy)
    status, _, errors = run_cli(["index", "--verify", str(copy)])
    one_line_error(status, errors, copy, "checksum mismatch in array 'sequences'")


@pytest.mark.parametrize(
    ("array", "value"), [("family_of", 2**30), ("family_consensus_codes", 200)]
)
def test_a_family_outside_its_tables_is_caught_unhashed(
    copy: Path, monkeypatch: pytest.MonkeyPatch, array: str, value: int
) -> None:
    """A large index is not hashed on every open, but a family or consensus letter that
    would send the search outside its arrays is still refused (``_check_shapes``)."""
    header, data_start = header_of(copy)
    entry = header["arrays"][array]
    assert entry["length"] > 0  # the training set holds families
    data = bytearray(copy.read_bytes())
    width = np.dtype(entry["dtype"]).itemsize
    start = data_start + entry["offset"]
    data[start : start + width] = np.array([value], dtype=entry["dtype"]).tobytes()
    copy.write_bytes(bytes(data))
    monkeypatch.setattr(_config, "INDEX_VERIFY_BYTES", 1000)  # as if 2 GB
    with pytest.raises(IndexFileError, match="do not fit together"):
        load_index(copy)


def test_a_damaged_header_is_caught(copy: Path) -> None:
    data = bytearray(copy.read_bytes())
    position = data.index(b'"k": 8') + 5
    data[position] = ord("9")
    copy.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="header checksum mismatch"):
        load_index(copy)


def test_bytes_past_the_arrays_are_caught(copy: Path) -> None:
    with open(copy, "ab") as handle:
        handle.write(b"\0" * 64)
    with pytest.raises(IndexFileError, match="64 bytes more than its header describes"):
        load_index(copy)


@pytest.mark.parametrize(
    ("field", "value"),
    [("alphabet", "ACGTN"), ("kmer_encoding", 2)],
    ids=["alphabet", "kmer_encoding"],
)
def test_another_alphabet_or_encoding_is_refused(copy: Path, field: str, value: Any) -> None:
    rewrite_header(copy, lambda header: header.update({field: value}))
    with pytest.raises(IndexFileError, match="another alphabet or k-mer encoding"):
        load_index(copy)
    status, _, errors = run_cli(["align", "-r", str(copy), str(READS)])
    one_line_error(status, errors, copy, "alphabet")


def test_the_rewritten_header_alone_still_loads(copy: Path) -> None:
    """The helper above makes valid files: what the two tests refuse is the field."""
    rewrite_header(copy, lambda header: None)
    assert load_index(copy).reference_count == 100


def test_another_k_is_refused(built: Path) -> None:
    with pytest.raises(IndexFileError, match="built with k=8, but k=9 was asked"):
        load_index(built, k=9)
    status, _, errors = run_cli(["align", "-r", str(built), "-k", "9", str(READS)])
    one_line_error(status, errors, built, "k=8", "-k 9")
    assert load_index(built, k=8).k == 8


def test_a_stale_index_is_refused_and_a_touched_or_gone_fasta_is_fine(tmp_path: Path) -> None:
    fasta = tmp_path / "genes.fa"
    fasta.write_bytes(gzip.decompress(TRAINING_SET.read_bytes()))
    index = tmp_path / "genes.idx"
    assert run_cli(["index", str(fasta), "-o", str(index), "--quiet"])[0] == ExitStatus.SUCCESS
    status = os.stat(fasta)
    os.utime(fasta, ns=(status.st_atime_ns, status.st_mtime_ns + 5_000_000_000))  # touched
    assert load_index(index).reference_count == 100
    text = fasta.read_bytes()
    fasta.write_bytes(text.replace(b"A", b"C", 1))  # same size, other content, new mtime
    os.utime(fasta, ns=(status.st_atime_ns, status.st_mtime_ns + 9_000_000_000))
    with pytest.raises(IndexFileError, match="stale"):
        load_index(index)
    fasta.write_bytes(text + b">extra\nACGTACGTAC\n")
    status_code, _, errors = run_cli(["align", "-r", str(index), str(READS)])
    one_line_error(status_code, errors, index, "stale", str(fasta), "streamalign index")
    load_index(index, check_source=False)
    fasta.unlink()  # gone: the index holds the sequences
    assert load_index(index).reference_count == 100


def test_expected_source(built: Path, tmp_path: Path) -> None:
    assert load_index(built, expected_source=TRAINING_SET).reference_count == 100
    with pytest.raises(IndexFileError, match="whose bytes differ"):
        load_index(built, expected_source=ECOLI)
    bare = tmp_path / "bare.idx"
    save_index(load_index(built), bare, source=None)
    with pytest.raises(IndexFileError, match="records no source FASTA"):
        load_index(bare, expected_source=TRAINING_SET)


# --------------------------------------------------------------------------- writing


def test_nothing_is_half_written(
    copy: Path, references: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = copy.read_bytes()

    def failing_fsync(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(indexfile.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        save_index(in_memory_index(references), copy, source=None)
    with pytest.raises(OSError, match="No space left"):
        save_index(in_memory_index(references), copy.parent / "new.idx", source=None)
    assert sorted(path.name for path in copy.parent.iterdir()) == ["copy.idx"]
    assert copy.read_bytes() == before  # the old index is untouched
    status, _, errors = run_cli(["index", str(TRAINING_SET), "-o", str(copy), "--quiet"])
    one_line_error(status, errors, copy, "cannot write the index", "No space left on device")
    assert sorted(path.name for path in copy.parent.iterdir()) == ["copy.idx"]


def test_save_index_checks_the_sequences(references: list, tmp_path: Path) -> None:
    index = in_memory_index(references)
    sequences = [sequence for _, sequence in references]
    with pytest.raises(ValueError, match="differ"):
        save_index(index, tmp_path / "x.idx", source=None, sequences=[*sequences[1:], "A"])
    with pytest.raises(ValueError, match="differ"):
        save_index(index, tmp_path / "x.idx", source=None, sequences=sequences[::-1])
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- command line


@pytest.mark.parametrize(
    "execution",
    [
        ["--backend", "serial", "--format", "tsv"],
        ["--backend", "serial", "--strand", "both"],
        ["-j", "2", "--batch-size", "3"],
        ["--backend", "processes", "-j", "2", "--start-method", "spawn", "--batch-size", "3"],
    ],
    ids=["serial-tsv", "serial-both", "threads-2", "processes-spawn-2"],
)
def test_align_with_the_index_equals_align_with_the_fasta(
    built: Path, execution: list[str], tmp_path: Path
) -> None:
    """Byte for byte, SAM and TSV, one strand and both, serial and 2 workers. With processes
    the spawned workers get the index as its path; the FASTA side then runs serial (that the
    backends agree is ``tests/test_cli.py``'s to show, and each spawn costs seconds)."""
    reads = small_reads(tmp_path, READ_COUNT)
    common = [str(reads), "--quiet", *execution]
    status, from_index, _ = run_cli(["align", "-r", str(built), *common])
    assert status == ExitStatus.SUCCESS
    if "processes" in execution:
        common = [str(reads), "--quiet", "--backend", "serial"]
    status, from_fasta, _ = run_cli(["align", "-r", str(TRAINING_SET), *common])
    assert status == ExitStatus.SUCCESS
    assert without_program_line(from_index) == without_program_line(from_fasta)
    assert from_fasta.count(b"\n") >= READ_COUNT


def test_lower_case_references_survive_the_index(tmp_path: Path) -> None:
    with dnaio.open(ECOLI) as genes:
        gene = next(iter(genes)).sequence
    fasta = tmp_path / "cases.fa"
    fasta.write_text(f">lower\n{gene[:700].lower()}{gene[700:]}\n>upper\n{gene}\n")
    index = tmp_path / "cases.idx"
    assert run_cli(["index", str(fasta), "-o", str(index), "--quiet"])[0] == ExitStatus.SUCCESS
    assert load_index(index).sequence(0) == gene[:700].lower() + gene[700:]
    reads = small_reads(tmp_path, 4)
    common = [str(reads), "--format", "jsonl", "--quiet", "--backend", "serial"]
    _, from_index, _ = run_cli(["align", "-r", str(index), *common])
    _, from_fasta, _ = run_cli(["align", "-r", str(fasta), *common])
    assert from_index == from_fasta
    records = [json.loads(line) for line in from_fasta.splitlines()]
    assert {record["reference"] for record in records} == {"lower"}  # ties: the first
    assert all(any(map(str.islower, record["reference_aligned"])) for record in records)


def test_index_options_k_and_cluster_size(tmp_path: Path) -> None:
    index = tmp_path / "k6.idx"
    arguments = ["index", str(TRAINING_SET), "-o", str(index), "-k", "6", "--cluster-size", "8"]
    status, _, errors = run_cli([*arguments, "--quiet"])
    assert status == ExitStatus.SUCCESS and errors == ""
    loaded = load_index(index, k=6)
    # Clusters of 8: each family's members cut on their own, then the rest.
    family_of = np.asarray(loaded.family_of)
    blocks = np.bincount(np.where(family_of >= 0, family_of, family_of.max() + 1))
    expected = int(np.sum(-(-blocks[blocks > 0] // 8)))
    assert loaded.k == 6 and loaded.cluster_count == expected and loaded.kmer_count == 4**6
    assert expected > 100 // 8
    reads = small_reads(tmp_path, 4)
    common = [str(reads), "--quiet", "--backend", "serial", "--format", "tsv"]
    _, from_index, _ = run_cli(["align", "-r", str(index), "-k", "6", *common])
    _, from_fasta, _ = run_cli(["align", "-r", str(TRAINING_SET), "-k", "6", *common])
    _, default, _ = run_cli(["align", "-r", str(TRAINING_SET), *common])
    assert from_index == from_fasta == default  # exact whatever k


def test_verify(built: Path) -> None:
    status, _, errors = run_cli(["index", "--verify", str(built)])
    assert status == ExitStatus.SUCCESS
    assert errors.count("\n") == 1 and "every checksum matches" in errors
    assert "100 references, k=8" in errors and "(unchanged)" in errors


@pytest.mark.parametrize(
    "arguments",
    [
        ["index", str(TRAINING_SET)],
        ["index", "-", "-o", "x.idx"],
        ["index", "--verify", "x.idx", "-o", "y.idx"],
        ["index", str(TRAINING_SET), "-o", str(TRAINING_SET)],
        ["index", str(TRAINING_SET), "-o", "x.idx", "-k", "20"],
        ["index", str(TRAINING_SET), "-o", "x.idx", "--cluster-size", "0"],
        ["align", "-r", str(TRAINING_SET), "-k", "3", str(READS)],
    ],
    ids=["no-output", "stdin", "verify-output", "onto-fasta", "k-20", "cluster-0", "align-k-3"],
)
def test_usage_errors(arguments: list[str]) -> None:
    status, _, errors = run_cli(arguments)
    assert status == ExitStatus.USAGE and "Traceback" not in errors
    assert not Path("x.idx").exists()


def test_an_output_directory_is_a_usage_error(tmp_path: Path) -> None:
    status, _, errors = run_cli(["index", str(TRAINING_SET), "-o", str(tmp_path)])
    assert status == ExitStatus.USAGE and "is a directory" in errors


@pytest.mark.parametrize(
    ("record", "words"),
    [
        (b">empty\n\n", ["record 2", "'empty'", "empty sequence"]),
        (b">unknown\nNNNNnnnnRYNN\n", ["record 2", "'unknown'", "all N"]),
        (b">bad\nACGT!ACGT\n", ["record 2", "bad", "invalid character '!' at position 5"]),
    ],
    ids=["empty", "all-N", "invalid"],
)
def test_bad_references_are_one_line_errors(
    record: bytes, words: list[str], tmp_path: Path
) -> None:
    fasta = tmp_path / "genes.fa"
    fasta.write_bytes(b">first\nGATTACAGATTACA\n" + record + b">third\nACGTTGCA\n")
    index = tmp_path / "genes.idx"
    status, _, errors = run_cli(["index", str(fasta), "-o", str(index)])
    one_line_error(status, errors, fasta, *words)
    assert list(tmp_path.iterdir()) == [fasta]  # nothing written
    status, _, errors = run_cli(["align", "-r", str(fasta), str(READS), "--quiet"])
    one_line_error(status, errors, fasta, *words[1:])


def test_the_memory_budget_applies_the_same_with_an_index(built: Path, references: list) -> None:
    names, reads = first_reads(2)
    messages = []
    for index in (load_index(built), None):
        aligner = Aligner(references, "global", index=index, memory_budget=10_000)
        with pytest.raises(AlignmentTooLargeError) as raised:
            aligner.align_many(reads, names=names)
        messages.append(str(raised.value))
    assert messages[0] == messages[1] and "more than the budget" in messages[0]


def test_the_aligner_keyword_search_k() -> None:
    """The ``Aligner`` keyword that ``-k`` sets: the k of the index built on first use."""
    references = [("a", "ACGTTGCAGGTACCGATTAGC" * 3), ("b", "TTGACCGATAGCATGCAAGT" * 3)]
    assert Aligner(references, search_k=5).database_search().index.k == 5
    index = in_memory_index(references, k=5)
    with pytest.raises(ValueError, match="k=5, not search_k=6"):
        Aligner(references, index=index, search_k=6)
    with pytest.raises(ValueError, match="between 4 and 13"):
        Aligner(references, search_k=14)


def test_the_cli_takes_an_index_s_references_as_they_are_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-r refs.idx`` makes no string per reference (a 400,000-gene index decoded 600 MB of
    them first): the aligner gets the mapped arrays and the names, repeated ones renamed as
    from the FASTA."""
    with dnaio.open(TRAINING_SET) as genes:
        pairs = [(record.name, record.sequence) for record in genes][:12]
    fasta = tmp_path / "repeated.fa"
    fasta.write_text(
        "".join(
            f">{'repeated' if number % 3 == 0 else name}\n{sequence}\n"
            for number, (name, sequence) in enumerate(pairs)
        )
    )
    index = tmp_path / "repeated.idx"
    assert run_cli(["index", str(fasta), "-o", str(index), "--quiet"])[0] == ExitStatus.SUCCESS
    reads = small_reads(tmp_path, 6)
    common = [str(reads), "--format", "sam", "--backend", "serial"]
    _, from_fasta, fasta_note = run_cli(["align", "-r", str(fasta), *common])

    def refused(self: Any) -> Any:
        raise AssertionError("the references were decoded into strings")

    monkeypatch.setattr(MappedKmerIndex, "reference_pairs", refused)
    status, from_index, index_note = run_cli(["align", "-r", str(index), *common])
    assert status == ExitStatus.SUCCESS
    assert without_program_line(from_index) == without_program_line(from_fasta)
    assert b"SN:repeated_2\t" in from_index and b"SN:repeated_4\t" in from_index
    # (the index holds the output names already: `streamalign index` gave the note)
    assert fasta_note.count("repeat an earlier name") == 1
    assert index_note.count("repeat an earlier name") == 0


def test_an_aligner_takes_reference_arrays_with_their_names(built: Path, references: list) -> None:
    loaded = load_index(built)
    names = [name for name, _ in references]
    arrays = Aligner(ReferenceSequences.from_index(loaded), "semiglobal", reference_names=names)
    strings = Aligner(references, "semiglobal")
    assert arrays.reference_names == strings.reference_names
    assert is_mapped(arrays.references.ascii)
    reads = first_reads()[1]
    assert np.array_equal(
        arrays.align_many(reads).integer_scores, strings.align_many(reads).integer_scores
    )
    unnamed = Aligner(ReferenceSequences.from_index(loaded), "semiglobal")
    assert unnamed.reference_names[:2] == ["reference0", "reference1"]
    with pytest.raises(ValueError, match="2 reference names for"):
        Aligner(ReferenceSequences.from_index(loaded), reference_names=["a", "b"])
    with pytest.raises(TypeError, match="reference_names= goes with"):
        Aligner(references, reference_names=names)


def test_the_checkpoint_fingerprint_of_an_index_s_references_is_the_file_s_digest(
    built: Path, references: list, tmp_path: Path
) -> None:
    """A run with ``-r refs.idx`` identifies its references by the names and the index
    file's header digest (it covers every array's SHA-256): the letters are not hashed again
    on every run."""
    from streamalign.pipeline import RunOptions, fingerprint

    names = [name for name, _ in references]
    options = RunOptions(output_format="tsv")

    def of(path: Path) -> str:
        aligner = Aligner(
            ReferenceSequences.from_index(load_index(path)), "semiglobal", reference_names=names
        )
        return fingerprint(aligner, options, ["reads.fa"])

    aligner = Aligner(
        ReferenceSequences.from_index(load_index(built)), "semiglobal", reference_names=names
    )
    first = fingerprint(aligner, options, ["reads.fa"])
    assert of(built) == first
    aligner.references.ascii = aligner.references.ascii[:0]  # (letters gone: same digest)
    assert fingerprint(aligner, options, ["reads.fa"]) == first
    other = tmp_path / "k6.idx"
    save_index(in_memory_index(references, k=6), other, source=None)
    in_memory = fingerprint(Aligner(references, "semiglobal"), options, ["reads.fa"])
    assert len({first, of(other), in_memory}) == 3
