"""The catalogue of differentiable operations the engine tests sweep over.

Each entry says how to apply the operation to Values, how to apply it to
PyTorch tensors (the independent reference), and where its inputs may be
drawn: inside the domain and away from kinks, where a finite difference or
a comparison of subgradients would mean nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    name: str
    arity: int
    on_values: Callable
    on_tensors: Callable
    # Accepts a candidate input tuple (floats) when it is a fair test point.
    fair: Callable[..., bool] = lambda *xs: True


def _away_from_zero(x: float) -> bool:
    return abs(x) > 1e-3


OPERATIONS = [
    Operation('add', 2, lambda a, b: a + b, lambda a, b: a + b),
    Operation('radd', 1, lambda a: 2.5 + a, lambda a: 2.5 + a),
    Operation('sub', 2, lambda a, b: a - b, lambda a, b: a - b),
    Operation('rsub', 1, lambda a: 2.5 - a, lambda a: 2.5 - a),
    Operation('mul', 2, lambda a, b: a * b, lambda a, b: a * b),
    Operation('rmul', 1, lambda a: -1.5 * a, lambda a: -1.5 * a),
    Operation('div', 2, lambda a, b: a / b, lambda a, b: a / b, lambda a, b: abs(b) > 0.1),
    Operation('rdiv', 1, lambda a: 2.0 / a, lambda a: 2.0 / a, lambda a: abs(a) > 0.1),
    Operation('neg', 1, lambda a: -a, lambda a: -a),
    Operation('abs', 1, lambda a: abs(a), lambda a: a.abs(), _away_from_zero),
    Operation('pow_int', 1, lambda a: a ** 3, lambda a: a ** 3),
    Operation('pow_negative', 1, lambda a: a ** -2, lambda a: a ** -2, lambda a: abs(a) > 0.1),
    Operation('pow_fraction', 1, lambda a: a ** 0.5, lambda a: a ** 0.5, lambda a: a > 0.01),
    Operation('pow_values', 2, lambda a, b: a ** b, lambda a, b: a ** b, lambda a, b: a > 0.01),
    Operation('rpow', 1, lambda a: 2.0 ** a, lambda a: 2.0 ** a),
    Operation('exp', 1, lambda a: a.exp(), lambda a: a.exp()),
    Operation('log', 1, lambda a: a.log(), lambda a: a.log(), lambda a: a > 0.01),
    Operation('log1p', 1, lambda a: a.log1p(), lambda a: a.log1p(), lambda a: a > -0.99),
    Operation('sqrt', 1, lambda a: a.sqrt(), lambda a: a.sqrt(), lambda a: a > 0.01),
    Operation('sin', 1, lambda a: a.sin(), lambda a: a.sin()),
    Operation('cos', 1, lambda a: a.cos(), lambda a: a.cos()),
    Operation('tanh', 1, lambda a: a.tanh(), lambda a: a.tanh()),
    Operation('sigmoid', 1, lambda a: a.sigmoid(), lambda a: a.sigmoid()),
    Operation('softplus', 1, lambda a: a.softplus(),
              lambda a: __import__('torch').nn.functional.softplus(a)),
    Operation('relu', 1, lambda a: a.relu(), lambda a: a.relu(), _away_from_zero),
    Operation('leaky_relu', 1, lambda a: a.leaky_relu(0.1),
              lambda a: __import__('torch').nn.functional.leaky_relu(a, 0.1), _away_from_zero),
    Operation('max', 2, lambda a, b: a.max(b), lambda a, b: __import__('torch').maximum(a, b),
              lambda a, b: abs(a - b) > 1e-3),
    Operation('min', 2, lambda a, b: a.min(b), lambda a, b: __import__('torch').minimum(a, b),
              lambda a, b: abs(a - b) > 1e-3),
]

BY_NAME = {op.name: op for op in OPERATIONS}
