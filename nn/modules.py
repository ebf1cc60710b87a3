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
import reprlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from autodiff import Value
from autodiff.files import write_atomically
from autodiff.value import weighted_sum

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

#: The longest integer a model file may hold.  Sizes and weights never need
#: more; a 5,000-digit number would only cost time (or trip Python's own limit).
MAX_FILE_INT_DIGITS = 20

#: Short reprs for error messages: a hostile value must not make a huge message.
_brief = reprlib.Repr()
_brief.maxstring = _brief.maxother = 60
_brief.maxlist = _brief.maxdict = 6

#: Any kind of module: `Module.load` returns the type it was called on (an MLP's load gives an MLP).
SomeModule = TypeVar('SomeModule', bound='Module')


class RandomSource(Protocol):
    """What weights are drawn from (the ``rng`` arguments): a ``random.Random``, or the ``random`` module.

    The module itself stands for Python's global generator: it has the same
    ``uniform`` and ``gauss`` functions, so either can be passed.

    >>> Neuron(2, rng=random.Random(0)).w[0].data == random.Random(0).uniform(-1, 1)
    True
    """

    def uniform(self, a: float, b: float) -> float: ...

    def gauss(self, mu: float, sigma: float) -> float: ...


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
        named = self._checked_state(state)
        for name, p in named.items():
            p.data = float(state[name])

    def _checked_state(self, state: Mapping[str, float]) -> dict[str, Value]:
        """The parameters by name, after checking ``state`` fits them (see `load_state_dict`)."""
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
            if not _is_finite_number(number):
                raise ValueError(f"value of {name!r} must be a finite number, got {_brief.repr(number)}")
        return named

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
        can never run code.  The file is replaced in one step (see
        `autodiff.files.write_atomically`): a full disk or a killed process
        leaves the old file whole.  Weights that are nan or infinite (training
        diverged) raise ``ValueError`` and write nothing, since `load` would
        refuse them.

        >>> import os, tempfile
        >>> model = MLP(2, [3, 1], seed=0)
        >>> path = os.path.join(tempfile.mkdtemp(), 'model.json')
        >>> model.save(path)
        >>> MLP(2, [3, 1], seed=1).load(path).state_dict() == model.state_dict()
        True
        """
        state = self.state_dict()
        for name, number in state.items():
            if not math.isfinite(number):
                raise ValueError(f"cannot save {os.fspath(path)!r}: parameter {name!r} is {number!r}; "
                                 "training diverged (try a smaller learning rate, and look for nan "
                                 "or inf in the data)")
        document = {
            'format': FILE_FORMAT,
            'version': FILE_VERSION,
            'model': type(self).__name__,
            'config': self.config(),
            'parameters': state,
        }
        write_atomically(path, json.dumps(document, indent=1, allow_nan=False) + '\n')

    def load(self: SomeModule, path: str | os.PathLike) -> SomeModule:
        """Read parameters saved by `save` into this model; returns the model.

        A file that is not valid JSON (truncated, say), not a chainrule
        model, made for a different shape, or whose config differs from this
        model's (another activation, say) raises ``ValueError`` naming the
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
        return self._load_document(read_model_file(path), path)

    def _load_document(self: SomeModule, document: dict, path: str | os.PathLike) -> SomeModule:
        """Set the parameters from a document `read_model_file` has checked."""
        state = document['parameters']
        try:
            named = self._checked_state(state)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        difference = _config_difference(document.get('config', {}), self.config())
        if difference:
            raise ValueError(f"{path}: the file was saved from a model with {difference}")
        for name, p in named.items():
            p.data = float(state[name])
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
                 init: str = 'uniform', seed: int | None = None, rng: RandomSource | None = None,
                 fan_out: int = 1):
        nin = _check_size('nin', nin)
        fan_out = _check_size('fan_out', fan_out)
        _check_choice('activation', activation, ACTIVATIONS)
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
        # The same nodes as ``act = act + wi * xi`` from ``act = self.b``, built
        # by the engine in one frame (see autodiff.value.weighted_sum).
        act = weighted_sum(self.b, self.w, x)
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
                 rng: RandomSource | None = None, **kwargs: Any):
        nout = _check_size('nout', nout)
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

    A hidden layer of one neuron gives a bare Value; the next layer reads it as a list:

    >>> narrow = MLP(2, [1, 1], seed=0)
    >>> hidden = narrow.layers[0]([1.0, 2.0])
    >>> narrow([1.0, 2.0]).data == narrow.layers[1]([hidden]).data
    True
    """

    def __init__(self, nin: int, nouts: Sequence[int], *, activation: str = 'relu',
                 output_activation: str = 'linear', init: str = 'uniform', seed: int | None = None):
        # Every argument is checked before anything is built.
        self._config = checked_mlp_config(nin, nouts, activation, output_activation, init)
        nin, nouts = self._config['nin'], self._config['nouts']
        rng = _generator(seed, None)
        sizes = [nin, *nouts]
        last = len(nouts) - 1
        self.layers = [Layer(sizes[i], sizes[i + 1], rng=rng, init=init,
                             activation=activation if i != last else output_activation)
                       for i in range(len(nouts))]
        self._label_parameters()

    def __call__(self, x: Sequence[Value | float]) -> Value | list[Value]:
        for layer in self.layers:
            out = layer(x)
            # A one-neuron layer gives a bare Value (micrograd's convention);
            # the next layer reads a list, so a hidden layer of width 1 works.
            x = [out] if isinstance(out, Value) else out
        return out

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
    else: not JSON, truncated, nested too deeply, an integer longer than
    `MAX_FILE_INT_DIGITS` digits, another format, or a bad ``parameters`` entry.

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
        document = json.loads(text, parse_int=_short_int)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON, perhaps truncated ({error})") from None
    except RecursionError:
        raise ValueError(f"{path}: not a chainrule model file (its JSON is nested too deeply)") from None
    except _LongNumber as error:
        raise ValueError(f"{path}: not a chainrule model file ({error})") from None
    if not isinstance(document, dict) or document.get('format') != FILE_FORMAT:
        raise ValueError(f"{path}: not a chainrule model file (no 'format': {FILE_FORMAT!r})")
    if type(document.get('version')) is not int or document['version'] != FILE_VERSION:
        raise ValueError(f"{path}: unsupported file version {_brief.repr(document.get('version'))} "
                         f"(this chainrule reads version {FILE_VERSION})")
    if not isinstance(document.get('parameters'), dict):
        raise ValueError(f"{path}: the key 'parameters' must hold an object of name: number")
    if not isinstance(document.get('config', {}), dict):
        raise ValueError(f"{path}: the key 'config' must hold an object")
    return document


def load_model(path: str | os.PathLike) -> MLP:
    """Rebuild a saved `MLP` from its file alone (shape from its config).

    The config is checked, and the number of parameters it describes
    compared with the number the file holds, before anything is built: a
    small file claiming a huge model is refused at once.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), 'model.json')
    >>> MLP(2, [3, 1], seed=0).save(path)
    >>> load_model(path).state_dict() == MLP(2, [3, 1], seed=0).state_dict()
    True
    """
    document = read_model_file(path)
    if document.get('model') != 'MLP':
        raise ValueError(f"{path}: load_model rebuilds MLPs, "
                         f"this file holds {_brief.repr(document.get('model'))}")
    try:
        config = _mlp_config_from_file(document.get('config', {}))
    except ValueError as error:
        raise ValueError(f"{path}: bad 'config' ({error})") from None
    expected, held = mlp_parameter_count(config['nin'], config['nouts']), len(document['parameters'])
    if expected != held:
        raise ValueError(f"{path}: its config describes MLP({config['nin']}, {_brief.repr(config['nouts'])}) "
                         f"with {expected:,} parameters, but the file holds {held:,}")
    return MLP(**config)._load_document(document, path)


def checked_mlp_config(nin: int, nouts: Sequence[int], activation: str = 'relu',
                       output_activation: str = 'linear', init: str = 'uniform') -> dict:
    """`MLP`'s arguments checked and normalized (sizes as ``int``), as `MLP.config` returns them.

    Raises ``ValueError`` naming the first bad argument; builds nothing.

    >>> checked_mlp_config(2, (16, 1))['nouts']
    [16, 1]
    >>> checked_mlp_config(2, [16, 0])
    Traceback (most recent call last):
    ...
    ValueError: nouts[1] must be a positive integer, got 0
    """
    nin = _check_size('nin', nin)
    if isinstance(nouts, (str, bytes, Mapping)) or not isinstance(nouts, Sequence):
        raise ValueError(f"nouts must be a list of layer sizes, got {_brief.repr(nouts)}")
    if not nouts:
        raise ValueError("nouts must list at least one layer size, got []")
    nouts = [_check_size(f"nouts[{i}]", size) for i, size in enumerate(nouts)]
    _check_choice('activation', activation, ACTIVATIONS)
    _check_choice('output_activation', output_activation, ACTIVATIONS)
    _check_choice('init', init, INITS)
    return {'nin': nin, 'nouts': nouts, 'activation': activation,
            'output_activation': output_activation, 'init': init}


def mlp_parameter_count(nin: int, nouts: Sequence[int]) -> int:
    """How many parameters ``MLP(nin, nouts)`` has, worked out without building it.

    Each neuron has one weight per input and a bias.

    >>> mlp_parameter_count(2, [16, 16, 1])     # 16·3 + 16·17 + 1·17
    337
    """
    sizes = [nin] + list(nouts)
    return sum(fan_out * (fan_in + 1) for fan_in, fan_out in zip(sizes, sizes[1:]))


# ----------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------
def _generator(seed: int | None, rng: RandomSource | None) -> RandomSource:
    """A private generator for ``seed``; else ``rng``; else the global one (micrograd's).

    The ``random`` module itself stands for the global generator: it has
    the same ``uniform`` and ``gauss`` functions.
    """
    if seed is not None:
        return random.Random(seed)
    return rng if rng is not None else random


def _initial_weights(init: str, nin: int, fan_out: int, rng: RandomSource) -> list[float]:
    if init == 'uniform':
        return [rng.uniform(-1, 1) for _ in range(nin)]
    if init == 'xavier':
        bound = math.sqrt(6 / (nin + fan_out))
        return [rng.uniform(-bound, bound) for _ in range(nin)]
    if init == 'he':
        std = math.sqrt(2 / nin)
        return [rng.gauss(0.0, std) for _ in range(nin)]
    raise ValueError(f"init must be one of {', '.join(map(repr, INITS))}, got {init!r}")


def _check_size(name: str, size: object) -> int:
    """``size`` as an ``int`` if it is a positive integer of any integral type (NumPy's too)."""
    if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
        raise ValueError(f"{name} must be a positive integer, got {_brief.repr(size)}")
    return int(size)


def _check_choice(name: str, choice: object, allowed: Sequence[str] | Mapping[str, object]) -> None:
    if not isinstance(choice, str) or choice not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {_brief.repr(choice)}")


def _is_finite_number(number: object) -> bool:
    if isinstance(number, bool) or not isinstance(number, numbers.Real):
        return False
    try:
        return math.isfinite(number)
    except OverflowError:  # an int too large for a float
        return False


class _LongNumber(ValueError):
    """An integer in a model file with more digits than any size or weight needs."""


def _short_int(digits: str) -> int:
    """json's integer parser, refusing absurdly long integers before converting them."""
    length = len(digits.lstrip('-'))
    if length > MAX_FILE_INT_DIGITS:
        raise _LongNumber(f"it holds an integer of {length:,} digits, more than the "
                          f"{MAX_FILE_INT_DIGITS} a model file ever needs")
    return int(digits)


#: The keys `MLP.config` writes; `nin` and `nouts` are required in a file.
_MLP_CONFIG_KEYS = ('nin', 'nouts', 'activation', 'output_activation', 'init')


def _mlp_config_from_file(config: dict) -> dict:
    """A file's ``config`` checked as `MLP` arguments (no unknown key, nin and nouts present)."""
    unknown = [key for key in config if key not in _MLP_CONFIG_KEYS]
    if unknown:
        raise ValueError(f"unknown key {_brief.repr(unknown[0])}; an MLP's config has "
                         f"{', '.join(_MLP_CONFIG_KEYS)}")
    for key in ('nin', 'nouts'):
        if key not in config:
            raise ValueError(f"the key {key!r} is missing")
    return checked_mlp_config(**config)


def _config_difference(saved: Mapping, mine: Mapping) -> str:
    """'' if a file's config agrees with a model's, else the first difference, in words."""
    if not saved or not mine:  # a hand-made file, or a module without a config: nothing to compare
        return ''
    for key in list(mine) + [key for key in saved if key not in mine]:
        if key in saved and saved[key] != mine.get(key):
            return (f"{key}={_brief.repr(saved[key])}, this model has "
                    f"{key}={_brief.repr(mine.get(key))}")
    return ''


def _and_more(names: list[str]) -> str:
    return f" (and {len(names) - 1} more)" if len(names) > 1 else ''
