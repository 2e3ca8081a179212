"""Fair admission of inference calls (fastgru._slots): at most n at a time,
in arrival order, and an interrupted wait gives nothing away."""

import signal
import threading
import time

import numpy as np
import pytest
from _helpers import wait_for

import fastgru
from fastgru._slots import FairSlots


def test_at_most_n_callers_inside():
    slots, inside, most = FairSlots(2), [0], [0]
    lock = threading.Lock()

    def call():
        for _ in range(20):
            with slots:
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.0005)
                with lock:
                    inside[0] -= 1

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] <= 2
    assert (slots._free, len(slots._waiters)) == (2, 0)


def test_waiters_enter_in_arrival_order():
    slots, order = FairSlots(1), []
    slots.__enter__()  # held: everyone after queues
    threads = []

    def call(k):
        with slots:
            order.append(k)

    for k in range(5):
        t = threading.Thread(target=call, args=(k,))
        t.start()
        threads.append(t)
        wait_for(lambda k=k: len(slots._waiters) == k + 1, f"waiter {k}")
    slots.__exit__()
    for t in threads:
        t.join()
    assert order == [0, 1, 2, 3, 4]
    assert (slots._free, len(slots._waiters)) == (1, 0)


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_interrupted_wait_gives_no_slot_away(sigint_raises):
    slots = FairSlots(1)
    holding, release = threading.Event(), threading.Event()

    def holder():
        with slots:
            holding.set()
            release.wait(60)

    t = threading.Thread(target=holder)
    t.start()
    holding.wait(60)
    main = threading.main_thread().ident
    killer = threading.Thread(target=lambda: (
        wait_for(lambda: len(slots._waiters) == 1, "the main thread to queue"),
        signal.pthread_kill(main, signal.SIGINT)))
    killer.start()
    with pytest.raises(KeyboardInterrupt):
        with slots:  # waits behind the holder; Ctrl-C arrives
            pass
    killer.join()
    release.set()
    t.join()
    assert (slots._free, len(slots._waiters)) == (1, 0)
    with slots:  # and the slot is there to take
        assert slots._free == 0


def test_forward_from_many_threads_equals_serial_and_frees_every_slot():
    layer = fastgru.GRU(3, 8, random_state=0)
    xs = [np.random.default_rng(k).normal(size=(b, 6, 3)).astype(np.float32)
          for k, b in enumerate((1, 1, 5, 16))]
    refs = [layer.forward(x)[1] for x in xs]
    bad = []

    def work():
        for _ in range(10):
            for x, ref in zip(xs, refs):
                if not np.array_equal(layer.forward(x)[1], ref):
                    bad.append(x.shape)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad
    slots = fastgru._slots.inference_slot()
    assert (slots._free, len(slots._waiters)) == (slots.n, 0)


def test_unqueued_admission_is_chosen_by_the_environment_and_kept_after_a_fork():
    """FASTGRU_FAIR_ADMISSION=0 admits every call at once (no thread sleeps
    for a slot): the same results from 8 threads, and a forked child keeps
    the choice."""
    import os
    import subprocess
    import sys

    script = """
import os, threading, numpy as np, fastgru
from fastgru import _slots
assert type(_slots.inference_slot()).__name__ == {kind!r}, _slots.inference_slot()
layer = fastgru.GRU(3, 8, random_state=0)
clf_x = [np.random.default_rng(k).normal(size=(b, 6, 3)).astype(np.float32)
         for k, b in enumerate((1, 1, 5, 16))]
refs = [layer.forward(x)[1] for x in clf_x]
bad = []
def work():
    for _ in range(20):
        for x, ref in zip(clf_x, refs):
            if not np.array_equal(layer.forward(x)[1], ref):
                bad.append(x.shape)
threads = [threading.Thread(target=work) for _ in range(8)]
[t.start() for t in threads]; [t.join() for t in threads]
assert not bad, bad
pid = os.fork()
if pid == 0:
    ok = type(_slots.inference_slot()).__name__ == {kind!r}
    ok = ok and np.array_equal(layer.forward(clf_x[2])[1], refs[2])
    os._exit(0 if ok else 1)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0
print("ok")
"""
    if not hasattr(os, "fork"):
        pytest.skip("no os.fork")
    for value, kind in (("0", "Unqueued"), ("1", "FairSlots")):
        # (workqueue: TBB's fork message is not what this checks)
        env = {**os.environ, "FASTGRU_FAIR_ADMISSION": value,
               "NUMBA_THREADING_LAYER": "workqueue"}
        out = subprocess.run([sys.executable, "-c", script.format(kind=kind)], env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]
