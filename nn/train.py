"""The training loop of the notes, as one function: `fit`.

Each epoch goes through the data in batches (all at once, one at a time,
or k at a time: see `nn.data.batches`) and for each batch does the four
steps of the notes: forward pass, loss, backward pass, parameter update.
`fit` records what happened in a `History`.

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

import csv
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from autodiff import TraceMismatchError, Value, compile_batch, gc_paused, no_grad
from nn.data import batches
from nn.losses import LOSSES, binary_cross_entropy, cross_entropy, l2_penalty, mse_loss
from nn.modules import Module
from nn.optim import SGD, Optimizer

LossFunction = Callable[[list, list], Value]


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


@dataclass
class History:
    """What `fit` saw, one entry per epoch.

    ``accuracy`` is None for regression; the ``val_`` columns are None
    without validation data.  ``seconds`` is each epoch's wall time,
    ``updates`` the number of parameter updates in it and ``lr`` the
    learning rate at its start.

    >>> h = History()
    >>> h.record(epoch=1, loss=0.5, accuracy=0.75, lr=0.1, updates=1, seconds=0.01)
    >>> h.to_dict()['loss'], len(h)
    ([0.5], 1)
    """

    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    updates: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    #: True when early stopping ended training before ``epochs``.
    stopped_early: bool = False
    #: The epoch with the lowest monitored loss (validation loss if given).
    best_epoch: int | None = None

    COLUMNS = ('epoch', 'loss', 'accuracy', 'val_loss', 'val_accuracy', 'lr', 'updates', 'seconds')

    def record(self, **row) -> None:
        """Append one epoch's figures (missing ones are None).

        >>> h = History()
        >>> h.record(epoch=1, loss=0.25)
        >>> h.loss, h.accuracy
        ([0.25], [None])
        """
        for name in self.COLUMNS:
            getattr(self, name).append(row.get(name))

    def __len__(self) -> int:
        return len(self.epoch)

    @property
    def wall_time(self) -> float:
        """Total training time in seconds.

        >>> h = History()
        >>> h.record(epoch=1, loss=1.0, seconds=0.5)
        >>> h.record(epoch=2, loss=0.5, seconds=0.25)
        >>> h.wall_time
        0.75
        """
        return sum(s for s in self.seconds if s is not None)

    def to_dict(self) -> dict:
        """Every column as a list, plus ``stopped_early``, ``best_epoch`` and ``wall_time``.

        >>> sorted(History().to_dict())[:3]
        ['accuracy', 'best_epoch', 'epoch']
        """
        out = {name: list(getattr(self, name)) for name in self.COLUMNS}
        out.update(stopped_early=self.stopped_early, best_epoch=self.best_epoch, wall_time=self.wall_time)
        return out

    def to_json(self, path: str | os.PathLike) -> None:
        """Write `to_dict` as JSON (missing figures are null).

        >>> import json, os, tempfile
        >>> h = History()
        >>> h.record(epoch=1, loss=0.5)
        >>> path = os.path.join(tempfile.mkdtemp(), 'history.json')
        >>> h.to_json(path)
        >>> json.load(open(path))['accuracy']
        [None]
        """
        with open(path, 'w', encoding='utf-8') as file:
            json.dump(self.to_dict(), file, indent=1)
            file.write('\n')

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write one row per epoch with a header; missing figures are empty cells.

        >>> import os, tempfile
        >>> h = History()
        >>> h.record(epoch=1, loss=0.5, lr=0.1)
        >>> path = os.path.join(tempfile.mkdtemp(), 'history.csv')
        >>> h.to_csv(path)
        >>> open(path).read().splitlines()
        ['epoch,loss,accuracy,val_loss,val_accuracy,lr,updates,seconds', '1,0.5,,,,0.1,,']
        """
        with open(path, 'w', encoding='utf-8', newline='') as file:
            writer = csv.writer(file)
            writer.writerow(self.COLUMNS)
            for i in range(len(self)):
                writer.writerow(['' if getattr(self, name)[i] is None else getattr(self, name)[i]
                                 for name in self.COLUMNS])


def fit(model: Module, X: Sequence, y: Sequence, *, loss: str | LossFunction = 'mse',
        optimizer: Optimizer | None = None, epochs: int = 100, batch_size: int | None = None,
        validation: tuple[Sequence, Sequence] | None = None, progress: bool = True,
        patience: int | None = None, restore_best: bool = False, l2: float = 0.0,
        shuffle: bool = True, seed: int | None = 0, accuracy: bool | None = None,
        threshold: float | None = None, compile: bool | str = False) -> History:
    """Train ``model`` on ``(X, y)``; returns a `History`.

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
      ``'python'``; True means ``'auto'``, see `compile_step`) traces the
      model and loss on one example once and runs every batch, of any
      size, through generated code (`autodiff.compile_batch`): no `Value`
      is built per step, gradients go into each ``p.grad`` as usual, and
      losses and weights equal eager training's to rounding (≈ 1e-15; a
      run that diverges amplifies even that).  Limits: the loss must be a
      mean of one term per example (every loss of :mod:`nn.losses` is);
      the model's Python code must not branch on ``.data`` (checked on a
      few examples before training, which cannot prove it); validation
      is still measured by the eager engine; compiling takes ~0.1-0.3 s.
      What cannot be compiled raises `NotCompilable` naming the reason:
      train it with ``compile=False``.

    Raises `TrainingDiverged` naming the epoch when the loss becomes nan
    or inf.  The training loss of an epoch is the mean over its batches,
    each measured before its update (as micrograd's demo prints it).

    >>> from nn import MLP, make_moons, to_signs
    >>> X, y = make_moons(n_samples=40, noise=0.1, random_state=0)
    >>> model = MLP(2, [8, 8, 1], seed=0)
    >>> history = fit(model, X, to_signs(y), loss='hinge', optimizer=SGD(model.parameters(), lr=0.1),
    ...               epochs=20, batch_size=10, progress=False)
    >>> history.updates[0], history.accuracy[-1] > 0.8       # 40 examples, 10 at a time
    (4, True)
    """
    loss_fn = _loss_function(loss)
    if len(X) != len(y):
        raise ValueError(f"fit: {len(X)} examples in X but {len(y)} targets in y")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
        raise ValueError(f"patience must be None or a positive integer, got {patience!r}")
    if optimizer is None:
        optimizer = SGD(model.parameters(), lr=0.1)
    measure_accuracy = loss_fn is not mse_loss if accuracy is None else accuracy
    if threshold is None:
        threshold = 0.5 if loss_fn is binary_cross_entropy else 0.0
    if compile:
        step = compile_step(model, X, y, loss=loss_fn, l2=l2, backend='auto' if compile is True else compile,
                            batch_size=batch_size)
    else:
        step = _make_step(model, loss_fn, l2)
    order = random.Random(seed)  # one generator: a new shuffle every epoch
    history = History()
    best, best_state, waited = math.inf, None, 0

    # The graphs are cycle-free, so the cyclic collector only wastes time (see gc_paused).
    with _progress_bar(epochs, progress) as bar, gc_paused():
        for epoch in range(1, epochs + 1):
            started, lr, updates = time.perf_counter(), optimizer.lr, 0
            total, correct, seen = 0.0, 0, 0
            for Xb, yb in batches(X, y, batch_size, shuffle=shuffle, seed=order):
                batch_loss, outputs = step(Xb, yb)
                if not math.isfinite(batch_loss):
                    raise _diverged(batch_loss, epoch, updates + 1, optimizer, history)
                optimizer.step()
                updates += 1
                total += batch_loss * len(Xb)
                seen += len(Xb)
                if measure_accuracy:
                    correct += _count_correct(outputs, yb, threshold)
            row = {'epoch': epoch, 'loss': total / seen, 'lr': lr, 'updates': updates,
                   'accuracy': correct / seen if measure_accuracy else None}
            if validation is not None:
                row['val_loss'], row['val_accuracy'] = evaluate(
                    model, *validation, loss=loss_fn, accuracy=measure_accuracy, threshold=threshold)
            row['seconds'] = time.perf_counter() - started
            history.record(**row)
            bar.update(row)

            monitored = row['val_loss'] if validation is not None else row['loss']
            if not math.isfinite(monitored):
                raise _diverged(monitored, epoch, None, optimizer, history)
            if monitored < best:
                best, waited, history.best_epoch = monitored, 0, epoch
                if restore_best:
                    best_state = model.state_dict()
            else:
                waited += 1
                if patience is not None and waited >= patience:
                    history.stopped_early = epoch < epochs
                    break
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
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
    loss_fn = _loss_function(loss)
    if accuracy is None:
        accuracy = loss_fn is not mse_loss
    if threshold is None:
        threshold = 0.5 if loss_fn is binary_cross_entropy else 0.0
    with no_grad():
        outputs = [model(x) for x in X]
        value = loss_fn(outputs, list(y)).data
    return value, (_count_correct(outputs, y, threshold) / len(y) if accuracy else None)


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
# Compiled training steps.
# ----------------------------------------------------------------------
class NotCompilable(ValueError):
    """`fit(compile=...)` cannot compile this model and loss; ``compile=False`` trains it eagerly.

    >>> issubclass(NotCompilable, ValueError)
    True
    """


#: How many examples `compile_step` re-traces and checks against the eager engine.
CHECKED_EXAMPLES = 8
#: The smallest batch ``'auto'`` gives NumPy: each NumPy call costs about a
#: microsecond whatever the batch, so on 1 example the demo's step is 3x
#: slower than the Python loop; from about 8 examples NumPy wins.
NUMPY_MIN_BATCH = 8


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

    def __call__(self, Xb: Sequence, yb: Sequence) -> tuple[float, list]:
        (loss, outputs), grads = self.batch([p.data for p in self.parameters], Xb, self.targets(yb))
        for p, g in zip(self.parameters, grads):
            p.grad = float(g)  # a plain float even from NumPy, like the eager engine's
        return float(loss), outputs


def compile_step(model: Module, X: Sequence, y: Sequence, *, loss: str | LossFunction = 'mse',
                 l2: float = 0.0, backend: str = 'auto', batch_size: int | None = None) -> CompiledStep:
    """Compile one training step of ``model`` on batches of ``(X, y)``: what ``fit(compile=...)`` uses.

    The loss must be the mean of one term per example (each loss of
    :mod:`nn.losses` is); the model is traced on ``X[0]`` and the code runs
    for batches of any size.  ``backend`` is ``'numpy'`` (every operation
    on the whole batch at once, a dense layer as one matrix product),
    ``'python'`` (a loop over the examples) or ``'auto'``: NumPy when it
    is installed and ``batch_size`` (as in `fit`; None for the whole data)
    is at least `NUMPY_MIN_BATCH`, else Python.  The targets are checked
    as the eager loss checks them.

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
    loss_fn = _loss_function(loss)
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2!r}")
    if backend not in ('auto', 'python', 'numpy'):
        raise ValueError(f"compile must be True, False or a backend ('auto', 'python', 'numpy'), "
                         f"got {backend!r}")
    if len(X) == 0 or len(X) != len(y):
        raise ValueError(f"compile_step needs examples: {len(X)} rows of X, {len(y)} targets")
    if backend == 'auto' and batch_size is not None and batch_size < NUMPY_MIN_BATCH:
        backend = 'python'
    name = getattr(loss_fn, '__name__', 'the loss')
    how = "Train with fit(..., compile=False): the eager engine handles any model and loss."
    with no_grad():
        first = model(X[0])
    classes = len(first) if isinstance(first, list) else None
    if loss_fn is cross_entropy:
        # The target picks a logit by index: traced, an index would be frozen, so
        # the compiled form takes it as a one-hot row (the same numbers).
        cross_entropy([[0.0] * (classes or 1)] * len(y), list(y))  # the eager checks of every target

        def targets(yb: Sequence) -> list:
            return [[1.0 if k == t else 0.0 for k in range(classes or 1)] for t in yb]

        def example(params, x, target):
            out = model(x)
            return _cross_entropy_one_hot(out if isinstance(out, list) else [out], target), out
    else:
        if loss_fn in LOSSES.values():
            loss_fn([0.5] * len(y), list(y))  # the eager checks of every target (0.5 is a valid output)

        def targets(yb: Sequence) -> list:
            return [float(t) for t in yb]

        def example(params, x, target):
            out = model(x)
            return loss_fn([out], [target]), out

    params = model.parameters()
    ys = targets(y)
    penalty = (lambda ps: l2_penalty(ps, l2)) if l2 else None
    try:
        batch = compile_batch(example, (params, X[0], ys[0]), batched=(1, 2), penalty=penalty,
                              backend=backend, has_aux=True)
    except ImportError as error:
        raise NotCompilable(f"the {backend} backend is not available ({error}). Use compile='python', "
                            f"or compile=False.") from error
    except Exception as error:  # whatever the model or loss raised on traced Values
        raise NotCompilable(f"cannot trace {type(model).__name__} with {name} on one example "
                            f"({type(error).__name__}: {error}). {how}") from error

    # A few examples spread over the data, re-traced and compared with the eager engine.
    spread = sorted({i * (len(X) - 1) // max(1, CHECKED_EXAMPLES - 1) for i in range(CHECKED_EXAMPLES)})
    Xs, ys_raw = [X[i] for i in spread], [y[i] for i in spread]
    try:
        batch.check(params, Xs, targets(ys_raw))
    except TraceMismatchError as error:
        raise NotCompilable(f"the model's operations depend on its values (its Python code branches "
                            f"on .data), so one trace cannot stand for every example: {error}. {how}"
                            ) from error
    with no_grad():
        expected = loss_fn([model(x) for x in Xs], ys_raw).data + (l2_penalty(params, l2).data if l2 else 0.0)
    (value, _), _ = batch([p.data for p in params], Xs, targets(ys_raw))
    if not math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12):
        raise NotCompilable(f"{name} is not the mean of one term per example (on {len(Xs)} examples "
                            f"it gives {expected!r}, the mean of its per-example values {value!r}); "
                            f"compiled training needs such a loss. {how}")
    return CompiledStep(model, batch, targets, batch.backend)


def _cross_entropy_one_hot(logits: list[Value], one_hot: list[Value]) -> Value:
    """`nn.losses.cross_entropy` of one example, its target a one-hot row, for tracing.

    The eager loss subtracts the largest logit, read from ``.data``: a
    trace would freeze that number.  Here it is found with ``max``
    operations, so the code computes the same numbers for every input
    (its gradient, 1 - Σ softmax, is 0 up to rounding).
    """
    largest = logits[0]
    for z in logits[1:]:
        largest = largest.max(z)
    exps = [(z - largest).exp() for z in logits]
    log_sum_exp = sum(exps[1:], exps[0]).log() + largest
    return log_sum_exp - sum(t * z for t, z in zip(one_hot, logits))


# ----------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------
def _make_step(model: Module, loss_fn: LossFunction, l2: float) -> Callable[[list, list], tuple[float, list]]:
    """One batch's forward pass, loss and backward pass; the optimizer then updates.

    This is the one place a batch meets the engine, so another way of
    computing the same numbers (a compiled model, say) can take its place.
    """
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2!r}")

    def step(Xb: list, yb: list) -> tuple[float, list]:
        outputs = [model(x) for x in Xb]
        total = loss_fn(outputs, yb)
        if l2:
            total = total + l2_penalty(model.parameters(), l2)
        model.zero_grad()
        total.backward()
        return total.data, outputs

    return step


def _loss_function(loss: str | LossFunction) -> LossFunction:
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")
        return LOSSES[loss]
    if not callable(loss):
        raise ValueError(f"loss must be a function or one of {', '.join(LOSSES)}, got {loss!r}")
    return loss


def _count_correct(outputs: list, targets: Sequence, threshold: float) -> int:
    correct = 0
    for out, target in zip(outputs, targets):
        if isinstance(out, list):  # class scores: the largest wins
            scores = [v.data if isinstance(v, Value) else v for v in out]
            correct += scores.index(max(scores)) == int(target)
        else:
            score = out.data if isinstance(out, Value) else out
            correct += (score > threshold) == (float(target) > 0)
    return correct


def _diverged(loss: float, epoch: int, batch: int | None, optimizer: Optimizer,
              history: History) -> TrainingDiverged:
    where = f"epoch {epoch}" + (f", batch {batch}" if batch else "")
    lr = optimizer.lr
    return TrainingDiverged(
        f"the loss became {loss} at {where}: training diverged. The learning rate "
        f"({lr:g}) is probably too large; try a smaller one, e.g. {lr / 10:g} "
        f"(or smaller still if that diverges too).", epoch, history)


class _Bar:
    """A progress display: tqdm's bar, a plain line now and then, or nothing."""

    def __init__(self, epochs: int, enabled: bool):
        self.epochs, self.enabled, self.tqdm = epochs, enabled, None
        if enabled:
            try:
                from tqdm.auto import tqdm  # a widget in Jupyter, a text bar in a terminal
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.tqdm = tqdm(total=epochs, desc='training', unit='epoch', leave=True)

    def update(self, row: dict) -> None:
        if not self.enabled:
            return
        figures = {'loss': f"{row['loss']:.4g}"}
        if row.get('accuracy') is not None:
            figures['acc'] = f"{row['accuracy']:.1%}"
        if row.get('val_loss') is not None:
            figures['val_loss'] = f"{row['val_loss']:.4g}"
        if row.get('val_accuracy') is not None:
            figures['val_acc'] = f"{row['val_accuracy']:.1%}"
        if self.tqdm is not None:
            self.tqdm.set_postfix(figures, refresh=False)
            self.tqdm.update(1)
        elif row['epoch'] % max(1, self.epochs // 10) == 0 or row['epoch'] == self.epochs:
            text = ', '.join(f"{name} {value}" for name, value in figures.items())
            print(f"epoch {row['epoch']}/{self.epochs}: {text}", file=sys.stderr)

    def close(self) -> None:
        if self.tqdm is not None:
            self.tqdm.close()


@contextmanager
def _progress_bar(epochs: int, enabled: bool) -> Iterator[_Bar]:
    bar = _Bar(epochs, enabled)
    try:
        yield bar
    finally:
        bar.close()
