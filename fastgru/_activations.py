"""Gate activations, dispatched on the dtype at compile time.

Without Intel SVML, Numba turns ``np.exp`` and ``np.tanh`` into scalar libm
calls that stop LLVM from vectorising a gate loop; in float32 they cost more
than the recurrent matrix product itself. For float32 the kernels therefore use
a rational approximation of tanh (multiply, add, divide, min, max: all
vectorisable), with a maximum absolute error of 3.2e-7 for tanh and 1.9e-7 for
the logistic function over all float32 inputs (below float32's resolution
near 1, see ``tests/test_activations.py``). Float64 keeps libm's exact
functions so that float64 results agree with other libraries to ~1e-15.

The coefficients were fitted for fastgru: tanh(x) ~ x P(x^2) / Q(x^2) on
[0, 9] by Sanathanan-Koerner iterated least squares (P of degree 6, Q of
degree 3, Q(0) = 1); tanh is odd and |tanh(x)| rounds to 1 in float32 beyond 9.
"""

import numpy as np
from numba import types
from numba.extending import overload, register_jitable

_CLAMP = 9.0
_P = (9.9999998401297108e-01, 1.3089623294975083e-01, 3.1102523711091321e-03,
      1.1220854420786131e-05, -2.0499390060873038e-08, 5.4122516912178055e-11,
      -8.8393574067184661e-14)
_Q = (1.0, 4.6422949259546292e-01, 2.4520181738571002e-02, 2.5553544825196586e-04)

_f32 = np.float32
P0, P1, P2, P3, P4, P5, P6 = (_f32(c) for c in _P)
Q0, Q1, Q2, Q3 = (_f32(c) for c in _Q)
CLAMP = _f32(_CLAMP)
ONE = _f32(1.0)
HALF = _f32(0.5)


@register_jitable
def tanh_f32_rational(x):
    """Float32 tanh as a vectorisable rational function (also used in tests)."""
    x = CLAMP if x > CLAMP else x
    x = -CLAMP if x < -CLAMP else x
    u = x * x
    p = ((((((P6 * u + P5) * u + P4) * u + P3) * u + P2) * u + P1) * u + P0)
    q = ((Q3 * u + Q2) * u + Q1) * u + Q0
    y = x * p / q
    y = ONE if y > ONE else y
    return -ONE if y < -ONE else y


def tanh(x):
    """tanh for the kernels: rational in float32, libm in float64."""
    return np.tanh(x)


def sigmoid(x):
    """The logistic function for the kernels (see :func:`tanh`)."""
    return 1.0 / (1.0 + np.exp(-x))


@overload(tanh)
def _tanh_overload(x):
    if x == types.float32:
        return tanh_f32_rational
    return lambda x: np.tanh(x)


@overload(sigmoid)
def _sigmoid_overload(x):
    if x == types.float32:
        return lambda x: HALF + HALF * tanh_f32_rational(HALF * x)
    one = 1.0
    return lambda x: one / (one + np.exp(-x))
