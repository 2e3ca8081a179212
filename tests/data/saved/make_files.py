"""Write the saved files and the predictions that tests/test_serialization_files.py
checks them against (run from the repository root:
``PYTHONPATH=. python tests/data/saved/make_files.py``).

The files are inputs of the test, not outputs of the code under test: they
are written once, and loading them must keep giving the stored predictions
whatever is reorganised inside fastgru. Rerun only to add a kind of object.
"""

import os

import numpy as np
import pandas as pd

import fastgru

HERE = os.path.dirname(os.path.abspath(__file__))


def inputs():
    """The inputs every prediction is made on (the test rebuilds them here)."""
    rng = np.random.default_rng(0)
    return {
        "x_layer": rng.normal(size=(3, 7, 2)),
        "x_regressor": rng.normal(size=(5, 9)),  # univariate sequences: (n, T)
        "x_classifier": rng.normal(size=(6, 8, 3)),
        "x_scaler": rng.normal(size=(4, 6, 3)) * 2.0 + 1.0,
    }


def panel():
    """A long frame of two monthly series with a future-known covariate."""
    t = np.arange(40)
    frames = []
    for k, name in enumerate(["a", "b"]):
        frames.append(pd.DataFrame({
            "unique_id": name,
            "ds": pd.date_range("2020-01-01", periods=t.size, freq="MS"),
            "y": 10.0 + 3 * k + np.sin(2 * np.pi * t / 12) + 0.05 * t,
            "promo": (t % 5 == 0).astype(float),
        }))
    return pd.concat(frames, ignore_index=True)


def future():
    return pd.DataFrame({
        "unique_id": np.repeat(["a", "b"], 3),
        "ds": np.tile(pd.date_range("2023-05-01", periods=3, freq="MS"), 2),
        "promo": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
    })


def main():
    x = inputs()
    rng = np.random.default_rng(1)
    expected = {}

    layer = fastgru.GRU(2, 4, num_layers=2, bidirectional=True, variant="cho",
                        random_state=0)
    y, h_n = layer.forward(x["x_layer"])
    fastgru.save(layer, os.path.join(HERE, "layer.npz"))
    expected["layer_y"], expected["layer_h_n"] = y, h_n

    reg = fastgru.GRURegressor(hidden_size=4, max_epochs=3, batch_size=8, dtype="float64",
                               random_state=0)
    reg.fit(rng.normal(size=(20, 9)), rng.normal(size=20))
    fastgru.save(reg, os.path.join(HERE, "regressor.npz"))
    expected["regressor"] = reg.predict(x["x_regressor"])

    clf = fastgru.GRUClassifier(hidden_size=4, max_epochs=3, batch_size=8, random_state=0)
    clf.fit(rng.normal(size=(24, 8, 3)), np.array(["cat", "dog", "eel"] * 8))
    fastgru.save(clf, os.path.join(HERE, "classifier.npz"))
    expected["classifier"] = clf.predict_proba(x["x_classifier"])

    scaler = fastgru.SequenceScaler().fit(rng.normal(size=(10, 6, 3)) * 3.0 - 2.0)
    fastgru.save(scaler, os.path.join(HERE, "scaler.npz"))
    expected["scaler"] = scaler.transform(x["x_scaler"])

    fc = fastgru.GRUForecaster(horizon=3, season_length=12, hidden_size=4, max_epochs=3,
                               random_state=0).fit(panel())
    fastgru.save(fc, os.path.join(HERE, "forecaster.npz"))
    frame = fc.predict(level=[80], X_df=future())
    expected["forecaster"] = frame[["GRUForecaster", "GRUForecaster-lo-80",
                                    "GRUForecaster-hi-80"]].to_numpy(dtype=float)

    np.savez(os.path.join(HERE, "expected.npz"), **expected)


if __name__ == "__main__":
    main()
