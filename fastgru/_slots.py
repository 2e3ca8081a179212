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

from ._env import env_flag


_QUEUED, _SLOT, _TAKEN, _GONE = range(4)  # a waiter's states
_RETRY = None  # the outcome of a job whose batch was interrupted: run it again


class _Waiter:
    """A call queued for a slot: its lock is released when a slot is handed
    to it (state ``_SLOT``), or, for a job (``key`` not None), when another
    call ran it in a batch (``_TAKEN``; ``outcome`` its result)."""

    __slots__ = ("lock", "state", "key", "item", "outcome")

    def __init__(self, key=None, item=None):
        self.lock = threading.Lock()
        self.lock.acquire()
        self.state = _QUEUED
        self.key, self.item = key, item
        self.outcome = _RETRY


class FairSlots:
    """``n`` slots, taken in arrival order (``with slots:``, or
    :meth:`run` for a call that may run in a batch with others)."""

    __slots__ = ("_mutex", "_free", "_waiters", "n")

    def __init__(self, n: int):
        self.n = n
        self._mutex = threading.Lock()
        self._free = n
        self._waiters = collections.deque()

    def _wait(self, key=None, item=None):
        """Take a free slot (return None), or queue a waiter (for a job of
        ``key`` if not None) and return it once woken. An interrupt leaves
        no slot taken."""
        taken = False
        waiter = None
        try:
            with self._mutex:
                if self._free and not self._waiters:
                    self._free -= 1
                    taken = True  # no signal is handled between these two stores
                    return None
                waiter = _Waiter(key, item)
                self._waiters.append(waiter)
            waiter.lock.acquire()  # released when a slot is handed over or the job ran
            return waiter
        except BaseException:
            if taken:
                self.__exit__()
            elif waiter is not None:
                self._abandon(waiter)
            raise

    def _abandon(self, waiter):
        with self._mutex:
            state = waiter.state
            if state == _QUEUED and waiter in self._waiters:
                self._waiters.remove(waiter)
                waiter.state = _GONE
        if state == _SLOT:  # the slot is this call's: give it on
            self.__exit__()

    def __enter__(self):
        self._wait()
        return self

    def __exit__(self, *exc):
        with self._mutex:
            if self._waiters:
                waiter = self._waiters.popleft()  # the slot passes to the first waiter
                waiter.state = _SLOT
                waiter.lock.release()
            else:
                self._free += 1
        return False

    def run(self, key, item, run_one, run_many, limit):
        """``run_one(item)`` in a slot; then, before leaving it, the jobs of
        the same ``key`` queued meanwhile (at most ``limit``) as one call
        ``run_many(items)``, which returns their results in order (see the
        module). A job that another call ran returns its result, or raises
        its exception, in its own thread."""
        waiter = self._wait(key, item)
        if waiter is not None and waiter.state == _TAKEN:
            if waiter.outcome is _RETRY:  # the call that took it was interrupted
                with self:
                    return run_one(item)
            ok, value = waiter.outcome
            if ok:
                return value
            raise value
        batch = []
        try:
            result = run_one(item)
            self._gather(key, limit, batch)
            if batch:
                _run_jobs(batch, run_one, run_many)
            return result
        finally:
            if batch:
                self._release_taken(batch)
            self.__exit__()

    def _gather(self, key, limit, batch):
        """Move up to ``limit`` queued jobs of ``key`` into ``batch``."""
        with self._mutex:
            for waiter in self._waiters:
                if len(batch) == limit:
                    break
                if waiter.key == key:
                    batch.append(waiter)
            if batch:
                for waiter in batch:
                    waiter.state = _TAKEN
                self._waiters = collections.deque(
                    w for w in self._waiters if w.state != _TAKEN)

    def _release_taken(self, batch):
        """Wake the jobs of ``batch`` that got no outcome (an interrupted
        batch: they run again themselves) and drop any still queued."""
        with self._mutex:
            if any(w.state == _TAKEN for w in self._waiters):
                self._waiters = collections.deque(
                    w for w in self._waiters if w.state != _TAKEN)
        for waiter in batch:
            if waiter.state == _TAKEN and waiter.outcome is _RETRY:
                _wake(waiter, _RETRY)


def _wake(waiter, outcome):
    """Wake a job that another call ran, with its outcome. Woken before the
    outcome is stored: an interrupt in between leaves it woken, to run
    again (:data:`_RETRY`), never asleep."""
    try:
        waiter.lock.release()
    except RuntimeError:  # woken already (an interrupt after it, before the outcome)
        pass
    waiter.outcome = outcome


def _run_jobs(batch, run_one, run_many):
    """Run the jobs of ``batch`` (one alone, several as one batch) and wake
    each with its outcome."""
    items = [w.item for w in batch]
    try:
        if len(items) == 1:
            raise _Alone
        outcomes = [(True, r) for r in run_many(items)]
    except Exception:  # one job's error (or a single job): each alone, its own outcome
        outcomes = []
        for it in items:
            try:
                outcomes.append((True, run_one(it)))
            except Exception as exc:
                outcomes.append((False, exc))
    for waiter, outcome in zip(batch, outcomes):
        _wake(waiter, outcome)


class _Alone(Exception):
    """A batch of one job: run it alone."""


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


#: Whether a call queued for a slot runs the single-sequence forwards queued
#: behind it as one batch (``FASTGRU_BATCH_CALLS``, default on): see the module.
batching = env_flag("FASTGRU_BATCH_CALLS", True)
#: At most this many sequences in one batch, each of at most
#: BATCH_MAX_ELEMENTS steps x hidden units (batching is for small requests).
BATCH_MAX_ROWS = 16
BATCH_MAX_ELEMENTS = 1 << 16

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
