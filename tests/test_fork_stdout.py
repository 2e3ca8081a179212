"""A fork while another thread serves under TBB: Numba's "Unable to join
threads" message stays off standard output, and what other threads write
to it meanwhile all arrives."""

import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent("""
    import os, threading, numba, numpy as np, fastgru
    layer = fastgru.GRU(8, 32, random_state=0)
    x = np.ones((64, 5, 8), dtype=np.float32)
    layer.forward(x)  # the main thread warms up (a parallel launch) ...
    stop = threading.Event()

    def serve():  # ... and another thread serves
        while not stop.is_set():
            layer.forward(x)

    def tick():  # and a third one writes to standard output all along
        for _ in range(3000):
            os.write(1, b"tick\\n")

    threads = [threading.Thread(target=serve), threading.Thread(target=tick)]
    [t.start() for t in threads]
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            os.write(1, b"child\\n")
            os._exit(0)
        os.waitpid(pid, 0)
    threads[1].join()
    stop.set()
    threads[0].join()
    print("layer", numba.threading_layer(), flush=True)
""")


def _run_under_tbb(script):
    """``script`` in a fresh process on Numba's TBB layer with 2 threads: its
    completed process (skips the test where TBB is not available)."""
    env = {**os.environ, "NUMBA_THREADING_LAYER": "tbb", "NUMBA_NUM_THREADS": "2",
           "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         timeout=600, cwd=ROOT)
    if out.returncode != 0 and b"No threading layer could be loaded" in out.stderr:
        pytest.skip("Numba's tbb threading layer is not available")
    assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_tbb_fork_message_stays_off_stdout_and_nothing_else_is_lost():
    lines = _run_under_tbb(SCRIPT).stdout.decode().splitlines()
    assert lines[-1] == "layer tbb", lines[-5:]
    assert not [line for line in lines if "Unable to join" in line]
    assert lines.count("tick") == 3000
    assert lines.count("child") == 4
    assert set(lines) == {"tick", "child", "layer tbb"}


JOINED = textwrap.dedent("""
    import os, threading, numba, numpy as np, fastgru
    from fastgru import _runtime
    layer = fastgru.GRU(8, 32, random_state=0)
    x = np.ones((64, 5, 8), dtype=np.float32)
    want = layer.forward(x)[1]  # the main thread starts TBB's workers

    def serve():
        for _ in range(20):
            layer.forward(x)

    for k in range(15):
        threads = [threading.Thread(target=serve) for _ in range(4)]
        if k % 2:  # one after the other: each takes the ident the one before it had
            for t in threads:
                t.start()
                t.join()
        else:
            [t.start() for t in threads]
            [t.join() for t in threads]
        pid = os.fork()  # at once: the threads may still be exiting
        if pid == 0:
            ok = not _runtime._serial_after_fork and np.array_equal(layer.forward(x)[1], want)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the child ran serially or wrongly"
    print("layer", numba.threading_layer(), flush=True)
""")


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux's /proc")
def test_a_fork_right_after_joining_threads_that_ran_kernels_keeps_tbb():
    """Thread.join returns before a thread's C destructors, which detach it
    from TBB, have run: a fork at once found TBB still attached to the
    threads (its message printed, its workers left running) in about 1 run
    in 10. fastgru waits for them to exit (up to 0.1 s), so the children keep
    parallel kernels and nothing is printed."""
    out = _run_under_tbb(JOINED)
    assert out.stdout.decode().splitlines() == ["layer tbb"]
    assert b"forked while another thread" not in out.stderr
