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

Batching (:meth:`FairSlots.run`; on by default with one slot, see
:data:`batching`): a call that waited for its slot runs the
calls queued behind it that are like it (``GRU.forward`` of one short
sequence on the same layer, of the same length) with its own, as one batch:
at hidden 64, a batch of 8 sequences takes about 0.6x the time of 8
forwards of one (measured, one core). The calls run in a batch stay
queued: slots freed meanwhile go to the calls behind them (or stay free for
new ones), and once their results are stored with them, handed a slot in
turn, each passes it on at once and returns. Every call still sleeps once
and is woken once, in arrival order, so queued threads stay asleep rather
than contending for the cores and the GIL (a batch's callers woken
together contend: measured, the 99th percentile of latency grows from
about 1 to 5 ms). Results are unchanged: batching runs only where every
product gives a sequence the same bits in any batch
(``fastgru._kernels.products.row_tiled``).

With one slot (a process given one core) batching cuts the CPU time per
request of 8 callers by about 30% and serves more than one caller does.
With two slots, measured, it lowers the CPU time per request too, but while
one slot runs a batch the other serves new calls without queueing, and the
99th percentile of latency grows from about 1 to 5 ms: off by default there.

Without the queue (``FASTGRU_FAIR_ADMISSION=0``, :class:`Unqueued`) every
call runs at once and none sleeps for a slot: on an idle machine 8 threads
then serve more requests per second than queued, with a tail 2-5 times
longer (measured in docs/serving.md); batching needs the queue.

Interrupts: a KeyboardInterrupt while waiting, or right after a slot was
taken or handed over, gives the slot on; it cannot leave one taken. An
interrupted batch leaves the outcomes it did not store missing: those calls
run themselves when their turn comes.
"""

from __future__ import annotations

import collections
import os
import threading

import numba

from ._env import env_flag


class _Waiter:
    """A call queued for a slot: its lock is released when a slot is handed
    to it. A job (``key`` not None) may meanwhile be run in another call's
    batch (``taken`` while it runs; then ``outcome``: ``(True, result)`` or
    ``(False, exception)``): no slot is handed to it while it is taken."""

    __slots__ = ("lock", "handed", "gone", "key", "item", "taken", "outcome")

    def __init__(self, key=None, item=None):
        self.lock = threading.Lock()
        self.lock.acquire()
        self.handed = self.gone = False
        self.key, self.item = key, item
        self.taken = False
        self.outcome = None


class FairSlots:
    """``n`` slots, taken in arrival order (``with slots:``, or
    :meth:`run` for a call that may run in one batch with others)."""

    __slots__ = ("_mutex", "_free", "_waiters", "_taken", "n")

    def __init__(self, n: int):
        self.n = n
        self._mutex = threading.Lock()
        self._free = n
        self._waiters = collections.deque()
        self._taken = 0  # the waiters queued that a batch is running

    def _wait(self, key=None, item=None):
        """Take a slot: a free one (return None), or queue a waiter (a job
        of ``key`` if not None) and return it once a slot is handed to it.
        An interrupt leaves no slot taken."""
        taken = False
        waiter = None
        try:
            with self._mutex:
                if self._free and len(self._waiters) == self._taken:
                    self._free -= 1
                    taken = True  # no signal is handled between these two stores
                    return None
                waiter = _Waiter(key, item)
                self._waiters.append(waiter)
            waiter.lock.acquire()  # released when a leaving call hands its slot over
            return waiter
        except BaseException:
            if taken:
                self.__exit__()
            elif waiter is not None:
                with self._mutex:
                    handed = waiter.handed
                    if not handed:
                        self._waiters.remove(waiter)
                        waiter.gone = True
                        self._taken -= waiter.taken
                if handed:  # the slot is this call's: give it on
                    self.__exit__()
            raise

    def __enter__(self):
        self._wait()
        return self

    def __exit__(self, *exc):
        with self._mutex:
            self._free += 1
            self._hand_free()
        return False

    def _hand_free(self):
        """Hand the free slots to the first waiters that no batch is
        running (under the mutex)."""
        waiters = self._waiters
        while self._free and len(waiters) > self._taken:
            if not self._taken:
                waiter = waiters.popleft()
            else:
                waiter = next(w for w in waiters if not w.taken)
                waiters.remove(waiter)
            self._free -= 1
            waiter.handed = True
            waiter.lock.release()

    def run(self, key, item, run_one, run_many, limit):
        """``run_one(item)`` in a slot, in arrival order. A call that had to
        wait runs, with its own, the jobs of the same ``key`` queued behind
        it (at most ``limit`` in all) as one call ``run_many(items)`` that
        returns their results in order. Those jobs stay queued, skipped by
        the slots handed over meanwhile, and get their outcomes: handed a
        slot in turn, a job gives it on at once and returns its result, or
        raises its exception, in its own thread (a job whose batch was
        interrupted runs itself)."""
        waiter = self._wait(key, item)
        if waiter is not None and waiter.outcome is not None:  # run in another's batch
            self.__exit__()
            ok, value = waiter.outcome
            if ok:
                return value
            raise value
        batch = []
        try:
            if waiter is not None:
                self._gather(key, limit - 1, batch)
            if not batch:
                return run_one(item)
            return _run_batch(item, batch, run_one, run_many)
        finally:
            if batch:
                self._finish(batch)
            self.__exit__()

    def _gather(self, key, limit, batch):
        """Take into ``batch`` up to ``limit`` queued jobs of ``key`` that
        no other batch runs. They stay queued."""
        with self._mutex:
            for waiter in self._waiters:
                if len(batch) == limit:
                    break
                if waiter.key == key and not waiter.taken and waiter.outcome is None:
                    waiter.taken = True
                    batch.append(waiter)
            self._taken += len(batch)

    def _finish(self, batch):
        """The batch ran (its outcomes stored) or was interrupted (those
        missing run themselves): its jobs may be handed slots again."""
        with self._mutex:
            for job in batch:
                if job.taken:
                    job.taken = False
                    if not job.gone:
                        self._taken -= 1


def _run_batch(item, batch, run_one, run_many):
    """Run ``item`` and the jobs of ``batch`` as one batch; store each job's
    outcome and return ``item``'s result (or raise its exception). If the
    batch fails, each runs alone, with its own outcome."""
    items = [item] + [job.item for job in batch]
    try:
        outcomes = [(True, result) for result in run_many(items)]
    except Exception:
        outcomes = []
        for one in items:
            try:
                outcomes.append((True, run_one(one)))
            except Exception as exc:
                outcomes.append((False, exc))
    for job, outcome in zip(batch, outcomes[1:]):
        job.outcome = outcome
    ok, value = outcomes[0]
    if ok:
        return value
    raise value


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


#: Whether inference calls queue for a slot (``FASTGRU_FAIR_ADMISSION``,
#: default on: :class:`FairSlots`), or are all admitted at once
#: (:class:`Unqueued`).
fair_admission = env_flag("FASTGRU_FAIR_ADMISSION", True)
#: Whether a call queued for a slot runs the single-sequence forwards queued
#: behind it as one batch (``FASTGRU_BATCH_CALLS``; by default on with one
#: slot, ``NUMBA_NUM_THREADS=1``; never without the queue): see the module.
batching = fair_admission and env_flag("FASTGRU_BATCH_CALLS",
                                       numba.config.NUMBA_NUM_THREADS == 1)
#: At most this many sequences in one batch, each of at most
#: BATCH_MAX_ELEMENTS steps x hidden units (batching is for small requests).
BATCH_MAX_ROWS = 16
BATCH_MAX_ELEMENTS = 1 << 16


class Unqueued:
    """Admits every call at once, and batches none (``FASTGRU_FAIR_ADMISSION=0``):
    the operating system shares the cores between the threads in kernels.
    No thread sleeps for a slot, so a call costs the CPU it costs alone, at
    the price of the tail latency of time slices (see the module)."""

    __slots__ = ("n",)

    def __init__(self, n: int):
        self.n = n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def run(self, key, item, run_one, run_many, limit):
        return run_one(item)


_SLOTS = (FairSlots if fair_admission else Unqueued)(numba.config.NUMBA_NUM_THREADS)


def inference_slot() -> FairSlots | Unqueued:
    """The context manager admitting one inference call (see the module)."""
    return _SLOTS


def _reset_after_fork() -> None:
    # the slots other threads held at the fork are never given back in the child
    global _SLOTS
    _SLOTS = type(_SLOTS)(_SLOTS.n)
    _callers.clear()  # the other threads' marks: they do not exist here


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
