"""What ``import fastgru`` does to the process (docs/deployment.md, "What
importing fastgru changes"): it asks Numba for a fork-safe threading layer
only when the user has not chosen one, and loads TBB only for a layer that
may be TBB. Each case in a fresh interpreter, as a layer is chosen once per
process."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

REPORT = """
    import numpy as np
    import fastgru
    from fastgru import _runtime
    fastgru.GRU(2, 4, random_state=0).forward(np.zeros((64, 3, 2), np.float32))
    print(numba.config.THREADING_LAYER, numba.threading_layer(), _runtime.TBB_PRELOADED)
"""


def _run(before, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    env.update(PYTHONPATH=str(ROOT), NUMBA_NUM_THREADS="2", **(env_extra or {}))
    script = "import numba\n" + textwrap.dedent(before) + textwrap.dedent(REPORT)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.split()


def test_without_a_choice_fastgru_asks_for_a_fork_safe_layer():
    config, layer, _ = _run("")
    assert config == "forksafe" and layer in ("tbb", "workqueue")


@pytest.mark.parametrize("layer", ["workqueue", pytest.param("omp", marks=pytest.mark.slow)])
def test_a_layer_set_in_numba_config_before_import_is_kept(layer):
    try:
        config, used, preloaded = _run(f"numba.config.THREADING_LAYER = {layer!r}")
    except AssertionError as exc:
        if layer == "omp" and "No threading layer could be loaded" in str(exc):
            pytest.skip("Numba's omp layer is not available here")
        raise
    assert config == layer and used == layer
    assert preloaded == "None"  # TBB is not loaded for a layer that is not TBB


def test_a_layer_set_in_the_environment_is_kept():
    config, used, preloaded = _run("", {"NUMBA_THREADING_LAYER": "workqueue"})
    assert config == used == "workqueue" and preloaded == "None"
