"""Concurrent callers: fair admission of inference calls (at most one per
Numba thread at a time, in turns), and which threads are running kernel
blocks.

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
for hundreds of milliseconds).

Slots are held in turns of :data:`TURN_SECONDS`. Waking a sleeping thread
costs CPU and leaves the slot idle until the thread runs: handed over after
every call of 50 us, eight threads served less than one. So a thread that
leaves its call while others wait keeps its slot until its turn ends, and
its next call (a server thread's next request) starts at once; the first of
its calls to start or end after the turn hands the slot on. A waiter waits
for the turns queued ahead of it. Only a thread that shares the slots with
a call in progress keeps one: that call's end (or the next call's start)
takes back a slot kept past its turn, whose thread may not come back, and a
call that queues while every slot is kept looks for them itself when their
turns end.

Interrupts: a KeyboardInterrupt while waiting, or right after a slot was
taken or handed over, gives the slot on; it cannot leave one taken.
"""

from __future__ import annotations

import collections
import os
import threading
from time import perf_counter

import numba

#: Seconds a thread keeps its slot across consecutive calls while others
#: wait: a few calls at batch 1, less than one at batch 16 (whose calls hand
#: their slots on as they end). A waiter behind ``k`` others on ``n`` slots
#: waits about ``k / n`` turns.
TURN_SECONDS = 2.5e-4

# A waiter that relies on a call in progress to hand it a slot still looks
# for a slot kept past its turn this often: that call's end hands slots on,
# but a long call (a large batch) may not end for seconds.
_LOOK_AGAIN_SECONDS = 0.02

_get_ident = threading.get_ident


class FairSlots:
    """``n`` slots, taken in arrival order and held in turns of ``turn``
    seconds (``with slots:``; see the module)."""

    __slots__ = ("_mutex", "_free", "_waiters", "_holders", "n", "turn")

    def __init__(self, n: int, turn: float = TURN_SECONDS):
        self.n = n
        self.turn = turn
        self._mutex = threading.Lock()
        self._free = n
        self._waiters = collections.deque()  # (lock, thread ident), in arrival order
        # thread ident -> [end of its turn, inside a call]: every slot taken
        # (n - _free of them), by a call in progress or kept between calls
        self._holders: dict = {}

    def held(self) -> int:
        """Slots held by calls in progress."""
        return sum(1 for _, inside in self._holders.values() if inside)

    def __enter__(self):
        me = _get_ident()
        waiter = None
        try:
            with self._mutex:
                kept = self._holders.get(me)
                if kept is not None:  # this thread's slot, from its last call
                    if not self._waiters or perf_counter() < kept[0]:
                        kept[1] = True
                        return self
                    del self._holders[me]  # its turn is over and others wait
                    self._hand_on()
                elif not self._free:
                    self._take_back(perf_counter())
                if self._free and not self._waiters:
                    entry = [perf_counter() + self.turn, True]
                    self._free -= 1
                    self._holders[me] = entry  # no signal is handled between these stores
                    return self
                waiter = threading.Lock()
                waiter.acquire()
                self._waiters.append((waiter, me))
                timeout = self._patience()
            # released when a slot is handed over
            while not waiter.acquire(timeout=timeout):
                with self._mutex:
                    if me not in self._holders:
                        self._take_back(perf_counter())
                    if me not in self._holders:
                        if (waiter, me) not in self._waiters:  # lost by an interrupted handover
                            self._waiters.appendleft((waiter, me))
                        timeout = self._patience()
            # the turn starts when this thread runs (a woken thread may wait
            # for a core); nothing but this thread changes a slot in a call
            self._holders[me][0] = perf_counter() + self.turn
        except BaseException:
            with self._mutex:
                entry = self._holders.get(me)
                if entry is not None and entry[1]:  # a slot taken or handed over: give it on
                    self._leave(me)
                elif waiter is not None and (waiter, me) in self._waiters:
                    self._waiters.remove((waiter, me))
            raise
        return self

    def __exit__(self, *exc):
        me = _get_ident()
        with self._mutex:
            if not self._waiters:
                self._leave(me)
                return False
            entry = self._holders[me]
            now = perf_counter()
            if now < entry[0] and self.held() > 1:
                entry[1] = False  # kept for this thread's next call, until its turn ends
            else:
                self._leave(me)
            self._take_back(now)
        return False

    def _patience(self):
        """How long a waiter sleeps before it looks for a slot kept past its
        turn (mutex held): until the first turn of a kept slot ends if no
        call is in progress (no call's end will hand a slot on), else
        :data:`_LOOK_AGAIN_SECONDS`."""
        if self.held():
            return _LOOK_AGAIN_SECONDS
        ends = [end for end, _ in self._holders.values()]
        return max(0.0, min(ends, default=0.0) - perf_counter()) + 1e-4

    def _leave(self, me):
        del self._holders[me]
        self._hand_on()

    def _hand_on(self):
        """Give a slot just left to the first waiter, or back (mutex held)."""
        if self._waiters:
            waiter, ident = self._waiters.popleft()
            self._holders[ident] = [perf_counter() + self.turn, True]
            waiter.release()
        else:
            self._free += 1

    def _take_back(self, now):
        """Hand on the slots kept by threads whose turn is over (mutex held)."""
        for ident in [i for i, (end, inside) in self._holders.items()
                      if not inside and end <= now]:
            self._leave(ident)


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
