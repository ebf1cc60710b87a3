"""The math contract: the functions a derivative rule may call from its namespace ``m``.

A rule in :mod:`autodiff.rules` is ordinary arithmetic plus a few calls such
as ``m.cos(x)`` or ``m.heaviside(x, 0.0)``.  Every consumer of the table runs
the same rule with its own namespace:

=================  ============================================  ==========================
namespace          what the rule's inputs are                    where it is defined
=================  ============================================  ==========================
``FLOAT_MATH``     floats (the everyday backward pass)           here
``VALUE_MATH``     `Value` nodes (``create_graph=True``)         here
``SYMBOLIC_MATH``  symbols (generated code, the explainer)       :mod:`autodiff.symbolic`
array math         NumPy arrays (the compiled NumPy backend)     :mod:`autodiff.codegen`
=================  ============================================  ==========================

:class:`RuleMath` declares the names once.  A namespace subclasses it and
implements the *primitives*; the functions with special limits (``xlogy``)
are written once, here, in terms of the primitives, so every namespace
takes the same limit.  ``tests/test_rule_math.py`` checks that each
namespace has every name and agrees with the floats at sample points.

>>> sorted(RULE_MATH_NAMES)
['cos', 'heaviside', 'ieee_log', 'ieee_power', 'is_zero', 'select', 'sigmoid', 'sign', 'sin', 'xlogy']
>>> FLOAT_MATH.xlogy(0.0, 0.0), FLOAT_MATH.xlogy(2.0, 1.0)
(0.0, 0.0)
"""

from __future__ import annotations

from typing import Any

from autodiff import scalar_math as _floats


class RuleMath:
    """The names a derivative rule may use from ``m``; subclasses implement the primitives.

    >>> issubclass(type(FLOAT_MATH), RuleMath), issubclass(type(VALUE_MATH), RuleMath)
    (True, True)
    """

    # Primitives: each namespace implements these.
    def cos(self, x: Any) -> Any:
        """The cosine."""
        raise NotImplementedError

    def sin(self, x: Any) -> Any:
        """The sine."""
        raise NotImplementedError

    def ieee_log(self, x: Any) -> Any:
        """The natural logarithm, -inf at 0 and nan below (IEEE-754: a slope never raises)."""
        raise NotImplementedError

    def ieee_power(self, x: Any, y: Any) -> Any:
        """x ** y, inf at 0 ** negative and on overflow, nan off the reals (IEEE-754)."""
        raise NotImplementedError

    def sigmoid(self, x: Any) -> Any:
        """1 / (1 + e^-x)."""
        raise NotImplementedError

    def heaviside(self, x: Any, at_zero: float) -> Any:
        """The step: 0 for x < 0, ``at_zero`` at 0, 1 for x > 0 (slopes of relu, abs, min, max)."""
        raise NotImplementedError

    def sign(self, x: Any) -> Any:
        """-1, 0 or 1: the slope of abs (0 at 0, as in PyTorch)."""
        raise NotImplementedError

    def is_zero(self, x: Any) -> Any:
        """x == 0 (element by element for arrays): the test behind special limits."""
        raise NotImplementedError

    def select(self, condition: Any, if_true: Any, if_false: Any) -> Any:
        """``if_true`` where ``condition`` holds, else ``if_false`` (element by element for arrays)."""
        raise NotImplementedError

    # Functions with a special limit, written once for every namespace.
    def xlogy(self, x: Any, y: Any) -> Any:
        """x · log(y), taken as 0 where x == 0: the limit of 0 · log 0.

        The slope of ``x ** y`` in ``y`` is ``(x ** y) · log(x)``; at x = 0
        (for y > 0) that is 0 · log 0, whose limit is 0, as in SciPy's xlogy.
        log is taken of 1 where x == 0, so it is never asked for log 0.
        """
        zero = self.is_zero(x)
        return self.select(zero, 0.0, x * self.ieee_log(self.select(zero, 1.0, y)))


#: Every name a rule may call from ``m``.
RULE_MATH_NAMES = frozenset(name for name in vars(RuleMath) if not name.startswith('_'))


class FloatMath(RuleMath):
    """``m`` for rules applied to floats: the safe scalar functions of :mod:`autodiff.scalar_math`.

    >>> FLOAT_MATH.heaviside(0.0, 0.5), FLOAT_MATH.sign(-2.0)
    (0.5, -1.0)
    """

    # Plain attributes, not methods: the everyday backward pass calls these
    # once per node, and an attribute holding the function is the cheapest call.
    cos = staticmethod(_floats.cos)
    sin = staticmethod(_floats.sin)
    ieee_log = staticmethod(_floats.ieee_log)
    ieee_power = staticmethod(_floats.ieee_power)
    sigmoid = staticmethod(_floats.sigmoid)
    heaviside = staticmethod(_floats.heaviside)
    sign = staticmethod(_floats.sign)

    @staticmethod
    def is_zero(x: float) -> bool:
        return x == 0

    @staticmethod
    def select(condition: bool, if_true: Any, if_false: Any) -> Any:
        return if_true if condition else if_false


class ValueMath(RuleMath):
    """``m`` for rules applied to `Value` nodes, so the derivative is itself recorded.

    Smooth functions become recorded operations.  Step functions (heaviside,
    sign) have derivative zero wherever they are defined, so they return
    plain constants: exactly right for the next derivative.  An input may
    also be a plain number (a constant of the operation).  ``hasattr(x,
    '_op')`` tells a node from a number without importing `Value` (whose
    module imports this one).

    >>> from autodiff import Value
    >>> VALUE_MATH.cos(Value(0.0)).data, VALUE_MATH.cos(0.0)
    (1.0, 1.0)
    """

    @staticmethod
    def cos(x: Any) -> Any:
        return x.cos() if hasattr(x, '_op') else _floats.cos(x)

    @staticmethod
    def sin(x: Any) -> Any:
        return x.sin() if hasattr(x, '_op') else _floats.sin(x)

    @staticmethod
    def ieee_log(x: Any) -> Any:
        return x.log() if hasattr(x, '_op') else _floats.ieee_log(x)

    @staticmethod
    def ieee_power(x: Any, y: Any) -> Any:
        if hasattr(x, '_op') or hasattr(y, '_op'):
            return x ** y
        return _floats.ieee_power(x, y)

    @staticmethod
    def sigmoid(x: Any) -> Any:
        return x.sigmoid() if hasattr(x, '_op') else _floats.sigmoid(x)

    @staticmethod
    def heaviside(x: Any, at_zero: float) -> float:
        return _floats.heaviside(float(x), at_zero)

    @staticmethod
    def sign(x: Any) -> float:
        return _floats.sign(float(x))

    @staticmethod
    def is_zero(x: Any) -> bool:
        return float(x) == 0

    @staticmethod
    def select(condition: bool, if_true: Any, if_false: Any) -> Any:
        return if_true if condition else if_false


#: The namespace ``m`` for rules applied to floats.
FLOAT_MATH = FloatMath()
#: The namespace ``m`` for rules applied to `Value` nodes.
VALUE_MATH = ValueMath()
