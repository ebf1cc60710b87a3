"""Pictures of computation graphs with Graphviz: `draw_graph`, `draw_dot` and the `GraphDrawer` behind them.

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
build (see :mod:`autodiff.pictures.renderers`); the DOT source (``.source``)
needs neither.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from autodiff.pictures.layout import GraphLayout, find_weighted_sums
from autodiff.pictures.renderers import FONT
from autodiff.value import Value

if TYPE_CHECKING:
    import graphviz

    from autodiff.pictures.digraph import Digraph

#: Fill color of each role; the legend shows the same table.
ROLE_COLORS = {
    'input': '#cfe3ff',
    'parameter': '#ffe0b0',
    'constant': '#eeeeee',
    'intermediate': '#ffffff',
    'output': '#c9f2c9',
}
#: Outline of a highlighted box when ``highlight`` gives no color of its own.
HIGHLIGHT = '#d62728'
_OP_COLOR = '#f4f4f4'
_NEGATIVE, _POSITIVE = (178, 24, 43), (33, 102, 172)  # red and blue of a diverging palette
_RANKDIRS = ('LR', 'TB', 'RL', 'BT')


def draw_graph(root: Value, rankdir: str = 'LR', format: str = 'svg', *,
               show_data: bool = True, show_grad: bool = True,
               number_format: str | Callable[[float], str] = '.4f',
               color_by: str | None = 'role', parameters: Iterable[Value] = (),
               group: str | None = None, legend: bool = True, title: str | None = None,
               renderer: str | None = None, grads: Mapping[Value, float] | None = None,
               highlight: Iterable[Value] | Mapping[Value, str] = (),
               short_names: bool = True, grad_scale: float | None = None) -> Digraph:
    """A Graphviz picture of the graph below ``root`` (a ``graphviz.Digraph``; displays inline in Jupyter).

    A node shows its label, else the explainer's name for it (``v1, v2, ...``
    in topological order, see :func:`autodiff.pictures.explainer.name_nodes`),
    so a step such as ``∂g/∂v1`` can be matched to its box; the constants of
    operations (the 3 of ``x ** 3``) have no name.  Options:

    * ``rankdir``: ``'LR'``, ``'TB'``, ``'RL'`` or ``'BT'``; ``format``: what
      ``.render`` and ``.pipe`` write by default.
    * ``show_data`` / ``show_grad``: hide either field; ``number_format``: a
      format spec such as ``'.4f'`` or ``'.3g'``, or a function of a float.
    * ``color_by``: ``'role'`` (input, parameter, constant, intermediate,
      output), ``'grad'`` (red for a negative gradient, blue for a positive
      one, darker for larger, the darkest at ``grad_scale``, by default the
      largest shown), or ``None``.  A node is a *parameter* when its class
      says ``is_parameter = True`` (``nn``'s parameters) or it is in ``parameters``.
    * ``group``: ``None``, ``'cluster'`` (frame each weighted sum ``w·x + b``)
      or ``'collapse'`` (draw each as one node, its weights and bias folded in).
    * ``legend``: a colour key and a caption saying what was grouped;
      ``title``: a line above the picture.
    * ``renderer``: ``'auto'``, ``'dot'`` or ``'wasm'`` (see :mod:`autodiff.pictures.renderers`).
    * ``grads``: gradients to show instead of ``.grad`` (a node missing from
      the mapping shows ``grad ?``); ``highlight``: nodes to outline in red,
      or a mapping from node to outline color.  The backward player uses these.
    * ``short_names``: shorten ``nn``'s dotted parameter names by
      :func:`~autodiff.pictures.layout.short_parameter_names`
      (``layers.0.neurons.4.w.0`` becomes ``L0.n4.w0``, or ``n4.w0`` when
      every parameter drawn is in one layer).

    >>> x = Value(2.0, label='x')
    >>> dot = draw_graph(x * x)
    >>> 'x | data 2.0000' in dot.source, 'v1 | data 4.0000' in dot.source
    (True, True)
    """
    drawer = GraphDrawer(root, show_data=show_data, show_grad=show_grad, number_format=number_format,
                         color_by=color_by, parameters=parameters, group=group, grads=grads,
                         highlight=highlight, short_names=short_names, grad_scale=grad_scale)
    return drawer.draw(rankdir=rankdir, format=format, legend=legend, title=title, renderer=renderer)


def draw_dot(root: Value, format: str = 'svg', rankdir: str = 'LR', **options: Any) -> Digraph:
    """`draw_graph` under micrograd's notebook name and positional order: ``draw_dot(root, format, rankdir)``.

    Every keyword of `draw_graph` works here too.

    >>> y = Value(3.0, label='y') * 2
    >>> 'rankdir=TB' in draw_dot(y, 'svg', 'TB').source
    True
    """
    return draw_graph(root, rankdir, format, **options)


class GraphDrawer:
    """Draws one graph: the boxes, the operations, the grouped sums, the key and the caption.

    The constructor takes `draw_graph`'s options about *what* is shown;
    :meth:`draw` those about the picture as a whole.  The backward player
    draws its graph once with a drawer and then restyles the boxes in the
    browser, using :meth:`box_id`, :meth:`grad_text`, :meth:`fill` and
    :meth:`outlines_by_box` to say what each frame changes.

    >>> x = Value(2.0, label='x')
    >>> drawer = GraphDrawer(x * x, grads={})
    >>> drawer.box_id(x), drawer.grad_text(None), drawer.grad_text(-1.5)
    ('n0', 'grad ?', 'grad -1.5000')
    """

    def __init__(self, root: Value, *, show_data: bool = True, show_grad: bool = True,
                 number_format: str | Callable[[float], str] = '.4f', color_by: str | None = 'role',
                 parameters: Iterable[Value] = (), group: str | None = None,
                 grads: Mapping[Value, float] | None = None,
                 highlight: Iterable[Value] | Mapping[Value, str] = (), short_names: bool = True,
                 grad_scale: float | None = None, grad_texts: Mapping[Value, str] | None = None) -> None:
        if color_by not in ('role', 'grad', None):
            raise ValueError(f"color_by must be 'role', 'grad' or None, got {color_by!r}")
        if group not in (None, 'cluster', 'collapse'):
            raise ValueError(f"group must be None, 'cluster' or 'collapse', got {group!r}")
        self.layout = GraphLayout(root, parameters, short_names=short_names)
        self.show_data, self.show_grad, self.color_by, self.group = show_data, show_grad, color_by, group
        spec = number_format
        self.number = spec if callable(spec) else (lambda x: f"{x:{spec}}")
        self.grad_of = _grad_reader(grads)
        #: Text for a box's grad field instead of its gradient (the player sizes boxes with it).
        self.grad_texts = dict(grad_texts or {})
        known = [g for g in map(self.grad_of, self.layout.order) if g is not None and math.isfinite(g)]
        self.largest = max(map(abs, known), default=0.0) if grad_scale is None else float(grad_scale)
        self.sums = find_weighted_sums(self.layout) if group else []
        # Collapsed: each sum is drawn as its head alone; the head stands for every member.
        self.hidden: set[Value] = set()
        self.head_of: dict[Value, Value] = {}
        if group == 'collapse':
            for s in self.sums:
                self.hidden.update(m for m in s.members if m is not s.head)
                self.head_of.update(dict.fromkeys(s.members, s.head))
        marked = highlight if isinstance(highlight, Mapping) else dict.fromkeys(highlight, HIGHLIGHT)
        self.outlines = self.outlines_by_box(marked)
        self.dot: Digraph | None = None

    def draw(self, rankdir: str = 'LR', format: str = 'svg', legend: bool = True, title: str | None = None,
             renderer: str | None = None) -> Digraph:
        """The picture as a new ``Digraph``."""
        if rankdir not in _RANKDIRS:
            raise ValueError(f"rankdir must be one of 'LR', 'TB', 'RL', 'BT', got {rankdir!r}")
        from autodiff.pictures.digraph import Digraph  # imports graphviz: only when drawing

        # newrank: dot honours the key's rank=same although the key sits in a cluster.
        picture = {'rankdir': rankdir, 'fontname': FONT, 'fontsize': '12', 'newrank': 'true'}
        dot = Digraph(format=format, chainrule_renderer=renderer, graph_attr=picture,
                      node_attr={'fontname': FONT, 'fontsize': '11'},
                      edge_attr={'color': '#666666', 'arrowsize': '0.7', 'fontname': FONT})
        self.dot = dot
        # Each step is handed the picture, so none can run before it exists.
        self.draw_sums(dot)
        self.draw_other_nodes(dot)
        caption = self.caption() if legend else ''
        if legend:
            self.draw_key(dot, sideways=rankdir in ('LR', 'RL'))
        text = '\\n'.join(line for line in (_escape_plain(title or ''), caption) if line)
        if text:
            dot.attr(label=text, labelloc='t' if title else 'b', fontsize='12')
        return dot

    def box_id(self, node: Value) -> str | None:
        """The DOT id of the box that shows ``node`` (its sum's, when collapsed); None if not drawn."""
        if node in self.hidden:
            return self.layout.uid(self.head_of[node])
        return self.layout.uid(node) if node in self.layout.consumers else None

    def outlines_by_box(self, highlight: Mapping[Value, str]) -> dict[str, str]:
        """Outline colors by box id; a box's own node wins over the members folded into it."""
        by_box = {self.layout.uid(node): color for node, color in highlight.items()
                  if node in self.layout.consumers and node not in self.hidden}
        for node, color in highlight.items():
            if node in self.hidden:
                by_box.setdefault(self.layout.uid(self.head_of[node]), color)
        return by_box

    def grad_text(self, g: float | None) -> str:
        """The grad field's text: ``grad ?`` for an unknown gradient."""
        return f"grad {'?' if g is None else self.number(g)}"

    def fill(self, node: Value, g: float | None) -> str:
        """The box's fill color, for gradient ``g`` when coloring by gradient."""
        if self.color_by == 'role':
            return ROLE_COLORS[self.layout.role(node)]
        return _grad_color(g, self.largest) if self.color_by == 'grad' else '#ffffff'

    def box(self, node: Value, target: graphviz.Digraph, extra: str = '') -> None:
        """The node's record: name, then ``extra`` (lines of text), data and grad."""
        name = self.layout.name_of(node)
        fields = [_escape(name)] if name else []
        if extra:
            fields.append('\\n'.join(_escape(line) for line in extra.split('\n')))
        if self.show_data:
            fields.append(f"data {_escape(self.number(node.data))}")
        if self.show_grad:
            text = self.grad_texts.get(node)
            fields.append(_escape(self.grad_text(self.grad_of(node)) if text is None else text))
        style = {'style': 'filled', 'fillcolor': self.fill(node, self.grad_of(node))}
        uid = self.layout.uid(node)
        if uid in self.outlines:
            style.update(color=self.outlines[uid], penwidth='3')
        target.node(uid, label='{ ' + ' | '.join(fields or [' ']) + ' }', shape='record', **style)

    def op_node(self, uid: str, label: str, target: graphviz.Digraph, tooltip: str = '') -> None:
        """The small circle of an operation."""
        target.node(uid, label=_escape_plain(label), shape='circle', width='0.3', margin='0.04',
                    style='filled', fillcolor=_OP_COLOR, fontsize='10', tooltip=tooltip or label)

    def draw_sums(self, dot: Digraph) -> None:
        """The grouped weighted sums: a dashed frame around each, or one Σ node each."""
        for k, s in enumerate(self.sums):
            if self.group == 'cluster':
                with dot.subgraph(name=f'cluster_sum{k}') as cluster:
                    cluster.attr(label=f'Σ w·x + b ({len(s.products)} products)', style='dashed,rounded',
                                 color='#888888', fontsize='10')
                    for node in s.members:
                        self.box(node, cluster)
                        if node._prev:
                            self.op_node(self.layout.uid(node) + '_op', node._op, cluster)
                continue
            head = self.layout.uid(s.head)
            kind = 'parameters' if self.layout.knows_parameters else 'leaves'
            folded = f"\n{len(s.folded)} {kind} folded" if s.folded else ''
            # Not "Σ w·x ...": dot 2.43 drops a space that follows a field's first, non-ASCII, letter.
            self.box(s.head, dot, extra=f"w·x + b, {len(s.products)} terms{folded}")
            self.op_node(head + '_op', 'Σ', dot, tooltip=f'weighted sum of {len(s.products)} products')
            dot.edge(head + '_op', head)
            for source in s.external_inputs:
                dot.edge(self.layout.uid(source), head + '_op')

    def draw_other_nodes(self, dot: Digraph) -> None:
        """Every node outside the grouped sums, and every edge."""
        in_a_sum = {node for s in self.sums for node in s.members}
        heads = {s.head for s in self.sums} if self.group == 'collapse' else set()
        for node in self.layout.order:
            if node in self.hidden:
                continue
            uid = self.layout.uid(node)
            if node not in in_a_sum:
                self.box(node, dot)
                if node._prev:
                    self.op_node(uid + '_op', node._op, dot)
            if node._prev and node not in heads:
                dot.edge(uid + '_op', uid)
                for parent in node._prev:
                    dot.edge(self.layout.uid(parent), uid + '_op')

    def key_entries(self) -> tuple[str, list[tuple[str, str, str]]]:
        """The key's title and its (text, fill, ink) boxes, one per colour in the picture."""
        if self.color_by == 'role':
            shown = {self.layout.role(node) for node in self.layout.order if node not in self.hidden}
            if self.group == 'collapse':
                shown |= {self.layout.role(v) for s in self.sums for v in s.folded}
            return 'colour: role', [(role, color, 'black') for role, color in ROLE_COLORS.items()
                                    if role in shown]
        if self.color_by == 'grad':
            return (f'colour: gradient\\ndarker = larger |grad|\\n(largest {self.largest:.4g})',
                    [('grad < 0', _grad_color(-1, 1), 'white'), ('0', '#ffffff', 'black'),
                     ('grad > 0', _grad_color(1, 1), 'white')])
        return '', []

    def draw_key(self, dot: Digraph, sideways: bool) -> None:
        """The colour key: a frame of small boxes.

        Plain boxes rather than an HTML-like table, which the WebAssembly
        build of Graphviz cannot draw.
        """
        label, entries = self.key_entries()
        if not entries:
            return
        with dot.subgraph(name='cluster_key') as key:
            # One rank: a column beside the output in a left-to-right picture, a row under it top-down.
            key.attr(label=label, fontsize='10', style='rounded', color='#bbbbbb', rank='same')
            for k, (text, fill, ink) in enumerate(entries):
                key.node(f'key{k}', label=_escape_plain(text), shape='box', style='filled', fillcolor=fill,
                         fontcolor=ink, fontsize='10', height='0.3', width='0.3', margin='0.1,0.04')
                if k:  # invisible edges keep the table's order; sideways, what dot puts first ends up lowest
                    earlier, later = f'key{k - 1}', f'key{k}'
                    key.edge(*((later, earlier) if sideways else (earlier, later)), style='invis')
        dot.edge(self.layout.uid(self.layout.root), 'key0', style='invis')  # the key follows the output

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
