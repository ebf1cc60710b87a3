"""A safe calculator for expressions typed by people: ``"(x + y) * z"`` to a `Value` graph.

The text is parsed with Python's :mod:`ast` and walked node by node; nothing
is ever handed to ``eval`` or ``exec``.  Only these are accepted:

* numbers (int or float literals, at most ``MAX_LITERAL`` in size);
* names given values by the caller (not starting with ``__``);
* ``+ - * / **`` and unary ``-``;
* calls of the engine's functions, listed in ``FUNCTIONS`` (``exp(x)``,
  ``leaky_relu(x, 0.1)``, ``max(x, y)`` ...), with positional arguments.

Everything else (attribute access, subscripts, imports and other
statements, lambdas, comprehensions, strings, comparisons, names with
double underscores, names without a value, an exponent larger than
``MAX_EXPONENT``, text longer than ``MAX_LENGTH`` characters, nesting
deeper than ``MAX_DEPTH``) raises `ExpressionError`, a ``ValueError`` whose
message is one line.

Each variable becomes a leaf labelled with its name.  Each distinct number
becomes one leaf labelled with its text (so ``2 * x + 2`` shares one ``2``),
except a number exponent, which is a constant of ``**`` as in ``x ** 2``.

>>> f = evaluate('(x + y) * z', {'x': 1, 'y': 3, 'z': -3})
>>> f.data
-12.0
>>> evaluate('x.__class__', {'x': 1})
Traceback (most recent call last):
...
nn.cli.expression.ExpressionError: attribute access (x.__class__) is not allowed
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping

from autodiff.symbolic import number_text
from autodiff.value import Value

#: Functions an expression may call, with how many arguments each takes.
FUNCTIONS: dict[str, tuple[int, ...]] = {
    'exp': (1,), 'log': (1,), 'log1p': (1,), 'sqrt': (1,), 'sin': (1,), 'cos': (1,),
    'tanh': (1,), 'sigmoid': (1,), 'relu': (1,), 'softplus': (1,), 'abs': (1,),
    'leaky_relu': (1, 2), 'max': (2,), 'min': (2,),
}
MAX_LENGTH = 4000         # characters of expression text
MAX_LITERAL = 1e15        # size of a number written in the expression
MAX_EXPONENT = 1000       # size of a number exponent, as in x ** 1000
MAX_DEPTH = 100           # nesting of operations and calls
MAX_NODES = 2000          # syntax-tree nodes: keeps graphs small enough to explain

_OPERATORS = {ast.Add: '+', ast.Sub: '-', ast.Mult: '*', ast.Div: '/', ast.Pow: '**'}

# What a refused construct is called in the error message.
_REFUSED = {
    ast.Attribute: 'attribute access', ast.Subscript: 'subscripts', ast.Lambda: 'lambdas',
    ast.ListComp: 'comprehensions', ast.SetComp: 'comprehensions', ast.DictComp: 'comprehensions',
    ast.GeneratorExp: 'comprehensions', ast.Compare: 'comparisons', ast.BoolOp: 'and/or',
    ast.IfExp: 'conditional expressions', ast.NamedExpr: 'assignments', ast.Starred: 'starred arguments',
    ast.JoinedStr: 'strings', ast.List: 'lists', ast.Tuple: 'tuples', ast.Set: 'sets', ast.Dict: 'dicts',
    ast.Await: 'await', ast.Yield: 'yield', ast.YieldFrom: 'yield',
}


class ExpressionError(ValueError):
    """An expression that is refused; the message is one line.

    >>> str(ExpressionError('unknown name q'))
    'unknown name q'
    """


def evaluate(text: str, variables: Mapping[str, Value | float]) -> Value:
    """Build the `Value` graph of ``text`` with the given variables.

    Numbers given for variables become leaves labelled with their names;
    `Value` objects are used as they are.

    >>> evaluate('tanh(a) ** 2', {'a': 0.0}).data
    0.0
    >>> evaluate('__import__("os")', {})
    Traceback (most recent call last):
    ...
    nn.cli.expression.ExpressionError: names with double underscores are not allowed: __import__
    """
    tree = parse(text)
    leaves = {name: value if isinstance(value, Value) else Value(value, label=name)
              for name, value in variables.items()}
    return _Builder(leaves).build(tree.body)


def parse(text: str) -> ast.Expression:
    """Parse and check ``text``; the checked syntax tree, or `ExpressionError`.

    >>> parse('x ** 5000')
    Traceback (most recent call last):
    ...
    nn.cli.expression.ExpressionError: the exponent 5000 is too large (at most 1000 in size)
    """
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is {len(text)} characters long (at most {MAX_LENGTH})")
    if not text.strip():
        raise ExpressionError("the expression is empty")
    try:
        tree = ast.parse(text.strip(), mode='eval')
    except SyntaxError as error:
        raise ExpressionError(f"not a single expression ({error.msg}): statements such as import "
                              "or assignment are not allowed") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"the expression is nested too deeply (at most {MAX_DEPTH} levels)") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise ExpressionError(f"the expression has {count} parts (at most {MAX_NODES})")
    _check(tree.body, 0)
    return tree


def variable_names(text: str) -> list[str]:
    """The names an expression uses as variables, in order of first use.

    >>> variable_names('exp(b) * a + b')
    ['b', 'a']
    """
    tree = parse(text)
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    names = [node for node in ast.walk(tree) if isinstance(node, ast.Name) and id(node) not in called]
    names.sort(key=lambda node: (node.lineno, node.col_offset))
    return list(dict.fromkeys(node.id for node in names))


def _check(node: ast.AST, depth: int) -> None:
    """Refuse anything that is not a number, a name, an allowed operator or call."""
    if depth > MAX_DEPTH:
        raise ExpressionError(f"the expression is nested too deeply (at most {MAX_DEPTH} levels)")
    if isinstance(node, ast.Constant):
        _check_number(node)
    elif isinstance(node, ast.Name):
        _check_name(node.id)
    elif isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, ast.USub):
            raise ExpressionError(f"the operator {_source(node)[:1]!r} is not allowed (only unary minus)")
        _check(node.operand, depth + 1)
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _OPERATORS:
            raise ExpressionError(f"the operator in {_source(node)!r} is not allowed (only + - * / **)")
        if isinstance(node.op, ast.Pow):
            exponent = _number_of(node.right)
            if exponent is not None and abs(exponent) > MAX_EXPONENT:
                raise ExpressionError(f"the exponent {number_text(exponent)} is too large "
                                      f"(at most {MAX_EXPONENT} in size)")
        _check(node.left, depth + 1)
        _check(node.right, depth + 1)
    elif isinstance(node, ast.Call):
        _check_call(node, depth)
    else:
        what = _REFUSED.get(type(node), type(node).__name__)
        raise ExpressionError(f"{what} ({_source(node)}) is not allowed" if what in _REFUSED.values()
                              else f"{what} is not allowed: {_source(node)}")


def _check_number(node: ast.Constant) -> None:
    value = node.value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExpressionError(f"only numbers may be written, not {value!r}")
    too_long = isinstance(value, int) and value.bit_length() > 64  # too big even to convert
    if too_long or not math.isfinite(value) or abs(value) > MAX_LITERAL:
        raise ExpressionError(f"the number {_source(node)[:40]} is too large "
                              f"(at most {MAX_LITERAL:.0e} in size)")


def _check_name(name: str) -> None:
    if name.startswith('__'):
        raise ExpressionError(f"names with double underscores are not allowed: {name}")
    if name in FUNCTIONS:
        raise ExpressionError(f"{name} is a function: call it, as in {name}(x)")


def _check_call(node: ast.Call, depth: int) -> None:
    if not isinstance(node.func, ast.Name):
        _check(node.func, depth + 1)  # refuses x.exp() and the like with their own message
        raise ExpressionError(f"only the engine's functions can be called, not {_source(node.func)}")
    name = node.func.id
    if name.startswith('__'):
        raise ExpressionError(f"names with double underscores are not allowed: {name}")
    if name not in FUNCTIONS:
        raise ExpressionError(f"unknown function {name!r}; allowed: {', '.join(FUNCTIONS)}")
    if node.keywords:
        raise ExpressionError(f"{name}() takes positional arguments only")
    if len(node.args) not in FUNCTIONS[name]:
        counts = ' or '.join(map(str, FUNCTIONS[name]))
        raise ExpressionError(f"{name}() takes {counts} argument{'s' if counts != '1' else ''}, "
                              f"got {len(node.args)}")
    for arg in node.args:
        _check(arg, depth + 1)
    if name == 'leaky_relu' and len(node.args) == 2 and _number_of(node.args[1]) is None:
        raise ExpressionError("leaky_relu's slope must be a number, as in leaky_relu(x, 0.1)")


def _number_of(node: ast.AST) -> float | None:
    """The value of a number literal, possibly negated; ``None`` for anything else."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number_of(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return float(node.value) if abs(node.value) <= 1e300 else math.inf
    return None


def _source(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # unparse of a strange tree: the type name still says what it was
        return type(node).__name__


class _Builder:
    """Walks a checked tree and builds the graph with the engine's operators."""

    def __init__(self, leaves: dict[str, Value]):
        self.leaves = leaves
        self.numbers: dict[float, Value] = {}

    def number(self, x: float) -> Value:
        if x not in self.numbers:
            self.numbers[x] = Value(x, label=number_text(x))
        return self.numbers[x]

    def build(self, node: ast.AST) -> Value:
        # Recursion is bounded by MAX_DEPTH, checked in parse().
        if isinstance(node, ast.Constant):  # parse() let only real numbers through
            assert isinstance(node.value, (int, float))
            return self.number(float(node.value))
        if isinstance(node, ast.Name):
            if node.id not in self.leaves:
                raise ExpressionError(f"unknown name {node.id!r}: give it a value, as in {node.id}=1.5")
            return self.leaves[node.id]
        if isinstance(node, ast.UnaryOp):
            literal = _number_of(node)
            return self.number(literal) if literal is not None else -self.build(node.operand)
        if isinstance(node, ast.BinOp):
            left = self.build(node.left)
            exponent = _number_of(node.right) if isinstance(node.op, ast.Pow) else None
            if exponent is not None:
                return left ** exponent  # a constant of the operation, as in x ** 2
            right = self.build(node.right)
            op = _OPERATORS[type(node.op)]
            if op == '+':
                return left + right
            if op == '-':
                return left - right
            if op == '*':
                return left * right
            if op == '/':
                return left / right
            return left ** right
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)  # parse() allows calls of known names only
            name = node.func.id
            args = [self.build(arg) for arg in node.args]
            if name == 'abs':
                return abs(args[0])
            slope = _number_of(node.args[1]) if name == 'leaky_relu' and len(args) == 2 else None
            if slope is not None:
                return args[0].leaky_relu(slope)
            return getattr(args[0], name)(*args[1:])
        raise ExpressionError(f"not allowed: {_source(node)}")  # parse() refused it already
