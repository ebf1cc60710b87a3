"""Checking a learner's own backpropagation, node by node: what is right, where the error entered, and why.

`check(root, answers)` compares the learner's gradients ∂root/∂node with the
engine's, walking the nodes in backward order (the output first):

* an answer equal to the engine's gradient is **right**;
* the **first wrong** answer is where the error entered; `autodiff.practice.mistakes`
  names the likely slip (sign, missing path at a fan-out, product-rule factors
  swapped, input used where the output belongs, upstream forgotten, constant
  factor, wrong seed) and the advice says which step to redo;
* a wrong answer that is exactly what follows from the learner's own earlier
  wrong answer is **carried** ("follows from your earlier answer"), not a new mistake.

The true gradients and every share ``upstream × local`` come from the engine's
one chain-rule walker (:mod:`autodiff.practice.shares`); the names (labels, else
``v1, v2, …``) and the local derivatives' formulas come from the explainer, so
the feedback reads like :func:`autodiff.explain`.  Right answers the learner
did not give are never shown unless ``reveal=True``.

>>> from autodiff import Value
>>> x, y, z = Value(1.0, label='x'), Value(3.0, label='y'), Value(-3.0, label='z')
>>> p = x + y; p.label = 'p'
>>> g = p * z; g.label = 'g'
>>> result = check(g, {'p': 4, 'z': 4, 'x': 4})        # p and z swapped: the notes' own slip
>>> result.first_wrong.name, result.first_wrong.mistake
('p', 'swapped_factors')
>>> result['z'].status, result['x'].status
('right', 'carried')
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from autodiff import draw_graph, explain
from autodiff.practice.answers import AnswerError, format_number, parse_answer
from autodiff.practice.mistakes import MISTAKES, advice, diagnose
from autodiff.practice.shares import Share, trace_shares
from autodiff.value import Value

RIGHT, WRONG, CARRIED, MISSING = 'right', 'wrong', 'carried', 'missing'
#: Outline colours of the HTML picture: right green, first wrong red, carried orange.
COLOURS = {RIGHT: '#2ca02c', WRONG: '#d62728', CARRIED: '#ff7f0e'}
_MARKS = {RIGHT: '✓', WRONG: '✗', CARRIED: '~', MISSING: '·'}


@dataclass(frozen=True)
class NodeResult:
    """The verdict on one node: ``status`` is ``'right'``, ``'wrong'``, ``'carried'`` or ``'missing'``.

    ``mistake`` is a key of `MISTAKES` (``None`` when no usual slip matches or the
    answer is not wrong); ``hint`` the advice; ``step`` the chain-rule step to
    redo, its result hidden unless revealed; ``follows_from`` the earlier wrong
    answers a carried one follows from; ``answer`` the right value, only when revealed.
    """

    name: str
    status: str
    given: float | None = None
    mistake: str | None = None
    hint: str = ''
    step: str = ''
    follows_from: tuple[str, ...] = ()
    answer: float | None = None
    first: bool = False
    node: Value | None = field(default=None, repr=False, compare=False)

    @property
    def mistake_title(self) -> str:
        """The mistake in words (``'sign error'``), or ``''``."""
        return MISTAKES[self.mistake].title if self.mistake else ''


@dataclass
class CheckResult:
    """What `check` returns: one `NodeResult` per node in backward order, plus text and HTML views.

    >>> from autodiff import Value
    >>> a = Value(2.0, label='a')
    >>> f = a * a; f.label = 'f'
    >>> r = check(f, {'a': 2})                       # one use of a forgotten: 2 instead of 2 + 2
    >>> r.first_wrong.mistake, r.all_right, r.score
    ('missing_path', False, (0, 1))
    """

    root: str
    nodes: list[NodeResult]
    reveal: bool = False
    graph: Value | None = field(default=None, repr=False)

    def __getitem__(self, name: str) -> NodeResult:
        for result in self.nodes:
            if result.name == name:
                return result
        raise KeyError(f"no node named {name!r}; names: {', '.join(r.name for r in self.nodes)}")

    @property
    def first_wrong(self) -> NodeResult | None:
        """The first wrong answer in backward order: where the error entered (``None`` if there is none)."""
        return next((r for r in self.nodes if r.first), None)

    @property
    def answered(self) -> list[NodeResult]:
        return [r for r in self.nodes if r.status != MISSING]

    @property
    def all_right(self) -> bool:
        """True when at least one answer was given and every answer given is right."""
        return bool(self.answered) and all(r.status == RIGHT for r in self.answered)

    @property
    def score(self) -> tuple[int, int]:
        """``(right answers, answers given)``."""
        return sum(r.status == RIGHT for r in self.nodes), len(self.answered)

    def text(self) -> str:
        """The feedback in plain words, one line per node, the first wrong one with its advice and step."""
        counts = {status: sum(r.status == status for r in self.nodes) for status in _MARKS}
        summary = [f"{counts[RIGHT]} right", f"{counts[WRONG]} wrong"]
        if counts[CARRIED]:
            verb = 'follows' if counts[CARRIED] == 1 else 'follow'
            summary.append(f"{counts[CARRIED]} {verb} from an earlier answer")
        if counts[MISSING]:
            summary.append(f"{counts[MISSING]} not answered")
        lines = [f"∂{self.root}/∂node, in backward order: {', '.join(summary)}."]
        lines += [_node_line(result, self.reveal) for result in self.nodes]
        if self.all_right and not counts[MISSING]:
            lines.append("All right: every gradient checks out.")
        elif self.all_right:
            lines.append("Every answer you gave is right.")
        return '\n'.join(lines)

    def __str__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        picture = ''
        if self.graph is not None:
            picture = _picture(self)
        return (f"<div>{picture}<pre style=\"white-space:pre-wrap\">{html.escape(self.text())}</pre></div>")


def check(root: Value, answers: Mapping[Any, str | float | None], reveal: bool = False, *,
          expected: Iterable[str] | None = None, tolerance: float = 0.01, seed: float = 1.0) -> CheckResult:
    """Check the learner's gradients ∂root/∂node (``answers``: name or node → number or expression text).

    Args:
        root: the output whose gradients were computed by hand.
        answers: keyed by label or the explainer's names ``v1, v2, …`` (or by the
            node); values are numbers or text such as ``"1-0.76**2"`` (``None``: not answered).
        reveal: show the right value of every node, given or not.
        expected: the names the learner was asked for (others are not listed as
            missing); by default every node but the output.
        tolerance: relative difference accepted (hand-rounded numbers), with an
            absolute floor of ``tolerance / 10``.
        seed: ∂root/∂root, as in ``backward``.

    >>> from autodiff import Value
    >>> x, w = Value(2.0, label='x'), Value(3.0, label='w')
    >>> u = w * x; u.label = 'u'
    >>> f = u.exp(); f.label = 'f'
    >>> r = check(f, {'u': 'exp(6)', 'x': 3})   # ∂u/∂x = w alone, not times ∂f/∂u
    >>> r['x'].mistake
    'upstream_forgotten'
    >>> print(r['x'].step)
    Redo: ∂f/∂x = ∂f/∂u · ∂u/∂x = 403.4 · w = 403.4 · 3 = …
    """
    explanation = explain(root, gradient=seed)
    names: dict[Value, str] = explanation.names
    given = _read_answers(answers, names)
    trace = trace_shares(root, seed)
    into: dict[Value, list[Share]] = {}
    for share in trace.shares:
        into.setdefault(share.input, []).append(share)
    formulas = {(s.output_node, s.position): s.local_formula for s in explanation.steps}
    asked = set(expected) if expected is not None else {n for v, n in names.items() if v is not root}
    walk = _Walk(root, names, given, into, formulas, seed, tolerance, reveal, trace.gradients)
    results = [walk.judge(node) for node in reversed(trace.order) if node in names]
    results = [r for r in results if r.status != MISSING or r.name in asked]
    return CheckResult(names[root], results, reveal, root)


def _read_answers(answers: Mapping[Any, str | float | None],
                  names: dict[Value, str]) -> dict[Value, float]:
    """The answers as numbers by node; a clear one-line `AnswerError` for an unknown name or bad text."""
    if not isinstance(answers, Mapping):
        raise AnswerError(f"answers must be a dict of name → number, got {type(answers).__name__}")
    by_name = {name: node for node, name in names.items()}
    numbers: dict[Value, float] = {}
    for key, text in answers.items():
        node = key if isinstance(key, Value) else by_name.get(str(key).strip())
        if node is None or node not in names:
            raise AnswerError(f"no node named {key!r} in this graph; its names are: {', '.join(by_name)}")
        if text is None:
            continue
        try:
            numbers[node] = parse_answer(text)
        except AnswerError as error:
            raise AnswerError(f"the answer for {names[node]}: {error}") from None
    return numbers


class _Walk:
    """The verdicts, node by node in backward order, with the learner's working gradients so far."""

    def __init__(self, root, names, given, into, formulas, seed, tolerance, reveal, truth):
        self.root, self.names, self.given, self.into, self.formulas = root, names, given, into, formulas
        self.seed, self.tolerance, self.reveal, self.truth = seed, tolerance, reveal, truth
        self.working: dict[Value, float] = {}           # the learner's ∂root/∂node: given, or what follows
        self.origins: dict[Value, tuple[str, ...]] = {}  # the wrong answers a node's working value inherits
        self.first_seen = False

    def close(self, a: float, b: float) -> bool:
        return abs(a - b) <= max(self.tolerance / 10, self.tolerance * max(abs(a), abs(b)))

    def judge(self, node: Value) -> NodeResult:
        name = self.names[node]
        shares = self.into.get(node, [])
        is_root = node is self.root
        truth = self.seed if is_root else self.truth.get(node, 0.0)
        follows = self.seed if is_root else sum(self.working[s.output] * s.local for s in shares)
        inherited = tuple(dict.fromkeys(o for s in shares for o in self.origins[s.output]))
        answer = truth if self.reveal else None
        if node not in self.given:
            self.working[node] = follows
            self.origins[node] = () if self.close(follows, truth) else inherited
            return NodeResult(name, MISSING, answer=answer, node=node)
        value = self.working[node] = self.given[node]
        if self.close(value, truth):
            self.origins[node] = ()
            return NodeResult(name, RIGHT, value, answer=answer, node=node)
        if inherited and self.close(value, follows):
            self.origins[node] = inherited
            hint = (f"follows from your earlier answer for {' and '.join(inherited)}: "
                    "correct that and this one follows")
            return NodeResult(name, CARRIED, value, hint=hint, follows_from=inherited, answer=answer,
                              node=node)
        self.origins[node] = (name,)
        return self.wrong(node, name, value, shares, answer)

    def wrong(self, node: Value, name: str, value: float, shares: list[Share],
              answer: float | None) -> NodeResult:
        root_name = self.names[self.root]
        diagnosis = diagnose(value, shares, self.working, is_root=node is self.root, seed=self.seed,
                             root_value=self.root.data, seed_given=self.root in self.given, close=self.close)
        if diagnosis is None:
            hint = ("Not one of the usual slips: redo this step, upstream gradient × local derivative"
                    + (", one share per use, added up." if len(shares) > 1 else "."))
        else:
            hint = advice(diagnosis, name, self.names, root_name, len(shares), self.formulas)
        first = not self.first_seen
        self.first_seen = True
        return NodeResult(name, WRONG, value, diagnosis.kind if diagnosis else None, hint,
                          self.step_text(node, name, shares), answer=answer, first=first, node=node)

    def step_text(self, node: Value, name: str, shares: list[Share]) -> str:
        """The step(s) giving ``node``'s gradient; upstreams the learner has not got right stay names."""
        root_name = self.names[self.root]
        result = format_number(self.truth.get(node, self.seed)) if self.reveal else '…'
        if node is self.root:
            return f"Redo: start the backward pass from ∂{root_name}/∂{root_name} = {_factor(self.seed)}"
        lines = []
        for share in shares:
            output = self.names[share.output]
            known = self.reveal or share.output is self.root or (
                share.output in self.given and self.close(self.given[share.output], self.truth[share.output]))
            upstream = _factor(share.upstream) if known else f"∂{root_name}/∂{output}"
            formula = self.formulas.get((share.output, share.position))
            local = _factor(share.local)
            product = f"{upstream} · {local}"
            if formula and formula != format_number(share.local):
                product = f"{upstream} · {f'({formula})' if ' ' in formula else formula} = {product}"
            sign = '+=' if len(shares) > 1 else '='
            end = '' if len(shares) > 1 else f" = {result}"
            chain = f"∂{root_name}/∂{output} · ∂{output}/∂{name}"
            lines.append(f"∂{root_name}/∂{name} {sign} {chain} = {product}{end}")
        if len(shares) > 1:
            lines.append(f"∂{root_name}/∂{name} = the sum of these {len(shares)} shares = {result}")
        return 'Redo: ' + '\n      '.join(lines)


def _factor(x: float) -> str:
    text = format_number(x)
    return f"({text})" if text.startswith('-') else text


def _node_line(result: NodeResult, reveal: bool) -> str:
    given = '' if result.given is None else f" = {format_number(result.given)}"
    line = f"  {_MARKS[result.status]} {result.name}{given}"
    if result.status == WRONG:
        where = 'the first wrong answer' if result.first else 'also wrong'
        kind = f": {result.mistake_title}" if result.mistake else ''
        line += f"   ← {where}{kind}"
    elif result.status == CARRIED:
        line += f"   {result.hint}"
    elif result.status == MISSING:
        line += "   not answered"
    if reveal and result.status != RIGHT and result.answer is not None:
        line += f"   (right: {format_number(result.answer)})"
    if result.status == WRONG and result.first:
        line += f"\n      {result.hint}\n      {result.step}"
    return line


def _picture(result: CheckResult) -> str:
    """The graph as SVG: right nodes outlined green, the first wrong one red, carried ones orange."""
    highlight: dict[Value, str] = {}
    grads: dict[Value, float] = {}
    for r in result.nodes:
        if r.node is None:
            continue
        if r.status in (RIGHT, CARRIED) or (r.status == WRONG and r.first):
            highlight[r.node] = COLOURS[r.status]
        shown = r.answer if result.reveal and r.answer is not None else r.given
        if shown is not None:
            grads[r.node] = shown
    if result.graph is None:
        return ''
    try:
        return draw_graph(result.graph, grads=grads, highlight=highlight, color_by=None, legend=False).svg()
    except (ImportError, RuntimeError, OSError):  # no Graphviz here: the text alone says it all
        return ''
