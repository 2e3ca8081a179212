"""bench/report.py: the ratio table from a pytest-benchmark JSON."""

import json
from pathlib import Path

import pytest
from _helpers import load_script

REPORT = Path(__file__).resolve().parents[1] / "bench" / "report.py"


@pytest.fixture(scope="module")
def report():
    return load_script(REPORT, "bench_report")


def _bench(group, impl, median, fastest, bench_pass=None):
    params = {"impl": impl} if bench_pass is None else {"impl": impl, "bench_pass": bench_pass}
    return {"group": group, "name": f"test[{impl}]", "params": params,
            "stats": {"median": median, "min": fastest}}


def test_passes_combine_to_the_median_of_their_medians(report, tmp_path):
    group = "inference B2-T3-I4-H5"
    fastgru = [(1.0, 0.9), (3.0, 0.8), (1.2, 1.1)]  # (median, min) of 3 passes
    torch = [(4.0, 3.9), (4.4, 4.1), (9.0, 2.0)]
    benchmarks = ([_bench(group, "fastgru", m, f, p) for p, (m, f) in enumerate(fastgru)]
                  + [_bench(group, "torch", m, f, p) for p, (m, f) in enumerate(torch)])
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"benchmarks": benchmarks}))
    _, groups = report.load(path)
    fg, tt = groups[group]["fastgru"]["stats"], groups[group]["torch"]["stats"]
    assert (fg["median"], fg["min"], fg["passes"]) == (1.2, 0.8, 3)
    assert (tt["median"], tt["min"]) == (4.4, 2.0)
    _, ratios = report.table(groups)
    assert ratios[group] == (pytest.approx(1.2 / 4.4), None)
    _, ratios = report.table(groups, stat="min")
    assert ratios[group] == (pytest.approx(0.8 / 2.0), None)


def test_a_single_pass_is_read_as_it_is(report, tmp_path):
    group = "training B2-T3-I4-H5"
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"benchmarks": [_bench(group, "fastgru", 2.0, 1.5),
                                               _bench(group, "torch", 8.0, 7.0)]}))
    _, groups = report.load(path)
    assert groups[group]["fastgru"]["stats"]["passes"] == 1
    md, ratios = report.table(groups)
    assert ratios[group] == (0.25, None)
    assert "| training B2-T3-I4-H5 | 2000.00 ms | 8000.00 ms | - | 0.25 | - |" in md


def test_plot_ratios_draws_a_bar_per_ratio_and_writes_a_png(report, tmp_path):
    pytest.importorskip("matplotlib")
    ratios = {"inference B1-T2-I3-H4": (0.5, 0.9), "training B1-T2-I3-H4": (0.25, None)}
    path = tmp_path / "ratios.png"
    fig = report.plot_ratios(ratios, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    widths = sorted(round(bar.get_width(), 6) for bar in fig.axes[0].patches)
    assert widths == [0, 0.25, 0.5, 0.9]  # torch and onnxruntime bars; a missing one is 0


def test_report_is_importable_from_the_repository_root():
    import subprocess
    import sys

    code = "from bench.report import load, plot_ratios, table; print(table.__name__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPORT.parents[1], check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == "table"
