"""nn.losses against hand-computed values, central finite differences and torch.nn.functional."""

from __future__ import annotations

import math

import pytest

from autodiff import Value
from nn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    hinge_loss,
    l2_penalty,
    logsumexp,
    mse_loss,
    one_hot_cross_entropy,
    softmax,
)


def finite_difference_gradient(f, xs: list[float], h: float = 1e-6) -> list[float]:
    """Central differences of f (a function of a list of floats returning a float)."""
    grads = []
    for i in range(len(xs)):
        up, down = list(xs), list(xs)
        up[i] += h
        down[i] -= h
        grads.append((f(up) - f(down)) / (2 * h))
    return grads


def backward_gradient(loss_of_values, xs: list[float]) -> list[float]:
    values = [Value(x) for x in xs]
    loss_of_values(values).backward()
    return [v.grad for v in values]


# ----------------------------------------------------------------------
# Hand-computed values
# ----------------------------------------------------------------------


def test_mse_hand_computed():
    assert mse_loss([1.0, 2.0, 4.0], [1.5, 2.0, 1.0]).data == pytest.approx((0.25 + 0 + 9) / 3)
    assert mse_loss([1.0, 2.0, 4.0], [1.5, 2.0, 1.0], reduction='sum').data == pytest.approx(9.25)
    assert mse_loss(Value(3.0), 1.0).data == 4.0  # a single prediction


def test_binary_cross_entropy_hand_computed():
    # -(log 0.8 + log(1 - 0.4)) / 2
    expected = -(math.log(0.8) + math.log(0.6)) / 2
    assert binary_cross_entropy([0.8, 0.4], [1, 0]).data == pytest.approx(expected, rel=1e-10)
    # soft targets: -(0.3 log 0.5 + 0.7 log 0.5) = log 2
    assert binary_cross_entropy([0.5], [0.3]).data == pytest.approx(math.log(2), rel=1e-10)


def test_binary_cross_entropy_is_safe_at_zero_and_one():
    eps = 1e-12
    right = binary_cross_entropy([0.0, 1.0], [0, 1]).data
    wrong = binary_cross_entropy([0.0, 1.0], [1, 0]).data
    assert right == pytest.approx(-math.log(1 - eps), abs=1e-15)
    assert wrong == pytest.approx(-math.log(eps), rel=1e-9)  # large but finite
    # A confidently wrong probability still gets a slope (the squeeze keeps one).
    p = Value(0.0)
    binary_cross_entropy([p], [1]).backward()
    assert p.grad < -1e6 and math.isfinite(p.grad)


def test_bce_with_logits_hand_computed():
    z, y = [2.0, -1.0, 0.0], [1, 0, 1]
    sigma = [1 / (1 + math.exp(-v)) for v in z]
    expected = -sum(t * math.log(s) + (1 - t) * math.log(1 - s) for s, t in zip(sigma, y)) / 3
    assert binary_cross_entropy_with_logits(z, y).data == pytest.approx(expected, rel=1e-12)


def test_bce_with_logits_is_stable_at_1000():
    # log(1 + e^-1000) = 0 to double precision; log(1 + e^1000) = 1000
    assert binary_cross_entropy_with_logits([1000.0], [1]).data == 0.0
    assert binary_cross_entropy_with_logits([-1000.0], [0]).data == 0.0
    assert binary_cross_entropy_with_logits([1000.0], [0]).data == pytest.approx(1000.0)
    assert binary_cross_entropy_with_logits([-1000.0], [1]).data == pytest.approx(1000.0)
    # slopes are sigmoid(z) - y, exactly 0, 1, -1 here
    zs = [Value(1000.0), Value(-1000.0), Value(1000.0), Value(-1000.0)]
    binary_cross_entropy_with_logits(zs, [1, 0, 0, 1], reduction='sum').backward()
    assert [z.grad for z in zs] == [0.0, 0.0, 1.0, -1.0]


def test_hinge_hand_computed():
    # relu(1 - 2) = 0, relu(1 - 0.5) = 0.5, relu(1 + 0.25 * -1 * -1...) per example:
    scores, y = [2.0, 0.5, -0.25, 3.0], [1, 1, 1, -1]
    expected = (0.0 + 0.5 + 1.25 + 4.0) / 4
    assert hinge_loss(scores, y).data == pytest.approx(expected)


def test_hinge_gradient_is_minus_y_inside_the_margin():
    s = [Value(0.5), Value(2.0), Value(-3.0)]
    hinge_loss(s, [1, 1, -1], reduction='sum').backward()
    assert [v.grad for v in s] == [-1.0, 0.0, 0.0]


def test_hinge_rejects_zero_one_labels():
    with pytest.raises(ValueError, match='to_signs'):
        hinge_loss([0.5, 0.1], [0, 1])


def test_cross_entropy_hand_computed():
    logits, targets = [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], [2, 0]
    first = -math.log(math.exp(3) / (math.exp(1) + math.exp(2) + math.exp(3)))
    second = math.log(3)
    assert cross_entropy(logits, targets).data == pytest.approx((first + second) / 2, rel=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    assert cross_entropy([[1000.0, 0.0]], [0]).data == 0.0
    assert cross_entropy([[1000.0, 0.0]], [1]).data == pytest.approx(1000.0)
    assert cross_entropy([[-1000.0, -1000.0]], [0]).data == pytest.approx(math.log(2))
    row = [Value(1000.0), Value(0.0)]
    cross_entropy([row], [1]).backward()
    assert [v.grad for v in row] == [1.0, -1.0]  # softmax - one_hot


def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    z = [0.5, -1.0, 2.0]
    grad = backward_gradient(lambda row: cross_entropy([row], [1]), z)
    exps = [math.exp(v) for v in z]
    probabilities = [e / sum(exps) for e in exps]
    assert grad == pytest.approx([probabilities[0], probabilities[1] - 1, probabilities[2]], abs=1e-12)


def test_cross_entropy_checks_targets():
    with pytest.raises(ValueError, match='out of range'):
        cross_entropy([[1.0, 2.0]], [2])
    with pytest.raises(ValueError, match='class indices'):
        cross_entropy([[1.0, 2.0]], [0.5])


def test_softmax_and_logsumexp():
    assert logsumexp([1.0, 2.0]).data == pytest.approx(math.log(math.e + math.e ** 2))
    assert sum(p.data for p in softmax([1000.0, 999.0, -5.0])) == pytest.approx(1.0)


def test_l2_penalty_value_and_gradient():
    ps = [Value(1.5), Value(-2.0)]
    penalty = l2_penalty(ps, alpha=1e-4)
    assert penalty.data == pytest.approx(1e-4 * (2.25 + 4.0))
    penalty.backward()
    assert [p.grad for p in ps] == pytest.approx([2e-4 * 1.5, 2e-4 * -2.0])


def test_l2_penalty_of_a_module():
    from nn import MLP

    model = MLP(2, [3, 1], seed=0)
    expected = 0.5 * sum(p.data ** 2 for p in model.parameters())
    assert l2_penalty(model, alpha=0.5).data == pytest.approx(expected)


# ----------------------------------------------------------------------
# Finite differences
# ----------------------------------------------------------------------

POINTS = [0.3, -0.7, 1.4, 0.05]
BINARY_TARGETS = [1, 0, 1, 0]
SIGN_TARGETS = [1, -1, -1, 1]


@pytest.mark.parametrize('loss, targets, points', [
    (mse_loss, [1.0, -2.0, 0.5, 0.0], POINTS),
    (binary_cross_entropy_with_logits, BINARY_TARGETS, POINTS),
    (binary_cross_entropy, BINARY_TARGETS, [0.2, 0.9, 0.6, 0.35]),
    (hinge_loss, SIGN_TARGETS, POINTS),  # no point sits on a kink
], ids=['mse', 'bce_logits', 'bce', 'hinge'])
def test_gradients_match_finite_differences(loss, targets, points):
    numeric = finite_difference_gradient(lambda xs: loss(xs, targets).data, points)
    assert backward_gradient(lambda vs: loss(vs, targets), points) == pytest.approx(numeric, abs=1e-7)


def test_cross_entropy_gradient_matches_finite_differences():
    flat = [0.2, -1.0, 0.7, 1.5, 0.0, -0.3]

    def rows(xs):
        return [xs[0:3], xs[3:6]]

    numeric = finite_difference_gradient(lambda xs: cross_entropy(rows(xs), [2, 0]).data, flat)
    analytic = backward_gradient(lambda vs: cross_entropy(rows(vs), [2, 0]), flat)
    assert analytic == pytest.approx(numeric, abs=1e-7)


# ----------------------------------------------------------------------
# Input checks
# ----------------------------------------------------------------------


@pytest.mark.parametrize('loss', [mse_loss, binary_cross_entropy, binary_cross_entropy_with_logits,
                                  hinge_loss])
def test_length_mismatch_is_a_value_error(loss):
    with pytest.raises(ValueError, match='2 predictions but 3 targets'):
        loss([0.5, 0.5], [1, 1, 1])


def test_cross_entropy_length_mismatch():
    with pytest.raises(ValueError, match='2 rows of logits but 1 targets'):
        cross_entropy([[0.0, 1.0], [1.0, 0.0]], [0])


@pytest.mark.parametrize('loss', [mse_loss, hinge_loss])
def test_empty_input_is_a_value_error(loss):
    with pytest.raises(ValueError, match='no examples'):
        loss([], [])


def test_probability_outside_zero_one_is_rejected():
    with pytest.raises(ValueError, match='probability'):
        binary_cross_entropy([1.5], [1])


def test_accepts_values_and_numbers_alike():
    as_numbers = mse_loss([1.0, 2.0], [0.0, 0.0]).data
    as_values = mse_loss([Value(1.0), Value(2.0)], [Value(0.0), 0.0]).data
    assert as_numbers == as_values == 2.5


def test_bad_reduction():
    with pytest.raises(ValueError, match='reduction'):
        mse_loss([1.0], [1.0], reduction='max')


# ----------------------------------------------------------------------
# torch.nn.functional, where installed
# ----------------------------------------------------------------------


def test_against_torch_functional():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional

    def check(ours, theirs, points, targets, tolerance=1e-12):
        values = [Value(p) for p in points]
        loss = ours(values)
        loss.backward()
        tensor = torch.tensor(points, dtype=torch.float64, requires_grad=True)
        reference = theirs(tensor, torch.tensor(targets, dtype=torch.float64))
        reference.backward()
        assert loss.data == pytest.approx(reference.item(), abs=tolerance)
        assert [v.grad for v in values] == pytest.approx(tensor.grad.tolist(), abs=tolerance)

    logits = [0.3, -2.5, 4.0, 30.0, -30.0]
    labels = [1.0, 0.0, 0.0, 1.0, 1.0]
    check(lambda v: mse_loss(v, labels), F.mse_loss, logits, labels)
    check(lambda v: binary_cross_entropy_with_logits(v, labels), F.binary_cross_entropy_with_logits,
          logits, labels)
    probabilities = [0.1, 0.5, 0.93, 0.7, 0.2]
    # Our eps squeeze moves p by about 1e-12, so log p by about 1e-12 / p.
    check(lambda v: binary_cross_entropy(v, labels), F.binary_cross_entropy, probabilities, labels,
          tolerance=1e-10)
    signs = [2 * y - 1 for y in labels]
    check(lambda v: hinge_loss(v, signs), lambda t, y: torch.relu(1 - y * t).mean(), logits, signs)


def test_cross_entropy_against_torch():
    torch = pytest.importorskip("torch")
    rows = [[0.5, -1.0, 2.0], [100.0, 3.0, -50.0], [0.0, 0.0, 0.0]]
    targets = [1, 2, 0]
    values = [[Value(x) for x in row] for row in rows]
    loss = cross_entropy(values, targets)
    loss.backward()
    tensor = torch.tensor(rows, dtype=torch.float64, requires_grad=True)
    reference = torch.nn.functional.cross_entropy(tensor, torch.tensor(targets))
    reference.backward()
    assert loss.data == pytest.approx(reference.item(), abs=1e-12)
    assert [[v.grad for v in row] for row in values] == [
        pytest.approx(row, abs=1e-12) for row in tensor.grad.tolist()]


CLASS_ROWS = [[0.5, -1.0, 2.0], [100.0, 3.0, -50.0], [0.0, 0.0, 0.0], [7.0, 7.0, -2.0]]


def test_one_hot_cross_entropy_matches_the_analytic_gradient():
    """logsumexp(z) - Σ t·z has slope softmax(z)·Σt - t; with one-hot t it is cross_entropy."""
    for row in CLASS_ROWS:
        for weights in ([0.0, 1.0, 0.0], [0.2, 0.5, 0.3]):
            values = [Value(z) for z in row]
            loss = one_hot_cross_entropy(values, weights)
            loss.backward()
            largest = max(row)
            total = sum(math.exp(z - largest) for z in row)
            expected = largest + math.log(total) - sum(t * z for t, z in zip(weights, row))
            softmax_row = [math.exp(z - largest) / total for z in row]
            assert loss.data == pytest.approx(expected, rel=1e-12, abs=1e-12)
            assert [v.grad for v in values] == pytest.approx(
                [p * sum(weights) - t for p, t in zip(softmax_row, weights)], abs=1e-12)
        target = row.index(max(row))
        one_hot = [1.0 if k == target else 0.0 for k in range(len(row))]
        assert one_hot_cross_entropy(row, one_hot).data == pytest.approx(
            cross_entropy([row], [target]).data, abs=1e-12)
    with pytest.raises(ValueError, match='3 logits but 2 target weights'):
        one_hot_cross_entropy([1.0, 2.0, 3.0], [0.0, 1.0])


def test_one_hot_cross_entropy_against_torch():
    torch = pytest.importorskip("torch")
    soft_targets = [[0.0, 1.0, 0.0], [0.1, 0.1, 0.8], [1.0, 0.0, 0.0], [0.5, 0.5, 0.0]]
    values = [[Value(x) for x in row] for row in CLASS_ROWS]
    losses = [one_hot_cross_entropy(row, t) for row, t in zip(values, soft_targets)]
    mean = sum(losses[1:], losses[0]) * (1.0 / len(losses))
    mean.backward()
    tensor = torch.tensor(CLASS_ROWS, dtype=torch.float64, requires_grad=True)
    reference = torch.nn.functional.cross_entropy(tensor, torch.tensor(soft_targets, dtype=torch.float64))
    reference.backward()
    assert mean.data == pytest.approx(reference.item(), abs=1e-12)
    assert [[v.grad for v in row] for row in values] == [
        pytest.approx(row, abs=1e-12) for row in tensor.grad.tolist()]
