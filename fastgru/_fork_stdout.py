"""Keep Numba's TBB fork message off standard output.

When a process forks while a thread other than the forking one has used
Numba's TBB threading layer, Numba's fork handler cannot shut TBB's workers
down and ``printf``s "Unable to join threads to shut down before fork()..."
to the C-level standard output, which servers log as their own output.
fastgru already logs (on stderr, through ``logging``) what this means for
the child: its kernels run on one thread (``_runtime._reset_after_fork``).

So, for such a fork only (``_runtime._tbb_fork_unsafe``), the parent points
file descriptor 1 at a pipe around the fork. Afterwards it points it back,
drops Numba's message from what the pipe caught and writes everything else
(what other threads wrote meanwhile) to the real standard output; the child
discards its copy of the C buffer and points descriptor 1 back too.
"""

from __future__ import annotations

import ctypes
import os
import select
import time

MESSAGE = b"Unable to join threads to shut down before fork()"

_diverted = None  # (saved stdout, pipe read end, pipe write end) around a fork
_libc = None


def _flush_c_stdout() -> None:
    """``fflush(stdout)``: C's buffer of standard output to its descriptor."""
    global _libc
    try:
        if _libc is None:
            libc = ctypes.CDLL(None)
            try:
                stream = ctypes.c_void_p.in_dll(libc, "stdout")
            except ValueError:  # another C library's name for it: flush every stream
                stream = None
            _libc = (libc, stream)
        libc, stream = _libc
        libc.fflush(stream)
    except (OSError, AttributeError):  # no C library to call
        pass


def divert() -> None:
    """Before the fork, in the parent: descriptor 1 to a pipe."""
    global _diverted
    saved = r = w = None
    try:
        _flush_c_stdout()  # what is already buffered goes where it was going
        saved = os.dup(1)
        r, w = os.pipe()
        os.dup2(w, 1)
        _diverted = (saved, r, w)
    except OSError:  # no standard output, no descriptors left: leave it alone
        for fd in (saved, r, w):
            if fd is not None:
                os.close(fd)


def restore_in_parent() -> None:
    global _diverted
    if _diverted is None:
        return
    saved, r, w = _diverted
    _diverted = None
    _flush_c_stdout()  # the message, if still buffered, into the pipe
    os.dup2(saved, 1)
    os.close(saved)
    os.close(w)
    caught = []
    deadline = time.monotonic() + 1.0  # EOF once the child closed its copies
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                break
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            caught.append(chunk)
    finally:
        os.close(r)
    lines = b"".join(caught).splitlines(keepends=True)
    kept, skip_blank = [], False
    for line in lines:
        if line.startswith(MESSAGE):
            skip_blank = True
            continue
        if not (skip_blank and line == b"\n"):
            kept.append(line)
        skip_blank = False
    data = b"".join(kept)
    while data:
        try:
            data = data[os.write(1, data):]
        except OSError:
            break


def restore_in_child() -> None:
    global _diverted
    if _diverted is None:
        return
    saved, r, w = _diverted
    _diverted = None
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        _flush_c_stdout()  # the parent's buffered copy of the message: discarded
        os.close(devnull)
    except OSError:
        pass
    os.dup2(saved, 1)
    for fd in (saved, r, w):
        os.close(fd)
