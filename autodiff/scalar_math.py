"""The operations on plain floats: every forward computation of the engine.

`Value` methods call these for their forward values, and the derivative
rules in :mod:`autodiff.rules` call them (as the namespace ``m``) when they
run on floats.  Each function is numerically safe where the textbook formula
is not, and raises an error naming the operation and the operand where the
mathematics is undefined; nothing returns a silently wrong number.
"""

from __future__ import annotations

import math

# Re-exported unchanged: safe everywhere (tanh(1000) == 1.0, tanh(nan) is nan).
tanh = math.tanh


def sin(x: float) -> float:
    """The sine; nan stays nan, and ±inf (where it has no value) is refused by name.

    >>> sin(0.0)
    0.0
    """
    if math.isinf(x):
        raise ValueError(f"sin of {x!r}: sin has no value at infinity")
    return math.sin(x)


def cos(x: float) -> float:
    """The cosine; nan stays nan, and ±inf (where it has no value) is refused by name.

    >>> cos(0.0)
    1.0
    """
    if math.isinf(x):
        raise ValueError(f"cos of {x!r}: cos has no value at infinity")
    return math.cos(x)


def exp(x: float) -> float:
    """e ** x, inf on overflow (as IEEE floats and NumPy do), never OverflowError.

    >>> exp(0.0), exp(1000.0)
    (1.0, inf)
    """
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def log(x: float) -> float:
    """Natural logarithm, defined for x > 0.

    >>> log(1.0)
    0.0
    """
    if x <= 0:
        raise ValueError(f"log of {x!r}: log is defined only for positive numbers")
    return math.log(x)


def log1p(x: float) -> float:
    """log(1 + x), accurate for tiny x; defined for x > -1.

    >>> log1p(1e-20)
    1e-20
    """
    if x <= -1:
        raise ValueError(f"log1p of {x!r}: log1p is defined only for numbers > -1")
    return math.log1p(x)


def sqrt(x: float) -> float:
    """Square root, defined for x >= 0.

    >>> sqrt(9.0)
    3.0
    """
    if x < 0:
        raise ValueError(f"sqrt of {x!r}: sqrt is defined only for numbers >= 0")
    return math.sqrt(x)


def sigmoid(x: float) -> float:
    """1 / (1 + e^-x) without overflow: sigmoid(-1000) == 0.0, sigmoid(1000) == 1.0.

    The textbook formula overflows in e^-x for very negative x, so for x < 0
    it is rewritten as e^x / (1 + e^x), where e^x only underflows to 0.

    >>> sigmoid(0.0), sigmoid(-1000.0), sigmoid(1000.0)
    (0.5, 0.0, 1.0)
    """
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def softplus(x: float) -> float:
    """log(1 + e^x) without overflow, written as max(x, 0) + log1p(e^-|x|).

    >>> softplus(0.0) == math.log(2.0), softplus(1000.0), softplus(-1000.0)
    (True, 1000.0, 0.0)
    """
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def relu(x: float) -> float:
    """max(x, 0); nan stays nan (as in PyTorch), so a bad input is never hidden.

    >>> relu(-2.0), relu(3.0), relu(math.nan)
    (0.0, 3.0, nan)
    """
    return 0.0 if x <= 0 else x  # nan <= 0 is False: nan passes through


def maximum(a: float, b: float) -> float:
    """The larger of a and b; nan if either is nan (Python's max(1, nan) would say 1).

    >>> maximum(1.0, 2.0), maximum(1.0, math.nan), maximum(math.nan, 1.0)
    (2.0, nan, nan)
    """
    return a if (a > b or a != a) else b  # a != a only for nan


def minimum(a: float, b: float) -> float:
    """The smaller of a and b; nan if either is nan.

    >>> minimum(1.0, 2.0), minimum(1.0, math.nan), minimum(math.nan, 1.0)
    (1.0, nan, nan)
    """
    return a if (a < b or a != a) else b


def leaky_relu(x: float, negative_slope: float) -> float:
    """x for x > 0, else negative_slope * x.

    >>> leaky_relu(-2.0, 0.01)
    -0.02
    """
    return x if x > 0 else negative_slope * x


def divide(a: float, b: float) -> float:
    """a / b, with an error that names both operands when b == 0.

    >>> divide(1.0, 4.0)
    0.25
    """
    if b == 0:
        raise ZeroDivisionError(f"division by zero: {a!r} / {b!r}")
    return a / b


def power(x: float, y: float) -> float:
    """x ** y over the reals: 0 ** negative and negative ** fraction raise.

    Python itself would return a complex number for (-8) ** (1/3); here that
    is a ValueError, because the engine works on real numbers.  Overflow
    gives inf instead of OverflowError, as in :func:`exp`.

    >>> power(2.0, 10.0), power(-2.0, 3.0)
    (1024.0, -8.0)
    """
    if x == 0 and y < 0:
        raise ZeroDivisionError(f"0 ** {y!r}: zero cannot be raised to a negative power")
    if x < 0 and math.isfinite(y) and not float(y).is_integer():
        raise ValueError(
            f"{x!r} ** {y!r}: a negative number to a non-integer power is not a real number"
        )
    try:
        return x**y
    except OverflowError:
        return math.inf if x > 0 or y % 2 == 0 else -math.inf


def heaviside(x: float, at_zero: float) -> float:
    """The step function: 0 for x < 0, ``at_zero`` for x == 0, 1 for x > 0.

    The rules use it for the slopes of relu, abs, min and max; ``at_zero``
    fixes the subgradient at the kink (PyTorch's conventions).

    At nan the slope is unknown, so it is nan: the gradient carries the nan on.

    >>> heaviside(-1.0, 0.5), heaviside(0.0, 0.5), heaviside(2.0, 0.5), heaviside(math.nan, 0.5)
    (0.0, 0.5, 1.0, nan)
    """
    if x > 0:
        return 1.0
    if x < 0:
        return 0.0
    return at_zero if x == 0 else math.nan


def sign(x: float) -> float:
    """-1, 0 or 1: the slope of abs (0 at 0, as in PyTorch).

    >>> sign(-3.0), sign(0.0), sign(2.0), sign(math.nan)
    (-1.0, 0.0, 1.0, nan)
    """
    if x > 0:
        return 1.0
    if x < 0:
        return -1.0
    return 0.0 if x == 0 else math.nan


def ieee_power(x: float, y: float) -> float:
    """x ** y as IEEE-754 floats take it, for slopes: inf at 0 ** negative and on overflow, nan off the reals.

    The forward :func:`power` refuses those points; a *slope* there is what
    PyTorch gives (the slope of x ** 0.5 at 0 is inf), so the backward pass
    carries inf or nan on instead of failing, and anomaly mode can name it.

    >>> ieee_power(0.0, -0.5), ieee_power(-8.0, 1 / 3), ieee_power(10.0, 400.0), ieee_power(2.0, 3.0)
    (inf, nan, inf, 8.0)
    """
    if x == 0 and y < 0:
        return math.inf
    if x < 0 and math.isfinite(y) and not float(y).is_integer():
        return math.nan
    try:
        return x ** y
    except OverflowError:
        return math.inf if x > 0 or y % 2 == 0 else -math.inf


def ieee_log(x: float) -> float:
    """The natural logarithm as IEEE-754 floats take it, for slopes: -inf at 0, nan below.

    >>> ieee_log(1.0), ieee_log(0.0), ieee_log(-1.0)
    (0.0, -inf, nan)
    """
    if x > 0:
        return math.log(x)
    return -math.inf if x == 0 else math.nan
