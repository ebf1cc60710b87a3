"""Optimizers: turn gradients into parameter updates.

Plain gradient descent is the notes' rule ``w ← w - α ∂J/∂w``; `SGD` adds
momentum and weight decay, `Adam` adapts the step per parameter.  Both
follow PyTorch's ``torch.optim`` formulas exactly.  The learning rate ``lr``
is a number or a *schedule*: any function of the step number (0, 1, 2, ...)
such as `linear_decay`.

>>> from autodiff import Value
>>> w = Value(3.0)
>>> opt = SGD([w], lr=0.1)
>>> loss = w * w
>>> opt.zero_grad(); loss.backward(); opt.step()
>>> w.data                      # 3 - 0.1 * 6
2.4
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

from autodiff import Value

try:  # NumPy is optional (chainrule[fast]): only step_arrays, which is handed arrays, uses it
    import numpy as np
except ImportError:  # pragma: no cover - exercised on installs without NumPy
    np = None  # type: ignore[assignment]  # step_arrays is only ever handed arrays

Schedule = Callable[[int], float]


# ----------------------------------------------------------------------
# Learning-rate schedules: functions of the step number.
# ----------------------------------------------------------------------
def constant(lr: float) -> Schedule:
    """The same learning rate at every step.

    >>> constant(0.1)(99)
    0.1
    """
    _check_positive('lr', lr)
    return lambda step: lr


def linear_decay(start: float, end: float, steps: int) -> Schedule:
    """From ``start`` to ``end`` in a straight line over ``steps`` steps, then ``end``.

    micrograd's demo uses ``linear_decay(1.0, 0.1, 100)``: at step k its
    learning rate is ``1.0 - 0.9 * k / 100``.

    >>> schedule = linear_decay(1.0, 0.1, 100)
    >>> schedule(0), schedule(50), schedule(100), schedule(500)
    (1.0, 0.55, 0.1, 0.1)
    """
    _check_positive('start', start)
    _check_positive('end', end)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    return lambda step: end if step >= steps else start - (start - end) * step / steps


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """``lr`` multiplied by ``gamma`` every ``step_size`` steps (PyTorch's ``StepLR``).

    >>> schedule = step_decay(1.0, step_size=10, gamma=0.5)
    >>> schedule(0), schedule(9), schedule(10), schedule(25)
    (1.0, 1.0, 0.5, 0.25)
    """
    _check_positive('lr', lr)
    if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
        raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
    _check_positive('gamma', gamma)
    return lambda step: lr * gamma ** (step // step_size)


# ----------------------------------------------------------------------
# Optimizers.
# ----------------------------------------------------------------------
class Optimizer:
    """What every optimizer shares: the parameters, the schedule, the step count.

    ``params`` is a list of Values (or a `Module`).  ``steps`` counts the
    updates made so far; the learning rate of the next one is ``lr``.

    >>> from autodiff import Value
    >>> Optimizer([Value(1.0)], lr=linear_decay(1.0, 0.1, 10)).lr
    1.0
    """

    def __init__(self, params: Iterable[Value], lr: float | Schedule):
        if hasattr(params, 'parameters'):  # a Module
            params = params.parameters()
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        for p in self.params:
            if not isinstance(p, Value):
                raise ValueError(f"optimizer parameters must be Values, got {p!r}")
        if callable(lr):
            self.schedule = lr
        else:
            _check_positive('lr', lr)
            self.schedule = constant(lr)
        self.steps = 0

    @property
    def lr(self) -> float:
        """The learning rate the next `step` will use.

        >>> SGD([Value(0.0)], lr=step_decay(1.0, step_size=1, gamma=0.5)).lr
        1.0
        """
        lr = self.schedule(self.steps)
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr < 0:
            raise ValueError(f"the learning-rate schedule gave {lr!r} at step {self.steps}; "
                             "it must be a finite number >= 0")
        return float(lr)

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0 (gradients accumulate otherwise).

        >>> w = Value(1.0)
        >>> w.grad = 5.0
        >>> SGD([w], lr=0.1).zero_grad()
        >>> w.grad
        0.0
        """
        for p in self.params:
            p.grad = 0.0

    def step(self) -> None:
        """Update every parameter from its current gradient.

        >>> w = Value(1.0)
        >>> w.grad = 2.0
        >>> opt = SGD([w], lr=0.25)
        >>> opt.step()
        >>> w.data, opt.steps
        (0.5, 1)
        """
        self.state_to_lists()
        lr = self.lr
        for i, p in enumerate(self.params):
            p.data = self._updated(i, p.data, float(p.grad), lr)
        self.steps += 1

    def step_arrays(self, weights: Any, grads: Any) -> None:
        """`step` for the parameters held as one NumPy array, updated in place; the Values are not touched.

        ``weights[i]`` stands for ``params[i].data`` and ``grads[i]`` for its
        gradient: how `fit(compile=...)` trains.  This version applies the
        optimizer's own rule entry by entry, so any subclass works; `SGD`
        and `Adam` update the whole array at once.

        >>> import numpy as np
        >>> weights, opt = np.array([1.0, 2.0]), SGD([Value(1.0), Value(2.0)], lr=0.5)
        >>> opt.step_arrays(weights, np.array([2.0, -2.0]))
        >>> weights.tolist(), opt.steps
        ([0.0, 3.0], 1)
        """
        self.state_to_lists()
        lr = self.lr
        for i, (w, g) in enumerate(zip(weights.tolist(), grads.tolist())):
            weights[i] = self._updated(i, w, g, lr)
        self.steps += 1

    def state_to_lists(self) -> None:
        """Copy state that `step_arrays` kept as arrays back into its per-parameter lists (if any)."""

    def _updated(self, i: int, w: float, g: float, lr: float) -> float:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.params)} parameters, lr={self.lr:g}, steps={self.steps})"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum (PyTorch's ``torch.optim.SGD``).

    For each parameter w with gradient g, one step is::

        g = g + weight_decay * w
        if momentum:                     # a running sum of past gradients
            b = g at the first step, else momentum * b + g
            g = g + momentum * b if nesterov else b
        w = w - lr * g

    ``momentum=0`` is the notes' plain rule ``w ← w - α ∂J/∂w``.

    >>> from autodiff import Value
    >>> w = Value(1.0)
    >>> opt = SGD([w], lr=0.5, momentum=0.9)
    >>> for _ in range(2):
    ...     w.grad = 1.0       # a constant gradient
    ...     opt.step()
    >>> round(w.data, 12)      # 1 - 0.5 * 1 - 0.5 * (0.9 * 1 + 1)
    -0.45
    """

    def __init__(self, params: Iterable[Value], lr: float | Schedule, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0):
        super().__init__(params, lr)
        _check_at_least_zero('momentum', momentum)
        _check_at_least_zero('weight_decay', weight_decay)
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs a momentum > 0")
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.buffers: list[float | None] = [None] * len(self.params)
        self._buffer_array: Any = None  # the buffers while step_arrays runs

    def _updated(self, i: int, w: float, g: float, lr: float) -> float:
        if self.weight_decay:
            g = g + self.weight_decay * w
        if self.momentum:
            b = self.buffers[i]
            b = g if b is None else self.momentum * b + g
            self.buffers[i] = b
            g = g + self.momentum * b if self.nesterov else b
        return w - lr * g

    def step_arrays(self, weights: Any, grads: Any) -> None:
        # _updated's arithmetic on whole arrays: the same operations in the same order on
        # each entry, so the same bits (the tests compare the two), at one call per operation.
        if self.momentum and self._buffer_array is None:
            started = self.buffers[0] is not None
            if any((b is not None) != started for b in self.buffers):
                super().step_arrays(weights, grads)  # buffers begun at different steps: entry by entry
                return
            if started:
                self._buffer_array = np.array(self.buffers, dtype=float)
        lr, g = self.lr, grads
        if self.weight_decay:
            g = g + self.weight_decay * weights
        if self.momentum:
            b = g.copy() if self._buffer_array is None else self.momentum * self._buffer_array + g
            self._buffer_array = b
            g = g + self.momentum * b if self.nesterov else b
        weights -= lr * g
        self.steps += 1

    def state_to_lists(self) -> None:
        if self._buffer_array is not None:
            self.buffers = self._buffer_array.tolist()
            self._buffer_array = None


class Adam(Optimizer):
    """Adam (PyTorch's ``torch.optim.Adam``): a step per parameter, scaled by its gradient history.

    For each parameter w with gradient g, at step t = 1, 2, ...::

        g = g + weight_decay * w
        m = beta1 * m + (1 - beta1) * g          # mean of gradients
        v = beta2 * v + (1 - beta2) * g²         # mean of squared gradients
        w = w - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    The two ``1 - beta^t`` terms correct for m and v starting at 0.

    >>> from autodiff import Value
    >>> w = Value(1.0)
    >>> opt = Adam([w], lr=0.1)
    >>> w.grad = 123.0
    >>> opt.step()
    >>> round(w.data, 6)       # the first step is about lr, whatever the gradient's size
    0.9
    """

    def __init__(self, params: Iterable[Value], lr: float | Schedule = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr)
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        for name, beta in zip(('betas[0]', 'betas[1]'), betas):
            if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not 0 <= beta < 1:
                raise ValueError(f"{name} must be in [0, 1), got {beta!r}")
        _check_at_least_zero('eps', eps)
        _check_at_least_zero('weight_decay', weight_decay)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = eps
        self.weight_decay = weight_decay
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)
        self._mean_arrays: Any = None  # (m, v) while step_arrays runs

    def _updated(self, i: int, w: float, g: float, lr: float) -> float:
        beta1, beta2 = self.betas
        t = self.steps + 1
        if self.weight_decay:
            g = g + self.weight_decay * w
        self.m[i] = beta1 * self.m[i] + (1 - beta1) * g
        self.v[i] = beta2 * self.v[i] + (1 - beta2) * g * g
        step_size = lr / (1 - beta1 ** t)
        denominator = math.sqrt(self.v[i]) / math.sqrt(1 - beta2 ** t) + self.eps
        if denominator == 0:  # eps = 0 and no gradient yet: m is 0 too, so the step is 0 (not 0 / 0)
            return w
        return w - step_size * self.m[i] / denominator

    def step_arrays(self, weights: Any, grads: Any) -> None:
        # _updated's arithmetic on whole arrays (the same operations in the same order on each
        # entry: the same bits, which the tests check); m and v live in arrays meanwhile.
        lr, (beta1, beta2), t = self.lr, self.betas, self.steps + 1
        g = grads + self.weight_decay * weights if self.weight_decay else grads
        if self._mean_arrays is None:
            self._mean_arrays = (np.array(self.m, dtype=float), np.array(self.v, dtype=float))
        m, v = self._mean_arrays
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        self._mean_arrays = (m, v)
        step_size = lr / (1 - beta1 ** t)
        denominator = np.sqrt(v) / math.sqrt(1 - beta2 ** t) + self.eps
        scaled = step_size * m
        if self.eps == 0:  # as in _updated: no step where there has been no gradient
            weights -= np.divide(scaled, denominator, out=np.zeros_like(scaled), where=denominator != 0)
        else:
            weights -= scaled / denominator
        self.steps += 1

    def state_to_lists(self) -> None:
        if self._mean_arrays is not None:
            self.m, self.v = (a.tolist() for a in self._mean_arrays)
            self._mean_arrays = None


def _check_positive(name: str, x: object) -> None:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be a number > 0, got {x!r}")


def _check_at_least_zero(name: str, x: object) -> None:
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not math.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be a number >= 0, got {x!r}")
