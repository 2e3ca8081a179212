"""bench/realdata.py: the real-data benchmark's harness, on aeon's bundled data."""

from pathlib import Path

import numpy as np
import pytest
from _helpers import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "realdata.py"


@pytest.fixture(scope="module")
def realdata():
    pytest.importorskip("aeon")
    return load_script(SCRIPT, "bench_realdata")  # in sys.modules, for its dataclass


def test_datasets_are_read_time_major(realdata):
    ds = realdata.load_dataset("UnitTest")
    assert ds.X_train.shape == (20, 24, 1) and ds.X_test.shape == (22, 24, 1)
    vowels = realdata.load_dataset("JapaneseVowels")  # variable length, 12 channels
    assert vowels.ragged and len(vowels.X_train) == 270 and len(vowels.X_test) == 370
    assert {a.shape[1] for a in vowels.X_train + vowels.X_test} == {12}
    assert {len(a) for a in vowels.X_train} != {len(vowels.X_train[0])}


def test_resampling_for_the_baseline_keeps_a_ramp_a_ramp(realdata):
    ramps = [np.stack([np.linspace(0, 1, n), np.linspace(5, 3, n)], axis=1) for n in (3, 7)]
    out = realdata.equal_length_channel_first(ramps, 11)
    assert out.shape == (2, 2, 11)
    for i in range(2):
        np.testing.assert_allclose(out[i, 0], np.linspace(0, 1, 11), atol=1e-12)
        np.testing.assert_allclose(out[i, 1], np.linspace(5, 3, 11), atol=1e-12)


def test_loss_curves_agree_through_the_last_close_epoch(realdata):
    assert realdata.agrees_through([1.0, 0.5, 0.4], [1.0, 0.5001, 0.4]) == 3
    assert realdata.agrees_through([1.0, 0.5, 0.4], [1.0, 0.6, 0.4]) == 1
    assert realdata.agrees_through([2.0, 0.5], [2.1, 0.5]) == 0


def test_two_epochs_on_a_tiny_dataset_give_the_tables(realdata):
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    lines = []
    results = realdata.run(["UnitTest"], epoch_cap=2, baseline=False, log=lines.append)
    assert torch.get_num_threads() == threads  # restored
    entry = results["datasets"]["UnitTest"]
    for setting in ("default", "tuned"):
        fg, th = entry["settings"][setting]["fastgru"], entry["settings"][setting]["torch"]
        assert fg["epochs"] == th["epochs"] == 2 and fg["capped"]
        assert 0.0 <= fg["accuracy"] <= 1.0 and 0.0 <= th["accuracy"] <= 1.0
        assert fg["fit_time"] > 0 and th["fit_time"] > 0
        # the torch twin is the same model: same initial weights and batches, so the
        # same first-epoch loss up to float32 rounding
        assert th["init"] == "fastgru"
        assert th["first_loss"] == pytest.approx(fg["first_loss"], rel=1e-4)
        assert th["agrees_through"] == 2
    table = realdata.markdown(results)
    assert "| UnitTest | 20/22, 24 x 1, 2 cl. |" in table
    assert "2 (cap)" in table and "MiniRocket" not in table
    assert any("UnitTest default torch" in line for line in lines)


def test_docs_page_shows_the_tables_of_realdata_json():
    """docs/realdata.md quotes the run in bench/realdata.json, tables and commit."""
    import json

    module = load_script(SCRIPT, "bench_realdata_tables")  # numpy only: aeon, torch lazily
    root = SCRIPT.parents[1]
    results = json.loads((root / "bench" / "realdata.json").read_text())
    page = (root / "docs" / "realdata.md").read_text()
    assert module.markdown(results).strip() in page
    assert results["meta"]["commit"] in page and not results["meta"]["dirty"]
