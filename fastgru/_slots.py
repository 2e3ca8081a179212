"""Concurrent callers: fair admission of inference calls (at most one per
Numba thread at a time), and which threads are running kernel blocks.

A server calls the model from more Python threads than there are cores
(gunicorn's gthread workers, Starlette's thread pool). Left to the operating
system, eight threads running kernels on two cores share them in time
slices of milliseconds: most calls finish in one slice, and the rest wait
for three other threads' slices, so the 99th percentile of a 50 us call is
milliseconds, and the GIL held by a preempted thread stalled every other
one. ``with inference_slot():`` admits as many calls as Numba has threads
and queues the others in arrival order, handing a slot from the call that
leaves directly to the first one waiting (a lock a thread releases and
takes again at once would let it overtake the waiters, and calls starved
for hundreds of milliseconds). Throughput stays; the latency of each call is
its own run plus the calls queued ahead of it.

Interrupts: a KeyboardInterrupt while waiting, or right after a slot was
taken or handed over, gives the slot on; it cannot leave one taken.
"""

from __future__ import annotations

import collections
import os
import threading

import numba


class FairSlots:
    """``n`` slots, taken in arrival order (``with slots:``)."""

    __slots__ = ("_mutex", "_free", "_waiters", "n")

    def __init__(self, n: int):
        self.n = n
        self._mutex = threading.Lock()
        self._free = n
        self._waiters = collections.deque()

    def __enter__(self):
        taken = False
        waiter = None
        try:
            with self._mutex:
                if self._free and not self._waiters:
                    self._free -= 1
                    taken = True  # no signal is handled between these two stores
                else:
                    waiter = threading.Lock()
                    waiter.acquire()
                    self._waiters.append(waiter)
            if waiter is not None:
                waiter.acquire()  # released when a leaving call hands its slot over
        except BaseException:
            if taken:
                self.__exit__()
            elif waiter is not None:
                with self._mutex:
                    handed = waiter not in self._waiters
                    if not handed:
                        self._waiters.remove(waiter)
                if handed:  # the slot is this call's: give it on
                    self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # the slot passes to the first waiter
            else:
                self._free += 1
        return False


class _Caller:
    """``with caller():`` marks this thread as running kernel blocks (see
    :func:`other_callers`). An interrupted block leaves its mark until this
    thread's next call, which replaces and removes it: it can only make
    other threads run their blocks serially meanwhile (same results)."""

    __slots__ = ()

    def __enter__(self):
        _callers[threading.get_ident()] = None

    def __exit__(self, *exc):
        _callers.pop(threading.get_ident(), None)
        return False


_callers: dict = {}  # the idents of the threads inside ``with caller()``
_CALLER = _Caller()


def caller() -> _Caller:
    """The context manager marking a thread that runs kernel blocks."""
    return _CALLER


def other_callers() -> bool:
    """Whether another Python thread is running kernel blocks now (called
    from inside ``with caller()``)."""
    return len(_callers) > 1


_SLOTS = FairSlots(numba.config.NUMBA_NUM_THREADS)


def inference_slot() -> FairSlots:
    """The context manager admitting one inference call (see the module)."""
    return _SLOTS


def _reset_after_fork() -> None:
    # the slots other threads held at the fork are never given back in the child
    global _SLOTS
    _SLOTS = FairSlots(_SLOTS.n)
    _callers.clear()  # the other threads' marks: they do not exist here


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
