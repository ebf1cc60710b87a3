"""Pictures of training: loss curves and a 2-D decision boundary (needs matplotlib).

matplotlib is an optional extra (``pip install "chainrule[train]"``) and is
imported only when a picture is asked for.  The figures are built with
matplotlib's object API (``matplotlib.figure.Figure``), not pyplot: saving
them uses the Agg renderer, so no display is needed, and a returned figure
still shows inline in Jupyter.  Every figure is made at `DPI` dots per
inch, so it is sharp on a laptop screen both inline and as a saved PNG.

>>> from nn.history import History
>>> h = History()
>>> h.record(epoch=1, loss=1.0, accuracy=0.5)
>>> h.record(epoch=2, loss=0.5, accuracy=0.75)
>>> figure = plot_history(h)
>>> len(figure.axes), figure.dpi        # loss and accuracy, at 120 dots per inch
(2, 120)
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from autodiff import no_grad
from autodiff import scalar_math as _floats
from autodiff.files import write_atomically

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from nn.history import History
    from nn.modules import Module

INSTALL_HINT = 'matplotlib is needed for plots: pip install "chainrule[train]"'
# matplotlib's default is 100 and Jupyter's inline backend used 72: both look soft on a laptop.
DPI = 120
# Where a single output is below / above the threshold: the two ends of the background's colour map.
BINARY_COLOUR_MAP = 'RdBu_r'
NEGATIVE_COLOUR, POSITIVE_COLOUR = '#2c6fb0', '#c43c39'


def _matplotlib_figure(**kwargs: Any) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return Figure(dpi=DPI, **kwargs)


def _save(figure: Figure, path: str | os.PathLike) -> None:
    """Write ``figure`` to ``path`` in the format its extension names (PNG without one), in one step.

    The picture is drawn into memory first and handed whole to
    `autodiff.files.write_atomically`, so nobody ever sees half a picture
    and a failed drawing leaves the old file as it was.
    """
    extension = os.path.splitext(os.fspath(path))[1].lstrip('.').lower() or 'png'
    picture = io.BytesIO()
    figure.savefig(picture, format=extension)
    write_atomically(path, picture.getvalue())


def plot_history(history: History, path: str | os.PathLike | None = None) -> Figure:
    """Loss per epoch (training and validation), and accuracy beside it when measured.

    Saved to ``path`` when given (the format follows the extension: .png, .svg, .pdf).

    >>> from nn.history import History
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
        _save(figure, path)
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
                           resolution: int = 120, title: str = 'decision boundary',
                           class_names: Sequence[str] | None = None) -> Figure:
    """The model's decision over the plane, with the data points on top and a legend naming the classes.

    For 2-D inputs.  One output: the background shades the model's score,
    blue below ``threshold`` and red above (pale where the model is
    unsure), and a black line marks the decision boundary, where the score
    equals ``threshold`` (use 0.5 for a model giving probabilities).
    Several outputs: each class's region in its colour, where its output is
    the largest.  The boundary is interpolated between the ``resolution`` x
    ``resolution`` grid points where the model is evaluated, so it is
    smooth rather than stepped.  ``class_names`` (in class order) name the
    classes in the legend; by default the labels in ``y`` (``class -1`` and
    ``class +1``, or ``class 0``, ``class 1``, ...).

    >>> from nn import MLP
    >>> figure = plot_decision_boundary(MLP(2, [4, 1], seed=0), [[0, 0], [1, 1]], [0, 1], resolution=5)
    >>> figure.axes[0].get_title()
    'decision boundary'
    >>> [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    ['class 0', 'class 1', 'decision boundary']
    """
    if not X or len(X[0]) != 2:
        raise ValueError("plot_decision_boundary draws 2-D inputs only")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2 (grid points per side), got {resolution!r}")
    figure = _matplotlib_figure(figsize=(5.5, 5), layout='constrained')
    ax = figure.subplots()
    xs, ys = [row[0] for row in X], [row[1] for row in X]
    pad_x, pad_y = 0.1 * (max(xs) - min(xs)) + 0.25, 0.1 * (max(ys) - min(ys)) + 0.25
    grid_x = _linspace(min(xs) - pad_x, max(xs) + pad_x, resolution)
    grid_y = _linspace(min(ys) - pad_y, max(ys) + pad_y, resolution)
    forward = float_forward(model)
    scores = [[forward([gx, gy]) for gx in grid_x] for gy in grid_y]
    point_classes = [_label_class(label) for label in y]
    if isinstance(scores[0][0], list):
        colours = _class_colours(max(len(scores[0][0]), max(point_classes) + 1))
        boundary_drawn = _class_regions(ax, grid_x, grid_y, scores, colours)
    else:
        colours = [NEGATIVE_COLOUR, POSITIVE_COLOUR]
        boundary_drawn = _score_surface(ax, grid_x, grid_y, scores, threshold)
    names = _class_names(class_names, y, len(colours))
    for k in sorted(set(point_classes)):
        in_class = [i for i, c in enumerate(point_classes) if c == k]
        ax.scatter([xs[i] for i in in_class], [ys[i] for i in in_class], color=colours[k], s=20,
                   edgecolors='black', linewidths=0.5, label=names[k], zorder=3)
    if boundary_drawn:
        ax.plot([], [], color='black', linewidth=1.5, label='decision boundary')  # the legend's entry only
    ax.legend(loc='best', framealpha=0.9)
    ax.set_title(title)
    ax.set_xlabel('x[0]')
    ax.set_ylabel('x[1]')
    if path is not None:
        _save(figure, path)
    return figure


def _score_surface(ax: Axes, grid_x: list[float], grid_y: list[float], scores: list[list[float]],
                   threshold: float) -> bool:
    """One output: the score as a filled surface and the boundary where it equals ``threshold``.

    Returns whether the boundary crosses the plot (it may lie outside it).
    """
    values = [s for row in scores for s in row]
    # Colours symmetric about the threshold: white means "undecided", depth of colour means confidence.
    # They saturate at the 90th percentile of |score - threshold|, so far corners do not wash out the rest.
    distances = sorted(abs(s - threshold) for s in values)
    reach = distances[int(0.9 * (len(distances) - 1))] or 1.0
    # One image over the regular grid, smoothed between grid points (a mesh of cells would show seams).
    ax.imshow(scores, origin='lower', extent=(grid_x[0], grid_x[-1], grid_y[0], grid_y[-1]), aspect='auto',
              interpolation='bilinear', cmap=BINARY_COLOUR_MAP, alpha=0.45,
              vmin=threshold - reach, vmax=threshold + reach)
    if not min(values) < threshold < max(values):
        return False
    ax.contour(grid_x, grid_y, scores, levels=[threshold], colors='black', linewidths=1.5)
    return True


def _class_regions(ax: Axes, grid_x: list[float], grid_y: list[float], scores: list[list[list[float]]],
                   colours: list[str]) -> bool:
    """Several outputs: each class's region filled from its margin over the best other class.

    Class k wins where ``margin_k = score_k - max(other scores)`` is positive;
    filling ``margin_k > 0`` (rather than the winning class's number) lets
    matplotlib interpolate the borders between grid points.
    """
    drawn = False
    for k in range(len(scores[0][0])):
        margin = [[point[k] - max(s for j, s in enumerate(point) if j != k) for point in row]
                  for row in scores]
        top, bottom = max(max(row) for row in margin), min(min(row) for row in margin)
        if top <= 0:
            continue  # class k wins nowhere in the picture
        ax.contourf(grid_x, grid_y, margin, levels=[0, top], colors=[colours[k]], alpha=0.3)
        if bottom < 0:
            ax.contour(grid_x, grid_y, margin, levels=[0], colors='black', linewidths=1.0)
            drawn = True
    return drawn


def _class_colours(n_classes: int) -> list[str]:
    if n_classes > 10:
        raise ValueError(f"plot_decision_boundary has colours for up to 10 classes, got {n_classes}")
    return [f'C{k}' for k in range(n_classes)]  # matplotlib's ten-colour cycle


def _class_names(given: Sequence[str] | None, y: Sequence, n_classes: int) -> list[str]:
    if given is not None:
        if len(given) < n_classes:
            raise ValueError(f"class_names has {len(given)} names for {n_classes} classes")
        return list(given)
    if n_classes == 2 and any(float(label) < 0 for label in y):
        return ['class -1', 'class +1']
    return [f'class {k}' for k in range(n_classes)]


def float_forward(model: Module) -> Callable[[list[float]], Any]:
    """The model as a function on plain floats, for the thousands of grid points.

    An `MLP` is evaluated straight from its weights' ``.data`` (20 times
    faster than making a `Value` per operation); any other model through
    its own ``__call__`` under ``no_grad``.  Returns one float for a single
    output, else a list.

    >>> from nn import MLP
    >>> model = MLP(2, [3, 1], seed=0)
    >>> abs(float_forward(model)([0.5, -1.0]) - model([0.5, -1.0]).data) < 1e-12
    True
    """
    from nn.modules import MLP

    if not isinstance(model, MLP):
        def forward_by_calling(x: list[float]) -> float | list[float]:
            with no_grad():
                out = model(x)
            if isinstance(out, list):
                return out[0].data if len(out) == 1 else [v.data for v in out]
            return out.data
        return forward_by_calling

    activations = {'relu': _floats.relu, 'tanh': _floats.tanh, 'sigmoid': _floats.sigmoid,
                   'linear': lambda z: z}
    layers = [[([w.data for w in n.w], n.b.data, activations[n.activation]) for n in layer.neurons]
              for layer in model.layers]

    def forward_from_weights(x: list[float]) -> float | list[float]:
        for layer in layers:
            x = [f(sum(w * xi for w, xi in zip(ws, x)) + b) for ws, b, f in layer]
        return x[0] if len(x) == 1 else x
    return forward_from_weights


def _label_class(label: Any) -> int:
    # Binary labels may be 0/1 or -1/+1: anything > 0 is the positive class.
    label = float(label)
    return int(label) if label > 1 else int(label > 0)


def _linspace(start: float, stop: float, n: int) -> list[float]:
    step = (stop - start) / (n - 1)
    return [start + i * step for i in range(n)]
