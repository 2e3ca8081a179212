"""The Examples sections of fastgru's docstrings run as doctests.

All modules run in one fresh interpreter (kernels compile once; an example that
sets the thread count cannot leak into other tests), in an empty working
directory. Each module is then reported as its own test.
"""

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

MODULES = sorted(["fastgru"] + [m.name for m in pkgutil.walk_packages(
    [str(ROOT / "fastgru")], prefix="fastgru.")])

_RUN = """
import contextlib, doctest, importlib, io, json, sys
results = {}
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        failed, attempted = doctest.testmod(
            module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    results[name] = [failed, attempted, out.getvalue()]
print("RESULTS " + json.dumps(results))
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cwd = tmp_path_factory.mktemp("doctest")
    env["TMPDIR"] = str(cwd)  # the examples' tempfile.mkdtemp() folders go with it
    proc = subprocess.run([sys.executable, "-c", _RUN, *MODULES], env=env, text=True,
                          capture_output=True, timeout=1200, cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-6000:]
    line = [s for s in proc.stdout.splitlines() if s.startswith("RESULTS ")][-1]
    return json.loads(line[len("RESULTS "):])


def test_public_modules_have_examples(results):
    attempted = {name: r[1] for name, r in results.items()}
    for name in ["fastgru.layer", "fastgru.estimators", "fastgru.forecasting",
                 "fastgru.serialization", "fastgru.preprocessing", "fastgru.datasets",
                 "fastgru._warmup", "fastgru._runtime", "fastgru.metrics"]:
        assert attempted[name] > 0, f"{name} has no docstring example"


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(results, module):
    failed, attempted, output = results[module]
    assert failed == 0, f"{failed} of {attempted} doctest examples of {module} failed:\n{output}"
