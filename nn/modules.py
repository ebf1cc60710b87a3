"""Neural-network building blocks on top of `autodiff.Value` (micrograd-compatible).

A `Neuron` computes ``activation(w · x + b)``; a `Layer` is a list of
neurons reading the same inputs; an `MLP` is a chain of layers.  Every
weight and bias is a `Parameter`: an ordinary `Value` whose type (and
``label``, its dotted name) says it is learned.

>>> from nn import MLP
>>> model = MLP(2, [4, 1], seed=0)
>>> len(model.parameters())
17
>>> [name for name, _ in model.named_parameters()][:4]
['layers.0.neurons.0.w.0', 'layers.0.neurons.0.w.1', 'layers.0.neurons.0.b', 'layers.0.neurons.1.w.0']
"""

from __future__ import annotations

import json
import math
import numbers
import os
import random
from collections.abc import Callable, Iterator, Mapping, Sequence

from autodiff import Value

#: The activation functions a neuron can apply to ``w · x + b``.
ACTIVATIONS: dict[str, Callable[[Value], Value] | None] = {
    'relu': Value.relu,
    'tanh': Value.tanh,
    'sigmoid': Value.sigmoid,
    'linear': None,
}

#: How a neuron's weights are drawn (biases always start at 0, as in micrograd).
INITS = ('uniform', 'xavier', 'he')

#: Written into saved files so a loader can tell what it is reading.
FILE_FORMAT = 'chainrule.nn'
FILE_VERSION = 1


class Parameter(Value):
    """A learned `Value`: a weight or a bias.

    It behaves exactly like a `Value`; the type only marks it, so graph
    pictures and optimizers can tell parameters from data and intermediate
    results.  Modules label each one with its dotted name.

    >>> p = Parameter(0.5, label='w.0')
    >>> isinstance(p, Value), isinstance(p * 2, Parameter), Parameter.is_parameter
    (True, False, True)
    """

    __slots__ = ()
    #: What `autodiff.draw_graph` looks for to color parameters (the engine
    #: cannot import nn, so it asks the type rather than checking isinstance).
    is_parameter = True


class Module:
    """Base class: something with parameters.

    ``named_parameters`` finds parameters by walking the attributes in the
    order ``__init__`` set them: a `Value` attribute, a list of Values, a
    sub-`Module` or a list of sub-modules.  So a subclass only stores its
    parts; names, saving and loading come for free.

    >>> Module().parameters()
    []
    """

    def __call__(self, x):
        """The forward pass; every subclass defines its own.

        >>> isinstance(Neuron(1)([2.0]), Value)
        True
        """
        raise NotImplementedError(f"{type(self).__name__} must define __call__")

    # ------------------------------------------------------------------
    # Parameters.
    # ------------------------------------------------------------------
    def named_parameters(self, prefix: str = '') -> Iterator[tuple[str, Value]]:
        """``(dotted name, parameter)`` pairs, in `parameters` order.

        A parameter reachable twice (shared) is listed once, under its first name.

        >>> [name for name, _ in Neuron(2).named_parameters()]
        ['w.0', 'w.1', 'b']
        """
        seen: set[int] = set()
        for name, p in self._walk(prefix):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _walk(self, prefix: str) -> Iterator[tuple[str, Value]]:
        for attr, item in vars(self).items():
            name = prefix + attr
            if isinstance(item, Value):
                yield name, item
            elif isinstance(item, Module):
                yield from item._walk(name + '.')
            elif isinstance(item, (list, tuple)):
                for i, element in enumerate(item):
                    if isinstance(element, Value):
                        yield f"{name}.{i}", element
                    elif isinstance(element, Module):
                        yield from element._walk(f"{name}.{i}.")

    def parameters(self) -> list[Value]:
        """The trainable Values, in a fixed order (micrograd's: ``w`` then ``b`` per neuron).

        >>> len(Layer(3, 2).parameters())
        8
        """
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0 (call it before each backward).

        >>> n = Neuron(1)
        >>> n([2.0]).backward()
        >>> n.zero_grad()
        >>> n.b.grad
        0.0
        """
        for p in self.parameters():
            p.grad = 0.0

    def _label_parameters(self) -> None:
        """Give each parameter its dotted name as ``label`` (shown in graph pictures)."""
        for name, p in self.named_parameters():
            p.label = name

    # ------------------------------------------------------------------
    # Structure.
    # ------------------------------------------------------------------
    def children(self) -> Iterator[tuple[str, Module]]:
        """``(name, sub-module)`` pairs directly inside this module.

        >>> [name for name, _ in MLP(2, [3, 1]).children()]
        ['layers.0', 'layers.1']
        """
        for attr, item in vars(self).items():
            if isinstance(item, Module):
                yield attr, item
            elif isinstance(item, (list, tuple)):
                for i, element in enumerate(item):
                    if isinstance(element, Module):
                        yield f"{attr}.{i}", element

    def extra_repr(self) -> str:
        """What to show between the parentheses of this module's repr line.

        >>> Layer(3, 2).extra_repr()
        '3, 2, relu'
        """
        return ''

    def __repr__(self) -> str:
        count = len(self.parameters())
        extra = self.extra_repr()
        head = f"{type(self).__name__}({extra}{', ' if extra else ''}{count} parameters)"
        return '\n'.join([head] + ['  ' + line for line in self._children_repr()])

    def _children_repr(self) -> list[str]:
        # Runs of identical children (the 16 neurons of a layer) take one line.
        lines: list[str] = []
        groups: list[list] = []  # [first name, last name, repr, count]
        for name, child in self.children():
            text = repr(child)
            if groups and groups[-1][2] == text and '\n' not in text:
                groups[-1][1] = name
                groups[-1][3] += 1
            else:
                groups.append([name, name, text, 1])
        for first, last, text, count in groups:
            if count == 1:
                label = f"({first}): "
            else:
                label = f"({first}..{last.rsplit('.', 1)[-1]}): {count} x "
            text_lines = text.split('\n')
            lines.append(label + text_lines[0])
            lines.extend(text_lines[1:])
        return lines

    # ------------------------------------------------------------------
    # Saving and loading.
    # ------------------------------------------------------------------
    def state_dict(self) -> dict[str, float]:
        """Every parameter's value by dotted name: plain floats, ready for JSON.

        >>> n = Neuron(1)
        >>> n.w[0].data = 0.5
        >>> n.state_dict()
        {'w.0': 0.5, 'b': 0.0}
        """
        return {name: p.data for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, float]) -> None:
        """Set every parameter from ``state`` (as made by `state_dict`).

        The whole of ``state`` is checked first: a missing or unexpected key
        or a value that is not a finite number raises ``ValueError`` naming
        it, and then no parameter has changed.

        >>> n = Neuron(1)
        >>> n.load_state_dict({'w.0': 2.0, 'b': -1.0})
        >>> n([3.0]).data
        5.0
        >>> n.load_state_dict({'w.0': 2.0})
        Traceback (most recent call last):
        ...
        ValueError: state has 1 values, the model 2 parameters; missing key 'b'
        """
        if not isinstance(state, Mapping):
            raise ValueError(f"state must be a mapping of names to numbers, got {type(state).__name__}")
        named = dict(self.named_parameters())
        missing = [name for name in named if name not in state]
        unexpected = [name for name in state if name not in named]
        if missing or unexpected:
            sizes = f"state has {len(state)} values, the model {len(named)} parameters"
            problems = []
            if missing:
                problems.append(f"missing key {missing[0]!r}" + _and_more(missing))
            if unexpected:
                problems.append(f"unexpected key {unexpected[0]!r}" + _and_more(unexpected))
            raise ValueError(f"{sizes}; {'; '.join(problems)}")
        for name, number in state.items():
            if (isinstance(number, bool) or not isinstance(number, numbers.Real)
                    or not math.isfinite(number)):
                raise ValueError(f"value of {name!r} must be a finite number, got {number!r}")
        for name, p in named.items():
            p.data = float(state[name])

    def config(self) -> dict:
        """The constructor arguments that rebuild this model's shape (see `load_model`).

        >>> Module().config()
        {}
        """
        return {}

    def save(self, path: str | os.PathLike) -> None:
        """Write the parameters (and the model's config) to ``path`` as JSON.

        Floats are written with all their digits, so loading gives back
        exactly the same predictions.  JSON, never pickle: loading a file
        can never run code.

        >>> import os, tempfile
        >>> model = MLP(2, [3, 1], seed=0)
        >>> path = os.path.join(tempfile.mkdtemp(), 'model.json')
        >>> model.save(path)
        >>> MLP(2, [3, 1], seed=1).load(path).state_dict() == model.state_dict()
        True
        """
        document = {
            'format': FILE_FORMAT,
            'version': FILE_VERSION,
            'model': type(self).__name__,
            'config': self.config(),
            'parameters': self.state_dict(),
        }
        with open(path, 'w', encoding='utf-8') as file:
            json.dump(document, file, indent=1)
            file.write('\n')

    def load(self, path: str | os.PathLike) -> Module:
        """Read parameters saved by `save` into this model; returns the model.

        A file that is not valid JSON (truncated, say), not a chainrule
        model, or made for a different shape raises ``ValueError`` naming the
        offending key or size, and leaves the model unchanged.

        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), 'small.json')
        >>> MLP(2, [3, 1], seed=0).save(path)
        >>> try:
        ...     MLP(2, [4, 1]).load(path)
        ... except ValueError as error:
        ...     print(str(error).split(': ', 1)[1])
        state has 13 values, the model 17 parameters; missing key 'layers.0.neurons.3.w.0' (and 3 more)
        """
        document = read_model_file(path)
        try:
            self.load_state_dict(document['parameters'])
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        return self


class Neuron(Module):
    """One neuron: ``activation(w · x + b)``.

    ``Neuron(nin, nonlin=True)`` is micrograd's neuron (ReLU; linear when
    ``nonlin=False``).  ``activation`` picks another nonlinearity, ``init``
    how the weights are drawn:

    * ``'uniform'``: uniform(-1, 1), micrograd's choice;
    * ``'xavier'``: uniform(±sqrt(6 / (nin + fan_out))), Glorot's, for tanh/sigmoid;
    * ``'he'``: normal(0, sqrt(2 / nin)), Kaiming's, for ReLU.

    ``seed`` (or a ``random.Random`` as ``rng``) makes the draw reproducible
    without touching the global ``random`` state; without either, the
    global generator is used, exactly as micrograd does.

    >>> n = Neuron(2, activation='tanh', seed=0)
    >>> n
    Neuron(2, tanh, 3 parameters)
    >>> n.load_state_dict({'w.0': 1.0, 'w.1': 2.0, 'b': 0.5})
    >>> n([1.0, -1.0]).data == math.tanh(1.0 - 2.0 + 0.5)
    True
    """

    def __init__(self, nin: int, nonlin: bool = True, *, activation: str = 'relu',
                 init: str = 'uniform', seed: int | None = None, rng: random.Random | None = None,
                 fan_out: int = 1):
        _check_size('nin', nin)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}, "
                             f"got {activation!r}")
        rng = _generator(seed, rng)
        self.w = [Parameter(w) for w in _initial_weights(init, nin, fan_out, rng)]
        self.b = Parameter(0.0)
        self.activation = activation if nonlin else 'linear'
        self.nonlin = self.activation != 'linear'  # micrograd's attribute
        self._apply = ACTIVATIONS[self.activation]
        self._label_parameters()

    def __call__(self, x: Sequence[Value | float]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"this neuron takes {len(self.w)} inputs, got {len(x)}")
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return self._apply(act) if self._apply else act

    def extra_repr(self) -> str:
        return f"{len(self.w)}, {self.activation}"


class Layer(Module):
    """``nout`` neurons reading the same inputs; one Value when ``nout == 1``.

    Keyword arguments go to each `Neuron` (``nonlin``, ``activation``,
    ``init``); ``seed`` or ``rng`` draw the whole layer reproducibly.

    >>> Layer(2, 3)
    Layer(2, 3, relu, 9 parameters)
      (neurons.0..2): 3 x Neuron(2, relu, 3 parameters)
    """

    def __init__(self, nin: int, nout: int, *, seed: int | None = None,
                 rng: random.Random | None = None, **kwargs):
        _check_size('nout', nout)
        rng = _generator(seed, rng)
        self.neurons = [Neuron(nin, rng=rng, fan_out=nout, **kwargs) for _ in range(nout)]
        self._label_parameters()

    def __call__(self, x: Sequence[Value | float]) -> Value | list[Value]:
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def extra_repr(self) -> str:
        first = self.neurons[0]
        return f"{len(first.w)}, {len(self.neurons)}, {first.activation}"


class MLP(Module):
    """A multi-layer perceptron: ``activation`` hidden layers, a linear last layer.

    ``MLP(nin, nouts)`` is micrograd's (ReLU hidden layers).  ``seed``
    builds identical weights every time without touching the global
    ``random`` state.  ``output_activation`` (``'linear'`` by default) can
    make the last layer give probabilities (``'sigmoid'``).

    >>> model = MLP(2, [16, 16, 1], seed=0)
    >>> model
    MLP(2, [16, 16, 1], relu, 337 parameters)
      (layers.0): Layer(2, 16, relu, 48 parameters)
        (neurons.0..15): 16 x Neuron(2, relu, 3 parameters)
      (layers.1): Layer(16, 16, relu, 272 parameters)
        (neurons.0..15): 16 x Neuron(16, relu, 17 parameters)
      (layers.2): Layer(16, 1, linear, 17 parameters)
        (neurons.0): Neuron(16, linear, 17 parameters)
    >>> model.state_dict() == MLP(2, [16, 16, 1], seed=0).state_dict()
    True
    """

    def __init__(self, nin: int, nouts: Sequence[int], *, activation: str = 'relu',
                 output_activation: str = 'linear', init: str = 'uniform', seed: int | None = None):
        _check_size('nin', nin)
        nouts = list(nouts)
        if not nouts:
            raise ValueError("nouts must list at least one layer size, got []")
        self._config = {'nin': nin, 'nouts': nouts, 'activation': activation,
                        'output_activation': output_activation, 'init': init}
        rng = _generator(seed, None)
        sizes = [nin] + nouts
        last = len(nouts) - 1
        self.layers = [Layer(sizes[i], sizes[i + 1], rng=rng, init=init,
                             activation=activation if i != last else output_activation)
                       for i in range(len(nouts))]
        self._label_parameters()

    def __call__(self, x: Sequence[Value | float]) -> Value | list[Value]:
        for layer in self.layers:
            x = layer(x)
        return x

    def config(self) -> dict:
        """The arguments that rebuild this shape: ``MLP(**model.config())``.

        >>> MLP(2, [3, 1]).config()['nouts']
        [3, 1]
        """
        return dict(self._config, nouts=list(self._config['nouts']))

    def extra_repr(self) -> str:
        return f"{self._config['nin']}, {self._config['nouts']}, {self._config['activation']}"


def read_model_file(path: str | os.PathLike) -> dict:
    """The checked contents of a file written by `Module.save`.

    Raises ``ValueError`` (naming the file and the problem) for anything
    else: not JSON, truncated, another format, or a bad ``parameters`` entry.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), 'cut.json')
    >>> with open(path, 'w') as file:
    ...     _ = file.write('{"format": "chainrule.nn", "para')
    >>> read_model_file(path)
    Traceback (most recent call last):
    ...
    ValueError: ...cut.json: not valid JSON, perhaps truncated (...)
    """
    try:
        with open(path, encoding='utf-8') as file:
            text = file.read()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a chainrule model file (not UTF-8 text)") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON, perhaps truncated ({error})") from None
    if not isinstance(document, dict) or document.get('format') != FILE_FORMAT:
        raise ValueError(f"{path}: not a chainrule model file (no 'format': {FILE_FORMAT!r})")
    if document.get('version') != FILE_VERSION:
        raise ValueError(f"{path}: unsupported file version {document.get('version')!r} "
                         f"(this chainrule reads version {FILE_VERSION})")
    if not isinstance(document.get('parameters'), dict):
        raise ValueError(f"{path}: the key 'parameters' must hold an object of name: number")
    if not isinstance(document.get('config', {}), dict):
        raise ValueError(f"{path}: the key 'config' must hold an object")
    return document


def load_model(path: str | os.PathLike) -> MLP:
    """Rebuild a saved `MLP` from its file alone (shape from its config).

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), 'model.json')
    >>> MLP(2, [3, 1], seed=0).save(path)
    >>> load_model(path).state_dict() == MLP(2, [3, 1], seed=0).state_dict()
    True
    """
    document = read_model_file(path)
    if document.get('model') != 'MLP':
        raise ValueError(f"{path}: load_model rebuilds MLPs, this file holds {document.get('model')!r}")
    try:
        model = MLP(**document['config'])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: bad 'config' ({error})") from None
    return model.load(path)


# ----------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------
def _generator(seed: int | None, rng: random.Random | None):
    """A private generator for ``seed``; else ``rng``; else the global one (micrograd's).

    The ``random`` module itself stands for the global generator: it has
    the same ``uniform`` and ``gauss`` functions.
    """
    if seed is not None:
        return random.Random(seed)
    return rng if rng is not None else random


def _initial_weights(init: str, nin: int, fan_out: int, rng) -> list[float]:
    if init == 'uniform':
        return [rng.uniform(-1, 1) for _ in range(nin)]
    if init == 'xavier':
        bound = math.sqrt(6 / (nin + fan_out))
        return [rng.uniform(-bound, bound) for _ in range(nin)]
    if init == 'he':
        std = math.sqrt(2 / nin)
        return [rng.gauss(0.0, std) for _ in range(nin)]
    raise ValueError(f"init must be one of {', '.join(map(repr, INITS))}, got {init!r}")


def _check_size(name: str, size: object) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"{name} must be a positive integer, got {size!r}")


def _and_more(names: list[str]) -> str:
    return f" (and {len(names) - 1} more)" if len(names) > 1 else ''
