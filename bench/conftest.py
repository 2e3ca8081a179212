"""Shared set-up of the benchmarks: equal thread counts for every library, and
``--bench-passes N``: the timing benchmarks run N times, pass after pass
through the whole suite (a pass apart), and ``bench/report.py`` takes
each one's median over the passes. The machine this was made on has windows
of seconds in which every library's two-thread work runs up to 2x slower;
with one pass such a window sets the ratio of whichever benchmark it hits,
with three it has to hit two passes of the same benchmark."""

import os

import pytest

import fastgru

THREADS = int(os.environ.get("FASTGRU_BENCH_THREADS", os.cpu_count() or 1))

# spawns fresh processes and takes ~15 s with an empty cache: timed once
_ONE_PASS = {"test_cold_start"}


def pytest_addoption(parser):
    parser.addoption("--bench-passes", type=int, default=1, metavar="N",
                     help="run the timing benchmarks N times, pass after pass through "
                     "the suite (bench/report.py takes the median over passes)")


@pytest.fixture(autouse=True)
def bench_pass():
    """Which pass of ``--bench-passes`` a benchmark runs in (0 by default)."""
    return 0


def pytest_generate_tests(metafunc):
    passes = metafunc.config.getoption("--bench-passes")
    if passes < 1:
        raise pytest.UsageError("--bench-passes must be at least 1")
    if (passes > 1 and "benchmark" in metafunc.fixturenames
            and metafunc.function.__name__ not in _ONE_PASS):
        metafunc.parametrize("bench_pass", range(passes), ids=lambda p: f"pass{p}")


@pytest.hookimpl(tryfirst=True)  # marked before -m deselects
def pytest_collection_modifyitems(config, items):
    """Every benchmark's smoke run belongs to the full suite, not to the quick
    tier (``-m "not slow"``). Pass 0 of every benchmark, then pass 1, ...: a
    pass apart in time."""
    bench_dir = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.path).startswith(bench_dir + os.sep):
            item.add_marker(pytest.mark.slow)
    if config.getoption("--bench-passes") == 1:
        return

    def pass_of(item):
        callspec = getattr(item, "callspec", None)
        return callspec.params.get("bench_pass", 0) if callspec else 0

    items.sort(key=pass_of)  # stable: the suite's own order within a pass


@pytest.fixture(scope="session", autouse=True)
def equal_threads():
    fastgru.set_num_threads(min(THREADS, fastgru.get_num_threads()))
    try:
        import torch

        torch.set_num_threads(THREADS)
    except ImportError:
        pass
    return THREADS
