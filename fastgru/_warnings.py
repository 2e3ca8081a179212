"""The forecaster's warnings, each given once within :func:`once_each`.

A backtest fits and forecasts once per window: without it a warning that
holds for every window (dates that cannot be continued, levels beyond what
the held-out forecasts calibrate) would repeat once per window. The record
of what was said is a context variable, so backtests in several threads keep
their own, and Python's warning filters are left as they are. A backtest
also rewords what a warning says of a forecast that its own output does
otherwise (its forecasts are dated by the test rows).
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import warnings

_SAID = contextvars.ContextVar("fastgru_warnings_said", default=None)


def warn(message: str) -> None:
    """``warnings.warn(message, UserWarning)`` at the user's line (the first
    frame outside fastgru and scikit-learn's ``fit`` wrapper), unless the
    same message was given already within the innermost :func:`once_each`
    (and as that reworded it)."""
    within = _SAID.get()
    if within is not None:
        said, reworded = within
        for old, new in reworded.items():
            message = message.replace(old, new)
        if message in said:
            return
        said.add(message)
    warnings.warn(message, UserWarning, stacklevel=_user_level())


def _user_level() -> int:
    """The ``stacklevel`` of :func:`warn`'s call of ``warnings.warn`` that
    names the first frame outside fastgru and ``sklearn.base``."""
    frame, level = sys._getframe(2), 2  # warn's caller
    while frame.f_back is not None and (
            str(frame.f_globals.get("__name__")).partition(".")[0] == "fastgru"
            or frame.f_globals.get("__name__") == "sklearn.base"):
        frame, level = frame.f_back, level + 1
    return level


@contextlib.contextmanager
def once_each(reworded=None):
    """Within it, :func:`warn` gives each message once, each part of it that
    is a key of ``reworded`` replaced by its value.

    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     with once_each():
    ...         for _ in range(3):
    ...             warn("said once")
    >>> [str(w.message) for w in caught]
    ['said once']
    """
    token = _SAID.set((set(), dict(reworded or {})))
    try:
        yield
    finally:
        _SAID.reset(token)
