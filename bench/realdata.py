"""Real-data benchmark: GRUClassifier on UCR/UEA datasets bundled with aeon.

For each dataset (official train/test split, read from the ``.ts`` files that
ship inside the ``aeon`` wheel: nothing is downloaded) and each setting
("default": ``GRUClassifier()`` as a new user would call it, on the data as
loaded; "tuned": one hand-picked setting, the same for every dataset), it fits

* fastgru's ``GRUClassifier``;
* the same model in PyTorch: ``nn.GRU`` + ``nn.Linear`` on the last layer's
  final state, started from fastgru's initial weights, trained for the number
  of epochs fastgru ran, with the same batch size, shuffled order (fastgru's
  draws), Adam/SGD, learning rate, weight decay and gradient clipping; ragged
  data as packed sequences;
* a strong non-neural baseline: aeon's ``MiniRocketClassifier`` (ragged data
  resampled to the longest training length, as MiniRocket needs equal length),

and records test accuracy and fit time. fastgru and torch use the same
number of threads (``--threads``) and run one after the other per dataset and
setting, so that a slow spell of a shared machine hits both.

Usage::

    python bench/realdata.py --out bench/realdata.json            # everything
    python bench/realdata.py --quick --datasets GunPoint BasicMotions

It prints a progress line per fit, writes the JSON (``--out``) and a markdown
table (``--md``, by default next to the JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout: import this fastgru, not another
    sys.path.insert(0, str(ROOT))

#: Datasets bundled with aeon 1.6 (``aeon/datasets/data``) that the benchmark knows.
#: UnitTest is aeon's 20/22-series excerpt of Chinatown, used by the smoke test.
KNOWN = {
    "GunPoint": "univariate, 150 steps",
    "ItalyPowerDemand": "univariate, 24 steps",
    "ArrowHead": "univariate, 251 steps",
    "BasicMotions": "multivariate (6 channels), 100 steps",
    "JapaneseVowels": "multivariate (12 channels), variable length 7-29",
    "PickupGestureWiimoteZ": "univariate, variable length 29-361",
    "OSULeaf": "univariate, 427 steps",
    "ACSF1": "univariate, 1460 steps",
    "UnitTest": "univariate, 24 steps (Chinatown excerpt)",
}
DEFAULT_DATASETS = ["GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions",
                    "JapaneseVowels", "PickupGestureWiimoteZ", "UnitTest"]

#: The settings compared. "tuned" was chosen by hand once, before any test
#: accuracy of this benchmark was seen, and is the same for every dataset:
#: standardised inputs, smaller batches (more updates per epoch on small
#: training sets), a larger step, and a fixed number of epochs (no stopping rule).
SETTINGS = {
    "default": {"scale": False, "params": {}},
    "tuned": {"scale": True, "params": {"learning_rate": 5e-3, "batch_size": 16,
                                        "max_epochs": 100, "n_iter_no_change": 10**6}},
}

QUICK_EPOCHS = 5


@dataclass
class Dataset:
    """One dataset's official split, sequences time-major: ``(n, time, channels)``
    arrays, or lists of ``(time_i, channels)`` arrays when the lengths differ."""

    name: str
    X_train: object
    y_train: np.ndarray
    X_test: object
    y_test: np.ndarray

    @property
    def ragged(self) -> bool:
        return isinstance(self.X_train, list)

    def describe(self) -> dict:
        def lengths(X):
            return [len(a) for a in X] if isinstance(X, list) else [X.shape[1]]

        steps = lengths(self.X_train) + lengths(self.X_test)
        first = self.X_train[0]
        return {"n_train": len(self.y_train), "n_test": len(self.y_test),
                "channels": int(first.shape[1]), "min_length": int(min(steps)),
                "max_length": int(max(steps)), "ragged": self.ragged,
                "n_classes": int(len(np.unique(self.y_train)))}


def bundled_dir() -> Path:
    """The folder of datasets inside the installed aeon package."""
    import aeon

    return Path(aeon.__file__).resolve().parent / "datasets" / "data"


def load_dataset(name: str) -> Dataset:
    """Read ``name``'s TRAIN and TEST ``.ts`` files from aeon's bundled data.

    aeon holds panels channel-first, ``(n_cases, n_channels, n_timepoints)``
    (a list of ``(n_channels, time_i)`` arrays when the lengths differ);
    fastgru and torch read ``(n, time, channels)``: transposed here.
    """
    from aeon.datasets import load_from_ts_file

    folder = bundled_dir() / name
    parts = []
    for split in ("TRAIN", "TEST"):
        path = folder / f"{name}_{split}.ts"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is not bundled with this aeon; bundled: "
                                    f"{sorted(p.name for p in bundled_dir().iterdir())}")
        X, y = load_from_ts_file(str(path))
        if isinstance(X, list):
            X = [np.ascontiguousarray(a.T) for a in X]
        else:
            X = np.ascontiguousarray(X.transpose(0, 2, 1))
        parts += [X, np.asarray(y)]
    return Dataset(name, *parts)


# ------------------------------------------------------------------ helpers
@contextlib.contextmanager
def torch_threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pad(X, dtype=np.float32):
    """``(n, T, C)`` padded array and lengths, from a 3-D array or a ragged list."""
    if isinstance(X, list):
        lengths = np.array([len(a) for a in X], dtype=np.int64)
        out = np.zeros((len(X), lengths.max(), X[0].shape[1]), dtype=dtype)
        for i, a in enumerate(X):
            out[i, : len(a)] = a
        return out, lengths
    return np.ascontiguousarray(X, dtype=dtype), np.full(len(X), X.shape[1], dtype=np.int64)


def scale(ds: Dataset) -> Dataset:
    """Standardise every channel on the training split (fastgru.SequenceScaler)."""
    from fastgru import SequenceScaler

    scaler = SequenceScaler().fit(ds.X_train)
    return Dataset(ds.name, scaler.transform(ds.X_train), ds.y_train,
                   scaler.transform(ds.X_test), ds.y_test)


def make_estimator(setting: str, threads: int, seed: int, epoch_cap: int | None):
    """The GRUClassifier of a setting, and whether its max_epochs was capped."""
    from fastgru import GRUClassifier

    est = GRUClassifier(random_state=seed, n_jobs=threads, **SETTINGS[setting]["params"])
    capped = epoch_cap is not None and est.max_epochs > epoch_cap
    if capped:
        est.set_params(max_epochs=epoch_cap)
    return est, capped


def initial_state(est, n_features: int, n_classes: int):
    """fastgru's initial weights and shuffling generator for ``est``'s next fit.

    Reproduces the estimator's own initialisation on a clone (as the parity
    tests in tests/test_estimators.py do); None if the private hooks it uses
    are gone, and then torch starts from its own (identically distributed)
    initialisation and shuffles.
    """
    from sklearn.base import clone
    from sklearn.utils import check_random_state

    try:
        twin = clone(est)
        twin._random_state = check_random_state(est.random_state)
        twin._initialize(n_features, n_classes)
        gru = {k: np.array(v) for k, v in twin.gru_.params.items()}
        head = {k: np.array(v) for k, v in twin.head_.items()}
        return gru, head, twin._rng
    except (AttributeError, TypeError):
        return None


# ------------------------------------------------------------------ the fits
def fit_fastgru(ds: Dataset, est) -> dict:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        est.fit(ds.X_train, ds.y_train)
        fit_time = time.perf_counter() - start
        accuracy = float(np.mean(est.predict(ds.X_test) == ds.y_test))
    return {"accuracy": accuracy, "fit_time": fit_time, "epochs": int(est.n_iter_),
            "first_loss": float(est.loss_curve_[0]), "final_loss": float(est.loss_curve_[-1]),
            "loss_curve": [round(float(v), 6) for v in est.loss_curve_],
            "warnings": sorted({f"{w.category.__name__}: {w.message}" for w in caught})}


def fit_torch(ds: Dataset, est, epochs: int, init, seed: int) -> dict:
    """Train the same architecture in PyTorch for ``epochs`` epochs; test accuracy."""
    import torch

    p = est.get_params()
    if p["num_layers"] != 1 or p["bidirectional"] or p["variant"] != "torch" \
            or p["dropout"] != 0:
        raise ValueError("the torch twin covers one unidirectional 'torch'-variant layer")
    classes = np.unique(ds.y_train)
    torch.manual_seed(seed)
    start = time.perf_counter()
    x, lengths = pad(ds.X_train)
    targets = torch.from_numpy(np.searchsorted(classes, ds.y_train))
    gru = torch.nn.GRU(x.shape[2], p["hidden_size"], batch_first=True)
    head = torch.nn.Linear(p["hidden_size"], len(classes))
    if init is not None:
        gru.load_state_dict({k: torch.from_numpy(v) for k, v in init[0].items()})
        head.load_state_dict({k: torch.from_numpy(v) for k, v in init[1].items()})
        rng = init[2]
    else:
        rng = np.random.default_rng(seed)
    params = list(gru.parameters()) + list(head.parameters())
    if p["optimizer"] == "adam":
        opt = torch.optim.Adam(params, lr=p["learning_rate"], weight_decay=p["weight_decay"])
    else:
        opt = torch.optim.SGD(params, lr=p["learning_rate"], momentum=0.9,
                              weight_decay=p["weight_decay"])
    xt = torch.from_numpy(x)

    def final_state(xb, lb):
        if ds.ragged:
            xb = torch.nn.utils.rnn.pack_padded_sequence(
                xb, torch.from_numpy(lb), batch_first=True, enforce_sorted=False)
        return gru(xb)[1][-1]

    losses = []
    n, batch = len(x), p["batch_size"]
    for _ in range(epochs):
        order = rng.permutation(n) if p["shuffle"] else np.arange(n)
        total = 0.0
        for s in range(0, n, batch):
            idx = order[s : s + batch]
            steps = int(lengths[idx].max())  # trim padding no row of the batch needs
            out = head(final_state(xt[idx, :steps], lengths[idx]))
            loss = torch.nn.functional.cross_entropy(out, targets[idx])
            opt.zero_grad()
            loss.backward()
            if p["clip_grad_norm"] is not None:
                torch.nn.utils.clip_grad_norm_(params, p["clip_grad_norm"])
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / n)
    fit_time = time.perf_counter() - start
    xs, ls = pad(ds.X_test)
    with torch.no_grad():
        pred = head(final_state(torch.from_numpy(xs), ls)).argmax(dim=1).numpy()
    accuracy = float(np.mean(classes[pred] == ds.y_test))
    return {"accuracy": accuracy, "fit_time": fit_time, "epochs": epochs,
            "first_loss": losses[0] if losses else None,
            "final_loss": losses[-1] if losses else None,
            "loss_curve": [round(v, 6) for v in losses],
            "init": "fastgru" if init is not None else "torch"}


def agrees_through(curve_a, curve_b, rtol: float = 1e-3) -> int:
    """The last epoch through which two loss curves agree within ``rtol``.

    With the same initial weights and batches, fastgru and torch compute the
    same thing up to float32 rounding; the curves agree until that rounding
    is amplified (typically where the loss leaves a plateau) and from then on
    they are two different runs of the same model.
    """
    a, b = np.asarray(curve_a, dtype=float), np.asarray(curve_b, dtype=float)
    n = min(len(a), len(b))
    off = np.flatnonzero(np.abs(a[:n] - b[:n]) > rtol * np.abs(b[:n]))
    return int(off[0]) if len(off) else n


def equal_length_channel_first(X, length: int) -> np.ndarray:
    """``(n, channels, length)`` for aeon: ragged series linearly resampled to ``length``."""
    if not isinstance(X, list):
        return np.ascontiguousarray(X.transpose(0, 2, 1), dtype=np.float64)
    out = np.empty((len(X), X[0].shape[1], length))
    grid = np.linspace(0.0, 1.0, length)
    for i, a in enumerate(X):
        where = np.linspace(0.0, 1.0, len(a))
        for c in range(a.shape[1]):
            out[i, c] = np.interp(grid, where, a[:, c])
    return out


def fit_baseline(ds: Dataset, threads: int, seed: int) -> dict:
    from aeon.classification.convolution_based import MiniRocketClassifier

    start = time.perf_counter()
    # MiniRocket's kernels span 9 steps: shorter ragged sets are stretched to 9
    length = max(9, max(len(a) for a in ds.X_train)) if ds.ragged else ds.X_train.shape[1]
    clf = MiniRocketClassifier(n_jobs=threads, random_state=seed)
    clf.fit(equal_length_channel_first(ds.X_train, length), ds.y_train)
    fit_time = time.perf_counter() - start
    pred = clf.predict(equal_length_channel_first(ds.X_test, length))
    return {"accuracy": float(np.mean(pred == ds.y_test)), "fit_time": fit_time,
            "resampled_to": length if ds.ragged else None}


# ------------------------------------------------------------------ driver
def warm_up(datasets: list[Dataset], threads: int, seed: int, baseline: bool) -> float:
    """Compile (or load from cache) fastgru's kernels, aeon's and torch's first
    call, on four series of each dataset, so no timed fit pays for them."""
    start = time.perf_counter()
    for ds in datasets:
        small = Dataset(ds.name, ds.X_train[:4], ds.y_train[:4], ds.X_test[:4], ds.y_test[:4])
        if len(np.unique(small.y_train)) < 2:  # the first four share a label
            pick = np.concatenate([np.flatnonzero(ds.y_train == c)[:2]
                                   for c in np.unique(ds.y_train)[:2]])
            take = ([ds.X_train[i] for i in pick] if ds.ragged else ds.X_train[pick])
            small = Dataset(ds.name, take, ds.y_train[pick], take, ds.y_train[pick])
        est, _ = make_estimator("default", threads, seed, 1)
        fit_fastgru(small, est)
        fit_torch(small, est, 1, None, seed)
        if baseline:
            fit_baseline(small, threads, seed)
    return time.perf_counter() - start


def run(names, settings=("default", "tuned"), threads: int = 1, seed: int = 0,
        epoch_cap: int | None = None, baseline: bool = True, log=print,
        extra_seeds=()) -> dict:
    """Run the benchmark; returns the JSON-ready results (see :func:`markdown`).

    ``extra_seeds``: fastgru alone is fitted again with each of these
    ``random_state`` values (accuracy only), to show how much one seed's
    accuracy says on these small training sets.
    """

    t0 = time.perf_counter()

    def say(text):
        log(f"[{time.perf_counter() - t0:7.1f} s] {text}")

    datasets = [load_dataset(name) for name in names]
    results = {"meta": metadata(threads, seed, epoch_cap, settings), "datasets": {}}
    results["meta"]["extra_seeds"] = list(extra_seeds)
    with torch_threads(threads):
        results["meta"]["warmup_time"] = warm_up(datasets, threads, seed, baseline)
        say(f"warm-up (compile or cache load) {results['meta']['warmup_time']:.1f} s")
        for ds in datasets:
            entry = {"info": ds.describe(), "settings": {}}
            results["datasets"][ds.name] = entry
            for setting in settings:
                data = scale(ds) if SETTINGS[setting]["scale"] else ds
                est, capped = make_estimator(setting, threads, seed, epoch_cap)
                init = initial_state(est, data.X_train[0].shape[1],
                                     len(np.unique(data.y_train)))
                fg = fit_fastgru(data, est)
                fg["capped"] = capped
                say(f"{ds.name} {setting} fastgru: accuracy {fg['accuracy']:.3f}, "
                    f"{fg['epochs']} epochs{' (capped)' if capped else ''}, "
                    f"fit {fg['fit_time']:.1f} s")
                th = fit_torch(data, est, fg["epochs"], init, seed)
                th["agrees_through"] = agrees_through(fg["loss_curve"], th["loss_curve"])
                say(f"{ds.name} {setting} torch:   accuracy {th['accuracy']:.3f}, "
                    f"{th['epochs']} epochs, fit {th['fit_time']:.1f} s "
                    f"(torch/fastgru {th['fit_time'] / fg['fit_time']:.2f}x)")
                entry["settings"][setting] = {"params": est.get_params(), "fastgru": fg,
                                              "torch": th, "other_seeds": {}}
                for other in extra_seeds:
                    again, _ = make_estimator(setting, threads, other, epoch_cap)
                    extra = fit_fastgru(data, again)
                    entry["settings"][setting]["other_seeds"][str(other)] = {
                        k: extra[k] for k in ("accuracy", "fit_time", "epochs", "final_loss")}
                    say(f"{ds.name} {setting} fastgru seed {other}: accuracy "
                        f"{extra['accuracy']:.3f}, {extra['epochs']} epochs, "
                        f"fit {extra['fit_time']:.1f} s")
            if baseline:
                entry["baseline"] = fit_baseline(ds, threads, seed)
                say(f"{ds.name} MiniRocket: accuracy {entry['baseline']['accuracy']:.3f}, "
                    f"fit {entry['baseline']['fit_time']:.1f} s")
    results["meta"]["total_time"] = time.perf_counter() - t0
    results["meta"]["load_average_end"] = _load_average()
    return results


def _load_average():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def _git(*args) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def metadata(threads, seed, epoch_cap, settings) -> dict:
    import aeon
    import numba
    import sklearn
    import torch

    from fastgru import GRUClassifier

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(status) if status is not None else None,
        "cpu": cpu, "cores": os.cpu_count(), "load_average_start": _load_average(),
        "threads": threads, "seed": seed, "epoch_cap": epoch_cap, "settings": list(settings),
        "default_params": GRUClassifier().get_params(),
        "tuned": SETTINGS["tuned"],
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "numba": numba.__version__, "torch": torch.__version__,
                     "aeon": aeon.__version__, "scikit-learn": sklearn.__version__},
    }


def markdown(results: dict) -> str:
    """Two markdown tables: test accuracy, and fit time (seconds and ratios)."""
    meta = results["meta"]
    settings = meta["settings"]
    has_base = any("baseline" in e for e in results["datasets"].values())

    def shape(info):
        steps = (str(info["max_length"]) if info["min_length"] == info["max_length"]
                 else f"{info['min_length']}-{info['max_length']}")
        return (f"{info['n_train']}/{info['n_test']}, {steps} x {info['channels']}, "
                f"{info['n_classes']} cl.")

    def epochs(run):
        return f"{run['epochs']}{' (cap)' if run.get('capped') else ''}"

    head = ["dataset", "train/test, steps x channels"]
    for s in settings:
        head += [f"{s}: fastgru", f"{s}: torch"]
    head += ["MiniRocket"] if has_base else []
    rows = [head, ["---"] * len(head)]
    for name, e in results["datasets"].items():
        row = [name, shape(e["info"])]
        for s in settings:
            r = e["settings"][s]
            others = ", ".join(f"{o['accuracy']:.3f}" for o in r.get("other_seeds", {}).values())
            row += [f"{r['fastgru']['accuracy']:.3f}" + (f" ({others})" if others else ""),
                    f"{r['torch']['accuracy']:.3f}"]
        row += [f"{e['baseline']['accuracy']:.3f}"] if has_base else []
        rows.append(row)
    accuracy = "\n".join("| " + " | ".join(r) + " |" for r in rows)

    head = ["dataset"]
    for s in settings:
        head += [f"{s}: epochs", "fastgru s", "torch s", "torch / fastgru", "same loss to"]
    head += ["MiniRocket s"] if has_base else []
    rows = [head, ["---"] * len(head)]
    for name, e in results["datasets"].items():
        row = [name]
        for s in settings:
            r = e["settings"][s]
            fg, th = r["fastgru"], r["torch"]
            row += [epochs(fg), _seconds(fg["fit_time"]), _seconds(th["fit_time"]),
                    f"{th['fit_time'] / fg['fit_time']:.2f}x", str(th["agrees_through"])]
        row += [_seconds(e["baseline"]["fit_time"])] if has_base else []
        rows.append(row)
    times = "\n".join("| " + " | ".join(r) + " |" for r in rows)
    dirty = " (with uncommitted changes)" if meta.get("dirty") else ""
    seeds = meta.get("extra_seeds") or []
    seed_note = (f"; in parentheses fastgru with random_state {', '.join(map(str, seeds))}"
                 if seeds else "")
    return (f"Test accuracy (official splits; random_state {meta['seed']}{seed_note}):"
            f"\n\n{accuracy}\n\n"
            f"Fit time (seconds, {meta['threads']} thread(s) each; torch runs fastgru's "
            f"epoch count; 'same loss to': the last epoch through which the two training "
            f"losses agree to 1e-3):\n\n{times}\n\n"
            f"Commit {meta['commit']}{dirty}, {meta['date']}, {meta['cpu']} "
            f"({meta['cores']} cores), load average at start "
            f"{_fmt_load(meta['load_average_start'])}, at end "
            f"{_fmt_load(meta.get('load_average_end'))}.\n")


def _seconds(t: float) -> str:
    return f"{t:.2f}" if t < 1 else f"{t:.1f}"


def _fmt_load(load):
    return "n/a" if load is None else "/".join(f"{v:.1f}" for v in load)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--md", type=Path,
                        help="write the markdown tables here (default: --out with .md)")
    parser.add_argument("--datasets", nargs="+", default=DEFAULT_DATASETS, metavar="NAME",
                        help=f"datasets bundled with aeon, of {sorted(KNOWN)} "
                        f"(default: {' '.join(DEFAULT_DATASETS)})")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for fastgru, torch and MiniRocket alike (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--extra-seeds", type=int, nargs="*", default=[], metavar="SEED",
                        help="fit fastgru again with these random_state values (accuracy "
                        "in parentheses in the table; no torch twin)")
    parser.add_argument("--max-epochs", type=int, default=None, metavar="N",
                        help="cap every GRU fit at N epochs (marked 'cap' in the table)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: at most {QUICK_EPOCHS} epochs per GRU fit")
    parser.add_argument("--no-baseline", action="store_true", help="skip MiniRocket")
    args = parser.parse_args(argv)
    cap = args.max_epochs
    if args.quick:
        cap = QUICK_EPOCHS if cap is None else min(cap, QUICK_EPOCHS)
    results = run(args.datasets, args.settings, args.threads, args.seed, cap,
                  not args.no_baseline, log=lambda s: print(s, flush=True),
                  extra_seeds=args.extra_seeds)
    table = markdown(results)
    print(table)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        md = args.md or args.out.with_suffix(".md")
        md.write_text(table)
        print(f"wrote {args.out} and {md}")
    elif args.md:
        args.md.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
