"""Faults the engine must survive: threads, nan and inf, pow at its edges; a fuzz against PyTorch.

Each test pins one item of the reliability issue; the numbers they expect
come from the mathematics (or from PyTorch in float64, where installed),
never from this engine.
"""

from __future__ import annotations

import math
import random
import threading

import pytest

from autodiff import AnomalyError, Value, detect_anomaly, grad, is_grad_enabled, modes, no_grad

NAN, INF = math.nan, math.inf


def same(a: float, b: float) -> bool:
    """Equal floats, nan equal to nan."""
    return (math.isnan(a) and math.isnan(b)) or a == b


# ----------------------------------------------------------------------
# Switches are per thread.
# ----------------------------------------------------------------------

def run_while_another_thread_is_inside(block, work):
    """Run ``work()`` here while a second thread sits inside ``block()``; returns what work returned."""
    inside, done = threading.Event(), threading.Event()

    def other():
        with block():
            inside.set()
            done.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(10)
    try:
        return work()
    finally:
        done.set()
        thread.join(10)


def test_no_grad_in_another_thread_leaves_this_thread_recording():
    def work():
        x = Value(3.0)
        y = x * x
        y.backward()
        return is_grad_enabled(), y._op, x.grad

    assert run_while_another_thread_is_inside(no_grad, work) == (True, '*', 6.0)


def test_overlapping_no_grad_blocks_in_two_threads_restore_recording_everywhere():
    barrier = threading.Barrier(2)
    seen = []

    def worker(delay_first: bool):
        with no_grad():
            barrier.wait(10)
            seen.append(is_grad_enabled())
            if delay_first:
                barrier.wait(10)
        if not delay_first:
            barrier.wait(10)

    threads = [threading.Thread(target=worker, args=(flag,)) for flag in (True, False)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == [False, False]
    assert is_grad_enabled() and modes.fast_path
    assert (Value(2.0) * 3)._op == '*'


def test_detect_anomaly_in_another_thread_does_not_raise_here():
    def work():
        return Value(1000.0).exp().data

    assert run_while_another_thread_is_inside(detect_anomaly, work) == INF


def test_grad_nesting_in_another_thread_does_not_make_this_grad_return_values():
    started, release = threading.Event(), threading.Event()

    def slow(x):
        started.set()
        release.wait(10)
        return x * x

    thread = threading.Thread(target=lambda: grad(slow)(1.0))
    thread.start()
    assert started.wait(10)
    try:
        here = grad(lambda x: x * x * x)(2.0)
    finally:
        release.set()
        thread.join(10)
    assert type(here) is float and here == 12.0


# ----------------------------------------------------------------------
# nan propagates; anomaly mode sees it.
# ----------------------------------------------------------------------

@pytest.mark.parametrize('build', [
    lambda v: v.relu(), lambda v: v.max(1.0), lambda v: Value(1.0).max(v), lambda v: v.min(1.0),
    lambda v: Value(1.0).min(v), lambda v: v.leaky_relu(0.1), lambda v: abs(v), lambda v: v.sigmoid(),
    lambda v: v.softplus(), lambda v: v.tanh(),
], ids=['relu', 'max', 'rmax', 'min', 'rmin', 'leaky_relu', 'abs', 'sigmoid', 'softplus', 'tanh'])
def test_nan_is_never_turned_into_a_number(build):
    assert math.isnan(build(Value(NAN)).data)
    with detect_anomaly(), pytest.raises(AnomalyError, match='produced nan'):
        build(Value(NAN))


def test_the_slope_at_nan_is_nan_not_a_silent_zero():
    x = Value(NAN)
    x.relu().backward()
    assert math.isnan(x.grad)


# ----------------------------------------------------------------------
# Overflow and pow at its edges follow IEEE and PyTorch.
# ----------------------------------------------------------------------

def test_overflow_in_powers_gives_inf_never_overflow_error():
    x = Value(1e200)
    y = x ** 3
    y.backward()
    assert (y.data, x.grad) == (INF, INF)
    e = Value(2000.0)
    z = 2 ** e
    z.backward()
    assert (z.data, e.grad) == (INF, INF)


def test_pow_at_zero_to_the_zero_is_one_with_zero_slopes():
    x, y = Value(0.0), Value(0.0)
    out = x ** y
    out.backward()
    assert (out.data, x.grad, y.grad) == (1.0, 0.0, 0.0)


def test_pow_of_a_negative_base_has_a_finite_base_slope_and_a_nan_exponent_slope():
    x, y = Value(-2.0), Value(2.0)
    out = x ** y
    out.backward()
    assert (out.data, x.grad) == (4.0, -4.0)  # 2 · (-2)
    assert math.isnan(y.grad)  # 4 · log(-2): no real value


def test_a_number_to_a_value_power_never_takes_the_bases_slope():
    y = Value(0.5)
    out = 0.0 ** y  # the base's slope, 0.5 · 0 ** -0.5, would divide by zero
    out.backward()
    assert (out.data, y.grad) == (0.0, 0.0)
    k = Value(3.0)
    (2 ** k).backward()
    assert k.grad == pytest.approx(8 * math.log(2), rel=1e-15)


def test_square_root_power_at_zero_has_an_infinite_slope_and_says_nothing_of_negative_powers():
    x = Value(0.0)
    (x ** 0.5).backward()
    assert x.grad == INF


def test_sqrt_at_zero_names_the_local_derivative_that_is_undefined():
    x = Value(0.0, label='x')
    y = x.sqrt()
    with pytest.raises(ZeroDivisionError, match=r'backward through sqrt\(x=0.0\): the local derivative '
                                                r'∂out/∂x = 0.5 / out is undefined'):
        y.backward()


@pytest.mark.parametrize('method', ['sin', 'cos'])
def test_sine_and_cosine_of_infinity_name_the_operation(method):
    with pytest.raises(ValueError, match=f'{method} of inf'):
        getattr(Value(INF), method)()


def test_arguments_not_differentiated_reach_the_function_as_values():
    def f(x, y):
        return x * y + y.sin()

    assert grad(f)(2.0, 3.0) == 3.0
    assert grad(f, argnums=1)(2.0, 3.0) == pytest.approx(2.0 + math.cos(3.0), rel=1e-15)


# ----------------------------------------------------------------------
# Differential fuzz against PyTorch float64 on random graphs with special values.
# ----------------------------------------------------------------------

SPECIAL = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, INF, -INF, NAN, 3.0]
UNARY = ['relu', 'abs', 'tanh', 'sigmoid', 'exp', 'neg', 'square', 'cube', 'sqrt', 'log', 'sin']
BINARY = ['+', '-', '*', 'max', 'min', 'pow', '/']


def apply_op(op: str, a, b, torch_mode: bool):
    import torch  # only called when torch is installed

    if op == 'relu':
        return torch.relu(a) if torch_mode else a.relu()
    if op == 'abs':
        return torch.abs(a) if torch_mode else abs(a)
    if op in ('tanh', 'sigmoid', 'exp', 'sqrt', 'log', 'sin'):
        return getattr(torch, op)(a) if torch_mode else getattr(a, op)()
    if op == 'neg':
        return -a
    if op == 'square':
        return a ** 2
    if op == 'cube':
        return a ** 3
    if op == 'max':
        return torch.maximum(a, b) if torch_mode else a.max(b)
    if op == 'min':
        return torch.minimum(a, b) if torch_mode else a.min(b)
    return {'+': a + b, '-': a - b, '*': a * b, 'pow': a ** b, '/': a / b}[op]


def random_program(rng: random.Random) -> list[tuple[str, int, int]]:
    """Steps (op, i, j) over a growing list of values that starts with three inputs."""
    steps = []
    for k in range(rng.randint(3, 8)):
        count = 3 + k
        op = rng.choice(UNARY + BINARY)
        steps.append((op, rng.randrange(count), rng.randrange(count)))
    return steps


def evaluate(steps, inputs, torch_mode: bool):
    values = list(inputs)
    for op, i, j in steps:
        values.append(apply_op(op, values[i], values[j], torch_mode))
    return values


def test_random_graphs_agree_with_pytorch_float64_including_special_values():
    torch = pytest.importorskip('torch')
    rng = random.Random(20261201)
    compared = refused = mismatches = 0
    for _ in range(400):
        steps = random_program(rng)
        numbers = [rng.choice(SPECIAL) if rng.random() < 0.4 else round(rng.uniform(-3, 3), 2)
                   for _ in range(3)]
        ours_inputs = [Value(x) for x in numbers]
        try:
            ours = evaluate(steps, ours_inputs, torch_mode=False)
            ours[-1].backward()
        except (ValueError, ZeroDivisionError):  # a domain error is refused by name; torch gives nan/inf
            refused += 1
            continue
        theirs_inputs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in numbers]
        theirs = evaluate(steps, theirs_inputs, torch_mode=True)
        theirs[-1].backward()
        compared += 1
        for mine, reference in zip(ours, theirs):
            if not (same(mine.data, reference.item())
                    or mine.data == pytest.approx(reference.item(), rel=1e-13, abs=1e-300)):
                mismatches += 1
                pytest.fail(f"forward differs for {steps} at {numbers}: {mine.data} vs {reference.item()}")
        # Gradients are compared where every value on the way is finite: at nan and inf PyTorch's
        # subgradients are conventions (relu'(nan) = 1, abs'(nan) = 0), while here they carry the nan on.
        if all(math.isfinite(v.data) for v in ours):
            for x, t in zip(ours_inputs, theirs_inputs):
                expected = 0.0 if t.grad is None else t.grad.item()
                if not (same(x.grad, expected) or x.grad == pytest.approx(expected, rel=1e-9, abs=1e-12)):
                    mismatches += 1
                    pytest.fail(f"gradient differs for {steps} at {numbers}: {x.grad} vs {expected}")
    print(f"fuzz: {compared} graphs compared, {refused} refused by name (domain errors), "
          f"{mismatches} mismatches")
    assert compared >= 150 and mismatches == 0, (compared, refused)
