"""The backward pass as a film: one graph picture per chain-rule step.

``play_backward(root)`` makes the frames: the graph after the forward pass
(no gradient known yet), then the seed ∂root/∂root, then one frame per step
of :func:`autodiff.explain.explain`, with the node whose gradient is being
passed back outlined in red, the node receiving its share in orange, and
every gradient known so far filled in (``grad ?`` where none has arrived).

In a notebook, iterate the frames (each displays as SVG) or display the
player itself; ``save_html(path)`` writes one self-contained HTML file (SVG
frames inline, previous / play / next buttons, a slider, the arrow keys,
no network access) that any browser opens.

>>> from autodiff import Value
>>> x, y = Value(2.0, label='x'), Value(-1.0, label='y')
>>> player = play_backward(x * y)
>>> [frame.caption for frame in player][:2]
['Forward pass done: v1 = -2. No gradient is known yet.', 'Seed: ∂v1/∂v1 = 1']
>>> len(player)
4
"""

from __future__ import annotations

import html
import itertools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from autodiff.explain import BackwardStep, Explanation, explain
from autodiff.files import write_atomically
from autodiff.value import Value
from autodiff.visualize import draw_graph

if TYPE_CHECKING:
    from autodiff.render_graph import Digraph

#: Outline of the node whose gradient flows back, and of the node receiving it.
SENDING, RECEIVING = '#d62728', '#ff7f0e'

_player_ids = itertools.count(1)


@dataclass
class Frame:
    """One picture of the backward pass: its ``caption``, the ``step`` shown
    (``None`` for the first two frames) and the ``graph`` (a ``graphviz.Digraph``).

    Displays inline in Jupyter as the graph's SVG.
    """

    index: int
    caption: str
    step: BackwardStep | None
    graph: Digraph = field(repr=False)

    def svg(self) -> str:
        """The frame's picture as SVG text."""
        return self.graph.svg()

    def _repr_mimebundle_(self, include=None, exclude=None):
        return self.graph._repr_mimebundle_(include, exclude)


class BackwardPlayer:
    """The frames of one backward pass, and the HTML page that plays them.

    >>> from autodiff import Value
    >>> player = play_backward(Value(3.0, label='a').relu())
    >>> player[-1].caption
    '1. ∂v1/∂a = ∂v1/∂v1 · ∂v1/∂a = 1 · heaviside(a, 0) = 1 · 1 = 1'
    """

    def __init__(self, root: Value, explanation: Explanation, frames: list[Frame], title: str):
        self.root = root
        self.explanation = explanation
        self.frames = frames
        self.title = title

    def __iter__(self) -> Iterator[Frame]:
        return iter(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> Frame:
        return self.frames[index]

    def html(self, standalone: bool = True) -> str:
        """The player as HTML: a whole page, or (``standalone=False``) a block for a notebook."""
        uid = f"chainrule-player-{next(_player_ids)}"
        figures = '\n'.join(
            f'<figure class="frame"{"" if i == 0 else " hidden"} data-index="{i}">'
            f'{_inline_svg(frame.svg())}<figcaption>{html.escape(frame.caption)}</figcaption></figure>'
            for i, frame in enumerate(self.frames))
        body = _PLAYER_BODY.format(uid=uid, title=html.escape(self.title), figures=figures,
                                   last=len(self.frames) - 1, count=len(self.frames))
        script = _PLAYER_SCRIPT.replace('__UID__', json.dumps(uid)).replace(
            '__STANDALONE__', 'true' if standalone else 'false')
        block = f"<style>{_PLAYER_CSS.replace('#UID', '#' + uid)}</style>\n{body}\n<script>{script}</script>"
        if not standalone:
            return block
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
                f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
                f'<title>{html.escape(self.title)}</title></head>\n<body>\n{block}\n</body></html>\n')

    def save_html(self, path: str | os.PathLike) -> str:
        """Write the self-contained player page to ``path``; returns the path."""
        write_atomically(path, self.html().encode('utf-8'))
        return os.fspath(path)

    def _repr_html_(self) -> str:
        return self.html(standalone=False)


def play_backward(root: Value, gradient: float = 1.0, title: str | None = None,
                  **draw_options) -> BackwardPlayer:
    """The frames of the backward pass from ``root`` (nothing in the graph is changed).

    ``draw_options`` go to :func:`autodiff.visualize.draw_graph` (``rankdir``,
    ``group``, ``renderer``, ``number_format`` ...).  Boxes carry the same
    names as the captions (``short_names=False`` unless you pass it), so
    ``∂g/∂v1`` in a caption is the box named ``v1``.

    >>> from autodiff import Value
    >>> a = Value(2.0, label='a')
    >>> frames = list(play_backward(a * a))
    >>> frames[-1].step.total
    4.0
    """
    explanation = explain(root, gradient)
    draw_options.setdefault('short_names', False)  # the captions use the full labels
    # The explainer names every node except the constants of operations
    # (the 3 of x ** 3): those never get a gradient, so they show 0 from the start.
    known: dict[Value, float] = dict.fromkeys(_unnamed(root, explanation.names), 0.0)
    frames = [Frame(0, f"Forward pass done: {explanation.root} = {_value_text(root.data)}. "
                       "No gradient is known yet.", None,
                    draw_graph(root, grads=dict(known), **draw_options))]
    known[root] = explanation.seed
    frames.append(Frame(1, f"Seed: ∂{explanation.root}/∂{explanation.root} = {_value_text(explanation.seed)}",
                        None, draw_graph(root, grads=dict(known), highlight={root: SENDING}, **draw_options)))
    for step in explanation.steps:
        known[step.input_node] = step.total
        outline = {step.output_node: SENDING, step.input_node: RECEIVING}
        frames.append(Frame(len(frames), f"{step.index}. {step.text()}", step,
                            draw_graph(root, grads=dict(known), highlight=outline, **draw_options)))
    name = title or f"Backward pass of {explanation.root}, step by step"
    return BackwardPlayer(root, explanation, frames, name)


def _unnamed(root: Value, names: dict[Value, str]) -> list[Value]:
    from autodiff.graph import topological_order

    return [node for node in topological_order(root) if node not in names]


def _value_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:.4g}"


def _inline_svg(svg: str) -> str:
    """An SVG document made fit to sit inside HTML: no XML prolog, no DOCTYPE, scalable."""
    svg = re.sub(r'<\?xml[^>]*\?>', '', svg)
    svg = re.sub(r'<!DOCTYPE[^>]*>', '', svg, flags=re.DOTALL)
    svg = re.sub(r'<!--.*?-->', '', svg, flags=re.DOTALL)
    return svg.strip()


_PLAYER_CSS = """
#UID { font-family: Helvetica, Arial, sans-serif; max-width: 100%; outline: none; }
#UID .controls { display: flex; gap: 8px; align-items: center; margin: 6px 0; flex-wrap: wrap; }
#UID button { font-size: 15px; padding: 4px 12px; cursor: pointer; }
#UID input[type=range] { flex: 1; min-width: 120px; }
#UID .counter { font-variant-numeric: tabular-nums; min-width: 7em; }
#UID figure { margin: 0; }
#UID figure svg { max-width: 100%; height: auto; }
#UID figcaption { font-family: Menlo, Consolas, monospace; font-size: 15px; margin: 6px 0 10px;
  padding: 6px 10px; background: #f6f6f6; border-left: 4px solid #d62728; white-space: pre-wrap; }
#UID .key { color: #555; font-size: 13px; }
"""

_PLAYER_BODY = """<div id="{uid}" class="chainrule-player" tabindex="0">
<h3>{title}</h3>
<div class="controls">
<button type="button" class="prev" title="previous step (left arrow)">&#9664; Previous</button>
<button type="button" class="play" title="play / pause (space)">&#9654; Play</button>
<button type="button" class="next" title="next step (right arrow)">Next &#9654;</button>
<input type="range" class="slider" min="0" max="{last}" value="0" aria-label="frame">
<span class="counter">frame 1 of {count}</span>
</div>
<div class="key">red outline: the node passing its gradient back &middot; orange: the input receiving
its share &middot; grad ?: no gradient has arrived yet &middot; keys: &larr; &rarr; space Home End</div>
<div class="frames">
{figures}
</div>
</div>"""

_PLAYER_SCRIPT = """
(function () {
  var root = document.getElementById(__UID__);
  var standalone = __STANDALONE__;
  var frames = root.querySelectorAll('figure.frame');
  var slider = root.querySelector('.slider');
  var counter = root.querySelector('.counter');
  var playButton = root.querySelector('.play');
  var current = 0, timer = null;
  function show(i) {
    current = Math.max(0, Math.min(frames.length - 1, i));
    for (var k = 0; k < frames.length; k++) { frames[k].hidden = (k !== current); }
    slider.value = current;
    counter.textContent = 'frame ' + (current + 1) + ' of ' + frames.length;
    root.setAttribute('data-current', current);
  }
  function pause() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    playButton.innerHTML = '&#9654; Play';
  }
  function play() {
    if (current >= frames.length - 1) { show(0); }
    playButton.innerHTML = '&#10074;&#10074; Pause';
    timer = setInterval(function () {
      if (current >= frames.length - 1) { pause(); } else { show(current + 1); }
    }, 1200);
  }
  root.querySelector('.prev').addEventListener('click', function () { pause(); show(current - 1); });
  root.querySelector('.next').addEventListener('click', function () { pause(); show(current + 1); });
  playButton.addEventListener('click', function () { if (timer === null) { play(); } else { pause(); } });
  slider.addEventListener('input', function () { pause(); show(parseInt(slider.value, 10)); });
  (standalone ? document : root).addEventListener('keydown', function (event) {
    var moves = {ArrowLeft: current - 1, ArrowRight: current + 1, Home: 0, End: frames.length - 1};
    if (event.key in moves) { pause(); show(moves[event.key]); event.preventDefault(); }
    else if (event.key === ' ') { playButton.click(); event.preventDefault(); }
  });
  var start = parseInt((standalone && location.hash.slice(1)) || '0', 10);
  show(isNaN(start) ? 0 : start);
})();
"""
