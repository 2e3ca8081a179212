"""Build fastgru's wheel as ``pip install .`` does and unpack it, as an install.

``from bench.wheel import installed_wheel`` (from the repository root): used by
``bench/test_bench_coldstart.py`` (its "installed" and "portable" starts) and
``tests/test_prebuilt.py`` (an installed wheel compiles nothing).
"""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def installed_wheel(dest, prebuild="native", timeout=1800) -> Path:
    """Build the wheel of the checkout with ``setup.py``'s kernel compile
    (``FASTGRU_PREBUILD=prebuild``) and unpack it below ``dest``.

    Built from a copy of the sources in ``dest`` (the checkout's ``build/``
    is left alone) with ``pip wheel --no-build-isolation`` (the current
    environment's Numba, no download). Returns the directory to put on
    ``PYTHONPATH``: it holds ``fastgru/`` as ``pip install`` would put it in
    site-packages.
    """
    dest = Path(dest)
    source = dest / "source"
    shutil.copytree(ROOT / "fastgru", source / "fastgru",
                    ignore=shutil.ignore_patterns("__pycache__", "_prebuilt"))
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    dist = dest / "dist"
    env = {k: v for k, v in os.environ.items()
           if k not in ("FASTGRU_NO_CACHE", "FASTGRU_PORTABLE", "PYTHONPATH")}
    env["FASTGRU_PREBUILD"] = prebuild
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps",
                          "--no-build-isolation", "--no-cache-dir", "-w", str(dist)],
                         env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"pip wheel failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    (wheel,) = dist.glob("fastgru-*.whl")
    site = dest / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site
