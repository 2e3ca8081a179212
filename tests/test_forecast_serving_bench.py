"""bench/forecast_serving.py runs end to end on a small panel, and its
threaded answers equal the serial ones."""

from pathlib import Path

import pytest
from _helpers import load_script

pytest.importorskip("pandas")

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "forecast_serving.py"


def test_the_bench_times_every_request_and_checks_threaded_answers(capsys):
    bench = load_script(SCRIPT, "bench_forecast_serving")
    panel = bench.panel(6)
    assert panel.unique_id.nunique() == 6
    assert panel.groupby("unique_id").size().between(48, 143).all()
    assert (panel.groupby("unique_id").ds.max() == "2024-12-01").all()
    bench.main(["--series", "6", "--calls", "3", "--seconds", "0.2", "--no-warmup"])
    out = capsys.readouterr().out
    assert "| stored, all 6 series, levels |" in out
    assert "| one new series, dict of an array, levels |" in out
    rows = [line for line in out.splitlines() if line.startswith("| one new series")
            and line.count("|") == 5]
    assert len(rows) == 6 and all(line.endswith("| yes |") for line in rows)
