"""The fast search follows its documented rules exactly, on real data.

The oracle is written apart from :mod:`streamalign.search.fast`: every (reference, strand) of
a read is aligned exhaustively (``search="exhaustive"``, ``all_references=True``, one strand at
a time), the candidates are put in decreasing order of the read's windows whose 8-mer the
reference holds (counted here in plain Python), then of the bound the index gives them
(:meth:`DatabaseSearch.reference_bounds`), then in (reference, strand) order, and the rules
(accept on the threshold, stop at ``max_accepts`` / ``max_rejects`` / the score cutoff, report
the best accepted, else the best rejected) are applied in plain Python. Real MiSeq reads and
mutated pieces of the real genes against the 100 genes of the training set.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cli_helpers import READS, run_cli
from streamalign import Aligner
from streamalign.alphabet import encode, reverse_complement_ascii, reverse_complement_codes
from streamalign.records import SequenceBatch
from streamalign.search.fast import FastSearch, fast_best
from streamalign.search.index import build_index
from test_search import TRAIN_SET, gene_fragments, real_genes, real_reads


def oracle(genes, reads, mode, settings: FastSearch, strands: int):
    """Per read: (reference, strand, score, aligned, accepted) by the documented rules."""
    exhaustive = Aligner(genes, mode, search="exhaustive")
    searched = Aligner(genes, mode, search="exact", index=build_index([s for _, s in genes]))
    sequences = [sequence for _, sequence in reads]
    batch = SequenceBatch.from_strings(sequences)
    codes = encode(batch.sequences)
    per_strand = [(sequences, codes)]
    if strands == 2:
        reverse = reverse_complement_ascii(batch.sequences, batch.offsets)
        reverse_sequences = [
            reverse[batch.offsets[n] : batch.offsets[n + 1]].tobytes().decode()
            for n in range(len(batch))
        ]
        per_strand.append(
            (reverse_sequences, reverse_complement_codes(codes, batch.offsets.astype(np.int64)))
        )
    scores, identities, bounds = [], [], []
    for strand_sequences, strand_codes in per_strand:
        everything = exhaustive.align_many(strand_sequences, all_references=True)
        scores.append(everything.integer_scores.reshape(len(reads), len(genes)))
        identities.append(everything.identities.reshape(len(reads), len(genes)))
        _, member = searched.database_search().reference_bounds(
            strand_codes, batch.offsets.astype(np.int64)
        )
        bounds.append(member)
    cutoff = -math.inf if settings.min_score is None else settings.min_score
    gene_kmers = [kmer_set(sequence) for _, sequence in genes]
    results = []
    for read in range(len(reads)):
        candidates = sorted(
            (
                -shared_windows(per_strand[strand][0][read], gene_kmers[reference]),
                -int(bounds[strand][read, reference]),
                reference * 2 + strand,
            )
            for strand in range(strands)
            for reference in range(len(genes))
        )
        accepted = rejected = 0
        best = fallback = None
        for number, (_, negative_bound, key) in enumerate(candidates):
            if -negative_bound < cutoff and number:
                rejected += 1  # its score cannot reach the threshold: not aligned
                if settings.max_rejects and rejected >= settings.max_rejects:
                    break
                continue
            reference, strand = divmod(key, 2)
            score = int(scores[strand][read, reference])
            identity = float(identities[strand][read, reference])
            if fallback is None or score > fallback[0]:
                fallback = (score, key)
            passes = (
                identity >= settings.min_identity
                if settings.min_identity is not None
                else score >= cutoff
            )
            if passes:
                accepted += 1
                if best is None or score > best[0]:
                    best = (score, key)
            else:
                rejected += 1
            if (settings.max_accepts and accepted >= settings.max_accepts) or (
                settings.max_rejects and rejected >= settings.max_rejects
            ):
                break
        score, key = best if best is not None else fallback
        aligned = sum(
            1
            for number, (_, negative_bound, _) in enumerate(candidates[: accepted + rejected])
            if not (-negative_bound < cutoff and number)
        )
        results.append((key // 2, key % 2, score, aligned, accepted))
    return results


K = 8


def kmer_set(sequence: str) -> set[str]:
    """The reference's k-mers made only of A, C, G and T."""
    sequence = sequence.upper()
    return {
        sequence[start : start + K]
        for start in range(len(sequence) - K + 1)
        if set(sequence[start : start + K]) <= set("ACGT")
    }


def shared_windows(read: str, kmers: set[str]) -> int:
    """The read's windows (all A, C, G, T) whose k-mer the reference holds exactly."""
    read = read.upper()
    return sum(
        1
        for start in range(len(read) - K + 1)
        if set(read[start : start + K]) <= set("ACGT") and read[start : start + K] in kmers
    )


SETTINGS = [
    FastSearch(min_identity=0.97),
    FastSearch(min_identity=0.9, max_accepts=3, max_rejects=4),
    FastSearch(min_identity=0.99, max_accepts=0, max_rejects=2),
    FastSearch(min_score=200.0, max_rejects=8),
    FastSearch(min_score=120.0, max_accepts=2, max_rejects=0),
]


CASES = [("semiglobal", settings) for settings in SETTINGS] + [
    ("global", SETTINGS[1]),
    ("local", SETTINGS[4]),
    ("overlap", SETTINGS[0]),
]


@pytest.mark.parametrize(("mode", "settings"), CASES, ids=repr)
def test_fast_search_follows_its_rules(mode: str, settings: FastSearch) -> None:
    genes = real_genes()
    reads = real_reads(12) + gene_fragments(12, seed=5)
    strands = 2
    expected = oracle(genes, reads, mode, settings, strands)
    aligner = Aligner(
        genes, mode, search=settings, index=build_index([sequence for _, sequence in genes])
    )
    batch = SequenceBatch.from_strings([sequence for _, sequence in reads])
    codes = encode(batch.sequences)
    reverse_batch = SequenceBatch(
        batch.names, reverse_complement_ascii(batch.sequences, batch.offsets), batch.offsets
    )
    found = fast_best(
        aligner.database_search(),
        batch,
        codes,
        reverse_batch,
        reverse_complement_codes(codes, batch.offsets.astype(np.int64)),
    )
    got = list(
        zip(
            found.references.tolist(),
            found.reverse.astype(int).tolist(),
            found.scores.tolist(),
            found.aligned.tolist(),
            found.accepted.tolist(),
            strict=True,
        )
    )
    assert got == expected
    # The alignments written are those hits', fully traced back.
    written = aligner.align_many([sequence for _, sequence in reads], strand="both")
    assert written.reference_index.tolist() == [row[0] for row in expected]
    assert written.integer_scores.tolist() == [row[2] for row in expected]
    assert written.aligned_candidates.tolist() == [row[3] for row in expected]


def test_without_limits_the_fast_search_finds_the_best_hit() -> None:
    """No limits and a threshold every best hit passes: the exact answer."""
    genes = real_genes()
    reads = [sequence for _, sequence in gene_fragments(16, seed=3)]
    exact = Aligner(genes, "semiglobal").align_many(reads, strand="both")
    unlimited = FastSearch(min_score=-math.inf, max_accepts=0, max_rejects=0)
    fast = Aligner(genes, "semiglobal", search=unlimited).align_many(reads, strand="both")
    assert fast.reference_index.tolist() == exact.reference_index.tolist()
    assert fast.reverse.tolist() == exact.reverse.tolist()
    assert fast.cigars() == exact.cigars()


def test_fast_search_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="needs a threshold"):
        FastSearch()
    with pytest.raises(ValueError, match="not both"):
        FastSearch(min_identity=0.9, min_score=10)
    with pytest.raises(ValueError, match="between 0 and 1"):
        FastSearch(min_identity=1.5)
    with pytest.raises(ValueError, match="max_rejects"):
        FastSearch(min_identity=0.9, max_rejects=-1)
    with pytest.raises(ValueError, match="needs its threshold"):
        Aligner(["ACGT", "GGCC"], search="fast")


def test_command_line_fast_search(tmp_path) -> None:
    """``--search fast`` serial and parallel write the same bytes; its statistics count what
    it aligned; the options that make no sense are one-line usage errors (exit 2)."""
    outputs = []
    for jobs in ("1", "2"):
        output = tmp_path / f"fast{jobs}.tsv"
        stats = tmp_path / f"fast{jobs}.json"
        status, _, stderr = run_cli(
            [
                "align", "-r", str(TRAIN_SET), str(READS), "--strand", "both", "--search",
                "fast", "--min-identity", "0.97", "--max-rejects", "8", "-j", jobs,
                "--batch-size", "64", "-o", str(output), "--stats-json", str(stats), "--quiet",
            ]
        )  # fmt: skip
        assert status == 0, stderr
        outputs.append(output.read_bytes())
        statistics = json.loads(stats.read_text())
        assert 1 <= statistics["candidates_aligned_max"] <= 9
        assert statistics["searched_records"] == 200
    assert outputs[0] == outputs[1]
    lines = outputs[0].decode().splitlines()[1:]
    assert len(lines) == 200
    for line in lines:  # mapped exactly when the hit passes the threshold
        fields = line.split("\t")
        assert (fields[3] == "1") == (float(fields[5]) >= 0.97)
    for extra, message in (
        (["--search", "fast"], "--search fast needs --min-identity"),
        (["--max-rejects", "3"], "need --search fast"),
        (["--search", "fast", "--min-score", "10", "--all-refs"], "one hit per read"),
    ):
        status, _, stderr = run_cli(["align", "-r", str(TRAIN_SET), str(READS), *extra])
        assert status == 2
        assert message in stderr.strip().splitlines()[-1]
        assert "Traceback" not in stderr


@pytest.mark.parametrize("batched", [1, 64])
def test_equal_counts_go_by_bound_then_file_order(batched: int, monkeypatch) -> None:
    """Two genes hold every k-mer of the read; the longer one, first in the file, has the
    lower bound in global mode (its extra letters must be deleted), so the fast search takes
    the exact copy first and, accepting one hit, reports it. Bounds of equal counts are
    computed late (the level served), clusters opened one or many at a time."""
    from streamalign import _config

    monkeypatch.setattr(_config, "SEARCH_FAST_OPEN", batched)
    _, gene = real_genes()[7]
    read = gene[100:220]
    references = [("longer", gene[100:280]), ("exact", read), ("other", real_genes()[9][1])]
    settings = FastSearch(min_identity=0.5, max_accepts=1, max_rejects=0)
    aligner = Aligner(references, "global", search=settings)
    batch = SequenceBatch.from_strings([read])
    found = fast_best(aligner.database_search(), batch, encode(batch.sequences), None, None)
    assert found.references.tolist() == [1]
    assert found.aligned.tolist() == [1]
    # Both pass 0.5 identity: the exact copy won on its bound, not on its file position.
    longer = Aligner(references[:1], "global").align_many([read])
    assert longer.identities[0] >= 0.5
