"""Pictures of training: loss curves and a 2-D decision boundary (needs matplotlib).

matplotlib is an optional extra (``pip install "chainrule[train]"``) and is
imported only when a picture is asked for.  The figures are built with
matplotlib's object API (``matplotlib.figure.Figure``), not pyplot: saving
them uses the Agg renderer, so no display is needed, and a returned figure
still shows inline in Jupyter.

>>> from nn.train import History
>>> h = History()
>>> h.record(epoch=1, loss=1.0, accuracy=0.5)
>>> h.record(epoch=2, loss=0.5, accuracy=0.75)
>>> figure = plot_history(h)
>>> len(figure.axes)          # loss, and accuracy
2
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from autodiff import no_grad
from autodiff import scalar_math as _floats

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from nn.modules import Module
    from nn.train import History

INSTALL_HINT = 'matplotlib is needed for plots: pip install "chainrule[train]"'


def _matplotlib_figure(**kwargs) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return Figure(**kwargs)


def plot_history(history: History, path: str | os.PathLike | None = None) -> Figure:
    """Loss per epoch (training and validation), and accuracy beside it when measured.

    Saved to ``path`` when given (the format follows the extension: .png, .svg, .pdf).

    >>> from nn.train import History
    >>> h = History()
    >>> h.record(epoch=1, loss=1.0, val_loss=1.2)
    >>> [line.get_label() for line in plot_history(h).axes[0].get_lines()]
    ['training', 'validation']
    """
    has_accuracy = any(a is not None for a in history.accuracy)
    figure = _matplotlib_figure(figsize=(10 if has_accuracy else 5.5, 4), layout='constrained')
    axes = figure.subplots(1, 2 if has_accuracy else 1, squeeze=False)[0]
    _curves(axes[0], history, 'loss', 'loss')
    if has_accuracy:
        _curves(axes[1], history, 'accuracy', 'accuracy')
        axes[1].set_ylim(-0.02, 1.02)
    if path is not None:
        figure.savefig(path)
    return figure


def _curves(ax: Axes, history: History, column: str, title: str) -> None:
    ax.plot(history.epoch, getattr(history, column), label='training')
    validation = getattr(history, 'val_' + column)
    if any(v is not None for v in validation):
        ax.plot(history.epoch, [float('nan') if v is None else v for v in validation], label='validation')
    ax.set_xlabel('epoch')
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()


def plot_decision_boundary(model: Module, X: Sequence[Sequence[float]], y: Sequence, *,
                           path: str | os.PathLike | None = None, threshold: float = 0.0,
                           resolution: int = 60, title: str = 'decision boundary') -> Figure:
    """The model's predicted class over the plane, with the data points on top.

    For 2-D inputs.  One output: class "positive" where it exceeds
    ``threshold`` (use 0.5 for a model giving probabilities).  Several
    outputs: the largest one's class.  ``resolution`` is the grid's points
    per side.

    >>> from nn import MLP
    >>> figure = plot_decision_boundary(MLP(2, [4, 1], seed=0), [[0, 0], [1, 1]], [0, 1], resolution=5)
    >>> figure.axes[0].get_title()
    'decision boundary'
    """
    if not X or len(X[0]) != 2:
        raise ValueError("plot_decision_boundary draws 2-D inputs only")
    figure = _matplotlib_figure(figsize=(5.5, 5), layout='constrained')
    ax = figure.subplots()
    xs, ys = [row[0] for row in X], [row[1] for row in X]
    pad_x, pad_y = 0.1 * (max(xs) - min(xs)) + 0.25, 0.1 * (max(ys) - min(ys)) + 0.25
    grid_x = _linspace(min(xs) - pad_x, max(xs) + pad_x, resolution)
    grid_y = _linspace(min(ys) - pad_y, max(ys) + pad_y, resolution)
    forward = _float_forward(model)
    classes = [[_predicted_class(forward([gx, gy]), threshold) for gx in grid_x] for gy in grid_y]
    labels = sorted({_label_class(label) for label in y})
    n_classes = max(labels + [c for row in classes for c in row]) + 1
    levels = [k - 0.5 for k in range(max(n_classes, 2) + 1)]
    # The same colour for a class in the background and in the points.
    colours = dict(cmap='coolwarm', vmin=0, vmax=1) if n_classes <= 2 else dict(cmap='tab10', vmin=0, vmax=9)
    ax.contourf(grid_x, grid_y, classes, levels=levels, alpha=0.35, **colours)
    ax.scatter(xs, ys, c=[_label_class(label) for label in y], s=18, edgecolors='black', linewidths=0.5,
               **colours)
    ax.set_title(title)
    ax.set_xlabel('x[0]')
    ax.set_ylabel('x[1]')
    if path is not None:
        figure.savefig(path)
    return figure


def _predicted_class(out, threshold: float) -> int:
    if isinstance(out, list):
        return out.index(max(out))
    return int(out > threshold)


def _float_forward(model: Module):
    """The model as a function on plain floats, for the thousands of grid points.

    An `MLP` is evaluated straight from its weights' ``.data`` (20 times
    faster than making a `Value` per operation); any other model through
    its own ``__call__`` under ``no_grad``.
    """
    from nn.modules import MLP

    if not isinstance(model, MLP):
        def forward(x):
            with no_grad():
                out = model(x)
            return [v.data for v in out] if isinstance(out, list) else out.data
        return forward

    activations = {'relu': _floats.relu, 'tanh': _floats.tanh, 'sigmoid': _floats.sigmoid,
                   'linear': lambda z: z}
    layers = [[([w.data for w in n.w], n.b.data, activations[n.activation]) for n in layer.neurons]
              for layer in model.layers]

    def forward(x):
        for layer in layers:
            x = [f(sum(w * xi for w, xi in zip(ws, x)) + b) for ws, b, f in layer]
        return x[0] if len(x) == 1 else x
    return forward


def _label_class(label) -> int:
    # Binary labels may be 0/1 or -1/+1: anything > 0 is the positive class.
    label = float(label)
    return int(label) if label > 1 else int(label > 0)


def _linspace(start: float, stop: float, n: int) -> list[float]:
    step = (stop - start) / (n - 1)
    return [start + i * step for i in range(n)]
