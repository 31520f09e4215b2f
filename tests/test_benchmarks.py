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
