"""The NumPy batch backend must agree with the pure-Python backend to 1e-12."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autodiff.codegen import compile_batch
from tests.operations import OPERATIONS
from tests.test_compile import close, compile_demo, demo_problem

np = pytest.importorskip('numpy')
from autodiff.codegen import numpy_code  # noqa: E402 - needs numpy, checked just above


@pytest.mark.parametrize('seed', [0, 3])
@pytest.mark.parametrize('fuse', [True, False], ids=['layers', 'elementwise'])
def test_demo_loss_matches_the_python_backend(seed, fuse, monkeypatch):
    if not fuse:
        monkeypatch.setattr(numpy_code, 'find_layers', lambda plan: [])
    model, X, Y = demo_problem(seed, n=20)
    on_python = compile_demo(model, X, Y, backend='python')
    on_numpy = compile_demo(model, X, Y, backend='numpy')
    assert ('@' in on_numpy.source) == fuse
    data = [random.Random(seed).uniform(-1, 1) for _ in model.parameters()]
    value, grads = on_python(data, X, Y)
    np_value, np_grads = on_numpy(data, np.array(X), Y)
    assert close(np_value, value)
    assert all(close(a, b) for a, b in zip(np_grads, grads))


def test_layers_are_recognised_in_an_mlp():
    model, X, Y = demo_problem(0)
    compiled = compile_demo(model, X, Y, backend='numpy')
    widths = [(len(layer.outputs), len(layer.inputs)) for layer in numpy_code.find_layers(compiled.plan)]
    assert widths == [(6, 2), (5, 6), (1, 5)]


@pytest.mark.parametrize('op', OPERATIONS, ids=lambda op: op.name)
@given(data=st.data())
def test_each_operation_over_a_batch(op, data):
    # Shared w, per-example x: the operation sees arrays, numbers or both.
    def example(w, x):
        args = [w * x, x + w][:op.arity]
        return op.on_values(*args) * w

    on_python = compile_batch(example, (0.9, 1.1), batched=[1])
    on_numpy = compile_batch(example, (0.9, 1.1), batched=[1], backend='numpy')
    w = data.draw(st.floats(0.2, 1.5))
    drawn = data.draw(st.lists(st.floats(-2.0, 2.0), min_size=1, max_size=6))
    xs = [x for x in drawn if op.fair(*[w * x, x + w][:op.arity])] or [1.3]
    try:
        expected = on_python(w, xs)
    except (ArithmeticError, ValueError) as error:
        with pytest.raises(type(error)):
            on_numpy(w, xs)
        return
    value, grad = on_numpy(w, xs)
    assert close(value, expected[0])
    assert close(grad, expected[1])


def test_domain_errors_raise_over_a_batch():
    f = compile_batch(lambda w, x: (w * x).log(), (1.0, 1.0), batched=[1], backend='numpy')
    assert close(f(1.0, [1.0, np.e])[0], 0.5)
    with pytest.raises(ValueError, match='log'):
        f(1.0, [1.0, -2.0])
    g = compile_batch(lambda w, x: w / x, (1.0, 1.0), batched=[1], backend='numpy')
    with pytest.raises(ZeroDivisionError):
        g(1.0, [1.0, 0.0])


def test_auto_backend_picks_numpy_when_installed():
    f = compile_batch(lambda w, x: w * x, (1.0, 1.0), batched=[1], backend='auto')
    assert f.backend == 'numpy'
    assert f(2.0, [1.0, 3.0]) == (4.0, 2.0)


def test_layers_are_fused_only_while_the_rule_table_says_what_fusion_assumes(monkeypatch):
    from autodiff import RULES, Rule
    from autodiff.codegen.numpy_code import fusion_matches_the_rules

    assert fusion_matches_the_rules()
    changed = Rule('*', RULES['*'].forward, lambda m, out, a, b: (2 * b, a))
    monkeypatch.setitem(RULES, '*', changed)
    assert not fusion_matches_the_rules()


def test_aux_matches_the_python_backend():
    # The model's outputs per example, read out of a fused layer's matrix product.
    model, X, Y = demo_problem(1, n=9)
    params = model.parameters()
    data = [p.data for p in params]

    def example(ps, x, y):
        score = model(x)
        return (1 + -y * score).relu(), [score, 1.0]

    on_python = compile_batch(example, (params, X[0], Y[0]), batched=(1, 2), has_aux=True)
    on_numpy = compile_batch(example, (params, X[0], Y[0]), batched=(1, 2), has_aux=True, backend='numpy')
    assert '@' in on_numpy.source  # the layers are still fused
    (value, aux), grads = on_python(data, X, Y)
    (np_value, np_aux), np_grads = on_numpy(data, np.array(X), Y)
    assert close(np_value, value) and all(close(a, b) for a, b in zip(np_grads, grads))
    assert all(close(a, b) for row, np_row in zip(aux, np_aux) for a, b in zip(row, np_row))
    single = compile_batch(lambda w, x: (w * x, w), (1.0, 1.0), batched=[1], has_aux=True, backend='numpy')
    assert single(2.0, [1.0, 3.0])[0] == (4.0, [2.0, 2.0])


# ----------------------------------------------------------------------
# Parameters as one array, relu on whole layers, the penalty as a dot product.
# ----------------------------------------------------------------------
def test_parameters_as_an_array_give_an_array_gradient_equal_to_eager():
    from tests.test_compile import eager_demo_loss

    model, X, Y = demo_problem(2, n=15)
    on_numpy = compile_demo(model, X, Y, backend='numpy')
    data = [p.data for p in model.parameters()]
    expected_value, expected_grads = eager_demo_loss(model, X, Y)
    value, grads = on_numpy(np.array(data), np.array(X), Y)
    assert isinstance(grads, np.ndarray) and grads.shape == (len(data),)
    assert close(value, expected_value)
    assert all(close(a, b) for a, b in zip(grads.tolist(), expected_grads))
    list_value, list_grads = on_numpy(data, X, Y)   # a list in: a list of floats out
    assert type(list_grads) is list and all(type(g) is float for g in list_grads)
    assert list_grads == grads.tolist() and list_value == value


def test_an_mlp_runs_as_whole_layers_without_a_line_per_parameter():
    model, X, Y = demo_problem(0)
    source = compile_demo(model, X, Y, backend='numpy').source
    source = '\n'.join(line.split('#')[0] for line in source.splitlines())  # the code, not its comments
    assert source.count('relu(') == 2 + 1                # a call per hidden layer (not per neuron); the hinge
    assert source.count(' @ ') == 3 + 3 + 2              # forward, ∂W per layer, ∂X below the first
    assert 'dot(_squared1, _squared1)' in source         # Σ p² of the penalty as one dot product
    assert '_a0_' not in source                          # no parameter is unpacked as a float


def test_a_parameter_array_of_the_wrong_length_is_named():
    model, X, Y = demo_problem(0)
    on_numpy = compile_demo(model, X, Y, backend='numpy')
    with pytest.raises(ValueError, match=r'ps must hold 59 numbers, got an array of shape \(58,\)'):
        on_numpy(np.zeros(58), X, Y)


def test_weights_in_no_regular_order_are_read_through_an_index_array():
    # The second neuron's weights come first in the list: no slice is a view of them.
    def example(w, x, y):
        hidden = [(w[1] * x[0] + w[0] * x[1]).relu(), (w[3] * x[0] + w[2] * x[1]).relu()]
        return (w[4] * hidden[0] + w[5] * hidden[1] - y) ** 2

    shared = [0.3, -0.2, 0.5, 0.1, -0.4, 0.7]
    xs, ys = [[0.5, -1.0], [2.0, 0.3], [-0.7, 0.9]], [1.0, 0.25, -0.5]
    on_python = compile_batch(example, (shared, xs[0], 0.0), batched=(1, 2))
    on_numpy = compile_batch(example, (shared, xs[0], 0.0), batched=(1, 2), backend='numpy')
    assert '_index' in on_numpy.source
    value, grads = on_python(shared, xs, ys)
    np_value, np_grads = on_numpy(shared, xs, ys)
    assert close(np_value, value) and all(close(a, b) for a, b in zip(np_grads, grads))


def test_a_penalty_on_some_parameters_only_matches_the_python_backend():
    model, X, Y = demo_problem(1)
    params = model.parameters()

    def example(ps, x, y):
        return (1 + -y * model(x)).relu()

    def penalty(ps):
        return 0.5 + 1e-3 * sum((p * p for p in ps[::2]), 0.0) + ps[1] * ps[1] * ps[3]

    args = (params, X[0], Y[0])
    on_python = compile_batch(example, args, batched=(1, 2), penalty=penalty)
    on_numpy = compile_batch(example, args, batched=(1, 2), penalty=penalty, backend='numpy')
    assert 'dot(_squared1, _squared1)' in on_numpy.source
    data = [random.Random(4).uniform(-1, 1) for _ in params]
    value, grads = on_python(data, X, Y)
    np_value, np_grads = on_numpy(np.array(data), X, Y)
    assert close(np_value, value) and all(close(a, b) for a, b in zip(np_grads.tolist(), grads))
