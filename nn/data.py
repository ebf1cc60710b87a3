"""Toy data sets and the three ways to feed them to gradient descent.

Pure Python, no NumPy or scikit-learn: ``X`` is a list of rows (lists of
floats), ``y`` a list of labels.  The generators take scikit-learn's
parameter names (``n_samples``, ``noise``, ``random_state``, ...) and give
the same result for the same ``random_state`` every time.

**Labels.**  Classification sets label classes ``0, 1, ..., k-1``, as
scikit-learn does; that is what `binary_cross_entropy` and `cross_entropy`
expect.  micrograd's `hinge_loss` wants ``-1`` and ``+1`` instead:
``to_signs(y)`` converts, ``to_binary`` converts back.

>>> X, y = make_moons(n_samples=6, noise=0.1, random_state=0)
>>> len(X), len(X[0]), sorted(y)
(6, 2, [0, 0, 0, 1, 1, 1])
>>> to_signs([0, 1, 1])
[-1, 1, 1]
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal, overload

Row = list[float]

#: make_regression's features: a small town's house sales.
HOUSE_FEATURES = ('area_m2', 'bedrooms', 'age_years', 'distance_km')
#: The true price (in 100,000s) per unit of each feature, and the base price.
HOUSE_COEF = (0.02, 0.1, -0.01, -0.05)
HOUSE_BIAS = 1.0


def check_random_state(random_state: int | random.Random | None) -> random.Random:
    """A ``random.Random`` for ``random_state``: a seed, a generator (used as is), or None (fresh).

    The global ``random`` state is never touched.

    >>> check_random_state(0).random() == check_random_state(0).random()
    True
    """
    if random_state is None:
        return random.Random()
    if isinstance(random_state, random.Random):
        return random_state
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise ValueError(f"random_state must be an int, a random.Random or None, got {random_state!r}")
    return random.Random(int(random_state))


# ----------------------------------------------------------------------
# Classification data sets.
# ----------------------------------------------------------------------
def make_moons(n_samples: int = 100, *, shuffle: bool = True, noise: float | None = None,
               random_state: int | random.Random | None = None) -> tuple[list[Row], list[int]]:
    """Two interleaving half circles (scikit-learn's ``make_moons``): classes 0 and 1.

    ``noise`` is the standard deviation of Gaussian noise added to each coordinate.

    >>> X, y = make_moons(n_samples=4, shuffle=False)
    >>> [[round(a, 3), round(b, 3)] for a, b in X], y
    ([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.5], [2.0, 0.5]], [0, 0, 1, 1])
    """
    _check_n_samples(n_samples, 2)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    X = [[math.cos(t), math.sin(t)] for t in _linspace(0, math.pi, n_out)]
    X += [[1 - math.cos(t), 0.5 - math.sin(t)] for t in _linspace(0, math.pi, n_in)]
    y = [0] * n_out + [1] * n_in
    return _finish(X, y, shuffle, noise, random_state)


def make_circles(n_samples: int = 100, *, shuffle: bool = True, noise: float | None = None,
                 random_state: int | random.Random | None = None,
                 factor: float = 0.8) -> tuple[list[Row], list[int]]:
    """A small circle (class 1) inside a large one (class 0), scikit-learn's ``make_circles``.

    ``factor`` is the inner circle's radius (the outer one's is 1).

    >>> X, y = make_circles(n_samples=4, shuffle=False, factor=0.5)
    >>> [[round(a, 3), round(b, 3)] for a, b in X], y
    ([[1.0, 0.0], [-1.0, 0.0], [0.5, 0.0], [-0.5, 0.0]], [0, 0, 1, 1])
    """
    _check_n_samples(n_samples, 2)
    if not _is_finite_number(factor) or not 0 <= factor < 1:
        raise ValueError(f"factor must be a number in [0, 1), got {factor!r}")
    n_out = n_samples // 2
    n_in = n_samples - n_out
    X = [[math.cos(t), math.sin(t)] for t in _linspace(0, 2 * math.pi, n_out, endpoint=False)]
    X += [[factor * math.cos(t), factor * math.sin(t)]
          for t in _linspace(0, 2 * math.pi, n_in, endpoint=False)]
    y = [0] * n_out + [1] * n_in
    return _finish(X, y, shuffle, noise, random_state)


def make_blobs(n_samples: int = 100, n_features: int = 2, *, centers: int | Sequence[Row] | None = None,
               cluster_std: float = 1.0, center_box: tuple[float, float] = (-10.0, 10.0),
               shuffle: bool = True, random_state: int | random.Random | None = None
               ) -> tuple[list[Row], list[int]]:
    """Gaussian clusters, one class each (scikit-learn's ``make_blobs``).

    ``centers`` is a number of clusters drawn uniformly in ``center_box``
    (3 by default) or the list of centers.  Samples are shared out evenly.
    ``cluster_std`` (>= 0), ``center_box`` (low <= high) and the centers'
    coordinates must be finite numbers.

    >>> X, y = make_blobs(n_samples=7, centers=[[0, 0], [5, 5]], cluster_std=0.0, shuffle=False)
    >>> X[0], X[-1], y
    ([0.0, 0.0], [5.0, 5.0], [0, 0, 0, 0, 1, 1, 1])
    """
    rng = check_random_state(random_state)
    _check_finite('cluster_std', cluster_std, minimum=0.0)
    if centers is None:
        centers = 3
    if isinstance(centers, numbers.Integral):
        _check_n_samples(centers, 1, name='centers')
        _check_n_samples(n_features, 1, name='n_features')
        low, high = _checked_box(center_box)
        centers = [[rng.uniform(low, high) for _ in range(n_features)] for _ in range(centers)]
    centers = _checked_centers(centers)
    _check_n_samples(n_samples, len(centers))
    X, y = [], []
    for k, center in enumerate(centers):
        count = n_samples // len(centers) + (k < n_samples % len(centers))
        for _ in range(count):
            X.append([c + rng.gauss(0.0, cluster_std) if cluster_std else c for c in center])
            y.append(k)
    return _finish(X, y, shuffle, None, rng)


def make_spiral(n_samples: int = 100, n_classes: int = 2, *, turns: float = 1.0, noise: float | None = None,
                shuffle: bool = True, random_state: int | random.Random | None = None
                ) -> tuple[list[Row], list[int]]:
    """Interleaved spiral arms from the centre outwards, one class per arm (CS231n's spiral).

    Arm k turns ``turns`` times around the centre, rotated by k/n_classes of
    a full turn; points are spread evenly along it to radius 1.  A negative
    ``turns`` winds the arms the other way (the mirror image).

    >>> X, y = make_spiral(n_samples=6, n_classes=3, shuffle=False)
    >>> sorted(set(y)), max(math.hypot(a, b) for a, b in X) <= 1.0
    ([0, 1, 2], True)
    """
    _check_n_samples(n_classes, 2, name='n_classes')
    _check_n_samples(n_samples, n_classes)
    _check_finite('turns', turns)
    X, y = [], []
    for k in range(n_classes):
        count = n_samples // n_classes + (k < n_samples % n_classes)
        for i in range(count):
            r = (i + 1) / count  # not 0: the arms would all start at the same point
            angle = 2 * math.pi * (k / n_classes + turns * r)
            X.append([r * math.cos(angle), r * math.sin(angle)])
            y.append(k)
    return _finish(X, y, shuffle, noise, random_state)


# Two return shapes, told apart by ``coef`` (the overloads let a type checker
# see that ``X, y = make_regression()`` and ``X, y, true = ...(coef=True)`` fit).
@overload
def make_regression(n_samples: int = ..., *, noise: float = ..., coef: Literal[False] = ...,
                    shuffle: bool = ..., random_state: int | random.Random | None = ...,
                    ) -> tuple[list[Row], list[float]]: ...
@overload
def make_regression(n_samples: int = ..., *, noise: float = ..., coef: Literal[True],
                    shuffle: bool = ..., random_state: int | random.Random | None = ...,
                    ) -> tuple[list[Row], list[float], list[float]]: ...
@overload
def make_regression(n_samples: int = ..., *, noise: float = ..., coef: bool,
                    shuffle: bool = ..., random_state: int | random.Random | None = ...,
                    ) -> tuple[list[Row], list[float]] | tuple[list[Row], list[float], list[float]]: ...
def make_regression(n_samples: int = 100, *, noise: float = 0.0, coef: bool = False, shuffle: bool = True,
                    random_state: int | random.Random | None = None,
                    ) -> tuple[list[Row], list[float]] | tuple[list[Row], list[float], list[float]]:
    """House prices: four named features and a known linear truth plus noise.

    Features (`HOUSE_FEATURES`): floor area in m², bedrooms, age in years,
    distance to the centre in km.  The price (in 100,000s) is exactly
    ``HOUSE_BIAS + Σ HOUSE_COEF[j] * x[j]`` plus Gaussian noise with
    standard deviation ``noise``.  With ``coef=True`` the true coefficients
    come back too, as scikit-learn's ``make_regression`` does.

    >>> X, y, true = make_regression(n_samples=3, coef=True, random_state=0)
    >>> dict(zip(HOUSE_FEATURES, true))
    {'area_m2': 0.02, 'bedrooms': 0.1, 'age_years': -0.01, 'distance_km': -0.05}
    >>> abs(y[0] - (HOUSE_BIAS + sum(c * x for c, x in zip(true, X[0])))) < 1e-12
    True
    """
    _check_n_samples(n_samples, 1)
    _check_noise(noise)
    rng = check_random_state(random_state)
    X = []
    for _ in range(n_samples):
        area = rng.uniform(40.0, 200.0)
        bedrooms = float(min(5, max(1, round(area / 40 + rng.uniform(-1, 1)))))  # bigger houses, more rooms
        age = rng.uniform(0.0, 60.0)
        distance = rng.uniform(0.5, 30.0)
        X.append([area, bedrooms, age, distance])
    y = [HOUSE_BIAS + sum(c * x for c, x in zip(HOUSE_COEF, row)) + (rng.gauss(0.0, noise) if noise else 0.0)
         for row in X]
    if shuffle:  # already in random order; shuffled anyway so the parameter means what it says
        X, y = _shuffled(X, y, rng)
    return (X, y, list(HOUSE_COEF)) if coef else (X, y)


# ----------------------------------------------------------------------
# Labels.
# ----------------------------------------------------------------------
def to_signs(y: Sequence[int]) -> list[int]:
    """Labels 0/1 as -1/+1, for micrograd's `hinge_loss`.

    >>> to_signs([0, 1, 0])
    [-1, 1, -1]
    """
    _check_labels(y, (0, 1), 'to_signs')
    return [2 * int(label) - 1 for label in y]


def to_binary(y: Sequence[int]) -> list[int]:
    """Labels -1/+1 as 0/1, for the cross-entropy losses.

    >>> to_binary([-1, 1])
    [0, 1]
    """
    _check_labels(y, (-1, 1), 'to_binary')
    return [(int(label) + 1) // 2 for label in y]


# ----------------------------------------------------------------------
# Splitting, scaling, batching.
# ----------------------------------------------------------------------
def train_test_split(*arrays: Sequence, test_size: float | int = 0.25, shuffle: bool = True,
                     random_state: int | random.Random | None = None) -> list[list]:
    """Split each array into a training and a test part (scikit-learn's ``train_test_split``).

    ``test_size`` is a fraction (rounded up) or a count.  The result is
    ``[a_train, a_test, b_train, b_test, ...]``, rows kept together.

    >>> X_train, X_test, y_train, y_test = train_test_split([[1], [2], [3], [4]], [1, 2, 3, 4],
    ...                                                     test_size=0.25, shuffle=False)
    >>> X_train, X_test, y_train, y_test
    ([[1], [2], [3]], [[4]], [1, 2, 3], [4])
    """
    if not arrays:
        raise ValueError("train_test_split needs at least one array")
    n = len(arrays[0])
    for a in arrays:
        if len(a) != n:
            raise ValueError(f"train_test_split: arrays have different lengths: {[len(a) for a in arrays]}")
    if isinstance(test_size, float):
        if not 0 < test_size < 1:
            raise ValueError(f"test_size as a fraction must be in (0, 1), got {test_size!r}")
        n_test = math.ceil(test_size * n)
    elif isinstance(test_size, int) and not isinstance(test_size, bool):
        n_test = test_size
    else:
        raise ValueError(f"test_size must be a fraction or a count, got {test_size!r}")
    if not 1 <= n_test <= n - 1:
        raise ValueError(f"test_size={test_size!r} leaves {n_test} of {n} examples for testing; "
                         "both parts need at least one")
    order = list(range(n))
    if shuffle:
        check_random_state(random_state).shuffle(order)
    train, test = order[:n - n_test], order[n - n_test:]
    out = []
    for a in arrays:
        out += [[a[i] for i in train], [a[i] for i in test]]
    return out


# Rows give lists (one entry per column); a flat list of numbers gives single floats.
@overload
def standardize(X: Sequence[Sequence[float]], mean: Sequence[float] | None = None,
                std: Sequence[float] | None = None) -> tuple[list[Row], list[float], list[float]]: ...
@overload
def standardize(X: Sequence[float], mean: float | None = None,
                std: float | None = None) -> tuple[list[float], float, float]: ...
def standardize(X: Sequence[Any], mean: Any = None, std: Any = None) -> tuple[list[Any], Any, Any]:
    """Scale each column to mean 0 and standard deviation 1; returns ``(scaled, mean, std)``.

    Fit on the training set, then pass its ``mean`` and ``std`` to scale
    the test set the same way.  A constant column keeps std 1 (as in
    scikit-learn's ``StandardScaler``).  A flat list of numbers (targets)
    is treated as one column.

    >>> scaled, mean, std = standardize([[1.0, 5.0], [3.0, 5.0]])
    >>> scaled, mean, std
    ([[-1.0, 0.0], [1.0, 0.0]], [2.0, 5.0], [1.0, 1.0])
    >>> standardize([[5.0, 5.0]], mean, std)[0]
    [[3.0, 0.0]]
    """
    if not X:
        raise ValueError("standardize of an empty data set")
    if isinstance(X[0], numbers.Real):  # a flat list: one column
        scaled, m, s = standardize([[x] for x in X], None if mean is None else [mean],
                                   None if std is None else [std])
        return [row[0] for row in scaled], m[0], s[0]
    columns = list(zip(*X))
    if mean is None:
        mean = [sum(col) / len(col) for col in columns]
    if std is None:
        std = [math.sqrt(sum((x - m) * (x - m) for x in col) / len(col)) for col, m in zip(columns, mean)]
        std = [s if s > 0 else 1.0 for s in std]
    if len(mean) != len(columns) or len(std) != len(columns):
        raise ValueError(f"standardize: X has {len(columns)} columns but mean/std have "
                         f"{len(mean)}/{len(std)}")
    for j, (m, s) in enumerate(zip(mean, std)):
        _check_finite(f"mean[{j}]", m)
        if not _is_finite_number(s) or s <= 0:
            raise ValueError(f"std[{j}] must be a finite number > 0 (it divides), got {s!r}")
    scaled = [[(x - m) / s for x, m, s in zip(row, mean, std)] for row in X]
    return scaled, list(mean), list(std)


def batches(X: Sequence, y: Sequence, batch_size: int | None = None, shuffle: bool = True,
            seed: int | random.Random | None = None) -> Iterator[tuple[list, list]]:
    """The notes' three kinds of gradient descent, as the batches of one epoch.

    * ``batch_size=None``: **batch** gradient descent, all examples at once
      (one update per epoch);
    * ``batch_size=1``: **stochastic** gradient descent, one example at a
      time (n updates per epoch);
    * ``batch_size=k``: **mini-batch** gradient descent, k at a time
      (⌈n/k⌉ updates per epoch; the last batch may be smaller).

    With ``shuffle`` the examples are visited in a random order drawn from
    ``seed`` (pass a ``random.Random`` to get a new order every epoch).

    >>> [yb for _, yb in batches([[0], [1], [2]], [0, 1, 2], batch_size=2, shuffle=False)]
    [[0, 1], [2]]
    """
    n = len(X)
    if len(y) != n:
        raise ValueError(f"batches: {n} examples in X but {len(y)} in y")
    if n == 0:
        raise ValueError("batches: no examples")
    if batch_size is None:
        batch_size = n
    elif isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be None (all examples) or a positive integer, got {batch_size!r}")
    order = list(range(n))
    if shuffle:
        check_random_state(seed).shuffle(order)
    for start in range(0, n, batch_size):
        chosen = order[start:start + batch_size]
        # A NumPy array's rows (or targets) are taken in one indexing call, and stay an array.
        rows = X[chosen] if hasattr(X, 'shape') else [X[i] for i in chosen]  # type: ignore[call-overload]
        yield rows, (y[chosen] if hasattr(y, 'shape') else [y[i] for i in chosen])  # type: ignore[call-overload]


# ----------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------
def _linspace(start: float, stop: float, n: int, endpoint: bool = True) -> list[float]:
    """NumPy's linspace: n evenly spaced numbers from start (to stop, if endpoint)."""
    if n == 1:
        return [float(start)]
    step = (stop - start) / (n - 1 if endpoint else n)
    return [start + i * step for i in range(n)]


def _finish(X: list[Row], y: list[int], shuffle: bool, noise: float | None,
            random_state: int | random.Random | None) -> tuple[list[Row], list[int]]:
    """Shuffle, then add Gaussian noise to every coordinate (scikit-learn's order)."""
    _check_noise(noise)
    rng = check_random_state(random_state)
    if shuffle:
        X, y = _shuffled(X, y, rng)
    if noise:
        X = [[x + rng.gauss(0.0, noise) for x in row] for row in X]
    return X, y


def _shuffled(X: list, y: list, rng: random.Random) -> tuple[list, list]:
    order = list(range(len(X)))
    rng.shuffle(order)
    return [X[i] for i in order], [y[i] for i in order]


def _check_n_samples(n: object, at_least: int, name: str = 'n_samples') -> None:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < at_least:
        raise ValueError(f"{name} must be an integer >= {at_least}, got {n!r}")


def _check_noise(noise: float | None) -> None:
    if noise is not None and (not _is_finite_number(noise) or noise < 0):
        raise ValueError(f"noise must be a finite number >= 0 (or None), got {noise!r}")


def _is_finite_number(x: object) -> bool:
    return not isinstance(x, bool) and isinstance(x, numbers.Real) and math.isfinite(x)


def _check_finite(name: str, x: float, minimum: float | None = None) -> None:
    """Refuse anything but a finite number (at least ``minimum``): nan would poison every point."""
    if not _is_finite_number(x) or (minimum is not None and x < minimum):
        bound = '' if minimum is None else f" >= {minimum:g}"
        raise ValueError(f"{name} must be a finite number{bound}, got {x!r}")


def _as_list(x: object) -> list | None:
    """``x`` as a list if it is a collection (a list, tuple or NumPy array), else None."""
    if isinstance(x, (str, bytes)) or not isinstance(x, Iterable):
        return None
    return list(x)


def _checked_box(center_box: object) -> tuple[float, float]:
    box = _as_list(center_box)
    if (box is None or len(box) != 2 or not all(_is_finite_number(v) for v in box)
            or box[0] > box[1]):
        raise ValueError(f"center_box must be a pair of finite numbers (low, high) with low <= high, "
                         f"got {center_box!r}")
    return float(box[0]), float(box[1])


def _checked_centers(centers: object) -> list[Row]:
    """make_blobs' centers as rows of floats: a non-empty list of finite points of one dimension."""
    points = _as_list(centers)
    if not points:
        raise ValueError(f"centers must be a number of clusters or a non-empty list of points, "
                         f"got {centers!r}")
    rows: list[Row] = []
    for k, center in enumerate(points):
        point = _as_list(center)
        if not point or not all(_is_finite_number(c) for c in point):
            raise ValueError(f"centers[{k}] must be a point: a list of finite numbers, got {center!r}")
        if rows and len(point) != len(rows[0]):
            raise ValueError(f"centers[{k}] has {len(point)} coordinates, centers[0] has {len(rows[0])}")
        rows.append([float(c) for c in point])
    return rows


def _check_labels(y: Sequence, allowed: tuple[int, int], name: str) -> None:
    for label in y:
        if label not in allowed:
            raise ValueError(f"{name} needs labels {allowed[0]} or {allowed[1]}, got {label!r}")
