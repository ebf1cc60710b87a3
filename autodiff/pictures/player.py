"""The backward pass as a film: one graph picture, restyled step by step.

``play_backward(root)`` makes the frames: the graph after the forward pass
(no gradient known yet), then the seed ∂root/∂root, then one frame per step
of :func:`autodiff.pictures.explainer.explain`, with the node whose gradient
is being passed back outlined in red, the node receiving its share in
orange, and every gradient known so far filled in (``grad ?`` where none
has arrived).

A frame records only what changes: the boxes to outline and the gradient
that arrives.  ``save_html(path)`` writes one self-contained page (no network
access) that any browser opens: the graph drawn *once*, as inline SVG, the
frames as a small JSON list, and a few lines of JavaScript that restyle
that one picture (outlines, grad texts) as you step with the previous /
play / next buttons, the slider or the arrow keys.  The page therefore
grows linearly with the graph.  Each box is sized for the longest grad
text it will show, so no text outgrows its box in any frame.

In a notebook, display the player itself, or any frame (``player[3]``),
whose picture is drawn when it is asked for.

>>> from autodiff import Value
>>> x, y = Value(2.0, label='x'), Value(-1.0, label='y')
>>> player = play_backward(x * y)
>>> [frame.caption for frame in player][:2]
['Forward pass done: v1 = -2. No gradient is known yet.', 'Seed: ∂v1/∂v1 = 1']
>>> len(player), [(node.label, g) for node, g in player[2].arrived.items()]
(4, [('x', -1.0)])
"""

from __future__ import annotations

import html
import itertools
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autodiff.files import write_atomically
from autodiff.graph import topological_order
from autodiff.pictures.drawing import GraphDrawer, draw_graph
from autodiff.pictures.explainer import BackwardStep, Explanation, explain
from autodiff.value import Value

if TYPE_CHECKING:
    from autodiff.pictures.digraph import Digraph

#: Outline of the node whose gradient flows back, and of the node receiving it.
SENDING, RECEIVING = '#d62728', '#ff7f0e'

#: `draw_graph` options that are about the whole picture rather than its boxes.
_PICTURE_OPTIONS = ('rankdir', 'format', 'legend', 'title', 'renderer')

_player_ids = itertools.count(1)


@dataclass
class Frame:
    """One step of the film: its ``caption``, the ``step`` shown (``None`` for the
    first two frames), the boxes it ``outline``s (node → color) and the
    gradients that ``arrived`` in it (node → ∂root/∂node so far).

    ``graph`` draws the frame as a ``graphviz.Digraph``; a frame displays
    inline in Jupyter as that picture.
    """

    index: int
    caption: str
    step: BackwardStep | None
    outline: dict[Value, str] = field(repr=False)
    arrived: dict[Value, float] = field(repr=False)
    player: BackwardPlayer = field(repr=False, compare=False)

    @property
    def graph(self) -> Digraph:
        """The whole graph as this frame shows it (drawn now, on every call)."""
        return self.player.picture(self.index)

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

    def __init__(self, root: Value, explanation: Explanation, title: str, draw_options: dict) -> None:
        self.root = root
        self.explanation = explanation
        self.title = title
        self.draw_options = draw_options
        self.frames: list[Frame] = []

    def __iter__(self) -> Iterator[Frame]:
        return iter(self.frames)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> Frame:
        return self.frames[index]

    def add_frame(self, caption: str, step: BackwardStep | None, outline: dict[Value, str],
                  arrived: dict[Value, float]) -> Frame:
        """Append a frame (`play_backward` builds the film with this)."""
        frame = Frame(len(self.frames), caption, step, outline, arrived, self)
        self.frames.append(frame)
        return frame

    def known_after(self, index: int) -> dict[Value, float]:
        """Every gradient known once frame ``index`` is shown."""
        known: dict[Value, float] = {}
        for frame in self.frames[:index + 1]:
            known.update(frame.arrived)
        return known

    def grad_scale(self) -> float:
        """The largest finite |gradient| of the film: the darkest colour when coloring by gradient."""
        finals = [g for frame in self.frames for g in frame.arrived.values() if math.isfinite(g)]
        return max(map(abs, finals), default=0.0)

    def picture(self, index: int) -> Digraph:
        """Frame ``index`` drawn as a whole ``graphviz.Digraph``."""
        frame = self.frames[index]
        options = {'grad_scale': self.grad_scale(), **self.draw_options}
        return draw_graph(self.root, grads=self.known_after(index), highlight=frame.outline, **options)

    def film_picture(self) -> tuple[Digraph, dict]:
        """The one picture the page shows (a ``Digraph``, not yet rendered) and the frames as data."""
        box_options = {k: v for k, v in self.draw_options.items() if k not in _PICTURE_OPTIONS}
        picture_options = {k: v for k, v in self.draw_options.items() if k in _PICTURE_OPTIONS}
        box_options.setdefault('grad_scale', self.grad_scale())
        drawer = GraphDrawer(self.root, grads={}, **box_options)
        shown = [node for node in drawer.layout.order if node not in drawer.hidden]
        texts = {node: [drawer.grad_text(None)] for node in shown}
        for frame in self.frames:
            for node, g in frame.arrived.items():
                if node in texts:
                    texts[node].append(drawer.grad_text(g))
        # Each box is drawn with the longest text it will show, so that every frame's text fits.
        drawer.grad_texts = {node: max(options, key=len) for node, options in texts.items()}
        picture = drawer.draw(**picture_options)
        return picture, _frames_as_data(self.frames, drawer, shown)

    def html(self, standalone: bool = True) -> str:
        """The player as HTML: a whole page, or (``standalone=False``) a block for a notebook."""
        uid = f"chainrule-player-{next(_player_ids)}"
        picture, data = self.film_picture()
        body = _PLAYER_BODY.format(uid=uid, title=html.escape(self.title), svg=_inline_svg(picture.svg()),
                                   caption=html.escape(self.frames[0].caption), film=_script_json(data),
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
        """Write the self-contained player page to ``path`` (atomically); returns the path."""
        write_atomically(path, self.html().encode('utf-8'))
        return os.fspath(path)

    def _repr_html_(self) -> str:
        return self.html(standalone=False)


def play_backward(root: Value, gradient: float = 1.0, title: str | None = None,
                  **draw_options: Any) -> BackwardPlayer:
    """The frames of the backward pass from ``root`` (nothing in the graph is changed).

    ``draw_options`` go to :func:`autodiff.pictures.drawing.draw_graph`
    (``rankdir``, ``group``, ``renderer``, ``number_format`` ...); the player
    sets ``grads`` and ``highlight`` itself.  Boxes carry the same names as
    the captions (``short_names=False`` unless you pass it), so ``∂g/∂v1``
    in a caption is the box named ``v1``.

    >>> from autodiff import Value
    >>> a = Value(2.0, label='a')
    >>> frames = list(play_backward(a * a))
    >>> frames[-1].step.total
    4.0
    """
    taken = sorted({'grads', 'highlight'} & set(draw_options))
    if taken:
        raise ValueError(f"play_backward sets {' and '.join(taken)} itself: leave {' and '.join(taken)} out")
    explanation = explain(root, gradient)
    draw_options.setdefault('short_names', False)  # the captions use the full labels
    name = title or f"Backward pass of {explanation.root}, step by step"
    player = BackwardPlayer(root, explanation, name, draw_options)
    # The explainer names every node except the constants of operations
    # (the 3 of x ** 3): those never get a gradient, so they show 0 from the start.
    constants = [node for node in topological_order(root) if node not in explanation.names]
    player.add_frame(f"Forward pass done: {explanation.root} = {_value_text(root.data)}. "
                     "No gradient is known yet.", None, {}, dict.fromkeys(constants, 0.0))
    player.add_frame(f"Seed: ∂{explanation.root}/∂{explanation.root} = {_value_text(explanation.seed)}",
                     None, {root: SENDING}, {root: explanation.seed})
    for step in explanation.steps:
        # explain() records both nodes of every step (the fields are optional only for hand-made steps).
        assert step.output_node is not None and step.input_node is not None
        player.add_frame(f"{step.index}. {step.text()}", step,
                         {step.output_node: SENDING, step.input_node: RECEIVING},
                         {step.input_node: step.total})
    return player


def _frames_as_data(frames: list[Frame], drawer: GraphDrawer, shown: list[Value]) -> dict:
    """The film as JSON-ready lists: the boxes' first state, then per frame what to outline,
    what to set going forward, and what to set back going backward.

    A box's state is ``[id, grad text]``, plus its fill when the colors follow the gradients.
    """
    with_fill = drawer.color_by == 'grad'

    def state(node: Value, g: float | None) -> list[str | None]:  # None: a box not drawn
        entry = [drawer.box_id(node), drawer.grad_text(g)]
        return entry + [drawer.fill(node, g)] if with_fill else entry

    current: dict[Value, float | None] = dict.fromkeys(shown)
    current.update((node, g) for node, g in frames[0].arrived.items() if node in current)
    start = [state(node, g) for node, g in current.items()]
    data = []
    for frame in frames:
        forward, backward = [], []
        if frame.index > 0:
            for node, g in frame.arrived.items():
                if node in current:
                    backward.append(state(node, current[node]))
                    forward.append(state(node, g))
                    current[node] = g
        outlines = drawer.outlines_by_box(frame.outline)
        data.append({'caption': frame.caption, 'outline': [[uid, color] for uid, color in outlines.items()],
                     'forward': forward, 'backward': backward})
    return {'showsGrad': bool(drawer.show_grad), 'start': start, 'frames': data}


def _script_json(data: dict) -> str:
    """JSON that can sit inside a <script> element: no ``</script>`` can appear in it."""
    text = json.dumps(data, ensure_ascii=False, separators=(',', ':'))
    return text.replace('&', '\\u0026').replace('<', '\\u003c').replace('>', '\\u003e')


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

_PLAYER_BODY = """<div id="{uid}" class="chainrule-player" tabindex="0" data-current="0">
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
<figure class="film">{svg}<figcaption>{caption}</figcaption></figure>
<script type="application/json" class="frames">{film}</script>
</div>"""

# The picture is drawn once; each frame restyles it.  Boxes are found by their DOT id
# (the <title> Graphviz writes in each node's group); a record's outline is its polygon
# and its grad field is its last text.
_PLAYER_SCRIPT = """
(function () {
  var root = document.getElementById(__UID__);
  var standalone = __STANDALONE__;
  var film = JSON.parse(root.querySelector('script.frames').textContent);
  var frames = film.frames;
  var slider = root.querySelector('.slider');
  var counter = root.querySelector('.counter');
  var caption = root.querySelector('figcaption');
  var playButton = root.querySelector('.play');
  var boxes = {};
  root.querySelectorAll('figure.film svg g.node').forEach(function (node) {
    var shape = node.querySelector('polygon'), texts = node.querySelectorAll('text');
    if (!shape) { return; }
    boxes[node.querySelector('title').textContent] = {shape: shape,
      grad: film.showsGrad && texts.length ? texts[texts.length - 1] : null,
      stroke: shape.getAttribute('stroke'), width: shape.getAttribute('stroke-width')};
  });
  function restyle(states) {
    states.forEach(function (s) {
      var box = boxes[s[0]];
      if (!box) { return; }
      if (box.grad) { box.grad.textContent = s[1]; }
      if (s.length > 2) { box.shape.setAttribute('fill', s[2]); }
    });
  }
  var outlined = [];
  function outline(pairs) {
    outlined.forEach(function (box) {
      box.shape.setAttribute('stroke', box.stroke);
      if (box.width === null) { box.shape.removeAttribute('stroke-width'); }
      else { box.shape.setAttribute('stroke-width', box.width); }
      box.shape.parentNode.classList.remove('outlined');
    });
    outlined = [];
    pairs.forEach(function (pair) {
      var box = boxes[pair[0]];
      if (!box) { return; }
      box.shape.setAttribute('stroke', pair[1]);
      box.shape.setAttribute('stroke-width', '3');
      box.shape.parentNode.classList.add('outlined');
      outlined.push(box);
    });
  }
  var current = 0, timer = null;
  restyle(film.start);
  function show(i) {
    var target = Math.max(0, Math.min(frames.length - 1, i));
    while (current < target) { current += 1; restyle(frames[current].forward); }
    while (current > target) { restyle(frames[current].backward); current -= 1; }
    outline(frames[current].outline);
    caption.textContent = frames[current].caption;
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
