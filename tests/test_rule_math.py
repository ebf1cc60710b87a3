"""The math contract: every namespace a rule runs with has every name and agrees with the floats.

A derivative rule calls a few functions from its namespace ``m``
(:data:`autodiff.rule_math.RULE_MATH_NAMES`).  The same rule runs on floats,
on recorded Values, as formulas that generated code evaluates, and on NumPy
arrays; a name missing from one of them, or a different value at a kink
(heaviside, sign at 0) or at a special limit (xlogy at x = 0), would make
one consumer's gradients differ from the others'.  The floats themselves
are checked against formulas written independently here.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import warnings
from collections.abc import Callable

import pytest

from autodiff import Value
from autodiff.codegen.python_code import namespace
from autodiff.rule_math import FLOAT_MATH, RULE_MATH_NAMES, VALUE_MATH, FloatMath, RuleMath
from autodiff.symbolic import SYMBOLIC_MATH, Symbol

# Sample arguments for every name: kinks, zeros, both signs, overflow, the limits.
SAMPLES: dict[str, list[tuple]] = {
    'cos': [(0.0,), (1.3,), (-2.0,), (math.pi,)],
    'sin': [(0.0,), (1.3,), (-2.0,), (math.pi / 2,)],
    'ieee_log': [(1.0,), (0.25,), (7.5,), (0.0,), (-1.0,)],
    'ieee_power': [(2.0, 3.0), (2.0, -1.0), (0.0, -0.5), (-8.0, 1 / 3), (10.0, 400.0), (-2.0, 2.0),
                   (0.0, 0.0), (4.0, 0.5)],
    'sigmoid': [(0.0,), (-3.0,), (2.5,), (-1000.0,), (1000.0,)],
    'heaviside': [(-1.5, 0.0), (0.0, 0.0), (0.0, 0.5), (2.0, 0.5), (-0.0, 1.0)],
    'sign': [(-2.0,), (0.0,), (3.5,), (-0.0,)],
    'is_zero': [(0.0,), (-0.0,), (1e-300,), (-2.0,)],
    'select': [(True, 1.5, -2.0), (False, 1.5, -2.0)],
    'xlogy': [(0.0, 0.0), (0.0, 2.0), (2.0, 1.0), (1.5, 0.5), (3.0, 4.0), (-2.0, 3.0)],
}

# Each name's value written out independently of the engine.
REFERENCE: dict[str, Callable[..., float]] = {
    'cos': math.cos,
    'sin': math.sin,
    'ieee_log': lambda x: math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan),
    'ieee_power': lambda x, y: (math.inf if x == 0 and y < 0 else
                                math.nan if x < 0 and not float(y).is_integer() else
                                math.inf if math.log(abs(x) or 1.0) * y > 709.8 else x ** y),
    'sigmoid': lambda x: 0.5 * (1.0 + math.tanh(x / 2)),
    'heaviside': lambda x, at_zero: at_zero if x == 0 else float(x > 0),
    'sign': lambda x: 0.0 if x == 0 else math.copysign(1.0, x),
    'is_zero': lambda x: x == 0,
    'select': lambda condition, a, b: a if condition else b,
    'xlogy': lambda x, y: 0.0 if x == 0 else x * math.log(y),
}


def same(a: float, b: float) -> bool:
    """Equal to 1e-12 (relative), with nan equal to nan and infinities exact."""
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))


def disagreements(evaluate: Callable[[str, tuple], float], loud: frozenset = frozenset(),
                  samples: dict[str, list[tuple]] = SAMPLES) -> list[str]:
    """The names where ``evaluate(name, args)`` is missing, fails, or differs from FLOAT_MATH.

    For a name in ``loud``, raising where the float is inf or nan counts as
    agreeing: an error is loud, never a wrong number.
    """
    wrong = []
    for name in sorted(RULE_MATH_NAMES):
        for args in samples[name]:
            expected = getattr(FLOAT_MATH, name)(*args)
            try:
                ok = same(evaluate(name, args), expected)
            except (ArithmeticError, ValueError):
                ok = name in loud and not math.isfinite(expected)
            except (AttributeError, KeyError, NameError, NotImplementedError, TypeError):
                ok = False
            if not ok:
                wrong.append(name)
                break
    return wrong


def on_values(name: str, args: tuple) -> float:
    """VALUE_MATH with Value inputs (a condition stays a bool, heaviside's value at 0 a constant)."""
    def wrap(i: int, a: object) -> object:
        constant = isinstance(a, bool) or (name == 'heaviside' and i == 1)
        return a if constant else Value(a)
    result = getattr(VALUE_MATH, name)(*[wrap(i, a) for i, a in enumerate(args)])
    return float(result)


def in_generated_code(space: dict, on_arrays: bool = False) -> Callable[[str, tuple], float]:
    """SYMBOLIC_MATH's formula for the call, evaluated as generated code is, in ``space``.

    With ``on_arrays`` each argument is a one-element NumPy array (heaviside's value at 0 stays a number).
    """
    def evaluate(name: str, args: tuple) -> float:
        names = [f"a{i}" for i in range(len(args))]
        text = str(getattr(SYMBOLIC_MATH, name)(*map(Symbol, names)))
        if on_arrays:
            import numpy as np
            args = tuple(a if name == 'heaviside' and i == 1 else np.array([a]) for i, a in enumerate(args))
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', RuntimeWarning)  # NumPy's overflow and 0 ** -x notes
            result = eval(text, dict(space), dict(zip(names, args)))  # noqa: S307 - our own formula
        return float(result[0]) if on_arrays else float(result)
    return evaluate


# A constant exponent: SYMBOLIC_MATH writes x ** n inline for n = 0, 1, 2, ..., a call otherwise.
OFF_THE_REALS = (-8.0, 1 / 3)


def test_every_name_has_samples_and_a_reference():
    assert set(SAMPLES) == RULE_MATH_NAMES == set(REFERENCE)
    for name in RULE_MATH_NAMES:  # the samples fit each function's signature
        arity = len(inspect.signature(getattr(RuleMath, name)).parameters) - 1
        assert all(len(args) == arity for args in SAMPLES[name]), name


@pytest.mark.parametrize('name', sorted(RULE_MATH_NAMES))
def test_the_floats_agree_with_the_independent_formulas(name):
    for args in SAMPLES[name]:
        assert same(getattr(FLOAT_MATH, name)(*args), REFERENCE[name](*args)), (name, args)


def test_value_math_agrees_with_the_floats():
    # A recorded log or power of a Value raises at 0 and below, where the floats give -inf or nan.
    assert disagreements(on_values, loud=frozenset({'ieee_log', 'ieee_power'})) == []


def test_symbolic_formulas_evaluated_in_generated_python_agree_with_the_floats():
    assert disagreements(in_generated_code(namespace())) == []
    if importlib.util.find_spec('numpy'):
        from autodiff.codegen.array_math import numpy_namespace

        assert disagreements(in_generated_code(numpy_namespace(), on_arrays=True)) == []


def test_symbolic_power_off_the_reals_is_nan_in_generated_python():
    assert same(in_generated_code(namespace())('ieee_power', OFF_THE_REALS), math.nan)


def power_with_a_constant_exponent(space: dict) -> Callable[[str, tuple], float]:
    """ieee_power(a0, y) as SYMBOLIC_MATH writes it for the constant y, evaluated in ``space``."""
    def evaluate(name: str, args: tuple) -> float:
        x, y = args
        text = str(SYMBOLIC_MATH.ieee_power(Symbol('a0'), y))
        return float(eval(text, dict(space), {'a0': x}))  # noqa: S307 - our own formula
    return evaluate


def test_a_constant_power_is_inline_only_for_whole_non_negative_exponents():
    x = Symbol('x')
    written = [str(SYMBOLIC_MATH.ieee_power(x, y)) for y in (2.0, 0.0, 1.0, -1.0, 0.5, 2.5)]
    assert written == ['x ** 2', 'x ** 0', 'x',
                       'ieee_power(x, -1)', 'ieee_power(x, 0.5)', 'ieee_power(x, 2.5)']
    # Evaluated, each written form gives the float's value; 10 ** 400 may overflow loudly, never wrongly.
    evaluate = power_with_a_constant_exponent(namespace())

    def power_or_float(name: str, args: tuple) -> float:
        return evaluate(name, args) if name == 'ieee_power' else getattr(FLOAT_MATH, name)(*args)
    assert disagreements(power_or_float, loud=frozenset({'ieee_power'})) == []
    assert math.isnan(evaluate('ieee_power', OFF_THE_REALS))
    assert evaluate('ieee_power', (0.0, -0.5)) == math.inf


def test_the_explainer_keeps_the_readable_power():
    from autodiff.rules import RULES

    [slope, _] = RULES['**'].partials(SYMBOLIC_MATH, Symbol('out'), Symbol('x'), 3.0)
    assert str(slope) == '3 * x ** 2'


def test_the_generated_python_namespace_takes_the_contract_from_the_floats():
    space = namespace()
    assert disagreements(lambda name, args: space[name](*args)) == []


def test_array_math_agrees_with_the_floats_element_by_element():
    np = pytest.importorskip('numpy')
    from autodiff.codegen.array_math import ARRAY_MATH

    def on_arrays(name: str, args: tuple) -> float:
        arrays = [a if name == 'heaviside' and i == 1 else np.array([a]) for i, a in enumerate(args)]
        return np.asarray(getattr(ARRAY_MATH, name)(*arrays)).item()
    assert disagreements(on_arrays) == []


def test_the_check_fails_for_a_namespace_that_lacks_a_name_or_disagrees():
    class Incomplete(FloatMath):
        sign = RuleMath.sign  # back to the declaration: not implemented

    class WrongKink(FloatMath):
        @staticmethod
        def heaviside(x: float, at_zero: float) -> float:
            return float(x >= 0)  # ignores the value at 0

    assert disagreements(lambda name, args: getattr(Incomplete(), name)(*args)) == ['sign']
    assert disagreements(lambda name, args: getattr(WrongKink(), name)(*args)) == ['heaviside']
    space = namespace()
    del space['xlogy']
    assert disagreements(in_generated_code(space)) == ['xlogy']
