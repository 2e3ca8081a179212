"""Where fastgru's kernel cache lives, and whether a directory may be used.

Numba's cache index files are pickles: whoever can write the cache directory
can make a process that loads from it run code. So the cache root is always
an absolute path, and a root (or a directory between it and the kernels) that
is owned by another user (root excepted: a cache baked into an image) or
writable by other users is refused, as ssh and pip refuse such directories:
fastgru then keeps no disk cache in that process (kernels compile in memory;
those compiled into the installed package are still loaded) and says so in
one warning.
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
import stat
import sys
from pathlib import Path

import numba

logger = logging.getLogger("fastgru")


def user_cache_dir() -> Path | None:
    """The user's cache directory for fastgru, by the platform's convention;
    None when the home directory is unknown (``HOME`` unset and no passwd
    entry: ``~`` would stay a relative path)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
        path = Path(base) / "fastgru" / "Cache"
    elif sys.platform == "darwin":
        path = Path(os.path.expanduser("~")) / "Library" / "Caches" / "fastgru"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or ""
        if not os.path.isabs(base):  # the XDG spec: a relative value is ignored
            base = os.path.join(os.path.expanduser("~"), ".cache")
        path = Path(base) / "fastgru"
    return path if path.is_absolute() else None


def default_cache_root() -> Path | None:
    """``FASTGRU_CACHE_DIR``, else ``$NUMBA_CACHE_DIR/fastgru``, else
    :func:`user_cache_dir`; None when that is not an absolute path."""
    own = os.environ.get("FASTGRU_CACHE_DIR")
    if own:
        path = Path(own).expanduser()
    elif numba.config.CACHE_DIR:
        path = Path(numba.config.CACHE_DIR).expanduser() / "fastgru"
    else:
        path = user_cache_dir()
    return path if path is not None and path.is_absolute() else None


def _trusted_owner(info) -> bool:
    return info.st_uid in (os.geteuid(), 0)


def _writable_by_others(info) -> bool:
    """Writable by users other than the owner: by anyone, or by a group that
    is not the user's own (a user-private group, umask 002, is fine)."""
    return bool(info.st_mode & stat.S_IWOTH) or bool(
        info.st_mode & stat.S_IWGRP and info.st_gid != os.getegid())


def unsafe_reason(root: Path, below=()) -> str | None:
    """Why ``root`` must not hold a kernel cache, or None when it may.

    Checks ``root`` and the existing directories ``below`` it (relative
    parts, e.g. the version and source tag), down to the first one that
    other users cannot enter: each must be owned by this user or root and
    not writable by others. An ancestor of ``root`` writable by others must
    have the sticky bit (as ``/tmp``), else anyone could replace ``root``.
    """
    if not root.is_absolute():
        return f"{root} is a relative path"
    if os.name != "posix":
        return None
    path = root
    for part in ("", *below):
        path = path / part if part else path
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):  # made later, or fails then
            break
        except OSError as exc:
            return f"{path}: {exc.strerror}"
        if stat.S_ISLNK(info.st_mode):
            try:
                info = os.stat(path)
            except OSError as exc:
                return f"{path}: {exc.strerror}"
        if not stat.S_ISDIR(info.st_mode):
            return f"{path} is not a directory"
        if not _trusted_owner(info):
            return f"{path} is owned by another user (uid {info.st_uid})"
        if _writable_by_others(info):
            return f"{path} is writable by other users (mode {stat.S_IMODE(info.st_mode):o})"
        if not info.st_mode & 0o011:  # no one else can enter: what is below is private
            break
    for ancestor in root.parents:
        try:
            info = os.stat(ancestor)
        except OSError:
            continue
        if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
            return f"{ancestor} is writable by every user (mode {stat.S_IMODE(info.st_mode):o})"
    return None


@functools.cache
def _warn_no_disk_cache(reason: str) -> None:
    logger.warning("fastgru: no kernel cache on disk (%s): kernels compile in memory in "
                   "each process; set FASTGRU_CACHE_DIR to a directory of your own", reason)


class CacheRoot:
    """The cache root of a process and whether it may be used.

    Checked when the process starts (:func:`unsafe_reason`), and again when
    it is first read or written after being absent then (someone may have
    made it meanwhile). A root that does not exist is made, with mode 0700,
    when the first entry is written. A refused root stays refused, with one
    warning naming the reason.
    """

    def __init__(self, root: Path | None, below=()):
        self.path, self.below = root, tuple(below)
        self.refused = root is None
        self._verified = False
        if root is None:
            _warn_no_disk_cache("the home directory is unknown and neither FASTGRU_CACHE_DIR "
                                "nor NUMBA_CACHE_DIR is an absolute path")
        else:
            self.usable(create=False)

    def usable(self, create: bool) -> bool:
        """Whether entries may be read (``create`` False) or written there
        now; with ``create``, a missing root is made first."""
        if self.refused:
            return False
        if self._verified:
            return True
        if create and not self.path.exists():
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.path.mkdir(mode=0o700)
            except OSError:  # made meanwhile (checked below), or cannot be: saving fails
                pass
        reason = unsafe_reason(self.path, self.below)
        if reason is not None:
            self.refused = True
            _warn_no_disk_cache(f"refused {reason}")
            return False
        self._verified = self.path.is_dir()
        return self._verified or create


@functools.cache
def installed_prebuilt_dirs(package_dir: Path) -> tuple:
    """The prebuilt kernel directories (``fastgru/_prebuilt``) of the
    installed fastgru distributions other than the package in
    ``package_dir``: a source checkout run in place (``python -m fastgru``
    in the checkout imports the checkout, not the installed wheel) loads the
    wheel's kernels when their source tag equals its own."""
    found = []
    try:
        distributions = importlib.metadata.distributions(name="fastgru")
        for dist in distributions:
            try:
                path = Path(dist.locate_file("fastgru/_prebuilt")).resolve()
            except Exception:  # a distribution without files on disk
                continue
            if path.is_dir() and path.parent != package_dir and path not in found:
                found.append(path)
    except Exception as exc:  # pragma: no cover - broken metadata: no lookup
        logger.debug("fastgru: cannot list installed distributions: %s", exc)
    return tuple(found)
