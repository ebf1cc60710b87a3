"""Loss functions: one number saying how wrong the predictions are.

Each takes the predictions (Values, or plain numbers) and the targets (the
same length) and returns one `Value`, the mean over the examples unless
``reduction='sum'``.  Calling ``.backward()`` on it fills in every
parameter's gradient.

>>> from autodiff import Value
>>> p = Value(2.5)
>>> loss = mse_loss([p], [3.0])
>>> loss.data
0.25
>>> loss.backward()
>>> p.grad          # d/dp (p - 3)^2 = 2 (p - 3)
-1.0
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence

from autodiff import Value

Number = int | float
Scalar = Value | Number

#: How far `binary_cross_entropy` keeps probabilities from 0 and 1.
BCE_EPS = 1e-12


def mse_loss(predictions: Sequence[Scalar] | Scalar, targets: Sequence[Scalar] | Scalar,
             reduction: str = 'mean') -> Value:
    """Mean squared error: mean((prediction - target)²), the loss for regression.

    >>> mse_loss([1.0, 2.0], [1.0, 4.0]).data     # ((0)² + (-2)²) / 2
    2.0
    """
    predictions, targets = _paired(predictions, targets, 'mse_loss')
    return _reduce([(p - t) ** 2 for p, t in zip(predictions, targets)], reduction)


def binary_cross_entropy(probabilities: Sequence[Scalar] | Scalar, targets: Sequence[Scalar] | Scalar,
                         reduction: str = 'mean', eps: float = BCE_EPS) -> Value:
    """-(y log p + (1 - y) log(1 - p)) for probabilities p and targets y in [0, 1].

    Safe at p = 0 and p = 1: p and 1 - p are first squeezed into
    [eps, 1 - eps] by ``eps + (1 - 2 eps) p``.  Unlike a clamp, the squeeze keeps a slope,
    so a confidently wrong prediction still learns.  A logit-producing
    model should use `binary_cross_entropy_with_logits` instead: it is
    exact and needs no eps.

    >>> round(binary_cross_entropy([0.5], [1]).data, 6)        # -log(0.5)
    0.693147
    >>> round(binary_cross_entropy([0.0], [1]).data, 2)        # -log(1e-12), not inf
    27.63
    """
    if not 0 < eps < 0.5:
        raise ValueError(f"eps must be in (0, 0.5), got {eps!r}")
    probabilities, targets = _paired(probabilities, targets, 'binary_cross_entropy')
    terms = []
    for p, y in zip(probabilities, targets):
        _check_range(p, 0.0, 1.0, 'binary_cross_entropy: probability')
        _check_range(y, 0.0, 1.0, 'binary_cross_entropy: target')
        # 1 - p is squeezed on its own: 1 - (squeezed p) would lose eps to rounding near p = 1.
        squeeze = 1 - 2 * eps
        terms.append(-(y * (eps + squeeze * p).log() + (1 - y) * (eps + squeeze * (1 - p)).log()))
    return _reduce(terms, reduction)


def binary_cross_entropy_with_logits(logits: Sequence[Scalar] | Scalar, targets: Sequence[Scalar] | Scalar,
                                     reduction: str = 'mean') -> Value:
    """Binary cross-entropy of ``sigmoid(logit)``, computed without ever forming the sigmoid.

    Per example it is ``softplus(z) - y z`` (softplus(z) = log(1 + e^z)),
    algebraically the same as -(y log σ(z) + (1-y) log(1-σ(z))) but stable
    for any logit: no exp overflows and no log sees 0.  Its slope is
    ``σ(z) - y``.  Targets y are in [0, 1].

    >>> round(binary_cross_entropy_with_logits([0.0], [1]).data, 6)   # log 2
    0.693147
    >>> binary_cross_entropy_with_logits([1000.0, -1000.0], [0, 0]).data
    500.0
    """
    logits, targets = _paired(logits, targets, 'binary_cross_entropy_with_logits')
    terms = []
    for z, y in zip(logits, targets):
        _check_range(y, 0.0, 1.0, 'binary_cross_entropy_with_logits: target')
        terms.append(z.softplus() - y * z)
    return _reduce(terms, reduction)


def hinge_loss(scores: Sequence[Scalar] | Scalar, targets: Sequence[Scalar] | Scalar,
               reduction: str = 'mean') -> Value:
    """micrograd's max-margin loss: mean(relu(1 - y · score)) with y in {-1, +1}.

    An example scored on the right side by a margin of at least 1 costs
    nothing.  Targets must be -1 or +1 (`nn.data.to_signs` turns 0/1 labels
    into these).

    >>> round(hinge_loss([2.0, 0.5, -1.0], [1, 1, 1]).data, 4)     # (0 + 0.5 + 2) / 3
    0.8333
    """
    scores, targets = _paired(scores, targets, 'hinge_loss')
    for y in targets:
        if float(y) not in (-1.0, 1.0):
            raise ValueError(f"hinge_loss needs targets -1 or +1, got {float(y)!r} "
                             "(nn.data.to_signs turns 0/1 labels into -1/+1)")
    return _reduce([(1 - y * s).relu() for s, y in zip(scores, targets)], reduction)


def cross_entropy(logits: Sequence[Sequence[Scalar]] | Sequence[Scalar], targets: Sequence[int] | int,
                  reduction: str = 'mean') -> Value:
    """Softmax then negative log-likelihood, for several classes (PyTorch's ``cross_entropy``).

    ``logits`` holds one row of class scores per example, ``targets`` the
    right class's index per example (a single row and index work too).  Per
    example the loss is ``logsumexp(z) - z[target]``, where the log-sum-exp
    subtracts the largest score first, so no exp overflows.

    >>> round(cross_entropy([[0.0, 0.0]], [1]).data, 6)     # log 2: a coin toss
    0.693147
    >>> cross_entropy([1000.0, 0.0, -1000.0], 0).data      # one row, no overflow
    0.0
    """
    # Checked one by one below, so typed loosely here: a caller may pass anything.
    logit_rows: Sequence[object]
    indices: Sequence[object]
    # int is named beside numbers.Integral for the type checker, which does
    # not count int as an Integral (the numeric tower is runtime-only).
    if isinstance(targets, (int, numbers.Integral)):  # one example: a row and an index
        logit_rows, indices = [logits], [targets]
    else:
        logit_rows, indices = logits, targets
    if len(logit_rows) != len(indices):
        raise ValueError(f"cross_entropy: {len(logit_rows)} rows of logits but {len(indices)} targets")
    if not logit_rows:
        raise ValueError("cross_entropy: no examples (empty logits and targets)")
    rows = _class_score_rows(logit_rows)
    terms: list[Value] = []
    for i, (row, target) in enumerate(zip(rows, indices)):
        if isinstance(target, bool) or not isinstance(target, numbers.Integral):
            raise ValueError(f"cross_entropy: targets are class indices (int), got {target!r}")
        index = int(target)  # any integral type (a NumPy int, say) as a list index
        if not 0 <= index < len(row):
            raise ValueError(f"cross_entropy: target {target} of row {i} is out of range "
                             f"for {len(row)} classes")
        terms.append(logsumexp(row) - row[index])
    return _reduce(terms, reduction)


def one_hot_cross_entropy(logits: Sequence[Scalar], one_hot: Sequence[Scalar]) -> Value:
    """`cross_entropy` of one example whose target is a row of class weights (one-hot, say).

    The loss is ``logsumexp(z) - Σ t·z``.  Unlike `cross_entropy`, the
    largest logit is found with ``max`` operations and taken out first,
    rather than read from ``.data``: so the recorded graph computes the
    right numbers for every input, which is what a compiled (traced)
    training step needs.  The result does not depend on that largest
    value, so the gradient through it (1 - Σ softmax) is 0 up to rounding.

    >>> round(one_hot_cross_entropy([0.0, 0.0], [0.0, 1.0]).data, 6)    # log 2
    0.693147
    >>> one_hot_cross_entropy([1000.0, 0.0, -1000.0], [1.0, 0.0, 0.0]).data
    0.0
    """
    logits, one_hot = _as_values(logits), list(one_hot)
    if not logits or len(logits) != len(one_hot):
        raise ValueError(f"one_hot_cross_entropy: {len(logits)} logits but {len(one_hot)} target weights")
    largest = logits[0]
    for z in logits[1:]:
        largest = largest.max(z)
    shifted = [z - largest for z in logits]  # the largest is now exactly 0
    weighted = sum((t * z for t, z in zip(one_hot[1:], logits[1:])), one_hot[0] * logits[0])
    return logsumexp(shifted) + largest - weighted


def logsumexp(values: Sequence[Scalar]) -> Value:
    """log(Σ e^v), stable: the largest value is taken out first.

    log Σ e^v = m + log Σ e^(v - m) with m = max(v); every exponent is then
    ≤ 0.  m is a plain number: the result does not depend on it, so no
    gradient needs to flow through it.

    >>> logsumexp([1000.0, 1000.0]).data == 1000 + math.log(2)
    True
    """
    values = _as_values(values)
    if not values:
        raise ValueError("logsumexp of an empty list")
    m = max(v.data for v in values)
    if not math.isfinite(m):
        raise ValueError(f"logsumexp: the largest value is {m}")
    return sum(((v - m).exp() for v in values[1:]), (values[0] - m).exp()).log() + m


def softmax(values: Sequence[Scalar]) -> list[Value]:
    """Probabilities e^v / Σ e^v (stable: the largest value is taken out first).

    >>> [p.data for p in softmax([0.0, 0.0])]
    [0.5, 0.5]
    """
    values = _as_values(values)
    m = max(v.data for v in values)
    exps = [(v - m).exp() for v in values]
    total = sum(exps[1:], exps[0])
    return [e / total for e in exps]


def l2_penalty(parameters: Iterable[Value], alpha: float = 1e-4) -> Value:
    """``alpha * Σ p²``: micrograd's regularization, added to the loss.

    It pulls every weight towards 0 (its slope is ``2 alpha p``).  Accepts
    a list of parameters or a `Module`.

    >>> from autodiff import Value
    >>> l2_penalty([Value(1.0), Value(-2.0)], alpha=0.5).data   # 0.5 * (1 + 4)
    2.5
    """
    if hasattr(parameters, 'parameters'):
        parameters = parameters.parameters()
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha!r}")
    squares = [p * p for p in parameters]
    return alpha * sum(squares[1:], squares[0]) if squares else Value(0.0)


#: The losses by short name (used by `nn.training.fit` and the command line); each takes
#: ``(predictions, targets)`` and an optional ``reduction``.
LOSSES: dict[str, Callable[..., Value]] = {
    'mse': mse_loss,
    'bce': binary_cross_entropy,
    'bce_logits': binary_cross_entropy_with_logits,
    'hinge': hinge_loss,
    'cross_entropy': cross_entropy,
}


# ----------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------
def _paired(predictions: Iterable[Scalar] | Scalar, targets: Iterable[Scalar] | Scalar,
            name: str) -> tuple[list[Value], list[Scalar]]:
    """Both as lists of equal, non-zero length: predictions as Values, targets as given."""
    predictions = _as_values(predictions)
    # int and float are named beside numbers.Real for the type checker only.
    targets = [targets] if isinstance(targets, (Value, int, float, numbers.Real)) else list(targets)
    if len(predictions) != len(targets):
        raise ValueError(f"{name}: {len(predictions)} predictions but {len(targets)} targets")
    if not predictions:
        raise ValueError(f"{name}: no examples (empty predictions and targets)")
    for t in targets:
        if not isinstance(t, (Value, numbers.Real)):
            raise ValueError(f"{name}: targets must be numbers, got {t!r}")
    return predictions, targets


def _class_score_rows(logits: Sequence) -> list[list[Value]]:
    """cross_entropy's logits as rows of Values, all as long as the first (one score per class)."""
    rows: list[list[Value]] = []
    for i, row in enumerate(logits):
        if isinstance(row, (Value, numbers.Real)):
            raise ValueError(f"cross_entropy: row {i} is {row!r}, not a row of class scores "
                             "(logits need one row per example; a single row goes with a single int target)")
        row = _as_values(row)
        if not row:
            raise ValueError(f"cross_entropy: row {i} has no logits")
        if rows and len(row) != len(rows[0]):
            raise ValueError(f"cross_entropy: row {i} has {len(row)} logits, row 0 has {len(rows[0])} "
                             "(every row needs one score per class)")
        rows.append(row)
    return rows


def _as_values(xs: Iterable[Scalar] | Scalar) -> list[Value]:
    if isinstance(xs, (Value, int, float, numbers.Real)):  # int, float: as in _paired
        xs = [xs]
    out: list[Value] = []
    for x in xs:
        if isinstance(x, Value):
            out.append(x)
        elif isinstance(x, numbers.Real) and not isinstance(x, bool):
            out.append(Value(x))
        else:
            raise ValueError(f"predictions must be Values or numbers, got {x!r}")
    return out


def _reduce(terms: list[Value], reduction: str) -> Value:
    total = sum(terms[1:], terms[0])
    if reduction == 'sum':
        return total
    if reduction == 'mean':
        return total * (1.0 / len(terms))
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def _check_range(x: Scalar, low: float, high: float, what: str) -> None:
    value = x.data if isinstance(x, Value) else x
    if not low <= value <= high:
        raise ValueError(f"{what} must be in [{low:g}, {high:g}], got {value!r}")
