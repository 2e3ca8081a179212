"""Batching of concurrent single-sequence calls (``FairSlots.run``): a call
that waited for its slot runs the like calls queued behind it as one batch.
It rests on a sequence's result being the same bits in any batch, which is
checked here first; then the queue: results to the right callers, in
arrival order, errors to their own caller, interrupts and fork."""

import os
import signal
import threading

import numpy as np
import pytest
from _helpers import DTYPES, VARIANTS, wait_for

import fastgru
from fastgru import _kernel_args, _slots
from fastgru._kernels import products
from fastgru._slots import FairSlots


# ------------------------------------------------- a row's bits in any batch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_single_row_product_has_the_bits_of_its_row_in_the_tiles(dtype):
    """gemm_row (one row, wide strips) and gemm_nn (tiles of 1-6 rows) give
    a row the same bits, for widths reaching every strip and the masked
    columns; both close to NumPy."""
    rng = np.random.default_rng(0)
    for k in (1, 7, 64):
        for n in (1, 5, 16, 24, 40, 64, 100, 136, 192, 200):
            a = rng.normal(size=(9, k)).astype(dtype)
            b = rng.normal(size=(k, n)).astype(dtype)
            tiles = np.full((9, n), np.nan, dtype=dtype)
            products.gemm_nn(a, b, tiles)
            for i in range(9):
                row = np.full((1, n), np.nan, dtype=dtype)
                products.gemm_row(a[i : i + 1], b, row)
                np.testing.assert_array_equal(row[0], tiles[i], err_msg=f"k={k} n={n} row {i}")
            tol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(tiles, a.astype(np.float64) @ b, rtol=tol,
                                       atol=tol * np.sqrt(k))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_a_sequence_has_the_same_bits_alone_and_in_any_batch(variant, dtype):
    """Each row of a batch of 2-9 or 16 sequences, in every position, equals
    the forward of that sequence alone (the one-sequence kernel), and the
    layer says so (rows_independent), for two stacked layers."""
    layer = fastgru.GRU(5, 24, num_layers=2, variant=variant, dtype=dtype, random_state=0)
    rng = np.random.default_rng(1)
    for p in layer.params.values():
        p[...] = rng.uniform(-0.8, 0.8, size=p.shape)
    xs = rng.normal(size=(16, 9, 5)).astype(dtype)
    alone = [layer.forward(xs[i : i + 1]) for i in range(16)]
    assert _kernel_args._forward_one_args(layer).rows_independent
    for batch in (2, 3, 4, 5, 6, 7, 8, 9, 16):
        y, h_n = layer.forward(xs[:batch])
        for i in range(batch):
            np.testing.assert_array_equal(y[i], alone[i][0][0], err_msg=f"batch {batch} row {i}")
            np.testing.assert_array_equal(h_n[:, i], alone[i][1][:, 0])


def test_layers_whose_products_run_in_blas_are_not_batched(monkeypatch):
    """Hidden sizes whose single-row product would leave the tiles, and
    inputs wider than the projection's tiles, run in BLAS: no batching."""
    monkeypatch.setattr(_slots, "batching", True)
    x = np.zeros((1, 3, 200), dtype=np.float32)
    assert _kernel_args.batch_key(fastgru.GRU(200, 8, random_state=0), x) is None
    big = fastgru.GRU(4, 120, random_state=0)  # (360, 120) float32: 169 KB
    assert _kernel_args.batch_key(big, np.zeros((1, 3, 4), dtype=np.float32)) is None
    small = fastgru.GRU(4, 64, random_state=0)
    assert _kernel_args.batch_key(small, np.zeros((1, 3, 4), dtype=np.float32)) is not None
    assert _kernel_args.batch_key(small, np.zeros((2, 3, 4), dtype=np.float32)) is None


@pytest.mark.parametrize("env, expected", [
    ({"NUMBA_NUM_THREADS": "1"}, "True"),
    ({"NUMBA_NUM_THREADS": "2"}, "False"),
    ({"NUMBA_NUM_THREADS": "1", "FASTGRU_BATCH_CALLS": "off"}, "False"),
    ({"NUMBA_NUM_THREADS": "2", "FASTGRU_BATCH_CALLS": "1"}, "True"),
    # batching runs the calls queued for a slot: none without the queue
    ({"NUMBA_NUM_THREADS": "1", "FASTGRU_BATCH_CALLS": "1", "FASTGRU_FAIR_ADMISSION": "0"},
     "False"),
])
def test_batching_is_on_by_default_with_one_slot(env, expected):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "FASTGRU_BATCH_CALLS"} | env
    out = subprocess.run([sys.executable, "-c", "import fastgru._slots as s; print(s.batching)"],
                         env=env, capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == expected


# ------------------------------------------------------------ the queue
class _Calls:
    """run_one and run_many that record what ran where; an item "bad"
    raises ValueError, and run_many raises if given one."""

    def __init__(self):
        self.singles, self.batches = [], []

    def one(self, item):
        self.singles.append(item)
        if item == "bad":
            raise ValueError(f"item {item!r} is bad")
        return ("result", item)

    def many(self, items):
        self.batches.append(list(items))
        if "bad" in items:
            raise ValueError("a bad item")
        return [("result", item) for item in items]


def _queue_behind(slots, calls, jobs, limit=16, many=None):
    """Hold ``slots``' only slot, queue ``jobs`` ((key, item) pairs, each in
    its thread, in this order), then release it; return the outcomes (a
    result, or the ValueError or KeyboardInterrupt raised). ``many`` maps
    an item to the batch runner its call passes (default ``calls.many``)."""
    outcomes = {}
    slots.__enter__()
    threads = []

    def call(key, item):
        run_many = (many or {}).get(item, calls.many)
        try:
            outcomes[item] = slots.run(key, item, calls.one, run_many, limit)
        except (ValueError, KeyboardInterrupt) as exc:
            outcomes[item] = exc

    for k, (key, item) in enumerate(jobs):
        t = threading.Thread(target=call, args=(key, item))
        t.start()
        threads.append(t)
        wait_for(lambda k=k: len(slots._waiters) == k + 1, f"job {k} to queue")
    slots.__exit__()
    for t in threads:
        t.join()
    assert (slots._free, len(slots._waiters), slots._taken) == (slots.n, 0, 0)
    return outcomes


def test_the_first_waiter_runs_the_like_jobs_behind_it_in_one_batch():
    calls = _Calls()
    jobs = [("a", "a1"), ("b", "b1"), ("a", "a2"), (None, "plain"), ("a", "a3"), ("b", "b2")]
    outcomes = _queue_behind(FairSlots(1), calls, jobs)
    assert calls.batches == [["a1", "a2", "a3"], ["b1", "b2"]]
    assert calls.singles == ["plain"]  # a call that is no job runs alone
    for _, item in jobs:
        assert outcomes[item] == ("result", item)


def test_a_batch_holds_at_most_limit_jobs():
    calls = _Calls()
    jobs = [("a", f"a{k}") for k in range(7)]
    outcomes = _queue_behind(FairSlots(1), calls, jobs, limit=3)
    assert calls.batches == [["a0", "a1", "a2"], ["a3", "a4", "a5"]]
    assert calls.singles == ["a6"]
    assert all(outcomes[item] == ("result", item) for _, item in jobs)


def test_a_slot_freed_while_a_batch_runs_goes_past_its_jobs():
    """Two slots: while the first call handed one runs the jobs queued
    behind it, the other slot freed is not handed to them (they wait for
    their outcomes, queued) but taken by a new call at once; then each job
    returns its outcome in its turn."""
    slots, calls = FairSlots(2), _Calls()
    go = threading.Event()

    def slow_many(items):
        go.wait(60)
        return calls.many(items)

    outcomes = {}
    slots.__enter__()
    slots.__enter__()
    threads = []

    def call(item):
        outcomes[item] = slots.run("a", item, calls.one, slow_many, 16)

    for k, item in enumerate(["a1", "a2", "a3", "a4"]):
        t = threading.Thread(target=call, args=(item,))
        t.start()
        threads.append(t)
        wait_for(lambda k=k: len(slots._waiters) == k + 1, f"job {k} to queue")
    slots.__exit__()  # a1: takes a2, a3, a4, and waits for go
    wait_for(lambda: slots._taken == 3, "a1 to take the others")
    slots.__exit__()  # no job to hand it to: free
    assert (slots._free, len(slots._waiters)) == (1, 3)
    assert slots.run("a", "a5", calls.one, slow_many, 16) == ("result", "a5")  # at once
    assert calls.singles == ["a5"] and outcomes == {}
    go.set()
    for t in threads:
        t.join()
    assert calls.batches == [["a1", "a2", "a3", "a4"]]
    assert outcomes == {item: ("result", item) for item in ("a1", "a2", "a3", "a4")}
    assert (slots._free, len(slots._waiters), slots._taken) == (2, 0, 0)


def test_an_error_reaches_its_own_caller_only():
    calls = _Calls()
    jobs = [("a", "a1"), ("a", "bad"), ("a", "a3")]
    outcomes = _queue_behind(FairSlots(1), calls, jobs)
    assert calls.batches == [["a1", "bad", "a3"]]  # failed: each ran alone
    assert calls.singles == ["a1", "bad", "a3"]
    assert isinstance(outcomes["bad"], ValueError) and "'bad'" in str(outcomes["bad"])
    assert outcomes["a1"] == ("result", "a1") and outcomes["a3"] == ("result", "a3")


def test_an_interrupted_batch_leaves_its_jobs_to_run_themselves():
    """run_many interrupted (KeyboardInterrupt in the call that runs it):
    that call raises it, and every job it took still gets its own result."""
    slots, calls = FairSlots(1), _Calls()

    def interrupted(items):
        calls.batches.append(list(items))
        raise KeyboardInterrupt

    outcomes = _queue_behind(slots, calls, [("a", "a1"), ("a", "a2"), ("a", "a3")],
                             many={"a1": interrupted})
    assert isinstance(outcomes.pop("a1"), KeyboardInterrupt)
    assert calls.batches[0] == ["a1", "a2", "a3"]
    assert outcomes == {"a2": ("result", "a2"), "a3": ("result", "a3")}


def test_no_call_starves_under_many_threads():
    """8 threads, 3 keys and plain calls, on 2 slots: every call returns
    its own result, and the slots end free."""
    slots, calls = FairSlots(2), _Calls()
    wrong, done = [], []

    def work(t):
        for k in range(200):
            key = (None, "a", "b", "c")[(t + k) % 4]
            item = (t, k)
            if key is None:
                with slots:
                    result = calls.one(item)
            else:
                result = slots.run(key, item, calls.one, calls.many, 16)
            if result != ("result", item):
                wrong.append(item)
            done.append(item)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert not wrong and len(done) == 1600
    assert (slots._free, len(slots._waiters)) == (2, 0)


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_an_interrupted_waiting_job_gives_nothing_away(sigint_raises):
    """Ctrl-C while a job waits in the queue: KeyboardInterrupt in that
    caller, and the job queued behind it still runs and gets its result."""
    slots, calls = FairSlots(1), _Calls()
    slots.__enter__()
    behind = {}

    def later():
        wait_for(lambda: len(slots._waiters) == 1, "the main thread to queue")
        behind["result"] = slots.run("a", "a2", calls.one, calls.many, 16)

    t = threading.Thread(target=later)
    t.start()
    main = threading.main_thread().ident
    killer = threading.Thread(target=lambda: (
        wait_for(lambda: len(slots._waiters) == 2, "the second job to queue"),
        signal.pthread_kill(main, signal.SIGINT)))
    killer.start()
    with pytest.raises(KeyboardInterrupt):
        slots.run("a", "a1", calls.one, calls.many, 16)
    killer.join()
    assert len(slots._waiters) == 1  # only the other job
    slots.__exit__()
    t.join()
    assert behind["result"] == ("result", "a2")
    assert calls.batches == [] and calls.singles == ["a2"]
    assert (slots._free, len(slots._waiters)) == (1, 0)


# ----------------------------------------------------------- with the layer
def _hold_all_slots():
    slots = _slots.inference_slot()
    for _ in range(slots.n):
        slots.__enter__()
    return slots


def _release(slots):
    for _ in range(slots.n):
        slots.__exit__()


@pytest.mark.parametrize("enabled", [True, False])
def test_queued_forwards_of_one_sequence_run_as_one_batch(enabled, monkeypatch):
    """Six calls queued behind busy slots: the first one handed a slot runs
    the others of its layer and length with its own (not those of another
    length), unless batching is off; every result is the serial call's."""
    monkeypatch.setattr(_slots, "batching", enabled)
    monkeypatch.setattr(_slots, "_SLOTS", FairSlots(1))  # one slot: all behind it
    layer = fastgru.GRU(3, 16, num_layers=2, random_state=0)
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(1, 7 if k != 3 else 5, 3)).astype(np.float32) for k in range(6)]
    serial = [layer.forward(x) for x in xs]
    sizes = []
    batch = _kernel_args.forward_batch
    monkeypatch.setattr(_kernel_args, "forward_batch",
                        lambda items: sizes.append(len(items)) or batch(items))
    got = [None] * 6
    slots = _hold_all_slots()
    held = slots.n
    try:
        threads = []
        for k, x in enumerate(xs):
            t = threading.Thread(target=lambda k=k, x=x: got.__setitem__(k, layer.forward(x)))
            t.start()
            threads.append(t)
            wait_for(lambda k=k: len(slots._waiters) == k + 1, f"call {k} to queue")
        slots.__exit__()  # one slot: the first call gets it
        held -= 1
        if enabled:
            wait_for(lambda: sizes, "the batch")
    finally:
        for _ in range(held):
            slots.__exit__()
    for t in threads:
        t.join()
    assert sizes == ([5] if enabled else [])
    for (y, h_n), (y_ref, h_ref) in zip(got, serial):
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(h_n, h_ref)
        assert y.flags.c_contiguous and h_n.flags.c_contiguous
    assert (slots._free, len(slots._waiters)) == (slots.n, 0)


def test_a_nan_in_one_queued_call_raises_there_only(monkeypatch):
    monkeypatch.setattr(_slots, "batching", True)
    monkeypatch.setattr(_slots, "_SLOTS", FairSlots(1))
    batch = _kernel_args.forward_batch
    sizes = []
    monkeypatch.setattr(_kernel_args, "forward_batch",
                        lambda items: sizes.append(len(items)) or batch(items))
    layer = fastgru.GRU(3, 8, random_state=0)
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(1, 4, 3)).astype(np.float32) for _ in range(4)]
    xs[2][0, 1, 0] = np.nan
    serial = [layer.forward(x) for k, x in enumerate(xs) if k != 2]
    got = {}

    def call(k):
        try:
            got[k] = layer.forward(xs[k])
        except ValueError as exc:
            got[k] = exc

    slots = _hold_all_slots()
    try:
        threads = []
        for k in range(4):
            t = threading.Thread(target=call, args=(k,))
            t.start()
            threads.append(t)
            wait_for(lambda k=k: len(slots._waiters) == k + 1, f"call {k} to queue")
    finally:
        _release(slots)
    for t in threads:
        t.join()
    assert sizes == [4]  # the first call handed the slot, with the three behind it
    assert isinstance(got[2], ValueError) and "NaN" in str(got[2])
    for k, ref in zip((0, 1, 3), serial):
        np.testing.assert_array_equal(got[k][0], ref[0])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_while_calls_queue_serves_batched_calls(monkeypatch):
    """Forked while this process's slots are held and calls queue: the
    child starts with free slots and serves its own calls."""
    monkeypatch.setattr(_slots, "batching", True)
    layer = fastgru.GRU(3, 8, random_state=0)
    x = np.random.default_rng(0).normal(size=(1, 5, 3)).astype(np.float32)
    ref = layer.forward(x)[0]
    slots = _hold_all_slots()
    waiting = threading.Thread(target=layer.forward, args=(x,))
    waiting.start()
    wait_for(lambda: len(slots._waiters) == 1, "a call to queue")
    pid = os.fork()
    if pid == 0:  # the child: nothing below may raise past os._exit
        code = 1
        try:
            results = []
            threads = [threading.Thread(target=lambda: results.append(layer.forward(x)[0]))
                       for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            child = _slots.inference_slot()
            if (len(results) == 4 and all(np.array_equal(r, ref) for r in results)
                    and (child._free, len(child._waiters)) == (child.n, 0)):
                code = 0
        finally:
            os._exit(code)
    _release(slots)
    waiting.join()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
