"""The training loop of the notes: `fit`, and `evaluate` and `predict` for a trained model.

Each epoch goes through the data in batches (all at once, one at a time,
or k at a time: see `nn.data.batches`) and for each batch does the four
steps of the notes: forward pass, loss, backward pass, parameter update.
`fit` records what happened in a `nn.history.History`.

>>> from nn import MLP
>>> from nn.optim import SGD
>>> X, y = [[0.0], [1.0], [2.0]], [1.0, 3.0, 5.0]          # y = 2x + 1
>>> model = MLP(1, [1], seed=0)
>>> history = fit(model, X, y, loss='mse', optimizer=SGD(model.parameters(), lr=0.1),
...               epochs=200, progress=False)
>>> round(history.loss[-1], 6), [round(p.data, 3) for p in model.parameters()]
(0.0, [2.0, 1.0])
"""

from __future__ import annotations

import math
import numbers
import random
import time
from collections.abc import Callable, Iterable, Sequence

from autodiff import Value, gc_paused, no_grad
from nn.compiled_training import CompiledStep, compile_step
from nn.data import batches
from nn.history import History
from nn.losses import l2_penalty
from nn.modules import Module
from nn.optim import SGD, Optimizer
from nn.progress import progress_bar
from nn.scoring import LossFunction, count_correct, default_threshold, measures_accuracy, resolve_loss

#: One batch through the model: ``loss, outputs = step(Xb, yb)``, gradients left in each ``p.grad``.
Step = Callable[[list, list], tuple[float, list]]


class TrainingDiverged(ArithmeticError):
    """The loss became nan or inf: almost always a learning rate that is too large.

    ``history`` holds the epochs completed before it happened.

    >>> from nn import MLP
    >>> from nn.optim import SGD
    >>> model = MLP(1, [1], seed=0)
    >>> try:
    ...     fit(model, [[1.0], [3.0]], [1.0, 3.0], optimizer=SGD(model.parameters(), lr=100.0),
    ...         epochs=500, progress=False)
    ... except TrainingDiverged as error:
    ...     print(str(error).split(': ')[1].split('; ')[1])
    try a smaller one, e.g. 10 (or smaller still if that diverges too).
    """

    def __init__(self, message: str, epoch: int, history: History):
        super().__init__(message)
        self.epoch = epoch
        self.history = history


class TrainingInputError(TrainingDiverged, ValueError):
    """An input of `fit` that would make training diverge from the first step, found before it starts.

    A nan or inf in ``X``, ``y`` or the validation data, or an ``l2`` that
    is nan, inf or negative (a negative penalty rewards ever larger
    weights).  It is both a ``ValueError`` (a bad argument) and a
    `TrainingDiverged` (what training would have done); ``epoch`` is 0.

    >>> from nn import MLP
    >>> try:
    ...     fit(MLP(2, [1], seed=0), [[0.0, 1.0], [2.0, float('nan')]], [0.0, 1.0], progress=False)
    ... except TrainingInputError as error:
    ...     print(str(error).split(':')[0])
    X[1][1] is nan
    """


def fit(model: Module, X: Sequence, y: Sequence, *, loss: str | LossFunction = 'mse',
        optimizer: Optimizer | None = None, epochs: int = 100, batch_size: int | None = None,
        validation: tuple[Sequence, Sequence] | None = None, progress: bool = True,
        patience: int | None = None, restore_best: bool = False, l2: float = 0.0,
        shuffle: bool = True, seed: int | None = 0, accuracy: bool | None = None,
        threshold: float | None = None, compile: bool | str = False) -> History:
    """Train ``model`` on ``(X, y)``; returns a `nn.history.History`.

    * ``loss``: a function ``loss(outputs, targets) -> Value`` from
      :mod:`nn.losses`, or its short name: ``'mse'``, ``'bce'``,
      ``'bce_logits'``, ``'hinge'``, ``'cross_entropy'``.
    * ``optimizer``: defaults to ``SGD(model.parameters(), lr=0.1)``.
    * ``batch_size``: None for batch gradient descent (one update per
      epoch), 1 for stochastic, k for mini-batch (see `nn.data.batches`).
      ``shuffle`` visits the examples in a new order each epoch, drawn
      from ``seed``.
    * ``l2``: adds ``l2 * Σ p²`` to every batch's loss (micrograd's regularization).
    * ``validation``: ``(X_val, y_val)``, evaluated after every epoch.
    * ``patience``: stop when the monitored loss (validation loss, else
      training loss) has not improved for this many epochs;
      ``restore_best`` then puts back the best epoch's parameters.
    * ``accuracy``: whether to measure it (default: for every loss but
      mse).  One output: the prediction is positive when it exceeds
      ``threshold`` (0.5 for ``binary_cross_entropy``'s probabilities,
      else 0); a target is positive when > 0, so labels may be 0/1 or
      -1/+1.  Several outputs: the largest one is the predicted class.
    * ``progress``: a tqdm bar showing epoch, loss and accuracy (a plain
      line now and then if tqdm is not installed).
    * ``compile``: ``True`` (or a backend: ``'auto'``, ``'numpy'``,
      ``'python'``; True means ``'auto'``, see
      `nn.compiled_training.compile_step`) traces the model and loss on
      one example once and runs every batch, of any size, through
      generated code (`autodiff.compile_batch`): no `Value` is built per
      step, gradients go into each ``p.grad`` as usual, and losses and
      weights equal eager training's to rounding (≈ 1e-15; a run that
      diverges amplifies even that).  Limits: the loss must be a mean of
      one term per example (every loss of :mod:`nn.losses` is); the
      model's Python code must not branch on ``.data`` (checked on a few
      examples before training, which cannot prove it); validation is
      still measured by the eager engine; compiling takes ~0.1-0.3 s.
      What cannot be compiled raises `NotCompilable` naming the reason:
      train it with ``compile=False``.

    Raises `TrainingDiverged` naming the epoch and the likely cause when
    the loss, or a weight after an update, becomes nan or inf; and, before
    any training, `TrainingInputError` for a nan or inf in the data or an
    ``l2`` that is nan, inf or negative.  The training loss of an epoch is the mean over its batches,
    each measured before its update (as micrograd's demo prints it).

    >>> from nn import MLP, make_moons, to_signs
    >>> X, y = make_moons(n_samples=40, noise=0.1, random_state=0)
    >>> model = MLP(2, [8, 8, 1], seed=0)
    >>> history = fit(model, X, to_signs(y), loss='hinge', optimizer=SGD(model.parameters(), lr=0.1),
    ...               epochs=20, batch_size=10, progress=False)
    >>> history.updates[0], history.accuracy[-1] > 0.8       # 40 examples, 10 at a time
    (4, True)
    """
    loss_fn = resolve_loss(loss)
    _check_fit_arguments(X, y, epochs, patience)
    _check_finite_inputs(X, y, validation, l2)
    optimizer = optimizer if optimizer is not None else SGD(model.parameters(), lr=0.1)
    scoring = _Scoring(measures_accuracy(loss_fn, accuracy), default_threshold(loss_fn, threshold))
    step: Step
    compiled = None
    if compile:
        compiled = compile_step(model, X, y, loss=loss_fn, l2=l2,
                                backend='auto' if compile is True else compile, batch_size=batch_size)
        # With NumPy the parameters stay one array through the epoch (written back after it).
        step = compiled.on_arrays if compiled.runs_on_arrays else compiled
    else:
        step = _eager_step(model, loss_fn, l2)
    watched = _Watched(model.parameters(), optimizer,
                       compiled if compiled is not None and compiled.runs_on_arrays else None)
    rows, labels = (X, y) if watched.arrays is None else (  # converted once, not per batch
        watched.arrays.as_array(X), watched.arrays.as_targets(y))
    order = random.Random(seed)  # one generator: a new shuffle every epoch
    history = History()
    stopping = _EarlyStopping(model, patience, restore_best)

    # The graphs are cycle-free, so the cyclic collector only wastes time (see gc_paused).
    with progress_bar(epochs, progress) as bar, gc_paused():
        for epoch in range(1, epochs + 1):
            started, lr = time.perf_counter(), optimizer.lr
            try:
                epoch_batches = batches(rows, labels, batch_size, shuffle=shuffle, seed=order)
                row = _train_one_epoch(step, watched, scoring, epoch_batches, epoch, history)
            finally:
                watched.write_back()  # the model's Values hold the weights from here on
            row.update(epoch=epoch, lr=lr)
            if validation is not None:
                row['val_loss'], row['val_accuracy'] = evaluate(
                    model, *validation, loss=loss_fn, accuracy=scoring.accuracy, threshold=scoring.threshold)
            row['seconds'] = time.perf_counter() - started
            history.record(**row)
            bar.update(row)
            monitored = row['val_loss'] if validation is not None else row['loss']
            if not math.isfinite(monitored):
                raise _diverged(monitored, epoch, None, optimizer, history,
                                'validation ' if validation is not None else '')
            if stopping.should_stop(monitored, epoch, history):
                history.stopped_early = epoch < epochs
                break
    stopping.restore_best()
    return history


def evaluate(model: Module, X: Sequence, y: Sequence, *, loss: str | LossFunction = 'mse',
             accuracy: bool | None = None, threshold: float | None = None) -> tuple[float, float | None]:
    """``(loss, accuracy)`` of ``model`` on ``(X, y)``, without building a graph.

    ``accuracy`` and ``threshold`` mean what they mean in `fit`; accuracy
    is None when not measured.

    >>> from nn import MLP
    >>> model = MLP(1, [1], seed=0)
    >>> model.load_state_dict({'layers.0.neurons.0.w.0': 1.0, 'layers.0.neurons.0.b': 0.0})
    >>> evaluate(model, [[-2.0], [3.0]], [-1, 1], loss='hinge')
    (0.0, 1.0)
    """
    loss_fn = resolve_loss(loss)
    threshold = default_threshold(loss_fn, threshold)
    with no_grad():
        outputs = [model(x) for x in X]
        value = loss_fn(outputs, list(y)).data
    if not measures_accuracy(loss_fn, accuracy):
        return value, None
    return value, count_correct(outputs, y, threshold) / len(y)


def predict(model: Module, X: Sequence) -> list:
    """The model's outputs for each row of ``X`` as floats (lists of floats for several outputs).

    >>> from nn import MLP
    >>> predict(MLP(3, [2, 1], seed=0), [[0.0, 0.0, 0.0]])
    [0.0]
    """
    with no_grad():
        outputs = [model(x) for x in X]
    return [[v.data for v in out] if isinstance(out, list) else out.data for out in outputs]


# ----------------------------------------------------------------------
# The parts of fit.
# ----------------------------------------------------------------------
class _Scoring:
    """Whether accuracy is measured, and the score above which one output means the positive class."""

    def __init__(self, accuracy: bool, threshold: float):
        self.accuracy, self.threshold = accuracy, threshold


def _check_fit_arguments(X: Sequence, y: Sequence, epochs: int, patience: int | None) -> None:
    if len(X) != len(y):
        raise ValueError(f"fit: {len(X)} examples in X but {len(y)} targets in y")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
        raise ValueError(f"patience must be None or a positive integer, got {patience!r}")


def _eager_step(model: Module, loss_fn: LossFunction, l2: float) -> Step:
    """One batch's forward pass, loss and backward pass; the optimizer then updates.

    This is the one place a batch meets the engine, so another way of
    computing the same numbers (`nn.compiled_training.CompiledStep`) can take its place.
    """
    def step(Xb: list, yb: list) -> tuple[float, list]:
        outputs = [model(x) for x in Xb]
        total = loss_fn(outputs, yb)
        if l2:
            total = total + l2_penalty(model.parameters(), l2)
        model.zero_grad()
        total.backward()
        return total.data, outputs

    return step


class _Watched:
    """The parameters `fit` updates and the optimizer that updates them, checked after every update.

    With a compiled step that runs on arrays (``arrays``), the weights live in
    its array during an epoch and the optimizer updates that array in place.
    """

    def __init__(self, parameters: list[Value], optimizer: Optimizer, arrays: CompiledStep | None = None):
        self.parameters, self.optimizer, self.arrays = parameters, optimizer, arrays

    def update(self) -> None:
        if self.arrays is None:
            self.optimizer.step()
        else:
            self.optimizer.step_arrays(self.arrays.weights, self.arrays.grads)

    def all_finite(self) -> bool:
        if self.arrays is None:
            return all(math.isfinite(p.data) for p in self.parameters)
        if math.isfinite(abs(self.arrays.weights).max()):  # nan or inf anywhere makes the largest |w| so
            return True
        self.write_back()  # the error names the weight that broke, read from the Values
        return False

    def write_back(self) -> None:
        if self.arrays is not None:
            self.arrays.write_back()
            self.optimizer.state_to_lists()


def _train_one_epoch(step: Step, watched: _Watched, scoring: _Scoring,
                     epoch_batches: Iterable[tuple[list, list]], epoch: int, history: History) -> dict:
    """Every batch of one epoch: step, update; returns the epoch's loss, accuracy and update count."""
    updates, total, correct, seen = 0, 0.0, 0, 0
    for Xb, yb in epoch_batches:
        batch_loss, outputs = step(Xb, yb)
        if not math.isfinite(batch_loss):
            raise _diverged(batch_loss, epoch, updates + 1, watched.optimizer, history)
        watched.update()
        updates += 1
        # A finite loss can still give an inf or nan gradient (or a step too large for a float):
        # caught here, at the update that did it, before the weights spread nan any further.
        if not watched.all_finite():
            raise _weights_diverged(batch_loss, epoch, updates, watched, history)
        total += batch_loss * len(Xb)
        seen += len(Xb)
        if scoring.accuracy:
            correct += count_correct(outputs, yb, scoring.threshold)
    return {'loss': total / seen, 'updates': updates,
            'accuracy': correct / seen if scoring.accuracy else None}


class _EarlyStopping:
    """Watches the monitored loss: the best epoch, its parameters, and when patience runs out."""

    def __init__(self, model: Module, patience: int | None, keep_best: bool):
        self.model, self.patience, self.keep_best = model, patience, keep_best
        self.best, self.waited = math.inf, 0
        self.best_state: dict[str, float] | None = None

    def should_stop(self, monitored: float, epoch: int, history: History) -> bool:
        if monitored < self.best:
            self.best, self.waited, history.best_epoch = monitored, 0, epoch
            if self.keep_best:
                self.best_state = self.model.state_dict()
            return False
        self.waited += 1
        return self.patience is not None and self.waited >= self.patience

    def restore_best(self) -> None:
        if self.keep_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)


def _diverged(loss: float, epoch: int, batch: int | None, optimizer: Optimizer,
              history: History, which: str = '') -> TrainingDiverged:
    """The loss grew to inf (or nan) on data already checked to be finite: the learning rate."""
    where = f"epoch {epoch}" + (f", batch {batch}" if batch else "")
    lr = optimizer.lr
    return TrainingDiverged(
        f"the {which}loss became {loss} at {where}: training diverged. The learning rate "
        f"({lr:g}) is probably too large; try a smaller one, e.g. {lr / 10:g} "
        f"(or smaller still if that diverges too).", epoch, history)


def _weights_diverged(loss: float, epoch: int, batch: int, watched: _Watched,
                      history: History) -> TrainingDiverged:
    """A weight became nan or inf in an update whose loss was finite: the learning rate, or the gradient?

    A loss that has grown far beyond where training started points at the
    learning rate (its gradient overflows too); a gradient that is not finite
    while the loss is still ordinary points at an operation used where its
    derivative is undefined.
    """
    bad = next(p for p in watched.parameters if not math.isfinite(p.data))
    where = f"epoch {epoch}, batch {batch}"
    lr = watched.optimizer.lr
    start = min(history.loss) if history.loss else loss
    grew = loss > 10 * abs(start) + 1.0
    if not grew and not all(math.isfinite(p.grad) for p in watched.parameters):
        return TrainingDiverged(
            f"a weight became {bad.data} in the update at {where}: the loss ({loss:.4g}) was finite but "
            f"its gradient was not, so an operation was used where its derivative is undefined "
            f"(sqrt or log at 0, say); run the step inside autodiff.detect_anomaly() to name it.",
            epoch, history)
    return TrainingDiverged(
        f"a weight became {bad.data} in the update at {where} "
        + (f"(the loss had grown from {start:.4g} to {loss:.4g})" if grew else f"(the loss was {loss:.4g})")
        + f": training diverged. The learning rate ({lr:g}) is probably too large; try a smaller "
        f"one, e.g. {lr / 10:g} (or smaller still if that diverges too).", epoch, history)


def _check_finite_inputs(X: Sequence, y: Sequence, validation: tuple[Sequence, Sequence] | None,
                         l2: float) -> None:
    """Refuse, before any training, what would make every loss nan: a nan or inf in the data, a bad l2."""
    if isinstance(l2, bool) or not isinstance(l2, numbers.Real) or not math.isfinite(l2) or l2 < 0:
        raise TrainingInputError(f"l2 must be a finite number >= 0, got {l2!r}"
                                 + (": a negative penalty rewards ever larger weights"
                                    if isinstance(l2, numbers.Real) and l2 < 0 else ""), 0, History())
    named = [('X', X), ('y', y)]
    if validation is not None:
        named += [('validation X', validation[0]), ('validation y', validation[1])]
    for name, rows in named:
        found = _first_non_finite(rows)
        if found is not None:
            where, value, count = found
            raise TrainingInputError(
                f"{name}{where} is {value}: the data holds {_count_of(count)}, and one nan or inf "
                f"makes every loss and weight nan; drop those rows or fill them in (with the column's "
                f"mean, say)", 0, History())


def _count_of(count: int) -> str:
    if count == 1:
        return "1 value that is not a finite number"
    return f"{count} values that are not finite numbers"


def _first_non_finite(rows: Sequence) -> tuple[str, float, int] | None:
    """``('[row][column]', value, how many)`` of the first nan or inf in ``rows``, or None.

    Rows may be numbers or sequences of numbers (plain or `Value`); anything
    else is left for the model and loss to judge.
    """
    first, count = None, 0
    for i, row in enumerate(rows):
        cells = enumerate(row) if isinstance(row, (list, tuple)) else [(None, row)]
        for j, cell in cells:
            number = cell.data if isinstance(cell, Value) else cell
            if isinstance(number, numbers.Real) and not math.isfinite(number):
                count += 1
                if first is None:
                    first = (f"[{i}]" + (f"[{j}]" if j is not None else ""), float(number))
    return None if first is None else (*first, count)
