"""bench/long_series.py end to end on a short series."""

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "long_series.py"


def test_long_series_fits_with_and_without_the_sample():
    spec = importlib.util.spec_from_file_location("bench_long_series", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    sample, every = module.main(["--steps", "3000", "--every-window"])
    assert (sample["every_window"], every["every_window"]) == (False, True)
    # 3,000 steps leave fewer origins than the cap: both cut every window
    assert sample["training_windows"] == every["training_windows"] > 2500
    assert sample["cap"] == 2**19
    assert every["peak_rss_mb"] >= every["rss_before_mb"] > 0 and every["time_s"] >= 0
