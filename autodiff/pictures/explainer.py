"""The chain rule, written out: forward values, then every backward step as the notes write it.

``explain(root)`` runs the engine's one chain-rule walker
(:func:`autodiff.chain_rule.backpropagate`) with a combine that records
each step, and leaves every ``.grad`` as it was (so it works before or
after ``backward``)::

    ∂g/∂p = ∂g/∂g · ∂g/∂p = 1 · z = 1 · (-3) = -3

that is: the gradient arriving at an operation's output (*upstream*), times
the operation's *local derivative* with respect to one input, gives that
input's share.  A node used more than once adds up one share per use; the
steps say so (``+=``, "use 1 of 2") and give the running total.

Every local derivative comes from the engine's rule table
(:data:`autodiff.rules.RULES`): numerically by calling the rule with
floats, symbolically by calling the same rule with :class:`~autodiff.symbolic.Symbol`
inputs named after the nodes.  No derivative is written in this module.

Naming: a node is called by its label.  Unlabelled nodes get ``v1, v2, ...``
in topological order (inputs first), skipping names already used by
labels; a label used by two nodes gets ``_2``, ``_3`` ... on its later
uses.  Constants of an operation (the 3 of ``x ** 3``) are written as numbers.

>>> from autodiff import Value
>>> x, y, z = Value(1.0, label='x'), Value(3.0, label='y'), Value(-3.0, label='z')
>>> p = x + y; p.label = 'p'
>>> g = p * z; g.label = 'g'
>>> e = explain(g)
>>> print(e.steps[1].text())
∂g/∂z = ∂g/∂g · ∂g/∂z = 1 · p = 1 · 4 = 4
>>> e.gradients
{'x': -3.0, 'y': -3.0, 'z': 4.0}
"""

from __future__ import annotations

import ast
import html
from collections.abc import Iterator
from dataclasses import dataclass, field

from autodiff.chain_rule import backpropagate
from autodiff.graph import topological_order
from autodiff.rules import RULES, Rule
from autodiff.symbolic import SYMBOLIC_MATH, Symbol, number_text
from autodiff.value import Value

_INFIX = {'+': '+', '-': '-', '*': '*', '/': '/', '**': '**', 'pow': '**', 'rpow': '**'}


@dataclass(frozen=True)
class ForwardStep:
    """One value of the forward pass: ``p = x + y = 1 + 3 = 4`` (a leaf: ``x = 1``).

    >>> from autodiff import Value
    >>> explain(Value(2.0, label='a').exp()).forward[1].text()
    'v1 = exp(a) = exp(2) = 7.389'
    """

    name: str
    value: float
    op: str = ''                     # '' for a leaf
    formula: str = ''                # 'x + y', written with names
    substituted: str = ''            # '1 + 3', written with numbers
    node: Value | None = field(default=None, repr=False, compare=False)
    digits: int = field(default=4, repr=False, compare=False)

    def text(self) -> str:
        """The step as one line."""
        value = _num(self.value, self.digits)
        if not self.op:
            return f"{self.name} = {value}"
        return f"{self.name} = {self.formula} = {self.substituted} = {value}"


@dataclass(frozen=True)
class BackwardStep:
    """One use of the chain rule: ``input`` gets ``upstream · local`` from ``output``.

    * ``upstream``: ∂root/∂output, complete when the step runs;
    * ``local``: ∂output/∂input from the rule table, ``local_formula`` its
      formula in the nodes' names (``None`` if the rule cannot be written
      symbolically);
    * ``contribution = upstream * local``; ``total``: the input's gradient
      after adding it; ``use`` / ``uses``: which of the input's uses this is.

    >>> from autodiff import Value
    >>> x = Value(3.0, label='x')
    >>> [first, second] = explain(x * x).steps
    >>> second.text()
    '∂v1/∂x += ∂v1/∂v1 · ∂v1/∂x = 1 · x = 1 · 3 = 3   (use 2 of 2 of x: ∂v1/∂x = 3 + 3 = 6)'
    """

    index: int
    root: str
    output: str
    input: str
    position: int
    upstream: float
    local_formula: str | None
    local: float
    contribution: float
    total: float
    use: int
    uses: int
    shares: tuple[float, ...] = ()   # this input's contributions so far, this one included
    output_node: Value | None = field(default=None, repr=False, compare=False)
    input_node: Value | None = field(default=None, repr=False, compare=False)
    digits: int = field(default=4, repr=False, compare=False)

    @property
    def accumulates(self) -> bool:
        """True when the input is used more than once, so its gradient is a sum."""
        return self.uses > 1

    @property
    def gradient(self) -> str:
        """The quantity being computed, e.g. ``∂g/∂x``."""
        return f"∂{self.root}/∂{self.input}"

    @property
    def upstream_name(self) -> str:
        return f"∂{self.root}/∂{self.output}"

    @property
    def local_name(self) -> str:
        return f"∂{self.output}/∂{self.input}"

    def text(self) -> str:
        """The step as the notes write it, plus the running sum for a node used twice."""
        n = self.digits
        local_value = _num(self.local, n, wrap=True)
        product = f"{_num(self.upstream, n, wrap=True)} · "
        formula = self.local_formula
        if formula is not None and _needs_brackets(formula):
            formula = f"({formula})"  # 1 · (1 - v * v), not 1 · 1 - v * v
        if formula is None or formula == _num(self.local, n):
            middle = f"{product}{local_value}"
        else:
            middle = f"{product}{formula} = {product}{local_value}"
        equals = '+=' if self.accumulates else '='
        line = (f"{self.gradient} {equals} {self.upstream_name} · {self.local_name} = {middle} = "
                f"{_num(self.contribution, n)}")
        if not self.accumulates:
            return line
        so_far = ' + '.join(_num(s, n, wrap=True) for s in self.shares)
        total = f"{so_far} = {_num(self.total, n)}" if len(self.shares) > 1 else _num(self.total, n)
        return f"{line}   (use {self.use} of {self.uses} of {self.input}: {self.gradient} = {total})"


class Explanation:
    """What `explain` returns: ``forward`` and ``steps`` (lists of dataclasses),
    ``gradients`` (each leaf's ∂root/∂leaf by name), and three ways to show
    them: ``text()`` (also ``str()``), ``_repr_html_()`` for Jupyter, and the
    lists themselves for programs.

    >>> from autodiff import Value
    >>> e = explain(Value(2.0, label='a') * 3)
    >>> e.root, e.seed, [s.gradient for s in e.steps]
    ('v2', 1.0, ['∂v2/∂a', '∂v2/∂v1'])
    """

    def __init__(self, root: str, seed: float, forward: list[ForwardStep], steps: list[BackwardStep],
                 names: dict[Value, str], gradients: dict[str, float], digits: int):
        self.root = root
        self.seed = seed
        self.forward = forward
        self.steps = steps
        self.names = names
        self.gradients = gradients
        self.digits = digits

    def __iter__(self) -> Iterator[BackwardStep]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def gradient_of(self, node: Value | str) -> float:
        """∂root/∂node, for a node or its name (0.0 for a node the root does not reach)."""
        name = node if isinstance(node, str) else self.names.get(node)
        for step in reversed(self.steps):
            if step.input == name:
                return step.total
        return self.seed if name == self.root else 0.0

    def table(self) -> str:
        """The backward steps as a terminal table."""
        n = self.digits
        header = ('#', 'gradient', 'upstream', 'local derivative', 'product', 'total')
        rows = [header, ('0', f"∂{self.root}/∂{self.root}", '(seed)', '', _num(self.seed, n),
                         _num(self.seed, n))]
        for step in self.steps:
            local = step.local_name + ' = ' + (
                f"{step.local_formula} = {_num(step.local, n)}"
                if step.local_formula not in (None, _num(step.local, n)) else _num(step.local, n))
            rows.append((str(step.index), step.gradient + (' +=' if step.accumulates else ''),
                         f"{step.upstream_name} = {_num(step.upstream, n)}", local,
                         _num(step.contribution, n), _num(step.total, n)))
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        return '\n'.join('  ' + '  '.join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                         for row in rows)

    def text(self, table: bool = True, equations: bool = True) -> str:
        """Forward values, the backward pass (a table and/or one equation per
        step, as the notes write them) and the gradient of every leaf."""
        out = ['Forward pass, in topological order:']
        out += ['  ' + step.text() for step in self.forward]
        generated = [name for node, name in self.names.items() if name != node.label]
        if generated:
            out.append(f"  ({', '.join(generated)}: names given to unlabelled values, in topological order)")
        out += ['', f"Backward pass: ∂{self.root}/∂{self.root} = {_num(self.seed, self.digits)}, then "
                "each step multiplies the upstream gradient by a local derivative (chain rule):"]
        if table:
            out.append(self.table())
        if equations:
            if table:
                out.append('')
            out += [f"  {step.index}. {step.text()}" for step in self.steps]
        if self.gradients:
            out += ['', 'Gradients:']
            out += [f"  ∂{self.root}/∂{name} = {_num(g, self.digits)}" for name, g in self.gradients.items()]
        return '\n'.join(out)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return f"<Explanation of {self.root}: {len(self.forward)} values, {len(self.steps)} backward steps>"

    def _repr_html_(self) -> str:
        n = self.digits
        esc = html.escape
        cell = 'style="padding:2px 10px;text-align:left;border-bottom:1px solid #ddd"'
        forward = ''.join(
            f"<tr><td {cell}><b>{esc(s.name)}</b></td><td {cell}>{esc(s.formula)}</td>"
            f"<td {cell}>{esc(s.substituted)}</td><td {cell}>{esc(_num(s.value, n))}</td></tr>"
            for s in self.forward)
        rows = [f"<tr><td {cell}>0</td><td {cell}>∂{esc(self.root)}/∂{esc(self.root)}</td>"
                f"<td {cell}>seed</td><td {cell}></td><td {cell}></td><td {cell}>{_num(self.seed, n)}</td>"
                f"<td {cell}>{_num(self.seed, n)}</td></tr>"]
        for s in self.steps:
            shade = ' style="background:#fff6d6"' if s.accumulates else ''
            note = (f"<br><small>use {s.use} of {s.uses}: "
                    f"{esc(' + '.join(_num(v, n, wrap=True) for v in s.shares))}</small>"
                    if s.accumulates else '')
            rows.append(
                f"<tr{shade}><td {cell}>{s.index}</td><td {cell}>{esc(s.gradient)}"
                f"{' +=' if s.accumulates else ''}</td>"
                f"<td {cell}>{esc(s.upstream_name)} = {esc(_num(s.upstream, n))}</td>"
                f"<td {cell}>{esc(s.local_name)} = <code>{esc(s.local_formula or '')}</code></td>"
                f"<td {cell}>{esc(_num(s.local, n))}</td><td {cell}>{esc(_num(s.contribution, n))}</td>"
                f"<td {cell}>{esc(_num(s.total, n))}{note}</td></tr>")
        head = ''.join(f"<th {cell}>{h}</th>" for h in
                       ('#', 'gradient', 'upstream', 'local derivative', 'local value', 'product', 'total'))
        grads = ', '.join(f"∂{esc(self.root)}/∂{esc(name)} = {esc(_num(g, n))}"
                          for name, g in self.gradients.items())
        return (f"<div><p><b>Forward pass</b> (topological order)</p><table>{forward}</table>"
                f"<p><b>Backward pass</b>: upstream gradient × local derivative (from the rule table)</p>"
                f"<table><tr>{head}</tr>{''.join(rows)}</table>"
                f"<p><b>Gradients:</b> {grads}</p></div>")


def explain(root: Value, gradient: float = 1.0, digits: int = 4) -> Explanation:
    """Forward values and every chain-rule step of the backward pass from ``root``.

    ``gradient`` seeds ∂root/∂root (as in ``backward``); ``digits`` is how
    many significant digits the text shows (the dataclasses keep full floats).
    Nothing in the graph is changed.

    >>> from autodiff import Value
    >>> a = Value(0.5, label='a')
    >>> e = explain(a.tanh())
    >>> e.steps[0].local_formula, round(e.steps[0].local, 4)
    ('1 - v1 * v1', 0.7864)
    """
    order = topological_order(root)
    constants = operation_constants(order)
    names = name_nodes(order, skip=constants)
    seed = float(gradient)

    forward = []
    for node in order:
        if node in constants:
            continue
        if not node._prev:
            forward.append(ForwardStep(names[node], node.data, node=node, digits=digits))
            continue
        args = [number_text(v.data) if v in constants else names[v] for v in node._prev]
        numbers = [_num(v.data, digits, wrap=True) for v in node._prev]
        forward.append(ForwardStep(names[node], node.data, node._op, _formula(node._op, args),
                                   _formula(node._op, numbers), node, digits))

    uses = {node: 0 for node in order}
    for node in order:
        for position, parent in enumerate(node._prev):
            if position not in _rule(node).constants:
                uses[parent] += 1
    steps, grads = _replay_backward(order, root, seed, names, uses, digits)
    leaves = {names[v]: grads[v] for v in order if not v._prev and v not in constants and v is not root}
    return Explanation(names[root], seed, forward, steps, names, leaves, digits)


def _replay_backward(order: list[Value], root: Value, seed: float, names: dict[Value, str],
                     uses: dict[Value, int], digits: int) -> tuple[list[BackwardStep], dict[Value, float]]:
    """The chain-rule walker, run on the side, with a combine that records each step.

    The walk needs ``.grad`` slots to hold the running gradients, so the
    graph's own are saved and restored around it: explaining changes nothing.
    """
    steps: list[BackwardStep] = []
    shares: dict[Value, list[float]] = {node: [] for node in order}
    formulas: dict[Value, list[str | None]] = {}

    def record(node: Value, position: int, parent: Value, local: float, contribution: float) -> None:
        parent.grad += contribution
        shares[parent].append(contribution)
        if node not in formulas:
            formulas[node] = _symbolic_partials(_rule(node), node, names)
        steps.append(BackwardStep(
            index=len(steps) + 1, root=names[root], output=names[node], input=names[parent],
            position=position, upstream=node.grad, local_formula=formulas[node][position],
            local=local, contribution=contribution, total=parent.grad,
            use=len(shares[parent]), uses=uses[parent], shares=tuple(shares[parent]),
            output_node=node, input_node=parent, digits=digits))

    saved = [node.grad for node in order]
    try:
        for node in order:
            node.grad = 0.0
        root.grad = seed
        backpropagate(order, record)
        grads = {node: node.grad for node in order}
    finally:
        for node, old in zip(order, saved):
            node.grad = old
    return steps, grads


def name_nodes(order: list[Value], skip: set[Value] | frozenset = frozenset()) -> dict[Value, str]:
    """A distinct name for every node: its label, else ``v1, v2, ...`` in the given order.

    >>> from autodiff import Value
    >>> a, b = Value(1.0, label='v1'), Value(2.0, label='a')
    >>> names = name_nodes([a, b, Value(3.0, label='a'), a + b])
    >>> list(names.values())
    ['v1', 'a', 'a_2', 'v2']
    """
    taken = {node.label for node in order if node.label}
    names: dict[Value, str] = {}
    seen: dict[str, int] = {}
    counter = 0
    for node in order:
        if node in skip:
            continue
        if node.label:
            seen[node.label] = seen.get(node.label, 0) + 1
            name = node.label if seen[node.label] == 1 else f"{node.label}_{seen[node.label]}"
            while seen[node.label] > 1 and name in taken:
                seen[node.label] += 1
                name = f"{node.label}_{seen[node.label]}"
            taken.add(name)
        else:
            counter += 1
            while f"v{counter}" in taken:
                counter += 1
            name = f"v{counter}"
            taken.add(name)
        names[node] = name
    return names


def _rule(node: Value) -> Rule:
    try:
        return RULES[node._op]
    except KeyError:
        raise KeyError(f"no derivative rule for operation {node._op!r}; known: {', '.join(RULES)}") from None


def operation_constants(order: list[Value]) -> set[Value]:
    """Leaves used only as constants of operations (the 3 of ``x ** 3``): they get no gradient and no name.

    An operation missing from the rule table (a micrograd-style node with its
    own ``_backward``) is taken to have no constant inputs.

    >>> from autodiff import Value
    >>> x = Value(2.0, label='x')
    >>> [v.data for v in operation_constants([x, x ** 3])]
    [3.0]
    """
    as_constant: set[Value] = set()
    elsewhere: set[Value] = set()
    for node in order:
        rule = RULES.get(node._op)
        for position, parent in enumerate(node._prev):
            is_constant = rule is not None and position in rule.constants
            (as_constant if is_constant else elsewhere).add(parent)
    return {v for v in as_constant - elsewhere if not v._prev}


def _symbolic_partials(rule: Rule, node: Value, names: dict[Value, str]) -> list[str | None]:
    """The rule's partials written in the nodes' names; ``None`` where it cannot be written."""
    args = [v.data if i in rule.constants else _symbol(names[v]) for i, v in enumerate(node._prev)]
    try:
        partials = rule.partials(SYMBOLIC_MATH, _symbol(names[node]), *args)
    except Exception:  # a rule that branches on its inputs' values has no single formula
        return [None] * len(node._prev)
    return [None if d is None else str(d) if isinstance(d, Symbol) else number_text(d) for d in partials]


def _symbol(name: str) -> Symbol:
    # A label such as "x + y" must stay one operand inside a formula.
    return Symbol(name if name.isidentifier() else f"({name})")


def _needs_brackets(formula: str) -> bool:
    """True when a formula must be bracketed to be multiplied: ``1 - v * v`` but not ``cos(x)``.

    >>> _needs_brackets('1 - v * v'), _needs_brackets('heaviside(a, 0)'), _needs_brackets('-x')
    (True, False, True)
    """
    try:  # the formulas are Python expressions (see autodiff.symbolic)
        tree = ast.parse(formula, mode='eval').body
    except SyntaxError:  # a label that is no Python name: judge by the spaces around operators
        return ' ' in formula
    return isinstance(tree, (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp))


def _formula(op: str, args: list[str]) -> str:
    if op in _INFIX and len(args) == 2:
        return f"{args[0]} {_INFIX[op]} {args[1]}"
    if op == 'neg':
        return f"-{args[0]}"
    return f"{op}({', '.join(args)})"


def _num(x: float, digits: int = 4, wrap: bool = False) -> str:
    """A number as the text shows it: ``4``, ``0.7616``, ``(-3)`` when ``wrap`` and negative.

    >>> _num(4.0), _num(0.76159415), _num(-3.0, wrap=True)
    ('4', '0.7616', '(-3)')
    """
    x = float(x)
    text = str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:.{digits}g}"
    return f"({text})" if wrap and text.startswith('-') else text
