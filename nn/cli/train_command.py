"""``chainrule train``: train an MLP on a built-in data set and write the model, its history and plots.

::

    chainrule train --dataset moons --hidden 16,16 --epochs 100 --out results

The data set is generated, split, standardized with the training part's
statistics, trained on and evaluated; ``--out`` then holds ``model.json``,
``history.csv``/``.json``, ``summary.json`` (the arguments, the scaling and
the scores) and the plots.  Every file is written atomically.

>>> parser = argparse.ArgumentParser(prog='chainrule train')
>>> add_arguments(parser)
>>> args = parser.parse_args(['--hidden', '8,4', '--batch-size', 'full'])
>>> args.dataset, args.hidden, args.batch_size, args.lr
('moons', [8, 4], None, 0.1)
"""

from __future__ import annotations

import argparse
import math
import os

from autodiff.files import write_atomically
from nn import data
from nn.cli.arguments import (
    at_most,
    batch_size,
    fraction,
    layer_sizes,
    non_negative_float,
    positive_float,
    positive_int,
)
from nn.cli.reporting import draw_plots, fail, writable_folder
from nn.history import History, json_text
from nn.modules import MLP
from nn.optim import SGD, Adam, Optimizer
from nn.training import TrainingDiverged, evaluate, fit

DATASETS = ('moons', 'circles', 'blobs', 'spiral', 'regression')
#: The largest MLP ``train`` builds: beyond it memory, not patience, runs out first.
MAX_PARAMETERS = 1_000_000
#: The most examples ``--samples`` generates.
MAX_SAMPLES = 1_000_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``chainrule train``'s options, each with a default.

    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(['--loss', 'hinge']).loss
    'hinge'
    """
    parser.add_argument('--dataset', choices=DATASETS, default='moons', help='default: moons')
    parser.add_argument('--samples', type=at_most(MAX_SAMPLES), default=200, metavar='N',
                        help=f'examples to generate (default: 200, at most {MAX_SAMPLES:,})')
    parser.add_argument('--noise', type=non_negative_float, default=None,
                        help="the data set's noise (default: one that suits it)")
    parser.add_argument('--test-size', type=fraction, default=0.2, metavar='F',
                        help='fraction held out for validation (default: 0.2)')
    parser.add_argument('--hidden', type=layer_sizes, default=[16, 16], metavar='SIZES',
                        help='hidden layer sizes, comma-separated (default: 16,16)')
    parser.add_argument('--activation', choices=('relu', 'tanh', 'sigmoid'), default='relu')
    parser.add_argument('--init', choices=('auto', 'uniform', 'xavier', 'he'), default='auto',
                        help="weight initialization (default: he for relu, xavier for tanh/sigmoid)")
    parser.add_argument('--loss', choices=('auto', 'mse', 'hinge', 'bce', 'bce_logits', 'cross_entropy'),
                        default='auto', help='default: bce_logits for 2 classes, cross_entropy '
                        'for more, mse for regression')
    parser.add_argument('--optimizer', choices=('sgd', 'adam'), default='sgd')
    parser.add_argument('--lr', type=positive_float, default=0.1, help='learning rate (default: 0.1)')
    parser.add_argument('--momentum', type=non_negative_float, default=0.0, help='SGD momentum')
    parser.add_argument('--l2', type=non_negative_float, default=0.0, help='L2 penalty alpha')
    parser.add_argument('--epochs', type=positive_int, default=100)
    parser.add_argument('--batch-size', type=batch_size, default=32, metavar='K',
                        help="examples per update: 1 = stochastic, 'full' = batch (default: 32)")
    parser.add_argument('--patience', type=positive_int, default=None,
                        help='stop early after this many epochs without improvement')
    parser.add_argument('--seed', type=int, default=0, help='seed for data, weights and shuffling')
    parser.add_argument('--out', default='chainrule-train', metavar='DIR',
                        help='folder for model.json, history.csv/.json and plots '
                        '(default: ./chainrule-train/)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    """Generate the data set, split and standardize it, train, evaluate and write the results.

    Returns the exit code; see `nn.cli.main` for an example.  Every refusal
    (data that cannot be made, a model too large, training that diverged,
    a file that cannot be written) is one line on stderr and exit code 1.
    """
    if not writable_folder(args.out):
        return 1
    try:
        prepared = _prepared_data(args)
    except ValueError as error:
        return fail(_one_line(error))
    if prepared is None:
        return 1
    loss, n_classes, (X_train, X_test, y_train, y_test), scaling = prepared
    outputs = n_classes if loss == 'cross_entropy' else 1
    inputs = len(X_train[0])
    parameters = _parameter_count([inputs, *args.hidden, outputs])
    if parameters > MAX_PARAMETERS:
        return fail(f"--hidden {','.join(map(str, args.hidden))} makes {parameters:,} parameters; at most "
                    f"{MAX_PARAMETERS:,} (the scalar engine builds one object per weight per example)")
    model, optimizer = _model_and_optimizer(args, inputs, outputs, loss)
    print(f"training MLP({inputs}, {model.config()['nouts']}) on {len(X_train)} {args.dataset} examples "
          f"({len(X_test)} held out), loss {loss}, {args.optimizer} lr {args.lr:g}")
    try:
        history = fit(model, X_train, y_train, loss=loss, optimizer=optimizer, epochs=args.epochs,
                      batch_size=args.batch_size, validation=(X_test, y_test), l2=args.l2,
                      patience=args.patience, seed=args.seed, progress=not args.quiet)
    except TrainingDiverged as error:  # TrainingInputError too: nothing is written
        return fail(_one_line(error))

    # On a classification data set accuracy is reported whatever the loss (mse included).
    scores = {part: evaluate(model, X_part, y_part, loss=loss, accuracy=bool(n_classes),
                             threshold=_class_threshold(loss))
              for part, X_part, y_part in (('train', X_train, y_train), ('test', X_test, y_test))}
    _print_scores(scores, n_classes, y_test)
    test_accuracy = scores['test'][1]
    try:
        model.save(os.path.join(args.out, 'model.json'))
        history.to_csv(os.path.join(args.out, 'history.csv'))
        history.to_json(os.path.join(args.out, 'history.json'))
        write_summary(os.path.join(args.out, 'summary.json'), args, loss, scaling, history, scores)
        _plot_results(args, model, history, X_train, y_train, loss, n_classes, test_accuracy)
    except OSError as error:
        return fail(f"cannot write to {args.out}: {error.strerror or error}")
    except ValueError as error:  # a number a file cannot hold (nan weights): refused before writing
        return fail(f"cannot write the results: {_one_line(error)}")
    print(f"wrote {os.path.join(args.out, '')}")
    return 0


def _prepared_data(args: argparse.Namespace) -> tuple[str, int, tuple[list, list, list, list],
                                                      tuple[list, list]] | None:
    """The loss, the number of classes, the standardized split and its ``(mean, std)``.

    None (after saying why) when ``--loss`` does not suit the data set; a
    ``ValueError`` with a one-line reason when the data cannot be made or used.
    """
    try:
        X, y, n_classes = _dataset(args)
    except ValueError as error:  # too few samples for the data set, a noise it refuses ...
        raise ValueError(f"cannot make the {args.dataset} data set: {_one_line(error)}") from None
    loss = _chosen_loss(args, n_classes)
    if loss is None:
        return None
    if loss == 'hinge':
        y = data.to_signs(y)
    X_train, X_test, y_train, y_test, mean, std = _split_and_standardize(args, X, y)
    return loss, n_classes, (X_train, X_test, y_train, y_test), (mean, std)


def write_summary(path: str, args: argparse.Namespace, loss: str, scaling: tuple[list, list],
                  history: History, scores: dict[str, tuple[float, float | None]]) -> None:
    """Write ``summary.json``: the arguments, the loss, the scaling, the scores; in one step.

    ``scaling`` is ``(mean, std)`` of the training inputs and ``scores``
    maps ``'train'`` and ``'test'`` to `nn.training.evaluate`'s ``(loss, accuracy)``;
    a loss that is nan or inf is written as null, as JSON has no such numbers.

    >>> import argparse, json, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), 'summary.json')
    >>> args = argparse.Namespace(dataset='moons', seed=0, run=print)
    >>> scores = {'train': (0.5, None), 'test': (0.25, None)}
    >>> write_summary(path, args, 'mse', ([0.0], [1.0]), History(), scores)
    >>> summary = json.load(open(path))
    >>> summary['arguments'], summary['test']
    ({'dataset': 'moons', 'seed': 0}, {'loss': 0.25, 'accuracy': None})
    """
    mean, std = scaling
    summary = {
        'arguments': {k: v for k, v in vars(args).items() if k not in ('run', 'command')},
        'loss': loss,
        # The model was trained on standardized inputs: (x - mean) / std, column by column.
        'standardize': {'mean': mean, 'std': std},
        'features': list(data.HOUSE_FEATURES) if args.dataset == 'regression' else ['x0', 'x1'],
        # A loss JSON cannot hold (inf: a probability of exactly 0 on a test example) is written as null.
        **{part: {'loss': _finite_or_none(value), 'accuracy': accuracy}
           for part, (value, accuracy) in scores.items()},
        'epochs_run': len(history),
        'wall_time': history.wall_time,
    }
    write_atomically(path, json_text(summary))


def _split_and_standardize(args: argparse.Namespace, X: list, y: list) -> tuple[list, list, list, list,
                                                                                list, list]:
    """Training and test parts, standardized with the training part's statistics, and those statistics.

    A ``ValueError`` says, in one line, why the data cannot be used: too few
    examples to hold some out, or a ``--noise`` so large that the numbers
    overflow (inf, then nan) before training starts.
    """
    non_finite = sum(not math.isfinite(v) for row in X for v in row)
    if non_finite:
        raise ValueError(f"--noise {args.noise} is too large: {non_finite} of the {args.dataset} data's "
                         f"numbers overflowed to inf or nan; use a smaller --noise")
    X_train, X_test, y_train, y_test = data.train_test_split(X, y, test_size=args.test_size,
                                                             random_state=args.seed)
    try:
        X_train, mean, std = data.standardize(X_train)
    except (ValueError, OverflowError) as error:  # numbers so large that their variance overflows
        raise ValueError(f"cannot standardize the {args.dataset} data (is --noise too large?): "
                         f"{_one_line(error)}") from None
    X_test = data.standardize(X_test, mean, std)[0]
    return X_train, X_test, y_train, y_test, mean, std


def _parameter_count(sizes: list[int]) -> int:
    """Weights and biases of an MLP whose layers have these sizes, the inputs first."""
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes, sizes[1:]))


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _one_line(error: BaseException) -> str:
    return ' '.join(str(error).split())


def _dataset(args: argparse.Namespace) -> tuple[list, list, int]:
    """X, y and the number of classes (0 for regression)."""
    n, seed, noise = args.samples, args.seed, args.noise
    if args.dataset == 'moons':
        X, y = data.make_moons(n, noise=0.1 if noise is None else noise, random_state=seed)
        return X, y, 2
    if args.dataset == 'circles':
        X, y = data.make_circles(n, noise=0.05 if noise is None else noise, factor=0.5, random_state=seed)
        return X, y, 2
    if args.dataset == 'blobs':
        X, y = data.make_blobs(n, centers=3, cluster_std=1.0 if noise is None else noise, random_state=seed)
        return X, y, 3
    if args.dataset == 'spiral':
        X, y = data.make_spiral(n, n_classes=2, noise=0.05 if noise is None else noise, random_state=seed)
        return X, y, 2
    X, targets = data.make_regression(n, noise=0.1 if noise is None else noise, random_state=seed)
    return X, targets, 0


def _chosen_loss(args: argparse.Namespace, n_classes: int) -> str | None:
    """``--loss``, with ``auto`` resolved; None (after saying why) when it does not suit the data."""
    loss = args.loss
    if loss == 'auto':
        loss = 'mse' if n_classes == 0 else 'bce_logits' if n_classes == 2 else 'cross_entropy'
    if n_classes == 0 and loss != 'mse':
        fail(f"--loss {loss} is for classification; the regression data set needs --loss mse")
        return None
    if n_classes > 2 and loss != 'cross_entropy':
        fail(f"--loss {loss} is for two classes; {args.dataset} has {n_classes}: use cross_entropy")
        return None
    return loss


def _model_and_optimizer(args: argparse.Namespace, inputs: int, outputs: int, loss: str
                         ) -> tuple[MLP, Optimizer]:
    init = args.init
    if init == 'auto':  # scaled to the layer sizes, so a deep or wide MLP starts out well-behaved
        init = 'he' if args.activation == 'relu' else 'xavier'
    model = MLP(inputs, args.hidden + [outputs], activation=args.activation, init=init,
                output_activation='sigmoid' if loss == 'bce' else 'linear', seed=args.seed)
    if args.optimizer == 'adam':
        return model, Adam(model.parameters(), lr=args.lr)
    return model, SGD(model.parameters(), lr=args.lr, momentum=args.momentum)


def _plot_results(args: argparse.Namespace, model: MLP, history: History, X_train: list, y_train: list,
                  loss: str, n_classes: int, test_accuracy: float | None) -> None:
    draw_plots(lambda plot: plot.plot_history(history, path=os.path.join(args.out, 'loss.png')))
    if n_classes and len(X_train[0]) == 2:
        draw_plots(lambda plot: plot.plot_decision_boundary(
            model, X_train, y_train, path=os.path.join(args.out, 'decision_boundary.png'),
            threshold=_class_threshold(loss),
            title=f'{args.dataset} (standardized): {test_accuracy:.0%} test accuracy'))


def _class_threshold(loss: str) -> float:
    """The output above which one output means the positive class: halfway between the labels.

    Labels are 0 and 1 for ``bce`` (a probability) and ``mse``; a score or a
    logit (``hinge``'s ±1 labels, ``bce_logits``) is positive above 0.

    >>> _class_threshold('mse'), _class_threshold('hinge')
    (0.5, 0.0)
    """
    return 0.5 if loss in ('bce', 'mse') else 0.0


def _print_scores(scores: dict[str, tuple[float, float | None]], n_classes: int, y_test: list) -> None:
    (train_loss, train_accuracy), (test_loss, test_accuracy) = scores['train'], scores['test']
    if n_classes:
        print(f"accuracy: training {train_accuracy:.1%}, test {test_accuracy:.1%}")
    else:
        print(f"mean squared error: training {train_loss:.4g}, test {test_loss:.4g} "
              f"(R² {_r_squared(test_loss, y_test):.3f})")


def _r_squared(mse: float, y: list[float]) -> float:
    mean = sum(y) / len(y)
    variance = sum((v - mean) ** 2 for v in y) / len(y)
    return 1 - mse / variance if variance else float('nan')
