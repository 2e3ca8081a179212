"""The one parser of fastgru's ``FASTGRU_*`` environment switches.

Every boolean switch reads the same words (case and surrounding spaces
ignored): ``1``, ``true``, ``yes``, ``on`` turn it on; ``0``, ``false``,
``no``, ``off`` turn it off; unset or empty keeps the default. Any other
value keeps the default too, with a one-line warning naming the variable.
``docs/deployment.md`` lists every variable in one table.

Imports nothing from fastgru (``setup.py`` loads this file on its own).
"""

from __future__ import annotations

import logging
import math
import os

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")

logger = logging.getLogger("fastgru")


def parse_flag(value, default: bool, name: str = "the switch") -> bool:
    """``value`` (a string or None) as a boolean switch; ``default`` when it
    is None, empty or not a recognised word (then with a warning).

    Examples
    --------
    >>> parse_flag(" Off ", True), parse_flag("YES", False), parse_flag(None, True)
    (False, True, True)
    """
    word = (value or "").strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    if word:
        logger.warning("fastgru: %s=%r is not one of %s (on) or %s (off); using the "
                       "default, %s", name, value, "/".join(TRUE), "/".join(FALSE),
                       "on" if default else "off")
    return default


def env_flag(name: str, default: bool) -> bool:
    """The boolean switch ``name`` of the environment (see :func:`parse_flag`)."""
    return parse_flag(os.environ.get(name), default, name)


def env_megabytes(name: str, default_bytes: int) -> int:
    """A size in MiB from the environment, as bytes: a number >= 0
    (fractions allowed), or ``inf`` for no limit; anything else (NaN,
    negative, not a number) keeps ``default_bytes``, with a warning."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default_bytes
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = math.nan
    if math.isinf(megabytes) and megabytes > 0:
        return 2**62  # no limit
    if not megabytes >= 0:  # NaN, negative
        logger.warning("fastgru: %s=%r is not a size in MiB (a number >= 0, or inf); "
                       "using the default, %d MiB", name, value, default_bytes >> 20)
        return default_bytes
    return min(int(megabytes * 2**20), 2**62)
