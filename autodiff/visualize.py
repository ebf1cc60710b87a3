"""Pictures of computation graphs with Graphviz (``draw_graph``, alias ``draw_dot``).

One box per value (label, data, grad) and one small circle per operation
between its inputs and its output, as in micrograd's ``draw_dot``.  Boxes are
colored by role (input, parameter, constant, intermediate, output) or, with
``color_by='grad'``, by the sign and size of their gradient.  A neuron's
weighted sum ``w·x + b`` (a chain of ``+`` nodes over ``*`` nodes) can be
framed (``group='cluster'``) or collapsed into one node (``group='collapse'``)
so that an MLP's graph fits on a screen; the picture's caption says what
was grouped.

The ``graphviz`` package is imported only when a picture is asked for, so
the engine itself needs nothing outside the standard library.  Rendering
uses Graphviz's ``dot`` program when it is installed, else its WebAssembly
build (see :mod:`autodiff.render`); the DOT source (``.source``) needs neither.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from autodiff.graph import topological_order
from autodiff.rules import RULES
from autodiff.value import Value

if TYPE_CHECKING:
    from autodiff.render_graph import Digraph

#: Fill color of each role; the legend shows the same table.
ROLE_COLORS = {
    'input': '#cfe3ff',
    'parameter': '#ffe0b0',
    'constant': '#eeeeee',
    'intermediate': '#ffffff',
    'output': '#c9f2c9',
}
_OP_COLOR = '#f4f4f4'
_HIGHLIGHT = '#d62728'
_NEGATIVE, _POSITIVE = (178, 24, 43), (33, 102, 172)  # red and blue of a diverging palette
_FONT = 'Helvetica,Arial,sans-serif'


def draw_graph(root: Value, rankdir: str = 'LR', format: str = 'svg', *,
               show_data: bool = True, show_grad: bool = True,
               number_format: str | Callable[[float], str] = '.4f',
               color_by: str | None = 'role', parameters: Iterable[Value] = (),
               group: str | None = None, legend: bool = True, title: str | None = None,
               renderer: str | None = None, grads: Mapping[Value, float] | None = None,
               highlight: Iterable[Value] | Mapping[Value, str] = ()) -> Digraph:
    """A Graphviz picture of the graph below ``root``: one box per value
    (label, data, grad), one small node per operation between its inputs
    and its output.  Displays inline in Jupyter.

    Options:

    * ``rankdir``: ``'LR'`` (left to right), ``'TB'``, ``'RL'`` or ``'BT'``;
      ``format``: what ``.render`` and ``.pipe`` write by default.
    * ``show_data`` / ``show_grad``: hide either field; ``number_format``: a
      format spec such as ``'.4f'`` or ``'.3g'``, or a function of a float.
    * ``color_by``: ``'role'`` (input, parameter, constant, intermediate,
      output), ``'grad'`` (red for a negative gradient, blue for a positive
      one, darker for larger), or ``None``.  A node is a *parameter* when its
      class says ``is_parameter = True`` (``nn``'s parameters) or when it is in
      ``parameters``.
    * ``group``: ``None``, ``'cluster'`` (frame each weighted sum ``w·x + b``)
      or ``'collapse'`` (draw each as one node, its weights and bias folded in).
    * ``legend``: a caption with the color key and what was grouped; ``title``.
    * ``renderer``: ``'auto'``, ``'dot'`` or ``'wasm'`` (see :mod:`autodiff.render`).
    * ``grads``: gradients to show instead of ``.grad`` (a node missing from
      the mapping shows ``grad ?``); ``highlight``: nodes to outline in red,
      or a mapping from node to outline color.  The backward player uses these two.

    >>> x = Value(2.0, label='x')
    >>> dot = draw_graph(x * x)
    >>> 'x | data 2.0000' in dot.source
    True
    """
    if rankdir not in ('LR', 'TB', 'RL', 'BT'):
        raise ValueError(f"rankdir must be one of 'LR', 'TB', 'RL', 'BT', got {rankdir!r}")
    if color_by not in ('role', 'grad', None):
        raise ValueError(f"color_by must be 'role', 'grad' or None, got {color_by!r}")
    if group not in (None, 'cluster', 'collapse'):
        raise ValueError(f"group must be None, 'cluster' or 'collapse', got {group!r}")
    from autodiff.render_graph import Digraph  # imports graphviz: only when drawing

    fmt = number_format if callable(number_format) else (lambda x, spec=number_format: f"{x:{spec}}")
    layout = GraphLayout(root, parameters)
    sums = find_weighted_sums(layout) if group else []
    shown_grad = _grad_reader(grads)
    largest = max((abs(g) for g in map(shown_grad, layout.order) if g is not None and math.isfinite(g)),
                  default=0.0)
    outlines = dict(highlight) if isinstance(highlight, Mapping) else dict.fromkeys(highlight, _HIGHLIGHT)

    dot = Digraph(format=format, chainrule_renderer=renderer,
                graph_attr={'rankdir': rankdir, 'fontname': _FONT, 'fontsize': '12'},
                node_attr={'fontname': _FONT, 'fontsize': '11'},
                edge_attr={'color': '#666666', 'arrowsize': '0.7'})
    if title:
        dot.attr(label=title, labelloc='t', fontsize='14')

    def box(node: Value, uid: str, target, extra: str = '') -> None:
        fields = [_escape(layout.name_of(node))] if node.label else []
        if extra:
            fields.append(_escape(extra))
        if show_data:
            fields.append(f"data {_escape(fmt(node.data))}")
        if show_grad:
            g = shown_grad(node)
            fields.append(f"grad {'?' if g is None else _escape(fmt(g))}")
        fill = (ROLE_COLORS[layout.role(node)] if color_by == 'role'
                else _grad_color(shown_grad(node), largest) if color_by == 'grad' else '#ffffff')
        style = {'style': 'filled', 'fillcolor': fill}
        outline = outlines.get(node) or next(
            (outlines[m] for m in extra_members.get(node, ()) if m in outlines), None)
        if outline:
            style.update(color=outline, penwidth='3')
        target.node(uid, label='{ ' + ' | '.join(fields or [' ']) + ' }', shape='record', **style)

    def op_node(uid: str, label: str, target, tooltip: str = '') -> None:
        target.node(uid, label=_escape_plain(label), shape='circle', width='0.3', margin='0.02',
                    style='filled', fillcolor=_OP_COLOR, fontsize='10', tooltip=tooltip or label)

    hidden: set[Value] = set()
    extra_members: dict[Value, list[Value]] = {}
    if group == 'collapse':
        for s in sums:
            hidden.update(s.members)
            hidden.discard(s.head)
            extra_members[s.head] = s.members

    # The grouped sums first: a cluster per sum, or one node per sum.
    for k, s in enumerate(sums):
        head_uid = layout.uid(s.head)
        if group == 'cluster':
            with dot.subgraph(name=f'cluster_sum{k}') as cluster:
                cluster.attr(label=f'Σ w·x + b ({len(s.products)} products)', style='dashed,rounded',
                             color='#888888', fontsize='10')
                for node in s.members:
                    box(node, layout.uid(node), cluster)
                    if node._prev:
                        op_node(layout.uid(node) + '_op', node._op, cluster)
        else:
            kind = 'parameters' if layout.knows_parameters else 'leaves'
            folded = f"{len(s.folded)} {kind} folded" if s.folded else ''
            box(s.head, head_uid, dot, extra=f"Σ w·x + b, {len(s.products)} terms" +
                (f", {folded}" if folded else ''))
            op_node(head_uid + '_op', 'Σ', dot, tooltip=f'weighted sum of {len(s.products)} products')
            dot.edge(head_uid + '_op', head_uid)
            for source in s.external_inputs:
                dot.edge(layout.uid(source), head_uid + '_op')

    in_a_sum = {node for s in sums for node in s.members}
    for node in layout.order:
        if node in hidden:
            continue
        uid = layout.uid(node)
        if node not in in_a_sum:
            box(node, uid, dot)
            if node._prev:
                op_node(uid + '_op', node._op, dot)
        if node._prev and not (group == 'collapse' and node in extra_members):
            dot.edge(uid + '_op', uid)
            for parent in node._prev:
                dot.edge(layout.uid(parent), uid + '_op')

    if legend:
        dot.attr(label=_legend(layout, sums, group, color_by, largest, title, hidden), labelloc='b'
                 if not title else 't')
    return dot


#: micrograd's notebook name for the same function.
draw_dot = draw_graph


class GraphLayout:
    """The facts a picture needs about a graph: order, ids, names, roles, consumers.

    Node ids are ``n0, n1, ...`` in topological order, so the same graph
    always gives the same DOT source.

    >>> x = Value(1.0, label='x')
    >>> layout = GraphLayout(x ** 3 + x)
    >>> [layout.role(v) for v in layout.order]
    ['input', 'constant', 'intermediate', 'output']
    >>> len(layout.consumers[x])
    2
    """

    def __init__(self, root: Value, parameters: Iterable[Value] = ()):
        self.root = root
        self.order = topological_order(root)
        self._index = {node: i for i, node in enumerate(self.order)}
        self.parameters = set(parameters)
        self.consumers: dict[Value, list[Value]] = {node: [] for node in self.order}
        self.operation_constants: set[Value] = set()
        #: Whether any node is known to be a parameter (by class or by ``parameters``).
        self.knows_parameters = bool(self.parameters) or any(
            getattr(type(node), 'is_parameter', False) is True for node in self.order)
        for node in self.order:
            for position, parent in enumerate(node._prev):
                self.consumers[parent].append(node)
                rule = RULES.get(node._op)
                if rule is not None and position in rule.constants and not parent._prev:
                    self.operation_constants.add(parent)

    def uid(self, node: Value) -> str:
        """The node's DOT id."""
        return f"n{self._index[node]}"

    def name_of(self, node: Value) -> str:
        """The node's label (drawings show no generated names)."""
        return node.label

    def is_parameter(self, node: Value) -> bool:
        """A trainable leaf: its class says so (``nn.Parameter``) or it was passed in ``parameters``."""
        return getattr(type(node), 'is_parameter', False) is True or node in self.parameters

    def role(self, node: Value) -> str:
        """``'output'``, ``'parameter'``, ``'constant'``, ``'input'`` or ``'intermediate'``.

        A leaf is a *constant* when it is a constant of its operation (the 3
        of ``x ** 3``, which gets no gradient); every other leaf that is not
        a parameter is an *input*.
        """
        if node is self.root:
            return 'output'
        if self.is_parameter(node):
            return 'parameter'
        if node._prev:
            return 'intermediate'
        return 'constant' if node in self.operation_constants else 'input'


@dataclass
class WeightedSum:
    """A chain of ``+`` nodes over ``*`` nodes: a neuron's ``w·x + b``.

    ``head`` is the last ``+`` (the sum's value), ``members`` every node
    drawn inside the group, ``folded`` the leaves (weights, bias) that feed
    only this sum, and ``external_inputs`` the nodes that enter from outside.
    """

    head: Value
    additions: list[Value] = field(default_factory=list)
    products: list[Value] = field(default_factory=list)
    folded: list[Value] = field(default_factory=list)
    external_inputs: list[Value] = field(default_factory=list)

    @property
    def members(self) -> list[Value]:
        return self.additions + self.products + self.folded


def find_weighted_sums(layout: GraphLayout, min_products: int = 2) -> list[WeightedSum]:
    """Every weighted sum in the graph: a ``+`` chain whose inner nodes feed only
    the chain, over at least ``min_products`` products that feed only the chain.

    Leaves that feed only the sum are folded into it when they are
    parameters (weights, bias); in a graph where no node is known to be a
    parameter, unlabelled leaves are folded instead.  Other inputs stay visible.

    >>> w = [Value(0.5), Value(-1.0)]
    >>> x = [Value(1.0, label='x1'), Value(2.0, label='x2')]
    >>> neuron = sum((wi * xi for wi, xi in zip(w, x)), Value(0.1))
    >>> [s] = find_weighted_sums(GraphLayout(neuron.relu()))
    >>> len(s.additions), len(s.products), len(s.folded), [v.label for v in s.external_inputs]
    (2, 2, 3, ['x2', 'x1'])
    """
    taken: set[Value] = set()
    found = []
    for node in reversed(layout.order):  # heads come before the additions they absorb
        if node._op != '+' or node in taken:
            continue
        s = WeightedSum(node)
        terms: list[Value] = []
        stack = [node]
        while stack:
            addition = stack.pop()
            s.additions.append(addition)
            for term in addition._prev:
                single_use = len(layout.consumers[term]) == 1 and term is not layout.root
                if term._op == '+' and single_use and term not in taken:
                    stack.append(term)
                elif term._op == '*' and single_use and term not in taken:
                    s.products.append(term)
                else:
                    terms.append(term)
        if len(s.products) < min_products:
            continue
        inside = set(s.additions) | set(s.products)
        for product in s.products:
            terms.extend(product._prev)
        for term in dict.fromkeys(terms):  # each once, in order
            foldable = (not term._prev and all(consumer in inside for consumer in layout.consumers[term])
                        and (layout.is_parameter(term) if layout.knows_parameters else not term.label))
            (s.folded if foldable else s.external_inputs).append(term)
        taken.update(s.members)
        found.append(s)
    return found


def _grad_reader(grads: Mapping[Value, float] | None) -> Callable[[Value], float | None]:
    if grads is None:
        return lambda node: node.grad.data if isinstance(node.grad, Value) else node.grad
    return lambda node: grads.get(node)


def _grad_color(g: float | None, largest: float) -> str:
    """White for 0 or unknown; red for negative, blue for positive; darker when larger.

    >>> _grad_color(-2.0, 2.0), _grad_color(0.0, 2.0), _grad_color(None, 2.0)
    ('#b2182b', '#ffffff', '#ffffff')
    """
    if g is None or g == 0 or largest == 0 or math.isnan(g):
        return '#ffffff'
    # The square root keeps small gradients visible next to a large one.
    strength = 1.0 if math.isinf(g) else math.sqrt(min(abs(g) / largest, 1.0))
    target = _NEGATIVE if g < 0 else _POSITIVE
    rgb = [round(255 + (c - 255) * strength) for c in target]
    return '#' + ''.join(f"{c:02x}" for c in rgb)


def _legend(layout: GraphLayout, sums: list[WeightedSum], group: str | None, color_by: str | None,
            largest: float, title: str | None, hidden: set[Value]) -> str:
    """The caption: an HTML-like label with the color key and the grouping note."""
    key_row, width = '', 1  # the widest row sets how far the others span
    if color_by == 'role':
        present = {layout.role(node) for node in layout.order if node not in hidden}
        if any(s.folded for s in sums) and group == 'collapse':
            present |= {layout.role(v) for s in sums for v in s.folded}
        cells = [f'<TD BGCOLOR="{color}" BORDER="1">{role}</TD>'
                 for role, color in ROLE_COLORS.items() if role in present]
        key_row, width = f'<TR>{"".join(cells)}</TR>', max(len(cells), 1)
    elif color_by == 'grad':
        key_row, width = (f'<TR><TD BGCOLOR="{_grad_color(-1, 1)}" BORDER="1"><FONT COLOR="white">grad &lt; 0'
                          f'</FONT></TD><TD BORDER="1">0</TD><TD BGCOLOR="{_grad_color(1, 1)}" BORDER="1">'
                          f'<FONT COLOR="white">grad &gt; 0</FONT></TD>'
                          f'<TD COLSPAN="2">darker = larger |grad| (largest {largest:.4g})</TD></TR>'), 5
    rows = []
    if title:
        rows.append(f'<TR><TD COLSPAN="{width}"><B>{_html(title)}</B></TD></TR>')
    if key_row:
        rows.append(key_row)
    if sums:
        terms = sum(len(s.products) for s in sums)
        folded = 'parameters' if layout.knows_parameters else 'unlabelled leaves'
        how = ('framed by a dashed box' if group == 'cluster' else
               f'each drawn as one Σ node ({len(hidden)} nodes hidden: the + and * nodes, '
               f'and the {folded} that feed only that sum)')
        what = 'weighted sum' if len(sums) == 1 else 'weighted sums'
        rows.append(f'<TR><TD COLSPAN="{width}">Grouped {len(sums)} {what} w·x + b '
                    f'(chains of + over {terms} * nodes), {_html(how)}</TD></TR>')
    if not rows:
        return ''
    return f'<<TABLE BORDER="0" CELLSPACING="2" CELLPADDING="3">{"".join(rows)}</TABLE>>'


def _escape(text: str) -> str:
    """Text safe inside a record label, where ``{ } | < >`` and quotes have meanings."""
    out = str(text).replace('\\', '\\\\')
    for ch in '{}|<>"':
        out = out.replace(ch, '\\' + ch)
    return out.replace('\n', ' ')


def _escape_plain(text: str) -> str:
    return str(text).replace('\\', '\\\\').replace('"', '\\"')


def _html(text: str) -> str:
    return str(text).replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
