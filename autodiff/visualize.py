"""Pictures of computation graphs with Graphviz (``draw_graph``, alias ``draw_dot``).

One box per value (label, data, grad) and one small circle per operation
between its inputs and its output, as in micrograd's ``draw_dot``.  Boxes are
colored by role (input, parameter, constant, intermediate, output) or, with
``color_by='grad'``, by the sign and size of their gradient.  A neuron's
weighted sum ``w·x + b`` (a chain of ``+`` nodes over ``*`` nodes) can be
framed (``group='cluster'``) or collapsed into one node (``group='collapse'``)
so that an MLP's graph fits on a screen; the picture's caption says what
was grouped.  Unlabelled boxes carry the explainer's names (``v1, v2, ...``).

Everything drawn is plain Graphviz (record and box nodes, text labels, no
HTML-like labels) in one font, so Graphviz's ``dot`` program and its
WebAssembly build draw the same picture.

The ``graphviz`` package is imported only when a picture is asked for, so
the engine itself needs nothing outside the standard library.  Rendering
uses Graphviz's ``dot`` program when it is installed, else its WebAssembly
build (see :mod:`autodiff.render`); the DOT source (``.source``) needs neither.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from autodiff.explain import name_nodes
from autodiff.graph import topological_order
from autodiff.render import FONT
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


def draw_graph(root: Value, rankdir: str = 'LR', format: str = 'svg', *,
               show_data: bool = True, show_grad: bool = True,
               number_format: str | Callable[[float], str] = '.4f',
               color_by: str | None = 'role', parameters: Iterable[Value] = (),
               group: str | None = None, legend: bool = True, title: str | None = None,
               renderer: str | None = None, grads: Mapping[Value, float] | None = None,
               highlight: Iterable[Value] | Mapping[Value, str] = (),
               short_names: bool = True) -> Digraph:
    """A Graphviz picture of the graph below ``root``: one box per value
    (name, data, grad), one small node per operation between its inputs
    and its output.  Displays inline in Jupyter.

    Names: a node shows its label; an unlabelled node shows the name the
    explainer and the backward player give it (``v1, v2, ...`` in
    topological order, see :func:`autodiff.explain.name_nodes`), so a step
    such as ``∂g/∂v1`` can be matched to its box.  The constants of
    operations (the 3 of ``x ** 3``) have no name.

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
    * ``legend``: a colour key (a row of small boxes) and a caption saying
      what was grouped; ``title``: a line above the picture.
    * ``renderer``: ``'auto'``, ``'dot'`` or ``'wasm'`` (see :mod:`autodiff.render`).
    * ``grads``: gradients to show instead of ``.grad`` (a node missing from
      the mapping shows ``grad ?``); ``highlight``: nodes to outline in red,
      or a mapping from node to outline color.  The backward player uses these two.
    * ``short_names``: shorten parameters' dotted names (``nn`` labels each
      parameter with one) by :func:`short_parameter_names`:
      ``layers.0.neurons.4.w.0`` becomes ``L0.n4.w0``, and just ``n4.w0``
      when every parameter drawn is in the same layer.

    >>> x = Value(2.0, label='x')
    >>> dot = draw_graph(x * x)
    >>> 'x | data 2.0000' in dot.source, 'v1 | data 4.0000' in dot.source
    (True, True)
    """
    if rankdir not in ('LR', 'TB', 'RL', 'BT'):
        raise ValueError(f"rankdir must be one of 'LR', 'TB', 'RL', 'BT', got {rankdir!r}")
    if color_by not in ('role', 'grad', None):
        raise ValueError(f"color_by must be 'role', 'grad' or None, got {color_by!r}")
    if group not in (None, 'cluster', 'collapse'):
        raise ValueError(f"group must be None, 'cluster' or 'collapse', got {group!r}")
    from autodiff.render_graph import Digraph  # imports graphviz: only when drawing

    dot = Digraph(format=format, chainrule_renderer=renderer,
                  # newrank: dot honours the key's rank=same although the key sits in a cluster.
                  graph_attr={'rankdir': rankdir, 'fontname': FONT, 'fontsize': '12', 'newrank': 'true'},
                  node_attr={'fontname': FONT, 'fontsize': '11'},
                  edge_attr={'color': '#666666', 'arrowsize': '0.7', 'fontname': FONT})
    picture = _Picture(dot, GraphLayout(root, parameters, short_names=short_names),
                       show_data=show_data, show_grad=show_grad, number_format=number_format,
                       color_by=color_by, group=group, grads=grads, highlight=highlight)
    picture.draw_sums()
    picture.draw_other_nodes()
    caption = picture.caption() if legend else ''
    if legend:
        picture.draw_key()
    text = '\\n'.join(line for line in (_escape_plain(title or ''), caption) if line)
    if text:
        dot.attr(label=text, labelloc='t' if title else 'b', fontsize='12')
    return dot


#: micrograd's notebook name for the same function.
draw_dot = draw_graph


class _Picture:
    """Draws one graph into a ``Digraph``: the boxes, the operations, the key and the caption."""

    def __init__(self, dot: Digraph, layout: GraphLayout, *, show_data: bool, show_grad: bool,
                 number_format: str | Callable[[float], str], color_by: str | None, group: str | None,
                 grads: Mapping[Value, float] | None,
                 highlight: Iterable[Value] | Mapping[Value, str]) -> None:
        self.dot, self.layout = dot, layout
        # Left-to-right pictures are top-down ones turned: what dot puts first in a rank ends up lowest.
        self.sideways = dot.graph_attr.get('rankdir') in ('LR', 'RL')
        self.show_data, self.show_grad, self.color_by, self.group = show_data, show_grad, color_by, group
        spec = number_format
        self.number = spec if callable(spec) else (lambda x: f"{x:{spec}}")
        self.grad_of = _grad_reader(grads)
        known = [g for g in map(self.grad_of, layout.order) if g is not None and math.isfinite(g)]
        self.largest = max(map(abs, known), default=0.0)
        self.outlines = (dict(highlight) if isinstance(highlight, Mapping)
                         else dict.fromkeys(highlight, _HIGHLIGHT))
        self.sums = find_weighted_sums(layout) if group else []
        # Collapsed: each sum is drawn as its head alone; the head stands for every member.
        self.hidden: set[Value] = set()
        self.members_of: dict[Value, list[Value]] = {}
        if group == 'collapse':
            for s in self.sums:
                self.hidden.update(m for m in s.members if m is not s.head)
                self.members_of[s.head] = s.members

    def box(self, node: Value, target, extra: str = '') -> None:
        """The node's record: name, then ``extra`` (lines of text), data and grad."""
        name = self.layout.name_of(node)
        fields = [_escape(name)] if name else []
        if extra:
            fields.append('\\n'.join(_escape(line) for line in extra.split('\n')))
        if self.show_data:
            fields.append(f"data {_escape(self.number(node.data))}")
        if self.show_grad:
            g = self.grad_of(node)
            fields.append(f"grad {'?' if g is None else _escape(self.number(g))}")
        if self.color_by == 'role':
            fill = ROLE_COLORS[self.layout.role(node)]
        else:
            fill = _grad_color(self.grad_of(node), self.largest) if self.color_by == 'grad' else '#ffffff'
        style = {'style': 'filled', 'fillcolor': fill}
        outline = self.outlines.get(node) or next(
            (self.outlines[m] for m in self.members_of.get(node, ()) if m in self.outlines), None)
        if outline:
            style.update(color=outline, penwidth='3')
        target.node(self.layout.uid(node), label='{ ' + ' | '.join(fields or [' ']) + ' }', shape='record',
                    **style)

    def op_node(self, uid: str, label: str, target, tooltip: str = '') -> None:
        """The small circle of an operation."""
        target.node(uid, label=_escape_plain(label), shape='circle', width='0.3', margin='0.04',
                    style='filled', fillcolor=_OP_COLOR, fontsize='10', tooltip=tooltip or label)

    def draw_sums(self) -> None:
        """The grouped weighted sums: a dashed frame around each, or one Σ node each."""
        for k, s in enumerate(self.sums):
            head = self.layout.uid(s.head)
            if self.group == 'cluster':
                with self.dot.subgraph(name=f'cluster_sum{k}') as cluster:
                    cluster.attr(label=f'Σ w·x + b ({len(s.products)} products)', style='dashed,rounded',
                                 color='#888888', fontsize='10')
                    for node in s.members:
                        self.box(node, cluster)
                        if node._prev:
                            self.op_node(self.layout.uid(node) + '_op', node._op, cluster)
                continue
            kind = 'parameters' if self.layout.knows_parameters else 'leaves'
            folded = f"\n{len(s.folded)} {kind} folded" if s.folded else ''
            # Not "Σ w·x ...": dot 2.43 drops a space that follows a field's first, non-ASCII, letter.
            self.box(s.head, self.dot, extra=f"w·x + b, {len(s.products)} terms{folded}")
            self.op_node(head + '_op', 'Σ', self.dot, tooltip=f'weighted sum of {len(s.products)} products')
            self.dot.edge(head + '_op', head)
            for source in s.external_inputs:
                self.dot.edge(self.layout.uid(source), head + '_op')

    def draw_other_nodes(self) -> None:
        """Every node outside the grouped sums, and every edge."""
        in_a_sum = {node for s in self.sums for node in s.members}
        for node in self.layout.order:
            if node in self.hidden:
                continue
            uid = self.layout.uid(node)
            if node not in in_a_sum:
                self.box(node, self.dot)
                if node._prev:
                    self.op_node(uid + '_op', node._op, self.dot)
            if node._prev and node not in self.members_of:
                self.dot.edge(uid + '_op', uid)
                for parent in node._prev:
                    self.dot.edge(self.layout.uid(parent), uid + '_op')

    def draw_key(self) -> None:
        """The colour key: a frame of small boxes, one per colour in the picture.

        Plain boxes rather than an HTML-like table, which the WebAssembly
        build of Graphviz cannot draw.
        """
        if self.color_by == 'role':
            shown = {self.layout.role(node) for node in self.layout.order if node not in self.hidden}
            if self.group == 'collapse':
                shown |= {self.layout.role(v) for s in self.sums for v in s.folded}
            entries = [(role, color, 'black') for role, color in ROLE_COLORS.items() if role in shown]
            label = 'colour: role'
        elif self.color_by == 'grad':
            entries = [('grad < 0', _grad_color(-1, 1), 'white'), ('0', '#ffffff', 'black'),
                       ('grad > 0', _grad_color(1, 1), 'white')]
            label = f'colour: gradient\\ndarker = larger |grad|\\n(largest {self.largest:.4g})'
        else:
            return
        with self.dot.subgraph(name='cluster_key') as key:
            # One rank: a column beside the output in a left-to-right picture, a row under it top-down.
            key.attr(label=label, fontsize='10', style='rounded', color='#bbbbbb', rank='same')
            for k, (text, fill, ink) in enumerate(entries):
                key.node(f'key{k}', label=_escape_plain(text), shape='box', style='filled', fillcolor=fill,
                         fontcolor=ink, fontsize='10', height='0.3', width='0.3', margin='0.1,0.04')
                if k:  # invisible edges within the rank keep the table's order (top-down, or left to right)
                    earlier, later = f'key{k - 1}', f'key{k}'
                    key.edge(*((later, earlier) if self.sideways else (earlier, later)), style='invis')
        self.dot.edge(self.layout.uid(self.layout.root), 'key0', style='invis')  # the key follows the output

    def caption(self) -> str:
        """What was grouped, as lines of plain text ('' when nothing was)."""
        if not self.sums:
            return ''
        terms = sum(len(s.products) for s in self.sums)
        folded = 'parameters' if self.layout.knows_parameters else 'unlabelled leaves'
        how = ('framed by a dashed box' if self.group == 'cluster' else
               f'each drawn as one Σ node ({len(self.hidden)} nodes hidden: the + and * nodes, '
               f'and the {folded} that feed only that sum)')
        what = 'weighted sum' if len(self.sums) == 1 else 'weighted sums'
        text = f"Grouped {len(self.sums)} {what} w·x + b (chains of + over {terms} * nodes), {how}"
        return '\\n'.join(_escape_plain(line) for line in textwrap.wrap(text, 72))


class GraphLayout:
    """The facts a picture needs about a graph: order, ids, names, roles, consumers.

    Node ids are ``n0, n1, ...`` in topological order, so the same graph
    always gives the same DOT source.  Names are the explainer's
    (:func:`autodiff.explain.name_nodes`), parameters' dotted names
    shortened when ``short_names`` is true (:func:`short_parameter_names`).

    >>> x = Value(1.0, label='x')
    >>> layout = GraphLayout(x ** 3 + x)
    >>> [layout.role(v) for v in layout.order]
    ['input', 'constant', 'intermediate', 'output']
    >>> [layout.name_of(v) for v in layout.order]
    ['x', '', 'v1', 'v2']
    >>> len(layout.consumers[x])
    2
    """

    def __init__(self, root: Value, parameters: Iterable[Value] = (), short_names: bool = True):
        self.root = root
        self.order = topological_order(root)
        self._index = {node: i for i, node in enumerate(self.order)}
        self.parameters = set(parameters)
        self.consumers: dict[Value, list[Value]] = {node: [] for node in self.order}
        #: Whether any node is known to be a parameter (by class or by ``parameters``).
        self.knows_parameters = bool(self.parameters) or any(
            getattr(type(node), 'is_parameter', False) is True for node in self.order)
        as_constant: set[Value] = set()
        elsewhere: set[Value] = set()
        for node in self.order:
            for position, parent in enumerate(node._prev):
                self.consumers[parent].append(node)
                rule = RULES.get(node._op)
                is_constant = rule is not None and position in rule.constants
                (as_constant if is_constant else elsewhere).add(parent)
        #: Leaves used only as constants of operations (the 3 of ``x ** 3``): they get no gradient,
        #: and no name (the same set the explainer leaves unnamed).
        self.operation_constants = {v for v in as_constant - elsewhere if not v._prev}
        self._names = name_nodes(self.order, skip=self.operation_constants)
        if short_names:
            named = {node: self._names[node] for node in self.order if self.is_parameter(node)}
            others = [name for node, name in self._names.items() if node not in named]
            self._names.update(short_parameter_names(named, taken=others))

    def uid(self, node: Value) -> str:
        """The node's DOT id."""
        return f"n{self._index[node]}"

    def name_of(self, node: Value) -> str:
        """The name the picture shows: the explainer's name, or '' for a constant of an operation."""
        return self._names.get(node, '')

    def is_parameter(self, node: Value) -> bool:
        """A trainable leaf: its class says so (``nn.Parameter``) or it was passed in ``parameters``."""
        return getattr(type(node), 'is_parameter', False) is True or node in self.parameters

    def role(self, node: Value) -> str:
        """``'output'``, ``'parameter'``, ``'constant'``, ``'input'`` or ``'intermediate'``.

        A leaf is a *constant* when it is only ever a constant of an
        operation (the 3 of ``x ** 3``, which gets no gradient); every other
        leaf that is not a parameter is an *input*.
        """
        if node is self.root:
            return 'output'
        if self.is_parameter(node):
            return 'parameter'
        if node._prev:
            return 'intermediate'
        return 'constant' if node in self.operation_constants else 'input'


_INDEXED = re.compile(r'([A-Za-z_]\w*)\.(\d+)(?=\.|$)')


def short_parameter_names(names: Mapping[Value, str], taken: Iterable[str] = ()) -> dict[Value, str]:
    """Shorter names for parameters with ``nn``'s dotted names, where no two would then collide.

    Each ``word.index`` pair becomes the word's first letter and the index
    (``layers`` gives ``L``, to read apart from a 1): ``layers.0.neurons.4.w.0``
    becomes ``L0.n4.w0`` and ``layers.0.neurons.4.b`` becomes ``L0.n4.b``.
    When every name then starts with the same layer (one neuron's graph), that
    ``L0.`` is dropped too.  A name that would equal another's, or one of
    the other names ``taken`` in the picture, keeps its full form.

    >>> a, b, c = Value(0.5), Value(-1.0), Value(0.1)
    >>> names = {a: 'layers.0.neurons.4.w.0', b: 'layers.0.neurons.4.w.1', c: 'layers.0.neurons.4.b'}
    >>> list(short_parameter_names(names).values())
    ['n4.w0', 'n4.w1', 'n4.b']
    >>> list(short_parameter_names({a: 'layers.1.neurons.0.w.3', b: 'layers.2.neurons.0.b'}).values())
    ['L1.n0.w3', 'L2.n0.b']
    >>> list(short_parameter_names({a: 'w.0', b: 'b'}, taken=['w0']).values())
    ['w.0', 'b']
    """
    taken = set(taken)

    def compact(name: str) -> str:
        return _INDEXED.sub(lambda m: ('L' if m[1] == 'layers' else m[1][0]) + m[2], name)

    short = {node: compact(name) for node, name in names.items()}
    layers = {name.split('.', 1)[0] if '.' in name else '' for name in short.values()}
    if len(layers) == 1 and re.fullmatch(r'L\d+', next(iter(layers))):
        short = {node: name.split('.', 1)[1] for node, name in short.items()}
    uses = Counter(short.values())
    return {node: name if uses[name] == 1 and name not in taken else names[node]
            for node, name in short.items()}


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


def _escape(text: str) -> str:
    """Text safe inside a record label, where ``{ } | < >`` and quotes have meanings."""
    out = str(text).replace('\\', '\\\\')
    for ch in '{}|<>"':
        out = out.replace(ch, '\\' + ch)
    return out.replace('\n', ' ')


def _escape_plain(text: str) -> str:
    return str(text).replace('\\', '\\\\').replace('"', '\\"')
