"""The backward player: its frames, its self-contained page, and the page in a real headless Chromium.

The browser is driven over the Chrome DevTools Protocol through
``--remote-debugging-pipe`` (JSON messages on file descriptors 3 and 4), so
the test needs no package beyond the standard library; it is skipped when
no Chromium is installed (Debian: ``apt-get install chromium``).
"""

import base64
import fcntl
import json
import os
import re
import select
import shutil
import subprocess
import tempfile
import time

import pytest

from autodiff import Value
from autodiff.pictures.player import RECEIVING, SENDING, play_backward
from autodiff.pictures.renderers import available_renderers
from tests.graphs import notes_example
from tests.test_visualize import each_renderer


def test_frames_follow_the_backward_pass():
    g, x, y, z, p = notes_example()
    player = play_backward(g)
    assert len(player) == 2 + 4
    assert player[0].caption == 'Forward pass done: g = -12. No gradient is known yet.'
    assert 'grad ?' in player[0].graph.source and 'grad 1.0000' not in player[0].graph.source
    assert player[1].caption == 'Seed: ∂g/∂g = 1'
    assert player[3].caption == '2. ∂g/∂z = ∂g/∂g · ∂g/∂z = 1 · p = 1 · 4 = 4'
    third = player[3].graph.source
    assert 'z | data -3.0000 | grad 4.0000' in third and 'x | data 1.0000 | grad ? }' in third
    assert f'color="{SENDING}"' in third and f'color="{RECEIVING}"' in third
    last = player[-1].graph.source
    g.backward()
    for node in (x, y, z, p, g):
        assert f"{node.label} | data {node.data:.4f} | grad {node.grad:.4f}" in last
    assert [frame.index for frame in player] == list(range(6))


def film_data(page):
    """The frames' JSON that the page's script reads."""
    found = re.search(r'<script type="application/json" class="frames">(.*?)</script>', page, re.DOTALL)
    return json.loads(found[1])


def test_the_page_is_self_contained(tmp_path):
    if not available_renderers():
        pytest.skip('no Graphviz renderer installed (dot or chainrule[viz])')
    g, *_ = notes_example()
    path = play_backward(g).save_html(tmp_path / 'steps.html')
    page = open(path, encoding='utf-8').read()
    assert page.count('<svg') == 1 and len(film_data(page)['frames']) == 6  # one picture, six frames
    assert '<!DOCTYPE svg' not in page and '<?xml' not in page
    assert not re.search(r'<(script|img|link|iframe)[^>]*(src|href)=', page)
    assert not re.search(r'url\(|@import', page)
    urls = set(re.findall(r'https?://[^\s"\'<>]+', page))
    assert urls <= {'http://www.w3.org/2000/svg', 'http://www.w3.org/1999/xlink'}  # namespaces, never fetched
    assert sorted(os.listdir(tmp_path)) == ['steps.html']  # written atomically: no temporary file left


def box_ids(picture, nodes):
    """Each labelled node's DOT id in a picture, read from its source."""
    return {node.label: re.search(rf'(n\d+) \[label="{{ {re.escape(node.label)} \|', picture.source)[1]
            for node in nodes}


def test_each_frame_says_what_to_outline_and_which_gradient_arrives():
    g, x, y, z, p = notes_example()
    player = play_backward(g)
    box = box_ids(player[0].graph, (g, x, y, z, p))
    data = film_data(player.html())
    assert data['start'] == [[box[name], 'grad ?'] for name in 'xypzg']
    seed, *steps = data['frames'][1:]
    assert seed['outline'] == [[box['g'], SENDING]] and seed['forward'] == [[box['g'], 'grad 1.0000']]
    g.backward()  # the engine's own gradients, to compare each arrival with
    assert len(steps) == len(player.explanation.steps) == 4
    for step, frame in zip(player.explanation.steps, steps):
        sender, receiver = box[step.output_node.label], box[step.input_node.label]
        assert frame['outline'] == [[sender, SENDING], [receiver, RECEIVING]]
        assert frame['forward'] == [[receiver, f"grad {step.input_node.grad:.4f}"]]
        assert frame['backward'] == [[receiver, 'grad ?']]  # stepping back: not arrived yet
    assert [f['caption'] for f in data['frames']] == [frame.caption for frame in player]


def test_a_node_used_twice_shows_each_running_total_and_steps_back_through_them():
    x, a, b = Value(3.0, label='x'), Value(-10.0, label='a'), Value(12.5, label='b')
    f = x * a + x * b
    player = play_backward(f)
    x_box = box_ids(player[0].graph, [x])['x']
    data = film_data(player.html())
    arrivals = [(forward[1], backward[1]) for frame in data['frames']
                for forward, backward in zip(frame['forward'], frame['backward']) if forward[0] == x_box]
    first = arrivals[0][0]
    assert first in ('grad -10.0000', 'grad 12.5000')  # one share: a or b, whichever comes first
    assert arrivals == [(first, 'grad ?'), ('grad 2.5000', first)]  # then a + b = 2.5, back: the first share
    # The box is drawn with the longest text it will show, so every frame's text fits in it.
    assert f'{{ x | data 3.0000 | {first} }}' in player.film_picture()[0].source


def test_the_page_grows_linearly_with_the_graph():
    if not available_renderers():
        pytest.skip('no Graphviz renderer installed (dot or chainrule[viz])')

    def page_size(pairs):
        terms = (Value(0.5 + i, label=f'x{i}') * Value(1.5 - i, label=f'w{i}') for i in range(pairs))
        return len(play_backward(sum(terms, Value(0.0, label='b'))).html())

    small, large = page_size(8), page_size(32)  # 4 times the nodes, 4 times the frames
    assert large < 5.5 * small  # one SVG per frame made this about 16 times


def test_labels_cannot_end_the_pages_script():
    if not available_renderers():
        pytest.skip('no Graphviz renderer installed (dot or chainrule[viz])')
    x = Value(2.0, label='</script><b>x')
    page = play_backward(x * x).html()
    # film_data reads up to the first </script>: it parses only if no label ended the JSON early.
    assert film_data(page)['frames'][2]['caption'].startswith('1. ∂v1/∂</script><b>x')


def test_grads_and_highlight_are_the_players_own():
    with pytest.raises(ValueError, match='play_backward sets highlight itself'):
        play_backward(Value(1.0) * 2, highlight=[])


# ----------------------------------------------------------------------------
# A real browser
# ----------------------------------------------------------------------------
CHROMIUM = next(filter(None, map(shutil.which, ('chromium', 'chromium-browser', 'google-chrome'))), None)


class Browser:
    """Just enough of the DevTools protocol: open a page, evaluate, press keys, take a screenshot."""

    def __init__(self, profile):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4.
        high_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 10)
        high_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 10)

        def wire_pipes():
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync',
             f'--user-data-dir={profile}', '--remote-debugging-pipe', '--window-size=1200,800',
             'about:blank'],
            preexec_fn=wire_pipes, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in (to_browser_r, from_browser_w, high_r, high_w):
            os.close(fd)
        self.buffer, self.last_id, self.session = b'', 0, None

    def send(self, method, **params):
        self.last_id += 1
        message = {'id': self.last_id, 'method': method, 'params': params}
        if self.session and not method.startswith(('Target.', 'Browser.')):
            message['sessionId'] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b'\0')
        deadline = time.monotonic() + 20
        while True:
            while b'\0' in self.buffer:
                raw, self.buffer = self.buffer.split(b'\0', 1)
                reply = json.loads(raw)
                if reply.get('id') == self.last_id:
                    if 'error' in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply['result']
            ready, _, _ = select.select([self.from_browser], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"Chromium did not answer {method}")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError('Chromium closed the pipe')
            self.buffer += chunk

    def open(self, url):
        target = self.send('Target.createTarget', url=url)['targetId']
        self.session = self.send('Target.attachToTarget', targetId=target, flatten=True)['sessionId']
        for _ in range(100):
            if self.evaluate("location.protocol === 'file:' && document.readyState === 'complete'"):
                return
            time.sleep(0.05)
        raise TimeoutError(f"{url} did not load")

    def evaluate(self, expression):
        result = self.send('Runtime.evaluate', expression=expression, returnByValue=True)
        if 'exceptionDetails' in result:
            raise RuntimeError(result['exceptionDetails'])
        return result['result'].get('value')

    def press(self, key, key_code):
        for kind in ('keyDown', 'keyUp'):
            self.send('Input.dispatchKeyEvent', type=kind, key=key, code=key, windowsVirtualKeyCode=key_code)

    def screenshot(self):
        return base64.b64decode(self.send('Page.captureScreenshot', format='png')['data'])

    def close(self):
        try:
            self.send('Browser.close')
            self.process.wait(10)
        except Exception:
            self.process.kill()
            self.process.wait(10)
        os.close(self.to_browser)
        os.close(self.from_browser)


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip('Chromium is not installed (Debian: apt-get install chromium)')
    with tempfile.TemporaryDirectory() as profile:
        b = Browser(profile)
        try:
            yield b
        finally:
            b.close()


#: What the page shows now: [name, outline color] of each outlined box, and every box's name → grad text.
OUTLINED = """[...document.querySelectorAll('figure.film g.node')].filter(n => n.querySelector('polygon')
  && n.querySelector('polygon').getAttribute('stroke-width') === '3')
  .map(n => [n.querySelector('text').textContent, n.querySelector('polygon').getAttribute('stroke')])"""
GRAD_TEXTS = """Object.fromEntries([...document.querySelectorAll('figure.film g.node')]
  .filter(n => n.querySelector('polygon')).map(n => [...n.querySelectorAll('text')].map(t => t.textContent))
  .filter(texts => texts.length === 3).map(texts => [texts[0], texts[2]]))"""


@each_renderer
def test_the_player_in_headless_chromium(browser, tmp_path, monkeypatch, renderer):
    monkeypatch.setenv('CHAINRULE_RENDERER', renderer)
    g, x, y, z, p = notes_example()
    path = play_backward(g).save_html(tmp_path / 'steps.html')
    browser.open('file://' + os.path.abspath(path))

    counter = "document.querySelector('.counter').textContent"
    caption = "document.querySelector('figcaption').textContent"
    assert browser.evaluate(counter) == 'frame 1 of 6'
    assert browser.evaluate(OUTLINED) == []
    assert browser.evaluate(GRAD_TEXTS) == dict.fromkeys('xypzg', 'grad ?')

    browser.evaluate("document.querySelector('.next').click()")
    assert browser.evaluate(counter) == 'frame 2 of 6' and browser.evaluate(caption) == 'Seed: ∂g/∂g = 1'
    assert browser.evaluate(OUTLINED) == [['g', SENDING]]
    browser.press('ArrowRight', 39)
    browser.press('ArrowRight', 39)
    assert browser.evaluate("document.querySelector('.chainrule-player').dataset.current") == '3'
    assert browser.evaluate(caption) == '2. ∂g/∂z = ∂g/∂g · ∂g/∂z = 1 · p = 1 · 4 = 4'
    assert sorted(browser.evaluate(OUTLINED)) == sorted([['g', SENDING], ['z', RECEIVING]])
    assert browser.evaluate(GRAD_TEXTS) == {'x': 'grad ?', 'y': 'grad ?', 'p': 'grad -3.0000',
                                            'z': 'grad 4.0000', 'g': 'grad 1.0000'}
    browser.press('ArrowLeft', 37)
    assert browser.evaluate(counter) == 'frame 3 of 6'
    assert sorted(browser.evaluate(OUTLINED)) == sorted([['g', SENDING], ['p', RECEIVING]])
    assert browser.evaluate(GRAD_TEXTS)['z'] == 'grad ?'  # stepping back takes the arrival back
    browser.evaluate("document.querySelector('.prev').click()")
    assert browser.evaluate(counter) == 'frame 2 of 6'
    browser.press('End', 35)
    assert browser.evaluate(counter) == 'frame 6 of 6'
    assert sorted(browser.evaluate(OUTLINED)) == sorted([['p', SENDING], ['y', RECEIVING]])
    g.backward()
    assert browser.evaluate(GRAD_TEXTS) == {n.label: f"grad {n.grad:.4f}" for n in (x, y, z, p, g)}

    browser.evaluate("document.querySelector('.play').click()")  # from the last frame, play restarts
    assert browser.evaluate(counter) == 'frame 1 of 6'
    assert browser.evaluate(GRAD_TEXTS) == dict.fromkeys('xypzg', 'grad ?')
    assert 'Pause' in browser.evaluate("document.querySelector('.play').textContent")
    time.sleep(1.5)  # one tick of the 1.2 s timer
    assert browser.evaluate(counter) == 'frame 2 of 6'
    browser.evaluate("document.querySelector('.play').click()")

    browser.press('ArrowRight', 39)
    browser.press('ArrowRight', 39)  # frame 4: ∂g/∂z arrives
    size = browser.evaluate("(r => [r.width, r.height])(document.querySelector("
                            "'figure.film svg').getBoundingClientRect())")
    assert size[0] > 300 and size[1] > 100
    texts = browser.evaluate("[...document.querySelectorAll('figure.film svg text')].map(t => t.textContent)")
    assert {'g', 'p', 'x', 'y', 'z', 'grad 4.0000', 'data -12.0000'} <= set(texts)
    png = browser.screenshot()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10_000
    shot = os.environ.get('CHAINRULE_PLAYER_SCREENSHOT')  # keep it to look at, when asked
    (open(shot, 'wb') if shot else open(tmp_path / 'player.png', 'wb')).write(png)


# Every node's text inside its shape, as a browser draws it.  Graphviz sizes each box
# from its own idea of the font's widths (dot: the installed font; the WebAssembly
# build: tables of known fonts); the browser then draws the text with whatever font
# it has.  This measures what the browser drew.
TEXT_OUTSIDE_ITS_BOX = """
(() => {
  const tol = 0.5;
  const inside = (a, b) => a.x >= b.x - tol && a.y >= b.y - tol &&
      a.x + a.width <= b.x + b.width + tol && a.y + a.height <= b.y + b.height + tol;
  const shrunk = b => ({x: b.x + tol, y: b.y + tol, width: b.width - 2 * tol, height: b.height - 2 * tol});
  const meet = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width &&
      a.y < b.y + b.height && b.y < a.y + a.height;
  const problems = [];
  let checked = 0;
  for (const node of document.querySelectorAll('g.node')) {
    const name = node.querySelector('title').textContent;
    const shape = node.querySelector('polygon, ellipse');
    if (!shape) { problems.push(name + ': no shape'); continue; }
    const box = shape.getBBox();
    const separators = [...node.querySelectorAll('polyline')].map(line => line.getBBox());
    const texts = [...node.querySelectorAll('text')].map(t => [t.textContent, t.getBBox()]);
    texts.forEach(([text, b], i) => {
      checked += 1;
      if (!inside(b, box)) problems.push(`${name}: "${text}" runs out of its box`);
      if (separators.some(line => meet(shrunk(b), line))) {
        problems.push(`${name}: "${text}" crosses a field line`);
      }
      for (const [other, c] of texts.slice(i + 1)) {
        if (meet(shrunk(b), shrunk(c))) problems.push(`${name}: "${text}" overlaps "${other}"`);
      }
    });
  }
  return {checked, problems};
})()
"""


def pictures_to_measure():
    """The notes' graph, one neuron of the demo's MLP (as `chainrule demo` draws it), that MLP's
    second layer collapsed, and a player frame with outlined nodes."""
    from autodiff import Value, draw_graph
    from nn import MLP

    g, *_ = notes_example()
    g.backward()
    model = MLP(2, [16, 16, 1], seed=0)
    inputs = [Value(0.5, label='x[0]'), Value(-0.25, label='x[1]')]
    neuron = next(n for n in model.layers[0].neurons if n(inputs).data > 0)
    out = neuron(inputs)
    out.backward()
    hidden = [Value(v.data, label=f'h{j}') for j, v in enumerate(model.layers[0](inputs))]
    second = model.layers[1].neurons[0](hidden)
    second.backward()
    return {'notes': draw_graph(g), 'neuron': draw_graph(out),
            'collapsed': draw_graph(second, group='collapse'),
            'by grad': draw_graph(g, color_by='grad', rankdir='TB'),
            'player frame': play_backward(g)[3].graph}


@each_renderer
def test_every_text_fits_its_box_in_headless_chromium(browser, tmp_path, monkeypatch, renderer):
    monkeypatch.setenv('CHAINRULE_RENDERER', renderer)
    for name, picture in pictures_to_measure().items():
        path = picture.render(outfile=tmp_path / f"{name.replace(' ', '_')}.svg")
        browser.open('file://' + os.path.abspath(path))
        result = browser.evaluate(TEXT_OUTSIDE_ITS_BOX)
        assert result['checked'] > 10, name
        assert result['problems'] == [], name
    # The player's one picture, in every frame: x's running total (one share, then 2.5) must fit its box.
    x, a, b = Value(3.0, label='x'), Value(-123456.0, label='a'), Value(123458.5, label='b')
    player = play_backward(x * a + x * b)
    browser.open('file://' + os.path.abspath(player.save_html(tmp_path / 'player.html')))
    for index in range(len(player)):
        browser.evaluate("document.querySelector('.next').click()" if index else "0")
        result = browser.evaluate(TEXT_OUTSIDE_ITS_BOX)
        assert result['checked'] > 10 and result['problems'] == [], (index, result)
