"""Cold and warm start against torch, in fresh processes, as ratios.

Each scenario runs in a fresh interpreter and times, from before the first
import: importing the library and its first float32 GRU forward ("first"),
or a forward, a training step (forward, backward, parameter update) and one
streaming step ("train"). torch's cold start is the anchor. fastgru runs
cold (an empty cache directory: every kernel it needs compiles), warm (the
same directory, filled by the cold run), installed (an empty cache
directory and the wheel ``pip install .`` builds, whose kernels ``setup.py``
compiled for this CPU: the first run after installing) and portable (the
same with ``FASTGRU_PREBUILD=x86-64-v3``, a wheel for any AVX2 machine;
x86-64 only). With ``FASTGRU_BENCH_BASELINE`` set to another checkout's
root (the same layout: ``fastgru/`` inside it), its cold runs ("baseline
cold") are timed in the same run, beside this checkout's, for a before and
after of a change to the kernels.
Wall and CPU seconds are recorded (CPU time is less sensitive to other
processes on a loaded machine). The ratios are written to
``bench/coldstart.json`` and printed; nothing is asserted about them.

Run: ``python -m pytest bench/test_bench_coldstart.py -s --benchmark-enable``
(with benchmarks disabled, as in the test suite, it is a smoke run of the
first forward only and writes nothing).
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).with_name("coldstart.json")
# "installed", "portable": also time installs of built wheels (each build
# compiles every kernel, 1-2 minutes)
WHEELS = os.environ.get("FASTGRU_BENCH_WHEELS", "1") != "0"
PORTABLE = platform.machine().lower() in ("x86_64", "amd64")
# another checkout whose cold start is timed beside this one's
BASELINE = os.environ.get("FASTGRU_BENCH_BASELINE")

PRELUDE = """
import time
start, cpu_start = time.perf_counter(), time.process_time()
"""
REPORT = """
print("TIMES", time.perf_counter() - start, time.process_time() - cpu_start)
"""

TORCH = {
    "first": """
        import torch
        gru = torch.nn.GRU(8, 64, batch_first=True)
        with torch.inference_mode():
            gru(torch.zeros(1, 10, 8))
    """,
    "train": """
        import torch
        gru = torch.nn.GRU(8, 64, batch_first=True)
        x = torch.zeros(1, 10, 8)
        with torch.inference_mode():
            gru(x)
        optimizer = torch.optim.SGD(gru.parameters(), lr=0.01)
        y, _ = gru(x)
        y.square().mean().backward()
        optimizer.step()
        cell = torch.nn.GRUCell(8, 64)
        with torch.inference_mode():
            cell(x[:, 0])
    """,
}

FASTGRU = {
    "first": """
        import numpy as np
        import fastgru
        layer = fastgru.GRU(8, 64, random_state=0)
        layer.forward(np.zeros((1, 10, 8), np.float32))
    """,
    "train": """
        import numpy as np
        import fastgru
        layer = fastgru.GRU(8, 64, random_state=0)
        x = np.zeros((1, 10, 8), np.float32)
        layer.forward(x)
        y, _ = layer.forward(x, training=True)
        layer.backward(2 * y / y.size)
        for name, grad in layer.grads.items():  # an SGD update
            layer.params[name] -= 0.01 * grad
        layer.step(x[:, 0])
    """,
}


def _time(body, env):
    script = PRELUDE + textwrap.dedent(body) + REPORT
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=1800, cwd=tempfile.gettempdir())
    assert out.returncode == 0, out.stderr[-3000:]
    wall, cpu = out.stdout.split("TIMES")[-1].split()
    return float(wall), float(cpu)


def _env(cache_dir, package_parent=ROOT):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "FASTGRU_NO_CACHE", "FASTGRU_PORTABLE")}
    env["FASTGRU_CACHE_DIR"] = cache_dir
    env["PYTHONPATH"] = str(package_parent)
    return env


@pytest.mark.slow
def test_cold_and_warm_start_against_torch(request):
    # with benchmarks disabled (the test suite's default), a smoke run: the
    # first forward only, no prebuilt package, and bench/coldstart.json untouched
    # (pytest-benchmark's rule: --benchmark-enable overrides the addopts' disable)
    smoke = (request.config.getoption("benchmark_disable", False)
             and not request.config.getoption("benchmark_enable", False))
    scenarios = ("first",) if smoke else ("first", "train")
    wheels = {}
    results = {}
    torch_runs = {name: [] for name in scenarios}
    with tempfile.TemporaryDirectory(prefix="fastgru-coldstart-") as tmp:
        if WHEELS and not smoke:
            from bench.wheel import installed_wheel

            wheels["installed"] = installed_wheel(Path(tmp) / "installed")
            if PORTABLE:
                wheels["portable"] = installed_wheel(Path(tmp) / "portable", "x86-64-v3")
        for name in scenarios:
            torch_runs[name].append(_time(TORCH[name], _env(tmp)))
            # an empty cache for each cold run: the scenario compiles all it needs
            cold = os.path.join(tmp, f"cold-{name}")
            results[f"fastgru cold {name}"] = _time(FASTGRU[name], _env(cold))
            if BASELINE and not smoke:
                results[f"baseline cold {name}"] = _time(
                    FASTGRU[name], _env(os.path.join(tmp, f"baseline-{name}"), Path(BASELINE)))
            torch_runs[name].append(_time(TORCH[name], _env(tmp)))
            warm = [_time(FASTGRU[name], _env(cold)) for _ in range(3)]
            results[f"fastgru warm {name}"] = sorted(warm)[1]  # the median run
            for kind, site in wheels.items():  # an empty user cache, kernels in the package
                results[f"fastgru {kind} {name}"] = _time(
                    FASTGRU[name], _env(os.path.join(tmp, f"empty-{kind}-{name}"), site))
            torch_runs[name].append(_time(TORCH[name], _env(tmp)))
    table = {}
    for key, (wall, cpu) in results.items():
        name = key.split()[-1]
        t_wall = statistics.median(t[0] for t in torch_runs[name])
        t_cpu = statistics.median(t[1] for t in torch_runs[name])
        table[key] = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                      "torch_wall_s": round(t_wall, 2), "torch_cpu_s": round(t_cpu, 2),
                      "ratio_wall": round(wall / t_wall, 2), "ratio_cpu": round(cpu / t_cpu, 2)}
    if not smoke:
        OUT.write_text(json.dumps({"python": sys.version.split()[0], "cpus": os.cpu_count(),
                                   "results": table}, indent=2) + "\n")
    print()
    for key, row in table.items():
        print(f"{key:22s} {row['wall_s']:7.2f} s wall ({row['ratio_wall']:5.2f}x torch "
              f"{row['torch_wall_s']:.2f} s), {row['cpu_s']:7.2f} s cpu "
              f"({row['ratio_cpu']:5.2f}x torch {row['torch_cpu_s']:.2f} s)")
    kinds = ("cold", "warm", *wheels)
    expected = {f"fastgru {c} {n}" for c in kinds for n in scenarios}
    if BASELINE and not smoke:
        expected |= {f"baseline cold {n}" for n in scenarios}
    assert set(table) == expected
