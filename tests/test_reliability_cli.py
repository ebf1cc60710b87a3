"""The ``chainrule`` command under hostile arguments: an exit code, one line of error, never a traceback.

A property-based test drives `nn.cli.main` with a few hundred argument
lists built from hostile pieces (empty text, nan, inf, huge numbers, a
leading minus, unknown options, paths that are files, folders or empty) for
every subcommand, and checks what a person at a terminal would see.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile

import pytest

hypothesis = pytest.importorskip('hypothesis')
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nn.cli import main  # noqa: E402

NUMBERS = ['', ' ', '0', '1', '2', '3', '-1', '0.5', '1e-3', 'nan', 'inf', '-inf', '1e308', '-1e308',
           '1e999', '9' * 400, '2000001', 'x', '1,2', '0x10', '--', '-', '-x*y']
SIZES = ['3', '2,2', '16,,16', ',', '', '0', '-4', '2000,2000', '9' * 30, 'a,b', ' 4 , 2 ']
EXPRESSIONS = ['x', '(x)', '-x*y', '-x', 'x * y + x', 'sqrt(x)', 'log(x - x)', 'x / (x - x)', 'x ** 1000',
               'exp(x) ** 1000', 'max(x, y)', 'x.__class__', '__import__("os")', '', ' ', '1e999', '2',
               '-(-(-x))', 'relu(x) + leaky_relu(y, 0.1)', '(' * 200 + 'x' + ')' * 200, 'x +', 'é', '∂x']
VALUES = ['x=1', 'y=2', 'x=-1', 'x=0', 'x=nan', 'y=inf', 'x=1e308', 'x', '=1', 'exp=1', '__x=1', 'x=1=2',
          'f=3', 'x=', 'y=-0.5']
CHOICES = ['moons', 'blobs', 'regression', 'circles', 'spiral', 'mnist', 'relu', 'tanh', 'bogus', 'hinge',
           'bce', 'mse', 'cross_entropy', 'adam', 'sgd', 'auto', 'xavier', '']

TRAIN_OPTIONS = {
    '--dataset': CHOICES, '--samples': NUMBERS, '--noise': NUMBERS, '--test-size': NUMBERS,
    '--hidden': SIZES, '--activation': CHOICES, '--init': CHOICES, '--loss': CHOICES,
    '--optimizer': CHOICES, '--lr': NUMBERS, '--momentum': NUMBERS, '--l2': NUMBERS,
    '--epochs': ['0', '1', '2', '-1', 'x', '', '9' * 40], '--batch-size': ['1', '4', 'full', '0', 'x', ''],
    '--patience': NUMBERS, '--seed': NUMBERS,
}

# Values that get past argparse, so that the commands themselves meet odd but legal input.
PLAUSIBLE = {
    '--samples': ['2', '3', '5', '12'], '--noise': ['0', '0.3', '1e150', '1e300', '1e308'],
    '--dataset': ['moons', 'blobs', 'regression', 'spiral', 'circles'], '--test-size': ['0.5', '0.9', '0.01'],
    '--lr': ['0.1', '10', '1e300'], '--l2': ['0', '1e-4', '1e300'], '--momentum': ['0', '0.9', '1e10'],
    '--loss': ['auto', 'hinge', 'bce', 'mse', 'cross_entropy'], '--optimizer': ['adam', 'sgd'],
    '--seed': ['0', '-7', '9' * 30], '--patience': ['1'], '--digits': ['1', '17', '4'],
    '--difficulty': ['1', '3'], '--activation': ['tanh', 'sigmoid'],
}


def _option_pairs(options: dict[str, list[str]], strays: bool = True):
    """Lists of option/value pairs, sometimes with a stray option or a missing value."""
    pair = st.sampled_from(sorted(options)).flatmap(
        lambda name: st.tuples(st.just(name), st.sampled_from(options[name] + 3 * PLAUSIBLE.get(name, []))))
    stray = st.sampled_from(['--bogus', '-x', '--', '-h', '--svg', 'extra', '--out'])
    part = st.one_of(pair.map(list), pair.map(list), pair.map(list), stray.map(lambda token: [token])) \
        if strays else pair.map(list)
    return st.lists(part, max_size=3).map(
        lambda parts: [token for part in parts for token in part])


def _paths(folder: str) -> list[str]:
    """Paths a careless user might give: fine, inside a file, a folder, empty, unreadable junk."""
    return [os.path.join(folder, 'out'), os.path.join(folder, 'a-file', 'below'), folder, '',
            os.path.join(folder, 'a-file'), os.path.join(folder, 'junk.json'), os.path.join(folder, 'g.svg')]


@st.composite
def command_lines(draw, folder: str) -> tuple[list[str], str]:
    """One argument list for `main` and what stdin holds."""
    paths = _paths(folder)
    command = draw(st.sampled_from(['train', 'explain', 'export', 'exam', 'practice', 'demo', 'top']))
    if command == 'train':  # small by default, so that a valid run takes a fraction of a second
        base = ['train', '--samples', '12', '--epochs', '2', '--hidden', '3', '--quiet', '--out', paths[0]]
        legal = {name: PLAUSIBLE[name] for name in TRAIN_OPTIONS if name in PLAUSIBLE}
        extra = draw(st.one_of(_option_pairs(legal, strays=False), _option_pairs(legal, strays=False),
                               _option_pairs(dict(TRAIN_OPTIONS, **{'--out': paths}))))
        return base + extra, ''
    if command == 'explain':
        extra = draw(_option_pairs({'--svg': paths, '--html': paths, '--digits': NUMBERS,
                                    '--renderer': ['auto', 'dot', 'wasm', 'nope']}))
        values = draw(st.one_of(st.just(['x=1', 'y=2']), st.just(['x=0.5', 'y=-3']),
                                st.lists(st.sampled_from(VALUES), max_size=3)))
        expression = draw(st.one_of(st.sampled_from(EXPRESSIONS), st.sampled_from(EXPRESSIONS),
                                    st.text(alphabet='xy+-*/() .,0123456789e', max_size=12)))
        if draw(st.booleans()):  # the usual order; else anything goes
            return ['explain', expression, *values, *extra], ''
        order = draw(st.permutations([[expression], values, extra]))
        return ['explain', *[token for part in order for token in part]], ''
    if command == 'export':
        extra = draw(_option_pairs({'--to': ['torch', 'onnx', '']}))
        return ['export', draw(st.sampled_from(paths)), draw(st.sampled_from(paths)), *extra], ''
    if command == 'exam':
        roster = draw(st.one_of(st.just(os.path.join(folder, 'roster.csv')), st.sampled_from(paths)))
        extra = draw(_option_pairs({'--kind': ['fanout', 'chain,', ',', 'nope', ''],
                                    '--difficulty': NUMBERS, '--seed': NUMBERS, '--out': paths,
                                    '--title': ['', '<b>', 'é']}))
        return ['exam', '--students', roster, '--out', paths[0], *extra], ''
    if command == 'practice':
        extra = draw(_option_pairs({'--kind': CHOICES + ['fanout', 'notes_graph'], '--difficulty': NUMBERS,
                                    '--seed': NUMBERS}))
        answers = draw(st.lists(st.sampled_from(['1', '-3', 'nan', '', 'q', '2*', '1e999', 'x']), max_size=6))
        return ['practice', *extra], '\n'.join(answers) + '\n'
    if command == 'demo':  # only refusals: a real demo run takes seconds
        return ['demo', '--quiet', '--out', paths[1], *draw(_option_pairs({'--out': paths[1:2]}))], ''
    return draw(st.lists(st.sampled_from(['--version', '-h', '--bogus', 'nope', '', '-x*y', 'train']),
                         max_size=3)), ''


def _prepare(folder: str) -> None:
    with open(os.path.join(folder, 'a-file'), 'w') as f:
        f.write('not a folder')
    with open(os.path.join(folder, 'junk.json'), 'w') as f:
        f.write('{"format": "chainrule-model", "nin": 1e999, ')
    with open(os.path.join(folder, 'roster.csv'), 'w') as f:
        f.write('id\ns01\n')


def _run(argv: list[str], stdin_text: str) -> tuple[object, str, str]:
    out, err = io.StringIO(), io.StringIO()
    saved_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin_text)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code: object = main(argv)
            except SystemExit as exit_:  # argparse: --help, --version, or refused arguments
                code = exit_.code
    finally:
        sys.stdin = saved_stdin
    return code, out.getvalue(), err.getvalue()


def _check_what_the_user_sees(argv: list[str], code: object, err: str) -> None:
    assert isinstance(code, int) and not isinstance(code, bool), (argv, code)
    assert 'Traceback' not in err and 'internal error' not in err, (argv, err)
    if code == 0:
        return
    lines = err.splitlines()
    assert lines, (argv, 'a failure must say why on stderr')
    errors = [line for line in lines if 'error' in line or 'refused' in line or 'cannot' in line]
    assert len(errors) >= 1, (argv, err)
    # argparse shows its usage first (lines starting with "usage:" and indented continuations);
    # the reason itself is one line, the last.
    before_reason = lines[:-1]
    assert all(line.startswith('usage:') or line.startswith(' ') for line in before_reason), (argv, err)


@pytest.fixture(scope='module')
def folder():
    with tempfile.TemporaryDirectory() as path:
        _prepare(path)
        yield path


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_command_lines_get_an_exit_code_and_one_line_never_a_traceback(data, folder, monkeypatch):
    monkeypatch.chdir(folder)  # relative paths land in the temporary folder
    monkeypatch.delenv('CHAINRULE_TRACEBACK', raising=False)
    argv, stdin_text = data.draw(command_lines(folder))
    code, _, err = _run(argv, stdin_text)
    _check_what_the_user_sees(argv, code, err)


@pytest.mark.parametrize('argv', [
    ['train', '--samples', '1', '--quiet'],
    ['train', '--samples', '2', '--dataset', 'blobs', '--quiet'],
    ['train', '--noise', '1e308', '--samples', '20', '--epochs', '2', '--quiet'],
    ['train', '--noise', '1e300', '--samples', '20', '--epochs', '2', '--quiet'],
    ['train', '--hidden', '2000,2000', '--quiet'],
    ['explain', 'x', 'x=1', '--svg', ''],
    ['explain', 'x', 'x=1', '--html', ' '],
])
def test_each_reported_case_is_one_line_and_a_non_zero_exit(argv, folder, monkeypatch):
    monkeypatch.chdir(folder)
    code, _, err = _run(argv + ['--out', os.path.join(folder, 'named')] if argv[0] == 'train' else argv, '')
    assert code in (1, 2) and err.count('\n') == 1 and 'Traceback' not in err, err
    assert not os.path.exists(os.path.join(folder, 'named', 'summary.json'))


def test_an_unexpected_error_is_one_line_unless_the_traceback_is_asked_for(monkeypatch):
    import nn.cli.explain_command as explain_command

    def broken(args):
        raise KeyError('a bug')

    monkeypatch.setattr(explain_command, 'run', broken)
    monkeypatch.delenv('CHAINRULE_TRACEBACK', raising=False)
    code, _, err = _run(['explain', 'x', 'x=1'], '')
    assert code == 1 and err.count('\n') == 1
    assert "internal error: KeyError: 'a bug'" in err and 'CHAINRULE_TRACEBACK=1' in err
    monkeypatch.setenv('CHAINRULE_TRACEBACK', '1')
    with pytest.raises(KeyError):
        main(['explain', 'x', 'x=1'])
