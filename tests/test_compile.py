"""Compiled mode: generated code must agree with the eager engine, line for line.

The eager engine (Value graphs + backward) is the reference for values and
gradients; central finite differences are an independent second one.
"""

from __future__ import annotations

import functools
import math
import random
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from autodiff import RULES, Value
from autodiff.codegen import TraceMismatchError, compile, compile_batch, trace
from nn import MLP
from tests.operations import OPERATIONS

finite = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False)


def close(a: float, b: float, tol: float = 1e-12) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def eager(fn, *args):
    """Value and gradients of fn at float args, by the eager engine."""
    leaves = [Value(a) for a in args]
    out = fn(*leaves)
    out.backward()
    return out.data, [leaf.grad for leaf in leaves]


def test_the_catalogue_covers_every_rule():
    seen = set()
    for op in OPERATIONS:
        seen |= {s.op for s in trace(op.on_values, (0.7,) * op.arity).steps}
    assert seen == set(RULES)


@pytest.mark.parametrize('op', OPERATIONS, ids=lambda op: op.name)
@given(data=st.data())
def test_each_operation_matches_eager(op, data):
    example = [0.5 + 0.25 * i for i in range(op.arity)]
    if not op.fair(*example):
        example = [1.5] * op.arity
    compiled = compile(op.on_values, example)
    args = data.draw(st.tuples(*[finite] * op.arity))
    if not op.fair(*args):  # move into the domain rather than filter (keeps hypothesis fast)
        args = tuple(abs(a) + 0.5 + 0.25 * i for i, a in enumerate(args))
    assume(op.fair(*args))
    value, grads = compiled(*args)
    expected_value, expected_grads = eager(op.on_values, *args)
    assert close(value, expected_value)
    assert all(close(g, e) for g, e in zip(grads, expected_grads))


# A random program: each line applies an operation to earlier variables.
UNARY = ['neg', 'exp', 'sin', 'cos', 'tanh', 'sigmoid', 'softplus', 'relu', 'leaky_relu', 'abs',
         'log', 'sqrt', 'log1p', 'pow_int', 'pow_negative', 'pow_fraction', 'rpow', 'rdiv', 'rmul', 'rsub']
BINARY = ['add', 'sub', 'mul', 'div', 'pow_values', 'max', 'min']
BY_NAME = {op.name: op for op in OPERATIONS}

program_lines = st.lists(
    st.one_of(st.tuples(st.sampled_from(UNARY), st.integers(0, 50)),
              st.tuples(st.sampled_from(BINARY), st.integers(0, 50), st.integers(0, 50))),
    min_size=1, max_size=25)


def run_program(lines, inputs):
    """Apply the lines to the inputs; the result uses every line (none is dead code)."""
    pool = list(inputs)
    for name, *picks in lines:
        operands = [pool[p % len(pool)] for p in picks]
        pool.append(BY_NAME[name].on_values(*operands))
    return sum(pool[len(inputs):], 0.25 * pool[0])


def outcome(fn, *args):
    """(value, grads) or the type of the error raised."""
    try:
        return fn(*args)
    except (ArithmeticError, ValueError) as error:
        return type(error)


@given(lines=program_lines, example=st.tuples(finite, finite, finite), args=st.tuples(finite, finite, finite))
def test_random_programs_match_eager_or_raise_the_same_error(lines, example, args):
    program = lambda a, b, c: run_program(lines, [a, b, c])  # noqa: E731
    try:
        compiled = compile(program, example)
    except (ArithmeticError, ValueError):
        assume(False)  # the example itself is outside the domain
    expected = outcome(eager, program, *args)
    got = outcome(compiled, *args)
    if isinstance(expected, type):
        # Where the eager forward raises, the compiled forward raises the same error.
        assert got is expected
        return
    # A branch-free program records the same operations everywhere.
    value, grads = got
    expected_value, expected_grads = expected
    if math.isfinite(expected_value) and all(math.isfinite(g) for g in expected_grads):
        assert close(value, expected_value)
        assert all(close(g, e) for g, e in zip(grads, expected_grads))


def test_gradients_equal_finite_differences():
    def f(x, y, z):
        return (x * y).tanh() + (z / (1 + x * x)).exp() - (y ** 2 + 1).log() * z.sigmoid()

    compiled = compile(f, (0.1, 0.2, 0.3))
    rng = random.Random(5)
    for _ in range(10):
        point = [rng.uniform(-2, 2) for _ in range(3)]
        _, grads = compiled(*point)
        for i in range(3):
            h = 1e-6
            up, down = list(point), list(point)
            up[i] += h
            down[i] -= h
            numeric = (f(*map(Value, up)).data - f(*map(Value, down)).data) / (2 * h)
            assert abs(grads[i] - numeric) < 1e-6 * max(1.0, abs(numeric))


def test_source_has_one_line_per_operation_and_per_local_derivative():
    f = compile(lambda x, y: (x * y + y.exp()).relu(), (1.0, 2.0))
    lines = f.source.splitlines()
    forward = [line for line in lines if re.match(r'\s+_v\d+ = ', line)]
    assert [line.split(' = ')[1] for line in forward] == ['_a0 * _a1', 'exp(_a1)', '_v1 + _v2', 'relu(_v3)']
    backward = [line for line in lines if '# ' in line and '_g' in line.split('#')[0]]
    # relu: 1 derivative; +: 2; exp: 1; *: 2
    assert len(backward) == 6
    assert '_gv3 = _gv4 * heaviside(_v3, 0)  # relu: ∂_v4/∂_v3 = heaviside(_v3, 0)' in f.source
    assert f.operations == 4


def test_labels_are_comments_and_constants_are_literals():
    def f(x):
        scale = Value(2.0) * 3  # constant-only arithmetic is folded to 6
        h = x * scale
        h.label = 'hidden'
        return h.tanh()

    compiled = compile(f, (0.5,))
    assert '_v1 = _a0 * 6  # hidden' in compiled.source
    assert compiled(0.5)[0] == math.tanh(3.0)


def test_argnums_chooses_gradients_and_skips_the_rest():
    f = compile(lambda w, x: w * x * x, (2.0, 3.0), argnums=0)
    assert f(2.0, 3.0) == (18.0, 9.0)
    assert '_ga1' not in f.source  # nothing asked for x's gradient
    both = compile(lambda w, x: w * x * x, (2.0, 3.0), argnums=(1, 0))
    assert both(2.0, 3.0) == (18.0, (12.0, 9.0))


def test_list_arguments_and_unused_inputs():
    f = compile(lambda w, b: w[0] * w[1] + b[0], ([1.0, 2.0], [0.0, 5.0]))
    value, (dw, db) = f([3.0, 4.0], [1.0, 7.0])
    assert value == 13.0
    assert dw == [4.0, 3.0] and db == [1.0, 0.0]


def test_values_passed_in_are_the_inputs_themselves():
    random.seed(1)
    model = MLP(2, [3, 1])
    params = model.parameters()
    compiled = compile(lambda ps, x: model(x).tanh(), (params, [0.5, -0.5]), argnums=0)
    data = [p.data * 1.5 for p in params]
    value, grads = compiled(data, [0.3, 0.8])
    for p, d in zip(params, data):
        p.data = d
    out = model([0.3, 0.8]).tanh()
    out.backward()
    assert close(value, out.data)
    assert all(close(g, p.grad) for g, p in zip(grads, params))


def test_domain_errors_raise_in_compiled_code():
    f = compile(lambda x: x.log() + (1 / x), (1.0,))
    with pytest.raises(ValueError, match='log'):
        f(-1.0)
    g = compile(lambda x, y: x / y, (1.0, 1.0))
    with pytest.raises(ZeroDivisionError):
        g(1.0, 0.0)


def test_branching_on_data_is_detected_by_check():
    def f(x):
        return x * 2 if x.data > 0 else x.exp()

    compiled = compile(f, (1.0,), check=True)
    assert compiled(2.0) == (4.0, (2.0,))
    with pytest.raises(TraceMismatchError, match='exp'):
        compiled(-2.0)
    unchecked = compile(f, (1.0,))
    # Without check the trace is simply replayed: the documented hazard.
    assert unchecked(-2.0) == (-4.0, (2.0,))


def test_data_used_as_a_constant_is_detected_by_check():
    compiled = compile(lambda x: x * x.data, (1.0,))
    assert compiled.check(1.0)
    with pytest.raises(TraceMismatchError, match='step 1'):
        compiled.check(3.0)


# --------------------------------------------------------------------------
# Batches: the mean of a per-example function, looped over examples.
# --------------------------------------------------------------------------
def demo_problem(seed=0, n=12):
    rng = random.Random(seed)
    random.seed(seed)
    model = MLP(2, [6, 5, 1])
    X = [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(n)]
    Y = [rng.choice([-1.0, 1.0]) for _ in range(n)]
    return model, X, Y


def eager_demo_loss(model, X, Y):
    params = model.parameters()
    losses = [(1 + -y * model(x)).relu() for x, y in zip(X, Y)]
    total = sum(losses) * (1.0 / len(losses)) + 1e-4 * sum(p * p for p in params)
    model.zero_grad()
    total.backward()
    return total.data, [p.grad for p in params]


def compile_demo(model, X, Y, backend='python'):
    params = model.parameters()
    return compile_batch(lambda ps, x, y: (1 + -y * model(x)).relu(), (params, X[0], Y[0]),
                         batched=(1, 2), penalty=lambda ps: 1e-4 * sum(p * p for p in ps), backend=backend)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_batch_matches_the_eager_whole_batch_graph(seed):
    model, X, Y = demo_problem(seed)
    compiled = compile_demo(model, X, Y)
    data = [p.data for p in model.parameters()]
    value, grads = compiled(data, X, Y)
    expected_value, expected_grads = eager_demo_loss(model, X, Y)
    assert close(value, expected_value)
    assert any(g != 0 for g in grads)
    assert all(close(g, e) for g, e in zip(grads, expected_grads))


def test_batch_hoists_shared_operations_and_sums_their_gradients():
    # w * w depends on the shared argument only: computed once, gradient summed.
    f = compile_batch(lambda w, x: (w * w) * x, (1.0, 1.0), batched=[1])
    assert f.source.index('_v1 = _a0 * _a0') < f.source.index('for _a1 in')
    assert f(3.0, [1.0, 2.0, 6.0]) == (27.0, 18.0)   # mean(9x) and 2w·mean(x)


def test_batch_rejects_bad_batches():
    f = compile_batch(lambda w, x, y: w * x - y, (1.0, 1.0, 1.0), batched=(1, 2))
    with pytest.raises(ValueError, match='examples'):
        f(1.0, [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match='empty'):
        f(1.0, [], [])
    with pytest.raises(ValueError, match='shared'):
        compile_batch(lambda w, x: w * x, (1.0, 1.0), batched=[1], argnums=1)


def test_batch_check_finds_a_branch_in_one_example():
    f = compile_batch(lambda w, x: w * x if x.data > 0 else w - x, (1.0, 1.0), batched=[1], check=True)
    assert f(2.0, [1.0, 3.0]) == (4.0, 2.0)
    with pytest.raises(TraceMismatchError):
        f(2.0, [1.0, -3.0])


def test_operations_that_do_not_reach_the_output_are_not_compiled():
    def f(x):
        unused = (x - 5.0).log()  # noqa: F841 - raises in eager mode for x < 5
        return x * 2

    compiled = compile(f, (6.0,))
    assert 'log' not in compiled.source
    assert compiled(1.0) == (2.0, (2.0,))


def eager_value_and_grads(f, point):
    leaves = [Value(v) for v in point]
    out = f(*leaves)
    out.backward()
    return out.data, tuple(v.grad for v in leaves)


@pytest.mark.parametrize('point', [(0.3, -2.0), (-0.0, 5.0), (math.inf, 1.0), (1e308, 10.0)])
def test_a_product_by_one_is_dropped_when_its_factor_has_no_other_use(point):
    # The mean over a batch of one, loss * (1 / 1), is in every compiled training step.
    def f(x, y):
        return ((x * y) * 1.0).tanh() + 1.0 * (y - 2.0) * x

    program = trace(f, point)
    assert [s.op for s in program.steps] == ['*', 'tanh', '-', '*', '+']
    got, want = compile(f, point)(*point), eager_value_and_grads(f, point)
    assert repr(got) == repr(want)  # bit for bit, signed zeros, inf and nan included


def test_a_product_by_one_stays_when_its_factor_is_used_elsewhere():
    # Dropping it would sum the factor's gradient contributions in another order.
    def f(x, y):
        p = x * y
        return (p * 1.0).tanh() + p.exp()

    assert [s.op for s in trace(f, (0.5, 0.25)).steps] == ['*', '*', 'tanh', 'exp', '+']
    for point in [(0.5, 0.25), (1e-3, 3e3), (-0.7, 0.1)]:
        assert repr(compile(f, point)(*point)) == repr(eager_value_and_grads(f, point))


def test_a_function_that_only_multiplies_an_input_by_one_compiles_to_it():
    assert trace(lambda x: x * 1.0, (2.0,)).output == '_a0'
    assert compile(lambda x: x * 1.0, (2.0,))(-0.0) == (-0.0, (1.0,))


ZERO_SLOPES = [
    (lambda x, y: (x * 0.0).exp() + y, (math.nan, 1.0)),      # nan times the constant 0
    (lambda x, y: (x * y) * 0.0 + y, (math.inf, 1.0)),        # inf · 0 in the product's gradient
    (lambda x, y: x.exp() * 0.0 + y * x, (1000.0, 2.0)),      # 0 · e^1000 = 0 · inf
    (lambda x, y: x ** 0 + y, (0.0, 3.0)),                    # the slope of x ** 0 at 0
    (lambda x, y: x ** 0 * y, (2.0, -3.0)),                   # 0.0 + (-3 · 0) is +0.0
]


@pytest.mark.parametrize('f, point', ZERO_SLOPES)
def test_a_zero_slope_under_a_computed_gradient_gives_eagers_nan_or_zero(f, point):
    # Folding upstream * 0 to 0 would lose the nan an inf or nan upstream makes in the eager engine.
    want = eager_value_and_grads(f, point)
    assert repr(compile(f, point)(*point)) == repr(want)
    for backend in ['python', 'numpy']:
        if backend == 'numpy':
            pytest.importorskip('numpy')
        # x and y shared, a batch of one example of an argument f does not read: the mean is f itself.
        batch = compile_batch(lambda x, y, example: f(x, y), (*point, 0.0), batched=[2], argnums=(0, 1),
                              backend=backend)
        value, grads = batch(*point, [0.0])
        assert repr((float(value), tuple(float(g) for g in grads))) == repr(want)


def test_batch_with_aux_reports_each_examples_outputs():
    # The aux holds the model's output per example (nn.fit counts correct predictions with it),
    # and here also a value the loss never reads (2·score enters the aux only).
    model, X, Y = demo_problem(0, n=7)
    params = model.parameters()
    data = [p.data for p in params]
    with_aux = compile_batch(lambda ps, x, y: ((1 + -y * model(x)).relu(), [model(x), 2.0 * model(x)]),
                             (params, X[0], Y[0]), batched=(1, 2), has_aux=True)
    plain = compile_batch(lambda ps, x, y: (1 + -y * model(x)).relu(), (params, X[0], Y[0]), batched=(1, 2))
    (value, aux), grads = with_aux(data, X, Y)
    assert (value, grads) == plain(data, X, Y)
    assert aux == [[model(x).data, 2.0 * model(x).data] for x in X]
    with pytest.raises(TypeError, match='value, aux'):
        compile_batch(lambda w, x: w * x, (1.0, 1.0), batched=[1], has_aux=True)


def test_batch_check_compares_the_aux_too():
    f = compile_batch(lambda w, x: (w * x, x if x.data > 0 else -x), (1.0, 1.0), batched=[1],
                      has_aux=True, check=True)
    assert f(2.0, [1.0, 3.0]) == ((4.0, [1.0, 3.0]), 2.0)
    with pytest.raises(TraceMismatchError):
        f(2.0, [1.0, -3.0])


# --------------------------------------------------------------------------
# An operation added with defrule works in compiled code with no further code.
# --------------------------------------------------------------------------
# op, forward, partials, an analytic ∂/∂ each input (written independently), sample points
CUSTOM_OPERATIONS = [
    ('cube', lambda x: x ** 3, lambda m, out, x: (3 * x * x,), lambda x: (3 * x * x,)),
    ('softsign', lambda x: x / (1 + abs(x)), lambda m, out, x: (1 / (1 + m.sign(x) * x) ** 2,),
     lambda x: (1 / (1 + abs(x)) ** 2,)),
    ('hypot', math.hypot, lambda m, out, a, b: (a / out, b / out),
     lambda a, b: (a / math.hypot(a, b), b / math.hypot(a, b))),
]


@pytest.fixture(params=CUSTOM_OPERATIONS, ids=lambda row: row[0])
def custom_op(request):
    from autodiff import defrule

    op, forward, partials, slopes = request.param
    defrule(op, forward, partials)
    yield op, slopes
    del RULES[op]


def test_a_defrule_operation_compiles_and_matches_eager_backward(custom_op):
    from autodiff import apply

    op, slopes = custom_op
    arity = slopes.__code__.co_argcount

    def f(*xs):
        return apply(op, *xs) * 2

    compiled = compile(f, (1.5,) * arity)
    assert f"_forward_{op}(" in compiled.source  # the forward function is passed in by name
    for point in [(1.5, -0.5)[:arity], (-2.0, 3.0)[:arity], (0.25, 0.75)[:arity]]:
        value, grads = compiled(*point)
        expected_value, expected_grads = eager(f, *point)
        assert close(value, expected_value)
        assert all(close(g, e) for g, e in zip(grads, expected_grads))
        assert all(close(g, 2 * s) for g, s in zip(grads, slopes(*point)))


@pytest.mark.parametrize('backend', ['python', 'numpy'])
def test_a_defrule_operation_compiles_for_batches(custom_op, backend):
    from autodiff import apply

    if backend == 'numpy':
        pytest.importorskip('numpy')
    op, slopes = custom_op
    arity = slopes.__code__.co_argcount

    def example(w, x):  # the operation on a shared and a per-example value
        return apply(op, *[w * x, w + x][:arity])

    batch = compile_batch(example, (0.5, 1.0), batched=[1], backend=backend)
    w, xs = 0.7, [1.5, -2.0, 0.25]
    value, grad = batch(w, xs)
    leaf = Value(w)
    mean = sum(example(leaf, x) for x in xs) * (1 / len(xs))
    mean.backward()
    assert close(value, mean.data) and close(grad, leaf.grad)
    # d/dw of op(w·x, w + x) = ∂op/∂a · x + ∂op/∂b · 1, averaged over the examples
    analytic = sum(sum(s * d for s, d in zip(slopes(*[w * x, w + x][:arity]), (x, 1.0)))
                   for x in xs) / len(xs)
    assert close(grad, analytic)


# --------------------------------------------------------------------------
# The batch loop's fast forms: relu, max, min and their slopes inline; temporaries inlined.
# --------------------------------------------------------------------------
KINKS = [0.0, -0.0, 1.5, -1.5, math.nan, math.inf, -math.inf]


def same(a: float, b: float) -> bool:
    """Equal to 1e-12, or both nan (the engine carries nan on)."""
    return (math.isnan(a) and math.isnan(b)) or a == b or close(a, b)


def kinked(w, x):
    # relu at x itself, max and min with ties at x == w, leaky_relu: every inlined form.
    return x.relu() * w[0] + x.max(w[1]) + w[1].min(x) * w[0] + x.leaky_relu(0.1) * w[1] + (x * w[0]).relu()


@pytest.mark.parametrize('x', KINKS)
@pytest.mark.parametrize('w1', [0.0, 1.5, math.nan])
def test_inlined_step_functions_equal_eager_at_kinks_and_nan(x, w1):
    compiled = compile_batch(kinked, ([0.5, 0.0], 1.0), batched=[1])
    code = compiled.source.split('for ', 1)[1]  # the per-example loop
    assert 'relu(' not in code and 'maximum(' not in code and 'minimum(' not in code
    assert 'heaviside(_v' not in code  # relu's slope, a name's: inline; max's, of a difference: a call
    value, grads = compiled([0.5, w1], [x])
    w = [Value(0.5), Value(w1)]
    out = kinked(w, Value(x))
    out.backward()
    assert same(value, out.data)
    assert all(same(g, leaf.grad) for g, leaf in zip(grads, w))


def test_inlining_temporaries_gives_the_same_bits_in_fewer_statements(monkeypatch):
    from autodiff.codegen import batch as batch_code

    model, X, Y = demo_problem(4, n=9)
    data = [random.Random(4).uniform(-1, 1) for _ in model.parameters()]
    inlined = compile_demo(model, X, Y)
    monkeypatch.setattr(batch_code, 'inline_single_use', lambda body, outside=(): list(body))
    plain = compile_demo(model, X, Y)
    assert len(inlined.source.splitlines()) < 0.75 * len(plain.source.splitlines())
    assert inlined(data, X, Y) == plain(data, X, Y)  # bit for bit: same operations, same order
    for p, d in zip(model.parameters(), data):
        p.data = d
    expected_value, expected_grads = eager_demo_loss(model, X, Y)
    value, grads = inlined(data, X, Y)
    assert close(value, expected_value) and all(close(g, e) for g, e in zip(grads, expected_grads))


@given(lines=program_lines, example=st.tuples(finite, finite), xs=st.lists(finite, min_size=1, max_size=4),
       w=st.tuples(finite, finite))
def test_random_batch_programs_are_bit_for_bit_the_same_inlined_or_not(lines, example, xs, w):
    # Inlining only moves expressions that cannot raise; each operation keeps its operands and order.
    from autodiff.codegen import batch as batch_code

    def per_example(ws, x):
        return run_program(lines, [ws[0], ws[1], x])

    try:
        inlined = compile_batch(per_example, ([example[0], example[1]], 0.5), batched=[1])
    except (ArithmeticError, ValueError):
        assume(False)  # the example itself is outside the domain
    original = batch_code.inline_single_use
    batch_code.inline_single_use = lambda body, outside=(): list(body)
    try:
        plain = compile_batch(per_example, ([example[0], example[1]], 0.5), batched=[1])
    finally:
        batch_code.inline_single_use = original
    expected, got = outcome(plain, list(w), xs), outcome(inlined, list(w), xs)
    if isinstance(expected, type):
        assert got is expected  # the same error
        return
    assert repr(got) == repr(expected)  # bit for bit (repr: nan equals nan, -0.0 differs from 0.0)


# --------------------------------------------------------------------------
# A relu that is off passes back 0.0 without summing its gradient, where that is exact.
# --------------------------------------------------------------------------
def compile_without_relu_skips(monkeypatch, *args, **kwargs):
    from autodiff.codegen import batch as batch_code

    with monkeypatch.context() as patch:
        patch.setattr(batch_code, 'skip_off_relus', lambda lines, flag: (list(lines), 0))
        return compile_batch(*args, **kwargs)


SIZES = [0.0, -0.0, 0.5, -2.0, 1e10, 1e17, -1e30, 1e200, -1e300, math.inf, -math.inf, math.nan]


@pytest.mark.parametrize('where', ['weight', 'bias', 'output weight', 'x', 'y'])
@pytest.mark.parametrize('size', SIZES)
def test_relu_skips_give_the_same_bits_for_any_input(monkeypatch, where, size):
    # nan, inf or a huge value anywhere: the slope then takes the engine's U * 0.0 (and nan stays);
    # 1e10 and 1e17 are inside the bound: those examples skip the sums of relus that are off.
    model, X, Y = demo_problem(7, n=6)
    skipping = compile_demo(model, X, Y)
    plain = compile_without_relu_skips(
        monkeypatch, lambda ps, x, y: (1 + -y * model(x)).relu(), (model.parameters(), X[0], Y[0]),
        batched=(1, 2), penalty=lambda ps: 1e-4 * sum(p * p for p in ps))
    assert 'if _bounded' in skipping.source and '_bounded' not in plain.source
    data = [random.Random(7).uniform(-1, 1) for _ in model.parameters()]
    X, Y = [list(x) for x in X], list(Y)
    position = {'weight': 0, 'bias': 2, 'output weight': len(data) - 2}
    if where in position:
        data[position[where]] = size
    elif where == 'x':
        X[3][1] = size
    else:
        Y[2] = size
    assert repr(skipping(data, X, Y)) == repr(plain(data, X, Y))  # repr: nan equals nan, -0.0 is not 0.0


def test_relu_skips_only_for_sums_products_and_relu():
    from autodiff.codegen.batch import input_bound
    from autodiff.codegen.tracing import trace

    assert input_bound(trace(lambda w, x: (w * x - 1.0).relu() * -w, (1.0, 1.0))) == 2.0 ** 64
    assert input_bound(trace(lambda w, x: (w * x).relu().tanh(), (1.0, 1.0))) is None
    f = compile_batch(lambda w, x: (w * x).relu().tanh() * w, (1.0, 1.0), batched=[1])
    assert '_bounded' not in f.source and '(1.0 if _v' in f.source  # the engine's slope, as it was
    assert input_bound(trace(lambda x: x * 1e300 * 1e300, (1.0,))) is None  # overflows at any size


def test_the_loop_temporaries_take_the_first_local_slots():
    # CPython reads locals past number 255 with an EXTENDED_ARG prefix: the loop's own names come first.
    model, X, Y = demo_problem(0)
    names = compile_demo(model, X, Y)._run.__code__.co_varnames
    loop = compile_demo(model, X, Y).source.split('for ', 1)[1]
    hidden_slopes = re.findall(r'(_gv\d+) = .* if _bounded', loop)
    assert hidden_slopes and all(names.index(n) < 256 for n in hidden_slopes + ['_bounded', '_a1_0'])


@functools.cache
def relu_network_with_and_without_skips():
    from autodiff.codegen import batch as batch_code

    random.seed(3)
    model = MLP(1, [3, 4, 2])
    args = (lambda ps, x: (model([x])[0] * -model([x])[1]).relu()), (model.parameters(), 0.5)
    skipping = compile_batch(*args, batched=[1])
    original = batch_code.skip_off_relus
    batch_code.skip_off_relus = lambda body, flag: (list(body), 0)
    try:
        return skipping, compile_batch(*args, batched=[1])
    finally:
        batch_code.skip_off_relus = original


def with_some(values: list[float], specials: list[tuple[int, float]]) -> list[float]:
    values = list(values)
    for position, special in specials:
        values[position % len(values)] = special
    return values


some_specials = st.lists(st.tuples(st.integers(0, 99), st.sampled_from(SIZES)), max_size=3)


@given(data=st.lists(finite, min_size=32, max_size=32), xs=st.lists(finite, min_size=1, max_size=6),
       specials=some_specials, example_specials=some_specials)
def test_random_relu_networks_are_bit_for_bit_the_same_with_or_without_skips(data, xs, specials,
                                                                             example_specials):
    # A small relu MLP, a few of its weights and inputs anywhere from -0.0 to nan: the same bits.
    skipping, plain = relu_network_with_and_without_skips()
    data, xs = with_some(data, specials), with_some(xs, example_specials)
    assert repr(skipping(data, xs)) == repr(plain(data, xs))
