"""The ``chainrule`` command (also ``python -m nn``): one subcommand per module of this package.

* ``chainrule demo``: micrograd's demo, end to end (`nn.cli.demo_command`).
* ``chainrule train --dataset moons ...``: train on a built-in data set and
  write the model, its history and plots (`nn.cli.train_command`).
* ``chainrule explain "(x + y) * z" x=1 y=3 z=-3``: the chain rule step by
  step (`nn.cli.explain_command`, reading the text with the safe parser
  `nn.cli.expression`).
* ``chainrule export model.json --to torch model.pt``: a certified PyTorch
  checkpoint (`nn.cli.export_command`).
* ``chainrule practice`` and ``chainrule exam``: backpropagation by hand,
  checked answer by answer, and printable exam sheets
  (`nn.cli.practice_command`, `nn.cli.exam_command`).

Why the command lives here, in ``nn``, and not in the engine: ``autodiff``
is the engine alone, standard library only, importable and readable without
any of this.  Everything about a *command line* (argparse, exit codes,
one-line errors, output folders, and the parser that turns text typed by a
person into a graph, with its refusals of unsafe input) is one concern, so
it sits together in one package; and ``demo``, ``train`` and ``export``
need ``nn`` (models, training, plots) anyway.  Dependencies point one way:
``nn.cli`` uses ``nn`` and ``autodiff``; neither imports ``nn.cli``.

Each subcommand is a pair of functions, ``add_arguments(parser)`` and
``run(args) -> exit code``, registered in `build_parser` with `add_command`.

>>> main(['train', '--epochs', '0'])
Traceback (most recent call last):
...
SystemExit: 2
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from nn.cli import (
    demo_command,
    exam_command,
    explain_command,
    export_command,
    practice_command,
    train_command,
)
from nn.cli.reporting import PROG

#: Set in the environment to see the traceback of an unexpected error instead of its one-line summary.
TRACEBACK_VARIABLE = 'CHAINRULE_TRACEBACK'
UNKNOWN_VERSION = '0+unknown'  # a source checkout run without installing: no package metadata to read

#: The subcommands: name, one-line help, and the module holding its add_arguments and run.
COMMANDS = (
    ('demo', "train micrograd's two-moons demo and draw the results", demo_command),
    ('train', 'train an MLP on a built-in data set', train_command),
    ('explain', 'show the chain rule step by step for an expression', explain_command),
    ('export', 'write a saved model as a PyTorch checkpoint, certified to match', export_command),
    ('practice', 'backpropagate small graphs by hand, checked answer by answer', practice_command),
    ('exam', 'write printable exam sheets, one per student, and their answer keys', exam_command),
)


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

    Bad arguments exit with code 2 and argparse's message; every other
    failure is one line on stderr and a non-zero exit code, never a
    traceback (an unexpected error is reported as an internal error, with
    its traceback only when ``CHAINRULE_TRACEBACK=1``).

    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), 'run')
    >>> main(['train', '--samples', '20', '--epochs', '1', '--quiet', '--out', out])  # doctest: +ELLIPSIS
    training MLP(2, [16, 16, 1]) on 16 moons examples (4 held out), loss bce_logits, sgd lr 0.1
    accuracy: training ...
    wrote ...
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ['explain']:  # an expression such as -x*y is not an option
        argv = ['explain', *explain_command.protect_expression(argv[1:])]
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - a bug, but the user still gets one line, not a traceback
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        message = ' '.join(f"{type(error).__name__}: {error}".split())
        print(f"{PROG}: internal error: {message} (a bug in chainrule: please report it; "
              f"{TRACEBACK_VARIABLE}=1 shows the traceback)", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand of `COMMANDS` registered.

    >>> build_parser().parse_args(['demo']).out
    'chainrule-demo'
    """
    parser = argparse.ArgumentParser(
        prog=PROG, description="chainrule: a scalar autodiff engine and a small neural-network library.")
    parser.add_argument('--version', action='version', version=f'{PROG} {installed_version()}')
    commands = parser.add_subparsers(title='commands', dest='command', required=True, metavar='COMMAND')
    for name, help, module in COMMANDS:
        add_command(commands, name, help, module.add_arguments, module.run)
    return parser


def add_command(commands: Any, name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None],
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
