"""Serving from a thread pool: throughput and latency of many small requests.

One run measures, side by side in one process, a fitted
``GRUClassifier(hidden_size=64)`` on sequences of 60 steps x 8 features
(``predict_proba``), its bare GRU layer (``forward``) and the same layer
exported with ``to_onnx`` under onnxruntime (``run``), at batch 1 and 16,
from 1 and 8 Python threads sharing one counter of requests; then ``step``
streaming (each thread its own session state) from 1 and 8 threads; and,
with ``--server``, the example HTTP server (``examples/server.py``) on
loopback, serving the fastgru model and the same model exported to ONNX.

Each configuration runs ``--repeats`` times, the configurations alternating
(A, B, C, A, B, C, ...) so that a slow window of a shared machine hits each
of them once at most; every statistic is the best of the repeats (highest
throughput, lowest p50, p99 and maximum), and the median throughput is shown
too. "cores" is the process's CPU time over the wall time of a run (the
fastest's): how much of the machine the calls got. Throughput is cores
over CPU time per request, and on a machine shared with other sessions'
jobs Linux shares the cores between sessions (autogroup) before threads,
so compare the 1- and 8-thread rows' cores too. Every answer of a threaded
run is compared with the serial call on the same input ("same":
bit-identical). The load average is printed before and after. Run from the
repository root::

    python bench/serving.py                      # in-process table, ~1 min
    python bench/serving.py --server             # and the HTTP server
    python bench/serving.py --json out.json      # the numbers as JSON too
    python bench/serving.py --no-in-process --memory   # a worker's memory
    python bench/serving.py --no-in-process --admission --repeats 12   # other queues
    python bench/serving.py --batching both      # batch-1 rows with batching off too
    taskset -c 0 python bench/serving.py         # the process on one core (Linux)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import tempfile
import threading
import time
from time import perf_counter

import numpy as np

# this checkout's fastgru, not an installed one
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HIDDEN, STEPS, FEATURES = 64, 60, 8


def _percentiles(latencies):
    ms = np.sort(latencies) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), float(ms[-1])


# Seconds of idle before each timed run: onnxruntime's pool threads spin for
# tens of milliseconds after its last call (measured on the 2-core machine
# of docs/serving.md: 30-40 ms of a core), Numba's TBB workers after a
# parallel launch, and that CPU time would count against the next run.
SETTLE_SECONDS = 0.1


def _timed(barrier, threads, n_calls, latencies, mismatches):
    """Start ``threads``, release them together through ``barrier`` and time
    them: ``(calls/s, p50, p99, max (ms), all answers right, CPU ms a call)``."""
    time.sleep(SETTLE_SECONDS)
    for t in threads:
        t.start()
    barrier.wait()
    t0, c0 = perf_counter(), time.process_time()
    for t in threads:
        t.join()
    wall, cpu = perf_counter() - t0, time.process_time() - c0
    return (n_calls / wall, *_percentiles(latencies), not mismatches, cpu / n_calls * 1e3)


def run_threads(call, inputs, references, n_threads, n_requests, switches=None):
    """``n_requests`` calls of ``call`` on ``inputs`` (cycled) from
    ``n_threads`` threads taking requests from one counter. Returns
    (requests/s, p50 ms, p99 ms, max ms, every answer equal to its
    reference, CPU ms a call); appends each thread's context switches to
    ``switches`` if given."""
    latencies = np.empty(n_requests)
    counter = itertools.count()
    mismatches = []
    barrier = threading.Barrier(n_threads + 1)

    def work():
        barrier.wait()
        n = len(inputs)
        start = _switches()
        while True:
            i = next(counter)  # one bytecode call: atomic under the GIL
            if i >= n_requests:
                if switches is not None:
                    switches.append(_switches() - start)
                return
            x = inputs[i % n]
            t0 = perf_counter()
            out = call(x)
            latencies[i] = perf_counter() - t0
            if not np.array_equal(out, references[i % n]):
                mismatches.append(i)

    return _timed(barrier, [threading.Thread(target=work) for _ in range(n_threads)],
                  n_requests, latencies, mismatches)


def run_streams(layer, sequences, references, n_threads, n_steps):
    """``n_steps`` calls of ``layer.step(x_t, h, out=h)`` in all, from
    ``n_threads`` threads, each stepping its own session through the
    sequences (state reset at each sequence's start, its final state compared
    with a serial run's)."""
    latencies = np.empty(n_steps)
    counter = itertools.count()
    mismatches = []
    barrier = threading.Barrier(n_threads + 1)
    T = sequences.shape[1]

    def work(offset):
        h = np.zeros((layer.num_layers, 1, layer.hidden_size), dtype=layer.dtype)
        seq, t = offset % len(sequences), 0
        barrier.wait()
        while True:
            i = next(counter)
            if i >= n_steps:
                return
            x_t = sequences[seq, t]
            t0 = perf_counter()
            layer.step(x_t, h, out=h)
            latencies[i] = perf_counter() - t0
            t += 1
            if t == T:
                if not np.array_equal(h, references[seq]):
                    mismatches.append(seq)
                h[...] = 0.0
                seq, t = (seq + 1) % len(sequences), 0

    return _timed(barrier, [threading.Thread(target=work, args=(k,))
                            for k in range(n_threads)], n_steps, latencies, mismatches)


def build_models(seed=0):
    """The fitted classifier, its layer, an onnxruntime session of the layer,
    and the data."""
    import onnxruntime as ort

    from fastgru import GRUClassifier

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(512, STEPS, FEATURES)).astype(np.float32)
    y = (X[:, :10, 0].sum(axis=1) > 0).astype(int)
    clf = GRUClassifier(hidden_size=HIDDEN, max_epochs=3, random_state=seed).fit(X, y)
    layer = clf.gru_
    session = ort.InferenceSession(layer.to_onnx().SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return clf, layer, session, X


UNBATCHED = " (batching off)"


def in_process_cases(clf, layer, session, X, batches, n_inputs=32, unbatched=False):
    """(name, batch, call, inputs, references) of the in-process table; with
    ``unbatched``, fastgru's batch-1 calls once more with batching off."""
    cases = []
    for b in batches:
        inputs = [np.ascontiguousarray(X[(i * b) % (len(X) - b):][:b]) for i in range(n_inputs)]
        calls = [
            ("predict_proba", clf.predict_proba),
            ("GRU.forward", lambda x: layer.forward(x)[1]),
            ("onnxruntime run", lambda x: session.run(["h_n"], {"x": x})[0]),
        ]
        if unbatched and b == 1:
            calls[2:2] = [(name + UNBATCHED, call) for name, call in calls[:2]]
        for name, call in calls:
            refs = [call(x) for x in inputs]  # serial answers (and a warm-up)
            cases.append((name, b, call, inputs, refs))
    return cases


_DEFAULT_BATCHING = []


def _set_batching(args, name):
    """fastgru's batching of concurrent calls for the case ``name``."""
    from fastgru import _slots

    if not _DEFAULT_BATCHING:
        _DEFAULT_BATCHING.append(_slots.batching)
    if name.endswith(UNBATCHED) or args.batching == "off":
        _slots.batching = False
    else:
        _slots.batching = args.batching != "default" or _DEFAULT_BATCHING[0]


def measure_in_process(args, clf, layer, session, X):
    cases = in_process_cases(clf, layer, session, X, args.batches,
                             unbatched=args.batching == "both")
    configs = [(case, n) for case in cases for n in args.threads]
    for case, n in configs:  # warm every thread count's per-thread caches
        _set_batching(args, case[0])
        run_threads(case[2], case[3], case[4], n, min(64, args.requests))
    sequences = np.ascontiguousarray(X[:16])
    step_refs = []
    for seq in sequences:
        h = np.zeros((layer.num_layers, 1, HIDDEN), dtype=layer.dtype)
        for x_t in seq:
            layer.step(x_t[None], h, out=h)
        step_refs.append(h.copy())
    step_seqs = sequences[:, :, None, :].copy()  # (n, T, 1, F): x_t of batch 1
    best: dict = {}
    for _ in range(args.repeats):
        for (name, b, call, inputs, refs), n in configs:
            _set_batching(args, name)
            res = run_threads(call, inputs, refs, n, args.requests)
            _keep_best(best, (b, name, n), res)
        for n in args.threads:
            res = run_streams(layer, step_seqs, step_refs, n, args.step_requests)
            _keep_best(best, (1, "step (streaming)", n), res)
    return best


def _keep_best(best, key, res):
    """Fold one run's ``res`` into ``best[key]``: the best of each
    statistic, the CPU time per request of the fastest run, and every
    run's throughput (for the median)."""
    old = best.get(key)
    if old is None:
        best[key] = [*res, res[5], [res[0]]]
        return
    best[key] = [max(old[0], res[0]), min(old[1], res[1]), min(old[2], res[2]),
                 min(old[3], res[3]), old[4] and res[4], min(old[5], res[5]),
                 res[5] if res[0] > old[0] else old[6], old[7] + [res[0]]]


# ------------------------------------------------------- admission variants
def _switches():
    """This thread's context switches so far (Linux), or 0."""
    import resource

    if not hasattr(resource, "RUSAGE_THREAD"):
        return 0
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_nvcsw + r.ru_nivcsw


def measure_admission(args, clf, layer, X):
    """Batch-1 calls from 8 threads under other admission rules than
    fastgru's (``fastgru._slots``' queue swapped for the run): the fair
    queue on Numba's threads, on one and on three slots, and no queue.
    Prints, per call and rule, the best and median req/s, the best and
    median p99, the lowest maximum, and the medians of the CPU ms and of
    the calling threads' context switches per request, over ``--repeats``
    alternating runs."""
    from fastgru import _slots

    if args.batching in ("on", "off"):
        _slots.batching = args.batching == "on"
    rules = [(f"fair queue, {_slots.inference_slot().n} slots (fastgru)",
              _slots.inference_slot()),
             ("fair queue, 1 slot", _slots.FairSlots(1)),
             ("fair queue, 3 slots", _slots.FairSlots(3)),
             ("no queue", _slots.Unqueued(_slots.inference_slot().n))]
    inputs = [np.ascontiguousarray(X[i:i + 1]) for i in range(32)]
    calls = [("predict_proba", clf.predict_proba),
             ("GRU.forward", lambda x: layer.forward(x)[1])]
    refs = {name: [call(x) for x in inputs] for name, call in calls}
    runs: dict = {}
    saved = _slots._SLOTS
    try:
        for _ in range(args.repeats):
            for name, call in calls:
                for rule, slots in rules:
                    _slots._SLOTS = slots
                    switches = []
                    res = run_threads(call, inputs, refs[name], 8, args.requests, switches)
                    runs.setdefault((name, rule), []).append(
                        (*res, sum(switches) / args.requests))
    finally:
        _slots._SLOTS = saved
    print("| call | admission | req/s best | median | p99 ms best | median | max ms "
          "| CPU ms/req | switches/req | same |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (name, rule), rs in runs.items():
        a = np.array(rs, dtype=float)
        print(f"| {name} | {rule} | {a[:, 0].max():,.0f} | {np.median(a[:, 0]):,.0f} "
              f"| {a[:, 2].min():.2f} | {np.median(a[:, 2]):.2f} | {a[:, 3].min():.1f} "
              f"| {np.median(a[:, 5]):.3f} | {np.median(a[:, 6]):.2f} "
              f"| {'yes' if a[:, 4].all() else 'NO'} |")


# ---------------------------------------------------------------- HTTP server
def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_path, port, extra=()):
    """Start ``examples/server.py`` on 127.0.0.1:``port``; wait until ready."""
    import subprocess

    import httpx

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, os.path.join(root, "examples", "server.py"), str(model_path),
         "--host", "127.0.0.1", "--port", str(port), *extra],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited: " + proc.stderr.read().decode()[-2000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server not ready in 120 s")


def load_test(url, bodies, n_clients, n_requests, time_limit):
    """POST ``bodies`` (cycled) to ``url`` from ``n_clients`` threads, each
    with its own keep-alive connection, ``n_requests`` in all or until
    ``time_limit`` seconds. Returns (requests/s, p50, p99, max, all 200)."""
    import httpx

    latencies = np.full(n_requests, np.nan)
    counter = itertools.count()
    failures = []
    barrier = threading.Barrier(n_clients + 1)
    stop = [time.perf_counter() + time_limit]

    def work():
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            while perf_counter() < stop[0]:
                i = next(counter)
                if i >= n_requests:
                    return
                t0 = perf_counter()
                r = client.post(url, content=bodies[i % len(bodies)],
                                headers={"content-type": "application/json"})
                latencies[i] = perf_counter() - t0
                if r.status_code != 200:
                    failures.append(r.status_code)

    threads = [threading.Thread(target=work) for _ in range(n_clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = perf_counter()
    stop[0] = t0 + time_limit
    for t in threads:
        t.join()
    wall = perf_counter() - t0
    done = latencies[~np.isnan(latencies)]
    return (len(done) / wall, *_percentiles(done), not failures, float("nan"))


def measure_server(args, clf, X):
    import fastgru

    best = {}
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model.fastgru")
        fastgru.save(clf, model)
        onnx_model = os.path.join(tmp, "model.onnx")
        clf.to_onnx(onnx_model)
        servers = {}
        try:
            for name, path in (("server: fastgru", model), ("server: onnxruntime", onnx_model)):
                port = _free_port()
                servers[name] = (start_server(path, port), port)
            for _ in range(args.repeats):
                for b in (1, 16):
                    bodies = [json.dumps({"x": X[i:i + b].tolist()}).encode()
                              for i in range(0, 32 * b, b)]
                    for name, (_, port) in servers.items():
                        url = f"http://127.0.0.1:{port}/predict"
                        res = load_test(url, bodies, args.clients, args.server_requests,
                                        args.server_seconds)
                        _keep_best(best, (b, name, args.clients), res)
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(10)
    return best


def _memory(pid="self"):
    """Resident and private memory of a process in MB (Linux)."""
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, value = line.split()[:2]
            if key in ("Rss:", "Private_Clean:", "Private_Dirty:"):
                out[key[:-1]] = int(value) / 1024
    return out["Rss"], out["Private_Clean"] + out["Private_Dirty"]


def measure_memory(model_path):
    """Resident memory after each stage of a worker's start (a fresh
    interpreter), and the private memory of 2 workers forked from it after
    400 predictions each (what gunicorn --preload's workers add)."""
    import subprocess

    code = f"""
import os, sys, time
sys.path.insert(0, {os.path.dirname(os.path.dirname(os.path.abspath(__file__)))!r})
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
from serving import _memory
import numpy as np
print("Python with NumPy", _memory()[0])
import fastgru
print("import fastgru (Numba)", _memory()[0])
from fastgru import GRUClassifier
print("the estimators (scikit-learn, SciPy)", _memory()[0])
clf = fastgru.load({model_path!r})
x1, x16 = (np.zeros((b, {STEPS}, {FEATURES}), np.float32) for b in (1, 16))
clf.predict_proba(x1); clf.predict_proba(x16)
print("model loaded, batch 1 and 16 predicted", _memory()[0])
import starlette, uvicorn
print("Starlette and uvicorn", _memory()[0])
for _ in range(2):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        for _ in range(200):
            clf.predict_proba(x1); clf.predict_proba(x16)
        os.write(w, b"x"); time.sleep(2); os._exit(0)
    os.read(r, 1)
    print("forked worker: private", _memory(pid)[1])
    os.waitpid(pid, 0)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    print("| stage | MB |\n|---|---|")
    for line in out.stdout.splitlines():
        what, mb = line.rsplit(" ", 1)
        print(f"| {what} | {float(mb):.0f} |")
    if out.returncode:
        print(out.stderr[-2000:])


def print_table(best, threads):
    """The table; "same": every answer bit-identical to the serial call's
    (for the server rows: every response a 200); "CPU ms/req": the
    process's CPU time (every thread's) per request, which a shared
    machine's load changes far less than the wall-clock columns; "cores":
    that CPU time over the wall time, in the fastest run."""
    base = {}
    print("| batch | call | threads | req/s | median req/s | p50 ms | p99 ms | max ms "
          "| vs 1 thread | CPU ms/req | cores | same |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (b, name, n), (rate, p50, p99, worst, same, cpu, cpu_best, rates) in best.items():
        if n == min(threads):
            base[(b, name)] = rate
        ratio = f"{rate / base[(b, name)]:.2f}" if (b, name) in base else "-"
        cores = "-" if cpu_best != cpu_best else f"{rate * cpu_best / 1e3:.2f}"
        cpu = "-" if cpu != cpu else f"{cpu:.3f}"
        print(f"| {b} | {name} | {n} | {rate:,.0f} | {np.median(rates):,.0f} | {p50:.3f} "
              f"| {p99:.3f} | {worst:.2f} | {ratio} | {cpu} | {cores} "
              f"| {'yes' if same else 'NO'} |")


def main(argv=None):
    global HIDDEN, STEPS  # --size: the model's and requests' shape for the whole run
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--step-requests", type=int, default=15000,
                        help="steps in all per streaming run (a step takes microseconds)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--server", action="store_true", help="also load-test the HTTP server")
    parser.add_argument("--no-in-process", action="store_true")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--server-requests", type=int, default=1500)
    parser.add_argument("--server-seconds", type=float, default=20.0)
    parser.add_argument("--admission", action="store_true",
                        help="also compare admission rules at batch 1, 8 threads")
    parser.add_argument("--batching", choices=("default", "on", "off", "both"),
                        default="default",
                        help="fastgru's batching of concurrent single-sequence calls "
                             "(default: fastgru's choice; both: on, and fastgru's "
                             "batch-1 rows once more with it off)")
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--size", type=int, nargs=2, metavar=("HIDDEN", "STEPS"),
                        default=[HIDDEN, STEPS],
                        help=f"the classifier's hidden size and the sequences' steps "
                             f"(default {HIDDEN} {STEPS})")
    parser.add_argument("--memory", action="store_true",
                        help="also measure a worker's memory (Linux)")
    args = parser.parse_args(argv)
    HIDDEN, STEPS = args.size

    import numba
    import onnxruntime

    import fastgru

    load0 = os.getloadavg()
    clf, layer, session, X = build_models()
    best = {}
    if not args.no_in_process:
        best.update(measure_in_process(args, clf, layer, session, X))
    if args.admission:
        measure_admission(args, clf, layer, X)
    if args.server:
        best.update(measure_server(args, clf, X))
    if args.memory:
        import fastgru as _fastgru

        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model.npz")
            _fastgru.save(clf, path)
            measure_memory(path)
    load1 = os.getloadavg()
    try:
        layer_name = numba.threading_layer()
    except ValueError:  # no parallel launch ran (one thread: every call serial)
        layer_name = "no parallel launch"
    default_on = _DEFAULT_BATCHING[0] if _DEFAULT_BATCHING else fastgru._slots.batching
    batching = {"both": "on and off", "default": "on" if default_on else "off"}.get(
        args.batching, args.batching)
    print(f"fastgru {fastgru.__version__}, numba {numba.__version__} "
          f"({layer_name}, {numba.config.NUMBA_NUM_THREADS} threads, batching "
          f"{batching}, admission "
          f"{'fair queue' if fastgru._slots.fair_admission else 'unqueued'}), "
          f"onnxruntime {onnxruntime.__version__}, {os.cpu_count()} CPUs, "
          f"{platform.python_implementation()} {platform.python_version()}")
    print(f"hidden size {HIDDEN}, {STEPS} steps x {FEATURES} features; "
          f"load average before {load0[0]:.2f}, after {load1[0]:.2f} (1 min); "
          f"best of {args.repeats} alternating repeats, {args.requests} requests each "
          f"({args.step_requests} steps for streaming)")
    if best:
        print_table(best, args.threads)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"load": [load0[0], load1[0]],
                       "rows": [dict(zip(("batch", "call", "threads", "rate", "p50_ms",
                                          "p99_ms", "max_ms", "same", "cpu_ms",
                                          "cpu_ms_fastest", "rates"),
                                         (*k, *v)))
                                for k, v in best.items()]}, f, indent=1)


if __name__ == "__main__":
    main()
