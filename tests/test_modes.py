"""`no_grad`, `enable_grad` and anomaly detection."""

from __future__ import annotations

import math

import pytest

from autodiff import (
    AnomalyError,
    Value,
    detect_anomaly,
    enable_grad,
    gc_paused,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
)


def test_no_grad_records_no_graph_and_restores_recording():
    x = Value(2.0)
    with no_grad():
        assert not is_grad_enabled()
        y = x * x + 1
    assert y.data == 5.0 and y._prev == () and y._op == ''
    assert is_grad_enabled()
    assert (x * x)._prev == (x, x)


def test_no_grad_restores_recording_after_an_exception():
    with pytest.raises(ValueError):
        with no_grad():
            Value(-1.0).log()
    assert is_grad_enabled()


def test_enable_grad_inside_no_grad_records_again():
    x = Value(2.0)
    with no_grad():
        with enable_grad():
            y = x * 3
        z = x * 3
    assert y._prev == (x, y._prev[1]) and z._prev == ()


def test_anomaly_mode_names_the_operation_and_inputs_of_a_nan_or_inf_forward():
    x = Value(1000.0, label='x')
    with detect_anomaly():
        assert is_anomaly_enabled()
        with pytest.raises(AnomalyError, match=r"exp produced inf in the forward pass; inputs: x=1000.0"):
            x.exp()
        with pytest.raises(AnomalyError, match=r"\* produced nan"):
            Value(math.inf, label='big') * 0.0
    assert not is_anomaly_enabled()


def test_anomaly_mode_catches_the_first_non_finite_gradient():
    # Every forward value is finite (sqrt(1e-320) = 1e-160, times 1e300 is 1e140),
    # but the slope at x, 1e300 * 0.5 / 1e-160, overflows to inf.
    x = Value(1e-320, label='x')
    with detect_anomaly():
        z = x.sqrt() * 1e300
        expected = r"sqrt produced a gradient of inf for 'x' in the backward pass"
        with pytest.raises(AnomalyError, match=expected):
            z.backward()


def test_without_anomaly_mode_the_same_gradient_is_inf():
    x = Value(1e-320, label='x')
    (x.sqrt() * 1e300).backward()
    assert x.grad == math.inf


def test_gc_paused_restores_the_collector_even_after_an_error():
    import gc

    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        with gc_paused():
            assert not gc.isenabled()
            raise RuntimeError
    assert gc.isenabled()


def test_gc_paused_leaves_an_already_disabled_collector_disabled():
    import gc

    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
