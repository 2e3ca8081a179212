"""fastgru: Gated Recurrent Units on the CPU, with Numba kernels.

The layer :class:`fastgru.GRU` runs forward, backward and streaming steps; the
scikit-learn estimators :class:`GRURegressor`, :class:`GRUClassifier` and the
transformer :class:`SequenceScaler` are built on it (see the README).

The estimators are imported on first use, so that a server that only runs
the layer does not pay for importing scikit-learn.
"""

__version__ = "0.1.0"  # before the imports: the kernel cache's directory names it

from ._runtime import get_num_threads, set_num_threads, threads
from ._variants import VARIANTS
from .layer import GRU

_LAZY = {
    "GRURegressor": "estimators",
    "GRUClassifier": "estimators",
    "SequenceScaler": "preprocessing",
    "GRUForecaster": "forecasting",
    "save": "serialization",
    "load": "serialization",
    "warmup": "_warmup",
    "NonFiniteLossError": "_training",
}

__all__ = [
    "GRU", "VARIANTS", "get_num_threads", "set_num_threads", "threads", "__version__", *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
