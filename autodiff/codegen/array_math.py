"""Array math: the rules' math contract and the engine's forward functions on NumPy arrays.

Generated NumPy code (:mod:`autodiff.codegen.numpy_code`) runs every
operation on whole arrays: its globals are `numpy_namespace`, the names of
:class:`~autodiff.rule_math.RuleMath` (`ArrayMath`) and of the forward
functions, each giving the numbers of its scalar twin in
:mod:`autodiff.scalar_math` and raising where that one raises, checked over
the whole array.  NumPy is imported here only; the engine never needs it.

>>> numpy_namespace()['relu'](np.array([-1.0, 2.0])).tolist()
[0.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:  # NumPy is the optional extra chainrule[fast]; without it this module loads but cannot run
    import numpy as np
except ImportError:  # pragma: no cover - exercised on installs without NumPy
    np = None  # type: ignore[assignment]  # checked before any array code runs

from autodiff.codegen.tracing import function_names
from autodiff.rule_math import RULE_MATH_NAMES, RuleMath
from autodiff.rules import RULES


# ----------------------------------------------------------------------
# Array math: the float functions of autodiff.scalar_math on arrays.  Each
# gives the same numbers as its scalar twin (to rounding) and raises where it does.
# ----------------------------------------------------------------------
def _refuse(bad: Any, error: type, message: str, x: Any) -> None:
    """Raise ``error`` naming (up to five of) the offending entries, if any entry is ``bad``."""
    if np.any(bad):
        raise error(f"{message}: {np.asarray(x)[np.asarray(bad)].ravel()[:5]!r}")


class ArrayMath(RuleMath):
    """``m`` for rules applied to NumPy arrays: the primitives element by element.

    ``xlogy`` is inherited from :class:`~autodiff.rule_math.RuleMath`, so its
    limit at 0 is the one every namespace takes.

    >>> ARRAY_MATH.xlogy(np.array([0.0, 2.0]), np.array([0.0, 1.0])).tolist()
    [0.0, 0.0]
    >>> ARRAY_MATH.heaviside(np.array([-1.0, 0.0, 3.0]), 0.5).tolist()
    [0.0, 0.5, 1.0]
    """

    @staticmethod
    def cos(x: Any) -> Any:
        return np.cos(x)

    @staticmethod
    def sin(x: Any) -> Any:
        return np.sin(x)

    @staticmethod
    def ieee_log(x: Any) -> Any:
        """The natural logarithm for slopes: -inf at 0, nan below (never raises)."""
        with np.errstate(divide='ignore', invalid='ignore'):
            return np.log(x)

    @staticmethod
    def ieee_power(x: Any, y: Any) -> Any:
        """x ** y for slopes: inf at 0 ** negative and on overflow, nan off the reals (never raises)."""
        with np.errstate(divide='ignore', invalid='ignore', over='ignore'):
            return np.where(np.logical_and(np.equal(x, 0), np.less(y, 0)), np.inf, np.power(x, y))

    @staticmethod
    def sigmoid(x: Any) -> Any:
        """1 / (1 + e^-x), the stable form of the scalar engine on each side of 0."""
        e = np.exp(-np.abs(x))
        return np.where(np.greater_equal(x, 0), 1.0 / (1.0 + e), e / (1.0 + e))

    @staticmethod
    def heaviside(x: Any, at_zero: float) -> Any:
        return np.heaviside(x, at_zero)

    @staticmethod
    def sign(x: Any) -> Any:
        return np.sign(x)

    @staticmethod
    def is_zero(x: Any) -> Any:
        return np.equal(x, 0)

    @staticmethod
    def select(condition: Any, if_true: Any, if_false: Any) -> Any:
        return np.where(condition, if_true, if_false)


#: The namespace ``m`` for rules applied to NumPy arrays.
ARRAY_MATH = ArrayMath()


def log(x: Any) -> Any:
    """Natural logarithm (the forward of ``log``); ValueError where x <= 0, as in the scalar engine."""
    _refuse(np.less_equal(x, 0), ValueError, "log is defined only for positive numbers, got", x)
    return np.log(x)


def log1p(x: Any) -> Any:
    """log(1 + x); ValueError where x <= -1."""
    _refuse(np.less_equal(x, -1), ValueError, "log1p is defined only for numbers > -1, got", x)
    return np.log1p(x)


def sqrt(x: Any) -> Any:
    """Square root; ValueError where x < 0."""
    _refuse(np.less(x, 0), ValueError, "sqrt is defined only for numbers >= 0, got", x)
    return np.sqrt(x)


def divide(a: Any, b: Any) -> Any:
    """a / b; ZeroDivisionError where b == 0."""
    _refuse(np.equal(b, 0), ZeroDivisionError, "division by zero, divisors", b)
    return np.true_divide(a, b)


def power(x: Any, y: Any) -> Any:
    """x ** y over the reals: 0 ** negative and negative ** fraction raise."""
    _refuse(np.logical_and(np.equal(x, 0), np.less(y, 0)), ZeroDivisionError,
            "zero cannot be raised to a negative power; bases", x)
    _refuse(np.logical_and(np.less(x, 0), np.not_equal(y, np.floor(y))), ValueError,
            "a negative number to a non-integer power is not a real number; bases", x)
    return np.power(x, y)


def softplus(x: Any) -> Any:
    """max(x, 0) + log1p(e^-|x|)."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def relu(x: Any) -> Any:
    """max(x, 0)."""
    return np.maximum(x, 0.0)


def leaky_relu(x: Any, negative_slope: Any) -> Any:
    """x where x > 0, else negative_slope * x."""
    return np.where(np.greater(x, 0), x, negative_slope * x)


def _forward_functions() -> dict[str, Callable[..., Any]]:
    """The forward functions the generated code calls by name, on arrays (beyond the contract's)."""
    return {
        'exp': np.exp, 'log': log, 'log1p': log1p, 'sqrt': sqrt, 'tanh': np.tanh, 'softplus': softplus,
        'relu': relu, 'leaky_relu': leaky_relu, 'divide': divide, 'power': power, 'abs': np.abs,
        'maximum': np.maximum, 'minimum': np.minimum,
    }


def numpy_namespace() -> dict[str, Any]:
    """The globals of generated NumPy code: the math contract and the forward functions, on arrays.

    An operation added with `defrule` whose forward function has no array
    version here runs element by element (correct, not fast).

    >>> numpy_namespace()['xlogy'] == ARRAY_MATH.xlogy
    True
    """
    if np is None:
        raise ImportError("the numpy backend needs NumPy: pip install 'chainrule[fast]'")
    space: dict[str, Any] = {'np': np, 'dot': np.dot, 'total': np.sum}
    space.update({name: getattr(ARRAY_MATH, name) for name in RULE_MATH_NAMES})
    space.update(_forward_functions())
    for op, name in function_names().items():
        if name not in space:
            space[name] = np.vectorize(RULES[op].forward, otypes=[float])
    return space


def quiet_as_the_engine(function: Callable[..., Any]) -> Callable[..., Any]:
    """Run generated code without NumPy's float warnings where the engine gives a number silently.

    exp(1000) is inf and inf · 0 is nan, as in the engine.  Division by zero
    and domain errors are not among them: the forward functions above raise
    those, as the engine does, before NumPy would warn.
    """
    def run(*args: Any) -> Any:
        with np.errstate(over='ignore', under='ignore', invalid='ignore'):
            return function(*args)
    run.__name__ = function.__name__
    return run
