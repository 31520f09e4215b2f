"""``streamalign bench``: runs in-process, writes its JSON and PNG; the Amdahl fit is exact."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from streamalign.bench import amdahl_speedup, fit_amdahl
from streamalign.cli import main

DATA = Path(__file__).parent / "data"


def test_bench_writes_json_and_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    stdout, stderr = io.StringIO(), io.StringIO()
    status = main(
        [
            "bench",
            "-r",
            str(DATA / "ecoli_16S.fa"),
            str(DATA / "sam1F.200.fastq.gz"),
            "--max-workers",
            "2",
            "--repeats",
            "1",
            "--plot",
            str(tmp_path / "s.png"),
            "--json",
            str(tmp_path / "s.json"),
        ],
        stdout=stdout,
        stderr=stderr,
    )
    assert status == 0, stderr.getvalue()
    document = json.loads((tmp_path / "s.json").read_text())
    points = sorted((row["backend"], row["workers"]) for row in document["rows"])
    assert points == [("processes", 1), ("processes", 2), ("threads", 1), ("threads", 2)]
    assert all(row["reads"] == 200 for row in document["rows"])
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Amdahl fit, threads" in stdout.getvalue()


@pytest.mark.parametrize("serial", [0.0, 0.05, 0.3137, 1.0])
def test_fit_amdahl_recovers_the_serial_fraction(serial: float) -> None:
    workers = [1, 2, 3, 4, 8, 16]
    speedups = [amdahl_speedup(serial, n) for n in workers]
    fitted = fit_amdahl(workers, speedups)
    assert fitted is not None
    assert abs(fitted - serial) < 1e-6


def test_fit_amdahl_needs_more_than_one_worker() -> None:
    assert fit_amdahl([1], [1.0]) is None
