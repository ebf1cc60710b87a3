"""`Value`: a scalar that remembers how it was computed.

Every operation returns a new `Value` whose ``_prev`` holds its inputs and
whose ``_op`` names the operation.  `backward` later walks that graph and
applies each operation's rule from :mod:`autodiff.rules`.

Unlike micrograd, a node keeps no ``_backward`` closure (``_backward()`` is
a method that reads the rule table when called).  A closure that refers to
its own node is a reference cycle, so every micrograd graph waits for
Python's cyclic garbage collector; here a graph is freed by reference
counting the moment its root is dropped, and a node is seven slots.

Every operation has one or two inputs, kept in the slots ``_a`` and ``_b``
rather than in a tuple: one allocation per node instead of two, 40 bytes
less, and fewer wake-ups of the cyclic collector, which runs after every
few hundred new container objects.  ``_prev`` rebuilds micrograd's view.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

from autodiff import chain_rule as _chain_rule
from autodiff import modes as _modes
from autodiff.graph import describe
from autodiff.rules import RULES

Number = int | float


class Value:
    """A scalar node of a computation graph (micrograd-compatible).

    >>> a = Value(2.0, label='a')
    >>> b = Value(-3.0, label='b')
    >>> c = a * b + a.exp()
    >>> c.backward()
    >>> round(a.grad, 4), b.grad
    (4.3891, 2.0)
    """

    # '__dict__' lets a node take new attributes (n._vis_color = ..., p.m = 0.0),
    # as a micrograd node does; the dictionary is made only for a node that
    # gets one.  The label lives there too, with the class's '' as default:
    # most nodes have none, so the slot it would take pays for the dictionary's.
    __slots__ = ('data', 'grad', '_op', '_a', '_b', '__dict__')
    label: str = ''
    # The slots' types, for readers and type checkers (annotations only: a
    # slot cannot also have a class-level value).  ``_a`` is the first input,
    # or a tuple of all inputs for a node built micrograd's way (see __init__).
    data: float
    grad: float
    _op: str
    _a: Value | tuple[Value, ...] | None
    _b: Value | None

    # ``data`` may be any real number (a Fraction, a NumPy scalar): it is stored as a float.
    def __init__(self, data: Number | numbers.Real, _children: tuple = (), _op: str = '',
                 label: str = ''):
        self.data = data if type(data) is float else _to_float(data)
        self.grad = 0.0
        if label:
            self.label = label
        self._op = _op
        # A node built here with children is built micrograd's way: its inputs
        # are kept as a tuple (any number of them), and it may be given its own
        # ``_backward``.  The engine's own nodes are built by _result below.
        self._a = tuple(_children) or None
        self._b = None

    @property
    def _prev(self) -> tuple:
        """The inputs this value was computed from: ``()`` for a leaf (micrograd's name).

        >>> x = Value(2.0)
        >>> (x * 3)._prev[0] is x, x._prev
        (True, ())
        """
        a = self._a
        if a is None:
            return ()
        if type(a) is tuple:  # built by Value(data, children, op)
            return a
        return (a,) if self._b is None else (a, self._b)

    def _backward(self) -> None:
        """micrograd's per-node step: add ``upstream × local`` into each input's ``.grad``.

        The local derivatives come from the rule table, computed now: no
        closure is stored on the node.  Assigning ``node._backward = fn`` on
        a node built with ``Value(data, children, op)`` replaces this step
        for that node, and `backward` calls ``fn`` in its place.

        >>> x = Value(3.0)
        >>> y = x * x
        >>> y.grad = 1.0
        >>> y._backward()
        >>> x.grad
        6.0
        """
        _chain_rule.backpropagate((self,))  # the walker, over a one-node order

    # ------------------------------------------------------------------
    # Arithmetic.  Each operation is one row of the table in
    # autodiff/rules.py: FORWARD[op] is its forward function, and its
    # derivative is read from the same row by the chain rule.  For + - *
    # the row's forward is Python's own operator (operator.add, ...), written
    # here as the operator itself: a call saved on the commonest nodes, about
    # 3% of a training step (tests/test_value.py pins that the rows say so).
    # ------------------------------------------------------------------
    def __add__(self, other: Value | Number) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        return _result(self.data + other.data, '+', self, other)

    def __radd__(self, other: Number) -> Value:  # other + self
        return Value(other) + self

    def __sub__(self, other: Value | Number) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        return _result(self.data - other.data, '-', self, other)

    def __rsub__(self, other: Number) -> Value:  # other - self
        return Value(other) - self

    def __mul__(self, other: Value | Number) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        return _result(self.data * other.data, '*', self, other)

    def __rmul__(self, other: Number) -> Value:  # other * self
        return Value(other) * self

    def __truediv__(self, other: Value | Number) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        return _result(FORWARD['/'](self.data, other.data), '/', self, other)

    def __rtruediv__(self, other: Number) -> Value:  # other / self
        return Value(other) / self

    def __pow__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):  # a differentiable exponent
            return _result(FORWARD['pow'](self.data, other.data), 'pow', self, other)
        exponent = Value(other)  # a constant of the operation, as in x ** 2
        return _result(FORWARD['**'](self.data, exponent.data), '**', self, exponent)

    def __rpow__(self, other: Number) -> Value:  # other ** self: the base is a constant
        base = Value(other)
        return _result(FORWARD['rpow'](base.data, self.data), 'rpow', base, self)

    def __neg__(self) -> Value:
        return _result(FORWARD['neg'](self.data), 'neg', self)

    def __pos__(self) -> Value:
        return self

    def __abs__(self) -> Value:
        return _result(FORWARD['abs'](self.data), 'abs', self)

    # ------------------------------------------------------------------
    # Functions.
    # ------------------------------------------------------------------
    def exp(self) -> Value:
        """e ** self (inf on overflow).  ``Value(0.0).exp().data == 1.0``"""
        return _result(FORWARD['exp'](self.data), 'exp', self)

    def log(self) -> Value:
        """Natural logarithm; ``ValueError`` unless data > 0.  ``Value(1.0).log().data == 0.0``"""
        return _result(FORWARD['log'](self.data), 'log', self)

    def log1p(self) -> Value:
        """log(1 + self), accurate near 0; ``ValueError`` unless data > -1."""
        return _result(FORWARD['log1p'](self.data), 'log1p', self)

    def sqrt(self) -> Value:
        """Square root; ``ValueError`` for negative data.  ``Value(9.0).sqrt().data == 3.0``"""
        return _result(FORWARD['sqrt'](self.data), 'sqrt', self)

    def sin(self) -> Value:
        """Sine (radians).  ``Value(0.0).sin().data == 0.0``"""
        return _result(FORWARD['sin'](self.data), 'sin', self)

    def cos(self) -> Value:
        """Cosine (radians).  ``Value(0.0).cos().data == 1.0``"""
        return _result(FORWARD['cos'](self.data), 'cos', self)

    def tanh(self) -> Value:
        """Hyperbolic tangent; ``Value(1000.0).tanh().data == 1.0``."""
        return _result(FORWARD['tanh'](self.data), 'tanh', self)

    def sigmoid(self) -> Value:
        """1 / (1 + e^-self), stable: ``Value(-1000.0).sigmoid().data == 0.0``."""
        return _result(FORWARD['sigmoid'](self.data), 'sigmoid', self)

    def relu(self) -> Value:
        """max(self, 0); its slope at 0 is taken as 0 (PyTorch's convention)."""
        return _result(FORWARD['relu'](self.data), 'relu', self)

    def leaky_relu(self, negative_slope: float = 0.01) -> Value:
        """self if positive, else ``negative_slope * self``.

        >>> Value(-2.0).leaky_relu(0.1).data
        -0.2
        """
        slope = Value(negative_slope)  # a constant of the operation
        return _result(FORWARD['leaky_relu'](self.data, slope.data), 'leaky_relu', self, slope)

    def softplus(self) -> Value:
        """log(1 + e^self) without overflow; a smooth relu.  Its slope is sigmoid."""
        return _result(FORWARD['softplus'](self.data), 'softplus', self)

    def abs(self) -> Value:
        """|self|, the same as ``abs(v)``; its slope at 0 is 0 (PyTorch's convention)."""
        return abs(self)

    def max(self, other: Value | Number) -> Value:
        """The larger of two values; on a tie each input gets half the gradient.

        >>> Value(2.0).max(3.0).data
        3.0
        """
        other = other if isinstance(other, Value) else Value(other)
        return _result(FORWARD['max'](self.data, other.data), 'max', self, other)

    def min(self, other: Value | Number) -> Value:
        """The smaller of two values; on a tie each input gets half the gradient.

        >>> Value(2.0).min(3.0).data
        2.0
        """
        other = other if isinstance(other, Value) else Value(other)
        return _result(FORWARD['min'](self.data, other.data), 'min', self, other)

    # ------------------------------------------------------------------
    # Gradients.
    # ------------------------------------------------------------------
    def backward(self, gradient: Value | Number = 1.0, *, create_graph: bool = False) -> None:
        """Fill in ``.grad`` of every node this value depends on (reverse mode).

        ``gradient`` seeds ``self.grad``.  Leaves accumulate across calls
        (call ``zero_grad`` between steps); a non-leaf shows this pass only.
        With ``create_graph=True`` the gradients are themselves `Value`
        graphs, ready to be differentiated again.

        >>> x = Value(3.0)
        >>> y = x * x
        >>> y.backward(create_graph=True)
        >>> x.grad.data              # dy/dx = 2x
        6.0
        >>> x.grad.backward()        # adds d(2x)/dx = 2 to x.grad
        """
        seed = gradient if isinstance(gradient, Value) else _seed(gradient)
        order = _chain_rule.backward(self, seed, create_graph)
        if create_graph:  # every gradient a Value, ready to be differentiated again
            for node in order:
                if not isinstance(node.grad, Value):
                    node.grad = Value(node.grad)

    def detach(self) -> Value:
        """A new leaf with the same data: a constant, cut from the graph.

        >>> Value(2.0).exp().detach()._prev
        ()
        """
        return Value(self.data)

    def item(self) -> float:
        """The data as a float (PyTorch's name).  ``Value(2).item() == 2.0``"""
        return self.data

    def __float__(self) -> float:
        return self.data

    def __format__(self, spec: str) -> str:
        # f"{v:.3f}" formats the data; f"{v}" is the repr.
        return format(self.data, spec) if spec else repr(self)

    def __repr__(self) -> str:
        if self.label:
            return f"Value(data={self.data}, grad={self.grad}, label={self.label!r})"
        return f"Value(data={self.data}, grad={self.grad})"


def _seed(gradient: object) -> float:
    if isinstance(gradient, (int, float)) and not isinstance(gradient, bool):
        return float(gradient)
    raise TypeError(f"backward: gradient must be a number or a Value, got {gradient!r}")


def apply(op: str, *inputs: Value | Number) -> Value:
    """Run operation ``op`` of the rule table on one or two inputs (Values or numbers).

    Every row of the table is an operation: registering a rule with
    `autodiff.defrule` is all it takes to add one, and backward,
    ``create_graph``, compiled code and the explainer all read that row.

    >>> from autodiff import defrule
    >>> defrule('cube', lambda x: x ** 3, lambda m, out, x: (3 * x * x,))
    >>> x = Value(2.0)
    >>> y = apply('cube', x)
    >>> y.data, y._op
    (8.0, 'cube')
    >>> y.backward(); x.grad
    12.0
    >>> del RULES['cube']
    """
    rule = RULES.get(op)
    if rule is None:
        raise KeyError(f"no operation {op!r} in the rule table; known: {', '.join(RULES)}")
    if not 1 <= len(inputs) <= 2:
        raise ValueError(f"an operation takes one or two inputs; {op!r} was given {len(inputs)}")
    nodes = [v if isinstance(v, Value) else Value(v) for v in inputs]
    return _result(rule.forward(*[v.data for v in nodes]), op, *nodes)


def weighted_sum(bias: Value, weights: Sequence[Value], inputs: Sequence[Value | Number]) -> Value:
    """``bias + w0*x0 + w1*x1 + ...`` (a neuron's sum): the nodes of that loop, built faster.

    The graph and every float are exactly those of ``act = act + w * x``
    over the pairs, from ``act = bias``; only the building is cheaper.  Each
    ``+`` or ``*`` written as an operator costs a dispatch from C into a
    Python method and a call of `_result`, more than the node itself; here
    the two nodes of each term are built in this one frame (about a third
    of the forward pass of a training step).  A number among ``inputs``
    becomes a leaf, as the operator makes it.  While some thread records
    nothing or checks anomalies, the operators themselves build the sum.

    >>> w, x = [Value(2.0), Value(3.0)], [Value(5.0), 7.0]
    >>> total = weighted_sum(Value(1.0), w, x)
    >>> total.data, total._op, total._a._op, total._b._op, total._b._b.data
    (32.0, '+', '+', '*', 7.0)
    """
    act = bias
    if not _modes.fast_path:
        for w, x in zip(weights, inputs):
            act = act + w * x
        return act
    new = _new_node
    for w, x in zip(weights, inputs):
        if not isinstance(x, Value):
            x = Value(x)
        term = new(Value)
        term.data = w.data * x.data
        term.grad = 0.0
        term._op = '*'
        term._a = w
        term._b = x
        total = new(Value)
        total.data = act.data + term.data
        total.grad = 0.0
        total._op = '+'
        total._a = act
        total._b = term
        act = total
    return act


def _to_float(data: object) -> float:
    """Convert a real number to float; reject everything else by name."""
    if isinstance(data, numbers.Real):  # int, bool, Fraction, NumPy scalars ...
        return float(data)
    raise TypeError(
        f"Value needs a real number, got {data!r} of type {type(data).__name__}"
    )


#: Each operation's forward function, read once from the table: value.py
#: computes no forward value of its own.
FORWARD = {op: rule.forward for op, rule in RULES.items()}

# One allocation routine for every operation's result.  Building the node
# slot by slot (instead of calling Value(...)) skips __init__'s argument
# parsing and type check, which the forward values here never need.
_new_node = object.__new__


def _result(data: float, op: str, a: Value, b: Value | None = None) -> Value:
    """The node ``op(a)`` or ``op(a, b)`` with forward value ``data``."""
    out = _new_node(Value)
    out.data = data
    out.grad = 0.0
    if _modes.fast_path:  # recording, no anomaly checks: the common case
        out._op = op
        out._a = a
        out._b = b
        return out
    if _modes.is_anomaly_enabled() and not math.isfinite(data):
        inputs = (a,) if b is None else (a, b)
        raise _modes.AnomalyError(
            f"{op} produced {data} in the forward pass; inputs: {describe(inputs)}"
        )
    out._op, out._a, out._b = (op, a, b) if _modes.is_grad_enabled() else ('', None, None)
    return out
