"""`grad`, `value_and_grad` and `gradcheck`: functions in, functions out."""

from __future__ import annotations

import math

import pytest

from autodiff import Value, grad, gradcheck, no_grad, value_and_grad


def test_grad_of_a_cubic_and_its_higher_derivatives():
    f = lambda x: x ** 3
    assert grad(f)(2.0) == 12.0
    assert grad(grad(f))(2.0) == 12.0
    assert grad(grad(grad(f)))(2.0) == 6.0
    assert grad(grad(grad(grad(f))))(2.0) == 0.0


def test_second_derivative_of_sine_is_minus_sine():
    assert grad(grad(lambda x: x.sin()))(1.3) == pytest.approx(-math.sin(1.3), rel=1e-15)


def test_returned_values_are_floats_for_plain_numbers():
    value, slope = value_and_grad(lambda x: x.exp())(0.0)
    assert (type(value), type(slope)) == (float, float)
    assert (value, slope) == (1.0, 1.0)


def test_argnums_selects_arguments_and_a_tuple_gives_a_tuple():
    f = lambda x, y, z: x * y + z ** 2
    assert grad(f, argnums=1)(2.0, 3.0, 4.0) == 2.0
    assert grad(f, argnums=(0, 2))(2.0, 3.0, 4.0) == (3.0, 8.0)
    assert grad(f, argnums=-1)(2.0, 3.0, 4.0) == 8.0


def test_keyword_arguments_are_passed_through_undifferentiated():
    f = lambda x, *, scale: scale * x * x
    assert grad(f)(3.0, scale=2.0) == 12.0


def test_grad_inside_no_grad_still_differentiates():
    with no_grad():
        assert grad(lambda x: x * x)(3.0) == 6.0


def test_a_constant_function_has_zero_gradient():
    assert value_and_grad(lambda x: 5.0)(1.0) == (5.0, 0.0)


def test_nested_grad_does_not_confuse_the_outer_variable():
    # d/dx [ d/dy (x * y) at y = x ] = d/dx [x] = 1.  Reading the outer x's
    # gradient instead of the inner argument's would give 2.
    f = lambda x: grad(lambda y: x * y)(x)
    assert grad(f)(2.0) == 1.0


def test_inner_grad_over_a_closure_keeps_the_outer_dependence():
    # d/dx [ d/dy (x * y) ] = d/dx [x] = 1, even though y is a plain number.
    assert grad(lambda x: grad(lambda y: x * y)(1.0))(2.0) == 1.0


def test_called_with_values_it_returns_differentiable_values():
    x = Value(3.0)
    slope = grad(lambda t: t * t * t)(x)
    assert isinstance(slope, Value) and slope.data == 27.0
    slope.backward()
    assert x.grad == 18.0


@pytest.mark.parametrize('argnums, error', [
    (3, IndexError), ((0, 0), ValueError), ('x', TypeError), ((), TypeError), (True, TypeError),
])
def test_bad_argnums_are_rejected_clearly(argnums, error):
    with pytest.raises(error):
        grad(lambda x, y: x * y, argnums=argnums)(1.0, 2.0)


def test_a_function_returning_a_non_scalar_is_rejected():
    with pytest.raises(TypeError, match='must return a scalar'):
        grad(lambda x: [x, x])(1.0)


def test_a_non_numeric_argument_is_rejected():
    with pytest.raises(TypeError, match="argument 0 must be a real number"):
        grad(lambda x: x)('1.0')


def test_gradcheck_passes_for_correct_derivatives():
    assert gradcheck(lambda x, y: (x * y).tanh() + x.sigmoid() * y.exp(), 0.3, -0.7) is True
    assert gradcheck(lambda x: x.log() / x.sqrt(), 2.0) is True


def test_gradcheck_reports_each_input_when_a_derivative_is_wrong():
    # A manual node claiming to be '*' but computing a + b: its recorded
    # derivative (the '*' rule) disagrees with what the function computes.
    def wrong(a, b):
        return Value(a.data + b.data, (a, b), '*')

    with pytest.raises(AssertionError) as failure:
        gradcheck(wrong, 2.0, 5.0)
    report = str(failure.value)
    assert 'input 0 = 2.0: analytic 5.0' in report and 'MISMATCH' in report
    assert 'input 1 = 5.0: analytic 2.0' in report


def test_gradcheck_rejects_bad_settings():
    with pytest.raises(ValueError, match='eps must be positive'):
        gradcheck(lambda x: x, 1.0, eps=0.0)
    with pytest.raises(ValueError, match='at least one argument'):
        gradcheck(lambda: Value(1.0))


# ----------------------------------------------------------------------
# gradcheck keeps its finite-difference points inside f's domain
# ----------------------------------------------------------------------


@pytest.mark.parametrize('f, x, exact', [
    (lambda x: x.sqrt(), 1e-7, 0.5 / math.sqrt(1e-7)),     # x - 1e-6 < 0: sqrt is undefined there
    (lambda x: x.log(), 1e-7, 1e7),
    (lambda x: x.log1p(), -1 + 1e-8, 1 / (1 + (-1 + 1e-8))),  # log1p is defined above -1
])
def test_gradcheck_near_the_edge_of_the_domain_passes_with_a_smaller_step(f, x, exact):
    assert grad(f)(x) == pytest.approx(exact, rel=1e-9)   # the analytic slope it compares against
    assert gradcheck(f, x) is True


def test_gradcheck_near_the_edge_still_catches_a_wrong_gradient():
    # The second term is hidden from the engine (a constant built from x.data): its slope 1e4 is missing.
    with pytest.raises(AssertionError) as error:
        gradcheck(lambda x: x.sqrt() + Value(1e4 * x.data), 1e-7)
    report = str(error.value)
    assert "to stay inside f's domain" in report and 'MISMATCH' in report


def test_gradcheck_on_the_edge_uses_a_one_sided_difference_and_says_so():
    # x ** 1.5 at 0: the slope is 0; x - eps is outside (a negative base), so only x, x+eps, x+2eps are used.
    with pytest.raises(AssertionError) as error:
        gradcheck(lambda x: x ** 1.5, 0.0)  # the one-sided estimate, ≈ 0.59 · sqrt(eps), exceeds atol
    report = str(error.value)
    assert "one-sided forward: x - eps is outside f's domain" in report
    eps = 1e-6
    numeric = (-3 * 0.0 + 4 * eps ** 1.5 - (2 * eps) ** 1.5) / (2 * eps)
    assert f"numeric {numeric!r}" in report
    assert gradcheck(lambda x: x ** 1.5, 0.0, atol=1e-3) is True


def test_gradcheck_says_in_one_line_when_no_difference_can_be_taken():
    # Defined at 0 only: sqrt(x) + sqrt(-x), written with powers so that the analytic pass runs (nan).
    with pytest.raises(ValueError, match='not defined on either side of input 0 = 0.0') as error:
        gradcheck(lambda x: x ** 0.5 + (-x) ** 0.5, 0.0)
    assert '\n' not in str(error.value)
