"""Every use of the chain rule in a graph, as the checker needs it, from the engine's one walker.

`trace_shares` runs :func:`autodiff.chain_rule.backpropagate` with a combine
that records each *share* ``upstream × local`` an input receives, and the true
gradient of every node.  Next to the local derivative it keeps two wrong ones
that learners often use, both computed by the same rule of the rule table:

* ``other_local``: the derivative with respect to the operation's *other*
  input (for a product that is this input's own value: the factors swapped);
* ``local_on_input``: the rule run with the input where the output belongs
  (for ``exp`` that is ``x`` instead of ``exp(x)``; for ``tanh``, ``1 − x²``).

No derivative is written here: every number comes from :data:`autodiff.RULES`.

>>> from autodiff import Value
>>> x = Value(0.5, label='x')
>>> trace = trace_shares(x.tanh())
>>> [share] = trace.shares
>>> round(share.local, 4), share.local_on_input   # 1 - tanh(0.5)², and 1 - 0.5²
(0.7864, 0.75)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autodiff.chain_rule import backpropagate
from autodiff.graph import topological_order
from autodiff.rule_math import FLOAT_MATH
from autodiff.rules import RULES
from autodiff.value import Value


@dataclass(frozen=True)
class Share:
    """One use of the chain rule: ``input`` receives ``upstream · local`` from ``output``."""

    output: Value = field(repr=False)
    position: int
    input: Value = field(repr=False)
    upstream: float
    local: float
    contribution: float
    other_local: float | None = None      # ∂output/∂(the other input), if there is one
    local_on_input: float | None = None   # the rule run on the input instead of the output


@dataclass
class Trace:
    """The graph's nodes (inputs first), every share in backward order, and each node's true gradient."""

    order: list[Value]
    shares: list[Share]
    gradients: dict[Value, float]

    def shares_into(self, node: Value) -> list[Share]:
        """The shares ``node`` receives, one per use, in the order the walker hands them out."""
        return [share for share in self.shares if share.input is node]


def trace_shares(root: Value, seed: float = 1.0) -> Trace:
    """Run the chain-rule walker from ``root``, recording every share; the graph's ``.grad`` stays as it was.

    >>> from autodiff import Value
    >>> x, y = Value(2.0, label='x'), Value(5.0, label='y')
    >>> trace = trace_shares(x * y)
    >>> [(s.local, s.other_local) for s in trace.shares]
    [(5.0, 2.0), (2.0, 5.0)]
    """
    order = topological_order(root)
    locals_of: dict[Value, dict[int, float]] = {}
    recorded: list[tuple[Value, int, Value, float, float, float]] = []

    def record(node: Value, position: int, parent: Value, local: float, contribution: float) -> None:
        parent.grad += contribution
        locals_of.setdefault(node, {})[position] = local
        recorded.append((node, position, parent, node.grad, local, contribution))

    saved = [node.grad for node in order]
    try:
        for node in order:
            node.grad = 0.0
        root.grad = float(seed)
        backpropagate(order, record)
        gradients = {node: node.grad for node in order}
    finally:
        for node, old in zip(order, saved):
            node.grad = old
    shares = [Share(node, position, parent, upstream, local, contribution,
                    other_local=locals_of[node].get(1 - position) if len(node._prev) == 2 else None,
                    local_on_input=_rule_on_input(node, local))
              for node, position, parent, upstream, local, contribution in recorded]
    return Trace(order, shares, gradients)


def _rule_on_input(node: Value, local: float) -> float | None:
    """A one-input operation's rule run with its input as its output; ``None`` if that changes nothing."""
    if len(node._prev) != 1:
        return None
    x = node._prev[0].data
    try:
        (wrong,) = RULES[node._op].partials(FLOAT_MATH, x, x)
    except (ArithmeticError, ValueError, TypeError, KeyError):
        return None
    return None if wrong is None or wrong == local else float(wrong)
