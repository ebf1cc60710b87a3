"""`Value`: construction, operators, representation and clear errors (the API contract)."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import pytest

from autodiff import Value


@pytest.mark.parametrize('given, stored', [(3, 3.0), (True, 1.0), (2.5, 2.5), (Fraction(1, 4), 0.25)])
def test_real_numbers_are_stored_as_float(given, stored):
    v = Value(given)
    assert type(v.data) is float and v.data == stored
    assert v.grad == 0.0 and v.label == '' and v._op == '' and v._prev == ()


def test_numpy_scalars_are_accepted_as_real_numbers():
    np = pytest.importorskip('numpy')
    assert Value(np.float32(0.5)).data == 0.5
    assert type(Value(np.int64(7)).data) is float


@pytest.mark.parametrize('bad', ['1.0', None, 1 + 2j, [1.0], {'x': 1}])
def test_anything_but_a_real_number_is_rejected_by_name(bad):
    with pytest.raises(TypeError, match=re.escape(f"real number, got {bad!r}")):
        Value(bad)


@pytest.mark.parametrize('bad', ['a', None, 1j])
def test_operators_reject_non_numbers_with_a_named_type_error(bad):
    with pytest.raises(TypeError, match='real number'):
        Value(1.0) + bad
    with pytest.raises(TypeError, match='real number'):
        Value(1.0) * bad


def test_values_hash_and_compare_by_identity():
    a, b = Value(1.0), Value(1.0)
    assert a != b and a == a
    assert len({a, b, a}) == 2
    assert {a: 'a', b: 'b'}[b] == 'b'


def test_float_item_and_format_read_the_data():
    v = Value(2.25, label='w')
    assert float(v) == 2.25 and v.item() == 2.25
    assert f"{v:.1f}" == '2.2' and f"{v}" == repr(v)


def test_repr_is_micrographs_and_shows_the_label_when_set():
    assert repr(Value(2.0)) == 'Value(data=2.0, grad=0.0)'
    assert repr(Value(-1.5, label='x')) == "Value(data=-1.5, grad=0.0, label='x')"


@pytest.mark.parametrize('expression, expected, op', [
    (lambda a, b: a + b, 5.0, '+'),
    (lambda a, b: a - b, -1.0, '-'),
    (lambda a, b: a * b, 6.0, '*'),
    (lambda a, b: a / b, 2 / 3, '/'),
    (lambda a, b: a ** b, 8.0, 'pow'),
    (lambda a, b: a.max(b), 3.0, 'max'),
    (lambda a, b: a.min(b), 2.0, 'min'),
])
def test_binary_operations_record_their_inputs_in_order(expression, expected, op):
    a, b = Value(2.0), Value(3.0)
    out = expression(a, b)
    assert out.data == pytest.approx(expected, rel=1e-15)
    assert out._op == op and out._prev == (a, b)


@pytest.mark.parametrize('expression, expected', [
    (lambda a: 1 + a, 3.0), (lambda a: 1 - a, -1.0), (lambda a: 3 * a, 6.0),
    (lambda a: 1 / a, 0.5), (lambda a: 3 ** a, 9.0), (lambda a: a ** 3, 8.0),
    (lambda a: a + 1, 3.0), (lambda a: a - 1, 1.0), (lambda a: a * 3, 6.0), (lambda a: a / 4, 0.5),
])
def test_a_plain_number_works_on_either_side(expression, expected):
    a = Value(2.0)
    out = expression(a)
    assert out.data == expected
    assert a in out._prev
    constant = next(v for v in out._prev if v is not a)
    assert constant._op == '' and constant._prev == ()


def test_constant_exponent_is_a_constant_of_the_operation():
    x = Value(-2.0)
    y = x ** 2
    assert y._op == '**' and y._prev[0] is x and y._prev[1].data == 2.0
    y.backward()
    assert x.grad == -4.0 and y._prev[1].grad == 0.0  # no log of a negative base was needed


def test_in_place_operators_rebind_to_a_new_node_like_micrograd():
    a = Value(1.0)
    original = a
    a += 2
    a *= 3
    assert a.data == 9.0 and a is not original and original.data == 1.0


def test_unary_operators():
    a = Value(-2.0)
    assert (-a).data == 2.0 and (-a)._op == 'neg'
    assert abs(a).data == 2.0 and a.abs().data == 2.0
    assert +a is a


@pytest.mark.parametrize('expression, exception, words', [
    (lambda: Value(-1.0, label='x').log(), ValueError, 'log of -1.0'),
    (lambda: Value(0.0).log(), ValueError, 'log of 0.0'),
    (lambda: Value(-4.0).sqrt(), ValueError, 'sqrt of -4.0'),
    (lambda: Value(-1.0).log1p(), ValueError, 'log1p of -1.0'),
    (lambda: Value(3.0) / 0, ZeroDivisionError, 'division by zero: 3.0 / 0.0'),
    (lambda: 3.0 / Value(0.0), ZeroDivisionError, 'division by zero: 3.0 / 0.0'),
    (lambda: Value(0.0) ** -1, ZeroDivisionError, r'0 \*\* -1.0'),
    (lambda: Value(0.0) ** Value(-2.0), ZeroDivisionError, r'0 \*\* -2.0'),
    (lambda: Value(-8.0) ** (1 / 3), ValueError, 'not a real number'),
])
def test_undefined_points_raise_an_error_naming_the_operation_and_operand(expression, exception, words):
    with pytest.raises(exception, match=words):
        expression()


def test_sigmoid_and_tanh_are_safe_at_extremes():
    assert Value(-1000.0).sigmoid().data == 0.0
    assert Value(1000.0).sigmoid().data == 1.0
    assert Value(1000.0).tanh().data == 1.0
    assert Value(-1000.0).tanh().data == -1.0
    assert Value(-745.0).sigmoid().data == pytest.approx(math.exp(-745.0), rel=1e-6)


def test_softplus_is_exact_where_the_textbook_formula_overflows():
    assert Value(1000.0).softplus().data == 1000.0
    assert Value(-1000.0).softplus().data == 0.0
    assert Value(0.0).softplus().data == math.log(2.0)


def test_overflow_gives_infinity_instead_of_an_exception():
    assert Value(1000.0).exp().data == math.inf
    assert (Value(10.0) ** 400).data == math.inf
    assert (Value(-10.0) ** 401).data == -math.inf


def test_log1p_keeps_precision_for_tiny_arguments():
    assert Value(1e-20).log1p().data == 1e-20


def test_micrograd_style_manual_nodes_are_differentiated_by_their_op_name():
    a, b = Value(2.0), Value(5.0)
    c = Value(10.0, (a, b), '*')
    c.backward()
    assert (a.grad, b.grad) == (5.0, 2.0)


def test_detach_cuts_the_graph():
    x = Value(3.0)
    y = (x * x).detach() * x
    y.backward()
    assert x.grad == 9.0  # only the last factor is differentiated


def test_a_node_built_micrograds_way_keeps_any_number_of_inputs():
    a, b, c = Value(1.0), Value(2.0), Value(3.0)
    assert Value(6.0, (a, b, c), 'sum3')._prev == (a, b, c)
    assert Value(3.0, (a, b), '+')._prev == (a, b)
    assert Value(-1.0, (a,), 'neg')._prev == (a,)
    assert Value(1.0, (), '')._prev == ()


def test_the_operators_value_writes_inline_are_the_rule_tables_forward_functions():
    import operator

    from autodiff import RULES

    assert RULES['+'].forward is operator.add
    assert RULES['-'].forward is operator.sub
    assert RULES['*'].forward is operator.mul


def test_weighted_sum_builds_the_nodes_and_floats_of_the_operator_loop():
    from autodiff import no_grad
    from autodiff.value import weighted_sum

    def loop(bias, weights, inputs):
        act = bias
        for w, x in zip(weights, inputs):
            act = act + w * x
        return act

    def shape(node):
        if node._a is None:
            return node.data.hex()
        return (node._op, node.data.hex(), *[shape(p) for p in node._prev])

    weights = [Value(0.1 * k - 0.3) for k in range(7)]
    inputs = [Value(1.7 - k) if k % 2 else 0.3 * k for k in range(7)]
    bias = Value(0.05)
    fast, slow = weighted_sum(bias, weights, inputs), loop(bias, weights, inputs)
    assert shape(fast) == shape(slow)
    fast.backward()
    grads = [w.grad for w in weights]
    for w in weights:
        w.grad = 0.0
    slow.backward()
    assert [w.grad for w in weights] == grads
    with no_grad():  # the operators' own switches apply
        assert weighted_sum(bias, weights, inputs)._prev == ()
    with pytest.raises(TypeError, match='real number'):
        weighted_sum(bias, weights, ['x'])
