"""Pictures of computation graphs with Graphviz (``draw_graph``, alias ``draw_dot``).

The ``graphviz`` package is imported only when a picture is asked for, so
the engine itself needs nothing outside the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from autodiff.backward import topological_order
from autodiff.value import Value

if TYPE_CHECKING:
    import graphviz


def draw_graph(root: Value, rankdir: str = 'LR', format: str = 'svg') -> graphviz.Digraph:
    """A Graphviz picture of the graph below ``root``: one box per value
    (label, data, grad), one small node per operation between its inputs
    and its output.  Displays inline in Jupyter.

    >>> x = Value(2.0, label='x')
    >>> dot = draw_graph(x * x)
    >>> 'x | data 2.0000' in dot.source
    True
    """
    import graphviz

    if rankdir not in ('LR', 'TB', 'RL', 'BT'):
        raise ValueError(f"rankdir must be one of 'LR', 'TB', 'RL', 'BT', got {rankdir!r}")
    dot = graphviz.Digraph(format=format, graph_attr={'rankdir': rankdir})
    for node in topological_order(root):
        uid = str(id(node))
        text = f"{node.label} | " if node.label else ""
        dot.node(uid, label=f"{{ {text}data {_number(node.data)} | grad {_number(node.grad)} }}",
                 shape='record')
        if node._prev:
            dot.node(uid + node._op, label=node._op, shape='circle')
            dot.edge(uid + node._op, uid)
            for parent in node._prev:
                dot.edge(str(id(parent)), uid + node._op)
    return dot


def _number(x: Value | float) -> str:
    return f"{x.data if isinstance(x, Value) else x:.4f}"


#: micrograd's notebook name for the same function.
draw_dot = draw_graph
