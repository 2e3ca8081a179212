"""Fair admission of inference calls (fastgru._slots): at most n at a time,
in arrival order, held in turns, and an interrupted wait gives nothing away."""

import signal
import threading
import time

import numpy as np
import pytest

import fastgru
from fastgru._slots import FairSlots


def _wait_for(predicate, what):
    deadline = time.monotonic() + 60
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)


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
    _assert_every_slot_can_be_taken(slots)


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
        _wait_for(lambda k=k: len(slots._waiters) == k + 1, f"waiter {k}")
    slots.__exit__()
    for t in threads:
        t.join()
    assert order == [0, 1, 2, 3, 4]
    assert (slots._free, len(slots._waiters)) == (1, 0)


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_interrupted_wait_gives_no_slot_away():
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
        _wait_for(lambda: len(slots._waiters) == 1, "the main thread to queue"),
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
    _assert_every_slot_can_be_taken(fastgru._slots.inference_slot())


def _assert_every_slot_can_be_taken(slots):
    """No call is inside or waiting, and n threads get in together (a slot
    kept by a finished thread is taken back)."""
    assert slots.held() == 0 and not slots._waiters
    together = threading.Barrier(slots.n, timeout=60)
    errors = []

    def enter():
        try:
            with slots:
                together.wait()  # breaks if fewer than n threads get in
        except threading.BrokenBarrierError as e:
            errors.append(e)

    threads = [threading.Thread(target=enter) for _ in range(slots.n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and not any(t.is_alive() for t in threads)


def _holding(slots):
    """A thread in a call on ``slots`` until the returned event is set."""
    inside, leave = threading.Event(), threading.Event()

    def call():
        with slots:
            inside.set()
            leave.wait(60)

    t = threading.Thread(target=call)
    t.start()
    inside.wait(60)
    return leave, t


def test_a_thread_keeps_its_slot_for_its_turn_while_others_wait():
    slots, order = FairSlots(2, turn=3600.0), []  # a turn longer than the test
    leave, busy = _holding(slots)
    slots.__enter__()

    def call():
        with slots:
            order.append("waiter")

    waiter = threading.Thread(target=call)
    waiter.start()
    _wait_for(lambda: len(slots._waiters) == 1, "the waiter to queue")
    slots.__exit__()  # others wait, the turn goes on: the slot stays with this thread
    for k in range(3):
        with slots:  # no wait: a waiter ahead would deadlock this thread
            order.append(k)
    assert order == [0, 1, 2] and len(slots._waiters) == 1
    slots._holders[threading.get_ident()][0] = 0.0  # the turn is over
    slots.turn = 0.0  # and the waiter's will be over when it leaves
    with slots:  # hands the slot to the waiter, and queues behind it
        order.append("after")
    waiter.join(60)
    leave.set()
    busy.join(60)
    assert order == [0, 1, 2, "waiter", "after"]
    _assert_every_slot_can_be_taken(slots)


def test_the_last_call_in_progress_hands_its_slot_on():
    """Kept slots need a call in progress to take them back: the last one
    hands its slot to the first waiter as it ends, whatever its turn."""
    slots, order = FairSlots(1, turn=3600.0), []
    slots.__enter__()
    waiter = threading.Thread(target=lambda: slots.__enter__() and order.append("waiter"))
    waiter.start()
    _wait_for(lambda: len(slots._waiters) == 1, "the waiter to queue")
    slots.__exit__()
    waiter.join(60)
    assert order == ["waiter"] and not slots._waiters


def test_a_slot_kept_by_a_thread_that_does_not_come_back_is_taken_back():
    slots, order = FairSlots(2, turn=0.05), []
    leave_busy, busy = _holding(slots)  # in a call until the end of the test
    leave_first, first = _holding(slots)
    second = threading.Thread(target=lambda: slots.__enter__() and order.append("second"))
    second.start()
    _wait_for(lambda: len(slots._waiters) == 1, "the second caller to queue")
    leave_first.set()  # its slot is kept, or handed on, and its thread ends
    first.join(60)
    second.join(60)  # gets a slot while the other call is still in progress
    assert order == ["second"] and busy.is_alive()
    leave_busy.set()
    busy.join(60)
