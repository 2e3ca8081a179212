"""Measure GRURegressor's default learning rate on aeon's bundled regression sets.

Covid3Month and CardanoSentiment ship inside ``aeon`` (no download), with
official train/test splits. Each configuration (a JSON list of parameter
dicts) is fitted with seeds 0 and 1; one JSON line per fit: test RMSE, the
standard deviation of the test targets (the RMSE of predicting their own
mean), epochs run, fit time. Run from the
repository root::

    python bench/regressor_defaults_study.py '[{"learning_rate": 0.001}, {"learning_rate": 0.003}]'
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np


def main(argv=None) -> None:
    from aeon.datasets import load_cardano_sentiment, load_covid_3month

    import fastgru
    from fastgru import GRURegressor

    fastgru.set_num_threads(1)
    configs = json.loads(argv[0] if argv else "[{}]")
    for params in configs:
        for loader in (load_covid_3month, load_cardano_sentiment):
            X, y = loader(split="train")
            Xt, yt = loader(split="test")
            X, Xt = X.transpose(0, 2, 1), Xt.transpose(0, 2, 1)  # aeon is channel-first
            for seed in (0, 1):
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = GRURegressor(random_state=seed, **params).fit(X, y)
                rmse = float(np.sqrt(np.mean((model.predict(Xt) - yt) ** 2)))
                print(json.dumps({
                    "params": params, "dataset": loader.__name__[5:], "seed": seed,
                    "rmse": round(rmse, 4), "test_std": round(float(np.std(yt)), 4),
                    "epochs": int(model.n_iter_),
                    "fit_s": round(time.perf_counter() - start, 2)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
