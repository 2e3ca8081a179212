"""Build hook: the wheel that ``pip install .`` builds carries its kernels compiled.

Everything else about the package is declared in ``pyproject.toml``. After the
package's files are copied into the build directory, ``build_py`` runs
``python -m fastgru warmup`` on that copy, for float32 and float64 with
training, into ``fastgru/_prebuilt`` inside the wheel: the kernels that layers,
estimators and training call are compiled once, while pip builds, and the first
process after installing loads them instead of compiling (``fastgru._cache``
looks the prebuilt directory up after the user's cache).

``FASTGRU_PREBUILD`` chooses what is compiled:

* ``native`` (default): for this machine's CPU (the fastest code; another CPU
  model finds no entry for itself and compiles on first use, as without it);
* an x86-64 level, ``x86-64-v2``, ``x86-64-v3`` or ``x86-64-v4``: code that
  runs on any CPU with that level's features, for a wheel built once and
  installed on several machines (slower code than ``native`` on newer CPUs);
* ``0``: nothing (a faster build; kernels compile on first use).

The prebuilt kernels serve the Numba and Python versions of the build: pip
builds in an isolated environment with the newest Numba that fits, so a
project that pins an older Numba builds with ``pip install
--no-build-isolation .`` to compile against its own. An editable install
(``pip install -e``) compiles nothing here: its kernels compile on first use,
into the user's cache, and again whenever their source changes.
"""

import os
import shutil
import subprocess
import sys
import time

from setuptools import setup
from setuptools.command.build_py import build_py

LEVELS = ("x86-64-v2", "x86-64-v3", "x86-64-v4")


def _env_module():
    """``fastgru/_env.py``, loaded on its own (importing the package would
    import Numba and the kernels)."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fastgru", "_env.py")
    spec = importlib.util.spec_from_file_location("_fastgru_env", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class build_py_with_kernels(build_py):
    def run(self):
        # no kernels left from an earlier build in the same build directory (a
        # fastgru/_prebuilt in the source tree is not package data: not copied)
        shutil.rmtree(os.path.join(self.build_lib, "fastgru", "_prebuilt"), ignore_errors=True)
        super().run()
        if getattr(self, "editable_mode", False):
            return
        value = os.environ.get("FASTGRU_PREBUILD", "native")
        target = value.strip().lower()
        switch = _env_module()  # fastgru's one parser of boolean switches
        if target in switch.FALSE:
            self._say("fastgru: FASTGRU_PREBUILD=0, kernels compile on first use")
            return
        if target in ("", *switch.TRUE):
            target = "native"
        if target != "native" and target not in LEVELS:
            raise SystemExit(f"FASTGRU_PREBUILD must be native, 0 or one of {', '.join(LEVELS)}; "
                             f"got {value!r}")
        self._compile_kernels(target)

    def _say(self, message):
        print(message, file=sys.stderr, flush=True)

    def _compile_kernels(self, target):
        build_lib = os.path.abspath(self.build_lib)
        prebuilt = os.path.join(build_lib, "fastgru", "_prebuilt")
        command = [sys.executable, "-m", "fastgru", "warmup", "--dtypes", "float32", "float64",
                   "--training", "--cache-dir", prebuilt]
        if target != "native":
            command += ["--portable", target]
        path = os.environ.get("PYTHONPATH")
        # Numba settings are not part of its cache keys: none of the build
        # environment's may shape the shipped code (NUMBA_OPT, NUMBA_BOUNDSCHECK,
        # ...). Two threads at least, so that the parallel launcher is compiled
        # also on a one-CPU builder.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("NUMBA_") and k != "FASTGRU_NO_CACHE"}
        env["PYTHONPATH"] = build_lib + (os.pathsep + path if path else "")
        env["NUMBA_NUM_THREADS"] = str(max(2, os.cpu_count() or 1))
        self._say(f"fastgru: compiling the kernels into the wheel for {target} "
                  "(about 1-2 minutes; FASTGRU_PREBUILD=0 skips this)")
        start = time.perf_counter()
        try:
            # from the build directory, so that the copy being packaged is imported
            done = subprocess.run(command, cwd=build_lib, env=env, timeout=3600)
            ok = done.returncode == 0
        except (OSError, subprocess.TimeoutExpired) as exc:
            ok = False
            self._say(f"fastgru: {exc}")
        if ok:
            self._say(f"fastgru: kernels compiled in {time.perf_counter() - start:.0f} s")
        else:  # the package works without them: kernels then compile on first use
            self._say("fastgru: WARNING: compiling the kernels failed (see above); those "
                      "missing from the wheel will compile on first use")


setup(cmdclass={"build_py": build_py_with_kernels})
