"""nn.modules: structure, names, initialization, forward/backward values, save and load."""

from __future__ import annotations

import json
import math
import random

import pytest

from autodiff import Value
from nn import MLP, Layer, Module, Neuron, Parameter, load_model

# ----------------------------------------------------------------------
# Structure and names
# ----------------------------------------------------------------------


def test_parameter_count_and_micrograd_order():
    model = MLP(2, [16, 16, 1], seed=0)
    # (2 weights + 1 bias) * 16 + (16 + 1) * 16 + (16 + 1) * 1
    assert len(model.parameters()) == 3 * 16 + 17 * 16 + 17
    expected = [p for layer in model.layers for n in layer.neurons for p in n.w + [n.b]]
    assert [id(p) for p in model.parameters()] == [id(p) for p in expected]


def test_named_parameters_have_stable_dotted_names():
    model = MLP(2, [16, 16, 1], seed=0)
    named = dict(model.named_parameters())
    assert named['layers.0.neurons.3.w.1'] is model.layers[0].neurons[3].w[1]
    assert named['layers.2.neurons.0.b'] is model.layers[2].neurons[0].b
    assert list(named) == [name for name, _ in MLP(2, [16, 16, 1], seed=5).named_parameters()]
    assert [p for p in named.values()] == model.parameters()


def test_parameters_are_recognisable():
    model = MLP(2, [3, 1], seed=0)
    for name, p in model.named_parameters():
        assert isinstance(p, Parameter) and isinstance(p, Value)
        assert p.label == name
    out = model([1.0, 2.0])
    assert not isinstance(out, Parameter)  # results of operations are plain Values
    p = Parameter(1.0)
    p.m, p.v = 0.5, 0.25  # optimizer state kept on the parameter, as micrograd users do
    assert (p.m, p.v, p.data) == (0.5, 0.25, 1.0)


def test_a_subclass_gets_names_without_declaring_them():
    class Affine(Module):
        def __init__(self):
            self.scale = Parameter(2.0)
            self.inner = Layer(1, 2, seed=0)
            self.shift = [Parameter(0.5)]

        def __call__(self, x):
            return [self.scale * v + self.shift[0] for v in self.inner(x)]

    names = [name for name, _ in Affine().named_parameters()]
    assert names == ['scale', 'inner.neurons.0.w.0', 'inner.neurons.0.b',
                     'inner.neurons.1.w.0', 'inner.neurons.1.b', 'shift.0']


def test_shared_parameter_is_listed_once():
    class Tied(Module):
        def __init__(self):
            self.a = Parameter(1.0)
            self.b = self.a

    assert [name for name, _ in Tied().named_parameters()] == ['a']


def test_repr_shows_structure_and_parameter_count():
    text = repr(MLP(2, [16, 16, 1], seed=0))
    assert text.splitlines()[0] == 'MLP(2, [16, 16, 1], relu, 337 parameters)'
    assert 'Layer(2, 16, relu, 48 parameters)' in text
    assert 'Layer(16, 1, linear, 17 parameters)' in text
    assert '16 x Neuron(16, relu, 17 parameters)' in text


def test_layer_returns_single_value_when_nout_is_one():
    assert isinstance(Layer(3, 1, seed=0)([1.0, 2.0, 3.0]), Value)
    out = Layer(3, 2, seed=0)([1.0, 2.0, 3.0])
    assert isinstance(out, list) and len(out) == 2


def test_mlp_hidden_layers_relu_last_linear():
    model = MLP(2, [4, 4, 3], seed=0)
    assert [n.activation for n in model.layers[0].neurons] == ['relu'] * 4
    assert [n.activation for n in model.layers[-1].neurons] == ['linear'] * 3
    assert [n.nonlin for n in model.layers[-1].neurons] == [False] * 3
    tanh_model = MLP(2, [4, 1], activation='tanh', output_activation='sigmoid', seed=0)
    assert tanh_model.layers[0].neurons[0].activation == 'tanh'
    assert tanh_model.layers[1].neurons[0].activation == 'sigmoid'


def test_micrograd_neuron_signature():
    assert Neuron(2).activation == 'relu'
    assert Neuron(2, False).activation == 'linear'
    assert Neuron(2, nonlin=False).nonlin is False
    assert Layer(2, 3, nonlin=False).neurons[0].activation == 'linear'


# ----------------------------------------------------------------------
# Forward values against hand computation
# ----------------------------------------------------------------------


@pytest.mark.parametrize('activation, f', [
    ('relu', lambda z: max(z, 0.0)),
    ('tanh', math.tanh),
    ('sigmoid', lambda z: 1 / (1 + math.exp(-z))),
    ('linear', lambda z: z),
])
@pytest.mark.parametrize('x', [[1.0, 2.0], [-3.0, 0.5]])
def test_neuron_forward_matches_hand_computation(activation, f, x):
    n = Neuron(2, activation=activation)
    n.load_state_dict({'w.0': 0.5, 'w.1': -0.25, 'b': 0.125})
    assert n(x).data == pytest.approx(f(0.5 * x[0] - 0.25 * x[1] + 0.125), abs=1e-15)


def test_mlp_forward_matches_hand_computation():
    model = MLP(2, [2, 1])
    model.load_state_dict({
        'layers.0.neurons.0.w.0': 1.0, 'layers.0.neurons.0.w.1': -1.0, 'layers.0.neurons.0.b': 0.5,
        'layers.0.neurons.1.w.0': 2.0, 'layers.0.neurons.1.w.1': 1.0, 'layers.0.neurons.1.b': -4.0,
        'layers.1.neurons.0.w.0': 3.0, 'layers.1.neurons.0.w.1': -2.0, 'layers.1.neurons.0.b': 0.25,
    })
    # hidden: relu(1 - 2 + 0.5) = 0, relu(2 + 2 - 4) = 0 -> 0.25 ; for [3, 1]: relu(2.5)=2.5, relu(3)=3
    assert model([1.0, 2.0]).data == 0.25
    assert model([3.0, 1.0]).data == 3 * 2.5 - 2 * 3 + 0.25


def test_wrong_input_length_is_a_clear_error():
    with pytest.raises(ValueError, match='takes 2 inputs, got 3'):
        MLP(2, [3, 1], seed=0)([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match='takes 2 inputs, got 1'):
        Neuron(2)([1.0])


@pytest.mark.parametrize('kwargs, word', [
    ({'activation': 'softmax'}, 'activation'),
    ({'init': 'zeros'}, 'init'),
])
def test_bad_options_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        MLP(2, [3, 1], **kwargs)


@pytest.mark.parametrize('nin, nouts', [(0, [1]), (2, []), (2, [0]), (2.5, [1]), (True, [1])])
def test_bad_sizes(nin, nouts):
    with pytest.raises(ValueError):
        MLP(nin, nouts)


def test_gradients_match_central_differences():
    model = MLP(3, [4, 4, 1], activation='tanh', seed=3)
    x = [0.3, -1.2, 0.8]
    model.zero_grad()
    model(x).backward()
    h = 1e-6
    for name, p in model.named_parameters():
        original = p.data
        p.data = original + h
        up = model(x).data
        p.data = original - h
        down = model(x).data
        p.data = original
        assert p.grad == pytest.approx((up - down) / (2 * h), abs=1e-7), name


def test_zero_grad():
    model = MLP(2, [3, 1], seed=0)
    model([1.0, 1.0]).backward()
    assert any(p.grad != 0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


def test_mlp_matches_torch_forward_and_backward():
    torch = pytest.importorskip("torch")
    model = MLP(3, [5, 4, 2], activation='tanh', seed=11)
    x = [0.5, -1.5, 2.0]
    weights = []
    for layer in model.layers:
        W = torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64,
                         requires_grad=True)
        b = torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64, requires_grad=True)
        weights.append((W, b))
    h = torch.tensor(x, dtype=torch.float64)
    for i, (W, b) in enumerate(weights):
        h = W @ h + b
        if i < len(weights) - 1:
            h = torch.tanh(h)
    (h[0] * 2 + h[1]).backward()
    out = model(x)
    (out[0] * 2 + out[1]).backward()
    assert [v.data for v in out] == pytest.approx(h.tolist(), abs=1e-12)
    for layer, (W, b) in zip(model.layers, weights):
        for i, n in enumerate(layer.neurons):
            assert [w.grad for w in n.w] == pytest.approx(W.grad[i].tolist(), abs=1e-12)
            assert n.b.grad == pytest.approx(b.grad[i].item(), abs=1e-12)


# ----------------------------------------------------------------------
# Initialization and seeds
# ----------------------------------------------------------------------


def test_seed_gives_identical_weights_and_leaves_global_random_alone():
    state = random.getstate()
    first = MLP(2, [16, 16, 1], seed=0).state_dict()
    assert random.getstate() == state
    assert MLP(2, [16, 16, 1], seed=0).state_dict() == first
    assert MLP(2, [16, 16, 1], seed=1).state_dict() != first


def test_without_seed_draws_like_micrograd_from_global_random():
    random.seed(1337)
    model = MLP(2, [3, 1])
    random.seed(1337)
    # micrograd: per neuron, nin draws of random.uniform(-1, 1) for w, and b = 0.
    expected = []
    for nin, nout in [(2, 3), (3, 1)]:
        for _ in range(nout):
            expected += [random.uniform(-1, 1) for _ in range(nin)] + [0.0]
    assert [p.data for p in model.parameters()] == expected


def test_uniform_init_range():
    ws = [w.data for n in Layer(50, 40, seed=0).neurons for w in n.w]
    assert all(-1 <= w <= 1 for w in ws)
    assert min(ws) < -0.95 and max(ws) > 0.95  # spans the interval


def test_xavier_init_bound():
    nin, nout = 30, 10
    bound = math.sqrt(6 / (nin + nout))
    ws = [w.data for n in Layer(nin, nout, init='xavier', seed=0).neurons for w in n.w]
    assert all(abs(w) <= bound for w in ws)
    assert max(abs(w) for w in ws) > 0.9 * bound


def test_he_init_standard_deviation():
    nin = 200
    ws = [w.data for n in Layer(nin, 50, init='he', seed=0).neurons for w in n.w]
    mean = sum(ws) / len(ws)
    std = math.sqrt(sum((w - mean) ** 2 for w in ws) / len(ws))
    assert abs(mean) < 0.01
    assert std == pytest.approx(math.sqrt(2 / nin), rel=0.05)


def test_biases_start_at_zero():
    model = MLP(3, [4, 1], init='he', seed=0)
    assert all(n.b.data == 0.0 for layer in model.layers for n in layer.neurons)


# ----------------------------------------------------------------------
# state_dict, save and load
# ----------------------------------------------------------------------


def test_state_dict_round_trip():
    source, target = MLP(2, [4, 1], seed=0), MLP(2, [4, 1], seed=1)
    target.load_state_dict(source.state_dict())
    assert target.state_dict() == source.state_dict()


def test_save_load_gives_identical_predictions(tmp_path):
    model = MLP(2, [8, 8, 1], activation='tanh', seed=4)
    path = tmp_path / 'model.json'
    model.save(path)
    other = MLP(2, [8, 8, 1], activation='tanh', seed=5)
    assert other.load(path) is other
    points = [[0.1 * i, -0.3 * i + 1] for i in range(20)]
    assert [other(x).data for x in points] == [model(x).data for x in points]  # bit for bit
    rebuilt = load_model(path)
    assert [rebuilt(x).data for x in points] == [model(x).data for x in points]
    assert rebuilt.config() == model.config()


def test_saved_file_is_plain_json(tmp_path):
    path = tmp_path / 'model.json'
    MLP(2, [3, 1], seed=0).save(path)
    document = json.loads(path.read_text())
    assert document['format'] == 'chainrule.nn'
    assert document['config']['nouts'] == [3, 1]
    assert len(document['parameters']) == 13


def _document(model: Module) -> dict:
    return {'format': 'chainrule.nn', 'version': 1, 'model': 'MLP', 'config': model.config(),
            'parameters': model.state_dict()}


def _corruptions(model: Module):
    """(description, file contents, a word the error must contain)."""
    good = json.dumps(_document(model))
    yield 'truncated', good[: len(good) // 2], 'JSON'
    yield 'empty', '', 'JSON'
    yield 'not json', 'hello', 'JSON'
    yield 'a list', '[1, 2, 3]', 'not a chainrule model'
    yield 'wrong format', json.dumps(dict(_document(model), format='pytorch')), 'not a chainrule model'
    yield 'wrong version', json.dumps(dict(_document(model), version=99)), 'version'
    yield 'parameters not a dict', json.dumps(dict(_document(model), parameters=[1.0])), "'parameters'"
    doc = _document(model)
    del doc['parameters']['layers.0.neurons.2.b']
    yield 'missing key', json.dumps(doc), "'layers.0.neurons.2.b'"
    doc = _document(model)
    doc['parameters']['layers.9.neurons.0.w.0'] = 1.0
    yield 'unexpected key', json.dumps(doc), "'layers.9.neurons.0.w.0'"
    doc = _document(model)
    doc['parameters']['layers.1.neurons.0.w.2'] = 'oops'
    yield 'string value', json.dumps(doc), "'layers.1.neurons.0.w.2'"
    doc = _document(model)
    doc['parameters']['layers.1.neurons.0.w.0'] = None
    yield 'null value', json.dumps(doc), "'layers.1.neurons.0.w.0'"
    doc = _document(model)
    doc['parameters']['layers.0.neurons.0.w.0'] = float('nan')
    yield 'nan value', json.dumps(doc), "'layers.0.neurons.0.w.0'"
    doc = _document(model)
    doc['parameters']['layers.0.neurons.0.w.1'] = True
    yield 'bool value', json.dumps(doc), "'layers.0.neurons.0.w.1'"
    bigger = MLP(2, [4, 1], seed=0)
    yield 'other shape', json.dumps(_document(bigger)), '17 values, the model 13 parameters'


CORRUPTIONS = list(_corruptions(MLP(2, [3, 1], seed=9)))


@pytest.mark.parametrize('description, text, word', CORRUPTIONS, ids=[c[0] for c in CORRUPTIONS])
def test_corrupted_or_mismatched_file_is_rejected_and_model_unchanged(tmp_path, description, text, word):
    model = MLP(2, [3, 1], seed=0)
    path = tmp_path / 'bad.json'
    path.write_text(text)
    before = model.state_dict()
    with pytest.raises(ValueError) as error:
        model.load(path)
    assert word in str(error.value), (description, str(error.value))
    assert str(path) in str(error.value)
    assert model.state_dict() == before, description


def test_binary_garbage_is_rejected(tmp_path):
    path = tmp_path / 'bad.json'
    path.write_bytes(bytes(range(256)))
    model = MLP(2, [3, 1], seed=0)
    before = model.state_dict()
    with pytest.raises(ValueError):
        model.load(path)
    assert model.state_dict() == before


def test_load_model_rejects_bad_config(tmp_path):
    path = tmp_path / 'model.json'
    doc = _document(MLP(2, [3, 1], seed=0))
    doc['config'] = {'nin': 2, 'nouts': [3, 1], 'rm -rf': True}
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match='config'):
        load_model(path)
