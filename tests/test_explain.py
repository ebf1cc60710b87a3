"""The chain-rule explainer: the notes' example exactly, accumulation, and random graphs."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autodiff import Value
from autodiff.pictures.explainer import explain, name_nodes
from autodiff.rules import RULES, defrule
from tests.graphs import notes_example


def test_the_notes_example_exactly():
    g, x, y, z, p = notes_example()
    e = explain(g)
    assert [(s.name, s.value) for s in e.forward] == [('x', 1.0), ('y', 3.0), ('p', 4.0), ('z', -3.0),
                                                      ('g', -12.0)]
    assert e.forward[-1].text() == 'g = p * z = 4 * (-3) = -12'  # the notes' slip: 4·(−3) is −12
    assert e.forward[2].text() == 'p = x + y = 1 + 3 = 4'
    rows = [(s.gradient, s.upstream_name, s.upstream, s.local_name, s.local_formula, s.local, s.contribution)
            for s in e.steps]
    assert rows == [
        ('∂g/∂p', '∂g/∂g', 1.0, '∂g/∂p', 'z', -3.0, -3.0),
        ('∂g/∂z', '∂g/∂g', 1.0, '∂g/∂z', 'p', 4.0, 4.0),   # ∂g/∂z = p = 4
        ('∂g/∂x', '∂g/∂p', -3.0, '∂p/∂x', '1', 1.0, -3.0),
        ('∂g/∂y', '∂g/∂p', -3.0, '∂p/∂y', '1', 1.0, -3.0),
    ]
    assert [s.text() for s in e.steps] == [
        '∂g/∂p = ∂g/∂g · ∂g/∂p = 1 · z = 1 · (-3) = -3',
        '∂g/∂z = ∂g/∂g · ∂g/∂z = 1 · p = 1 · 4 = 4',
        '∂g/∂x = ∂g/∂p · ∂p/∂x = (-3) · 1 = -3',
        '∂g/∂y = ∂g/∂p · ∂p/∂y = (-3) · 1 = -3',
    ]
    assert e.gradients == {'x': -3.0, 'y': -3.0, 'z': 4.0}
    assert e.gradient_of(p) == -3.0 and e.gradient_of('g') == 1.0
    text = e.text()
    assert '∂g/∂g = 1' in text and '∂g/∂z = 4' in text and 'v1' not in text


def test_explaining_changes_no_gradient():
    g, x, y, z, p = notes_example()
    explain(g)
    assert [v.grad for v in (g, x, y, z, p)] == [0.0] * 5
    g.backward()
    explain(g, gradient=2.0)
    assert (x.grad, z.grad) == (-3.0, 4.0)


def test_a_node_used_twice_adds_up_its_shares():
    a = Value(3.0, label='a')
    b = a * a + a  # ∂b/∂a = 2a + 1 = 7
    b.label = 'b'
    e = explain(b)
    shares = [s for s in e.steps if s.input == 'a']
    assert [s.use for s in shares] == [1, 2, 3] and all(s.uses == 3 and s.accumulates for s in shares)
    assert [s.contribution for s in shares] == [1.0, 3.0, 3.0]
    assert shares[-1].total == 7.0 and shares[-1].shares == (1.0, 3.0, 3.0)
    assert shares[-1].text().endswith('(use 3 of 3 of a: ∂b/∂a = 1 + 3 + 3 = 7)')
    assert '∂b/∂a +=' in shares[0].text()
    assert e.gradients == {'a': 7.0}


def test_generated_names_and_symbolic_formulas_from_the_rule_table():
    x = Value(0.5, label='x')
    out = (x ** 3).tanh()
    e = explain(out)
    assert [s.name for s in e.forward] == ['x', 'v1', 'v2']  # the 3 of x ** 3 is a constant, unnamed
    assert e.forward[1].text() == 'v1 = x ** 3 = 0.5 ** 3 = 0.125'
    tanh_step, power_step = e.steps
    assert tanh_step.local_formula == '1 - v2 * v2'
    assert tanh_step.local == pytest.approx(1 - math.tanh(0.125) ** 2)
    assert power_step.local_formula == '3 * x ** 2' and power_step.local == 0.75
    assert '(1 - v2 * v2)' in tanh_step.text()
    assert 'v1, v2: names given to unlabelled values' in e.text()


def test_names_avoid_labels_and_repeat_labels_get_suffixes():
    a, b, c = Value(1.0, label='v1'), Value(2.0, label='a'), Value(3.0, label='a')
    s = a + b + c
    names = name_nodes([a, b, c, s])
    assert list(names.values()) == ['v1', 'a', 'a_2', 'v2']


def test_the_explainer_reads_whatever_the_rule_table_says():
    defrule('cube_for_test', lambda x: x ** 3, lambda m, out, x: (3 * x * x,))
    try:
        x = Value(2.0, label='x')
        y = Value(8.0, _children=(x,), _op='cube_for_test', label='y')
        [step] = explain(y).steps
        assert (step.local_formula, step.local) == ('3 * x * x', 12.0)
    finally:
        del RULES['cube_for_test']


def test_html_and_text_forms():
    g, *_ = notes_example()
    e = explain(g)
    page = e._repr_html_()
    assert page.count('<tr') == 5 + 1 + 5  # forward rows, header, seed + 4 steps
    assert '∂g/∂z = <code>p</code>' in page
    table = e.table().splitlines()
    assert table[0].split() == ['#', 'gradient', 'upstream', 'local', 'derivative', 'product', 'total']
    assert table[2].split() == ['1', '∂g/∂p', '∂g/∂g', '=', '1', '∂g/∂p', '=', 'z', '=', '-3', '-3', '-3']


# ----------------------------------------------------------------------------
# Random graphs: every step's product is upstream × local, the shares add up
# to the engine's own gradients, and those match finite differences.
# ----------------------------------------------------------------------------
UNARY = ['tanh', 'sigmoid', 'exp_small', 'sin', 'cos', 'softplus', 'square', 'neg', 'relu', 'abs']
BINARY = ['+', '-', '*', '/', 'max']


def apply(op, a, b):
    if op == 'exp_small':
        return (a * 0.1).exp()
    if op == 'square':
        return a ** 2
    if op == 'neg':
        return -a
    if op in UNARY:
        return getattr(a, op)()
    if op == '/':
        return a / (b * b + 1.0)
    if op == 'max':
        return a.max(b)
    return {'+': a + b, '-': a - b, '*': a * b}[op]


@st.composite
def graphs(draw):
    n_inputs = draw(st.integers(1, 4))
    values = draw(st.lists(st.floats(-2, 2, allow_nan=False).filter(lambda v: abs(v) > 1e-3),
                           min_size=n_inputs, max_size=n_inputs))
    recipe = draw(st.lists(st.tuples(st.sampled_from(UNARY + BINARY), st.integers(0, 50), st.integers(0, 50)),
                           min_size=1, max_size=12))
    return values, recipe


def build(values, recipe):
    leaves = [Value(v, label=f"x{i}") for i, v in enumerate(values)]
    nodes = list(leaves)
    for op, i, j in recipe:
        nodes.append(apply(op, nodes[i % len(nodes)], nodes[j % len(nodes)]))
    return leaves, nodes[-1]


@settings(max_examples=60, deadline=None)
@given(graphs())
def test_random_graphs_match_the_engine(graph):
    values, recipe = graph
    leaves, out = build(values, recipe)
    e = explain(out)
    for step in e.steps:
        assert step.contribution == step.upstream * step.local
    totals = {}
    for step in e.steps:
        totals[step.input_node] = totals.get(step.input_node, 0.0) + step.contribution
        assert step.total == pytest.approx(totals[step.input_node], rel=1e-12, abs=1e-12)
    out.backward()
    for leaf in leaves:
        assert e.gradient_of(leaf) == pytest.approx(leaf.grad, rel=1e-9, abs=1e-12)


def test_gradients_agree_with_finite_differences():
    def f(a, b, c):
        return ((a * b).tanh() + (c / (a * a + 1.0)).sigmoid() * b - (b * c).sin()) ** 2

    point = [0.7, -1.3, 0.4]
    leaves = [Value(v, label=n) for v, n in zip(point, 'abc')]
    e = explain(f(*leaves))
    h = 1e-6
    for i, name in enumerate('abc'):
        up, down = list(point), list(point)
        up[i] += h
        down[i] -= h
        numeric = (f(*map(Value, up)).data - f(*map(Value, down)).data) / (2 * h)
        assert e.gradients[name] == pytest.approx(numeric, rel=1e-5, abs=1e-7)
