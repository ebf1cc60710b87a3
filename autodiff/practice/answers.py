"""Reading a learner's answer: a number, or a small sum such as ``"1-0.76**2"``, never ``eval``.

The text is parsed with Python's :mod:`ast` and computed node by node.  Only
these are accepted: numbers, ``+ - * / **``, unary ``+``/``-``, parentheses,
the constants ``e`` and ``pi``, and the functions in `ANSWER_FUNCTIONS`
(``exp``, ``log``, ``sqrt``, ``tanh``, ``sigmoid``, ``sin``, ``cos``).  Anything
else raises `AnswerError`, a ``ValueError`` whose message is one line.

>>> parse_answer('2*0.5'), parse_answer('-3'), round(parse_answer('1-0.76**2'), 4)
(1.0, -3.0, 0.4224)
>>> parse_answer('__import__("os")')  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
autodiff.practice.answers.AnswerError: only numbers, + - * / ** and exp, ... are allowed, not '__import__'
"""

from __future__ import annotations

import ast
import math
import operator

#: Functions an answer may use, and how they are computed (the standard library's math).
ANSWER_FUNCTIONS = {
    'exp': math.exp, 'log': math.log, 'sqrt': math.sqrt, 'tanh': math.tanh,
    'sigmoid': lambda t: 1 / (1 + math.exp(-t)), 'sin': math.sin, 'cos': math.cos,
}
ANSWER_CONSTANTS = {'e': math.e, 'pi': math.pi}
MAX_ANSWER_LENGTH = 200   # characters: an answer is a number, not a program
MAX_EXPONENT = 100        # keeps 9**9**9 from hanging the checker

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.Pow: operator.pow}
_ALLOWED = f"only numbers, + - * / ** and {', '.join(ANSWER_FUNCTIONS)} are allowed"


class AnswerError(ValueError):
    """An answer that cannot be read as a number; the message is one line.

    >>> str(AnswerError("not a number: 'abc'"))
    "not a number: 'abc'"
    """


def parse_answer(answer: str | float | int) -> float:
    """The number an answer stands for: a float or int as it is, text computed safely.

    >>> parse_answer(' 4 '), parse_answer('(1 + 3) * -3'), parse_answer(0.5)
    (4.0, -12.0, 0.5)
    >>> parse_answer('abc')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    autodiff.practice.answers.AnswerError: not a number: 'abc' (write a number such as -3, ...)
    """
    if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
        raise AnswerError(f"an answer must be a number or text, got {answer!r}")
    if not isinstance(answer, str):
        value = float(answer)
    else:
        text = answer.strip().replace('−', '-').replace('×', '*').replace('·', '*')
        if not text:
            raise AnswerError("the answer is empty: write a number such as -3")
        if len(text) > MAX_ANSWER_LENGTH:
            raise AnswerError(f"the answer is {len(text)} characters long (at most {MAX_ANSWER_LENGTH})")
        try:
            tree = ast.parse(text, mode='eval')
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            raise AnswerError(f"not a number: {answer.strip()!r} (write a number such as -3, "
                              "or a sum such as 2*0.5)") from None
        if isinstance(tree.body, ast.Name) and tree.body.id not in ANSWER_CONSTANTS:
            raise AnswerError(f"not a number: {answer.strip()!r} (write a number such as -3, "
                              "or a sum such as 2*0.5)")
        try:
            value = _compute(tree.body, depth=0)
        except (ArithmeticError, ValueError) as error:
            if isinstance(error, AnswerError):
                raise
            raise AnswerError(f"cannot compute {answer.strip()!r}: {error}") from None
    if not math.isfinite(value):
        raise AnswerError(f"the answer {answer!r} is not a finite number")
    return value


def _compute(node: ast.AST, depth: int) -> float:
    """The value of one checked piece of the syntax tree."""
    if depth > 50:
        raise AnswerError("the answer is nested too deeply")
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        if isinstance(node.value, bool):  # True is an int to Python, not a number to a learner
            raise AnswerError(f"{_ALLOWED}, not {node.value!r}")
        return float(node.value)
    if isinstance(node, ast.Name) and node.id in ANSWER_CONSTANTS:
        return ANSWER_CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _compute(node.operand, depth + 1)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _compute(node.left, depth + 1), _compute(node.right, depth + 1)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise AnswerError(f"the exponent {right:g} is too large (at most {MAX_EXPONENT})")
        result = _BINARY[type(node.op)](left, right)
        if isinstance(result, complex):
            raise AnswerError("a negative number to a fractional power is not a real number")
        return result
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ANSWER_FUNCTIONS
            and len(node.args) == 1 and not node.keywords):
        return ANSWER_FUNCTIONS[node.func.id](_compute(node.args[0], depth + 1))
    raise AnswerError(f"{_ALLOWED}, not {_source(node)!r}")


def _source(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    try:
        return ast.unparse(node)[:40]
    except Exception:  # a tree unparse cannot write: its type still says what it was
        return type(node).__name__


def format_number(x: float, digits: int = 4) -> str:
    """A number as feedback shows it: ``4``, ``-0.42``, ``0.7616``.

    >>> format_number(4.0), format_number(-0.41997434), format_number(1e-20)
    ('4', '-0.42', '1e-20')
    """
    x = float(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.{digits}g}"
