"""nn.optim: hand-computed steps, schedules, hyperparameter checks, and torch.optim step for step."""

from __future__ import annotations

import math

import pytest

from autodiff import Value
from nn import MLP
from nn.optim import SGD, Adam, constant, linear_decay, step_decay

# ----------------------------------------------------------------------
# Hand-computed steps
# ----------------------------------------------------------------------


def test_plain_sgd_is_the_notes_rule():
    w, b = Value(2.0), Value(-1.0)
    opt = SGD([w, b], lr=0.1)
    loss = (w * 3.0 + b - 4.0) ** 2  # at (2, -1): residual 1, dL/dw = 2*1*3 = 6, dL/db = 2
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert w.data == pytest.approx(2.0 - 0.1 * 6.0)
    assert b.data == pytest.approx(-1.0 - 0.1 * 2.0)
    assert opt.steps == 1


def test_sgd_weight_decay_adds_to_the_gradient():
    w = Value(2.0)
    opt = SGD([w], lr=0.5, weight_decay=0.1)
    w.grad = 1.0
    opt.step()
    assert w.data == pytest.approx(2.0 - 0.5 * (1.0 + 0.1 * 2.0))


def test_sgd_momentum_and_nesterov_by_hand():
    plain, nesterov = Value(0.0), Value(0.0)
    opt_plain = SGD([plain], lr=1.0, momentum=0.5)
    opt_nesterov = SGD([nesterov], lr=1.0, momentum=0.5, nesterov=True)
    for _ in range(3):
        plain.grad = nesterov.grad = 1.0
        opt_plain.step()
        opt_nesterov.step()
    # buffers: 1, 1.5, 1.75. plain steps by b; nesterov by g + 0.5 b = 1.5, 1.75, 1.875
    assert plain.data == pytest.approx(-(1 + 1.5 + 1.75))
    assert nesterov.data == pytest.approx(-(1.5 + 1.75 + 1.875))


def test_adam_first_step_by_hand():
    w = Value(1.0)
    opt = Adam([w], lr=0.1, betas=(0.9, 0.999), eps=1e-8)
    w.grad = 2.0
    opt.step()
    # m = 0.2, v = 0.004; corrected: m/(1-0.9) = 2, v/(1-0.999) = 4 -> step lr * 2 / (2 + 1e-8)
    assert w.data == pytest.approx(1.0 - 0.1 * 2.0 / (2.0 + 1e-8), abs=1e-15)


def test_adam_second_step_by_hand():
    w = Value(1.0)
    opt = Adam([w], lr=0.1)
    w.grad = 2.0
    opt.step()
    after_first = w.data
    w.grad = -1.0
    opt.step()
    m = 0.9 * 0.2 + 0.1 * -1.0
    v = 0.999 * 0.004 + 0.001 * 1.0
    step = 0.1 * (m / (1 - 0.9 ** 2)) / (math.sqrt(v / (1 - 0.999 ** 2)) + 1e-8)
    assert w.data == pytest.approx(after_first - step, abs=1e-15)


def test_zero_grad_and_module_argument():
    model = MLP(2, [3, 1], seed=0)
    opt = SGD(model, lr=0.1)
    assert opt.params == model.parameters()
    model([1.0, 2.0]).backward()
    opt.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


def test_gradient_given_as_a_value_is_used_as_its_number():
    x = Value(3.0)
    (x * x).backward(create_graph=True)
    SGD([x], lr=0.5).step()
    assert x.data == 0.0  # 3 - 0.5 * 6


# ----------------------------------------------------------------------
# Schedules
# ----------------------------------------------------------------------


def test_linear_decay_is_micrograds_schedule():
    schedule = linear_decay(1.0, 0.1, 100)
    for k in range(100):
        assert schedule(k) == 1.0 - 0.9 * k / 100
    assert schedule(100) == schedule(1000) == 0.1


def test_step_decay_and_constant():
    schedule = step_decay(0.8, step_size=3, gamma=0.5)
    assert [schedule(k) for k in range(7)] == [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2]
    assert constant(0.3)(12345) == 0.3


def test_optimizer_uses_the_schedule_step_by_step():
    w = Value(0.0)
    opt = SGD([w], lr=lambda step: 1.0 / (step + 1))  # any callable of the step number
    for _ in range(4):
        assert opt.lr == 1.0 / (opt.steps + 1)
        w.grad = 1.0
        opt.step()
    assert w.data == pytest.approx(-(1 + 1 / 2 + 1 / 3 + 1 / 4))


def test_schedule_giving_a_bad_rate_is_named():
    opt = SGD([Value(0.0)], lr=lambda step: -1.0)
    with pytest.raises(ValueError, match='schedule gave -1.0 at step 0'):
        opt.step()


# ----------------------------------------------------------------------
# Invalid hyperparameters
# ----------------------------------------------------------------------


@pytest.mark.parametrize('make, name', [
    (lambda p: SGD(p, lr=0), 'lr'),
    (lambda p: SGD(p, lr=-0.1), 'lr'),
    (lambda p: SGD(p, lr=float('nan')), 'lr'),
    (lambda p: SGD(p, lr=0.1, momentum=-0.5), 'momentum'),
    (lambda p: SGD(p, lr=0.1, nesterov=True), 'nesterov'),
    (lambda p: SGD(p, lr=0.1, weight_decay=-1), 'weight_decay'),
    (lambda p: Adam(p, lr=0), 'lr'),
    (lambda p: Adam(p, betas=(1.0, 0.999)), r'betas\[0\]'),
    (lambda p: Adam(p, betas=(0.9, -0.1)), r'betas\[1\]'),
    (lambda p: Adam(p, betas=(0.9,)), 'betas'),
    (lambda p: Adam(p, eps=-1e-8), 'eps'),
    (lambda p: Adam(p, weight_decay=-0.1), 'weight_decay'),
    (lambda p: linear_decay(1.0, 0.1, 0), 'steps'),
    (lambda p: step_decay(0.1, 0), 'step_size'),
])
def test_invalid_hyperparameters_are_named(make, name):
    with pytest.raises(ValueError, match=name):
        make([Value(1.0)])


def test_empty_parameter_list():
    with pytest.raises(ValueError, match='empty parameter list'):
        SGD([], lr=0.1)


# ----------------------------------------------------------------------
# torch.optim, 10 steps from the same start
# ----------------------------------------------------------------------

START = [0.5, -1.2, 2.0, 0.3]


def loss_of(p, sin, exp):
    """A small non-quadratic function of four parameters, written for Values and tensors alike."""
    return ((p[0] - 1.0) ** 2 + 3.0 * (p[1] * p[2]) ** 2 + sin(p[3] * 2.0) + exp(p[0] * p[3] * 0.5)
            + p[2] ** 4 * 0.1)


def run_ours(make_optimizer, steps=10):
    params = [Value(x) for x in START]
    opt = make_optimizer(params)
    for _ in range(steps):
        opt.zero_grad()
        loss_of(params, Value.sin, Value.exp).backward()
        opt.step()
    return [p.data for p in params]


def run_torch(torch, make_optimizer, steps=10):
    params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in START]
    opt = make_optimizer(params)
    for _ in range(steps):
        opt.zero_grad()
        loss_of(params, torch.sin, torch.exp).backward()
        opt.step()
    return [p.item() for p in params]


SETTINGS = [
    ('sgd', {'lr': 0.01}),
    ('sgd', {'lr': 0.01, 'momentum': 0.9}),
    ('sgd', {'lr': 0.01, 'momentum': 0.9, 'nesterov': True}),
    ('sgd', {'lr': 0.01, 'weight_decay': 0.1}),
    ('sgd', {'lr': 0.02, 'momentum': 0.5, 'nesterov': True, 'weight_decay': 0.05}),
    ('adam', {'lr': 0.05}),
    ('adam', {'lr': 0.05, 'betas': (0.8, 0.99), 'eps': 1e-6}),
    ('adam', {'lr': 0.05, 'weight_decay': 0.1}),
    ('adam', {'lr': 0.1, 'betas': (0.0, 0.5)}),
]


@pytest.mark.parametrize('kind, kwargs', SETTINGS,
                         ids=[f"{k}-{'-'.join(map(str, kw))}" for k, kw in SETTINGS])
def test_matches_torch_optim_for_ten_steps(kind, kwargs):
    torch = pytest.importorskip("torch")
    ours_class, theirs_class = (SGD, torch.optim.SGD) if kind == 'sgd' else (Adam, torch.optim.Adam)
    ours = run_ours(lambda params: ours_class(params, **kwargs))
    theirs = run_torch(torch, lambda params: theirs_class(params, foreach=False, **kwargs))
    assert ours != START  # the parameters did move
    for mine, reference in zip(ours, theirs):
        assert mine == pytest.approx(reference, abs=1e-12)


# ----------------------------------------------------------------------
# step_arrays: the same updates on one array of all the parameters
# ----------------------------------------------------------------------
ARRAY_CASES = [
    (SGD, dict(lr=0.1)),
    (SGD, dict(lr=linear_decay(0.5, 0.05, 6), weight_decay=0.01)),
    (SGD, dict(lr=0.05, momentum=0.9)),
    (SGD, dict(lr=step_decay(0.2, step_size=2, gamma=0.5), momentum=0.8, nesterov=True, weight_decay=1e-3)),
    (Adam, dict(lr=0.01)),
    (Adam, dict(lr=linear_decay(0.02, 0.002, 6), betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
]


@pytest.mark.parametrize('kind, kwargs', ARRAY_CASES)
def test_step_arrays_gives_the_bits_of_step(kind, kwargs):
    np = pytest.importorskip('numpy')
    rng = __import__('random').Random(7)
    start = [rng.uniform(-2, 2) for _ in range(9)]
    gradients = [[rng.uniform(-3, 3) for _ in start] for _ in range(6)]
    values = [Value(w) for w in start]
    scalar = kind(values, **kwargs)
    weights = np.array(start)
    arrays = kind([Value(w) for w in start], **kwargs)
    for step, grads in enumerate(gradients):
        for v, g in zip(values, grads):
            v.grad = g
        scalar.step()
        if step == 3:  # switch to the scalar path and back: the state carries over
            arrays.state_to_lists()
            for v, w, g in zip(arrays.params, weights.tolist(), grads):
                v.data, v.grad = w, g
            arrays.step()
            weights = np.array([v.data for v in arrays.params])
        else:
            arrays.step_arrays(weights, np.array(grads))
        assert weights.tolist() == [v.data for v in values]
    assert arrays.steps == scalar.steps == len(gradients)


def test_step_arrays_of_an_optimizer_without_one_applies_its_own_rule():
    np = pytest.importorskip('numpy')
    from nn.optim import Optimizer

    class Halving(Optimizer):
        def _updated(self, i, w, g, lr):
            return w / 2 - lr * g * i

    weights = np.array([4.0, 8.0, 2.0])
    Halving([Value(0.0)] * 3, lr=0.5).step_arrays(weights, np.array([1.0, 1.0, 2.0]))
    assert weights.tolist() == [2.0, 4.0 - 0.5, 1.0 - 2.0]


def test_adam_without_eps_takes_no_step_where_no_gradient_has_come():
    # eps = 0 is allowed (as in torch.optim.Adam); a parameter whose gradients have all been 0
    # has m = v = 0, and its step is 0, not 0 / 0.
    w, still = Value(1.0), Value(3.0)
    opt = Adam([w, still], lr=0.1, eps=0.0)
    w.grad, still.grad = 2.0, 0.0
    opt.step()
    assert still.data == 3.0
    assert w.data == pytest.approx(1.0 - 0.1, abs=1e-15)  # the first step is lr, whatever the gradient
    np = pytest.importorskip('numpy')
    weights = np.array([1.0, 3.0])
    Adam([Value(1.0), Value(3.0)], lr=0.1, eps=0.0).step_arrays(weights, np.array([2.0, 0.0]))
    assert weights.tolist() == [w.data, still.data]
