"""Graduate to PyTorch: carry a chainrule model, its loss and its optimizer over, with a certificate.

A chainrule `MLP`, `Layer` or `Neuron` is a chain of dense layers: each
neuron holds one row of weights and a bias.  PyTorch stores a dense layer
as one ``torch.nn.Linear`` whose ``weight`` is a matrix (a row per
neuron) and whose ``bias`` is a vector.  `to_torch` builds a
``torch.nn.Sequential`` of ``Linear`` layers, each followed by its
activation module, with exactly the same numbers (float64 by default).

**Parameter names.**  Neuron ``j`` of chainrule layer ``i`` becomes row
``j`` of the ``Linear`` at position ``p(i)`` of the Sequential::

    chainrule name                 PyTorch tensor and element
    layers.i.neurons.j.w.k    ->   {p(i)}.weight[j, k]     (MLP)
    layers.i.neurons.j.b      ->   {p(i)}.bias[j]
    neurons.j.w.k             ->   0.weight[j, k]          (Layer)
    w.k / b                   ->   0.weight[0, k] / 0.bias[0]   (Neuron)

``p(i)`` counts the modules before layer ``i``: a Linear, plus one
activation module when the layer has one.  In the usual MLP (every hidden
layer relu, tanh or sigmoid, the last linear) ``p(i) = 2 i``, so
``layers.1.neurons.3.w.0`` is ``2.weight[3, 0]``.  `torch_names` gives the
whole table for a model.

**Activations.**  ``relu -> torch.nn.ReLU``, ``tanh -> torch.nn.Tanh``,
``sigmoid -> torch.nn.Sigmoid``, ``linear ->`` no module.  `from_torch`
reads these back (and ``torch.nn.Identity``, a no-op); any other module
raises ``ValueError`` naming it.

**Losses** (`torch_loss`): ``mse_loss -> F.mse_loss``,
``binary_cross_entropy_with_logits -> F.binary_cross_entropy_with_logits``,
``cross_entropy -> F.cross_entropy`` (targets as class indices);
``hinge_loss`` has no PyTorch function and becomes the expression
``relu(1 - y s).mean()``; ``binary_cross_entropy`` becomes chainrule's own
expression (p squeezed into [eps, 1 - eps]) because ``F.binary_cross_entropy``
clamps the log at -100 instead, which differs by about eps / p (1e-11 at
p = 0.1): more than the certificate's tolerance.

**Optimizers** (`to_torch_optimizer`): `SGD` -> ``torch.optim.SGD`` with
its momentum buffers, `Adam` -> ``torch.optim.Adam`` with ``step``,
``exp_avg`` and ``exp_avg_sq``; a learning-rate schedule becomes a
``LambdaLR`` that continues from the step reached.  So 10 steps here and 10
there are the 20 steps chainrule would have taken, to rounding.

**The certificate** (`verify_torch`): the same batch through both, the
largest differences in outputs, loss and every parameter's gradient, and
``passed`` when all are within ``tol`` (1e-12 in float64).

torch is optional (``pip install 'chainrule[torch]'``): importing this
module does not import it; each function imports it when called.

>>> import pytest; torch = pytest.importorskip('torch')   # the examples below need PyTorch
>>> from nn import MLP
>>> module = to_torch(MLP(2, [16, 16, 1], seed=0))
>>> module
Sequential(
  (0): Linear(in_features=2, out_features=16, bias=True)
  (1): ReLU()
  (2): Linear(in_features=16, out_features=16, bias=True)
  (3): ReLU()
  (4): Linear(in_features=16, out_features=1, bias=True)
)
>>> torch_names(MLP(2, [16, 16, 1]))['layers.1.neurons.3.w.0']
'2.weight[3, 0]'
"""

from __future__ import annotations

import io
import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from autodiff import Value
from autodiff.files import write_atomically
from nn.losses import BCE_EPS, LOSSES, l2_penalty
from nn.modules import MLP, Layer, Module, Neuron, load_model
from nn.optim import SGD, Adam, Optimizer

if TYPE_CHECKING:  # only for the type hints: torch is imported when a function runs
    import torch
    from torch import Tensor  # for hints inside functions whose local `torch` is the imported package

INSTALL_HINT = "pip install 'chainrule[torch]'"
#: The activation names of `nn.modules.ACTIVATIONS` and the PyTorch module class for each.
ACTIVATION_MODULES = {'relu': 'ReLU', 'tanh': 'Tanh', 'sigmoid': 'Sigmoid'}
#: The certificate's default tolerance per dtype (the largest absolute difference allowed).
TOLERANCES = {'float64': 1e-12, 'float32': 1e-5, 'float16': 1e-2, 'bfloat16': 1e-1}
#: Written into checkpoints so `load_checkpoint` can tell what it is reading.
CHECKPOINT_FORMAT = 'chainrule.torch'
CHECKPOINT_VERSION = 1


class CertificateFailed(ValueError):
    """`to_torch(..., verify=...)` found the PyTorch module computing different numbers.

    ``certificate`` holds the measured differences (a `TorchCertificate`).

    >>> issubclass(CertificateFailed, ValueError)
    True
    """

    def __init__(self, message: str, certificate: TorchCertificate):
        super().__init__(message)
        self.certificate = certificate


def import_torch() -> ModuleType:
    """``torch``, or an ``ImportError`` saying in one line how to install it.

    >>> import pytest; torch = pytest.importorskip('torch')
    >>> import_torch() is torch
    True
    """
    try:
        import torch
    except ImportError:
        raise ImportError(f"this needs PyTorch, which is not installed: {INSTALL_HINT}") from None
    return torch


# ----------------------------------------------------------------------
# The model's structure: dense layers, each a list of neurons.
# ----------------------------------------------------------------------
@dataclass
class _Dense:
    """One dense layer of a chainrule model and where it sits in the Sequential."""

    neurons: list[Neuron]
    prefixes: list[str]   # each neuron's parameter-name prefix ('layers.0.neurons.3.')
    activation: str       # 'relu', 'tanh', 'sigmoid' or 'linear'
    position: int         # the index of its Linear in the Sequential

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.neurons), len(self.neurons[0].w)


def _dense_layers(model: Module) -> list[_Dense]:
    """The dense layers of an MLP, Layer or Neuron, checked against its parameter names."""
    if isinstance(model, MLP):
        groups = [(layer.neurons, [f'layers.{i}.neurons.{j}.' for j in range(len(layer.neurons))])
                  for i, layer in enumerate(model.layers)]
    elif isinstance(model, Layer):
        groups = [(model.neurons, [f'neurons.{j}.' for j in range(len(model.neurons))])]
    elif isinstance(model, Neuron):
        groups = [([model], [''])]
    else:
        raise ValueError(f"to_torch converts an MLP, Layer or Neuron, got {type(model).__name__}")
    layers, position = [], 0
    for i, (neurons, prefixes) in enumerate(groups):
        activations = {n.activation for n in neurons}
        if len(activations) != 1:
            raise ValueError(f"layer {i} mixes activations {sorted(activations)}; a PyTorch Linear "
                             f"layer is followed by one activation")
        if len({len(n.w) for n in neurons}) != 1:
            raise ValueError(f"layer {i}'s neurons take different numbers of inputs")
        activation = activations.pop()
        layers.append(_Dense(neurons, prefixes, activation, position))
        position += 1 if activation == 'linear' else 2
    expected = {name for layer in layers for prefix, n in zip(layer.prefixes, layer.neurons)
                for name in [f'{prefix}w.{k}' for k in range(len(n.w))] + [f'{prefix}b']}
    if expected != {name for name, _ in model.named_parameters()}:
        raise ValueError(f"{type(model).__name__} has parameters other than its neurons' "
                         f"weights and biases; to_torch cannot place them")
    return layers


#: Where one parameter lives: (chainrule name, the parameter, PyTorch tensor name, index in that tensor).
Location = tuple[str, Value, str, tuple[int, ...]]


def _locations(model: Module) -> list[Location]:
    """``(chainrule name, parameter, torch tensor name, index)`` for every parameter."""
    out: list[Location] = []
    for layer in _dense_layers(model):
        for j, (prefix, neuron) in enumerate(zip(layer.prefixes, layer.neurons)):
            for k, w in enumerate(neuron.w):
                out.append((f'{prefix}w.{k}', w, f'{layer.position}.weight', (j, k)))
            out.append((f'{prefix}b', neuron.b, f'{layer.position}.bias', (j,)))
    return out


def torch_names(model: Module) -> dict[str, str]:
    """Each chainrule parameter name and the PyTorch element that holds it after `to_torch`.

    >>> from nn import MLP
    >>> names = torch_names(MLP(2, [3, 1], seed=0))
    >>> names['layers.0.neurons.2.w.1'], names['layers.1.neurons.0.b']
    ('0.weight[2, 1]', '2.bias[0]')
    """
    return {name: f"{tensor}[{', '.join(map(str, index))}]"
            for name, _, tensor, index in _locations(model)}


# ----------------------------------------------------------------------
# chainrule -> PyTorch -> chainrule.
# ----------------------------------------------------------------------
def to_torch(model: Module, *, dtype: torch.dtype | None = None,
             verify: tuple[Sequence, Sequence] | None = None, loss: str | Callable = 'mse',
             l2: float = 0.0, tol: float | None = None) -> torch.nn.Sequential:
    """``model`` as a ``torch.nn.Sequential`` of ``Linear`` and activation modules, same weights.

    ``dtype`` defaults to ``torch.float64`` (chainrule's floats).  With
    ``verify=(X, y)`` the batch is run through both (see `verify_torch`,
    with ``loss``, ``l2`` and ``tol``) and `CertificateFailed` is raised
    instead of returning a module that computes different numbers.

    >>> import pytest; torch = pytest.importorskip('torch')
    >>> from nn import MLP
    >>> model = MLP(3, [4, 2], activation='tanh', seed=0)
    >>> module = to_torch(model, verify=([[0.1, 0.2, 0.3], [1.0, -1.0, 0.5]], [0, 1]), loss='cross_entropy')
    >>> module[0].weight[1, 2].item() == model.layers[0].neurons[1].w[2].data
    True
    """
    torch = import_torch()
    dtype = torch.float64 if dtype is None else dtype
    modules: list = []  # torch.nn.Module instances
    values: dict[str, list] = {}
    for layer in _dense_layers(model):
        nout, nin = layer.shape
        modules.append(torch.nn.Linear(nin, nout, dtype=dtype))
        values[f'{layer.position}.weight'] = [[w.data for w in n.w] for n in layer.neurons]
        values[f'{layer.position}.bias'] = [n.b.data for n in layer.neurons]
        if layer.activation != 'linear':
            modules.append(getattr(torch.nn, ACTIVATION_MODULES[layer.activation])())
    module = torch.nn.Sequential(*modules)
    with torch.no_grad():
        for name, tensor in module.named_parameters():
            tensor.copy_(torch.tensor(values[name], dtype=torch.float64))
    if verify is not None:
        X, y = verify
        certificate = verify_torch(model, X, y, loss=loss, l2=l2, tol=tol, module=module)
        if not certificate.passed:
            what, difference = certificate.largest
            raise CertificateFailed(
                f"to_torch: the PyTorch module does not match the model: {what} differs by "
                f"{difference:.3g} (tolerance {certificate.tolerance:g})", certificate)
    return module


def from_torch(module: torch.nn.Module) -> MLP:
    """A chainrule `MLP` with the weights of a ``Sequential`` of ``Linear`` and activation modules.

    Accepted: ``Linear`` (with a bias), ``ReLU``, ``Tanh``, ``Sigmoid``,
    ``Identity`` and nested ``Sequential``s; every hidden layer must have the
    same activation (an MLP has one ``activation`` and one
    ``output_activation``).  Anything else raises ``ValueError`` naming it.

    >>> import pytest; torch = pytest.importorskip('torch')
    >>> model = from_torch(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1)))
    >>> model
    MLP(2, [3, 1], tanh, 13 parameters)
      (layers.0): Layer(2, 3, tanh, 9 parameters)
        (neurons.0..2): 3 x Neuron(2, tanh, 3 parameters)
      (layers.1): Layer(3, 1, linear, 4 parameters)
        (neurons.0): Neuron(3, linear, 4 parameters)
    >>> from_torch(torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3)))
    Traceback (most recent call last):
    ...
    ValueError: from_torch cannot convert Conv2d (module 0); it converts Linear, ReLU, Tanh, Sigmoid, Identity
    """
    torch = import_torch()
    linears, activations = _read_sequential(torch, module)
    hidden = set(activations[:-1])
    if len(hidden) > 1:
        raise ValueError(f"from_torch: the hidden layers use different activations {sorted(hidden)}; "
                         f"a chainrule MLP has one activation for all of them")
    for i, linear in enumerate(linears[1:], start=1):
        if linear.in_features != linears[i - 1].out_features:
            raise ValueError(f"from_torch: Linear {i} takes {linear.in_features} inputs but the layer "
                             f"before gives {linears[i - 1].out_features}")
    model = MLP(linears[0].in_features, [lin.out_features for lin in linears],
                activation=hidden.pop() if hidden else 'relu', output_activation=activations[-1])
    # The new model's Linear positions are to_torch's, not necessarily the module's (Identity, nesting).
    linear_at = {layer.position: linear for layer, linear in zip(_dense_layers(model), linears)}
    state = {}
    for name, _, tensor, index in _locations(model):
        position, kind = tensor.split('.')
        state[name] = float(getattr(linear_at[int(position)], kind).detach()[index])
    model.load_state_dict(state)
    return model


def _read_sequential(torch: ModuleType, module: torch.nn.Module) -> tuple[list[torch.nn.Linear], list[str]]:
    """The Linear layers of ``module`` in order and the activation name after each."""
    supported = 'Linear, ReLU, Tanh, Sigmoid, Identity'
    names = {getattr(torch.nn, cls): name for name, cls in ACTIVATION_MODULES.items()}
    flat = _flattened(torch, module)
    linears: list = []
    activations: list[str] = []
    for i, part in enumerate(flat):
        kind = type(part).__name__
        if isinstance(part, torch.nn.Linear):
            if part.bias is None:
                raise ValueError(f"from_torch: Linear {len(linears)} (module {i}) has no bias; every "
                                 f"chainrule neuron has one")
            linears.append(part)
            activations.append('linear')
        elif type(part) in names:
            if not linears or activations[-1] != 'linear':
                raise ValueError(f"from_torch: {kind} (module {i}) must follow a Linear layer directly")
            activations[-1] = names[type(part)]
        elif not isinstance(part, torch.nn.Identity):
            raise ValueError(f"from_torch cannot convert {kind} (module {i}); it converts {supported}")
    if not linears:
        raise ValueError("from_torch: the module has no Linear layer")
    return linears, activations


def _flattened(torch: ModuleType, module: torch.nn.Module) -> list[torch.nn.Module]:
    if isinstance(module, torch.nn.Sequential):
        return [part for child in module for part in _flattened(torch, child)]
    return [module]


# ----------------------------------------------------------------------
# Losses.
# ----------------------------------------------------------------------
def _loss_name(loss: str | Callable) -> str:
    """The short name (a key of `nn.losses.LOSSES`) of a loss given by name or as the function."""
    known = ', '.join(LOSSES)
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; known: {known}")
        return loss
    for name, function in LOSSES.items():
        if loss is function:
            return name
    raise ValueError(f"no PyTorch counterpart for the loss {getattr(loss, '__name__', loss)!r}: "
                     f"use one of nn.losses ({known}), by name or as the function")


def torch_loss(loss: str | Callable) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The PyTorch function computing the same mean loss as chainrule's ``loss`` (a name or function).

    It takes the outputs (one column per output, or a vector for a single
    output) and the targets made by `torch_targets`.

    >>> import pytest; torch = pytest.importorskip('torch')
    >>> hinge = torch_loss('hinge')          # micrograd's max-margin loss: no torch function
    >>> hinge(torch.tensor([2.0, 0.5, -1.0]), torch.tensor([1.0, 1.0, 1.0])).item()   # (0 + 0.5 + 2) / 3
    0.8333333134651184
    """
    torch = import_torch()
    functional = torch.nn.functional
    name = _loss_name(loss)
    if name == 'mse':
        return functional.mse_loss
    if name == 'bce_logits':
        return functional.binary_cross_entropy_with_logits
    if name == 'cross_entropy':
        return functional.cross_entropy
    if name == 'hinge':
        return lambda scores, signs: torch.relu(1 - signs * scores).mean()

    # chainrule's formula; see the module docstring
    def squeezed_binary_cross_entropy(p: Tensor, y: Tensor) -> Tensor:
        squeeze = 1 - 2 * BCE_EPS
        return (-(y * torch.log(BCE_EPS + squeeze * p) + (1 - y) * torch.log(BCE_EPS + squeeze * (1 - p)))
                ).mean()
    return squeezed_binary_cross_entropy


def torch_targets(y: Sequence, loss: str | Callable, dtype: torch.dtype | None = None) -> torch.Tensor:
    """The targets as the tensor `torch_loss` expects: class indices (int64) for cross-entropy, else floats.

    >>> import pytest; torch = pytest.importorskip('torch')
    >>> torch_targets([0, 2], 'cross_entropy'), torch_targets([-1, 1], 'hinge')
    (tensor([0, 2]), tensor([-1.,  1.], dtype=torch.float64))
    """
    torch = import_torch()
    if _loss_name(loss) == 'cross_entropy':
        return torch.tensor([int(t) for t in y], dtype=torch.int64)
    return torch.tensor([float(t) for t in y], dtype=torch.float64 if dtype is None else dtype)


# ----------------------------------------------------------------------
# The certificate.
# ----------------------------------------------------------------------
@dataclass(frozen=True)
class TorchCertificate:
    """How far PyTorch's numbers are from chainrule's on one batch: made by `verify_torch`.

    Every figure is a largest absolute difference: ``outputs`` over every
    output of every example, ``loss`` of the batch's loss, ``gradients``
    per chainrule parameter name (``tensors``: the same, largest per
    PyTorch tensor).  ``passed`` when none exceeds ``tolerance``.

    >>> c = TorchCertificate(outputs=2e-16, loss=0.0, gradients={'w.0': 1e-16, 'b': 3e-16},
    ...                      tensors={'0.weight': 1e-16, '0.bias': 3e-16}, tolerance=1e-12,
    ...                      examples=4, dtype='float64', loss_name='mse')
    >>> c.passed, c.largest
    (True, ('the gradient of b', 3e-16))
    >>> print(c)
    PyTorch certificate: PASSED (float64, 4 examples, loss mse, tolerance 1e-12)
      outputs    largest |difference| 2e-16
      loss       |difference|         0
      gradients  largest |difference| 3e-16 (b, of 2 parameters)
        0.weight  1e-16
        0.bias    3e-16
    """

    outputs: float
    loss: float
    gradients: dict[str, float]
    tensors: dict[str, float]
    tolerance: float
    examples: int
    dtype: str
    loss_name: str = field(default='mse')

    @property
    def largest(self) -> tuple[str, float]:
        """What differs most and by how much (nan counts as the largest).

        >>> TorchCertificate(0.5, 0.1, {'b': 0.2}, {'0.bias': 0.2}, 1e-12, 1, 'float64').largest
        ('outputs', 0.5)
        """
        figures = [('outputs', self.outputs), ('loss', self.loss)]
        figures += [(f'the gradient of {name}', d) for name, d in self.gradients.items()]
        return max(figures, key=lambda item: math.inf if math.isnan(item[1]) else item[1])

    @property
    def passed(self) -> bool:
        """True when every difference is at most ``tolerance`` (a nan never passes).

        >>> TorchCertificate(1e-10, 0.0, {}, {}, 1e-12, 1, 'float64').passed
        False
        """
        return self.largest[1] <= self.tolerance

    def __str__(self) -> str:
        verdict = 'PASSED' if self.passed else 'FAILED'
        lines = [f"PyTorch certificate: {verdict} ({self.dtype}, {self.examples} examples, "
                 f"loss {self.loss_name}, tolerance {self.tolerance:g})",
                 f"  outputs    largest |difference| {self.outputs:.3g}",
                 f"  loss       |difference|         {self.loss:.3g}"]
        if self.gradients:
            name, worst = max(self.gradients.items(), key=lambda item: item[1])
            lines.append(f"  gradients  largest |difference| {worst:.3g} "
                         f"({name}, of {len(self.gradients)} parameters)")
            width = max(map(len, self.tensors))
            lines += [f"    {tensor:<{width}}  {d:.3g}" for tensor, d in self.tensors.items()]
        return '\n'.join(lines)


def verify_torch(model: Module, X: Sequence, y: Sequence, *, loss: str | Callable = 'mse',
                 l2: float = 0.0, module: torch.nn.Module | None = None, dtype: torch.dtype | None = None,
                 tol: float | None = None) -> TorchCertificate:
    """Run one batch through ``model`` and its PyTorch twin; the largest differences, as a certificate.

    The twin is ``module`` (made by `to_torch`, perhaps trained since) or
    a fresh ``to_torch(model, dtype=dtype)``.  Both compute the outputs, the
    mean ``loss`` (a name or a function of :mod:`nn.losses`) plus
    ``l2 * Σ p²``, and every parameter's gradient.  ``tol`` defaults to
    `TOLERANCES` for the module's dtype (1e-12 in float64).  The
    chainrule model's ``.grad`` values are left as they were.

    >>> import pytest; torch = pytest.importorskip('torch')
    >>> from nn import MLP
    >>> certificate = verify_torch(MLP(2, [8, 1], seed=0), [[0.5, -1.0], [2.0, 0.1]], [1, -1], loss='hinge')
    >>> certificate.passed, certificate.largest[1] < 1e-15
    (True, True)
    """
    torch = import_torch()
    name = _loss_name(loss)
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"verify_torch needs examples: {len(X)} rows of X, {len(y)} targets")
    if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not l2 >= 0:
        raise ValueError(f"l2 must be a number >= 0, got {l2!r}")
    locations = _locations(model)
    module = to_torch(model, dtype=dtype) if module is None else module
    tensors = _matching_tensors(module, locations)
    dtype_name = str(next(iter(tensors.values())).dtype).replace('torch.', '')
    tolerance = TOLERANCES.get(dtype_name, 1e-12) if tol is None else tol

    our_outputs, our_loss, our_grads = _chainrule_pass(model, X, y, LOSSES[name], l2)
    their_outputs, their_loss, their_grads = _torch_pass(torch, module, tensors, X, y, name, l2)
    ours = torch.tensor(our_outputs, dtype=torch.float64).reshape(their_outputs.shape)
    gradients, by_tensor = {}, dict.fromkeys(tensors, 0.0)
    for (param_name, _, tensor, index), ours_g in zip(locations, our_grads):
        difference = abs(ours_g - float(their_grads[tensor][index]))
        gradients[param_name] = difference
        by_tensor[tensor] = max(by_tensor[tensor], difference)
    return TorchCertificate(
        outputs=float((ours - their_outputs).abs().max()), loss=abs(our_loss - their_loss),
        gradients=gradients, tensors=by_tensor, tolerance=tolerance, examples=len(X), dtype=dtype_name,
        loss_name=name + (f' + {l2:g} l2' if l2 else ''))


def _matching_tensors(module: torch.nn.Module, locations: list[Location]) -> dict[str, torch.nn.Parameter]:
    """``module``'s parameters by name, checked to be where `to_torch` puts them."""
    tensors = dict(module.named_parameters())
    for _, _, tensor, index in locations:
        if tensor not in tensors or len(index) != tensors[tensor].dim() or any(
                i >= n for i, n in zip(index, tensors[tensor].shape)):
            raise ValueError(f"the PyTorch module has no parameter {tensor} of the model's shape; "
                             f"compare a module made by to_torch(model)")
    if len(tensors) != len({tensor for _, _, tensor, _ in locations}):
        raise ValueError("the PyTorch module has parameters the chainrule model does not have")
    return tensors


def _chainrule_pass(model: Module, X: Sequence[Sequence[float]], y: Sequence, loss_fn: Callable[..., Value],
                    l2: float) -> tuple[list, float, list[float]]:
    """The outputs (floats), the loss and every gradient (in `_locations` order); ``.grad`` restored."""
    locations = _locations(model)
    saved = [p.grad for _, p, _, _ in locations]
    try:
        outputs = [model(list(x)) for x in X]
        total = loss_fn(outputs, list(y))
        if l2:
            total = total + l2_penalty(model.parameters(), l2)
        for _, p, _, _ in locations:
            p.grad = 0.0
        total.backward()
        grads = [float(p.grad) for _, p, _, _ in locations]
    finally:
        for (_, p, _, _), grad in zip(locations, saved):
            p.grad = grad
    floats = [[v.data for v in out] if isinstance(out, list) else out.data for out in outputs]
    return floats, total.data, grads


def _torch_pass(torch: ModuleType, module: torch.nn.Module, tensors: dict[str, torch.nn.Parameter],
                X: Sequence[Sequence[float]], y: Sequence, name: str, l2: float) -> tuple[Any, float, dict]:
    """The outputs (float64, one row per example), the loss and each tensor's gradient."""
    dtype = next(iter(tensors.values())).dtype
    outputs = module(torch.tensor([list(map(float, x)) for x in X], dtype=dtype))
    # One output per example is a vector for the loss (a column, [n, 1], would broadcast wrongly).
    scores = outputs[:, 0] if outputs.shape[1] == 1 and name != 'cross_entropy' else outputs
    total = torch_loss(name)(scores, torch_targets(y, name, dtype))
    if l2:
        total = total + l2 * sum((p * p).sum() for p in tensors.values())
    grads = torch.autograd.grad(total, list(tensors.values()))
    return (outputs.detach().double(), float(total.detach()),
            {tensor: g.double() for tensor, g in zip(tensors, grads)})


# ----------------------------------------------------------------------
# Optimizers.
# ----------------------------------------------------------------------
def to_torch_optimizer(optimizer: Optimizer, model: Module, module: torch.nn.Module
                       ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """The PyTorch optimizer (and learning-rate scheduler) that continues ``optimizer``'s run on ``module``.

    ``optimizer`` (`SGD` or `Adam`) must update exactly ``model``'s
    parameters; ``module`` is ``to_torch(model)``.  Its state carries over
    (momentum buffers; Adam's step count and running means), so the next
    PyTorch steps are the steps chainrule would take.  Call
    ``scheduler.step()`` after each ``optimizer.step()``: the learning rate
    then follows chainrule's schedule from the step reached (for a constant
    rate it changes nothing).

    >>> import pytest; torch = pytest.importorskip('torch')
    >>> from nn import MLP, Adam
    >>> model = MLP(2, [4, 1], seed=0)
    >>> opt, scheduler = to_torch_optimizer(Adam(model.parameters(), lr=0.01), model, to_torch(model))
    >>> type(opt).__name__, opt.param_groups[0]['lr']
    ('Adam', 0.01)
    """
    torch = import_torch()
    locations = _locations(model)
    tensors = _matching_tensors(module, locations)
    index_of = {id(p): i for i, p in enumerate(optimizer.params)}
    if set(index_of) != {id(p) for _, p, _, _ in locations}:
        raise ValueError("to_torch_optimizer: the optimizer must update exactly the model's parameters "
                         "(a PyTorch optimizer updates whole tensors)")
    params = list(tensors.values())

    def per_tensor(values: Sequence[float]) -> dict:
        out = {name: torch.zeros_like(t, requires_grad=False) for name, t in tensors.items()}
        for _, p, tensor, index in locations:
            out[tensor][index] = values[index_of[id(p)]]
        return out

    if isinstance(optimizer, SGD):
        theirs = torch.optim.SGD(params, lr=1.0, momentum=optimizer.momentum, nesterov=optimizer.nesterov,
                                 weight_decay=optimizer.weight_decay, foreach=False)
        started = [b for b in optimizer.buffers if b is not None]  # None until a parameter's first step
        if optimizer.momentum and started:
            if len(started) != len(optimizer.buffers):
                raise ValueError("to_torch_optimizer: some momentum buffers are not started yet")
            for name, buffer in per_tensor(started).items():
                theirs.state[tensors[name]] = {'momentum_buffer': buffer}
    elif isinstance(optimizer, Adam):
        theirs = torch.optim.Adam(params, lr=1.0, betas=optimizer.betas, eps=optimizer.eps,
                                  weight_decay=optimizer.weight_decay, foreach=False)
        if optimizer.steps:
            means, squares = per_tensor(optimizer.m), per_tensor(optimizer.v)
            for name, tensor in tensors.items():
                theirs.state[tensor] = {'step': torch.tensor(float(optimizer.steps)),
                                        'exp_avg': means[name], 'exp_avg_sq': squares[name]}
    else:
        raise ValueError(f"no PyTorch counterpart for the optimizer {type(optimizer).__name__}: "
                         f"SGD and Adam have one")
    done, schedule = optimizer.steps, optimizer.schedule
    # lr = 1.0 × schedule(step): LambdaLR multiplies the initial learning rate by the function's value.
    scheduler = torch.optim.lr_scheduler.LambdaLR(theirs, lambda k: schedule(done + k))
    return theirs, scheduler


# ----------------------------------------------------------------------
# Checkpoints: `chainrule export model.json --to torch out.pt`.
# ----------------------------------------------------------------------
#: How many seeded random inputs `export_checkpoint` certifies the exported module on.
PROBE_EXAMPLES = 32


def export_checkpoint(model_json_path: str | os.PathLike, out_path: str | os.PathLike, *,
                      dtype: torch.dtype | None = None, verify: bool = True) -> TorchCertificate | None:
    """Write a model saved by `Module.save` as a PyTorch checkpoint; returns its certificate.

    The checkpoint is a dict of plain data and tensors, safe to read with
    ``torch.load(path, weights_only=True)``: ``state_dict`` (the
    ``Sequential``'s), ``architecture`` (its modules, as `load_checkpoint`
    rebuilds them), ``dtype``, ``chainrule`` (the model's config and the
    parameter-name table of `torch_names`) and ``certificate``.  The
    certificate compares outputs and gradients (of the mean squared output,
    or cross-entropy for several outputs) on `PROBE_EXAMPLES` seeded random
    inputs; a module that fails it is not written (`CertificateFailed`).
    The file is written atomically: a temporary file, then renamed.

    >>> import os, tempfile, pytest; torch = pytest.importorskip('torch')
    >>> from nn import MLP
    >>> folder = tempfile.mkdtemp()
    >>> MLP(2, [16, 16, 1], seed=0).save(os.path.join(folder, 'model.json'))
    >>> certificate = export_checkpoint(os.path.join(folder, 'model.json'), os.path.join(folder, 'model.pt'))
    >>> certificate.passed, sorted(torch.load(os.path.join(folder, 'model.pt'), weights_only=True))
    (True, ['architecture', 'certificate', 'chainrule', 'dtype', 'format', 'state_dict', 'version'])
    """
    torch = import_torch()
    model = load_model(model_json_path)
    certificate = None
    if verify:
        X, y, loss = _probe_batch(model)
        module = to_torch(model, dtype=dtype, verify=(X, y), loss=loss)
        certificate = verify_torch(model, X, y, loss=loss, module=module)
    else:
        module = to_torch(model, dtype=dtype)
    checkpoint = {
        'format': CHECKPOINT_FORMAT,
        'version': CHECKPOINT_VERSION,
        'architecture': _architecture(module),
        'dtype': str(next(module.parameters()).dtype).replace('torch.', ''),
        'state_dict': module.state_dict(),
        'chainrule': {'model': type(model).__name__, 'config': model.config(),
                      'parameter_names': torch_names(model)},
        'certificate': None if certificate is None else {
            'passed': certificate.passed, 'outputs': certificate.outputs, 'loss': certificate.loss,
            'gradients': max(certificate.gradients.values()), 'tolerance': certificate.tolerance,
            'examples': certificate.examples, 'loss_name': certificate.loss_name},
    }
    _save_atomically(torch, checkpoint, out_path)
    return certificate


def load_checkpoint(path: str | os.PathLike) -> torch.nn.Sequential:
    """The ``Sequential`` stored by `export_checkpoint`, rebuilt and loaded (``weights_only=True``).

    >>> import os, tempfile, pytest; torch = pytest.importorskip('torch')
    >>> from nn import MLP
    >>> folder = tempfile.mkdtemp()
    >>> MLP(2, [3, 1], activation='tanh', seed=0).save(os.path.join(folder, 'm.json'))
    >>> _ = export_checkpoint(os.path.join(folder, 'm.json'), os.path.join(folder, 'm.pt'))
    >>> load_checkpoint(os.path.join(folder, 'm.pt'))
    Sequential(
      (0): Linear(in_features=2, out_features=3, bias=True)
      (1): Tanh()
      (2): Linear(in_features=3, out_features=1, bias=True)
    )
    """
    torch = import_torch()
    checkpoint = torch.load(path, weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get('format') != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a chainrule PyTorch checkpoint (no 'format': {CHECKPOINT_FORMAT!r})")
    if checkpoint.get('version') != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: unsupported checkpoint version {checkpoint.get('version')!r}")
    dtype = getattr(torch, checkpoint['dtype'])
    modules = []
    for spec in checkpoint['architecture']:
        if spec['type'] == 'Linear':
            modules.append(torch.nn.Linear(spec['in_features'], spec['out_features'], dtype=dtype))
        elif spec['type'] in ACTIVATION_MODULES.values():
            modules.append(getattr(torch.nn, spec['type'])())
        else:
            raise ValueError(f"{path}: unknown module type {spec['type']!r} in 'architecture'")
    module = torch.nn.Sequential(*modules)
    module.load_state_dict(checkpoint['state_dict'])
    return module


def _architecture(module: torch.nn.Sequential) -> list[dict[str, Any]]:
    """The modules of a `to_torch` Sequential as plain data (what `load_checkpoint` rebuilds)."""
    specs = []
    for part in module:
        spec: dict[str, Any] = {'type': type(part).__name__}
        if spec['type'] == 'Linear':
            spec.update(in_features=part.in_features, out_features=part.out_features)
        specs.append(spec)
    return specs


def _probe_batch(model: Module) -> tuple[list, list, str]:
    """Seeded random inputs in [-2, 2], targets and a loss that exercise every gradient."""
    first = _dense_layers(model)[0]
    rng = random.Random(0)
    X = [[rng.uniform(-2, 2) for _ in range(first.shape[1])] for _ in range(PROBE_EXAMPLES)]
    outputs = _dense_layers(model)[-1].shape[0]
    if outputs == 1:
        return X, [0.0] * PROBE_EXAMPLES, 'mse'
    return X, [i % outputs for i in range(PROBE_EXAMPLES)], 'cross_entropy'


def _save_atomically(torch: ModuleType, obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` into memory, then the project's one atomic write: never a half-written file."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomically(path, buffer.getvalue())
