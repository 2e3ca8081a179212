"""fastgru: Gated Recurrent Units on the CPU, with Numba kernels.

The public layer is :class:`fastgru.GRU`; see the README for the variants and
the estimators.
"""

from ._config import get_num_threads, set_num_threads
from ._variants import VARIANTS
from .layer import GRU

__version__ = "0.1.0"

__all__ = ["GRU", "VARIANTS", "get_num_threads", "set_num_threads", "__version__"]
