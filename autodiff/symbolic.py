"""Symbols for the derivative rules: run a rule on names and get its formula back.

The rules in :mod:`autodiff.rules` are written with ordinary arithmetic and a
namespace ``m``.  Called with :class:`Symbol` inputs and ``m`` =
:data:`SYMBOLIC_MATH`, a rule returns its partial derivatives as readable
Python expressions, the source that the code generator emits and the
formulas that the chain-rule explainer prints.  No derivative is written
here: this module only knows how to write arithmetic down.

>>> from autodiff.rules import RULES
>>> out, x, y = Symbol('out'), Symbol('x'), Symbol('y')
>>> [str(d) for d in RULES['*'].partials(SYMBOLIC_MATH, out, x, y)]
['y', 'x']
>>> [str(d) for d in RULES['tanh'].partials(SYMBOLIC_MATH, out, x)]
['1 - out * out']
>>> [str(d) for d in RULES['**'].partials(SYMBOLIC_MATH, out, x, 3.0) if d is not None]
['3 * x ** 2']

Function names (``cos``, ``heaviside``, ``xlogy`` ...) are those of
:mod:`autodiff.rule_math`, so an emitted expression runs in the float or array namespace.
"""

from __future__ import annotations

import math
from typing import Any, TypeAlias, TypeGuard

from autodiff.rule_math import FLOAT_MATH, RULE_MATH_NAMES, RuleMath

# Python's operator precedence, weakest first.  A sub-expression gets
# parentheses when it binds more weakly than the operator around it.
_SUM, _PRODUCT, _UNARY, _POWER, _ATOM = 1, 2, 3, 4, 5

#: What a formula is built from: a symbol, or a plain number (a constant).
Operand: TypeAlias = 'Symbol | float'


class Symbol:
    """A named quantity or an expression built from them.

    Arithmetic with numbers folds (``2 * 3`` is ``6``) and the identities
    ``x * 1``, ``x + 0``, ``x * 0`` simplify, so formulas read as a person
    would write them.

    >>> x = Symbol('x')
    >>> str(1 * (x + 0) * 2 - 1)
    'x * 2 - 1'
    >>> str(-(x + 1) ** 2)
    '-(x + 1) ** 2'
    """

    __slots__ = ('text', 'precedence')

    def __init__(self, text: str, precedence: int = _ATOM):
        self.text = text
        self.precedence = precedence

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Symbol({self.text!r})"

    # Each operator: fold numbers, apply the identities, else write it down.
    def __add__(self, other: Operand) -> Symbol | float:
        return _add(self, other)

    def __radd__(self, other: float) -> Symbol | float:
        return _add(other, self)

    def __sub__(self, other: Operand) -> Symbol | float:
        return _sub(self, other)

    def __rsub__(self, other: float) -> Symbol | float:
        return _sub(other, self)

    def __mul__(self, other: Operand) -> Symbol | float:
        return _mul(self, other)

    def __rmul__(self, other: float) -> Symbol | float:
        return _mul(other, self)

    def __truediv__(self, other: Operand) -> Symbol | float:
        return _div(self, other)

    def __rtruediv__(self, other: float) -> Symbol | float:
        return _div(other, self)

    def __pow__(self, other: Operand) -> Symbol | float:
        return _pow(self, other)

    def __rpow__(self, other: float) -> Symbol | float:
        return _pow(other, self)

    def __neg__(self) -> Symbol:
        # -(-x) keeps its parentheses: "--x" is legal Python but unreadable.
        return Symbol('-' + _wrap(self, _UNARY + 1), _UNARY)


def number_text(x: float) -> str:
    """How a constant is written: ``3`` for 3.0, ``0.5``, ``inf`` as ``math.inf``.

    >>> number_text(3.0), number_text(0.25), number_text(-1.0)
    ('3', '0.25', '-1')
    """
    x = float(x)
    if math.isinf(x):
        return 'math.inf' if x > 0 else '-math.inf'
    if math.isnan(x):
        return 'math.nan'
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(x)


def _is_number(x: object) -> TypeGuard[float]:
    return not isinstance(x, Symbol)


def _as_symbol(x: Operand) -> Symbol:
    if isinstance(x, Symbol):
        return x
    return Symbol(number_text(x), _UNARY if x < 0 else _ATOM)


def _wrap(x: Operand, weakest: int) -> str:
    """x's text, in parentheses if it binds more weakly than ``weakest``."""
    s = _as_symbol(x)
    return s.text if s.precedence >= weakest else f"({s.text})"


def _binary(a: Operand, op: str, b: Operand, precedence: int) -> Symbol:
    left = _wrap(a, precedence)
    right = _wrap(b, precedence + 1)  # a - (b - c), a / (b * c)
    return Symbol(f"{left} {op} {right}", precedence)


def _add(a: Operand, b: Operand) -> Symbol | float:
    if _is_number(a) and _is_number(b):
        return a + b
    if _is_number(a) and a == 0:
        return b
    if _is_number(b) and b == 0:
        return a
    return _binary(a, '+', b, _SUM)


def _sub(a: Operand, b: Operand) -> Symbol | float:
    if _is_number(a) and _is_number(b):
        return a - b
    if _is_number(b) and b == 0:
        return a
    if _is_number(a) and a == 0:
        return -b
    return _binary(a, '-', b, _SUM)


def _mul(a: Operand, b: Operand) -> Symbol | float:
    if _is_number(a) and _is_number(b):
        return a * b
    for one, other in ((a, b), (b, a)):
        if _is_number(one):
            # x * 0 stays a product: it is nan, not 0, when x turns out inf or nan (x * 1 is x).
            if one == 1:
                return other
            if one == -1:
                return -other
    return _binary(a, '*', b, _PRODUCT)


def _div(a: Operand, b: Operand) -> Symbol | float:
    if _is_number(a) and _is_number(b) and b != 0:
        return a / b
    if _is_number(b) and b == 1:
        return a
    return _binary(a, '/', b, _PRODUCT)


def _pow(a: Operand, b: Operand) -> Symbol | float:
    if _is_number(a) and _is_number(b):
        return a**b
    if _is_number(b) and b == 1:
        return a
    # ** binds tighter than unary minus on its left and is right-associative.
    return Symbol(f"{_wrap(a, _POWER + 1)} ** {_wrap(b, _UNARY)}", _POWER)


def _call(name: str, *args: Operand) -> Symbol:
    return Symbol(f"{name}({', '.join(_as_symbol(a).text for a in args)})")


def _ieee_power(x: Operand, y: Operand) -> Symbol | float:
    """``x ** n`` inline for a constant exponent n = 0, 1, 2, ... (``3 * x ** 2``), else ``ieee_power(x, y)``.

    With such an n the power is a polynomial: defined everywhere, as a person
    writes it.  Any other exponent can divide by zero (``0 ** -1``) or leave
    the reals (``(-8) ** (1/3)``, complex in Python), where the contract
    gives inf or nan: the call evaluates the contract's own function.

    >>> x = Symbol('x')
    >>> str(_ieee_power(x, 2.0)), str(_ieee_power(x, 0.5)), str(_ieee_power(x, x - 1))
    ('x ** 2', 'ieee_power(x, 0.5)', 'ieee_power(x, x - 1)')
    """
    if _is_number(x) and _is_number(y):
        return FLOAT_MATH.ieee_power(x, y)  # two numbers: the contract's own value
    if _is_number(y) and float(y).is_integer() and y >= 0:
        return _pow(x, y)
    return _call('ieee_power', x, y)


class SymbolicMath(RuleMath):
    """The namespace ``m`` for rules applied to symbols: each call is written down.

    Every function of the contract becomes a call by the same name; the
    generated code runs those calls in the float or array namespace, so a
    special limit (``xlogy`` at 0) is computed there, never written here.
    ``ieee_power`` is the one exception: a constant exponent 0, 1, 2, ... is
    written inline, ``x ** 2`` (see `_ieee_power`).

    >>> str(SYMBOLIC_MATH.heaviside(Symbol('x'), 0.0))
    'heaviside(x, 0)'
    >>> str(SYMBOLIC_MATH.xlogy(Symbol('out'), Symbol('x')))
    'xlogy(out, x)'
    """

    def __getattribute__(self, name: str) -> Any:
        # Each name of the contract writes a call to itself; nothing else exists.
        if name == 'ieee_power':
            return _ieee_power
        if name in RULE_MATH_NAMES:
            return lambda *args: _call(name, *args)
        return super().__getattribute__(name)


#: The namespace ``m`` for rules applied to :class:`Symbol` inputs.
SYMBOLIC_MATH = SymbolicMath()
