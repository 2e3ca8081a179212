"""The forecaster's loops over the series of a panel laid end to end.

Used by :mod:`fastgru._windows`. Imports no other kernel module.
"""

import numpy as np

from .._config import kernel


@kernel
def running_abs_diffs(y, starts, lengths, lag):
    """Each series' running sums of its absolute ``lag``-step differences:
    for series ``i`` (``y[starts[i]:starts[i] + lengths[i]]``), entry
    ``starts[i] + k`` is ``|y_i[lag] - y_i[0]| + ... + |y_i[k - 1 + lag] -
    y_i[k - 1]|``, added in that order (``np.cumsum``'s), for ``k = 0 ..
    lengths[i] - lag``; the series' other entries are 0."""
    out = np.zeros(y.shape[0])
    for i in range(starts.shape[0]):
        s = starts[i]
        total = 0.0
        for k in range(lengths[i] - lag):
            total += abs(y[s + k + lag] - y[s + k])
            out[s + k + 1] = total
    return out
