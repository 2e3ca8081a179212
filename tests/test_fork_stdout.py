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


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_tbb_fork_message_stays_off_stdout_and_nothing_else_is_lost():
    env = {**os.environ, "NUMBA_THREADING_LAYER": "tbb", "NUMBA_NUM_THREADS": "2",
           "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         timeout=600, cwd=ROOT)
    if out.returncode != 0 and b"No threading layer could be loaded" in out.stderr:
        pytest.skip("Numba's tbb threading layer is not available")
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.decode().splitlines()
    assert lines[-1] == "layer tbb", lines[-5:]
    assert not [line for line in lines if "Unable to join" in line]
    assert lines.count("tick") == 3000
    assert lines.count("child") == 4
    assert set(lines) == {"tick", "child", "layer tbb"}
