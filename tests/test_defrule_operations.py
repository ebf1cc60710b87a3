"""`defrule` makes an operation: one row of the table, and every consumer of the table can use it.

The worked example of the README, softsign(x) = x / (1 + |x|), whose slope
1 / (1 + |x|)² is written with the output as (1 - sign(x)·out)², is checked
through backward, create_graph, gradcheck, the explainer and both compiled
backends against its analytic derivative.
"""

from __future__ import annotations

import importlib.util

import pytest

from autodiff import RULES, Value, apply, compile, compile_batch, defrule, explain, grad, gradcheck


def softsign(x: float) -> float:
    return x / (1 + abs(x))


def softsign_slope(x: float) -> float:
    return 1 / (1 + abs(x)) ** 2


def softsign_curvature(x: float) -> float:
    sign = (x > 0) - (x < 0)
    return -2 * sign / (1 + abs(x)) ** 3


@pytest.fixture
def softsign_op():
    defrule('softsign', softsign, lambda m, out, x: ((1 - m.sign(x) * out) ** 2,))
    try:
        yield lambda v: apply('softsign', v)
    finally:
        del RULES['softsign']


POINTS = [-2.5, -0.3, 0.4, 1.7]


@pytest.mark.parametrize('x0', POINTS)
def test_a_registered_rule_runs_forward_and_backward(softsign_op, x0):
    x = Value(x0, label='x')
    y = softsign_op(x) * 3.0
    y.backward()
    assert y.data == pytest.approx(3 * softsign(x0), rel=1e-15)
    assert x.grad == pytest.approx(3 * softsign_slope(x0), rel=1e-13)


@pytest.mark.parametrize('x0', POINTS)
def test_a_registered_rule_is_differentiated_twice(softsign_op, x0):
    second = grad(grad(lambda x: softsign_op(x)))(x0)
    assert second == pytest.approx(softsign_curvature(x0), rel=1e-12)


def test_a_registered_rule_agrees_with_finite_differences(softsign_op):
    assert gradcheck(lambda a, b: softsign_op(a * b) + softsign_op(a - b), 0.7, -1.3)


def test_the_explainer_writes_a_registered_rule_in_node_names(softsign_op):
    x = Value(0.5, label='x')
    steps = explain(softsign_op(x)).steps
    assert len(steps) == 1
    assert steps[0].local_formula == '(1 - sign(x) * v1) ** 2'
    assert steps[0].local == pytest.approx(softsign_slope(0.5), rel=1e-14)


def test_compiled_code_calls_a_registered_rule(softsign_op):
    compiled = compile(lambda a, b: softsign_op(a * b) + a, (0.5, 2.0))
    value, grads = compiled(1.5, -0.5)
    assert value == pytest.approx(softsign(-0.75) + 1.5, rel=1e-15)
    assert grads[0] == pytest.approx(-0.5 * softsign_slope(-0.75) + 1.0, rel=1e-13)


@pytest.mark.parametrize('backend', ['python', 'numpy'])
def test_compiled_batches_call_a_registered_rule(softsign_op, backend):
    if backend == 'numpy' and importlib.util.find_spec('numpy') is None:
        pytest.skip('NumPy is not installed')
    xs = [-1.0, 0.25, 2.0]
    batch = compile_batch(lambda w, x: softsign_op(w * x), (0.5, xs[0]), batched=[1], backend=backend)
    mean, grads = batch(0.5, xs)
    assert mean == pytest.approx(sum(softsign(0.5 * x) for x in xs) / 3, rel=1e-14)
    expected = sum(x * softsign_slope(0.5 * x) for x in xs) / 3
    assert grads == pytest.approx(expected, rel=1e-12)


def test_apply_names_an_unknown_operation():
    with pytest.raises(KeyError, match="no operation 'nope' in the rule table"):
        apply('nope', Value(1.0))


def test_apply_refuses_more_inputs_than_a_node_holds():
    with pytest.raises(ValueError, match="one or two inputs; '\\+' was given 3"):
        apply('+', 1.0, 2.0, 3.0)
