"""What a picture needs to know about a graph before drawing it.

`GraphLayout` holds the nodes in topological order with their DOT ids,
names, roles and consumers; `find_weighted_sums` finds each neuron's
``w·x + b`` so that the drawer can frame it or fold it into one node; and
`short_parameter_names` turns ``nn``'s dotted parameter names into short
ones.  Nothing here draws, and nothing here imports ``graphviz``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from autodiff.graph import topological_order
from autodiff.pictures.explainer import name_nodes, operation_constants
from autodiff.value import Value


class GraphLayout:
    """The facts a picture needs about a graph: order, ids, names, roles, consumers.

    Node ids are ``n0, n1, ...`` in topological order, so the same graph
    always gives the same DOT source.  Names are the explainer's
    (:func:`autodiff.pictures.explainer.name_nodes`), parameters' dotted names
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
        for node in self.order:
            for parent in node._prev:
                self.consumers[parent].append(node)
        #: Whether any node is known to be a parameter (by class or by ``parameters``).
        self.knows_parameters = bool(self.parameters) or any(
            getattr(type(node), 'is_parameter', False) is True for node in self.order)
        #: Leaves used only as constants of operations (the 3 of ``x ** 3``): they get no gradient,
        #: and no name (the same set the explainer leaves unnamed).
        self.operation_constants = operation_constants(self.order)
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
