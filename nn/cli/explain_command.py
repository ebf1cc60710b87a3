"""``chainrule explain``: the chain rule of any small expression, from the command line.

::

    chainrule explain "(x + y) * z" x=1 y=3 z=-3 [--svg graph.svg] [--html steps.html]

prints the forward values, every chain-rule step and the gradient of every
input, and writes the graph picture (``--svg``) and the step-by-step player
(``--html``) when asked.  The expression is read by :mod:`nn.cli.expression`
(numbers, names, ``+ - * / **``, unary minus, the engine's functions; never
``eval``).  The output is called ``f`` (``out`` if ``f`` is a variable).

Exit codes: 0 done; 2 the input was refused (one line on stderr); 1 the
expression cannot be evaluated or differentiated at those values, or a file
could not be written (one line on stderr).

The ``chainrule`` console script adds this as its ``explain`` subcommand
through `add_arguments` and `run`:

>>> import argparse
>>> parser = argparse.ArgumentParser(prog='chainrule explain')
>>> add_arguments(parser)
>>> run(parser.parse_args(['x * x', 'x=3']))  # doctest: +ELLIPSIS
Forward pass, in topological order:
  x = 3
  f = x * x = 3 * 3 = 9
...
Gradients:
  ∂f/∂x = 6
0
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Sequence

from autodiff import Value
from autodiff.files import write_atomically
from autodiff.pictures.renderers import RENDERERS, RendererUnavailable
from nn.cli.expression import FUNCTIONS, ExpressionError, evaluate, parse, variable_names

#: The options of ``explain`` that take a value, and its flags: `protect_expression` must know them.
OPTIONS_WITH_A_VALUE = ('--svg', '--html', '--renderer', '--digits')
FLAGS = ('-h', '--help')
# A token argparse would rightly read as an option: --name or --name=value.
_OPTION_SHAPED = re.compile(r'--[A-Za-z][\w-]*(=.*)?', re.DOTALL)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``explain`` arguments to ``parser`` (a subcommand's parser).

    >>> p = argparse.ArgumentParser()
    >>> add_arguments(p)
    >>> p.parse_args(['x + 1', 'x=2', '--svg', 'g.svg']).svg
    'g.svg'
    """
    parser.description = ("Show the forward values, every chain-rule step and each input's gradient "
                          "for an expression such as \"(x + y) * z\".")
    parser.add_argument('expression', help="the expression: numbers, names, + - * / **, unary minus and "
                        f"the functions {', '.join(FUNCTIONS)}")
    parser.add_argument('values', nargs='*', metavar='NAME=VALUE',
                        help='a value for each name in the expression, e.g. x=1 y=3 z=-3')
    parser.add_argument('--svg', metavar='PATH', help='write the graph, with gradients, as an SVG file')
    parser.add_argument('--html', metavar='PATH',
                        help='write the step-by-step backward player as one self-contained HTML file')
    parser.add_argument('--renderer', choices=RENDERERS, default=None,
                        help="Graphviz's dot program, its WebAssembly build, or auto (the default; "
                             "also set by CHAINRULE_RENDERER)")
    parser.add_argument('--digits', type=int, default=4, help='significant digits shown (default 4)')


def run(args: argparse.Namespace) -> int:
    """Run ``chainrule explain`` with parsed arguments; returns the exit code."""
    expression = args.expression.strip()  # `protect_expression` may have put a space in front
    try:
        parse(expression)
        values = _read_values(args.values)
        missing = [name for name in variable_names(expression) if name not in values]
        if missing:
            raise ExpressionError(f"no value for {', '.join(missing)}: add "
                                  f"{' '.join(name + '=1.5' for name in missing)}")
        if not 1 <= args.digits <= 17:
            raise ExpressionError(f"--digits must be between 1 and 17, got {args.digits}")
        for option, path in (('--svg', args.svg), ('--html', args.html)):
            if path is not None and not path.strip():
                raise ExpressionError(f"{option} needs a file name, got {path!r}")
    except ExpressionError as error:
        return _fail(2, f"refused: {error}")

    output = 'f' if 'f' not in values else 'out'
    try:
        from autodiff import explain  # the engine's own modules: fast, stdlib only

        root = evaluate(expression, values)
        # The expression may be one variable, as in "x": its name is kept, and ∂f/∂x = 1.
        itself = root.label if not root._prev and root.label in values else None
        if itself is None:
            root.label = output
        explanation = explain(root, digits=args.digits)
        unused = [name for name in values if name not in explanation.names.values()]
    except ExpressionError as error:
        return _fail(2, f"refused: {error}")
    except (ArithmeticError, ValueError) as error:
        return _fail(1, f"cannot evaluate {expression!r} here: {_one_line(error)}")

    _print(explanation.text().rstrip())  # a lone variable has no steps: no blank line left after the table
    if itself is not None:
        _print(f"\nGradients:\n  ∂{output}/∂{itself} = 1   ({output} is {itself} itself)")
    for name in unused:
        _print(f"  ∂{output}/∂{name} = 0   ({name} does not appear in the expression)")
    return _write_pictures(root, args)


def _write_pictures(root: Value, args: argparse.Namespace) -> int:
    """``--svg`` and ``--html``, when asked; the exit code."""
    path = args.svg  # named in the message if writing fails (not the temporary file beside it)
    try:
        if args.svg:
            from autodiff import draw_graph

            root.backward()  # the picture shows the engine's own gradients
            write_atomically(args.svg, draw_graph(root, renderer=args.renderer).svg())
            _print(f"\nwrote the graph to {args.svg}")
        path = args.html
        if args.html:
            from autodiff import play_backward

            play_backward(root, renderer=args.renderer).save_html(args.html)
            _print(f"wrote the step-by-step player to {args.html}")
    except RendererUnavailable as error:
        return _fail(1, f"cannot draw the graph: {_one_line(error)}")
    except OSError as error:
        return _fail(1, f"cannot write {path}: {error.strerror or error}")
    return 0


def protect_expression(argv: Sequence[str]) -> list[str]:
    """``explain``'s arguments with an expression that starts with ``-`` made safe from argparse.

    argparse reads ``-x*y`` as an unknown option; a space in front (which
    `run` strips) makes it an ordinary argument.  Options of ``explain``,
    their values, anything after ``--`` and tokens shaped like an option
    (``--name``) are left alone, so a mistyped option is still named as one.

    >>> protect_expression(['-x*y', 'x=1', 'y=2', '--svg', 'g.svg'])
    [' -x*y', 'x=1', 'y=2', '--svg', 'g.svg']
    >>> protect_expression(['--', '-x', 'x=1'])
    ['--', '-x', 'x=1']
    """
    protected, tokens = [], iter(argv)
    for token in tokens:
        if token == '--':  # argparse already reads everything after -- as arguments
            protected += [token, *tokens]
            break
        if _is_explain_option(token):
            protected.append(token)
            if token not in FLAGS and '=' not in token:  # the option's value follows: pass it on as it is
                value = next(tokens, None)
                if value is not None:
                    protected.append(value)
            continue
        protected.append(' ' + token if token.startswith('-') and not _OPTION_SHAPED.fullmatch(token)
                         else token)
    return protected


def _is_explain_option(token: str) -> bool:
    """Whether argparse takes ``token`` for an option of explain (a prefix counts, as in argparse)."""
    name = token.split('=', 1)[0]
    if name in FLAGS:
        return True
    return name.startswith('--') and len(name) > 2 and any(o.startswith(name) for o in OPTIONS_WITH_A_VALUE)


def _read_values(pairs: list[str]) -> dict[str, float]:
    """``['x=1', 'y=-2.5']`` → ``{'x': 1.0, 'y': -2.5}``, refusing anything else."""
    values: dict[str, float] = {}
    for pair in pairs:
        name, sep, text = pair.partition('=')
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ExpressionError(f"expected NAME=VALUE, got {pair!r}")
        if name.startswith('__') or name in FUNCTIONS:
            raise ExpressionError(f"{name!r} cannot be a variable name")
        if name in values:
            raise ExpressionError(f"{name} is given twice")
        try:
            value = float(text)
        except ValueError:
            raise ExpressionError(f"the value of {name} must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise ExpressionError(f"the value of {name} must be a finite number, got {text!r}")
        values[name] = value
    return values


def _one_line(error: BaseException | str) -> str:
    return ' '.join(str(error).split())


def _fail(code: int, message: str) -> int:
    print(f"chainrule explain: {_one_line(message)}", file=sys.stderr)
    return code


def _print(text: str) -> None:
    # A terminal that cannot show ∂ still gets the numbers rather than a traceback.
    try:
        print(text)
    except UnicodeEncodeError:
        encoding = getattr(sys.stdout, 'encoding', None) or 'ascii'
        print(text.encode(encoding, 'replace').decode(encoding))
