"""``chainrule practice`` driven through stdin: right and wrong answers, bad input, q, EOF and Ctrl-C."""

import argparse
import io
import os
import subprocess
import sys

from nn.cli.practice_command import add_arguments, run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTES = ['--kind', 'notes_graph', '--seed', '0']   # x = 1, y = 3, z = -3: ∂g/∂z = 4, the rest -3


def practice(monkeypatch, capsys, typed, *argv):
    monkeypatch.setattr(sys, 'stdin', io.StringIO(typed))
    parser = argparse.ArgumentParser(prog='chainrule practice')
    add_arguments(parser)
    code = run(parser.parse_args(list(argv)))
    return code, capsys.readouterr().out


def test_right_wrong_and_bad_answers(monkeypatch, capsys):
    # g: right; z: 'abc' and an empty line are asked again, then right; p: wrong twice (sign, then
    # swapped) so the step is shown; y: wrong once (upstream forgotten), then right; x: right.
    typed = '1\nabc\n\n4\n3\n4\n1\n-3\n-1*3\n'
    code, out = practice(monkeypatch, capsys, typed, *NOTES)
    assert code == 0
    assert "not a number: 'abc'" in out and 'Type a number' in out
    assert '✗ not yet (sign error)' in out
    assert '✗ still not right. The step:\n  ∂g/∂p = ∂g/∂g · ∂g/∂p = 1 · z = 1 · (-3) = -3' in out
    assert '✗ not yet (upstream gradient forgotten)' in out and '✓ right this time.' in out
    assert 'Score: 3 of 5 right at the first try, 1 after a hint, 1 shown.' in out
    assert 'Worked solution (from the explainer):' in out and '∂g/∂z = 4' in out.split('Gradients:')[1]


def test_end_of_input_stops_without_a_traceback(monkeypatch, capsys):
    code, out = practice(monkeypatch, capsys, '1\n4', *NOTES)   # no newline after the last answer, then EOF
    assert code == 0
    assert 'End of input. Score so far: 2 of 5 right at the first try' in out
    assert 'chainrule practice --kind notes_graph --difficulty 1 --seed 0' in out
    assert 'Worked solution' not in out


def test_q_and_quit_stop_at_any_prompt(monkeypatch, capsys):
    for word in ('q', '--quit', 'QUIT'):
        code, out = practice(monkeypatch, capsys, f'1\n{word}\n', *NOTES)
        assert code == 0 and 'Stopped. Score so far: 1 of 5' in out


def test_ctrl_c_stops_without_a_traceback(monkeypatch, capsys):
    class Interrupted(io.StringIO):
        def readline(self, *args):
            raise KeyboardInterrupt
    monkeypatch.setattr(sys, 'stdin', Interrupted())
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args(NOTES)) == 130
    assert 'Stopped (Ctrl-C). Score so far: 0 of 5' in capsys.readouterr().out


def test_every_kind_can_be_finished_with_its_own_key(monkeypatch, capsys):
    from autodiff.practice import KINDS, make_exercise
    for kind in KINDS:
        key = make_exercise(kind, 2, seed=3).answer_key()
        typed = ''.join(f"{value!r}\n" for value in key.values())
        code, out = practice(monkeypatch, capsys, typed, '--kind', kind, '--difficulty', '2', '--seed', '3')
        assert code == 0 and f"Score: {len(key)} of {len(key)} right at the first try" in out, kind


def test_a_real_pipe_and_bad_options():
    program = ('import argparse, sys\nfrom nn.cli.practice_command import add_arguments, run\n'
               'p = argparse.ArgumentParser(prog="chainrule practice")\nadd_arguments(p)\n'
               'sys.exit(run(p.parse_args(sys.argv[1:])))')
    env = {**os.environ, 'PYTHONIOENCODING': 'utf-8'}
    done = subprocess.run([sys.executable, '-c', program, *NOTES], input='1\nabc\n-4\n', text=True,
                          capture_output=True, cwd=ROOT, env=env, timeout=60)
    assert done.returncode == 0 and 'Traceback' not in done.stderr
    assert '∂g/∂z = -4' in done.stdout and 'End of input.' in done.stdout   # the piped answer is echoed
    bad = subprocess.run([sys.executable, '-c', program, '--kind', 'nope'], text=True, capture_output=True,
                         cwd=ROOT, env=env, timeout=60)
    assert bad.returncode == 2 and "invalid choice: 'nope'" in bad.stderr and 'Traceback' not in bad.stderr
