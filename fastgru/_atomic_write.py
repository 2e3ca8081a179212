"""Writing a file so that a reader never sees half of it: a temporary file
in the same directory, renamed over the target once it is complete.

A save to ``path`` writes ``.<name>.fastgru-tmp-<pid>-<random>`` beside it;
a temporary left by a process killed during a save is removed by the next
save to the same path (those of live processes are left alone).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat

import numpy as np


def write_atomically(path, arrays: dict) -> None:
    """Write ``arrays`` as an ``.npz`` archive to ``path``, atomically.

    A new file gets the mode ``open()`` gives (0o666 less the umask), an
    existing one keeps its mode, and a symlink at ``path`` is written through
    to its target.
    """
    target = os.fspath(path)
    if os.path.islink(target):  # write through a symlink to its target
        target = os.path.realpath(target)
    directory, base = os.path.split(os.path.abspath(target))
    # named here: the temporary's own error would name the temporary, not the path
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, "cannot save to a directory, give a file "
                                "name in it", target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, f"no directory {directory} to save into",
                                target)
    _remove_stale_temporaries(directory, base)
    tmp = os.path.join(directory, f"{_TMP_PREFIX(base)}{os.getpid()}-{secrets.token_hex(4)}")
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = None  # a new file: 0o666 less the umask, as open() gives
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                 0o666 if mode is None else 0o600)
    try:
        if mode is not None:
            os.fchmod(fd, mode)  # an existing file keeps its mode
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def _TMP_PREFIX(base: str) -> str:
    """Temporaries of a save to ``base`` are ``.<base>.fastgru-tmp-<pid>-<random>``."""
    return f".{base}.fastgru-tmp-"


def _remove_stale_temporaries(directory: str, base: str) -> None:
    """Remove temporaries of earlier saves to ``base`` whose process is gone
    (killed during a save): those of live processes are left alone."""
    prefix = _TMP_PREFIX(base)
    try:
        names = [n for n in os.listdir(directory) if n.startswith(prefix)]
    except OSError:
        return
    for name in names:
        pid_text = name[len(prefix):].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue  # alive (or not ours to signal): it may still be saving
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError, OSError):
            continue
        try:
            os.remove(os.path.join(directory, name))
        except OSError:
            pass
