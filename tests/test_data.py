"""nn.data: the data sets' geometry and determinism, splitting, scaling, and the three batching modes."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nn.data import (
    HOUSE_BIAS,
    HOUSE_COEF,
    HOUSE_FEATURES,
    batches,
    make_blobs,
    make_circles,
    make_moons,
    make_regression,
    make_spiral,
    standardize,
    to_binary,
    to_signs,
    train_test_split,
)

GENERATORS = [
    lambda seed: make_moons(50, noise=0.1, random_state=seed),
    lambda seed: make_circles(50, noise=0.1, random_state=seed),
    lambda seed: make_blobs(50, random_state=seed),
    lambda seed: make_spiral(50, noise=0.1, random_state=seed),
    lambda seed: make_regression(50, noise=0.1, random_state=seed),
]
NAMES = ['moons', 'circles', 'blobs', 'spiral', 'regression']


def _std(xs):
    mean = sum(xs) / len(xs)
    return math.sqrt(sum((x - mean) ** 2 for x in xs) / len(xs))


@pytest.mark.parametrize('make', GENERATORS, ids=NAMES)
def test_deterministic_and_leaves_global_random_alone(make):
    state = random.getstate()
    first = make(7)
    assert random.getstate() == state
    assert make(7) == first
    assert make(8) != first


@pytest.mark.parametrize('make', GENERATORS, ids=NAMES)
def test_shapes_are_plain_lists(make):
    X, y = make(0)
    assert len(X) == len(y) == 50
    assert all(isinstance(row, list) and all(type(v) is float for v in row) for row in X)


def test_moons_lie_on_their_half_circles():
    X, y = make_moons(101, shuffle=False)
    assert y.count(0) == 50 and y.count(1) == 51  # scikit-learn: n // 2 outer, the rest inner
    for (a, b), label in zip(X, y):
        if label == 0:  # upper half of the unit circle
            assert math.hypot(a, b) == pytest.approx(1.0) and b >= -1e-12
        else:  # lower half of the unit circle centred at (1, 0.5)
            assert math.hypot(a - 1, b - 0.5) == pytest.approx(1.0) and b <= 0.5 + 1e-12


def test_moons_noise_has_the_given_standard_deviation():
    clean, _ = make_moons(4000, random_state=3)
    noisy, _ = make_moons(4000, noise=0.2, random_state=3)  # same shuffle, then noise
    deviations = [n - c for rn, rc in zip(noisy, clean) for n, c in zip(rn, rc)]
    assert _std(deviations) == pytest.approx(0.2, rel=0.05)
    assert abs(sum(deviations) / len(deviations)) < 0.01


def test_shuffle_changes_only_the_order():
    X1, y1 = make_moons(20, shuffle=False)
    X2, y2 = make_moons(20, shuffle=True, random_state=0)
    assert sorted(zip(map(tuple, X1), y1)) == sorted(zip(map(tuple, X2), y2))
    assert X1 != X2


def test_circles_radii():
    X, y = make_circles(40, factor=0.3, shuffle=False)
    for (a, b), label in zip(X, y):
        assert math.hypot(a, b) == pytest.approx(1.0 if label == 0 else 0.3)
    with pytest.raises(ValueError, match='factor'):
        make_circles(10, factor=1.0)


def test_blobs_classes_and_centres():
    centres = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]]
    X, y = make_blobs(402, centers=centres, cluster_std=0.5, random_state=1)
    assert [y.count(k) for k in range(4)] == [101, 101, 100, 100]
    for k, centre in enumerate(centres):
        points = [row for row, label in zip(X, y) if label == k]
        for j in range(2):
            column = [p[j] for p in points]
            assert sum(column) / len(column) == pytest.approx(centre[j], abs=0.2)
            assert _std(column) == pytest.approx(0.5, rel=0.2)


def test_blobs_default_three_classes_in_the_box():
    X, y = make_blobs(90, n_features=3, random_state=0)
    assert sorted(set(y)) == [0, 1, 2]
    assert len(X[0]) == 3


def test_spiral_arms():
    X, y = make_spiral(300, n_classes=3, shuffle=False)
    assert [y.count(k) for k in range(3)] == [100, 100, 100]
    radii = [math.hypot(a, b) for a, b in X]
    assert max(radii) == pytest.approx(1.0) and min(radii) > 0
    # Along each arm the radius grows steadily.
    arm = [r for r, label in zip(radii, y) if label == 1]
    assert arm == sorted(arm)


def test_regression_is_the_stated_linear_truth():
    X, y, coef = make_regression(200, coef=True, random_state=2)
    assert coef == list(HOUSE_COEF) and len(HOUSE_FEATURES) == len(coef) == len(X[0])
    for row, target in zip(X, y):
        assert target == pytest.approx(HOUSE_BIAS + sum(c * x for c, x in zip(coef, row)), abs=1e-12)
    areas = [row[0] for row in X]
    assert 40 <= min(areas) and max(areas) <= 200
    assert {row[1] for row in X} <= {1.0, 2.0, 3.0, 4.0, 5.0}


def test_regression_noise():
    X, y = make_regression(3000, noise=0.3, random_state=2)
    residuals = [t - HOUSE_BIAS - sum(c * x for c, x in zip(HOUSE_COEF, row)) for row, t in zip(X, y)]
    assert _std(residuals) == pytest.approx(0.3, rel=0.05)


@pytest.mark.parametrize('call', [
    lambda: make_moons(1),
    lambda: make_moons(10, noise=-1),
    lambda: make_moons(10, random_state='abc'),
    lambda: make_spiral(10, n_classes=1),
    lambda: make_blobs(10, cluster_std=-1),
    lambda: make_regression(0),
])
def test_bad_arguments(call):
    with pytest.raises(ValueError):
        call()


def test_label_conversions():
    assert to_signs([0, 1, 1, 0]) == [-1, 1, 1, -1]
    assert to_binary([-1, 1, 1, -1]) == [0, 1, 1, 0]
    assert to_binary(to_signs([1, 0, 1])) == [1, 0, 1]
    with pytest.raises(ValueError, match='labels 0 or 1'):
        to_signs([0, 2])
    with pytest.raises(ValueError, match='labels -1 or 1'):
        to_binary([0, 1])


# ----------------------------------------------------------------------
# Splitting and scaling
# ----------------------------------------------------------------------


def test_train_test_split_sizes_and_alignment():
    X = [[float(i)] for i in range(10)]
    y = list(range(10))
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    assert len(X_test) == 3 and len(X_train) == 7  # ceil(0.25 * 10), as in scikit-learn
    assert sorted(y_train + y_test) == y
    assert all(row[0] == label for row, label in zip(X_train + X_test, y_train + y_test))
    assert train_test_split(X, y, random_state=0) == train_test_split(X, y, random_state=0)
    assert len(train_test_split(X, y, test_size=4)[1]) == 4


@pytest.mark.parametrize('test_size', [0.0, 1.0, 10, 'x'])
def test_train_test_split_bad_sizes(test_size):
    with pytest.raises(ValueError, match='test_size'):
        train_test_split([[0]] * 10, [0] * 10, test_size=test_size)


def test_train_test_split_length_mismatch():
    with pytest.raises(ValueError, match='different lengths'):
        train_test_split([[0]] * 10, [0] * 9)


def test_standardize_columns():
    X = [[1.0, 10.0, 5.0], [2.0, 20.0, 5.0], [6.0, 30.0, 5.0]]
    scaled, mean, std = standardize(X)
    assert mean == pytest.approx([3.0, 20.0, 5.0])
    assert std == pytest.approx([math.sqrt(14 / 3), math.sqrt(200 / 3), 1.0])  # constant column: 1
    for j in range(3):
        column = [row[j] for row in scaled]
        assert sum(column) == pytest.approx(0.0, abs=1e-12)
        if j < 2:
            assert _std(column) == pytest.approx(1.0)
    test = standardize([[3.0, 20.0, 7.0]], mean, std)[0]
    assert test[0] == pytest.approx([0.0, 0.0, 2.0])


def test_standardize_flat_list():
    scaled, mean, std = standardize([2.0, 4.0])
    assert (scaled, mean, std) == ([-1.0, 1.0], 3.0, 1.0)


# ----------------------------------------------------------------------
# The three gradient-descent modes
# ----------------------------------------------------------------------


def _epoch(n, batch_size, seed=0, shuffle=True):
    X = [[float(i)] for i in range(n)]
    y = list(range(n))
    return list(batches(X, y, batch_size=batch_size, shuffle=shuffle, seed=seed))


def test_batch_mode_is_one_batch_of_everything():
    out = _epoch(10, None)
    assert len(out) == 1 and sorted(out[0][1]) == list(range(10))


def test_stochastic_mode_is_one_example_at_a_time():
    out = _epoch(10, 1)
    assert len(out) == 10 and all(len(yb) == 1 for _, yb in out)


@given(n=st.integers(1, 60), k=st.integers(1, 70), seed=st.integers(0, 10 ** 6))
def test_mini_batch_mode_gives_ceil_n_over_k_batches_covering_each_example_once(n, k, seed):
    out = _epoch(n, k, seed)
    assert len(out) == -(-n // k)
    assert all(len(yb) == k for _, yb in out[:-1]) and 1 <= len(out[-1][1]) <= k
    seen = [label for _, yb in out for label in yb]
    assert sorted(seen) == list(range(n))
    assert all(xb[i][0] == yb[i] for xb, yb in out for i in range(len(yb)))  # rows stay paired


def test_shuffle_is_seeded_and_optional():
    assert _epoch(20, 5, seed=1) == _epoch(20, 5, seed=1)
    assert _epoch(20, 5, seed=1) != _epoch(20, 5, seed=2)
    assert [yb for _, yb in _epoch(6, 4, shuffle=False)] == [[0, 1, 2, 3], [4, 5]]
    rng = random.Random(0)  # one generator across epochs: a new order each time
    X, y = [[0.0]] * 20, list(range(20))
    first = [yb for _, yb in batches(X, y, 5, seed=rng)]
    second = [yb for _, yb in batches(X, y, 5, seed=rng)]
    assert first != second


@pytest.mark.parametrize('batch_size', [0, -1, 2.5, True])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match='batch_size'):
        _epoch(5, batch_size)


def test_batches_take_array_targets_in_one_call_and_keep_them_arrays():
    np = pytest.importorskip('numpy')
    X, y = np.arange(10.0).reshape(5, 2), np.array([1.0, -1.0, 1.0, 1.0, -1.0])
    got = list(batches(X, y, batch_size=2, seed=3))
    want = list(batches(X.tolist(), y.tolist(), batch_size=2, seed=3))  # the same order from the same seed
    assert [type(yb) for _, yb in got] == [np.ndarray] * 3
    assert [(xb.tolist(), yb.tolist()) for xb, yb in got] == want


def test_batches_length_mismatch():
    with pytest.raises(ValueError, match='5 examples in X but 4'):
        list(batches([[0]] * 5, [0] * 4))
