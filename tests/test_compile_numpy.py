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
