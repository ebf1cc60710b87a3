"""Compiled training steps: a batch's loss and gradients by generated code instead of a graph.

`compile_step` traces the model and loss on one example, compiles the
per-example code for whole batches (`autodiff.compile_batch`) and checks it
against the eager engine on a few examples; `nn.training.fit(compile=...)`
then calls the `CompiledStep` where it would build a graph.  Which backend
runs (``'python'`` or ``'numpy'``) is decided in one place for the whole
project, :func:`autodiff.codegen.backends.resolve_backend`.

>>> from nn import MLP
>>> model = MLP(1, [1], seed=0)
>>> step = compile_step(model, [[0.0], [1.0]], [1.0, 3.0], loss='mse', backend='python')
>>> loss, outputs = step([[0.0], [1.0]], [1.0, 3.0])
>>> len(outputs), loss >= 0.0
(2, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from autodiff import TraceMismatchError, compile_batch, no_grad
from autodiff.codegen.backends import BACKENDS, resolve_backend
from nn.losses import LOSSES, cross_entropy, l2_penalty, one_hot_cross_entropy
from nn.modules import Module
from nn.scoring import LossFunction, resolve_loss

#: How many examples `compile_step` re-traces and checks against the eager engine.
CHECKED_EXAMPLES = 8
#: Said by every refusal: what always works instead.
EAGER_WAY_OUT = "Train with fit(..., compile=False): the eager engine handles any model and loss."


class NotCompilable(ValueError):
    """`fit(compile=...)` cannot compile this model and loss; ``compile=False`` trains it eagerly.

    >>> issubclass(NotCompilable, ValueError)
    True
    """


class CompiledStep:
    """A batch's loss and gradients by generated code: ``loss, outputs = step(Xb, yb)``.

    It does what `fit`'s eager step does (forward pass, loss, backward pass)
    without building a graph: the model's parameters are read from their
    ``.data``, and the gradients are written into their ``.grad``, so any
    optimizer then updates them as usual.  ``outputs`` are the model's
    outputs per example, as floats (for accuracy).  Made by `compile_step`.

    >>> from nn import MLP
    >>> model = MLP(1, [1], seed=0)
    >>> step = compile_step(model, [[1.0], [2.0]], [2.0, 4.0], loss='mse', backend='python')
    >>> w, b = model.parameters()
    >>> w.data, b.data = 1.0, 0.0
    >>> step([[1.0], [2.0]], [2.0, 4.0])        # outputs 1 and 2: mean((1 - 2)², (2 - 4)²)
    (2.5, [1.0, 2.0])
    >>> w.grad, b.grad                          # mean(2 (wx - y) x), mean(2 (wx - y))
    (-5.0, -3.0)
    """

    def __init__(self, model: Module, batch: Any, targets: Callable[[Sequence], list], backend: str):
        self.model = model
        self.parameters = model.parameters()
        self.batch = batch
        self.targets = targets
        self.backend = backend
        #: The generated code (one line per operation of one example).
        self.source: str = batch.source
        #: With NumPy, what `fit` trains between write-backs: the parameters and their gradients as arrays.
        self.weights: Any = None
        self.grads: Any = None

    def __call__(self, Xb: Sequence, yb: Sequence) -> tuple[float, list]:
        (loss, outputs), grads = self.batch([p.data for p in self.parameters], Xb, self.targets(yb))
        for p, g in zip(self.parameters, grads):
            p.grad = float(g)  # a plain float even from NumPy, like the eager engine's
        return float(loss), outputs

    @property
    def runs_on_arrays(self) -> bool:
        """Whether `on_arrays` can run: the NumPy backend, whose code takes the parameters as one array."""
        return self.backend == 'numpy'

    def on_arrays(self, Xb: Sequence, yb: Sequence) -> tuple[float, list]:
        """The step on `weights` (read from the model at the first call), leaving the gradient in `grads`.

        Nothing is written to the model's Values: between `write_back` calls
        an optimizer updates ``weights`` in place (`nn.optim.Optimizer.step_arrays`),
        so a step costs array operations only.  This is how `fit` runs.
        """
        if self.weights is None:
            import numpy as np  # only the NumPy backend comes here

            self.weights = np.array([p.data for p in self.parameters], dtype=float)
        (loss, outputs), self.grads = self.batch(self.weights, Xb, self.targets(yb))
        return float(loss), outputs

    def as_array(self, X: Sequence) -> Any:
        """The examples as one float array for `on_arrays` (``X`` itself where they do not make one)."""
        import numpy as np  # only the NumPy backend comes here

        try:
            return np.asarray(X, dtype=float)
        except (TypeError, ValueError):  # ragged or nested rows: each batch is converted as it comes
            return X

    def as_targets(self, y: Sequence) -> Any:
        """The targets as one float array for `on_arrays`, converted once (``y`` itself for class labels).

        Class labels stay as they are: each batch turns them into one-hot rows.
        """
        if self.targets is not float_targets:
            return y
        import numpy as np  # only the NumPy backend comes here

        return np.asarray(float_targets(y), dtype=float)

    def write_back(self) -> None:
        """Copy `weights` and `grads` into the model's Values, and read the weights afresh next time."""
        if self.weights is None:
            return
        for p, w in zip(self.parameters, self.weights.tolist()):
            p.data = w
        if self.grads is not None:
            for p, g in zip(self.parameters, self.grads.tolist()):
                p.grad = g
        self.weights = self.grads = None


def compile_step(model: Module, X: Sequence, y: Sequence, *, loss: str | LossFunction = 'mse',
                 l2: float = 0.0, backend: str = 'auto', batch_size: int | None = None) -> CompiledStep:
    """Compile one training step of ``model`` on batches of ``(X, y)``: what ``fit(compile=...)`` uses.

    The loss must be the mean of one term per example (each loss of
    :mod:`nn.losses` is); the model is traced on ``X[0]`` and the code runs
    for batches of any size.  ``backend`` is ``'numpy'`` (every operation
    on the whole batch at once, a dense layer as one matrix product),
    ``'python'`` (a loop over the examples) or ``'auto'``: NumPy when it
    is installed and ``batch_size`` (as in `fit`; None for the whole data)
    is at least `autodiff.codegen.backends.NUMPY_MIN_BATCH`, else Python.
    The targets are checked as the eager loss checks them.

    Before returning, the step is checked on a few examples against the
    eager engine (same loss) and against a re-trace (same operations).
    Raises `NotCompilable` when the model cannot be traced, when it
    branches on ``.data`` (a trace records one branch only: the code would
    be silently wrong elsewhere), or when the loss is not a mean of
    per-example terms.  A check on a few examples cannot prove the absence
    of branches: a model whose operations depend on the values must be
    trained with ``compile=False``.

    >>> from nn import MLP
    >>> model = MLP(2, [4, 1], seed=0)
    >>> step = compile_step(model, [[0.0, 1.0], [1.0, 0.0]], [1, -1], loss='hinge', backend='python')
    >>> step.backend, len(step([[0.0, 1.0]], [1])[1])
    ('python', 1)
    """
    loss_fn = resolve_loss(loss)
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2!r}")
    if len(X) == 0 or len(X) != len(y):
        raise ValueError(f"compile_step needs examples: {len(X)} rows of X, {len(y)} targets")
    backend = _chosen_backend(backend, batch_size)
    targets, example = _per_example_loss(model, loss_fn, X, y)
    penalty = (lambda ps: l2_penalty(ps, l2)) if l2 else None
    try:
        batch = compile_batch(example, (model.parameters(), X[0], targets([y[0]])[0]), batched=(1, 2),
                              penalty=penalty, backend=backend, has_aux=True)
    except Exception as error:  # whatever the model or loss raised on traced Values
        raise NotCompilable(f"cannot trace {type(model).__name__} with {_name(loss_fn)} on one example "
                            f"({type(error).__name__}: {error}). {EAGER_WAY_OUT}") from error
    _check_against_eager(batch, model, loss_fn, X, y, targets, l2)
    return CompiledStep(model, batch, targets, batch.backend)


def _chosen_backend(backend: str, batch_size: int | None) -> str:
    """The backend that will run, from `resolve_backend`; refusals name the ``compile`` argument."""
    if backend not in ('auto', *BACKENDS):
        raise ValueError(f"compile must be True, False or a backend ('auto', 'python', 'numpy'), "
                         f"got {backend!r}")
    try:
        return resolve_backend(backend, batch_size)
    except ImportError as error:
        raise NotCompilable(f"the {backend} backend is not available ({error}). Use compile='python', "
                            f"or compile=False.") from error


def _per_example_loss(model: Module, loss_fn: LossFunction, X: Sequence, y: Sequence
                      ) -> tuple[Callable[[Sequence], list], Callable]:
    """``(targets, example)``: how targets enter the code, and one example's ``(loss, output)``.

    The eager loss's checks run first on every target, so a bad label is
    refused with the eager message rather than compiled.
    """
    if loss_fn is cross_entropy:
        with no_grad():
            first = model(X[0])
        classes = len(first) if isinstance(first, list) else 1
        # The target picks a logit by index: traced, an index would be frozen, so
        # the compiled form takes it as a one-hot row (the same numbers).
        cross_entropy([[0.0] * classes] * len(y), list(y))

        def one_hot_targets(yb: Sequence) -> list:
            return [[1.0 if k == t else 0.0 for k in range(classes)] for t in yb]

        def cross_entropy_example(params, x, target):
            out = model(x)
            return one_hot_cross_entropy(out if isinstance(out, list) else [out], target), out

        return one_hot_targets, cross_entropy_example
    if loss_fn in LOSSES.values():
        loss_fn([0.5] * len(y), list(y))  # 0.5 is a valid output for every loss of nn.losses

    def example(params, x, target):
        out = model(x)
        return loss_fn([out], [target]), out

    return float_targets, example


def float_targets(yb: Sequence) -> Any:
    """The targets of a loss on numbers, as floats.

    A float64 NumPy array (from `CompiledStep.as_targets`) is returned as it
    is: it already is what the NumPy code takes whole.

    >>> float_targets([1, -1])
    [1.0, -1.0]
    """
    if getattr(getattr(yb, 'dtype', None), 'char', None) == 'd':  # 'd': float64 (str(dtype) costs 4 µs)
        return yb
    return [float(t) for t in yb]


def _check_against_eager(batch: Any, model: Module, loss_fn: LossFunction, X: Sequence, y: Sequence,
                         targets: Callable[[Sequence], list], l2: float) -> None:
    """Re-trace a few examples spread over the data and compare the compiled loss with the eager one."""
    spread = sorted({i * (len(X) - 1) // max(1, CHECKED_EXAMPLES - 1) for i in range(CHECKED_EXAMPLES)})
    Xs, ys = [X[i] for i in spread], [y[i] for i in spread]
    params = model.parameters()
    try:
        batch.check(params, Xs, targets(ys))
    except TraceMismatchError as error:
        raise NotCompilable(f"the model's operations depend on its values (its Python code branches "
                            f"on .data), so one trace cannot stand for every example: {error}. "
                            f"{EAGER_WAY_OUT}") from error
    with no_grad():
        expected = loss_fn([model(x) for x in Xs], ys).data + (l2_penalty(params, l2).data if l2 else 0.0)
    (value, _), _ = batch([p.data for p in params], Xs, targets(ys))
    if not math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12):
        raise NotCompilable(f"{_name(loss_fn)} is not the mean of one term per example (on {len(Xs)} "
                            f"examples it gives {expected!r}, the mean of its per-example values "
                            f"{value!r}); compiled training needs such a loss. {EAGER_WAY_OUT}")


def _name(loss_fn: LossFunction) -> str:
    return getattr(loss_fn, '__name__', 'the loss')
