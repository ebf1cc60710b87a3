"""`Value.backward`: the chain rule over whole graphs, as the notes and micrograd work it."""

from __future__ import annotations

import gc
import math
import random

import pytest

from autodiff import Value, gradients, topological_order
from autodiff.graph import operations_in_order


def test_the_notes_worked_example():
    # The lecture notes' example: x=1, y=3, z=-3; p = x + y; g = p * z.
    # (The notes print g = 12; 4 * -3 is -12.)
    x, y, z = Value(1.0, label='x'), Value(3.0, label='y'), Value(-3.0, label='z')
    p = x + y
    g = p * z
    g.backward()
    assert g.data == -12.0
    assert p.grad == -3.0  # dg/dp = z
    assert z.grad == 4.0  # dg/dz = p
    assert x.grad == -3.0 and y.grad == -3.0  # dg/dp * dp/dx, dg/dp * dp/dy


@pytest.mark.parametrize('x, w, b, y', [(0.5, -1.2, 0.3, 1.0), (2.0, 0.7, -0.1, 0.0), (-1.5, 0.2, 0.9, 1.0)])
def test_the_notes_logistic_regression_backward_path(x, w, b, y):
    wv, bv = Value(w), Value(b)
    z = wv * x + bv
    a = z.sigmoid()
    loss = -(y * a.log() + (1 - y) * (1 - a).log())
    loss.backward()
    a_value = 1 / (1 + math.exp(-(w * x + b)))
    assert z.grad == pytest.approx(a_value - y, rel=1e-12)  # dz = a - y
    assert wv.grad == pytest.approx(x * (a_value - y), rel=1e-12)  # dw = x * dz
    assert bv.grad == pytest.approx(a_value - y, rel=1e-12)  # db = dz
    da = -y / a_value + (1 - y) / (1 - a_value)
    assert a.grad == pytest.approx(da, rel=1e-12)


def test_micrographs_readme_example():
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b ** 3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    assert g.data == pytest.approx(24.7041, abs=5e-5)
    assert a.grad == pytest.approx(138.8338, abs=5e-5)
    assert b.grad == pytest.approx(645.5773, abs=5e-5)


def test_micrographs_readme_example_matches_pytorch_to_the_last_bits():
    torch = pytest.importorskip('torch')

    def run(make):
        a, b = make(-4.0), make(2.0)
        c = a + b
        d = a * b + b ** 3
        c = c + c + 1
        c = c + 1 + c + (-a)
        d = d + d * 2 + (b + a).relu()
        d = d + 3 * d + (b - a).relu()
        e = c - d
        f = e ** 2
        g = f / 2.0
        g = g + 10.0 / f
        g.backward()
        return a, b, g

    a, b, g = run(Value)
    ta, tb, tg = run(lambda x: torch.tensor(x, dtype=torch.float64, requires_grad=True))
    assert g.data == pytest.approx(tg.item(), rel=1e-14)
    assert a.grad == pytest.approx(ta.grad.item(), rel=1e-14)
    assert b.grad == pytest.approx(tb.grad.item(), rel=1e-14)


def test_leaves_accumulate_across_calls_but_non_leaves_show_the_latest_pass():
    # micrograd double-counts the non-leaf here (its issue #53).
    x = Value(3.0)
    h = x * x
    y = h * 2
    y.backward()
    y.backward()
    assert x.grad == 2 * (2 * 2 * 3.0)
    assert h.grad == 2.0
    assert y.grad == 1.0


def test_backward_seeds_the_given_gradient():
    x = Value(2.0)
    (x * 5).backward(gradient=0.5)
    assert x.grad == 2.5


def test_backward_on_a_leaf_accumulates_into_the_leaf():
    x = Value(2.0)
    x.backward()
    x.backward(3.0)
    assert x.grad == 4.0


def test_a_node_used_twice_sums_both_paths():
    # A diamond: x feeds a and b, which meet again in y.
    x = Value(0.7)
    a = x.sin()
    b = x.exp()
    y = a * b
    y.backward()
    expected = math.cos(0.7) * math.exp(0.7) + math.sin(0.7) * math.exp(0.7)
    assert x.grad == pytest.approx(expected, rel=1e-15)


def test_same_value_on_both_sides_of_an_operation():
    x = Value(3.0)
    (x * x).backward()
    assert x.grad == 6.0
    z = Value(3.0)
    (z + z + z).backward()
    assert z.grad == 3.0


def test_a_chain_a_million_nodes_deep_needs_no_recursion():
    x = Value(0.5)
    y = x
    for _ in range(1_000_000):
        y = y * 1.0
    y = y + 0.0
    y.backward()
    assert x.grad == 1.0


def test_topological_order_places_every_node_after_its_inputs():
    rng = random.Random(7)
    leaves = [Value(rng.uniform(-1, 1)) for _ in range(5)]
    nodes = list(leaves)
    for _ in range(200):
        a, b = rng.choice(nodes), rng.choice(nodes)
        nodes.append(a * b if rng.random() < 0.5 else a + b.tanh())
    order = topological_order(nodes[-1])
    position = {node: i for i, node in enumerate(order)}
    assert len(position) == len(order)  # each node once
    for node in order:
        assert all(position[parent] < position[node] for parent in node._prev)


def test_a_dropped_graph_is_freed_by_reference_counting_alone():
    gc.collect()
    gc.disable()
    try:
        x = Value(1.0)
        y = x
        for _ in range(1000):
            y = (y * 1.001).tanh() + x
        y.backward()
        del y
        # No reference cycles: the cyclic collector finds nothing to free.
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_second_derivative_with_create_graph():
    x = Value(2.0)
    y = x ** 3
    y.backward(create_graph=True)
    first = x.grad
    assert isinstance(first, Value) and first.data == 12.0  # 3x²
    x.grad = 0.0
    first.backward(create_graph=True)
    second = x.grad
    assert second.data == 12.0  # 6x
    x.grad = 0.0
    second.backward()
    assert x.grad == 6.0  # third derivative


def test_second_derivative_of_sine_is_minus_sine():
    x = Value(0.8)
    (dx,) = gradients(x.sin(), [x], create_graph=True)
    (ddx,) = gradients(dx, [x])
    assert dx.data == pytest.approx(math.cos(0.8), rel=1e-15)
    assert ddx == pytest.approx(-math.sin(0.8), rel=1e-15)


def test_create_graph_gives_values_even_for_constant_gradients():
    x, y = Value(1.0), Value(2.0)
    (x + y).backward(create_graph=True)
    assert isinstance(x.grad, Value) and x.grad.data == 1.0


def test_gradients_leaves_grad_fields_untouched_and_reports_zero_for_unused_inputs():
    x, y, unused = Value(2.0), Value(3.0), Value(4.0)
    x.grad = 7.0
    assert gradients(x * y, [x, y, unused]) == [3.0, 2.0, 0.0]
    assert (x.grad, y.grad, unused.grad) == (7.0, 0.0, 0.0)


def test_gradients_of_a_plain_number_are_zero():
    assert gradients(3.0, [Value(1.0)]) == [0.0]


def test_backward_through_an_undefined_derivative_names_the_operation():
    x = Value(0.0, label='x')
    y = x.sqrt()
    with pytest.raises(ZeroDivisionError, match=r"backward through sqrt\(x=0.0\)"):
        y.backward()


def test_backward_through_an_unknown_operation_says_so():
    x = Value(1.0)
    y = Value(2.0, (x,), 'mystery')
    with pytest.raises(KeyError, match="no derivative rule for operation 'mystery'"):
        y.backward()


def test_backward_rejects_a_non_numeric_seed():
    with pytest.raises(TypeError, match='gradient must be a number'):
        (Value(1.0) * 2).backward(gradient='one')


def _random_graph(seed: int) -> Value:
    rng = random.Random(seed)
    nodes = [Value(rng.uniform(-1, 1)) for _ in range(5)]
    for _ in range(200):
        a, b = rng.choice(nodes), rng.choice(nodes)
        nodes.append(a * b if rng.random() < 0.5 else a + b.tanh())
    return nodes[-1]


@pytest.mark.parametrize('seed', range(5))
def test_the_backward_pass_order_is_the_topological_order_without_leaves(seed):
    # The same order, so every gradient is summed in the same order, to the last bit.
    root = _random_graph(seed)
    expected = [node for node in topological_order(root) if node._a is not None]
    entered, placed = float(0), float(0)
    order = operations_in_order(root, entered, placed)
    assert len(order) == len(expected) and all(a is b for a, b in zip(order, expected))
    assert all(node.grad is placed for node in order)  # marked, and each a reset 0.0
    # The marks of one search never mislead the next.
    again = operations_in_order(root, float(0), float(0))
    assert len(again) == len(order) and all(a is b for a, b in zip(again, order))


def test_the_order_of_nodes_built_micrograds_way_keeps_their_inputs_order():
    x, y = Value(1.0), Value(2.0)
    s, p = x + y, x * y
    both = Value(s.data + p.data, (p, s), '+')
    expected = [node for node in topological_order(both) if node._a is not None]
    assert operations_in_order(both, float(0), float(0)) == expected


def test_a_first_contribution_is_stored_as_is_and_sums_share_the_upstream_float():
    leaves = [Value(float(i)) for i in range(4)]
    total = (leaves[0] * leaves[1] + leaves[2]) + leaves[3]
    seed = 0.5 + 0.25  # a float object made here
    total.backward(seed)
    assert total._a.grad is seed and total._a._a.grad is seed  # no 0.0 + c, no c * 1.0
    assert [v.grad for v in leaves] == [0.75, 0.0, 0.75, 0.75]


def test_a_negative_zero_first_contribution_becomes_positive_zero_as_0_plus_c_does():
    x = Value(2.0)
    h = x * 3.0
    y = h + 1.0
    y.backward(-0.0)
    assert math.copysign(1.0, h.grad) == 1.0 and math.copysign(1.0, x.grad) == 1.0
    assert math.copysign(1.0, y.grad) == -1.0  # the root keeps its seed
    nan = Value(float('nan'))
    z = nan * 1.0 + 0.0
    z.backward(float('nan'))
    assert math.isnan(z._a.grad) and math.isnan(nan.grad)


def test_a_node_no_contribution_reaches_ends_with_a_zero_gradient():
    x = Value(2.0)
    h = x * 3.0
    y = Value(h.data, (h,), 'custom')
    y._backward = lambda: None  # passes nothing on
    y.backward()
    assert h.grad == 0.0 and type(h.grad) is float and x.grad == 0.0


def test_a_micrograd_style_backward_adds_into_reset_gradients():
    x = Value(3.0)
    h = x * x
    y = Value(2 * h.data, (h,), 'double')

    def double_backward():
        h.grad += 2 * y.grad
    y._backward = double_backward
    y.backward()
    y.backward()  # non-leaves show the latest pass, leaves accumulate
    assert h.grad == 2.0 and x.grad == 24.0
