"""Gate activations, dispatched on the dtype at compile time.

Without Intel SVML, Numba turns ``np.exp`` and ``np.tanh`` into scalar libm
calls that stop LLVM from vectorising a gate loop; they cost more than the
recurrent matrix product itself. The kernels therefore use formulas made only
of multiply, add, divide, compare and integer shift, which vectorise:

* float32: a rational approximation of tanh, maximum absolute error 3.2e-7
  (tanh) and 1.9e-7 (logistic) over all float32 inputs.
* float64: ``exp(y) = 2**k * exp(r)`` with ``|r| <= ln2/2``, ``expm1(r)`` by
  its Taylor series to r**14 and ``2**k`` built by an integer shift; tanh is
  ``expm1(2|x|) / (expm1(2|x|) + 2)``, so there is no cancellation near 0.
  Within 4 ulp of libm's tanh; the logistic within 1e-14 relative error for
  x > -42 and 6e-19 absolute below (``tests/test_activations.py``).

The coefficients were fitted for fastgru: tanh(x) ~ x P(x^2) / Q(x^2) on
[0, 9] by Sanathanan-Koerner iterated least squares (P of degree 6, Q of
degree 3, Q(0) = 1); tanh is odd and |tanh(x)| rounds to 1 in float32 beyond 9.
"""

import math

import numpy as np
from numba import types

from ._config import helper, overload

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


@helper
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


# float64: exp by range reduction (Cody-Waite split of ln 2) and Taylor expm1
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.0 / math.log(2.0)
E2, E3, E4, E5, E6, E7, E8, E9, E10, E11, E12, E13, E14 = (
    1.0 / math.factorial(n) for n in range(2, 15)
)
# 2**k is built as (1 << k), so k <= 62; exp(42) ~ 1.7e18 is well inside, and
# tanh/logistic are exactly saturated in float64 long before.
_Y_MAX = 42.0


@helper
def _expm1_parts(y):
    """For 0 <= y: ``(2**k, expm1(r))`` with ``exp(y) = 2**k * (1 + expm1(r))``."""
    y = _Y_MAX if y > _Y_MAX else y
    k = np.int64(y * INV_LN2 + 0.5)
    kf = np.float64(k)
    r = (y - kf * LN2_HI) - kf * LN2_LO
    p = E14
    for c in (E13, E12, E11, E10, E9, E8, E7, E6, E5, E4, E3, E2):
        p = p * r + c
    return np.float64(np.int64(1) << k), r + r * r * p


@helper
def tanh_f64(x):
    two_k, p = _expm1_parts(2.0 * abs(x))
    em1 = two_k * p + (two_k - 1.0)  # expm1(2|x|), no cancellation
    t = em1 / (em1 + 2.0)
    return -t if x < 0 else t


@helper
def sigmoid_f64(x):
    two_k, p = _expm1_parts(abs(x))
    e = two_k * p + two_k  # exp(|x|)
    return e / (e + 1.0) if x >= 0 else 1.0 / (e + 1.0)


def tanh(x):
    """tanh for the kernels (see the module docstring)."""
    return np.tanh(x)


def sigmoid(x):
    """The logistic function for the kernels (see :func:`tanh`)."""
    return 1.0 / (1.0 + np.exp(-x))


@overload(tanh)
def _tanh_overload(x):
    if x == types.float32:
        # called from a helper, as sigmoid calls it: Numba compiles a helper
        # once per set of its callers' compile options, so returned itself
        # (called from the kernels) it compiled a second time
        return lambda x: tanh_f32_rational(x)
    return tanh_f64


@overload(sigmoid)
def _sigmoid_overload(x):
    if x == types.float32:
        return lambda x: HALF + HALF * tanh_f32_rational(HALF * x)
    return sigmoid_f64
