"""micrograd's lecture replayed cell by cell: manual backprop with `_backward`, closure ops, attributes.

The numbers are the lecture's (x1 = 2, x2 = 0, w1 = -3, w2 = 1, b = 6.8813735870195432,
o = tanh(x1·w1 + x2·w2 + b)); every gradient is checked against the chain
rule worked by hand (do/dn = 1 - o², then each product's other factor) and
against the engine's own `backward()` on a fresh copy of the graph.
"""

from __future__ import annotations

import gc
import math

import pytest

from autodiff import Value
from nn import MLP, Parameter

B = 6.8813735870195432


def lecture_neuron():
    x1, x2 = Value(2.0, label='x1'), Value(0.0, label='x2')
    w1, w2 = Value(-3.0, label='w1'), Value(1.0, label='w2')
    b = Value(B, label='b')
    x1w1 = x1 * w1
    x2w2 = x2 * w2
    x1w1x2w2 = x1w1 + x2w2
    n = x1w1x2w2 + b
    o = n.tanh()
    return locals()


def hand_gradients() -> dict[str, float]:
    """The lecture's answers, derived by hand: do/dn = 1 - tanh(n)², and a product passes the other factor."""
    n = 2.0 * -3.0 + 0.0 * 1.0 + B
    do_dn = 1 - math.tanh(n) ** 2
    return {'o': 1.0, 'n': do_dn, 'b': do_dn, 'x1w1x2w2': do_dn, 'x1w1': do_dn, 'x2w2': do_dn,
            'x1': -3.0 * do_dn, 'w1': 2.0 * do_dn, 'x2': 1.0 * do_dn, 'w2': 0.0 * do_dn}


def test_manual_backprop_node_by_node_matches_the_hand_derivation_and_backward():
    g = lecture_neuron()
    g['o'].grad = 1.0
    for name in ['o', 'n', 'x1w1x2w2', 'x1w1', 'x2w2', 'b', 'x1', 'x2', 'w1', 'w2']:
        g[name]._backward()  # the lecture calls it on each node, leaves included (a no-op there)
    expected = hand_gradients()
    for name, value in expected.items():
        assert g[name].grad == pytest.approx(value, rel=1e-12, abs=1e-15), name
    assert expected['n'] == pytest.approx(0.5, rel=1e-9)  # the lecture's 0.5: b was chosen for it

    automatic = lecture_neuron()
    automatic['o'].backward()
    for name in expected:
        assert g[name].grad == automatic[name].grad, name


def test_backward_called_twice_by_hand_accumulates_as_in_micrograd():
    g = lecture_neuron()
    g['o'].grad = 1.0
    g['o']._backward()
    g['o']._backward()
    assert g['n'].grad == pytest.approx(2 * hand_gradients()['n'], rel=1e-12)


def test_a_plus_a_accumulates_both_uses():
    a = Value(3.0, label='a')
    b = a + a
    b.backward()
    assert a.grad == 2.0


def micrograd_tanh(self: Value) -> Value:
    """The lecture's own tanh, written in micrograd's style: a node with its own _backward closure."""
    x = self.data
    t = (math.exp(2 * x) - 1) / (math.exp(2 * x) + 1)
    out = Value(t, (self,), 'tanh')

    def _backward():
        self.grad += (1 - t ** 2) * out.grad
    out._backward = _backward
    return out


def test_an_op_with_its_own_backward_closure_is_called_by_backward():
    x1, w1, b = Value(2.0), Value(-3.0), Value(B)
    o = micrograd_tanh(x1 * w1 + b)
    o.backward()
    reference_x1, reference_w1, reference_b = Value(2.0), Value(-3.0), Value(B)
    (reference_x1 * reference_w1 + reference_b).tanh().backward()
    assert x1.grad == pytest.approx(reference_x1.grad, rel=1e-12)
    assert w1.grad == pytest.approx(reference_w1.grad, rel=1e-12)
    assert b.grad == pytest.approx(reference_b.grad, rel=1e-12)


def weighted_sum3(a: Value, b: Value, c: Value) -> Value:
    """A micrograd-style op with three children: 2a + 3b - c."""
    out = Value(2 * a.data + 3 * b.data - c.data, (a, b, c), 'wsum3')

    def _backward():
        a.grad += 2 * out.grad
        b.grad += 3 * out.grad
        c.grad += -1 * out.grad
    out._backward = _backward
    return out


def test_a_three_child_closure_op_matches_the_same_function_built_from_engine_ops():
    x = Value(0.7)
    y = Value(-1.2)
    out = weighted_sum3(x * y, y.exp(), x.tanh()) * x
    out.backward()
    x2, y2 = Value(0.7), Value(-1.2)
    reference = (2 * (x2 * y2) + 3 * y2.exp() - x2.tanh()) * x2
    reference.backward()
    assert out.data == pytest.approx(reference.data, rel=1e-14)
    assert x.grad == pytest.approx(x2.grad, rel=1e-13)
    assert y.grad == pytest.approx(y2.grad, rel=1e-13)
    assert len(out._prev[0]._prev) == 3


def test_a_node_built_micrograds_way_without_a_closure_uses_the_rule_table():
    x = Value(3.0)
    y = Value(9.0, (x, x), '*')  # hand-built x * x
    y.backward()
    assert x.grad == 6.0


def test_nodes_and_parameters_take_new_attributes():
    model = MLP(2, [3, 1], seed=0)
    out = model([1.0, -1.0])
    out._vis_color = 'lightblue'  # EurekaLabsAI/micrograd's drawing helper does this
    assert out._vis_color == 'lightblue'
    for p in model.parameters():
        assert isinstance(p, Parameter)
        p.m, p.v = 0.0, 0.0  # AdamW state kept on each parameter
    assert all((p.m, p.v) == (0.0, 0.0) for p in model.parameters())


def test_the_engines_own_graphs_still_hold_no_reference_cycles():
    gc.collect()
    x = Value(0.5)
    y = x
    for _ in range(1000):
        y = (y * 1.0001 + 0.001).tanh()
    y.backward()
    y._backward()
    del x, y
    assert gc.collect() == 0
