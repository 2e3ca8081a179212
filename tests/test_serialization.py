"""fastgru.save / fastgru.load: exact round trips, and clean errors on bad files."""

import io
import json
import pickle
import warnings
import zipfile

import numpy as np
import pytest

import fastgru
from fastgru import GRUClassifier, GRUForecaster, GRURegressor, SequenceScaler


def _fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6, 2))
    y = X[:, -1, 0]
    labels = np.where(y > 0, "up", "down")
    kw = dict(hidden_size=5, max_epochs=2, random_state=0)
    return {
        "layer": fastgru.GRU(2, 5, 2, bidirectional=True, variant="mgu", random_state=0),
        "regressor": GRURegressor(num_layers=2, **kw).fit(X, np.c_[y, 2 * y]),
        "classifier": GRUClassifier(bidirectional=True, dtype="float64", **kw).fit(X, labels),
        "scaler": SequenceScaler().fit(X),
        "forecaster": GRUForecaster(window=5, horizon=2, **kw).fit(np.sin(np.arange(60.0))),
    }, X


def _predict(obj, X):
    if isinstance(obj, fastgru.GRU):
        return obj.forward(X)[0]
    if isinstance(obj, GRUClassifier):
        return obj.predict_proba(X)
    if isinstance(obj, SequenceScaler):
        return obj.transform(X)
    if isinstance(obj, GRUForecaster):
        return obj.predict()
    return obj.predict(X)


@pytest.mark.parametrize("name", ["layer", "regressor", "classifier", "scaler", "forecaster"])
def test_round_trip_is_bit_exact(tmp_path, name):
    objs, X = _fitted()
    obj = objs[name]
    path = tmp_path / "model.npz"
    fastgru.save(obj, path)
    loaded = fastgru.load(path)
    assert type(loaded) is type(obj)
    np.testing.assert_array_equal(_predict(loaded, X), _predict(obj, X))
    with np.load(path, allow_pickle=False) as data:  # plain arrays, no pickles
        meta = json.loads(data["__meta__"].tobytes())
    assert meta["format_version"] == fastgru.serialization.FORMAT_VERSION
    assert meta["fastgru_version"] == fastgru.__version__
    if name in ("regressor", "classifier"):
        assert loaded.get_params() == obj.get_params()
        assert loaded.loss_curve_ == obj.loss_curve_
        loaded.partial_fit(X, *([obj.predict(X)] if name == "classifier" else
                                [np.c_[X[:, -1, 0], X[:, -1, 0]]]))
    pickled = pickle.loads(pickle.dumps(obj))
    np.testing.assert_array_equal(_predict(pickled, X), _predict(obj, X))


def test_refuses_unfitted_and_foreign_objects(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        fastgru.save(GRURegressor(), tmp_path / "a.npz")
    with pytest.raises(TypeError, match="fastgru.GRU or a fitted"):
        fastgru.save({"weights": 1}, tmp_path / "a.npz")


def _rewrite(path, out, edit_meta=None, edit_arrays=None):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(arrays.pop("__meta__").tobytes())
    if edit_meta:
        edit_meta(meta)
    if edit_arrays:
        edit_arrays(arrays)
    with open(out, "wb") as f:
        np.savez(f, __meta__=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)


def _set(d, key, value):
    d[key] = value


TAMPERS = {
    "future version": (lambda m: _set(m, "format_version", 99), None, "upgrade fastgru"),
    "other format": (lambda m: _set(m, "format", "pickle"), None, "fastgru format"),
    "unknown kind": (lambda m: _set(m, "kind", "os.system"), None, "unknown kind"),
    "bad variant": (lambda m: m["layer"].update(variant="lstm"), None, "variant"),
    "bad hidden": (lambda m: m["layer"].update(hidden_size=-3), None, "hidden_size"),
    "bad param": (lambda m: m["params"].update(max_epochs="x"), None, "max_epochs"),
    "nan weight": (None, lambda a: a["gru/weight_hh_l0"].__setitem__(0, np.nan), "NaN"),
    "wrong shape": (None, lambda a: a.__setitem__("gru/weight_hh_l0", np.zeros((2, 2))),
                    "shape"),
    "missing weight": (None, lambda a: a.pop("gru/bias_hh_l1"), "missing"),
    "extra weight": (None, lambda a: a.__setitem__("gru/evil", np.zeros(3)), "unexpected"),
    "head shape": (None, lambda a: a.__setitem__("head/weight", np.zeros((2, 3), np.float32)),
                   "head"),
    "nan target stats": (None, lambda a: a["attr/y_mean_"].__setitem__(0, np.nan), "NaN"),
    "stats shape": (None, lambda a: a.__setitem__("attr/y_scale_", np.ones(5)), "inconsistent"),
    "missing attr": (lambda m: m["attributes"].pop("n_iter_"), None, "missing"),
    "nan best loss": (lambda m: _set(m["attributes"], "best_loss_", float("nan")), None,
                      "'best_loss_' must be a number"),
    "loss beyond float64": (lambda m: _set(m["attributes"], "loss_curve_",
                                           [10**400] * m["attributes"]["n_iter_"]), None,
                            "'loss_curve_' must be a list of numbers"),
}


@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_tampered_files_get_clear_errors(tmp_path, tamper):
    objs, _ = _fitted()
    good = tmp_path / "good.npz"
    fastgru.save(objs["regressor"], good)
    edit_meta, edit_arrays, match = TAMPERS[tamper]
    bad = tmp_path / "bad.npz"
    _rewrite(good, bad, edit_meta, edit_arrays)
    with pytest.raises(ValueError, match=match):
        fastgru.load(bad)


def _meta_bytes(path):
    with np.load(path) as f:
        return f["__meta__"].tobytes()


def test_wide_frames_columns_are_kept_once_as_an_array(tmp_path):
    """A wide frame's columns are its series' ids: the metadata does not list
    them (100,000 names of 17 characters would pass load's 1 MiB), and a
    loaded model forecasts under the same column names."""
    pd = pytest.importorskip("pandas")
    wide = pd.DataFrame(np.random.default_rng(0).normal(size=(30, 400)),
                        columns=[f"sensor {i:09d}" for i in range(400)])
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=1, random_state=0).fit(wide)
    fastgru.save(model, tmp_path / "f.npz")
    meta = _meta_bytes(tmp_path / "f.npz")
    assert b"sensor" not in meta and len(meta) < 8000
    loaded = fastgru.load(tmp_path / "f.npz")
    pd.testing.assert_frame_equal(loaded.predict(), model.predict())
    assert list(loaded.predict().columns) == list(wide.columns)
    # matched by name, in the order given
    pd.testing.assert_frame_equal(loaded.predict(y=wide.iloc[:, ::-1])[wide.columns],
                                  model.predict(y=wide))


def test_wide_frames_columns_listed_in_the_file_must_be_its_ids(tmp_path):
    """A file may list a wide frame's columns in its metadata too: they load
    when they are the series' ids, and are refused otherwise."""
    pd = pytest.importorskip("pandas")
    wide = pd.DataFrame(np.random.default_rng(0).normal(size=(30, 3)), columns=[7, "b", 2.5])
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=1, random_state=0).fit(wide)
    fastgru.save(model, tmp_path / "f.npz")
    for names, ok in ((["7", "b", "2.5"], True), (["7", "b", "2"], False)):
        _rewrite(tmp_path / "f.npz", tmp_path / "g.npz",
                 lambda m, names=names: m["attributes"].update(_series_names=names), None)
        if ok:
            pd.testing.assert_frame_equal(fastgru.load(tmp_path / "g.npz").predict(),
                                          model.predict())
        else:
            with pytest.raises(ValueError, match="_series_names must be the wide frame's"):
                fastgru.load(tmp_path / "g.npz")


def test_wide_frames_of_number_columns_forecast_under_those_numbers(tmp_path):
    pd = pytest.importorskip("pandas")
    wide = pd.DataFrame(np.random.default_rng(0).normal(size=(30, 2)), columns=[3, 7])
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=1, random_state=0).fit(wide)
    fastgru.save(model, tmp_path / "f.npz")
    for m in (model, fastgru.load(tmp_path / "f.npz")):
        assert list(m.predict().columns) == [3, 7] == list(m.predict(y=wide).columns)


def test_save_refuses_metadata_that_load_would_refuse(tmp_path, monkeypatch):
    """Past load's bound (lowered here), save says so instead of writing a
    file load refuses."""
    pd = pytest.importorskip("pandas")
    wide = pd.DataFrame(np.random.default_rng(0).normal(size=(30, 4)),
                        columns=[f"sensor {i:04d}" for i in range(4)])
    model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=1, random_state=0).fit(wide)
    fastgru.save(model, tmp_path / "f.npz")
    size = len(_meta_bytes(tmp_path / "f.npz"))
    monkeypatch.setattr(fastgru.serialization, "_MAX_META_BYTES", size - 1)
    with pytest.raises(ValueError, match=f"metadata takes {size:,} bytes, more than the "
                                         f"{size - 1:,} a file may hold.*covariate names"):
        fastgru.save(model, tmp_path / "g.npz")
    assert not (tmp_path / "g.npz").exists()
    with pytest.raises(ValueError, match="f.npz.*metadata has"):  # as load would
        fastgru.load(tmp_path / "f.npz")


def test_pickled_array_inside_is_never_loaded(tmp_path):
    """An archive entry holding a pickled object array is refused, not unpickled."""
    path = tmp_path / "evil.npz"
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("__meta__.npy", buf.getvalue())
    with pytest.raises(ValueError, match="not a valid fastgru file"):
        fastgru.load(path)


def test_missing_file_and_empty_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastgru.load(tmp_path / "nope.npz")
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="not a valid fastgru file"):
        fastgru.load(empty)


def _small_models():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(20, 5, 3))
    kw = dict(hidden_size=4, max_epochs=1, random_state=0)
    t = np.arange(40.0)
    return {
        "regressor": GRURegressor(**kw).fit(X, X[:, -1, 0]),
        "scaler": SequenceScaler().fit(X),
        "forecaster": GRUForecaster(horizon=2, season_length=4, **kw).fit(
            np.sin(t), X=np.c_[np.cos(t)]),
        "wide forecaster": GRUForecaster(horizon=2, **kw).fit(
            pd.DataFrame({"a": np.sin(t), "b": np.cos(t)})),
    }


def _array(name, value):
    return None, lambda a: a.__setitem__("attr/" + name, value)


def _attributes(**values):
    return lambda m: m["attributes"].update(values), None


def _params(**values):
    return lambda m: m["params"].update(values), None


# fitted state that passes the file's own checks (valid arrays, known names)
# but that fit never produces: predict would fail on it with a numpy or pandas
# error (text or booleans where numbers go), divide by zero, read a layer of
# the wrong width, forecast one series of two, or overflow int64 indices
STATE_TAMPERS = {
    "history as text": ("forecaster", _array("history_", np.full((1, 12), "x")),
                        "history_ must hold numbers"),
    "history as booleans": ("forecaster", _array("history_", np.ones((1, 12), bool)),
                            "history_ must hold numbers"),
    "calibration as booleans": ("forecaster", _array("calibration_", np.ones((2, 2), bool)),
                                "calibration_ must hold numbers"),
    "covariate mean as text": ("forecaster", _array("hist_mean_", np.array(["m"])),
                               "hist_mean_ must hold numbers"),
    "covariate scale zero": ("forecaster", _array("hist_scale_", np.zeros(1)),
                             "hist_scale_ must hold positive scales"),
    "two series as one": ("wide forecaster", _attributes(_output_kind="series",
                                                         _series_names=None), "holds 2"),
    "one array as two": ("wide forecaster", _attributes(_output_kind="array1d"), "holds 2"),
    "a frame's names short": ("wide forecaster", _attributes(_series_names=["a"]),
                              "_series_names"),
    "a frame named as a series": ("wide forecaster", _attributes(_series_names="a"),
                                  "_series_names"),
    "scaler of 3-D input, features apart": ("scaler", _attributes(_input_form="3d",
                                                                  n_features_in_=7),
                                            "n_features_in_ must be the features per step"),
    "scaler of an unknown form": ("scaler", _attributes(_input_form="4d"), "unknown input"),
    "scaler output config": ("scaler", _attributes(output_config={"transform": "xarray"}),
                             "set_output"),
    "season beyond int64": ("forecaster", _params(season_length=2**63), "season_length"),
    "scaler mean as text": ("scaler", _array("mean_", np.array(["a", "b", "c"])),
                            "must hold numbers"),
    "3-D model read as 2-D": ("regressor", _attributes(_input_form="2d"), "input_size 1"),
    "feature names of a 3-D model": ("regressor", _array("feature_names_in_", np.array(["a"])),
                                     "feature_names_in_"),
}


@pytest.mark.parametrize("tamper", list(STATE_TAMPERS))
def test_fitted_state_that_fit_never_makes_is_refused_by_load(tmp_path, tamper):
    kind, (edit_meta, edit_arrays), match = STATE_TAMPERS[tamper]
    good = tmp_path / "good.npz"
    fastgru.save(_small_models()[kind], good)
    bad = tmp_path / "bad.npz"
    _rewrite(good, bad, edit_meta, edit_arrays)
    with pytest.raises(ValueError, match=f"bad.npz' is not a valid fastgru file: .*{match}"):
        fastgru.load(bad)


@pytest.mark.parametrize("names", [["p", "q"], ("p", "q"), np.array(["p", "q"]), "index", 5])
def test_past_covariate_names_survive_save_and_load(tmp_path, names):
    """hist_exog as a list, tuple, array or pandas Index of names (text or
    int column labels) loads back as the list of those names, so a refit of
    the loaded model reads the same columns as past-only."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    if isinstance(names, str):  # the pandas Index of two text names
        names, given = ["p", "q"], pd.Index(["p", "q"])
    elif isinstance(names, int):  # int column labels
        names, given = [5, 7], [5, 7]
    else:
        names, given = list(names), names
    df = pd.DataFrame({"unique_id": np.repeat([0, 1], 30), "ds": np.tile(np.arange(30), 2),
                       "y": rng.normal(size=60).cumsum()})
    for name in names:
        df[name] = rng.normal(size=60)
    model = GRUForecaster(horizon=2, hist_exog=given, hidden_size=4, max_epochs=2,
                          random_state=0).fit(df)
    fastgru.save(model, tmp_path / "m.npz")
    loaded = fastgru.load(tmp_path / "m.npz")
    assert loaded.get_params()["hist_exog"] == names
    np.testing.assert_array_equal(loaded.predict()["GRUForecaster"],
                                  model.predict()["GRUForecaster"])
    # refitted, the loaded model reads them as past-only again: no X_df needed
    assert len(loaded.fit(df).predict()) == 4


@pytest.mark.parametrize("kind", ["regressor", "forecaster"])
def test_a_continued_fit_of_a_loaded_model_is_reproducible(tmp_path, kind):
    """partial_fit (regressor) or a warm_start refit (forecaster) of the
    same file with the same random_state gives the same model: the loaded
    model's batches are shuffled by a generator drawn from random_state."""
    rng = np.random.default_rng(3)
    if kind == "regressor":
        X = rng.normal(size=(64, 6, 2))
        model = GRURegressor(hidden_size=4, max_epochs=1, batch_size=8, random_state=0)
        model.fit(X, X[:, -1, 0])

        def again(m):
            return m.partial_fit(X, X[:, -1, 0]).predict(X)
    else:
        series = {f"s{i}": 10 + rng.normal(size=60).cumsum() for i in range(6)}
        model = GRUForecaster(horizon=2, hidden_size=4, max_epochs=2, batch_size=8,
                              warm_start=True, random_state=0).fit(series)

        def again(m):
            return m.fit(series).predict()["s0"]
    fastgru.save(model, tmp_path / "m.npz")
    first, second = (again(fastgru.load(tmp_path / "m.npz")) for _ in range(2))
    np.testing.assert_array_equal(first, second)


def test_save_warns_that_a_random_state_instance_is_written_as_none(tmp_path):
    X, y = np.random.default_rng(0).normal(size=(20, 5, 1)), np.arange(20.0)
    model = GRURegressor(hidden_size=4, max_epochs=1,
                         random_state=np.random.RandomState(0)).fit(X, y)
    with pytest.warns(UserWarning, match="writes random_state=None for the RandomState it "
                                         "was given"):
        fastgru.save(model, tmp_path / "r.npz")
    assert fastgru.load(tmp_path / "r.npz").random_state is None
    model.set_params(random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastgru.save(model, tmp_path / "r.npz")
    assert fastgru.load(tmp_path / "r.npz").random_state == 3
