"""``chainrule exam``: printable exam sheets with every student's own numbers, and the answer keys.

::

    chainrule exam --students roster.csv --seed 7 --out exam/ [--kind notes_graph,fanout] [--difficulty 2]

reads the student ids from the roster's ``id`` column and writes, with
:func:`autodiff.practice.write_exam`, one sheet per student (HTML that prints
well, and Markdown), one answer key per student with the worked solutions,
and a summary key (Markdown and CSV) for the teacher.  The same seed and
roster always give the same sheets.  A folder that is not empty is refused
unless ``--force`` is given.

Exit codes: 0 written; 2 the roster or the options were refused; 1 a file
could not be written.  Every problem is one line on stderr.

>>> import argparse, pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / 'roster.csv').write_text('id\\ns01\\ns02\\n')
>>> parser = argparse.ArgumentParser(prog='chainrule exam')
>>> add_arguments(parser)
>>> run(parser.parse_args(['--students', str(folder / 'roster.csv'), '--out', str(folder / 'out')]))
... # doctest: +ELLIPSIS
wrote sheets and keys for 2 students (4 exercises each) and the summary key to .../out
0
"""

from __future__ import annotations

import argparse
import os
import sys

from autodiff.practice import DEFAULT_KINDS, KINDS, RosterError, read_roster, write_exam

PROG = 'chainrule exam'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``exam`` arguments to ``parser`` (a subcommand's parser).

    >>> p = argparse.ArgumentParser()
    >>> add_arguments(p)
    >>> p.parse_args(['--students', 'r.csv', '--kind', 'fanout,chain', '--kind', 'two_layer']).kind
    ['fanout,chain', 'two_layer']
    """
    parser.description = ("Write one printable exam sheet per student (HTML and Markdown), each with "
                          "their own numbers, an answer key per student and a summary key.")
    parser.add_argument('--students', required=True, metavar='ROSTER.csv',
                        help="a CSV file with an 'id' column, one row per student")
    parser.add_argument('--seed', type=int, default=0, help="the exam's seed (default 0)")
    parser.add_argument('--out', default='chainrule-exam', metavar='DIR',
                        help='the folder to write into (default: ./chainrule-exam/)')
    parser.add_argument('--kind', action='append', metavar='KIND[,KIND...]',
                        help=f"the exercises, in order (default: {','.join(DEFAULT_KINDS)}); kinds: "
                             f"{', '.join(KINDS)}")
    parser.add_argument('--difficulty', type=int, choices=(1, 2, 3), default=2, help='1, 2 or 3 (default 2)')
    parser.add_argument('--title', default='Backpropagation by hand', help="the sheets' heading")
    parser.add_argument('--force', action='store_true', help='write into a folder that is not empty')


def run(args: argparse.Namespace) -> int:
    """Run ``chainrule exam`` with parsed arguments; returns the exit code."""
    try:
        kinds = _kinds(args.kind)
        students = read_roster(args.students)
    except (RosterError, ValueError) as error:
        return _fail(2, str(error))
    try:
        write_exam(students, args.seed, args.out, kinds, args.difficulty, force=args.force, title=args.title)
    except (FileExistsError, NotADirectoryError, RosterError) as error:
        return _fail(2, str(error))
    except OSError as error:
        return _fail(1, f"cannot write to {args.out}: {error.strerror or error}")
    print(f"wrote sheets and keys for {len(students)} student{'s' if len(students) != 1 else ''} "
          f"({len(kinds)} exercise{'s' if len(kinds) != 1 else ''} each) and the summary key to "
          f"{os.path.normpath(args.out)}")
    return 0


def _kinds(options: list[str] | None) -> list[str]:
    """``['fanout,chain', 'two_layer']`` → ``['fanout', 'chain', 'two_layer']``, checked against the kinds."""
    if not options:
        return list(DEFAULT_KINDS)
    kinds = [part.strip() for option in options for part in option.split(',') if part.strip()]
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"unknown exercise kind {', '.join(map(repr, unknown)) or repr('')}; "
                         f"kinds: {', '.join(KINDS)}")
    return kinds


def _fail(code: int, message: str) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return code
