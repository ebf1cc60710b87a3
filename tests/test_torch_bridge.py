"""nn.torch_bridge: chainrule models, losses and optimizers carried over to PyTorch, and the certificate.

The PyTorch side is the oracle: its forward pass, autograd and torch.optim
are computed independently of chainrule's engine.  Without torch, only the
tests of the "not installed" messages run.
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys

import pytest

from nn import MLP, SGD, Adam, Layer, Module, Neuron, linear_decay, make_moons, to_signs
from nn.losses import LOSSES, l2_penalty
from nn.optim import Optimizer, step_decay
from nn.torch_bridge import (
    CertificateFailed,
    export_checkpoint,
    from_torch,
    load_checkpoint,
    to_torch,
    to_torch_optimizer,
    torch_loss,
    torch_names,
    torch_targets,
    verify_torch,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def torch():
    return pytest.importorskip('torch')


def moons(n=30, seed=0):
    X, y = make_moons(n_samples=n, noise=0.1, random_state=seed)
    return X, y


# ----------------------------------------------------------------------
# torch stays optional
# ----------------------------------------------------------------------
def test_importing_nn_and_the_bridge_does_not_import_torch():
    code = "import sys, nn, nn.torch_bridge; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == 'False'


@pytest.mark.parametrize('call', [
    lambda: to_torch(MLP(2, [1], seed=0)),
    lambda: from_torch(object()),
    lambda: verify_torch(MLP(2, [1], seed=0), [[0.0, 0.0]], [0.0]),
    lambda: torch_loss('mse'),
    lambda: torch_targets([1.0], 'mse'),
    lambda: to_torch_optimizer(SGD(MLP(2, [1], seed=0), lr=0.1), MLP(2, [1]), object()),
    lambda: export_checkpoint('model.json', 'model.pt'),
    lambda: load_checkpoint('model.pt'),
], ids=['to_torch', 'from_torch', 'verify_torch', 'torch_loss', 'torch_targets', 'to_torch_optimizer',
        'export_checkpoint', 'load_checkpoint'])
def test_without_torch_every_function_says_how_to_install_it_in_one_line(monkeypatch, call):
    monkeypatch.setitem(sys.modules, 'torch', None)  # makes `import torch` raise ImportError
    with pytest.raises(ImportError) as caught:
        call()
    message = str(caught.value)
    assert "pip install 'chainrule[torch]'" in message and '\n' not in message


# ----------------------------------------------------------------------
# to_torch: structure, names, weights, outputs
# ----------------------------------------------------------------------
def test_the_demo_mlp_becomes_linear_relu_linear_relu_linear(torch):
    module = to_torch(MLP(2, [16, 16, 1], seed=0))
    kinds = [type(m).__name__ for m in module]
    assert kinds == ['Linear', 'ReLU', 'Linear', 'ReLU', 'Linear']
    assert [tuple(p.shape) for p in module.parameters()] == [(16, 2), (16,), (16, 16), (16,), (1, 16), (1,)]
    assert all(p.dtype == torch.float64 for p in module.parameters())


@pytest.mark.parametrize('activation, output_activation, kinds', [
    ('tanh', 'sigmoid', ['Linear', 'Tanh', 'Linear', 'Sigmoid']),
    ('sigmoid', 'linear', ['Linear', 'Sigmoid', 'Linear']),
    ('linear', 'linear', ['Linear', 'Linear']),
])
def test_each_activation_maps_to_its_module(torch, activation, output_activation, kinds):
    module = to_torch(MLP(3, [4, 2], activation=activation, output_activation=output_activation, seed=0))
    assert [type(m).__name__ for m in module] == kinds


def test_parameter_names_follow_the_documented_table():
    names = torch_names(MLP(2, [16, 16, 1], seed=0))
    assert len(names) == 337
    assert names['layers.0.neurons.3.w.1'] == '0.weight[3, 1]'
    assert names['layers.1.neurons.3.w.0'] == '2.weight[3, 0]'
    assert names['layers.2.neurons.0.b'] == '4.bias[0]'
    # Linear hidden layers have no activation module, so the positions are 0, 1, 2.
    linear = torch_names(MLP(2, [3, 3, 1], activation='linear', seed=0))
    assert linear['layers.2.neurons.0.w.2'] == '2.weight[0, 2]'
    assert torch_names(Layer(3, 2, seed=0))['neurons.1.w.2'] == '0.weight[1, 2]'
    assert torch_names(Neuron(2, seed=0)) == {'w.0': '0.weight[0, 0]', 'w.1': '0.weight[0, 1]',
                                               'b': '0.bias[0]'}


@pytest.mark.parametrize('make', [
    lambda: MLP(3, [5, 4, 2], activation='tanh', seed=1),
    lambda: MLP(3, [5, 1], output_activation='sigmoid', seed=2),
    lambda: Layer(3, 4, activation='sigmoid', seed=3),
    lambda: Neuron(3, activation='tanh', seed=4),
    lambda: Neuron(3, nonlin=False, seed=5),
], ids=['mlp-tanh', 'mlp-sigmoid-out', 'layer', 'neuron-tanh', 'neuron-linear'])
def test_weights_are_copied_exactly_and_outputs_agree(torch, make):
    model = make()
    for name, p in model.named_parameters():  # nonzero biases, so a misplaced bias shows
        p.data += 0.1 * (hash(name) % 7 - 3)
    module = to_torch(model)
    tensors = dict(module.named_parameters())
    for name, p in model.named_parameters():
        tensor, index = torch_names(model)[name].rstrip(']').split('[')
        element = tensors[tensor][tuple(int(i) for i in index.split(', '))]
        assert element.item() == p.data, name
    rng = random.Random(0)
    for _ in range(5):
        x = [rng.uniform(-2, 2) for _ in range(3)]
        ours = model(x)
        ours = [v.data for v in ours] if isinstance(ours, list) else [ours.data]
        theirs = module(torch.tensor([x], dtype=torch.float64))[0].tolist()
        assert theirs == pytest.approx(ours, abs=1e-14)


def test_dtype_float32_is_honoured(torch):
    module = to_torch(MLP(2, [3, 1], seed=0), dtype=torch.float32)
    assert all(p.dtype == torch.float32 for p in module.parameters())


def test_to_torch_refuses_what_it_cannot_convert(torch):
    class Custom(Module):
        def __init__(self):
            self.n = Neuron(2)

    with pytest.raises(ValueError, match='converts an MLP, Layer or Neuron, got Custom'):
        to_torch(Custom())
    layer = Layer(2, 2, seed=0)
    layer.neurons[1].activation = 'tanh'
    with pytest.raises(ValueError, match=r"layer 0 mixes activations \['relu', 'tanh'\]"):
        to_torch(layer)


# ----------------------------------------------------------------------
# from_torch
# ----------------------------------------------------------------------
@pytest.mark.parametrize('make', [
    lambda: MLP(2, [16, 16, 1], seed=0),
    lambda: MLP(3, [4, 4, 3], activation='tanh', output_activation='sigmoid', seed=1),
    lambda: MLP(2, [3, 1], activation='linear', seed=2),
])
def test_from_torch_gives_back_the_same_model(torch, make):
    model = make()
    back = from_torch(to_torch(model))
    assert back.state_dict() == model.state_dict()
    assert back.config() == dict(model.config(), init='uniform')


def test_from_torch_reads_a_module_written_in_pytorch(torch):
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Sequential(torch.nn.Linear(2, 5), torch.nn.Tanh()),
        torch.nn.Identity(), torch.nn.Linear(5, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)).double()
    model = from_torch(module)
    assert model.config()['nouts'] == [5, 3, 1] and model.config()['activation'] == 'tanh'
    for x in ([0.3, -1.2], [2.0, 0.5]):
        expected = module(torch.tensor([x], dtype=torch.float64)).item()
        assert model(x).data == pytest.approx(expected, abs=1e-14)


@pytest.mark.parametrize('parts, message', [
    (lambda nn: [nn.Conv2d(1, 1, 3)], r'cannot convert Conv2d \(module 0\)'),
    (lambda nn: [nn.Linear(2, 3), nn.Dropout(0.1), nn.Linear(3, 1)], r'cannot convert Dropout \(module 1\)'),
    (lambda nn: [nn.Linear(2, 3), nn.GELU(), nn.Linear(3, 1)], 'cannot convert GELU'),
    (lambda nn: [nn.Linear(2, 3, bias=False)], 'has no bias'),
    (lambda nn: [nn.ReLU(), nn.Linear(2, 1)], 'must follow a Linear layer'),
    (lambda nn: [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 1)],
     'hidden layers use different activations'),
    (lambda nn: [nn.Linear(2, 3), nn.Linear(4, 1)], 'Linear 1 takes 4 inputs but the layer before gives 3'),
    (lambda nn: [], 'no Linear layer'),
])
def test_from_torch_names_what_it_cannot_convert(torch, parts, message):
    with pytest.raises(ValueError, match=message):
        from_torch(torch.nn.Sequential(*parts(torch.nn)))


# ----------------------------------------------------------------------
# The certificate
# ----------------------------------------------------------------------
def case(loss: str):
    """A model whose outputs suit ``loss``, and a batch for it."""
    X, labels = moons(25, seed=3)
    if loss == 'cross_entropy':
        return MLP(2, [6, 3], activation='tanh', seed=0), X, [(i + c) % 3 for i, c in enumerate(labels)]
    if loss == 'bce':
        return MLP(2, [6, 1], output_activation='sigmoid', seed=0), X, labels
    if loss == 'hinge':
        return MLP(2, [6, 6, 1], seed=0), X, to_signs(labels)
    return MLP(2, [6, 6, 1], activation='tanh', seed=0), X, [float(c) for c in labels]


@pytest.mark.parametrize('loss', list(LOSSES))
def test_the_certificate_passes_for_every_loss_in_float64(torch, loss):
    model, X, y = case(loss)
    certificate = verify_torch(model, X, y, loss=loss, l2=1e-3)
    assert certificate.passed, str(certificate)
    assert certificate.tolerance == 1e-12 and certificate.examples == 25 and certificate.dtype == 'float64'
    assert set(certificate.gradients) == {name for name, _ in model.named_parameters()}
    assert max(certificate.gradients.values()) < 1e-14 and certificate.outputs < 1e-13


@pytest.mark.parametrize('model, loss, y', [
    (Layer(2, 3, activation='tanh', seed=0), 'cross_entropy', [i % 3 for i in range(25)]),
    (Neuron(2, activation='sigmoid', seed=0), 'bce', [i % 2 for i in range(25)]),
    (Neuron(2, nonlin=False, seed=0), 'mse', [0.5 * i for i in range(25)]),
], ids=['layer', 'neuron-sigmoid', 'neuron-linear'])
def test_the_certificate_covers_layers_and_neurons(torch, model, loss, y):
    X, _ = moons(25, seed=4)
    certificate = verify_torch(model, X, y, loss=loss)
    assert certificate.passed and len(certificate.gradients) == len(model.parameters())


def test_the_certificate_measures_real_differences_in_float32(torch):
    model, X, y = case('mse')
    certificate = verify_torch(model, X, y, loss='mse', dtype=torch.float32)
    assert certificate.passed and certificate.tolerance == 1e-5
    # float32 rounds at about 6e-8 relative: the differences are there, and small.
    assert 1e-10 < certificate.outputs < 1e-5
    assert 1e-12 < max(certificate.gradients.values()) < 1e-5


def test_a_module_that_differs_fails_and_names_the_largest_difference(torch):
    model, X, y = case('mse')
    module = to_torch(model)
    with torch.no_grad():
        module[0].weight[2, 1] += 1e-6
    certificate = verify_torch(model, X, y, loss='mse', module=module)
    assert not certificate.passed
    assert 1e-9 < certificate.outputs < 1e-4
    assert 'FAILED' in str(certificate)


def test_a_gradient_only_difference_is_caught(torch):
    # Outputs and loss agree, the gradient does not: relu' taken as 1 at 0 in a custom module.
    class LeakyAtZero(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.clamp(min=0)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * (x >= 0)

    class Relu(torch.nn.Module):
        def forward(self, x):
            return LeakyAtZero.apply(x)

    model = MLP(1, [2, 1], seed=0)  # the second hidden neuron is switched off (all zero)
    model.load_state_dict({'layers.0.neurons.0.w.0': 1.0, 'layers.0.neurons.0.b': 0.0,
                           'layers.0.neurons.1.w.0': 0.0, 'layers.0.neurons.1.b': 0.0,
                           'layers.1.neurons.0.w.0': 2.0, 'layers.1.neurons.0.w.1': 0.0,
                           'layers.1.neurons.0.b': 0.5})
    module = to_torch(model)
    module[1] = Relu()
    certificate = verify_torch(model, [[0.0]], [1.0], loss='mse', module=module)
    assert certificate.outputs == 0.0 and certificate.loss == 0.0
    # J = (2 relu(w0 x + b0) + 0.5 - 1)² at x = 0: dJ/db0 = 2 (-0.5) 2 relu'(0) = -2 relu'(0),
    # 0 with chainrule's relu'(0) = 0 (PyTorch's too), -2 with this module's; the rest are 0 either way.
    assert certificate.gradients['layers.0.neurons.0.b'] == 2.0
    assert certificate.largest == ('the gradient of layers.0.neurons.0.b', 2.0) and not certificate.passed


def test_to_torch_with_verify_refuses_to_return_a_failing_module(torch, monkeypatch):
    model, X, y = case('hinge')
    assert to_torch(model, verify=(X, y), loss='hinge') is not None
    import nn.torch_bridge as bridge

    real_linear = torch.nn.Linear

    def off_by_a_little(nin, nout, **kwargs):  # a Linear whose forward adds 1e-9
        layer = real_linear(nin, nout, **kwargs)
        layer.register_forward_hook(lambda module, inputs, output: output + 1e-9)
        return layer

    monkeypatch.setattr(bridge.import_torch().nn, 'Linear', off_by_a_little)
    with pytest.raises(CertificateFailed) as caught:
        to_torch(model, verify=(X, y), loss='hinge')
    message = str(caught.value)
    assert '\n' not in message and 'does not match' in message and 'tolerance 1e-12' in message
    assert not caught.value.certificate.passed


def test_verify_leaves_the_models_gradients_alone(torch):
    model, X, y = case('mse')
    for i, p in enumerate(model.parameters()):
        p.grad = float(i)
    verify_torch(model, X, y, loss='mse')
    assert [p.grad for p in model.parameters()] == [float(i) for i in range(len(model.parameters()))]


def test_verify_rejects_bad_input_with_clear_messages(torch):
    model, X, y = case('mse')
    with pytest.raises(ValueError, match='no PyTorch counterpart for the loss'):
        verify_torch(model, X, y, loss=lambda out, t: out[0])
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        verify_torch(model, X, y, loss='l1')
    with pytest.raises(ValueError, match='25 rows of X, 3 targets'):
        verify_torch(model, X, y[:3])
    with pytest.raises(ValueError, match='no parameter 0.weight of the model'):
        verify_torch(model, X, y, module=to_torch(MLP(2, [3, 1], seed=0)))


def test_torch_losses_match_chainrule_losses_by_value(torch):
    # Independent of the models: each loss on the same numbers, and the BCE choice explained.
    scores = [0.3, -1.2, 2.5, 0.9]
    probabilities = [0.1, 0.7, 0.999, 0.5]
    cases = {'mse': (scores, [0.0, 1.0, 2.0, -1.0]), 'hinge': (scores, [1, -1, 1, -1]),
             'bce_logits': (scores, [0, 1, 1, 0]), 'bce': (probabilities, [0, 1, 1, 0])}
    for name, (outputs, targets) in cases.items():
        ours = LOSSES[name](outputs, targets).data
        theirs = torch_loss(name)(torch.tensor(outputs, dtype=torch.float64),
                                  torch_targets(targets, name)).item()
        assert theirs == pytest.approx(ours, abs=1e-15), name
    rows = [[0.2, -0.4, 1.0], [3.0, 0.0, -1.0]]
    assert torch_loss('cross_entropy')(torch.tensor(rows, dtype=torch.float64),
                                       torch_targets([2, 0], 'cross_entropy')).item() == pytest.approx(
        LOSSES['cross_entropy'](rows, [2, 0]).data, abs=1e-15)
    # torch's own BCE clamps the log instead of squeezing p: off by about eps (1 - 2p) / p at p = 0.1.
    native = torch.nn.functional.binary_cross_entropy(torch.tensor([0.1], dtype=torch.float64),
                                                      torch.tensor([1.0], dtype=torch.float64)).item()
    ours = LOSSES['bce']([0.1], [1]).data
    assert abs(native - ours) == pytest.approx(1e-12 * 0.8 / 0.1, rel=1e-3)


# ----------------------------------------------------------------------
# Optimizers: 10 steps here + 10 in PyTorch == 20 steps here
# ----------------------------------------------------------------------
def chainrule_steps(model, optimizer, X, y, steps, l2):
    for _ in range(steps):
        loss = LOSSES['hinge']([model(x) for x in X], y) + l2_penalty(model.parameters(), l2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def torch_steps(torch, module, optimizer, scheduler, X, y, steps, l2):
    inputs, targets = torch.tensor(X, dtype=torch.float64), torch_targets(y, 'hinge')
    hinge = torch_loss('hinge')
    for _ in range(steps):
        loss = hinge(module(inputs)[:, 0], targets) + l2 * sum((p * p).sum() for p in module.parameters())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()


OPTIMIZERS = {
    'sgd': lambda ps: SGD(ps, lr=0.2),
    'sgd-momentum-decay': lambda ps: SGD(ps, lr=linear_decay(0.3, 0.05, 15), momentum=0.9, weight_decay=1e-3),
    'sgd-nesterov': lambda ps: SGD(ps, lr=step_decay(0.2, 7, 0.5), momentum=0.8, nesterov=True),
    'adam': lambda ps: Adam(ps, lr=0.02),
    'adam-decay': lambda ps: Adam(ps, lr=linear_decay(0.05, 0.01, 12), betas=(0.8, 0.99), weight_decay=1e-2),
}


@pytest.mark.parametrize('kind', list(OPTIMIZERS))
def test_ten_steps_here_then_ten_in_torch_equal_twenty_steps_here(torch, kind):
    X, labels = moons(24, seed=5)
    y, l2 = to_signs(labels), 1e-3
    reference = MLP(2, [6, 6, 1], activation='tanh', seed=0)
    chainrule_steps(reference, OPTIMIZERS[kind](reference.parameters()), X, y, 20, l2)

    model = MLP(2, [6, 6, 1], activation='tanh', seed=0)
    optimizer = OPTIMIZERS[kind](model.parameters())
    chainrule_steps(model, optimizer, X, y, 10, l2)
    module = to_torch(model)
    theirs, scheduler = to_torch_optimizer(optimizer, model, module)
    torch_steps(torch, module, theirs, scheduler, X, y, 10, l2)

    continued = from_torch(module).state_dict()
    moved = max(abs(continued[name] - MLP(2, [6, 6, 1], activation='tanh', seed=0).state_dict()[name])
                for name in continued)
    assert moved > 0.05  # the runs really trained
    for name, value in reference.state_dict().items():
        assert continued[name] == pytest.approx(value, abs=1e-12), name


@pytest.mark.parametrize('kind', list(OPTIMIZERS))
def test_ten_steps_from_the_same_start_agree_on_every_parameter(torch, kind):
    # 25 examples, not 24: with 12 of each class the output bias's first gradient, -mean(y), is 0 up
    # to rounding (±1e-17, different in each engine), and Adam divides a gradient by its own size, so
    # rounding noise becomes a step of lr · 1e-17 / (1e-17 + eps), 8e-11 here (and with relu's kinks,
    # 1e-2 within 5 steps).  That is Adam's doing, not a difference in the formulas.
    X, labels = moons(25, seed=6)
    y, l2 = to_signs(labels), 1e-4
    model = MLP(2, [5, 5, 1], seed=1)
    module = to_torch(model)
    optimizer = OPTIMIZERS[kind](model.parameters())
    theirs, scheduler = to_torch_optimizer(optimizer, model, module)  # before any step: no state yet
    chainrule_steps(model, optimizer, X, y, 10, l2)
    torch_steps(torch, module, theirs, scheduler, X, y, 10, l2)
    continued = from_torch(module).state_dict()
    for name, value in model.state_dict().items():
        assert continued[name] == pytest.approx(value, abs=1e-12), name


def test_optimizer_state_is_carried_over_as_documented(torch):
    model = MLP(2, [3, 1], seed=0)
    optimizer = Adam(model.parameters(), lr=0.01)
    chainrule_steps(model, optimizer, [[0.5, 1.0], [-1.0, 0.2]], [1, -1], 3, 0.0)
    module = to_torch(model)
    theirs, _ = to_torch_optimizer(optimizer, model, module)
    state = theirs.state[module[0].weight]
    assert state['step'].item() == 3.0
    index = model.parameters().index(model.layers[0].neurons[2].w[1])
    assert state['exp_avg'][2, 1].item() == optimizer.m[index]
    assert state['exp_avg_sq'][2, 1].item() == optimizer.v[index]


def test_to_torch_optimizer_refuses_what_it_cannot_map(torch):
    model = MLP(2, [3, 1], seed=0)
    module = to_torch(model)
    with pytest.raises(ValueError, match="exactly the model's parameters"):
        to_torch_optimizer(SGD(model.parameters()[:4], lr=0.1), model, module)

    class Halving(Optimizer):
        def _updated(self, i, w, g, lr):
            return w / 2

    with pytest.raises(ValueError, match='no PyTorch counterpart for the optimizer Halving'):
        to_torch_optimizer(Halving(model.parameters(), lr=0.1), model, module)


# ----------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------
def test_export_writes_a_checkpoint_that_loads_with_weights_only(torch, tmp_path):
    model = MLP(2, [8, 8, 1], activation='tanh', seed=0)
    model.save(tmp_path / 'model.json')
    certificate = export_checkpoint(tmp_path / 'model.json', tmp_path / 'model.pt')
    assert certificate.passed and certificate.examples == 32
    checkpoint = torch.load(tmp_path / 'model.pt', weights_only=True)
    assert checkpoint['format'] == 'chainrule.torch' and checkpoint['dtype'] == 'float64'
    assert checkpoint['chainrule']['config']['nouts'] == [8, 8, 1]
    assert checkpoint['chainrule']['parameter_names']['layers.1.neurons.2.b'] == '2.bias[2]'
    assert checkpoint['certificate']['passed'] is True
    kinds = [spec['type'] for spec in checkpoint['architecture']]
    assert kinds == ['Linear', 'Tanh', 'Linear', 'Tanh', 'Linear']
    module = load_checkpoint(tmp_path / 'model.pt')
    for x in ([0.1, 0.2], [-1.5, 2.0]):
        theirs = module(torch.tensor([x], dtype=torch.float64)).item()
        assert theirs == pytest.approx(model(x).data, abs=1e-14)
    assert sorted(os.listdir(tmp_path)) == ['model.json', 'model.pt']  # no temporary file left


def test_export_of_a_multi_output_model_in_float32(torch, tmp_path):
    MLP(3, [4, 3], seed=0).save(tmp_path / 'classes.json')
    certificate = export_checkpoint(tmp_path / 'classes.json', tmp_path / 'classes.pt', dtype=torch.float32)
    assert certificate.passed and certificate.loss_name == 'cross_entropy' and certificate.dtype == 'float32'
    assert load_checkpoint(tmp_path / 'classes.pt')[0].weight.dtype == torch.float32


def test_a_failed_write_leaves_the_old_checkpoint_and_no_temporary_file(torch, tmp_path, monkeypatch):
    MLP(2, [3, 1], seed=0).save(tmp_path / 'model.json')
    export_checkpoint(tmp_path / 'model.json', tmp_path / 'model.pt')
    before = (tmp_path / 'model.pt').read_bytes()
    MLP(2, [3, 1], seed=1).save(tmp_path / 'model.json')

    def half_then_fail(obj, file):
        file.write(b'half a checkpoint')
        raise OSError('disk full')

    monkeypatch.setattr(torch, 'save', half_then_fail)
    with pytest.raises(OSError, match='disk full'):
        export_checkpoint(tmp_path / 'model.json', tmp_path / 'model.pt')
    assert (tmp_path / 'model.pt').read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ['model.json', 'model.pt']


def test_export_and_load_reject_bad_files(torch, tmp_path):
    (tmp_path / 'bad.json').write_text('{"format": "chainrule.nn", "para')
    with pytest.raises(ValueError, match='not valid JSON'):
        export_checkpoint(tmp_path / 'bad.json', tmp_path / 'out.pt')
    assert not (tmp_path / 'out.pt').exists()
    torch.save({'weights': torch.zeros(2)}, tmp_path / 'other.pt')
    with pytest.raises(ValueError, match='not a chainrule PyTorch checkpoint'):
        load_checkpoint(tmp_path / 'other.pt')


def test_the_demo_models_certificate(torch):
    # The numbers the lesson and the closing note quote.
    X, labels = make_moons(n_samples=100, noise=0.1, random_state=1337)
    model = MLP(2, [16, 16, 1], seed=1337)
    certificate = verify_torch(model, X, to_signs(labels), loss='hinge', l2=1e-4)
    assert certificate.passed and len(certificate.gradients) == 337
    assert certificate.outputs < 1e-14 and not math.isnan(certificate.loss)


def test_export_into_a_missing_folder_names_the_file_asked_for(torch, tmp_path):
    MLP(2, [3, 1], seed=0).save(tmp_path / 'model.json')
    target = tmp_path / 'no-such-folder' / 'model.pt'
    with pytest.raises(FileNotFoundError) as caught:
        export_checkpoint(tmp_path / 'model.json', target)
    assert caught.value.filename == str(target)
