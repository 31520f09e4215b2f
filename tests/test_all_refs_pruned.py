"""``all_references=True`` with a threshold keeps exactly the passing references, pruned or not.

Real MiSeq reads and 250-bp pieces of real 16S genes (half of them reverse complemented)
against the 100 real genes of ``tests/data/example_train_set.fa.gz``: in every mode, on one
and both strands, with ``min_score``, ``min_identity`` and both, the pruned result
(``search="exact"``) equals, array for array, the records of aligning every reference
(``search="exhaustive"``) filtered here in plain Python: each read's passing references in
file order, or its best alignment alone when none passes. The command line writes the same
bytes either way, serial and parallel. The identity bound is checked with hypothesis against
the identity of the optimal alignment (random, mutated and adversarial pairs, ambiguity codes,
every policy), and on real data the pruning does skip most pairs.
"""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path

import dnaio
import numpy as np
import pysam
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_helpers import run_cli, without_program_line
from streamalign import Aligner, Scoring
from streamalign.alphabet import BASE_SETS, LETTERS, encode, reverse_complement_ascii
from streamalign.records import SequenceBatch
from streamalign.search.bounds import cover_loss
from streamalign.search.index import build_index
from streamalign.search.passing import PassingSearch
from test_alignment_reference import mutate, random_sequence
from test_search import gene_fragments, real_genes, real_reads
from test_search_bounds import adversarial_set, scorings

GENES = real_genes()
#: The genes of the record-for-record comparisons (fewer: the exhaustive side aligns them all).
SOME_GENES = GENES[:40]


def reverse_complement(sequence: str) -> str:
    raw = np.frombuffer(sequence.encode(), np.uint8)
    return reverse_complement_ascii(raw, np.array([0, len(raw)])).tobytes().decode()


def pieces_of(genes: list[tuple[str, str]], count: int, seed: int) -> list[tuple[str, str]]:
    """250-bp pieces of ``genes`` with about 2% substitutions and indels."""
    rng = random.Random(seed)
    pieces = []
    for number in range(count):
        gene = genes[rng.randrange(len(genes))][1]
        start = rng.randint(0, len(gene) - 250)
        pieces.append((f"piece{number}", mutate(rng, gene[start : start + 250], 0.02, 0.0)))
    return pieces


@functools.cache
def reads() -> tuple[list[str], list[str]]:
    """6 real reads and 6 pieces of the genes, every second one reverse complemented."""
    pairs = real_reads(6) + pieces_of(SOME_GENES, 6, seed=11)
    sequences = [
        reverse_complement(sequence) if number % 2 == 0 else sequence
        for number, (_, sequence) in enumerate(pairs)
    ]
    return [name for name, _ in pairs], sequences


@functools.cache
def exhaustive(mode: str, strand: str):
    names, sequences = reads()
    aligner = Aligner(SOME_GENES, mode, search="exhaustive")
    return aligner.align_many(sequences, names=names, strand=strand, all_references=True)


@functools.cache
def searched_aligner(mode: str, genes: int = len(SOME_GENES)) -> Aligner:
    return Aligner(GENES[:genes], mode)


def filtered(every, min_score, min_identity) -> list[int]:
    """The records of ``every`` (query-major, one per reference) to keep, by the rule."""
    count = len(SOME_GENES)
    kept = []
    for query in range(len(every) // count):
        rows = range(query * count, (query + 1) * count)
        passing = [
            row
            for row in rows
            if (min_score is None or every[row].score >= min_score)
            and (min_identity is None or every[row].identity >= min_identity)
        ]
        if not passing:  # the best: highest score, the first reference among equals
            passing = [max(rows, key=lambda row: (every[row].score, -row))]
        kept.extend(passing)
    return kept


def assert_same_records(result, every, kept: list[int]) -> None:
    count = len(SOME_GENES)
    assert result.record_queries.tolist() == [row // count for row in kept]
    assert result.reference_index.tolist() == every.reference_index[kept].tolist()
    assert result.integer_scores.tolist() == every.integer_scores[kept].tolist()
    assert result.reverse.tolist() == every.reverse[kept].tolist()
    cigars = every.cigars()
    assert result.cigars() == [cigars[row] for row in kept]
    for field in ("query_starts", "query_ends", "reference_starts", "reference_ends", "counts"):
        assert np.array_equal(getattr(result, field), getattr(every, field)[kept]), field
    assert [result.queries.sequence(n) for n in range(len(result))] == [
        every.queries.sequence(row) for row in kept
    ]


CASES = [
    ("global", "both"),
    ("global", "forward"),
    ("semiglobal", "both"),
    ("semiglobal", "forward"),
    ("overlap", "both"),
    ("local", "both"),
]


@pytest.mark.parametrize(("mode", "strand"), CASES)
def test_pruned_records_are_the_filtered_exhaustive_ones(mode: str, strand: str) -> None:
    every = exhaustive(mode, strand)
    count = len(SOME_GENES)
    best_scores = every.scores.reshape(-1, count).max(axis=1)
    best_identities = every.identities.reshape(-1, count).max(axis=1)
    # Thresholds that some reads pass and some fail, in every mode.
    thresholds = [
        (float(np.median(best_scores)), None),
        (None, float(np.quantile(best_identities, 0.6))),
        (float(np.quantile(best_scores, 0.3)), float(np.quantile(best_identities, 0.3))),
    ]
    if mode in ("overlap", "local"):  # no identity bound: min_identity alone prunes nothing
        thresholds.pop(1)
    if mode == "semiglobal":
        thresholds.append((None, 0.97))
    names, sequences = reads()
    aligner = searched_aligner(mode)
    for min_score, min_identity in thresholds:
        result = aligner.align_many(
            sequences,
            names=names,
            strand=strand,
            all_references=True,
            min_score=min_score,
            min_identity=min_identity,
        )
        kept = filtered(every, min_score, min_identity)
        assert len({row // count for row in kept}) == len(sequences)
        assert_same_records(result, every, kept)
        if aligner.prunes_all_references(min_score, min_identity):
            assert result.aligned_candidates is not None
            assert len(result.aligned_candidates) == len(sequences)
    assert aligner.prunes_all_references(None, 0.9) == (mode in ("global", "semiglobal"))


def test_exhaustive_search_filters_the_same_way() -> None:
    names, sequences = reads()
    every = exhaustive("semiglobal", "both")
    result = Aligner(SOME_GENES, "semiglobal", search="exhaustive").align_many(
        sequences, names=names, strand="both", all_references=True, min_identity=0.9
    )
    assert_same_records(result, every, filtered(every, None, 0.9))
    assert result.aligned_candidates is None


def test_pruning_skips_most_pairs_on_real_reads() -> None:
    """Gene pieces with 2% errors, semi-global, identity 0.97 or score 200: few of the
    reads x genes x strands pairs are aligned."""
    pieces = [sequence for _, sequence in gene_fragments(40, seed=5)]
    aligner = searched_aligner("semiglobal", len(GENES))
    possible = len(pieces) * len(GENES) * 2
    for threshold in ({"min_identity": 0.97}, {"min_score": 200}):
        result = aligner.align_many(pieces, strand="both", all_references=True, **threshold)
        assert result.aligned_candidates is not None
        assert result.aligned_candidates.sum() < 0.1 * possible, threshold
        assert len(set(result.record_queries.tolist())) == len(pieces)


def test_a_skipped_strand_that_scores_higher_is_the_record() -> None:
    """The forward strand passes the identity threshold; the reverse strand, skipped for its
    identity bound, scores higher (two cheap gaps against one mismatch) and so is the
    reference's record, which fails: the read's best alignment is written, unmapped."""
    rng = random.Random(4)
    read = random_sequence(rng, 60)
    forward = read[:30] + ("A" if read[30] != "A" else "C") + read[31:]
    reverse = reverse_complement(read[:20] + "G" + read[20:40] + "T" + read[40:])
    genes = [
        ("both", random_sequence(rng, 40) + forward + random_sequence(rng, 50) + reverse),
        ("other", random_sequence(rng, 200)),
    ]
    scoring = Scoring(match=2, mismatch=-1, gap_open=1, gap_extend=1)
    every = Aligner(genes, "semiglobal", scoring=scoring, search="exhaustive").align_many(
        [read], strand="both", all_references=True
    )
    assert every.reverse[0] and every.identities[0] < 0.98  # the reverse strand's record
    searched = Aligner(genes, "semiglobal", scoring=scoring)
    assert searched.align(read).identity > 0.98  # the forward strand passes on its own
    batch = SequenceBatch.from_strings([reverse_complement(read)])
    _, member = PassingSearch(searched.database_search()).identity_bounds(
        encode(batch.sequences), batch.offsets
    )
    assert member[0, 0] < 0.98  # the reverse strand is skipped for its identity bound
    pruned = searched.align_many([read], strand="both", all_references=True, min_identity=0.98)
    assert_records_equal(pruned, every, [0])
    assert pruned.aligned_candidates is not None and pruned.aligned_candidates[0] >= 2


def assert_records_equal(result, every, kept: list[int]) -> None:
    assert result.reference_index.tolist() == every.reference_index[kept].tolist()
    assert result.integer_scores.tolist() == every.integer_scores[kept].tolist()
    assert result.reverse.tolist() == every.reverse[kept].tolist()
    assert result.cigars() == [every.cigars()[row] for row in kept]


def test_bad_thresholds_are_refused() -> None:
    aligner = Aligner(GENES[:3], "semiglobal")
    with pytest.raises(ValueError, match="all_references"):
        aligner.align_many(["ACGT"], min_score=3)
    with pytest.raises(ValueError, match="traceback"):
        aligner.align_many(["ACGT"], all_references=True, min_identity=0.5, traceback=False)
    with pytest.raises(ValueError, match="nan"):
        aligner.align_many(["ACGT"], all_references=True, min_score=float("nan"))
    with pytest.raises(ValueError, match="between 0 and 1"):
        aligner.align_many(["ACGT"], all_references=True, min_identity=1.5)
    scores_only = aligner.align_many(
        [GENES[1][1][100:300]], all_references=True, min_score=150, traceback=False
    )
    assert scores_only.reference_index.tolist() == [1] and not scores_only.has_alignment


# ---------------------------------------------------------------- the identity bound


def compatible_code(rng: random.Random, letter: str) -> str:
    """An ambiguity code that stands for ``letter`` among others (``iupac`` scores a match)."""
    base = BASE_SETS[LETTERS.index(letter)]
    return rng.choice([code for code in LETTERS[4:] if BASE_SETS[LETTERS.index(code)] & base])


def with_codes(rng: random.Random, sequence: str, rate: float) -> str:
    return "".join(
        compatible_code(rng, letter) if letter in "ACGT" and rng.random() < rate else letter
        for letter in sequence
    )


ENDS = {
    "global": {},
    "semiglobal": {},
    "reference start free": {"reference_start_free": True},
    "reference end free": {"reference_end_free": True},
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    ends=st.sampled_from(list(ENDS)),
    ambiguous=st.sampled_from(["score0", "mismatch", "iupac"]),
    scoring=scorings,
    k=st.integers(4, 8),
    cluster_size=st.sampled_from([1, 3]),
)
def test_identity_bound_is_never_below_the_identity(
    seed, ends, ambiguous, scoring, k, cluster_size
):
    rng = random.Random(seed)
    references, queries = adversarial_set(rng, 8)
    base = references[0]
    references.append(with_codes(rng, base, 0.1))  # compatible codes: matches with iupac
    queries.append(with_codes(rng, base[5:], 0.05))
    queries.append(with_codes(rng, references[1], 0.03))
    scoring = Scoring(
        match=scoring.match,
        mismatch=scoring.mismatch,
        gap_open=scoring.gap_open,
        gap_extend=scoring.gap_extend,
        ambiguous=ambiguous,
    )
    mode = "global" if ends != "semiglobal" else "semiglobal"
    index = build_index(references, k=k, cluster_size=cluster_size)
    aligner = Aligner(references, mode, scoring=scoring, index=index, **ENDS[ends])
    batch = SequenceBatch.from_strings(queries)
    cluster, member = PassingSearch(aligner.database_search()).identity_bounds(
        encode(batch.sequences), batch.offsets
    )
    exhaustive = Aligner(
        references, mode, scoring=scoring, search="exhaustive", **ENDS[ends]
    ).align_many(queries, all_references=True)
    identities = exhaustive.identities.reshape(len(queries), len(references))
    assert np.all(member >= identities), (member - identities).min()
    assert np.all(cluster >= identities), (cluster - identities).min()
    assert np.any(member < 1.0)  # a bound, not a constant


FIELDS = (
    "record_queries",
    "reference_index",
    "integer_scores",
    "reverse",
    "counts",
    "query_starts",
    "reference_starts",
    "operations",
    "operation_offsets",
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    ends=st.sampled_from([*ENDS, "overlap", "local"]),
    ambiguous=st.sampled_from(["score0", "mismatch", "iupac"]),
    scoring=scorings,
    strand=st.sampled_from(["forward", "both"]),
    k=st.integers(4, 8),
    cluster_size=st.sampled_from([1, 3]),
)
def test_pruned_equals_filtered_on_adversarial_sets(
    seed, ends, ambiguous, scoring, strand, k, cluster_size
):
    """Repeats, duplicates (ties), reverse complements, ambiguity codes; thresholds taken
    from the reads' own best scores and identities."""
    rng = random.Random(seed)
    references, queries = adversarial_set(rng, 8)
    references += [with_codes(rng, references[0], 0.1), reverse_complement(references[1])]
    references.append(references[0])  # equal scores: the first reference wins
    queries += [with_codes(rng, references[0][5:], 0.05), reverse_complement(queries[1])]
    scoring = Scoring(
        match=scoring.match,
        mismatch=scoring.mismatch,
        gap_open=scoring.gap_open,
        gap_extend=scoring.gap_extend,
        ambiguous=ambiguous,
    )
    mode = ends if ends in ("overlap", "local", "semiglobal") else "global"
    switches = ENDS.get(ends, {})
    every = Aligner(references, mode, scoring=scoring, search="exhaustive", **switches)
    everything = every.align_many(queries, strand=strand, all_references=True)
    count = len(references)
    best_scores = everything.scores.reshape(-1, count).max(axis=1)
    best_identities = everything.identities.reshape(-1, count).max(axis=1)
    min_score = float(rng.choice(best_scores.tolist())) if rng.random() < 0.7 else None
    min_identity = float(rng.choice(best_identities.tolist())) if rng.random() < 0.6 else None
    if min_score is None and min_identity is None:
        min_identity = 0.8
    index = build_index(references, k=k, cluster_size=cluster_size)
    searched = Aligner(references, mode, scoring=scoring, index=index, **switches)
    thresholds = {"min_score": min_score, "min_identity": min_identity}
    result = searched.align_many(queries, strand=strand, all_references=True, **thresholds)
    expected = every.align_many(queries, strand=strand, all_references=True, **thresholds)
    for field in FIELDS:
        assert np.array_equal(getattr(result, field), getattr(expected, field)), field
    assert np.array_equal(result.queries.sequences, expected.queries.sequences)


def test_identity_bound_is_tight_enough_on_real_genes() -> None:
    pieces = [sequence for _, sequence in gene_fragments(6, seed=2)]
    aligner = searched_aligner("semiglobal", len(GENES))
    batch = SequenceBatch.from_strings(pieces)
    cluster, member = PassingSearch(aligner.database_search()).identity_bounds(
        encode(batch.sequences), batch.offsets
    )
    every = exhaustive_of(pieces)
    identities = every.identities.reshape(len(pieces), len(GENES))
    assert np.all(member >= identities) and np.all(cluster >= member)
    assert np.mean(member < 0.97) > 0.9  # most genes are skipped at 97% identity


def exhaustive_of(sequences: list[str]):
    return Aligner(GENES, "semiglobal", search="exhaustive").align_many(
        sequences, all_references=True
    )


def test_local_and_overlap_have_no_identity_bound() -> None:
    for mode in ("local", "overlap"):
        aligner = Aligner(GENES[:4], mode)
        batch = SequenceBatch.from_strings([GENES[0][1][:100]])
        cluster, member = PassingSearch(aligner.database_search()).identity_bounds(
            encode(batch.sequences), batch.offsets
        )
        assert np.all(cluster == 1.0) and np.all(member == 1.0)


@pytest.mark.parametrize("seed", range(30))
def test_unit_cost_cover_is_the_fewest_runs_of_k_windows(seed: int) -> None:
    """The identity bound's edit count: ``cover_loss`` with unit costs is the greedy count
    of runs of k consecutive windows covering every missing one (optimal for one length)."""
    rng = random.Random(seed)
    k = rng.randint(2, 9)
    absent = np.array([rng.random() < rng.random() for _ in range(rng.randint(0, 60))], bool)
    runs, window = 0, 0
    while window < len(absent):
        if absent[window]:
            runs += 1
            window += k
        else:
            window += 1
    assert cover_loss(absent, k, 1, 1, 1, 1, False, False) == runs


# ---------------------------------------------------------------- the command line


def write_inputs(directory: Path) -> tuple[Path, Path]:
    """30 of the genes, and 8 real reads and 12 pieces of those genes with about 2% errors
    (every third one reverse complemented)."""
    genes = GENES[:30]
    references = directory / "genes.fa"
    references.write_text("".join(f">{name}\n{sequence}\n" for name, sequence in genes))
    records = real_reads(8) + pieces_of(genes, 12, seed=9)
    reads_path = directory / "reads.fastq"
    with dnaio.open(reads_path, mode="w") as writer:
        for number, (name, sequence) in enumerate(records):
            if number % 3 == 0:
                sequence = reverse_complement(sequence)
            writer.write(dnaio.SequenceRecord(name, sequence, "I" * len(sequence)))
    return references, reads_path


@pytest.mark.parametrize("threshold", [["--min-identity", "0.97"], ["--min-score", "200"]])
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_cli_writes_the_exhaustive_bytes(jobs: str, threshold: list[str], tmp_path: Path):
    references, reads_path = write_inputs(tmp_path)
    outputs = {}
    for search in ("exact", "exhaustive"):
        output = tmp_path / f"{search}.sam"
        stats = tmp_path / f"{search}.json"
        status, _, error = run_cli(
            [
                "align",
                "-r",
                str(references),
                str(reads_path),
                "--all-refs",
                *threshold,
                "--strand",
                "both",
                "-j",
                jobs,
                "--search",
                search,
                "-o",
                str(output),
                "--stats-json",
                str(stats),
                "--batch-size",
                "7" if search == "exact" else "20",  # the bytes do not depend on it
            ]
        )
        assert status == 0, error
        outputs[search] = without_program_line(output.read_bytes())
        document = json.loads(stats.read_text())
        assert document["records"] == 20
        if search == "exact":
            assert document["searched_records"] == 20
            assert document["search_pairs_per_record"] == 2 * 30
            assert document["pruned_fraction"] > 0.5
        else:
            assert document["searched_records"] == 0
    assert outputs["exact"] == outputs["exhaustive"]
    with pysam.AlignmentFile(str(tmp_path / "exact.sam")) as sam:
        records = list(sam)
    by_read: dict[str, list] = {}
    for record in records:
        by_read.setdefault(record.query_name, []).append(record)
    assert len(by_read) == 20
    mapped_reads = 0
    for group in by_read.values():
        primary = [record for record in group if not record.is_secondary]
        assert len(primary) == 1  # one primary record per read
        if primary[0].is_unmapped:
            assert len(group) == 1  # no passing reference: one unmapped record
        else:
            mapped_reads += 1
            assert all(not record.is_unmapped for record in group)
            ids = [record.reference_id for record in group]
            assert ids == sorted(ids)
            assert primary[0].get_tag("AS") == max(record.get_tag("AS") for record in group)
    assert 0 < mapped_reads < 20


def test_cli_tsv_and_jsonl_keep_the_unmapped_best_alignment(tmp_path: Path) -> None:
    references, reads_path = write_inputs(tmp_path)
    common = ["align", "-r", str(references), str(reads_path), "--all-refs", "--quiet"]
    common += ["--min-identity", "0.97", "--strand", "both"]
    status, table, _ = run_cli([*common, "--format", "tsv"])
    assert status == 0
    rows = [line.split("\t") for line in table.decode().splitlines()[1:]]
    status, lines, _ = run_cli([*common, "--format", "jsonl"])
    documents = [json.loads(line) for line in lines.splitlines()]
    assert [row[:2] for row in rows] == [[d["query"], d["reference"]] for d in documents]
    names = [row[0] for row in rows]
    assert len(set(names)) == 20
    for row in rows:
        if row[3] == "1":
            assert float(row[5]) >= 0.97
        else:  # the read's only record, its best alignment, below the threshold
            assert names.count(row[0]) == 1 and float(row[5]) < 0.97
