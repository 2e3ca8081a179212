"""The long frame's key columns, and values as messages name them."""

from __future__ import annotations

import numpy as np

#: statsforecast's names: series id, time stamp, target
ID, TIME, TARGET = "unique_id", "ds", "y"


def plain(key):
    """A NumPy scalar as the Python number it holds (for messages: 0, not
    np.int64(0)); anything else as it is."""
    return key.item() if isinstance(key, np.generic) else key
