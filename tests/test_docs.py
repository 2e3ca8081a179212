"""Every example of README.md and docs/*.md runs as written; quoted numbers match their run.

Each markdown file's ```python blocks run in order in a fresh interpreter
(``tests/markdown_examples.py``), in an empty working directory, on the
checked-out fastgru. A block that imports an optional package that is not
installed is skipped, and the test says which.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "tests" / "markdown_examples.py"
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]

sys.path.insert(0, str(RUNNER.parent))
from _helpers import load_script  # noqa: E402
from markdown_examples import python_blocks  # noqa: E402

WITH_EXAMPLES = [path for path in DOCS if python_blocks(path)]


def _run(path, tmp_path, *options):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.setdefault("KERAS_BACKEND", "torch")  # Keras 3's default backend, TensorFlow, is not used
    env["TMPDIR"] = str(tmp_path)  # the examples' tempfile.mkdtemp() folders go with tmp_path
    return subprocess.run([sys.executable, str(RUNNER), str(path), *options], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=1200)


@pytest.mark.slow
@pytest.mark.parametrize("path", WITH_EXAMPLES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_markdown_examples_run(path, tmp_path):
    proc = _run(path, tmp_path)
    assert proc.returncode == 0, (
        f"an example of {path.relative_to(ROOT)} failed:\n{proc.stdout[-4000:]}\n"
        f"{proc.stderr[-6000:]}")
    ran = [line for line in proc.stdout.splitlines() if line.startswith("RAN ")]
    skipped = [line for line in proc.stdout.splitlines() if line.startswith("SKIPPED ")]
    assert len(ran) + len(skipped) == len(python_blocks(path))
    # pandas elides the middle columns of a frame wider than 80 characters and
    # adds this footer: a reader would not see what the text says is printed
    elided = re.findall(r"^\[\d+ rows x \d+ columns\]$", proc.stdout, flags=re.M)
    assert not elided, f"an example prints an elided DataFrame: {elided}"
    if skipped:
        pytest.skip(f"ran {len(ran)} blocks; " + "; ".join(skipped))


def test_readme_first_three_examples_need_only_pip_install(tmp_path):
    """`pip install .` brings no pandas, torch or matplotlib: the first three blocks
    run with those unimportable."""
    proc = _run(README, tmp_path, "--first", "3", "--base-install")
    assert proc.returncode == 0, f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
    assert proc.stdout.count("RAN ") == 3


def test_readme_has_an_example_per_task():
    text = README.read_text()
    assert len(python_blocks(README)) >= 10
    for heading in ["## Install", "## Quick start", "## The layer", "## Classify",
                    "## Forecast", "## Save and load", "## Serve", "## Interop", "## Variants",
                    "## Bad input"]:
        assert heading in text, heading


def test_readme_is_a_user_guide_under_350_lines():
    assert len(README.read_text().splitlines()) < 350


def _shell_blocks(text):
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_quick_start_commands_are_what_ci_runs():
    quick = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    demo, tests = (block.strip() for block in _shell_blocks(quick)[:2])
    assert demo == "pip install . && python -m fastgru demo"
    # a line of .ci/run, the exit code kept for its verdict: `... || code=$?`
    ci = [line.strip().split(" || ")[0] for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert tests in ci, f".ci/run does not run the README's test command {tests!r}"


def test_extras_named_in_the_readme_exist():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    named = re.findall(r'pip install -?e? ?"\.\[(\w+)\]"', README.read_text())
    assert named and set(named) <= set(extras), set(named) - set(extras)
    for page in DOCS:  # fastgru installs from its source tree: ".[onnx]", not fastgru[onnx]
        assert not re.search(r"install\s+[\"']?fastgru\[", page.read_text()), page.name


def test_readme_demo_result_is_a_current_run():
    from fastgru._demo import run

    quoted = re.search(r"MAE on the hold-out: GRU ([\d.]+), seasonal naive ([\d.]+) "
                       r"\(MASE ([\d.]+)", README.read_text())
    assert quoted, "the README quotes the demo's result line"
    result = run("airline", verbose=False)
    mae, naive, mase = (float(v) for v in quoted.groups())
    assert naive == pytest.approx(result["mae_naive"], abs=0.005)
    # the fit is deterministic on one machine; other CPUs round differently
    assert mae == pytest.approx(result["mae_gru"], rel=0.05), result["mae_gru"]
    assert mase == pytest.approx(result["mase"], abs=0.03)


def _bench_report():
    return load_script(ROOT / "bench" / "report.py", "bench_report")


@pytest.mark.parametrize("results", ["results.json", "results_avx2.json"])
def test_performance_page_table_is_the_one_of_results_json(results):
    report = _bench_report()
    _, groups = report.load(ROOT / "bench" / results)
    table, _ = report.table(groups, report.gemm_gflops(groups))
    page = (ROOT / "docs" / "performance.md").read_text()
    assert table in page, f"docs/performance.md's table differs from bench/{results}'s"
    commit = json.loads((ROOT / "bench" / results).read_text())["commit_info"]["id"]
    assert commit[:7] in page


#: The README's headline figures, and the runs whose tables must hold them.
HEADLINES = {
    "results.json": {"inference B64-T100-I64-H128": ["2.75 ms", "0.32", "0.50"],
                     "training B64-T100-I64-H128": ["8.82 ms", "0.29"],
                     "step B1-I8-H64": ["2.8 µs", "15.1 µs"]},
    "results_avx2.json": {"inference B64-T100-I64-H128": ["7.50 ms", "0.54", "0.68"],
                          "training B64-T100-I64-H128": ["20.76 ms", "0.32"]},
}


@pytest.mark.parametrize("results", sorted(HEADLINES))
def test_readme_headline_numbers_come_from_results_json(results):
    report = _bench_report()
    _, groups = report.load(ROOT / "bench" / results)
    table, _ = report.table(groups, report.gemm_gflops(groups))
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()[2:]}
    text = README.read_text()
    for group, figures in HEADLINES[results].items():
        for figure in figures:
            assert figure in rows[group], (group, figure, rows[group])
            assert figure in text, figure


MODULE_LINES, CLASS_LINES = 600, 400


def _modules():
    return sorted((ROOT / "fastgru").rglob("*.py"))


def test_no_module_over_600_lines():
    long = {path.relative_to(ROOT).as_posix(): n for path in _modules()
            if (n := len(path.read_text().splitlines())) > MODULE_LINES}
    assert not long, f"modules over {MODULE_LINES} lines (split them): {long}"


def test_no_module_pleads_an_exception_to_the_size_rule():
    """The size rule has no exceptions: a sentence claiming one is stale."""
    pleading = [path.relative_to(ROOT).as_posix() for path in _modules()
                if re.search(r"longer than \d+ lines for a reason", path.read_text(), re.I)]
    assert not pleading, pleading


def test_no_class_over_400_lines():
    import ast

    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                n = node.end_lineno - node.lineno + 1
                if n > CLASS_LINES:
                    long[f"{path.relative_to(ROOT).as_posix()}::{node.name}"] = n
    assert not long, f"classes over {CLASS_LINES} lines (split them): {long}"


# Optional packages an example may import, by the distribution that brings
# them; xarray requires pandas, so the dask extra brings pandas too.
_MODULES_OF = {"dask": {"dask", "distributed"}, "xarray": {"xarray", "pandas"}}


def _extra_modules(name, extras):
    """The importable top-level modules that `pip install ".[name]"` brings."""
    modules = set()
    for requirement in extras[name]:
        dist = re.match(r"[\w.-]+", requirement).group(0)
        if dist == "fastgru":
            for nested in re.search(r"\[([\w,]+)\]", requirement).group(1).split(","):
                modules |= _extra_modules(nested, extras)
        else:
            modules |= _MODULES_OF.get(dist, {dist})
    return modules


def _scopes():
    """(name, text) per README section and per docs page: each names the extras of its examples."""
    sections = README.read_text().split("\n## ")
    yield from ((f"README.md ## {s.splitlines()[0]}", s) for s in sections[1:])
    yield from ((page.name, page.read_text()) for page in DOCS[1:])


def test_every_example_names_the_extra_that_brings_its_imports(tmp_path):
    from markdown_examples import OPTIONAL, imported_modules

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    unnamed = {}
    for scope, text in _scopes():
        source = "\n".join(code for _, code in python_blocks(_write(tmp_path, text)))
        needed = {m for m in imported_modules(source) if m in OPTIONAL} if source else set()
        named = {e for group in re.findall(r'pip install -?e? ?"\.\[([\w,]+)\]"', text)
                 for e in group.split(",")}
        brought = set().union(*(_extra_modules(e, extras) for e in named & set(extras)))
        if needed - brought:
            unnamed[scope] = sorted(needed - brought)
    assert not unnamed, f"examples import packages no extra named beside them brings: {unnamed}"


def test_readme_says_how_to_run_the_notebooks_and_what_they_need():
    from markdown_examples import OPTIONAL, imported_modules

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    more = README.read_text().split("\n## More", 1)[1]
    assert "jupyter execute" in more and "jupyter lab" in more
    named = {e for group in re.findall(r'pip install -?e? ?"\.\[([\w,]+)\]"', more)
             for e in group.split(",")}
    brought = set().union(*(_extra_modules(e, extras) for e in named & set(extras)))
    for notebook in sorted((ROOT / "notebooks").glob("0[123]_*.ipynb")):  # 04 runs bench/
        cells = json.loads(notebook.read_text())["cells"]
        source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        needed = {m for m in imported_modules(source) if m in OPTIONAL}
        assert needed <= brought, (notebook.name, sorted(needed - brought))


def _write(tmp_path, text):
    path = tmp_path / "scope.md"
    path.write_text(text)
    return path
