"""``chainrule explain``: output, files, and every class of refused expression."""

import argparse
import builtins
import os
import subprocess
import sys

import pytest

from autodiff.pictures.renderers import available_renderers
from nn.cli.explain_command import add_arguments, run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def explain_cli(*argv):
    parser = argparse.ArgumentParser(prog='chainrule explain')
    add_arguments(parser)
    return run(parser.parse_args(list(argv)))


def test_the_notes_example(capsys):
    assert explain_cli('(x + y) * z', 'x=1', 'y=3', 'z=-3') == 0
    out = capsys.readouterr().out
    assert 'f = v1 * z = 4 * (-3) = -12' in out
    assert '∂f/∂z = ∂f/∂f · ∂f/∂z = 1 · v1 = 1 · 4 = 4' in out
    assert out.rstrip().endswith('∂f/∂x = -3\n  ∂f/∂y = -3\n  ∂f/∂z = 4')


def test_functions_constants_and_an_unused_variable(capsys):
    assert explain_cli('tanh(a) * 2 + a ** 2 - 2', 'a=0', 'unused=5') == 0
    out = capsys.readouterr().out
    gradients = out.split('Gradients:')[1]
    assert '∂f/∂a = 2\n' in gradients  # 2·(1 - tanh²(0)) + 2·0
    assert '∂f/∂2 = -1\n' in gradients  # one shared leaf for the literal 2: tanh(0) - 1
    assert '∂f/∂unused = 0   (unused does not appear in the expression)' in out


def test_gradient_value_is_right(capsys):
    assert explain_cli('sigmoid(w * x + b)', 'w=2', 'x=-1', 'b=0.5') == 0
    gradients = capsys.readouterr().out.split('Gradients:')[1]
    s = 1 / (1 + 2.718281828459045 ** 1.5)  # sigmoid(-1.5), computed here by hand
    assert f"∂f/∂w = {-s * (1 - s):.4g}" in gradients and f"∂f/∂b = {s * (1 - s):.4g}" in gradients


def test_writes_the_picture_and_the_player(tmp_path, capsys):
    if not available_renderers():
        pytest.skip('no Graphviz renderer installed (dot or chainrule[viz])')
    svg, page = tmp_path / 'graph.svg', tmp_path / 'steps.html'
    assert explain_cli('x * y + x', 'x=2', 'y=5', '--svg', str(svg), '--html', str(page)) == 0
    assert '<svg' in svg.read_text() and 'grad 6.0000' in svg.read_text()
    assert page.read_text().count('<svg') == 1 and page.read_text().count('"caption":') == 2 + 4
    assert f"wrote the graph to {svg}" in capsys.readouterr().out


REFUSED = {
    'attribute access': ('x.__class__', 'attribute access'),
    'method call': ('x.exp()', 'attribute access'),
    'subscript': ('x[0]', 'subscripts'),
    'import statement': ('import os', 'statements'),
    'import call': ('__import__("os")', 'double underscores'),
    'dunder name': ('__builtins__', 'double underscores'),
    'lambda': ('(lambda: 1)()', 'lambdas'),
    'list comprehension': ('[x for x in (1, 2)]', 'comprehensions'),
    'generator': ('sum(x for x in (1, 2))', 'unknown function'),
    'unknown function': ('eval("1")', 'unknown function'),
    'unbound name': ('x + q', 'no value for q'),
    'huge exponent': ('x ** 100000', 'exponent 100000 is too large'),
    'huge literal': ('x * 1e300', 'too large'),
    'huge integer': ('x + 9' + '9' * 40, 'too large'),
    'too long': ('+'.join(['x'] * 3000), 'characters long'),
    'string': ('"x"', 'only numbers'),
    'comparison': ('x < 1', 'comparisons'),
    'walrus': ('(y := 2)', 'assignments'),
    'keywords': ('leaky_relu(x, negative_slope=0.1)', 'positional'),
    'floor division': ('x // 2', 'operator'),
    'not': ('not x', 'operator'),
    'complex literal': ('x * 1j', 'only numbers'),
    'bad value': ('x', 'x=abc', 'must be a number'),
    'infinite value': ('x', 'x=inf', 'finite'),
    'function as variable': ('exp + 1', 'is a function'),
}


@pytest.mark.parametrize('case', REFUSED.values(), ids=REFUSED.keys())
def test_refused_input_exits_2_with_one_line(case, capsys):
    expression, *values, reason = case
    assert explain_cli(expression, *(values or ['x=1'])) == 2
    captured = capsys.readouterr()
    assert captured.out == ''
    assert captured.err.count('\n') == 1 and captured.err.startswith('chainrule explain: refused: ')
    assert reason in captured.err


def test_a_math_error_is_one_line_exit_1(capsys):
    assert explain_cli('log(x)', 'x=-1') == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'cannot evaluate' in err


def test_nothing_goes_through_eval_or_exec(monkeypatch, capsys):
    def forbidden(*args, **kwargs):
        raise AssertionError('eval/exec was called')

    monkeypatch.setattr(builtins, 'eval', forbidden)
    monkeypatch.setattr(builtins, 'exec', forbidden)
    assert explain_cli('exp(x) / (1 + x ** 2)', 'x=0.5') == 0
    assert 'Gradients:' in capsys.readouterr().out


def run_in_subprocess(*argv):
    code = ("import argparse, sys; from nn.cli.explain_command import add_arguments, run; "
            "p = argparse.ArgumentParser(); add_arguments(p); sys.exit(run(p.parse_args(sys.argv[1:])))")
    env = dict(os.environ, PYTHONIOENCODING='utf-8')
    return subprocess.run([sys.executable, '-c', code, *argv], capture_output=True, text=True,
                          encoding='utf-8', cwd=ROOT, env=env, timeout=60)


def test_end_to_end_in_a_subprocess():
    done = run_in_subprocess('(x + y) * z', 'x=1', 'y=3', 'z=-3')
    assert done.returncode == 0 and done.stderr == ''
    assert '∂f/∂x = -3' in done.stdout and 'f = v1 * z = 4 * (-3) = -12' in done.stdout
    refused = run_in_subprocess('().__class__', 'x=1')
    assert refused.returncode == 2 and refused.stdout == ''
    assert refused.stderr.strip().count('\n') == 0 and 'Traceback' not in refused.stderr


def test_a_failure_mid_write_leaves_the_old_svg(tmp_path, monkeypatch, capsys):
    if not available_renderers():
        pytest.skip('no Graphviz renderer installed')
    path = tmp_path / 'graph.svg'
    path.write_text('the previous picture')

    def disk_full(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', disk_full)
    assert explain_cli('x * y', 'x=2', 'y=3', '--svg', str(path)) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'No space left on device' in err
    assert path.read_text() == 'the previous picture' and os.listdir(tmp_path) == ['graph.svg']
    monkeypatch.undo()
    assert explain_cli('x * y', 'x=2', 'y=3', '--svg', str(path)) == 0
    assert '<svg' in path.read_text()


# ----------------------------------------------------------------------
# The expression is a variable itself; an expression that starts with a minus; empty file names
# ----------------------------------------------------------------------


@pytest.mark.parametrize('expression', ['x', '(x)', ' x '])
def test_the_expression_x_has_gradient_one(expression, capsys):
    assert explain_cli(expression, 'x=1', 'y=2') == 0
    out = capsys.readouterr().out
    assert '∂f/∂x = 1   (f is x itself)' in out and 'x does not appear' not in out
    assert '∂f/∂y = 0   (y does not appear in the expression)' in out


@pytest.mark.parametrize('argv', [['explain', '-x*y', 'x=1', 'y=2'], ['explain', '--', '-x*y', 'x=1', 'y=2'],
                                  ['explain', '--digits', '3', '-x*y', 'x=1', 'y=2', '--svg=-.svg'][:-1]])
def test_an_expression_starting_with_a_minus_is_read_as_the_expression(argv, capsys):
    from nn.cli import main

    assert main(argv) == 0
    out = capsys.readouterr().out
    assert '∂f/∂x = -2' in out and '∂f/∂y = -1' in out   # f = -x·y: ∂f/∂x = -y, ∂f/∂y = -x


def test_a_mistyped_option_is_still_named_as_an_option(capsys):
    from nn.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(['explain', '-x*y', 'x=1', 'y=2', '--svgg', 'g.svg'])
    assert exit_.value.code == 2 and 'unrecognized arguments: --svgg' in capsys.readouterr().err


@pytest.mark.parametrize('option', ['--svg', '--html'])
def test_an_empty_file_name_is_refused(option, capsys):
    assert explain_cli('x * y', 'x=1', 'y=2', option, '') == 2
    err = capsys.readouterr().err
    assert err == f"chainrule explain: refused: {option} needs a file name, got ''\n"


def test_a_folder_given_as_the_svg_is_named_in_the_error(tmp_path, capsys):
    if not available_renderers():
        pytest.skip('no Graphviz renderer to draw with')
    assert explain_cli('x * y', 'x=1', 'y=2', '--svg', str(tmp_path), '--renderer', 'auto') == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and f"cannot write {tmp_path}:" in err
