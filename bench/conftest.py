"""Shared set-up of the benchmarks: equal thread counts for every library."""

import os

import pytest

import fastgru

THREADS = int(os.environ.get("FASTGRU_BENCH_THREADS", os.cpu_count() or 1))


@pytest.fixture(scope="session", autouse=True)
def equal_threads():
    fastgru.set_num_threads(min(THREADS, fastgru.get_num_threads()))
    try:
        import torch

        torch.set_num_threads(THREADS)
    except ImportError:
        pass
    return THREADS
