"""Smoke test of ``benchmarks/kernels.py``: every tool's scores agree with streamalign's.

A correctness check on tiny workloads, not a timing check: a benchmark that compares tools
computing different answers is worthless. Tools that are not installed are skipped.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

KERNELS_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "kernels.py"

#: Benchmark tool name -> the module it needs.
TOOL_MODULES = {
    "parasail": "parasail",
    "pyopal": "pyopal",
    "biopython": "Bio",
    "skbio-legacy": "skbio",
    "skbio-pair_align": "skbio",
}


@pytest.fixture(scope="module")
def kernels() -> Iterator[ModuleType]:
    pytest.importorskip("dnaio")
    spec = importlib.util.spec_from_file_location("streamalign_benchmark_kernels", KERNELS_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def settings(kernels: ModuleType) -> Any:
    settings = kernels.Settings.quick()
    settings.count = 40
    settings.miseq_limit = 10
    settings.subsets = {
        "biopython": {"64bp": 12, "miseq": 4, "pacbio": 1},
        "skbio_legacy": {"64bp": 2, "miseq": 0, "pacbio": 0},
        "pair_align": {"64bp": 12, "miseq": 4, "pacbio": 1},
    }
    settings.pacbio_count = 4
    return settings


@pytest.fixture(scope="module", params=["64bp", "miseq", "pacbio"])
def workload(request: pytest.FixtureRequest, kernels: ModuleType, settings: Any) -> Any:
    if request.param == "64bp":
        # Random sequences, plus copies of the reference with gaps so gap costs are exercised.
        base = kernels.random_workload(settings.count, seed=7)
        reference = base.reference
        edited = [
            reference[:10] + reference[13:40] + "T" + reference[40:],
            reference[:30] + reference[35:],
            reference[:20] + "AAA" + reference[20:50] + "C" + reference[50:],
            reference[4:],
        ]
        base.queries = edited + base.queries
        return base
    if request.param == "pacbio":
        if not (kernels.DEFAULT_GENES.exists() and kernels.DEFAULT_REFERENCE.exists()):
            pytest.skip(f"no 16S genes under {kernels.DATA}")
        return kernels.pacbio_workload(count=settings.pacbio_count)
    if not (kernels.DEFAULT_READS.exists() and kernels.DEFAULT_REFERENCE.exists()):
        pytest.skip(f"no MiSeq data under {kernels.DATA}")
    return kernels.miseq_workload(limit=settings.miseq_limit)


@pytest.mark.parametrize("tool", sorted(TOOL_MODULES))
def test_scores_agree_with_streamalign(
    kernels: ModuleType, settings: Any, workload: Any, tool: str
) -> None:
    pytest.importorskip(TOOL_MODULES[tool])
    contenders = [c for c in kernels.CONTENDERS if c.tool in (kernels.STREAMALIGN, tool)]
    rows = kernels.run_workload(workload, settings, contenders)
    truth = next(r for r in rows if r.tool == kernels.STREAMALIGN and r.variant == "score")
    full = next(r for r in rows if r.tool == kernels.STREAMALIGN and r.variant == "full")
    assert truth.status == "ok" and full.status == "ok"
    np.testing.assert_array_equal(full.scores, truth.scores)
    for contender, row in zip(contenders, rows, strict=True):
        if row.status == "n/a":
            # n/a: not expressible in a non-global mode, or too slow for this workload.
            assert workload.mode != "global" or settings.pairs_for(contender, workload) == 0
            assert row.note.startswith("n/a"), row.note
            continue
        assert row.status == "ok", f"{row.tool} {row.variant}: {row.status} {row.note}"
        assert row.pairs == settings.pairs_for(contender, workload)
        assert len(row.scores) == row.pairs
        if contender.exact:
            assert row.score_mismatches == 0, f"{row.tool} {row.variant}: {row.note}"
        else:
            # scikit-bio's legacy recurrence is not exact: never above the optimum, and equal
            # to streamalign's reproduction of it where this checkout has one.
            assert np.all(row.scores <= truth.scores[: row.pairs])
            legacy = kernels._legacy_streamalign_scores(workload, row.pairs)
            if legacy is not None:
                np.testing.assert_array_equal(row.scores, legacy)


def test_gap_conventions_agree(kernels: ModuleType) -> None:
    scores = kernels.check_gap_conventions()
    expected = scores.pop("expected")
    legacy = scores.pop("skbio-legacy full", None)
    legacy_reproduction = scores.pop("streamalign recurrence=skbio", None)
    for tool, score in scores.items():
        if score is not None:
            assert score == expected, tool
    if legacy is not None and legacy_reproduction is not None:
        assert legacy == legacy_reproduction


def test_main_writes_table_markdown_and_json(
    kernels: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("parasail")
    markdown = tmp_path / "kernels.md"
    report = tmp_path / "kernels.json"
    code = kernels.main(
        [
            "--quick",
            "--count",
            "24",
            "--workload",
            "64bp",
            "--tool",
            "parasail",
            "--markdown",
            str(markdown),
            "--json",
            str(report),
        ]
    )
    assert code == 0
    output = capsys.readouterr().out
    assert "GCUPS/core" in output and "parasail" in output
    assert "| workload | tool | variant |" in markdown.read_text()
    data = json.loads(report.read_text())
    rows = [row for row in data["rows"] if row["status"] == "ok"]
    assert {row["tool"] for row in rows} == {"streamalign", "parasail"}
    assert all(row["score_mismatches"] == 0 for row in rows)
    assert all(row["pairs"] == 24 for row in rows)


# ---------------------------------------------------------------------------------------------
# benchmarks/search.py (issue 13): a smoke run on tiny inputs and the checks it relies on.

SEARCH_PATH = KERNELS_PATH.with_name("search.py")
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def search_benchmark() -> Iterator[ModuleType]:
    pytest.importorskip("psutil")
    spec = importlib.util.spec_from_file_location("streamalign_benchmark_search", SEARCH_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_search_identity_check_flags_a_changed_output(
    search_benchmark: ModuleType, tmp_path: Path
) -> None:
    lines = ["query\tscore\n", "a\t10\n", "b\t12\n", "c\t9\n"]
    left = tmp_path / "left.tsv"
    left.write_text("".join(lines))
    same = tmp_path / "same.tsv"
    same.write_text("".join(lines))
    assert search_benchmark.compare_outputs(left, same) == search_benchmark.Comparison(True, 4)
    changed = tmp_path / "changed.tsv"
    changed.write_text("".join([*lines[:2], "b\t13\n", lines[3]]))
    comparison = search_benchmark.compare_outputs(left, changed)
    assert not comparison.identical
    assert comparison.first_difference == 3
    assert (comparison.left_line, comparison.right_line) == ("b\t12\n", "b\t13\n")
    assert "DIFFERENT at line 3" in comparison.describe()
    # A prefix comparison (the exhaustive run on the first reads only) ends before line 3 ...
    assert search_benchmark.compare_outputs(left, changed, lines=2).identical
    # ... and a missing last line is a difference.
    shorter = tmp_path / "shorter.tsv"
    shorter.write_text("".join(lines[:3]))
    comparison = search_benchmark.compare_outputs(left, shorter)
    assert (comparison.identical, comparison.first_difference) == (False, 4)
    assert comparison.right_line == "<end of file>"


def test_search_hit_quality_flags_a_hit_above_the_exact_best(
    search_benchmark: ModuleType, tmp_path: Path
) -> None:
    """vsearch-style hits on every reference, realigned by the benchmark, never beat the
    exact best (the in-process Aligner over all references); an 'exact' answer made worse
    on purpose is caught."""
    import streamalign as sa

    reads = search_benchmark.prepare_reads(DATA / "sam1F.200.fastq.gz", 4, tmp_path)
    references = search_benchmark.prepare_references(DATA / "ten_16s.5.fa", tmp_path)
    scoring = search_benchmark.Scoring("semiglobal", 1, -2, 5, 2)
    pairs = list(zip(references.output_names, references.sequences, strict=True))
    best = sa.Aligner(pairs, "semiglobal").align_many(reads.sequences, strand="both")
    exact = [
        {
            "query": name,
            "reference": alignment.reference_name,
            "score": str(alignment.score),
            "identity": f"{alignment.identity:.6f}",
        }
        for name, alignment in zip(reads.names, best, strict=True)
    ]
    for target in references.names:
        hits = {name: search_benchmark.Hit(target, 90.0, "+") for name in reads.names}
        rescored = search_benchmark.rescore_hits(hits, reads, references, scoring)
        quality = search_benchmark.hit_quality(exact, rescored, len(reads.names))
        assert quality["with_hit"] == 4
        assert quality["by_score"]["better"] == 0
        assert quality["same_reference_score_differs"] == 0
    hits = {name: search_benchmark.Hit(references.names[0], 90.0, "+") for name in reads.names}
    rescored = search_benchmark.rescore_hits(hits, reads, references, scoring)
    worse = [dict(row, score=str(float(row["score"]) - 1)) for row in exact]
    quality = search_benchmark.hit_quality(worse, rescored, len(reads.names))
    assert (
        quality["by_score"]["better"]
        == sum(rescored[row["query"]][1] > float(row["score"]) for row in worse)
        > 0
    )


def test_search_synthetic_database_is_mutated_evenly_and_reproducible(
    search_benchmark: ModuleType, tmp_path: Path
) -> None:
    import dnaio

    import streamalign as sa

    with dnaio.open(DATA / "ten_16s.5.fa") as records:
        genes = [(record.name.split(";")[0], record.sequence) for record in records]
    full = tmp_path / "full.fa"
    report = search_benchmark.synthesize_database(DATA / "ten_16s.5.fa", full, copies=3, seed=5)
    assert (report["records"], report["reused"]) == (15, False)
    again = search_benchmark.synthesize_database(DATA / "ten_16s.5.fa", full, copies=3, seed=5)
    assert again["reused"]
    prefix = tmp_path / "prefix.fa"
    search_benchmark.synthesize_database(DATA / "ten_16s.5.fa", prefix, 3, seed=5, records=7)
    assert full.read_text().startswith(prefix.read_text())  # the same seed, the same mutants
    with dnaio.open(full) as records:
        mutants = [(record.name, record.sequence) for record in records]
    assert len({name for name, _ in mutants}) == 15
    for number, (name, sequence) in enumerate(mutants):
        gene_name, gene = genes[number % 5]  # round by round: every prefix covers the genes
        assert name == f"{gene_name}.m{number // 5}"
        alignment = sa.Aligner(gene, "global").align(sequence)
        # 1-5% of positions hold an event; indels span 1-3 columns.
        assert 0.002 < 1 - alignment.identity < 0.12, (name, alignment.identity)
        assert alignment.insertions + alignment.deletions > 0
    other = tmp_path / "other.fa"
    search_benchmark.synthesize_database(DATA / "ten_16s.5.fa", other, copies=3, seed=6)
    assert other.read_text() != full.read_text()


def test_search_benchmark_smoke(search_benchmark: ModuleType, tmp_path: Path) -> None:
    """Parts 1 and 3 on 6 reads and 5 references (vsearch where installed): the files are
    written, the 'exact best' is the in-process Aligner's, no vsearch hit beats it."""
    import shutil

    import streamalign as sa

    results = tmp_path / "results"
    workdir = tmp_path / "work"
    arguments = [
        "--part", "exact", "growth",
        "--reads-file", str(DATA / "sam1F.200.fastq.gz"),
        "--references", str(DATA / "ten_16s.5.fa"),
        "--reads", "6", "--repeats", "1", "--no-warm-up", "--skip-vsearch-exhaustive",
        "--sizes", "2", "5", "--genes-per-reference", "1",
        "--results", str(results), "--workdir", str(workdir),
    ]  # fmt: skip
    assert search_benchmark.main(arguments) == 0
    report = json.loads((results / "search.json").read_text())
    assert report["reads"] == 6 and report["references"] == 5
    assert report["runs"]["search"]["returncode"] == 0
    exact = search_benchmark.read_tsv(workdir / "exact" / "search.tsv")
    reads = search_benchmark.prepare_reads(DATA / "sam1F.200.fastq.gz", 6, tmp_path)
    references = search_benchmark.prepare_references(DATA / "ten_16s.5.fa", tmp_path)
    pairs = list(zip(references.output_names, references.sequences, strict=True))
    best = sa.Aligner(pairs, "semiglobal").align_many(reads.sequences, strand="both")
    assert [row["query"] for row in exact] == reads.names
    assert [float(row["score"]) for row in exact] == best.scores.tolist()
    assert [row["reference"] for row in exact] == [a.reference_name for a in best]
    if report["features"]["search_modes"]:
        assert report["checks"]["search_equals_exhaustive"]["identical"]
    else:
        assert "streamalign --search exhaustive" in report["not_run"]
    if shutil.which("vsearch"):
        quality = report["quality"]["vsearch_default"]
        assert 0 < quality["with_hit"] <= 6
        assert quality["by_score"]["better"] == 0
        assert quality["same_reference_score_differs"] == 0
        assert report["time_ratios"]["vsearch_default"] > 0
    markdown = (results / "search.md").read_text()
    assert "| run | reads | seconds | reads/s |" in markdown
    growth = json.loads((results / "search_growth.json").read_text())
    assert [row["references"] for row in growth["rows"]] == [2, 5]
    assert all(row["reads_per_second"] > 0 for row in growth["rows"])
    assert "| references |" in (results / "search_growth.md").read_text()


def test_staggered_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/staggered.py runs both kernels on small pairs and restores the settings."""
    from streamalign import _config

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "staggered.py"
    spec = importlib.util.spec_from_file_location("streamalign_benchmark_staggered", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    saved = _config.STAGGERED_MIN_CELLS, _config.STAGGERED_MAX_GROUP_LANES
    arguments = ["--length", "400", "--groups", "1", "3", "--lone", "500", "--repeats", "1"]
    assert module.main(arguments) == 0
    assert saved == (_config.STAGGERED_MIN_CELLS, _config.STAGGERED_MAX_GROUP_LANES)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[2:4]] == ["1", "3"]
    assert lines[4].startswith("lone 500-bp pair on the staggered kernel:")


def test_differences_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/differences.py runs both kernels on small shapes and groups."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "differences.py"
    spec = importlib.util.spec_from_file_location("streamalign_benchmark_differences", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    arguments = ["--part", "shapes", "lanes", "--shapes", "20x30", "--cells", "20000"]
    assert module.main([*arguments, "--reads", "1", "3", "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split()[0] == "20x30" and len(lines[2].split()) == 3
    assert [line.split()[0] for line in lines[5:7]] == ["1", "3"]


def test_multireference_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/multireference.py runs both score paths (checked equal) and pass widths."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "multireference.py"
    spec = importlib.util.spec_from_file_location("streamalign_benchmark_multireference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    genes = Path(__file__).resolve().parent / "data" / "example_train_set.fa.gz"
    arguments = ["--genes", str(genes), "--reads", "5", "--candidates", "1", "3"]
    arguments += ["--genes-per-read", "20", "--pass-lanes", "64", "128", "--repeats", "1"]
    assert module.main(arguments) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[2:4]] == ["1", "3"]
    assert [line.split()[0] for line in lines[6:8]] == ["64", "128"]
    assert all(len(line.split()) == 5 for line in lines[2:4])


def test_search_growth_slowdown_uses_the_largest_database(search_benchmark: ModuleType) -> None:
    """The growth goal compares 4,000 references with the largest database measured (the
    synthetic one holds 399,400 genes, not 400,000), and is not claimed without both."""
    rows = [
        {"references": 4_000, "reads_per_second": 100.0},
        {"references": 40_000, "reads_per_second": 30.0},
        {"references": 399_400, "reads_per_second": 2.0},
    ]
    assert search_benchmark.growth_slowdown(rows) == (399_400, 50.0)
    assert search_benchmark.growth_slowdown(rows[:2]) is None
    assert search_benchmark.growth_slowdown(rows[1:]) is None


def test_family_bound_study_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """benchmarks/family_bound_study.py on mutants of 4 real genes and of a fifth 5% off the
    first, with reads 10% off the first: the read-aware and the position-aware bounds hold
    (the script checks them against exact scores) and never leave more members unsettled
    than the costliest-stretch bound; the read-aware one leaves fewer here."""
    import random

    import dnaio

    from cli_helpers import run_cli
    from streamalign.options import ExitStatus
    from test_alignment_reference import mutate
    from test_search import real_genes

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "family_bound_study.py"
    spec = importlib.util.spec_from_file_location("streamalign_benchmark_family_bound", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = random.Random(3)
    genes = [sequence for _, sequence in real_genes()[:4]]
    genes.append(mutate(rng, genes[0], 0.05, 0.0))
    fasta = tmp_path / "mutants.fa"
    with dnaio.open(fasta, mode="w") as out:
        for number, gene in enumerate(genes):
            for copy in range(8):
                out.write(dnaio.SequenceRecord(f"g{number}.{copy}", mutate(rng, gene, 0.02, 0.0)))
    index = tmp_path / "mutants.idx"
    assert run_cli(["index", str(fasta), "-o", str(index), "--quiet"])[0] == ExitStatus.SUCCESS
    reads = tmp_path / "reads.fa"
    with dnaio.open(reads, mode="w") as out:
        for number in range(3):
            start = rng.randrange(len(genes[0]) - 250)
            piece = mutate(rng, genes[0][start : start + 250], 0.1, 0.0)
            out.write(dnaio.SequenceRecord(f"r{number}", piece))
    assert module.main([str(index), str(reads), "--reads", "3"]) == 0
    rows = [
        [int(value) for value in line.split()[1:5]] + [int(line.split()[7])]
        for line in capsys.readouterr().out.splitlines()[1:]
    ]
    assert len(rows) == 3
    assert all(
        members == 40 and 1 <= reach <= aware <= now and reach <= ended <= now
        for members, reach, now, aware, ended in rows
    )
    assert sum(row[3] for row in rows) < sum(row[2] for row in rows)
