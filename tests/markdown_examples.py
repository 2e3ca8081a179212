"""Run the ```python blocks of a markdown file, in order, as a notebook would.

Usage: ``python tests/markdown_examples.py FILE.md [--first N] [--base-install]``.

The blocks of one file run top to bottom in one namespace, in this process.
A block whose imports name a module that is not installed is skipped (and
said so), like ``pytest.importorskip``; the file's blocks are written so that
no later block needs what an optional one defines. Each block is compiled
under the markdown file's own name with its own line numbers, so a
traceback points at the line of the file that failed.

``--base-install`` makes the optional packages (pandas, torch, ...)
unimportable, as after a plain ``pip install .``, and fails on any block
that needs one instead of skipping it. ``--first N`` runs the first N blocks
only.

Prints ``RAN FILE:LINE (seconds)`` or ``SKIPPED FILE:LINE: needs MODULE`` per block;
the exit status is 1 on the first block that raises.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import re
import sys
import time
import traceback
from pathlib import Path

# Not installed by `pip install .`: what the extras bring.
OPTIONAL = ("pandas", "torch", "keras", "onnx", "onnxruntime", "matplotlib", "dask",
            "distributed", "xarray", "IPython", "nbclient", "nbformat", "pytest")

_FENCE = re.compile(r"^(`{3,})\s*python\s*$")


def python_blocks(path) -> list[tuple[int, str]]:
    """The ```python blocks of a markdown file: ``(first code line, source)`` each."""
    blocks, lines = [], Path(path).read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i].strip())
        if match:
            start, fence = i + 1, match.group(1)
            i += 1
            while i < len(lines) and lines[i].strip() != fence:
                i += 1
            blocks.append((start + 1, "\n".join(lines[start:i]) + "\n"))
        i += 1
    return blocks


def imported_modules(source: str) -> list[str]:
    """Top-level names of the modules a block imports (absolute imports only)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module.split(".")[0])
    return list(dict.fromkeys(names))


class _Uninstalled:
    """A meta-path finder that makes the named top-level packages unimportable."""

    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (not installed by "
                                      "`pip install .`)", name=fullname)
        return None


def _missing(names, blocked) -> list[str]:
    return [n for n in names if n in blocked or importlib.util.find_spec(n) is None]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--first", type=int, default=None)
    parser.add_argument("--base-install", action="store_true")
    args = parser.parse_args(argv)
    path = Path(args.file).resolve()
    blocked = set(OPTIONAL) if args.base_install else set()
    if blocked:
        sys.meta_path.insert(0, _Uninstalled(blocked))
    namespace = {"__name__": "__main__"}
    for line, source in python_blocks(path)[: args.first]:
        where = f"{path.name}:{line}"
        missing = _missing(imported_modules(source), blocked)
        if missing and args.base_install:
            print(f"FAILED {where}: needs {', '.join(missing)}, not in `pip install .`")
            return 1
        if missing:
            print(f"SKIPPED {where}: needs {', '.join(missing)}", flush=True)
            continue
        code = compile("\n" * (line - 1) + source, str(path), "exec")
        start = time.perf_counter()
        try:
            exec(code, namespace)
        except BaseException:
            print(f"FAILED {where}: the block starting at line {line} raised", flush=True)
            traceback.print_exc()
            return 1
        print(f"RAN {where} ({time.perf_counter() - start:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
