"""Measure GRUClassifier's default training settings on small public UCR/UEA datasets.

The datasets ship inside the ``aeon`` package (no download), with their
official train/test splits. Each run fits ``GRUClassifier(random_state=seed,
**params)`` on the training split and scores the test split; the defaults
(stopping rule, learning rate, max_epochs) were chosen from these numbers
(docs/estimators.md quotes them).

Run from the repository root, e.g.::

    python bench/defaults_study.py                      # the defaults
    python bench/defaults_study.py --params '{"n_iter_no_change": 1000}'
    PYTHONPATH=/path/to/other/fastgru python bench/defaults_study.py  # another version

Prints one line per dataset and seed: accuracy, epochs run, fit time; and a
JSON summary as the last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np

DATASETS = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions", "JapaneseVowels")


def load(name: str, split: str):
    """``(X, y)`` of a bundled aeon dataset, time-major per sequence for fastgru:
    ``(n, time, channels)``, or a list of ``(time_i, channels)`` arrays."""
    from aeon.datasets import load_classification

    X, y = load_classification(name, split=split)
    if isinstance(X, list):
        return [np.asarray(s, dtype=np.float64).T for s in X], np.asarray(y)
    return np.asarray(X, dtype=np.float64).transpose(0, 2, 1), np.asarray(y)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="{}", help="GRUClassifier parameters as JSON")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--seeds", default="0", help="comma-separated random_state values")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import fastgru
    from fastgru import GRUClassifier

    fastgru.set_num_threads(args.threads)
    params = json.loads(args.params)
    print(f"fastgru from {fastgru.__file__}, params {params}", flush=True)
    rows = []
    for name in args.datasets.split(","):
        X, y = load(name, "train")
        Xt, yt = load(name, "test")
        for seed in (int(s) for s in args.seeds.split(",")):
            clf = GRUClassifier(random_state=seed, **params)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.fit(X, y)
            fit_time = time.perf_counter() - start
            acc = float(np.mean(clf.predict(Xt) == yt))
            row = {"dataset": name, "seed": seed, "accuracy": round(acc, 4),
                   "epochs": int(clf.n_iter_), "fit_s": round(fit_time, 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {"params": params, "mean_accuracy": round(float(np.mean(
        [r["accuracy"] for r in rows])), 4), "rows": rows}
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
