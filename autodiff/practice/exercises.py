"""Exercises in backpropagation by hand: seven kinds, three difficulties, numbers from a seed.

`make_exercise(kind, difficulty, seed)` builds an `Exercise`: a few lines of
one operation each (``p = x + y``, ``g = p * z``), the inputs' values, and the
nodes whose gradients the learner must give.  The same seed always gives the
same numbers (a private ``random.Random(seed)``, never the global generator);
`variant(student_id, assignment)` gives every student their own, stable numbers.

Numbers are chosen for hand computation: small integers, one decimal at
difficulty 3; a tanh neuron's pre-activation is ±0.5 or ±1, and a logistic
regression at difficulty 1 has z = 0 (so a = 0.5).  The answer key and the
worked solution come from the engine: the key from the chain-rule walker, the
solution from the explainer (:func:`autodiff.explain`), never written by hand.

The kinds (`KINDS`): ``chain``, ``fanout`` (a variable used twice),
``notes_graph`` (the lecture notes' p = x + y, g = p · z; difficulty 1 with seed 0
is the notes' own x = 1, y = 3, z = −3), ``tanh_neuron``, ``logistic_regression``
(dz = a − y), ``mse_linear`` and ``two_layer``.

>>> ex = make_exercise('notes_graph', difficulty=1, seed=0)
>>> print(ex.text())
The lecture notes' graph (difficulty 1)
  p = x + y
  g = p * z
with x = 1, y = 3, z = -3.
Give ∂g/∂g, ∂g/∂z, ∂g/∂p, ∂g/∂y, ∂g/∂x.
>>> ex.answer_key()
{'g': 1.0, 'z': 4.0, 'p': -3.0, 'y': -3.0, 'x': -3.0}
"""

from __future__ import annotations

import ast
import hashlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from autodiff import explain
from autodiff.graph import topological_order
from autodiff.practice.answers import format_number
from autodiff.practice.checker import CheckResult, check
from autodiff.value import Value

KINDS = ('chain', 'fanout', 'notes_graph', 'tanh_neuron', 'logistic_regression', 'mse_linear', 'two_layer')
DIFFICULTIES = (1, 2, 3)
MAX_DRAWS = 100   # attempts at pleasant numbers before the last draw is kept


@dataclass(frozen=True)
class Exercise:
    """One exercise: ``lines`` of ``(name, formula)``, ``inputs`` ``(name, value)``, and the names ``asked``.

    Every method builds a fresh graph, so an exercise can be checked, explained
    and shown any number of times.

    >>> ex = make_exercise('fanout', difficulty=1, seed=3)
    >>> ex.output, ex.asked[0], len(ex.graph()._prev)
    ('f', 'f', 2)
    """

    kind: str
    difficulty: int
    seed: int
    title: str
    lines: tuple[tuple[str, str], ...]
    inputs: tuple[tuple[str, float], ...]
    asked: tuple[str, ...]       # in backward order, the output first
    note: str = ''

    @property
    def output(self) -> str:
        """The name of the value whose gradients are asked for (the last line)."""
        return self.lines[-1][0]

    def graph(self) -> Value:
        """A fresh graph of the exercise; its output is labelled :attr:`output`."""
        env: dict[str, Value] = {name: Value(value, label=name) for name, value in self.inputs}
        node = None
        for name, formula in self.lines:
            node = _build(ast.parse(formula, mode='eval').body, env)
            node.label = name
            env[name] = node
        assert node is not None  # an exercise has at least one line
        return node

    def forward_values(self) -> dict[str, float]:
        """Every named value of the forward pass, inputs first."""
        return {step.name: step.value for step in explain(self.graph()).forward}

    def answer_key(self) -> dict[str, float]:
        """The right ∂output/∂node for every asked node, in the order asked."""
        explanation = explain(self.graph())
        return {name: explanation.gradient_of(name) for name in self.asked}

    def worked_solution(self) -> str:
        """The explainer's text: forward values, every chain-rule step, the gradients."""
        return explain(self.graph()).text(table=False)

    def check(self, answers: Mapping[Any, str | float | None], reveal: bool = False) -> CheckResult:
        """Check answers with :func:`autodiff.practice.check`; only the asked nodes count as missing.

        >>> ex = make_exercise('notes_graph', seed=0)
        >>> ex.check({'p': -3, 'z': 4}).all_right
        True
        """
        return check(self.graph(), answers, reveal, expected=self.asked)

    def text(self) -> str:
        """The exercise as the learner reads it."""
        out = f"∂{self.output}"
        lines = [f"{self.title} (difficulty {self.difficulty})"]
        lines += [f"  {name} = {formula}" for name, formula in self.lines]
        lines.append(f"with {', '.join(f'{n} = {format_number(v)}' for n, v in self.inputs)}.")
        if self.note:
            lines.append(self.note)
        lines.append(f"Give {', '.join(f'{out}/∂{name}' for name in self.asked)}.")
        return '\n'.join(lines)

    def __str__(self) -> str:
        return self.text()


def make_exercise(kind: str, difficulty: int = 1, seed: int = 0) -> Exercise:
    """An exercise of ``kind`` (one of `KINDS`) at ``difficulty`` 1–3, its numbers drawn from ``seed``.

    >>> a, b = make_exercise('chain', 2, seed=7), make_exercise('chain', 2, seed=7)
    >>> a == b, a.inputs == make_exercise('chain', 2, seed=8).inputs
    (True, False)
    """
    if kind not in _BUILDERS:
        raise ValueError(f"unknown exercise kind {kind!r}; kinds: {', '.join(KINDS)}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be 1, 2 or 3, got {difficulty!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    rng = random.Random(seed)
    for _ in range(MAX_DRAWS):  # draw again (from the same generator) until the numbers are pleasant
        title, lines, inputs, asked_inputs, note = _BUILDERS[kind](rng, difficulty, seed)
        draft = Exercise(kind, difficulty, seed, title, tuple(lines), tuple(inputs.items()), (), note)
        exercise = Exercise(kind, difficulty, seed, title, draft.lines, draft.inputs,
                            _backward_order(draft, {name for name, _ in lines} | set(asked_inputs)), note)
        if _pleasant(exercise):
            break
    return exercise


def _pleasant(exercise: Exercise) -> bool:
    """Small forward values and no zero gradient (a zero makes the step trivial and hides slips).

    The one exception: a two-layer net at difficulty 3 may have a ReLU that is off.
    """
    if any(abs(value) > 50 for value in exercise.forward_values().values()):
        return False
    key = exercise.answer_key()
    if exercise.kind == 'two_layer' and exercise.difficulty == 3:
        key = {'o': key['o']}
    return all(0 < abs(g) <= 200 for g in key.values())


def variant(student_id: str, assignment: str | int, kind: str | None = None, difficulty: int = 2) -> Exercise:
    """A student's own version of an exercise: stable per student and assignment, different between students.

    The seed is a hash (SHA-256) of the assignment and the student's id, so it
    does not depend on Python's per-run string hashing.  ``kind=None`` picks
    the kind from the same hash.

    >>> variant('alice', 'week 3', 'notes_graph') == variant('alice', 'week 3', 'notes_graph')
    True
    >>> variant('alice', 'week 3', 'notes_graph').inputs != variant('bob', 'week 3', 'notes_graph').inputs
    True
    """
    if not str(student_id).strip():
        raise ValueError("a student id must not be empty")
    digest = hashlib.sha256(f"{assignment}\x1f{student_id}".encode()).hexdigest()
    seed = int(digest[:12], 16)
    return make_exercise(kind if kind is not None else KINDS[seed % len(KINDS)], difficulty, seed)


_OPERATIONS: dict[type, Callable[[Value, Value], Value]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}
_FUNCTIONS = ('exp', 'log', 'tanh', 'sigmoid', 'relu')


def _build(tree: ast.AST, env: dict[str, Value]) -> Value:
    """The graph of one of this module's own formulas (``'p * z'``), with the engine's operators.

    Only the builders below write formulas, so only what they use is handled:
    names, numbers (each a leaf labelled with its text, as the explainer shows
    them), ``+ - * /``, ``** number``, unary minus and a few functions.
    """
    if isinstance(tree, ast.Name):
        return env[tree.id]
    if isinstance(tree, ast.Constant) and isinstance(tree.value, (int, float)):
        text = format_number(tree.value)   # one leaf per number in a graph: 1 - y and 1 - a share their 1
        if text not in env:
            env[text] = Value(float(tree.value), label=text)
        return env[text]
    if isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.USub):
        return -_build(tree.operand, env)
    if isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Pow):
        exponent = tree.right.value if isinstance(tree.right, ast.Constant) else None
        if isinstance(exponent, (int, float)):
            return _build(tree.left, env) ** float(exponent)
    if isinstance(tree, ast.BinOp) and type(tree.op) in _OPERATIONS:
        return _OPERATIONS[type(tree.op)](_build(tree.left, env), _build(tree.right, env))
    if isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name) and tree.func.id in _FUNCTIONS:
        return getattr(_build(tree.args[0], env), tree.func.id)()
    raise ValueError(f"an exercise formula uses something not handled: {ast.unparse(tree)}")


def _backward_order(exercise: Exercise, asked: set[str]) -> tuple[str, ...]:
    """The asked names in the order the chain rule reaches them: the output first."""
    root = exercise.graph()
    names = explain(root).names
    return tuple(names[node] for node in reversed(topological_order(root)) if names.get(node) in asked)


# ----------------------------------------------------------------------
# Pleasant numbers.
# ----------------------------------------------------------------------
def _integer(rng: random.Random, size: int) -> int:
    """A non-zero integer between -size and size."""
    return rng.choice([k for k in range(-size, size + 1) if k != 0])


def _tenth(rng: random.Random, size: float) -> float:
    """A non-zero number with one decimal between -size and size (never an integer, so the decimal shows)."""
    tenths = [k for k in range(-round(size * 10), round(size * 10) + 1) if k % 10]
    return rng.choice(tenths) / 10


def _number(rng: random.Random, difficulty: int, size: int) -> float:
    return float(_integer(rng, size)) if difficulty < 3 else _tenth(rng, size)


# ----------------------------------------------------------------------
# One builder per kind: (title, lines, inputs, inputs to ask about, note).
# ----------------------------------------------------------------------
_Built = tuple[str, list[tuple[str, str]], dict[str, float], tuple[str, ...], str]


def _chain(rng: random.Random, difficulty: int, seed: int) -> _Built:
    w, x = _number(rng, difficulty, 3), float(_integer(rng, 3))
    if difficulty == 1:
        return 'A chain', [('u', 'w * x'), ('L', 'u ** 2')], {'w': w, 'x': x}, ('w', 'x'), ''
    b = float(_integer(rng, 4))
    lines = [('u', 'w * x'), ('v', 'u + b'), ('L', 'v ** 2')]
    inputs = {'w': w, 'x': x, 'b': b}
    if difficulty == 3:
        lines = [('u', 'w * x'), ('v', 'u - b'), ('s', 'v ** 2'), ('L', 'c * s')]
        inputs['c'] = float(rng.choice([2, 3, -2]))
    return 'A chain', lines, inputs, tuple(inputs), ''


def _fanout(rng: random.Random, difficulty: int, seed: int) -> _Built:
    x, y = float(_integer(rng, 3)), _number(rng, difficulty, 3)
    lines = {1: [('u', 'x * y'), ('f', 'u + x')],
             2: [('u', 'x * y'), ('v', 'x + y'), ('f', 'u * v')],
             3: [('u', 'x * y'), ('v', 'u + x'), ('f', 'v * u')]}[difficulty]
    return 'A fan-out: a value used twice', lines, {'x': x, 'y': y}, ('x', 'y'), \
        'A value used more than once gets one share per use: add them up.'


def _notes_graph(rng: random.Random, difficulty: int, seed: int) -> _Built:
    if difficulty == 1 and seed == 0:
        x, y, z = 1.0, 3.0, -3.0  # the notes' own numbers
    else:
        size = 4 if difficulty == 1 else 9
        x, y, z = (_number(rng, difficulty, size) for _ in range(3))
    return ("The lecture notes' graph", [('p', 'x + y'), ('g', 'p * z')], {'x': x, 'y': y, 'z': z},
            ('x', 'y', 'z'), '')


def _tanh_neuron(rng: random.Random, difficulty: int, seed: int) -> _Built:
    n = rng.choice([-1.0, -0.5, 0.5, 1.0])  # tanh(±0.5) = ±0.4621, tanh(±1) = ±0.7616
    if difficulty == 1:
        w, x = float(_integer(rng, 3)), float(_integer(rng, 3))
        lines = [('u', 'w * x'), ('n', 'u + b'), ('o', 'tanh(n)')]
        return 'A tanh neuron', lines, {'w': w, 'x': x, 'b': n - w * x}, ('w', 'b'), \
            'The local derivative of tanh is 1 − o², written with its output o.'
    w1, w2, x1, x2 = (float(_integer(rng, 3)) for _ in range(4))
    lines = [('u1', 'w1 * x1'), ('u2', 'w2 * x2'), ('s', 'u1 + u2'), ('n', 's + b'), ('o', 'tanh(n)')]
    inputs = {'x1': x1, 'w1': w1, 'x2': x2, 'w2': w2, 'b': n - w1 * x1 - w2 * x2}
    if difficulty == 3:
        lines += [('e', 'o - y'), ('L', 'e ** 2')]
        inputs['y'] = float(rng.choice([-1, 1]))
    return 'A tanh neuron', lines, inputs, ('w1', 'w2', 'b'), \
        'The local derivative of tanh is 1 − o², written with its output o.'


def _logistic_regression(rng: random.Random, difficulty: int, seed: int) -> _Built:
    z = 0.0 if difficulty == 1 else float(rng.choice([-2, -1, 1, 2]))  # sigmoid(0) = 0.5
    y = float(rng.choice([0, 1]))
    loss = [('a', 'sigmoid(z)'), ('L', '-(y * log(a) + (1 - y) * log(1 - a))')]
    note = 'Cross-entropy loss of a sigmoid: the notes\' dz = a − y, dw = x·dz, db = dz.'
    if difficulty < 3:
        w, x = float(_integer(rng, 3)), float(_integer(rng, 2))
        lines = [('u', 'w * x'), ('z', 'u + b')] + loss
        return 'Logistic regression', lines, {'x': x, 'w': w, 'b': z - w * x, 'y': y}, ('w', 'b'), note
    w1, w2, x1, x2 = (float(_integer(rng, 2)) for _ in range(4))
    lines = [('u1', 'w1 * x1'), ('u2', 'w2 * x2'), ('s', 'u1 + u2'), ('z', 's + b')] + loss
    inputs = {'x1': x1, 'w1': w1, 'x2': x2, 'w2': w2, 'b': z - w1 * x1 - w2 * x2, 'y': y}
    return 'Logistic regression', lines, inputs, ('w1', 'w2', 'b'), note


def _mse_linear(rng: random.Random, difficulty: int, seed: int) -> _Built:
    w, b = _number(rng, difficulty, 3), float(_integer(rng, 3))
    if difficulty == 1:
        lines = [('u', 'w * x'), ('yhat', 'u + b'), ('e', 'yhat - y'), ('L', 'e ** 2')]
        inputs = {'x': float(_integer(rng, 3)), 'w': w, 'b': b, 'y': float(_integer(rng, 5))}
        return 'Squared error of a linear model', lines, inputs, ('w', 'b'), ''
    if difficulty == 2:
        lines = [('u1', 'w1 * x1'), ('u2', 'w2 * x2'), ('s', 'u1 + u2'), ('yhat', 's + b'),
                 ('e', 'yhat - y'), ('L', 'e ** 2')]
        inputs = {'x1': float(_integer(rng, 3)), 'w1': w, 'x2': float(_integer(rng, 3)),
                  'w2': float(_integer(rng, 3)), 'b': b, 'y': float(_integer(rng, 5))}
        return 'Squared error of a linear model', lines, inputs, ('w1', 'w2', 'b'), ''
    lines = [('u1', 'w * x1'), ('yhat1', 'u1 + b'), ('e1', 'yhat1 - y1'), ('u2', 'w * x2'),
             ('yhat2', 'u2 + b'), ('e2', 'yhat2 - y2'), ('s1', 'e1 ** 2'), ('s2', 'e2 ** 2'),
             ('t', 's1 + s2'), ('L', 't / 2')]
    inputs = {'w': w, 'b': b, 'x1': float(_integer(rng, 2)), 'y1': float(_integer(rng, 4)),
              'x2': float(_integer(rng, 2)), 'y2': float(_integer(rng, 4))}
    return 'Mean squared error over two examples', lines, inputs, ('w', 'b'), \
        'w and b are used by both examples: add their two shares.'


def _two_layer(rng: random.Random, difficulty: int, seed: int) -> _Built:
    x = float(rng.choice([1, 2]))
    if difficulty == 1:
        w1 = float(rng.choice([1, 2, 3]))
        lines = [('a', 'w1 * x'), ('k', 'a + b1'), ('h', 'relu(k)'), ('m', 'w2 * h'), ('o', 'm + b2'),
                 ('e', 'o - y'), ('L', 'e ** 2')]
        inputs = {'x': x, 'w1': w1, 'b1': float(rng.choice([-1, 1, 2])), 'w2': float(_integer(rng, 2)),
                  'b2': float(_integer(rng, 2)), 'y': float(_integer(rng, 3))}
        return 'A two-layer network (one ReLU unit)', lines, inputs, ('w1', 'b1', 'w2', 'b2'), ''
    lines = [('a1', 'w1 * x'), ('k1', 'a1 + b1'), ('h1', 'relu(k1)'), ('a2', 'w2 * x'), ('k2', 'a2 + b2'),
             ('h2', 'relu(k2)'), ('m1', 'u1 * h1'), ('m2', 'u2 * h2'), ('s', 'm1 + m2'), ('o', 's + c'),
             ('e', 'o - y'), ('L', 'e ** 2')]
    weights = {name: _number(rng, difficulty, 2) for name in ('w1', 'b1', 'w2', 'b2', 'u1', 'u2', 'c')}
    if difficulty == 2:  # both units active: positive pre-activations
        weights.update({name: abs(weights[name]) for name in ('w1', 'b1', 'w2', 'b2')})
    inputs = {'x': x, **weights, 'y': float(_integer(rng, 3))}
    return 'A two-layer network (two ReLU units)', lines, inputs, tuple(weights), \
        'x feeds both hidden units; a ReLU passes the gradient only where its input is positive.'


_BUILDERS: dict[str, Callable[[random.Random, int, int], _Built]] = {
    'chain': _chain, 'fanout': _fanout, 'notes_graph': _notes_graph, 'tanh_neuron': _tanh_neuron,
    'logistic_regression': _logistic_regression, 'mse_linear': _mse_linear, 'two_layer': _two_layer,
}
