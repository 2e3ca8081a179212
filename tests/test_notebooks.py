"""Every notebook in notebooks/ runs top to bottom, and prints what its saved outputs say.

A notebook is committed with its outputs, and its prose quotes the numbers
they print (accuracies, errors). Each test runs a copy of the notebook on the
checked-out fastgru and compares every number printed by a cell (its text
output) and every table it displays with the saved ones: a notebook whose
saved outputs are stale fails here. Regenerate them (nbclient's command)
with ``cd notebooks && PYTHONPATH=.. jupyter execute --inplace *.ipynb``.
"""

import math
import os
import pathlib
import re

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# The fits are deterministic on one machine; another CPU rounds differently
# and the difference grows over the epochs. A stale output (a result of
# older code) is usually off by more.
REL_TOL, ABS_TOL = 0.05, 0.01
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def printed(notebook):
    """Per code cell, the lines it printed (stream outputs) and the markdown it displayed."""
    cells = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        lines = [line for o in cell.outputs if o.output_type == "stream"
                 for line in o.text.splitlines() if line.strip()]
        tables = [o.data["text/markdown"] for o in cell.outputs if "text/markdown" in o.get(
            "data", {})]
        cells.append((lines, tables))
    return cells


def _close(saved, fresh):
    return math.isclose(saved, fresh, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def differences(saved_cells, fresh_cells):
    """The printed lines whose words or numbers differ (numbers within tolerance)."""
    found = []
    if len(saved_cells) != len(fresh_cells):
        return [f"{len(saved_cells)} code cells saved, {len(fresh_cells)} run"]
    for index, ((saved_lines, saved_tables), (lines, tables)) in enumerate(
            zip(saved_cells, fresh_cells)):
        if saved_tables != tables:
            found.append(f"cell {index}: the displayed table differs")
        if len(saved_lines) != len(lines):
            found.append(f"cell {index}: printed {len(lines)} lines, saved {len(saved_lines)}")
            continue
        for old, new in zip(saved_lines, lines):
            old_numbers = [float(n) for n in _NUMBER.findall(old)]
            new_numbers = [float(n) for n in _NUMBER.findall(new)]
            same_words = _NUMBER.sub("#", old) == _NUMBER.sub("#", new)
            if not (same_words and len(old_numbers) == len(new_numbers)
                    and all(map(_close, old_numbers, new_numbers))):
                found.append(f"cell {index}: saved {old!r}, now {new!r}")
    return found


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4


def test_differences_flags_a_stale_number_and_passes_a_rounding():
    saved = [(["sunspots: MAE GRU 11.71, seasonal naive 20.00, MASE 0.59"], [])]
    stale = [(["sunspots: MAE GRU 13.43, seasonal naive 20.00, MASE 0.67"], [])]
    rounded = [(["sunspots: MAE GRU 11.74, seasonal naive 20.00, MASE 0.59"], [])]
    assert len(differences(saved, stale)) == 1
    assert differences(saved, rounded) == []
    assert differences(saved, [(["sunspots: MAE 11.71"], [])])  # other words


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_and_matches_its_saved_outputs(path, monkeypatch):
    # the kernel imports the checked-out fastgru, not an installed one
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    notebook = nbformat.read(path, as_version=4)
    saved = printed(notebook)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError on any failing cell
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    stale = differences(saved, printed(notebook))
    assert not stale, f"{path.name}'s saved outputs are not what it prints now:\n" + "\n".join(
        stale)
