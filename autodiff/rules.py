"""The derivative table: one rule per operation, the only place a derivative is written.

Each row pairs an operation's forward function (on floats) with its *local
derivatives*: for ``out = op(x1, x2, ...)`` the rule returns the partials
``(∂out/∂x1, ∂out/∂x2, ...)``.  The chain rule then multiplies each by the
upstream gradient ``∂L/∂out``.

A rule is written with ordinary arithmetic plus a namespace ``m`` for the
few functions it needs (``m.cos``, ``m.log``, ``m.heaviside``, ...; the names
are declared once, in :mod:`autodiff.rule_math`).  So the same line serves
every consumer:

* the ordinary backward pass calls it with floats and ``m`` = floats' math;
* ``backward(create_graph=True)`` calls it with the graph's own `Value`
  nodes and ``m`` = :data:`autodiff.rule_math.VALUE_MATH`, so the derivative is itself recorded
  and can be differentiated again;
* code generation and the chain-rule explainer call it with symbols.

``None`` in place of a partial marks a *constant of the operation* (the 3 in
``x ** 3``, the slope of ``leaky_relu``): it is never differentiated, and
consumers pass it to the rule as a plain number.

Subgradients at kinks follow PyTorch: relu'(0) = 0, abs'(0) = 0,
leaky_relu'(0) = slope, and min/max split the gradient evenly on a tie.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

from autodiff import scalar_math as _floats


@dataclass(frozen=True, slots=True)
class Rule:
    """One operation: its name, forward function and local derivatives.

    >>> from autodiff.rule_math import FLOAT_MATH
    >>> RULES['*'].partials(FLOAT_MATH, 6.0, 2.0, 3.0)
    (3.0, 2.0)
    """

    op: str
    forward: Callable[..., float]
    partials: Callable[..., tuple]
    #: Positions of inputs that are constants of the operation (see above).
    constants: tuple[int, ...] = ()


RULES: dict[str, Rule] = {}


def defrule(op: str, forward: Callable[..., float], partials: Callable[..., tuple],
            constants: tuple[int, ...] = ()) -> None:
    """Add an operation to the table (used below; also for extensions).

    >>> defrule('square', lambda x: x * x, lambda m, out, x: (2 * x,))
    >>> from autodiff.rule_math import FLOAT_MATH
    >>> RULES['square'].partials(FLOAT_MATH, 9.0, 3.0)
    (6.0,)
    >>> del RULES['square']
    """
    if op in RULES:
        raise ValueError(f"operation {op!r} already has a derivative rule")
    RULES[op] = Rule(op, forward, partials, constants)


# op             forward on floats     local derivatives: (m, out, *inputs) -> ∂out/∂each input
defrule('+',     operator.add,         lambda m, out, a, b: (1.0, 1.0))
defrule('-',     operator.sub,         lambda m, out, a, b: (1.0, -1.0))
defrule('*',     operator.mul,         lambda m, out, a, b: (b, a))
defrule('/',     _floats.divide,       lambda m, out, a, b: (1 / b, -out / b))
defrule('neg',   operator.neg,         lambda m, out, x: (-1.0,))
defrule('**',    _floats.power,        lambda m, out, x, n: (n * m.ieee_power(x, n - 1) if n != 0 else 0.0, None),
        constants=(1,))
# x ** y at y = 0 has slope 0 in x; in y it is out·log x, taken as 0 at x = 0 (PyTorch's values at the edges).
defrule('pow',   _floats.power,        lambda m, out, x, y: (m.select(m.is_zero(y), 0.0, y * m.ieee_power(x, y - 1)),
                                                            m.xlogy(m.select(m.is_zero(x), 0.0, out), x)))
# number ** x: the base is a constant of the operation, so its slope is never computed.
defrule('rpow',  _floats.power,        lambda m, out, base, y: (None, m.xlogy(m.select(m.is_zero(base), 0.0, out), base)),
        constants=(0,))
defrule('exp',   _floats.exp,          lambda m, out, x: (out,))
defrule('log',   _floats.log,          lambda m, out, x: (1 / x,))
defrule('log1p', _floats.log1p,        lambda m, out, x: (1 / (1 + x),))
defrule('sqrt',  _floats.sqrt,         lambda m, out, x: (0.5 / out,))
defrule('sin',   _floats.sin,          lambda m, out, x: (m.cos(x),))
defrule('cos',   _floats.cos,          lambda m, out, x: (-m.sin(x),))
defrule('tanh',  _floats.tanh,         lambda m, out, x: (1 - out * out,))
defrule('sigmoid', _floats.sigmoid,    lambda m, out, x: (out * (1 - out),))
defrule('softplus', _floats.softplus,  lambda m, out, x: (m.sigmoid(x),))
defrule('relu',  _floats.relu,         lambda m, out, x: (m.heaviside(x, 0.0),))
defrule('leaky_relu', _floats.leaky_relu,
        lambda m, out, x, slope: (slope + (1 - slope) * m.heaviside(x, 0.0), None),
        constants=(1,))
defrule('abs',   abs,                  lambda m, out, x: (m.sign(x),))
defrule('max',   _floats.maximum,      lambda m, out, a, b: (m.heaviside(a - b, 0.5), m.heaviside(b - a, 0.5)))
defrule('min',   _floats.minimum,      lambda m, out, a, b: (m.heaviside(b - a, 0.5), m.heaviside(a - b, 0.5)))
