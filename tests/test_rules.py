"""Every operation's forward value and derivative, against independent references.

References: central finite differences (hypothesis draws the points), the
symbolic form of each rule evaluated as text, and PyTorch in float64 where
it is installed.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from autodiff import RULES, Value, defrule, scalar_math
from autodiff.rule_math import FLOAT_MATH, RULE_MATH_NAMES
from autodiff.symbolic import SYMBOLIC_MATH, Symbol
from tests.operations import OPERATIONS

coordinate = st.floats(min_value=-4.0, max_value=4.0, allow_nan=False)


def _gradients(op, xs):
    leaves = [Value(x) for x in xs]
    out = op.on_values(*leaves)
    out.backward()
    return out.data, [leaf.grad for leaf in leaves]


def _central_difference(op, xs, i, h=1e-6):
    def at(shift):
        moved = [x + shift if j == i else x for j, x in enumerate(xs)]
        return op.on_values(*[Value(x) for x in moved]).data

    return (at(h) - at(-h)) / (2 * h)


def test_the_catalogue_covers_every_rule_in_the_table():
    seen = set()
    for op in OPERATIONS:
        out = op.on_values(*[Value(0.5)] * op.arity)
        seen.add(out._op)
    assert seen == set(RULES)


@pytest.mark.parametrize('op', OPERATIONS, ids=lambda op: op.name)
@given(xs=st.tuples(coordinate, coordinate))
def test_derivative_matches_central_finite_difference(op, xs):
    xs = xs[:op.arity]
    assume(op.fair(*xs))
    # Keep every shifted point inside the domain and on one side of a kink.
    assume(all(op.fair(*[x + s if j == i else x for j, x in enumerate(xs)])
               for i in range(op.arity) for s in (-1e-3, 1e-3)))
    _, analytic = _gradients(op, xs)
    for i, slope in enumerate(analytic):
        numeric = _central_difference(op, xs, i)
        assert slope == pytest.approx(numeric, rel=1e-5, abs=1e-5), (op.name, xs, i)


@pytest.mark.parametrize('op', OPERATIONS, ids=lambda op: op.name)
@given(xs=st.tuples(coordinate, coordinate))
def test_value_and_derivative_match_pytorch_float64(op, xs):
    torch = pytest.importorskip('torch')
    xs = xs[:op.arity]
    assume(op.fair(*xs))
    data, analytic = _gradients(op, xs)
    tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    out = op.on_tensors(*tensors)
    out.backward()
    assert data == pytest.approx(out.item(), rel=1e-12, abs=1e-12)
    for mine, theirs in zip(analytic, tensors):
        assert mine == pytest.approx(theirs.grad.item(), rel=1e-10, abs=1e-12), op.name


@pytest.mark.parametrize('name, make, expected_slopes', [
    ('relu', lambda x: x.relu(), [0.0]),
    ('abs', lambda x: abs(x), [0.0]),
    ('leaky_relu', lambda x: x.leaky_relu(0.1), [0.1]),
])
def test_subgradient_at_the_kink_follows_pytorch(name, make, expected_slopes):
    x = Value(0.0)
    make(x).backward()
    assert [x.grad] == expected_slopes
    torch = pytest.importorskip('torch')
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    {'relu': lambda t: t.relu(), 'abs': lambda t: t.abs(),
     'leaky_relu': lambda t: torch.nn.functional.leaky_relu(t, 0.1)}[name](t).backward()
    assert [t.grad.item()] == expected_slopes


def test_min_and_max_split_the_gradient_on_a_tie_like_pytorch():
    a, b = Value(2.0), Value(2.0)
    a.max(b).backward()
    assert (a.grad, b.grad) == (0.5, 0.5)
    c, d = Value(2.0), Value(2.0)
    c.min(d).backward()
    assert (c.grad, d.grad) == (0.5, 0.5)


@pytest.mark.parametrize('op', sorted(RULES))
@given(xs=st.tuples(st.floats(0.2, 3.0), st.floats(0.2, 3.0)))
def test_symbolic_form_of_each_rule_evaluates_to_its_float_form(op, xs):
    rule = RULES[op]
    arity = rule.partials.__code__.co_argcount - 2
    xs = xs[:arity]
    out = rule.forward(*xs)
    numeric = rule.partials(FLOAT_MATH, out, *xs)
    names = [f"x{i}" for i in range(arity)]
    symbols = [x if i in rule.constants else Symbol(n) for i, (x, n) in enumerate(zip(xs, names))]
    written = rule.partials(SYMBOLIC_MATH, Symbol('out'), *symbols)
    namespace = {name: getattr(scalar_math, name) for name in dir(scalar_math) if not name.startswith('_')}
    namespace.update({name: getattr(FLOAT_MATH, name) for name in RULE_MATH_NAMES})
    namespace.update(dict(zip(names, xs)), out=out, math=math)
    for expected, formula in zip(numeric, written):
        if expected is None:
            assert formula is None
            continue
        got = eval(str(formula), namespace) if isinstance(formula, Symbol) else formula
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-12), (op, str(formula))


def test_defrule_refuses_to_redefine_an_operation():
    with pytest.raises(ValueError, match="'exp' already has a derivative rule"):
        defrule('exp', math.exp, lambda m, out, x: (out,))


def test_a_new_rule_is_used_by_backward():
    defrule('cube', lambda x: x ** 3, lambda m, out, x: (3 * x * x,))
    try:
        x = Value(2.0)
        y = Value(8.0, (x,), 'cube')
        y.backward()
        assert x.grad == 12.0
    finally:
        del RULES['cube']
