"""bench/long_series.py end to end on a short series."""

from pathlib import Path

from _helpers import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "long_series.py"


def test_long_series_fits_with_and_without_the_sample():
    module = load_script(SCRIPT, "bench_long_series")
    sample, every = module.main(["--steps", "3000", "--every-window"])
    assert (sample["every_window"], every["every_window"]) == (False, True)
    # 3,000 steps leave fewer origins than the cap: both cut every window
    assert sample["training_windows"] == every["training_windows"] > 2500
    assert sample["cap"] == 2**19
    assert every["peak_rss_mb"] >= every["rss_before_mb"] > 0 and every["time_s"] >= 0
