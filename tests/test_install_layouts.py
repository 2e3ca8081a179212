"""An editable install (``pip install -e .``) is run from the checkout's
parent folder: ``python -m fastgru`` there imports the package, not the
checkout folder (named like the package) as an empty namespace package.

The editable wheel is built as pip builds it (setuptools' PEP 660 hook, no
kernels compiled) from a copy of the checkout in a folder named
``fastgru``, and its ``.pth`` files are processed as site-packages would.
"""

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BUILD = """
    import sys
    from setuptools import build_meta
    print(build_meta.build_editable(sys.argv[1]))
"""

RUN = """
    import runpy, site, sys
    site.addsitedir(sys.argv[1])  # as the venv's site-packages: its .pth files
    sys.argv = ["fastgru", "info"]
    runpy.run_module("fastgru", run_name="__main__", alter_sys=True)
"""


def test_editable_install_runs_from_the_parent_folder(tmp_path):
    # bdist_wheel is setuptools' own from 70.1 (the test extra asks for it)
    pytest.importorskip("setuptools", minversion="70.1")
    parent = tmp_path / "parent"
    checkout = parent / "fastgru"  # a clone keeps the repository's name
    shutil.copytree(ROOT / "fastgru", checkout / "fastgru",
                    ignore=shutil.ignore_patterns("__pycache__", "_prebuilt"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, checkout / name)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH",) and not k.startswith(("FASTGRU_", "NUMBA_"))}
    env["FASTGRU_CACHE_DIR"] = str(tmp_path / "cache")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    built = subprocess.run([sys.executable, "-c", textwrap.dedent(BUILD), str(wheels)],
                           cwd=checkout, env=env, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    site = tmp_path / "site-packages"
    with zipfile.ZipFile(wheels / built.stdout.split()[-1]) as archive:
        archive.extractall(site)
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(RUN), str(site)], cwd=parent,
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("fastgru 0.1.0"), out.stdout
    assert "/unknown/" not in out.stdout  # the cache of a package without a version
