"""Pictures of the engine at work: graphs, the chain rule written out, and the backward pass as a film.

* :mod:`~autodiff.pictures.renderers`: which Graphviz can draw here (the
  ``dot`` program or its WebAssembly build) and DOT source → picture bytes.
* :mod:`~autodiff.pictures.digraph`: `Digraph`, a ``graphviz.Digraph`` that
  renders with either and writes its files atomically (imports ``graphviz``).
* :mod:`~autodiff.pictures.layout`: what a picture knows about a graph
  (ids, names, roles, weighted sums), before anything is drawn.
* :mod:`~autodiff.pictures.drawing`: `draw_graph` / `draw_dot` and the
  `GraphDrawer` behind them.
* :mod:`~autodiff.pictures.explainer`: `explain`, every chain-rule step as
  the lecture notes write it.
* :mod:`~autodiff.pictures.player`: `play_backward`, the steps as frames of
  one picture, and the self-contained HTML page that plays them.

Only the standard library is imported until a picture is drawn.

>>> from autodiff import Value
>>> from autodiff.pictures import explain
>>> explain(Value(2.0, label='a') * Value(3.0, label='b')).gradients
{'a': 3.0, 'b': 2.0}
"""

from autodiff.pictures.drawing import GraphDrawer, draw_dot, draw_graph
from autodiff.pictures.explainer import Explanation, explain
from autodiff.pictures.player import BackwardPlayer, play_backward

__all__ = ['draw_graph', 'draw_dot', 'GraphDrawer', 'explain', 'Explanation',
           'play_backward', 'BackwardPlayer']
