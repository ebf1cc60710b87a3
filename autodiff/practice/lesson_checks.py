"""Checks for the lessons' exercises whose answer is a number or a choice rather than a gradient.

Gradients are checked node by node by `autodiff.practice.check`; these are
for the rest (a learning rate, a count of steps, which of three reasons).
An answer left as ``None`` is reported as not answered yet, never as an error,
so a lesson runs top to bottom before the learner has tried; a wrong answer
is told which way it is off and given a hint, never the right number.

>>> print(check_value('the largest stable rate', None, expected=4.0))
the largest stable rate: not answered yet (replace None with your answer).
>>> print(check_value('the largest stable rate', 3.9, expected=4.0, hint='solve |1 - α/2| < 1'))
the largest stable rate: not yet; your answer is too small. Hint: solve |1 - α/2| < 1
>>> check_value('the largest stable rate', '8/2', expected=4.0).right
True
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

from autodiff.practice.answers import AnswerError, parse_answer

NOT_ANSWERED, RIGHT, WRONG = 'not answered', 'right', 'wrong'


@dataclass(frozen=True)
class AnswerCheck:
    """The verdict on one answer: ``status`` is ``'right'``, ``'wrong'`` or ``'not answered'``."""

    name: str
    status: str
    message: str

    @property
    def right(self) -> bool:
        return self.status == RIGHT

    def text(self) -> str:
        return self.message

    def __str__(self) -> str:
        return self.message

    def _repr_html_(self) -> str:
        colour = {RIGHT: '#2ca02c', WRONG: '#d62728'}.get(self.status, '#555')
        return f'<pre style="white-space:pre-wrap;color:{colour}">{html.escape(self.message)}</pre>'


def check_value(name: str, answer: float | str | None, expected: float, *,
                tolerance: float = 0.01, hint: str = '') -> AnswerCheck:
    """Check a number (or an expression such as ``'2/0.5'``) against ``expected`` (relative ``tolerance``).

    >>> check_value('steps', 210, expected=200, tolerance=0.1).status
    'right'
    """
    if answer is None:
        return AnswerCheck(name, NOT_ANSWERED, f"{name}: not answered yet (replace None with your answer).")
    try:
        given = parse_answer(answer)
    except AnswerError as error:
        return AnswerCheck(name, WRONG, f"{name}: could not read your answer ({error}).")
    if math.isclose(given, expected, rel_tol=tolerance, abs_tol=tolerance / 10):
        return AnswerCheck(name, RIGHT, f"{name}: right.")
    direction = 'too large' if given > expected else 'too small'
    if expected and given and (given > 0) != (expected > 0):
        direction = 'of the wrong sign'
    advice = f" Hint: {hint}" if hint else ''
    return AnswerCheck(name, WRONG, f"{name}: not yet; your answer is {direction}.{advice}")


def check_choice(name: str, answer: str | None, expected: str, options: Sequence[str], *,
                 hint: str = '') -> AnswerCheck:
    """Check a choice among ``options`` (their keys, e.g. ``'a'``, ``'b'``, ``'c'``).

    >>> print(check_choice('why', 'b', expected='a', options=['a', 'b', 'c'], hint='look at 1/a'))
    why: not yet; 'b' is not the reason. Hint: look at 1/a
    >>> print(check_choice('why', 'z', expected='a', options=['a', 'b', 'c']))
    why: 'z' is not one of the options a, b, c.
    """
    if answer is None:
        return AnswerCheck(name, NOT_ANSWERED, f"{name}: not answered yet (replace None with one of "
                                               f"{', '.join(map(repr, options))}).")
    choice = str(answer).strip().lower()
    if choice not in options:
        return AnswerCheck(name, WRONG, f"{name}: {answer!r} is not one of the options {', '.join(options)}.")
    if choice == expected:
        return AnswerCheck(name, RIGHT, f"{name}: right.")
    advice = f" Hint: {hint}" if hint else ''
    return AnswerCheck(name, WRONG, f"{name}: not yet; {choice!r} is not the reason.{advice}")
