"""A KeyboardInterrupt inside a parallel launch's set-up or the BLAS thread
limit's entry leaves nothing held: later launches from other threads run,
and BLAS gets its own thread count back."""

import os
import subprocess
import sys
import textwrap
import threading

import pytest

from fastgru import _runtime

LAUNCH_SCRIPT = textwrap.dedent("""
    import threading, numpy as np, numba, fastgru
    layer = fastgru.GRU(8, 16, random_state=0)
    x = np.ones((64, 5, 8), dtype=np.float32)  # two row blocks: a parallel launch
    ref = layer.forward(x)[1]
    real = numba.set_num_threads

    def interrupted(n):  # Ctrl-C while the launch sets Numba's thread count
        numba.set_num_threads = real
        raise KeyboardInterrupt

    numba.set_num_threads = interrupted
    try:
        layer.forward(x)
        print("not interrupted")
    except KeyboardInterrupt:
        print("interrupted")
    assert numba.set_num_threads is real, "the launch never set the thread count"
    out = []
    t = threading.Thread(target=lambda: out.append(layer.forward(x)[1]), daemon=True)
    t.start()
    t.join(60)
    print("other thread", "blocked" if t.is_alive() else "done",
          "same" if out and np.array_equal(out[0], ref) else "")
""")


def test_interrupted_parallel_launch_releases_the_lock():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, NUMBA_NUM_THREADS="2", PYTHONPATH=root)
    proc = subprocess.run([sys.executable, "-c", LAUNCH_SCRIPT], capture_output=True,
                          text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split("\n")[:2] == ["interrupted", "other thread done same"], \
        proc.stdout + proc.stderr[-2000:]


class _FakeBlas:
    """One BLAS library's thread count, whose setter can be interrupted just
    after it has taken effect (where CPython handles a pending signal)."""

    def __init__(self, n):
        self.n = n
        self.interrupt_set = False

    def get(self):
        return self.n

    def set(self, n):
        self.n = n
        if self.interrupt_set:
            self.interrupt_set = False
            raise KeyboardInterrupt


class _InterruptedLock:
    """A lock whose first release is followed by a KeyboardInterrupt (a signal
    handled right after the release returns)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.armed = True

    def __enter__(self):
        self._lock.acquire()

    def __exit__(self, *exc):
        self._lock.release()
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt
        return False


@pytest.fixture
def fake_blas(monkeypatch):
    blas = _FakeBlas(4)
    limiter = _runtime._SingleThreadedBlas()
    monkeypatch.setattr(_runtime, "_BLAS_FUNCTIONS", [(blas.get, blas.set)])
    return blas, limiter


def test_blas_limit_interrupted_after_counting_is_undone(fake_blas):
    blas, limiter = fake_blas
    limiter._lock = _InterruptedLock()
    with pytest.raises(KeyboardInterrupt):
        with limiter:
            pass
    assert limiter._users == 0
    assert blas.n == 4
    with limiter:  # and the limit works as before
        assert blas.n == 1
    assert blas.n == 4


def test_blas_limit_interrupted_while_limiting_restores_the_count(fake_blas):
    blas, limiter = fake_blas
    blas.interrupt_set = True
    with pytest.raises(KeyboardInterrupt):
        with limiter:
            pass
    assert limiter._users == 0
    assert blas.n == 4


def test_blas_limit_nested_and_threaded_counts(fake_blas):
    blas, limiter = fake_blas
    with limiter:
        with limiter:
            assert blas.n == 1
        assert blas.n == 1
    assert (blas.n, limiter._users) == (4, 0)
