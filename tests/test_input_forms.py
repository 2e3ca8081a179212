"""Input read as users mean it: channel-first panels, ragged object arrays and
Series, the forecaster's index, and SequenceScaler's set_output."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from fastgru import GRUClassifier, GRUForecaster, GRURegressor, SequenceScaler

pd = pytest.importorskip("pandas")

FIX = r"X\.transpose\(0, 2, 1\)"


def labelled(n, T, F, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, T, F))
    return X, (X[:, 0, 0] > 0).astype(int)


@pytest.mark.parametrize("shape", [(12, 1, 30), (12, 6, 100)])  # aeon's (cases, channels, time)
def test_channel_first_panel_warns_with_the_fix(shape):
    X, y = labelled(*shape)
    with pytest.warns(UserWarning, match=FIX):
        GRUClassifier(hidden_size=4, max_epochs=1, random_state=0).fit(X, y)
    with pytest.warns(UserWarning, match=FIX):
        SequenceScaler().fit(X)


@pytest.mark.parametrize("shape", [(12, 30, 1), (12, 100, 6), (12, 20, 40), (12, 3, 2)])
def test_time_major_panel_does_not_warn(shape):
    X, y = labelled(*shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        GRUClassifier(hidden_size=4, max_epochs=1, random_state=0).fit(X, y)


def ragged_data(n=30, F=2, seed=0):
    rng = np.random.default_rng(seed)
    seqs = [rng.normal(size=(4 + i % 7, F)) for i in range(n)]
    return seqs, np.array([s[:, 0].sum() for s in seqs])


def object_array(seqs):
    arr = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        arr[i] = s
    return arr


@pytest.mark.parametrize("container", ["object array", "Series"])
def test_ragged_object_array_and_series_read_as_a_list(container):
    seqs, y = ragged_data()
    data = object_array(seqs)
    if container == "Series":
        data = pd.Series(list(data), index=np.arange(100, 100 + len(seqs)))
    kw = dict(hidden_size=4, max_epochs=2, random_state=0)
    expected = GRURegressor(**kw).fit(seqs, y).predict(seqs)
    model = GRURegressor(**kw).fit(data, y)
    np.testing.assert_array_equal(model.predict(data), expected)
    np.testing.assert_array_equal(model.predict(seqs), expected)
    scaled = SequenceScaler().fit(data).transform(data)
    assert [s.shape for s in scaled] == [s.shape for s in seqs]
    # univariate 1-D sequences too
    uni = object_array([s[:, 0] for s in seqs])
    assert GRURegressor(**kw).fit(uni, y).n_features_in_ == 1


def forecaster():
    return GRUForecaster(window=5, horizon=2, hidden_size=4, max_epochs=2, random_state=0)


def series(index):
    return pd.Series(np.sin(0.3 * np.arange(len(index))), index=index, name="v")


@pytest.mark.parametrize("index,expected", [
    (pd.Index(np.arange(1871.0, 1911.0)), pd.Index([1911.0, 1912.0, 1913.0])),
    (pd.Index(np.arange(0.0, 4.0, 0.1)), pd.Index([4.0, 4.1, 4.2])),
    (pd.Index(np.arange(10, 210, 5)), pd.Index([210, 215, 220])),
    (pd.date_range("2020-01-01", periods=40, freq="D"),
     pd.DatetimeIndex(["2020-02-10", "2020-02-11", "2020-02-12"])),
    # a frequency pandas infers from the dates alone (no freq attribute set)
    (pd.DatetimeIndex(list(pd.date_range("2020-01-31", periods=40, freq="ME"))),
     pd.DatetimeIndex(["2023-05-31", "2023-06-30", "2023-07-31"])),
])
def test_forecast_continues_the_index(index, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        model = forecaster().fit(series(index))
        forecast = model.predict(horizon=3)
        from_history = model.predict(horizon=3, y=series(index)[-10:])
    for out in (forecast, from_history):
        assert isinstance(out, pd.Series) and out.name == "v"
        if expected.dtype.kind == "f":
            np.testing.assert_allclose(out.index.to_numpy(), expected.to_numpy(), rtol=1e-12)
        else:
            assert out.index.equals(expected)


@pytest.mark.parametrize("index,reason", [
    (pd.date_range("2020-01-01", periods=41, freq="D").delete(20), "no frequency"),
    (pd.Index(np.r_[np.arange(20.0), np.arange(21.0, 41.0)]), "not evenly spaced"),
    (pd.Index([f"s{i}" for i in range(40)]), "labels"),
])
def test_forecast_warns_when_it_cannot_continue_the_index(index, reason):
    y = series(index)
    with pytest.warns(UserWarning, match=f"cannot continue the time stamps.*{reason}"):
        model = forecaster().fit(y)
    forecast = model.predict(horizon=3)
    assert list(forecast.index) == [40, 41, 42]  # by position after the history


def test_set_output_pandas_in_a_pipeline():
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(3.0, 2.0, size=(40, 8)),
                         columns=[f"t{i}" for i in range(8)], index=np.arange(40) * 2)
    y = (frame["t0"] > 3.0).astype(int)
    pipe = make_pipeline(SequenceScaler(), GRUClassifier(hidden_size=4, max_epochs=2,
                                                         random_state=0))
    pipe.set_output(transform="pandas").fit(frame, y)
    assert pipe.predict(frame).shape == (40,)
    out = pipe[0].transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(frame.columns) and out.index.equals(frame.index)
    values = frame.to_numpy()
    np.testing.assert_allclose(out.to_numpy(), (values - values.mean()) / values.std())
    assert isinstance(pipe[0].inverse_transform(out), pd.DataFrame)
    # 3-D input: a DataFrame cannot hold it, the array is returned
    X3 = rng.normal(size=(40, 8, 2))
    pipe.fit(X3, y)
    assert isinstance(pipe[0].transform(X3), np.ndarray)
    assert isinstance(SequenceScaler().set_output(transform="default").fit_transform(frame),
                      np.ndarray)
    with pytest.raises(ValueError, match="transform must be"):
        SequenceScaler().set_output(transform="xarray")


def test_sequence_scaler_feature_names_out():
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(12, 5)), columns=[f"t{i}" for i in range(5)])
    scaler = SequenceScaler().fit(frame)
    assert list(scaler.get_feature_names_out()) == ["t0", "t1", "t2", "t3", "t4"]
    # a pipeline asks its last step's names: one to one with the input's columns
    pipe = make_pipeline(SequenceScaler()).fit(frame)
    assert list(pipe.get_feature_names_out()) == list(frame.columns)
    with pytest.raises(ValueError, match="input_features"):
        scaler.get_feature_names_out(["a", "b"])
    # unnamed 2-D input: x0, x1, ... also in pandas output
    out = SequenceScaler().set_output(transform="pandas").fit_transform(frame.to_numpy())
    assert list(out.columns) == ["x0", "x1", "x2", "x3", "x4"]
    # 3-D and ragged input: the features of each step; a DataFrame's names
    # from an earlier fit are forgotten
    scaler.fit(rng.normal(size=(6, 4, 3)))
    assert list(scaler.get_feature_names_out()) == ["x0", "x1", "x2"]
    assert list(scaler.get_feature_names_out(["a", "b", "c"])) == ["a", "b", "c"]
    ragged = [rng.normal(size=(n, 2)) for n in (3, 5)]
    assert list(SequenceScaler().fit(ragged).get_feature_names_out()) == ["x0", "x1"]
    with pytest.raises(NotFittedError):
        SequenceScaler().get_feature_names_out()


def test_a_list_of_equal_length_arrays_is_sequences_not_a_table():
    """Sequences in a list (or a pandas Series of series) are ragged data
    whatever their lengths: a model fitted on equal lengths forecasts other
    lengths, as one fitted on different lengths does; a list of lists of
    numbers stays a 2-D table, as scikit-learn reads it."""
    seqs = [np.arange(5.0) + i for i in range(20)]
    y = np.arange(20.0)
    model = GRURegressor(hidden_size=4, max_epochs=2, random_state=0).fit(seqs, y)
    padded = GRURegressor(hidden_size=4, max_epochs=2, random_state=0).fit(
        np.array(seqs)[:, :, None], y)
    np.testing.assert_allclose(model.predict([np.arange(3.0)]),
                               padded.predict(np.arange(3.0)[None, :, None]), rtol=1e-6)
    nested = pd.Series([pd.Series(s) for s in seqs])
    np.testing.assert_allclose(
        GRURegressor(hidden_size=4, max_epochs=2, random_state=0).fit(nested, y).predict(
            [np.arange(3.0)]), model.predict([np.arange(3.0)]), rtol=1e-6)
    scaled = SequenceScaler().fit_transform(seqs)
    assert isinstance(scaled, list) and len(scaled) == 20 and scaled[0].shape == (5,)
    table = GRURegressor(hidden_size=4, max_epochs=2, random_state=0).fit(
        [list(s) for s in seqs], y)
    with pytest.raises(ValueError, match="X has 3 features, but GRURegressor is expecting 5"):
        table.predict([[0.0, 1.0, 2.0]])


def test_a_nested_dataframe_is_a_sequence_per_row():
    """sktime's nested layout: a row per sample, a column per feature, each
    cell a pandas Series over time. Read as the 3-D array it holds (ragged
    when rows differ in length); a row of cells of different lengths is
    refused by name rather than with NumPy's "setting an array element"."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 7, 2))
    y = np.arange(20) % 2
    nested = pd.DataFrame({f"dim_{c}": [pd.Series(X[i, :, c]) for i in range(20)]
                           for c in range(2)})
    kw = dict(hidden_size=4, max_epochs=2, random_state=0)
    np.testing.assert_allclose(GRUClassifier(**kw).fit(nested, y).predict_proba(nested),
                               GRUClassifier(**kw).fit(X, y).predict_proba(X), atol=1e-6)
    ragged = nested.copy()
    ragged.iat[0, 0], ragged.iat[0, 1] = pd.Series(X[0, :4, 0]), pd.Series(X[0, :4, 1])
    assert GRURegressor(**kw).fit(ragged, y.astype(float)).predict(ragged).shape == (20,)
    np.testing.assert_allclose(SequenceScaler().fit_transform(nested),
                               SequenceScaler().fit_transform(X))
    ragged.iat[3, 1] = pd.Series(np.ones(5))
    with pytest.raises(ValueError, match="X is a nested DataFrame .* its row 3 must hold one "
                                         "sequence per column, all of one length"):
        GRUClassifier(**kw).fit(ragged, y)
    missing = nested.copy()
    missing.iat[0, 0] = np.nan  # a cell of the first row, too
    with pytest.raises(ValueError, match="its row 0 must hold one sequence per column"):
        SequenceScaler().fit(missing)
    lists = nested.map(list)  # cells as lists
    np.testing.assert_allclose(SequenceScaler().fit_transform(lists),
                               SequenceScaler().fit_transform(X))


def test_a_scaler_fitted_on_univariate_3d_input_takes_2d_sequences_of_any_length(tmp_path):
    """As the estimators do: 2-D input after 3-D input of one feature (a
    Pipeline's scaler before a regressor) is univariate sequences, of any
    number of steps; after 2-D input, its columns must be the fitted ones."""
    import fastgru

    rng = np.random.default_rng(0)
    X = rng.normal(3.0, 2.0, size=(20, 6, 1))
    scaler = SequenceScaler().fit(X)
    np.testing.assert_array_equal(scaler.transform(X[:2, :, 0]), scaler.transform(X[:2])[:, :, 0])
    np.testing.assert_array_equal(scaler.transform(X[:2, :4, 0]),
                                  scaler.transform(X[:2, :4])[:, :, 0])
    out = scaler.set_output(transform="pandas").transform(
        pd.DataFrame(X[:2, :4, 0], columns=list("abcd")))
    assert list(out.columns) == list("abcd")
    fastgru.save(scaler, tmp_path / "s.npz")
    loaded = fastgru.load(tmp_path / "s.npz")
    assert isinstance(loaded.transform(X[:2, :4, 0]), pd.DataFrame)  # set_output kept
    two_d = SequenceScaler().fit(X[:, :, 0])
    with pytest.raises(ValueError, match="X has 4 features, but SequenceScaler is expecting 6"):
        two_d.transform(X[:2, :4, 0])
    fastgru.save(two_d, tmp_path / "s.npz")
    loaded = fastgru.load(tmp_path / "s.npz")
    assert isinstance(loaded.transform(X[:2, :, 0]), np.ndarray)
    with pytest.raises(ValueError, match="X has 4 features"):
        loaded.transform(X[:2, :4, 0])


def test_a_wide_frame_s_intervals_keep_its_columns_and_continued_index():
    # without levels the forecast is a frame of the columns, its dates
    # continued; with them each of "mean", "lo-80", "hi-80" is such a frame
    index = pd.date_range("2020-01-01", periods=40, freq="D")
    t = np.arange(40)
    wide = pd.DataFrame({"a": np.sin(t) + 5, "b": np.cos(t) + 5}, index=index)
    model = forecaster().fit(wide)
    point = model.predict()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few held-out forecasts for 80%
        bands = model.predict(level=[80])
    assert sorted(bands) == ["hi-80", "lo-80", "mean"]
    expected = pd.date_range("2020-02-10", periods=len(point), freq="D")
    for frame in bands.values():
        assert isinstance(frame, pd.DataFrame) and list(frame.columns) == ["a", "b"]
        assert frame.index.equals(expected)
    pd.testing.assert_frame_equal(bands["mean"], point)
    assert (bands["lo-80"] <= bands["hi-80"]).all().all()
