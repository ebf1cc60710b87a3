"""The "find the bug" lab: backward passes with one seeded bug each, built from the real engine's parts.

Each buggy engine is the engine's own chain-rule walker,
:func:`autodiff.chain_rule.backpropagate`, with one thing altered, never a
copy of the engine:

* ``overwrite``: the walker's *combine* stores a share with ``=`` instead of
  adding it with ``+=``, so a value used twice keeps only its last share;
* ``subtraction_sign``: a copy of the rule table whose ``'-'`` row gives the
  second input +1 instead of −1;
* ``exp_uses_input``: a copy of the rule table whose ``'exp'`` row returns the
  input ``x`` where the output ``exp(x)`` belongs;
* ``recursive_sort``: the graph is ordered by a recursive depth-first search
  (micrograd's ``build_topo``), which overflows Python's stack on deep graphs.

The learner finds which engine has which bug with `gradcheck` (through
:meth:`BuggyEngine.function`), `detect_anomaly` (the engines honour it) and the
checker (:meth:`BuggyEngine.gradients` gives answers to `autodiff.practice.check`),
then names them; :meth:`Lab.check` grades the names.

>>> from autodiff import Value
>>> engine = BuggyEngine('overwrite')
>>> a = Value(3.0, label='a')
>>> f = a * a                          # a is used twice: ∂f/∂a = 3 + 3
>>> engine.backward(f)
>>> a.grad                             # only the last share survived
3.0
"""

from __future__ import annotations

import html
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from autodiff.chain_rule import backpropagate, checked
from autodiff.graph import topological_order
from autodiff.modes import is_anomaly_enabled
from autodiff.rule_math import FLOAT_MATH
from autodiff.rules import RULES, Rule
from autodiff.value import Value


@dataclass(frozen=True)
class Bug:
    """One seeded bug: its key, a title and where in a real engine it would sit."""

    key: str
    title: str
    where: str


BUGS: dict[str, Bug] = {bug.key: bug for bug in (
    Bug('overwrite', "'=' instead of '+='",
        "the backward step stores each share into the input's grad instead of adding it"),
    Bug('subtraction_sign', 'the subtraction sign',
        "the rule for a - b gives b the local derivative +1 instead of -1"),
    Bug('exp_uses_input', 'exp using its input',
        "the rule for exp(x) returns x where exp(x) belongs"),
    Bug('recursive_sort', 'a recursive topological sort',
        "the graph is ordered by a recursive depth-first search, which overflows on deep graphs"),
)}

#: The letters the lab's engines go by.
ENGINE_NAMES = ('A', 'B', 'C', 'D')


def altered_rules(bug: str) -> dict[str, Rule]:
    """A copy of the real rule table with the one row ``bug`` alters replaced (the same table otherwise).

    >>> from autodiff.rule_math import FLOAT_MATH
    >>> altered_rules('subtraction_sign')['-'].partials(FLOAT_MATH, 1.0, 3.0, 2.0)
    (1.0, 1.0)
    >>> altered_rules('overwrite') == RULES
    True
    """
    _known(bug)
    rules = dict(RULES)
    if bug == 'subtraction_sign':
        rules['-'] = Rule('-', RULES['-'].forward, lambda m, out, a, b: (1.0, 1.0))
    elif bug == 'exp_uses_input':
        rules['exp'] = Rule('exp', RULES['exp'].forward, lambda m, out, x: (x,))
    return rules


def recursive_order(root: Value) -> list[Value]:
    """micrograd's ``build_topo``: correct, but one Python call per level, so deep graphs overflow the stack.

    >>> x = Value(1.0)
    >>> len(recursive_order(x * 2 + 1))
    5
    """
    order: list[Value] = []
    seen: set[Value] = set()

    def visit(node: Value) -> None:
        if node not in seen:
            seen.add(node)
            for child in node._prev:
                visit(child)
            order.append(node)

    visit(root)
    return order


class BuggyEngine:
    """A backward pass with one seeded bug (a key of `BUGS`), run by the real engine's walker.

    >>> from autodiff import Value
    >>> x, y = Value(5.0, label='x'), Value(2.0, label='y')
    >>> d = x - y
    >>> BuggyEngine('subtraction_sign').backward(d)
    >>> x.grad, y.grad                     # y should get -1
    (1.0, 1.0)
    """

    def __init__(self, bug: str) -> None:
        self._bug = _known(bug)
        self._rules = altered_rules(bug)

    def __repr__(self) -> str:
        return 'BuggyEngine(...)'  # the bug is for the learner to find

    def backward(self, root: Value, gradient: float = 1.0) -> None:
        """Fill in ``.grad`` below ``root`` as `Value.backward` does, bug included."""
        if not isinstance(root, Value):
            raise TypeError(f"backward needs a Value, got {type(root).__name__}")
        order = recursive_order(root) if self._bug == 'recursive_sort' else topological_order(root)
        for node in order:
            if node._prev:
                node.grad = 0.0
        root.grad = gradient if root._prev else root.grad + gradient
        store = checked(self._store) if is_anomaly_enabled() else self._store
        backpropagate(order, lambda node, position, parent, local, real_share:
                      store(node, position, parent, local, self._share(node, position)))

    def _share(self, node: Any, position: int) -> float:
        # The walker hands over the real share; this engine recomputes it from its own rule table.
        rule = self._rules[node._op]
        return node.grad * rule.partials(FLOAT_MATH, node.data, *[v.data for v in node._prev])[position]

    def _store(self, node: Any, position: int, parent: Any, local: Any, share: float) -> None:
        if self._bug == 'overwrite':
            parent.grad = share       # the bug: '=' where '+=' belongs
        else:
            parent.grad += share

    def gradients(self, root: Value) -> dict[Value, float]:
        """Run this engine's backward; every node's gradient, as answers for `autodiff.practice.check`."""
        self.backward(root)
        return {node: node.grad for node in topological_order(root)}

    def function(self, f: Callable[..., Value]) -> Callable[..., Value]:
        """``f`` with this engine's backward inside, for `autodiff.gradcheck` and `autodiff.grad`.

        The result is one micrograd-style node (``Value(data, inputs, op)`` with its
        own ``_backward``): its value is ``f``'s, its gradients come from this engine.

        >>> from autodiff import grad
        >>> grad(BuggyEngine('exp_uses_input').function(lambda x: x.exp()))(2.0)   # should be e² = 7.389…
        2.0
        """
        def through_this_engine(*args: Any) -> Value:
            outer = [a if isinstance(a, Value) else Value(a) for a in args]
            inner = [Value(a.data) for a in outer]
            result = f(*inner)
            node = Value(result.data, tuple(outer), 'buggy engine')

            def backward_step() -> None:
                self.backward(result, node.grad)
                for a, copy in zip(outer, inner):
                    a.grad += copy.grad

            # micrograd's idiom, which the engine honours: a node's own backward step
            # replaces the method (mypy forbids assigning over a method).
            node._backward = backward_step  # type: ignore[method-assign]
            return node
        through_this_engine.__name__ = getattr(f, '__name__', 'f')
        return through_this_engine


def _known(bug: str) -> str:
    if bug not in BUGS:
        raise ValueError(f"unknown bug {bug!r}; the bugs are: {', '.join(BUGS)}")
    return bug


#: What to try when an engine was named wrongly, by its real bug (the tool, not the answer).
HINTS = {
    'overwrite': "compare it with the checker on a graph that uses one value twice (a * a + a)",
    'subtraction_sign': "gradcheck a function with a subtraction in it (x - y), and look at the sign",
    'exp_uses_input': "gradcheck exp at two points, or let the checker judge its gradients on x.exp()",
    'recursive_sort': "its numbers may all be right: try a graph thousands of nodes deep",
}


@dataclass(frozen=True)
class LabResult:
    """The grade of a lab: per engine ``'right'``, ``'wrong'`` or ``'not answered'``; text and HTML."""

    verdicts: dict[str, str]
    hints: dict[str, str]

    @property
    def all_right(self) -> bool:
        return all(v == 'right' for v in self.verdicts.values())

    @property
    def score(self) -> tuple[int, int]:
        """``(engines named rightly, engines)``."""
        return sum(v == 'right' for v in self.verdicts.values()), len(self.verdicts)

    def text(self) -> str:
        lines = [f"engine {name}: {verdict}" + self._hint(name)
                 for name, verdict in self.verdicts.items()]
        right, total = self.score
        if self.all_right:
            lines.append(f"All {total} bugs found.")
        elif 'not answered' in self.verdicts.values():
            lines.append(f"{right} of {total} named rightly so far; replace each None with a bug's key: "
                         f"{', '.join(BUGS)}.")
        else:
            lines.append(f"{right} of {total} named rightly.")
        return '\n'.join(lines)

    def _hint(self, name: str) -> str:
        return f" (try this: {self.hints[name]})" if name in self.hints else ''

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        return f"<pre style=\"white-space:pre-wrap\">{html.escape(self.text())}</pre>"


class Lab:
    """Four engines named A-D, one bug each in an order fixed by ``seed``; `check` grades the learner's names.

    >>> lab = Lab(seed=0)
    >>> sorted(lab.engines)
    ['A', 'B', 'C', 'D']
    >>> print(lab.check({'A': None, 'B': None, 'C': None, 'D': None}).text().splitlines()[0])
    engine A: not answered
    """

    def __init__(self, seed: int = 0) -> None:
        bugs = list(BUGS)
        random.Random(seed).shuffle(bugs)
        self._bugs = dict(zip(ENGINE_NAMES, bugs))
        self.engines = {name: BuggyEngine(bug) for name, bug in self._bugs.items()}

    def check(self, answers: Mapping[str, str | None]) -> LabResult:
        """Grade ``answers`` (engine letter → a key of `BUGS`, ``None``: not yet); hints for wrong ones."""
        if not isinstance(answers, Mapping):
            raise TypeError(f"answers must be a dict (engine letter → bug key), not {type(answers).__name__}")
        unknown = [name for name in answers if name not in self._bugs]
        if unknown:
            raise ValueError(f"no engine named {unknown[0]!r}; the engines are {', '.join(ENGINE_NAMES)}")
        verdicts, hints = {}, {}
        for name, bug in self._bugs.items():
            given = answers.get(name)
            if given is None:
                verdicts[name] = 'not answered'
                continue
            _known(given)
            verdicts[name] = 'right' if given == bug else 'wrong'
            if given != bug:
                hints[name] = HINTS[bug]
        return LabResult(verdicts, hints)
