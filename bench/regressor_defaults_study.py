"""GRURegressor defaults on aeon's bundled regression sets (official splits)."""
import json, sys, time, warnings
import numpy as np
from aeon.datasets import load_covid_3month, load_cardano_sentiment
import fastgru
from fastgru import GRURegressor
fastgru.set_num_threads(1)
configs = json.loads(sys.argv[1])
for params in configs:
    for f in (load_covid_3month, load_cardano_sentiment):
        X, y = f(split="train"); Xt, yt = f(split="test")
        X, Xt = X.transpose(0, 2, 1), Xt.transpose(0, 2, 1)
        for seed in (0, 1):
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = GRURegressor(random_state=seed, **params).fit(X, y)
            rmse = float(np.sqrt(np.mean((m.predict(Xt) - yt) ** 2)))
            print(json.dumps({"params": params, "dataset": f.__name__[5:], "seed": seed,
                              "rmse": round(rmse, 4), "baseline_rmse": round(float(np.std(yt)), 4),
                              "epochs": m.n_iter_, "fit_s": round(time.perf_counter() - t, 2)}), flush=True)
