"""chainrule against micrograd and PyTorch, side by side in one process.

    python benchmarks/run.py            # the full run (about 8 minutes)
    python benchmarks/run.py --quick    # a smoke run (seconds)
    python benchmarks/run.py --profile  # also: cProfile of one eager W1 step

Workloads (see benchmarks/README.md): W1 the micrograd demo's training step,
W2 a deep chain, W3 a wide balanced sum of products, W4 bytes per node.
Engines are interleaved (one step of each in turn) so that a noisy machine
slows all of them alike, and every timing ends with ``gc.collect()`` so an
engine pays for releasing its own graph.  Everything set up before timing
is moved out of the collector's view with ``gc.freeze()``: otherwise each
collection would also scan the ~165k objects of the imported libraries
(PyTorch alone makes a full collection cost ~90 ms here), which measures
the process, not the engine.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib.metadata
import io
import json
import math
import os
import platform
import pstats
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autodiff import Value, gc_paused  # noqa: E402 - after the path set-up above
from autodiff.codegen import compile_batch  # noqa: E402
from autodiff.files import write_atomically  # noqa: E402
from nn import MLP, SGD, hinge_loss  # noqa: E402
from nn.compiled_training import compile_step  # noqa: E402


def optional(module: str):
    try:
        return __import__(module)
    except ImportError:
        return None


micrograd = optional('micrograd')
if micrograd is not None:
    from micrograd.engine import Value as MicroValue
    from micrograd.nn import MLP as MicroMLP
    if not hasattr(MicroValue, 'tanh'):
        # micrograd 0.1.0 has no tanh (W2 needs one): add it in micrograd's own
        # style, a _backward closure per node, as its lecture writes it.
        def _micrograd_tanh(self):
            t = math.tanh(self.data)
            out = MicroValue(t, (self,), 'tanh')

            def _backward():
                self.grad += (1 - t * t) * out.grad
            out._backward = _backward
            return out
        MicroValue.tanh = _micrograd_tanh
np = optional('numpy')
torch = optional('torch')
if torch is not None:
    torch.set_num_threads(1)  # every engine here runs on one core

# Deep graphs: micrograd sorts its graph recursively.
sys.setrecursionlimit(100_000)


# ----------------------------------------------------------------------
# Data: the micrograd demo's two moons, made here (no scikit-learn).
# ----------------------------------------------------------------------
def make_moons(n: int, noise: float = 0.1, seed: int = 1) -> tuple[list[list[float]], list[float]]:
    """Two interleaving half circles, labels -1/+1 (as in the micrograd demo)."""
    rng = random.Random(seed)
    X, Y = [], []
    for i in range(n):
        t = math.pi * rng.random()
        if i % 2 == 0:
            x, y, label = math.cos(t), math.sin(t), -1.0
        else:
            x, y, label = 1 - math.cos(t), 0.5 - math.sin(t), 1.0
        X.append([x + rng.gauss(0, noise), y + rng.gauss(0, noise)])
        Y.append(label)
    return X, Y


def timed(step: Callable[[], object]) -> float:
    """Seconds for one call, including the collection of whatever it left behind."""
    start = time.perf_counter()
    step()
    gc.collect()
    return time.perf_counter() - start


def learning_rate(k: int, steps: int) -> float:
    return 1.0 - 0.9 * k / steps  # the micrograd demo's schedule


ALPHA = 1e-4
#: Engines whose gradient takes less than this (ms) are warmed up before each timed step.
WARMED_BELOW_MS = 50.0


# ----------------------------------------------------------------------
# W1: one engine per class; each step is forward + backward + SGD update.
# ----------------------------------------------------------------------
class ScalarEngine:
    """micrograd or chainrule eager: the demo's own code on either Value class."""

    def __init__(self, model, X, Y):
        self.model, self.X, self.Y = model, X, Y

    def step(self, k: int, steps: int) -> float:
        model = self.model
        scores = [model(x) for x in self.X]
        losses = [(1 + -y * s).relu() for y, s in zip(self.Y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        total = data_loss + ALPHA * sum(p * p for p in model.parameters())
        model.zero_grad()
        total.backward()
        lr = learning_rate(k, steps)
        for p in model.parameters():
            p.data -= lr * p.grad
        return total.data

    def accuracy(self) -> float:
        return statistics.mean((self.model(x).data > 0) == (y > 0) for x, y in zip(self.X, self.Y))

    def gradient(self) -> list[float]:
        """∂loss/∂parameters at the current weights, in micrograd's parameter order (no update)."""
        model = self.model
        scores = [model(x) for x in self.X]
        losses = [(1 + -y * s).relu() for y, s in zip(self.Y, scores)]
        total = sum(losses) * (1.0 / len(losses)) + ALPHA * sum(p * p for p in model.parameters())
        model.zero_grad()
        total.backward()
        return [float(p.grad) for p in model.parameters()]


class PausedGcEngine(ScalarEngine):
    """chainrule eager, each step inside ``gc_paused()`` as `nn.fit` runs it.

    The graphs hold no reference cycles, so the cyclic collector's walks
    over the growing graph during the step find nothing: pausing them is safe.
    """

    def step(self, k: int, steps: int) -> float:
        with gc_paused():
            return super().step(k, steps)


class FitCompiledEngine:
    """`nn.fit(compile=True)`'s own step: `compile_step` (fastest backend) and nn's SGD."""

    def __init__(self, model, X, Y):
        self.model, self.X, self.Y = model, X, Y
        start = time.perf_counter()
        self.step_fn = compile_step(model, X, Y, loss=hinge_loss, l2=ALPHA, backend='auto')
        self.compile_seconds = time.perf_counter() - start
        self.optimizer = SGD(model.parameters(), lr=lambda k: learning_rate(k, self.steps))
        self.steps = 1
        # As fit converts X and Y once for the NumPy code.
        self.rows, self.labels = (self.step_fn.as_array(X), self.step_fn.as_targets(Y)) \
            if self.step_fn.runs_on_arrays else (X, Y)

    def step(self, k: int, steps: int) -> float:
        # What fit runs per batch: with NumPy the weights stay one array between write-backs.
        self.steps = steps
        if not self.step_fn.runs_on_arrays:
            loss, _ = self.step_fn(self.X, self.Y)
            self.optimizer.step()
            return loss
        loss, _ = self.step_fn.on_arrays(self.rows, self.labels)
        self.optimizer.step_arrays(self.step_fn.weights, self.step_fn.grads)
        return loss

    def gradient(self) -> list[float]:
        if self.step_fn.runs_on_arrays:  # fit's path: the weights as one array
            self.step_fn.on_arrays(self.rows, self.labels)
            return self.step_fn.grads.tolist()
        self.step_fn(self.X, self.Y)
        return [p.grad for p in self.model.parameters()]

    def accuracy(self) -> float:
        self.step_fn.write_back()
        return statistics.mean((self.model(x).data > 0) == (y > 0) for x, y in zip(self.X, self.Y))


class CompiledEngine:
    """chainrule compiled: the demo's per-example loss, compiled once for whole batches."""

    def __init__(self, model, X, Y, backend: str):
        params = model.parameters()
        self.model = model
        start = time.perf_counter()
        self.loss = compile_batch(lambda ps, x, y: (1 + -y * model(x)).relu(), (params, X[0], Y[0]),
                                  batched=(1, 2), penalty=lambda ps: ALPHA * sum(p * p for p in ps),
                                  backend=backend)
        self.compile_seconds = time.perf_counter() - start
        self.numpy = backend == 'numpy'
        # With NumPy the parameters stay one array across steps, updated in place
        # (the gradient comes back as an array when the parameters go in as one).
        self.params = np.array([p.data for p in params]) if self.numpy else [p.data for p in params]
        self.X = np.asarray(X) if self.numpy else X
        self.Y, self.X_list, self.Y_list = (np.asarray(Y) if self.numpy else Y), X, Y

    def step(self, k: int, steps: int) -> float:
        value, grads = self.loss(self.params, self.X, self.Y)
        lr = learning_rate(k, steps)
        if self.numpy:
            self.params -= lr * grads
        else:
            self.params = [p - lr * g for p, g in zip(self.params, grads)]
        return value

    def gradient(self) -> list[float]:
        return [float(g) for g in self.loss(self.params, self.X, self.Y)[1]]

    def accuracy(self) -> float:
        for p, d in zip(self.model.parameters(), self.params):
            p.data = float(d)
        return statistics.mean((self.model(x).data > 0) == (y > 0) for x, y in zip(self.X_list, self.Y_list))


class TorchVectorEngine:
    """PyTorch with whole-layer tensors: the reference for what vectorizing buys."""

    def __init__(self, init: list[float], X, Y):
        shapes = [(16, 2), (16,), (16, 16), (16,), (1, 16), (1,)]
        weights = _layer_major(init, [2, 16, 16], [16, 16, 1])
        self.params = [torch.tensor(w, dtype=torch.float64).reshape(s).requires_grad_()
                       for w, s in zip(weights, shapes)]
        self.X = torch.tensor(X, dtype=torch.float64)
        self.Y = torch.tensor(Y, dtype=torch.float64)

    def scores(self):
        w1, b1, w2, b2, w3, b3 = self.params
        h = torch.relu(self.X @ w1.T + b1)
        h = torch.relu(h @ w2.T + b2)
        return (h @ w3.T + b3).squeeze(1)

    def step(self, k: int, steps: int) -> float:
        data_loss = torch.relu(1 - self.Y * self.scores()).mean()
        total = data_loss + ALPHA * sum((p * p).sum() for p in self.params)
        for p in self.params:
            p.grad = None
        total.backward()
        lr = learning_rate(k, steps)
        with torch.no_grad():
            for p in self.params:
                p -= lr * p.grad
        return total.item()

    def accuracy(self) -> float:
        with torch.no_grad():
            return ((self.scores() > 0) == (self.Y > 0)).double().mean().item()

    def gradient(self) -> list[float]:
        data_loss = torch.relu(1 - self.Y * self.scores()).mean()
        total = data_loss + ALPHA * sum((p * p).sum() for p in self.params)
        grads = torch.autograd.grad(total, self.params)
        return _neuron_major([g.flatten().tolist() for g in grads], [2, 16, 16], [16, 16, 1])


class TorchScalarEngine(ScalarEngine):
    """PyTorch with 0-dim tensors: one tensor per scalar, as a scalar engine would."""

    gradient = None  # two steps only (~0.6 s each): its gradient is not checked

    def __init__(self, init: list[float], X, Y):
        self.params = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in init]
        self.X, self.Y = X, Y
        self.sizes = [2, 16, 16, 1]

    def score(self, x):
        it = iter(self.params)
        for layer, (nin, nout) in enumerate(zip(self.sizes, self.sizes[1:])):
            out = []
            for _ in range(nout):
                w = [next(it) for _ in range(nin)]
                act = sum((wi * xi for wi, xi in zip(w, x)), next(it))
                out.append(torch.relu(act) if layer < len(self.sizes) - 2 else act)
            x = out
        return x[0]

    def step(self, k: int, steps: int) -> float:
        losses = [torch.relu(1 + -y * self.score(x)) for x, y in zip(self.X, self.Y)]
        total = sum(losses) * (1.0 / len(losses)) + ALPHA * sum(p * p for p in self.params)
        for p in self.params:
            p.grad = None
        total.backward()
        lr = learning_rate(k, steps)
        with torch.no_grad():
            for p in self.params:
                p -= lr * p.grad
        return total.item()


class HandNumpyEngine:
    """The NumPy limit: the same model, loss and update written directly with arrays.

    Forward ``H = relu(X Wᵀ + b)`` per layer, the hinge loss and the L2
    penalty; backward by hand (``∂W = Gᵀ H``, ``∂b = Σ G``, ``∂H = G W``);
    the update in place.  Parameters stay arrays across steps.
    """

    def __init__(self, init: list[float], X, Y):
        shapes = [(16, 2), (16,), (16, 16), (16,), (1, 16), (1,)]
        self.params = [np.array(w).reshape(s) for w, s in zip(_layer_major(init, [2, 16, 16], [16, 16, 1]),
                                                               shapes)]
        self.X, self.Y = np.asarray(X), np.asarray(Y)

    def loss_and_gradients(self) -> tuple[float, list]:
        w1, b1, w2, b2, w3, b3 = self.params
        X, Y, n = self.X, self.Y, len(self.Y)
        z1 = X @ w1.T + b1
        h1 = np.maximum(z1, 0.0)
        z2 = h1 @ w2.T + b2
        h2 = np.maximum(z2, 0.0)
        margins = 1.0 - Y * (h2 @ w3.T + b3)[:, 0]
        penalty = ALPHA * sum(float(np.vdot(p, p)) for p in self.params)
        loss = float(np.maximum(margins, 0.0).sum()) / n + penalty
        g_score = np.where(margins > 0, -Y / n, 0.0)[:, None]    # relu'(0) = 0, as the engines
        g_z2 = (g_score @ w3) * (z2 > 0)
        g_z1 = (g_z2 @ w2) * (z1 > 0)
        grads = [g_z1.T @ X, g_z1.sum(0), g_z2.T @ h1, g_z2.sum(0), g_score.T @ h2, g_score.sum(0)]
        return loss, [g + (2 * ALPHA) * p for g, p in zip(grads, self.params)]

    def step(self, k: int, steps: int) -> float:
        loss, grads = self.loss_and_gradients()
        lr = learning_rate(k, steps)
        for p, g in zip(self.params, grads):
            p -= lr * g
        return loss

    def accuracy(self) -> float:
        w1, b1, w2, b2, w3, b3 = self.params
        h = np.maximum(np.maximum(self.X @ w1.T + b1, 0) @ w2.T + b2, 0)
        return float(np.mean(((h @ w3.T + b3)[:, 0] > 0) == (self.Y > 0)))

    def gradient(self) -> list[float]:
        grads = self.loss_and_gradients()[1]
        return _neuron_major([g.ravel().tolist() for g in grads], [2, 16, 16], [16, 16, 1])


def unrolled_source(nins: list[int], nouts: list[int]) -> str:
    """Straight-line Python for one step of the demo's loss: every product and slope written out.

    Generated once, here, independently of chainrule's code generator: the
    parameters are locals ``p0 ... p336`` (micrograd's order), each example
    is a loop iteration of plain float arithmetic, gradients are local sums.
    """
    count = sum((a + 1) * b for a, b in zip(nins, nouts))
    lines = ['def step(params, X, Y):', '    (' + ', '.join(f"p{i}" for i in range(count)) + ',) = params']
    index, layers = 0, []
    for nin, nout in zip(nins, nouts):
        layers.append([(list(range(index + j * (nin + 1), index + j * (nin + 1) + nin)),
                        index + j * (nin + 1) + nin) for j in range(nout)])
        index += nout * (nin + 1)
    lines += [f"    g{i} = 0.0" for i in range(index)] + ['    total = 0.0', '    n = len(Y)',
                                                          '    for (x0, x1), y in zip(X, Y):']
    inputs = ['x0', 'x1']
    for depth, layer in enumerate(layers):  # forward: z = b + Σ w x, then relu except at the end
        outs = []
        for j, (weights, bias) in enumerate(layer):
            z = f"z{depth}_{j}"
            products = ' + '.join(f"p{w} * {x}" for w, x in zip(weights, inputs))
            lines.append(f"        {z} = p{bias} + {products}")
            if depth < len(layers) - 1:
                lines.append(f"        h{depth}_{j} = {z} if {z} > 0.0 else 0.0")
            outs.append(f"h{depth}_{j}" if depth < len(layers) - 1 else z)
        inputs = outs
    score = inputs[0]
    # Branch-free like a trace: every example runs the whole backward pass (relu'(0) = 0).
    lines += [f"        m = 1.0 - y * {score}", '        total += m if m > 0.0 else 0.0',
              f"        gz{len(layers) - 1}_0 = -y / n if m > 0.0 else 0.0"]
    for depth in range(len(layers) - 1, -1, -1):  # backward: ∂b = g, ∂w = g·x, ∂x = Σ g·w (where z > 0)
        below = ['x0', 'x1'] if depth == 0 else [f"h{depth - 1}_{k}" for k in range(len(layers[depth][0][0]))]
        for j, (weights, bias) in enumerate(layers[depth]):
            g = f"gz{depth}_{j}"
            lines.append(f"        g{bias} += {g}")
            lines += [f"        g{w} += {g} * {x}" for w, x in zip(weights, below)]
        if depth:
            for k in range(len(below)):
                terms = ' + '.join(f"gz{depth}_{j} * p{weights[k]}"
                                   for j, (weights, _) in enumerate(layers[depth]))
                lines.append(f"        gz{depth - 1}_{k} = ({terms}) if z{depth - 1}_{k} > 0.0 else 0.0")
    lines.append('    penalty = ' + ' + '.join(f"p{i} * p{i}" for i in range(index)))
    lines.append('    return total / n + ' + repr(ALPHA) + ' * penalty, [' + ', '.join(
        f"g{i} + {2 * ALPHA!r} * p{i}" for i in range(index)) + ']')
    return '\n'.join(lines)


class UnrolledPythonEngine:
    """The pure-Python limit: `unrolled_source` compiled once; floats only, no graph objects."""

    def __init__(self, init: list[float], X, Y):
        scope: dict = {}
        start = time.perf_counter()
        exec(builtins_compile(unrolled_source([2, 16, 16], [16, 16, 1]), '<unrolled>', 'exec'), scope)
        self.compile_seconds = time.perf_counter() - start
        self.run, self.params, self.X, self.Y = scope['step'], list(init), X, Y

    def step(self, k: int, steps: int) -> float:
        value, grads = self.run(self.params, self.X, self.Y)
        lr = learning_rate(k, steps)
        self.params = [p - lr * g for p, g in zip(self.params, grads)]
        return value

    def accuracy(self) -> float:
        model = MLP(2, [16, 16, 1])
        for p, v in zip(model.parameters(), self.params):
            p.data = v
        return statistics.mean((model(x).data > 0) == (y > 0) for x, y in zip(self.X, self.Y))

    def gradient(self) -> list[float]:
        return self.run(self.params, self.X, self.Y)[1]


builtins_compile = compile  # the builtin, under a name that says so


def _neuron_major(layer_arrays: list[list[float]], nins: list[int], nouts: list[int]) -> list[float]:
    """Per-layer W (row-major) and b back to micrograd's order: per neuron, weights then bias."""
    flat = []
    for layer, (nin, nout) in enumerate(zip(nins, nouts)):
        w, b = layer_arrays[2 * layer], layer_arrays[2 * layer + 1]
        for j in range(nout):
            flat += w[j * nin:(j + 1) * nin] + [b[j]]
    return flat


def _layer_major(flat: list[float], nins: list[int], nouts: list[int]) -> list[list[float]]:
    """micrograd's parameter order (per neuron: weights then bias) as per-layer W and b."""
    out, i = [], 0
    for nin, nout in zip(nins, nouts):
        w, b = [], []
        for _ in range(nout):
            w += flat[i:i + nin]
            b.append(flat[i + nin])
            i += nin + 1
        out += [w, b]
    return out


def w1(steps: int, torch_scalar_steps: int) -> dict:
    """The micrograd demo: MLP(2, [16, 16, 1]) on 100 moons, max-margin loss, full-batch SGD."""
    X, Y = make_moons(100)
    random.seed(1337)
    init = [random.uniform(-1, 1) for _ in range(337)]
    engines: dict[str, object] = {}

    def own_model():
        model = MLP(2, [16, 16, 1])
        for p, v in zip(model.parameters(), init):
            p.data = v
        return model

    if micrograd:
        model = MicroMLP(2, [16, 16, 1])
        for p, v in zip(model.parameters(), init):
            p.data = v
        engines['micrograd'] = ScalarEngine(model, X, Y)
    engines['chainrule eager'] = ScalarEngine(own_model(), X, Y)
    engines['chainrule eager + gc_paused'] = PausedGcEngine(own_model(), X, Y)
    engines['chainrule compiled (python)'] = CompiledEngine(own_model(), X, Y, 'python')
    if np:
        engines['chainrule compiled (numpy)'] = CompiledEngine(own_model(), X, Y, 'numpy')
    engines['nn.fit(compile=True) step'] = FitCompiledEngine(own_model(), X, Y)
    engines['limit: unrolled pure Python'] = UnrolledPythonEngine(init, X, Y)
    if np:
        engines['limit: hand-written NumPy'] = HandNumpyEngine(init, X, Y)
    if torch:
        engines['torch 0-dim tensors'] = TorchScalarEngine(init, X, Y)
        engines['torch vectorized'] = TorchVectorEngine(init, X, Y)
    differences = gradient_differences(engines)
    gc.collect()
    gc.freeze()
    times: dict[str, list[float]] = {name: [] for name in engines}
    # A step of a few ms or less runs right after another engine's: without a warm-up it pays
    # for the caches that one left behind (whichever NumPy row followed compiled Python took
    # +0.3 ms, 1.8x its time).  Each such engine first evaluates its gradient, untimed.
    warmed = {name for name, engine in engines.items() if getattr(engine, 'gradient', None)
              and 1e3 * timed(engine.gradient) < WARMED_BELOW_MS}
    losses: dict[str, float] = {}
    for k in range(steps):
        for name, engine in engines.items():
            if name == 'torch 0-dim tensors' and k >= torch_scalar_steps:
                continue  # about 100x slower than micrograd's rivals: a few steps suffice
            def one_step(engine=engine, name=name, k=k):
                losses[name] = engine.step(k, steps)
            if name in warmed:
                engine.gradient()  # untimed: the step then finds its code and data warm
            times[name].append(timed(one_step))
    gc.unfreeze()
    results = {}
    for name, engine in engines.items():
        entry = {'ms_per_step': 1e3 * statistics.median(times[name]), 'steps_timed': len(times[name])}
        if name != 'torch 0-dim tensors':
            entry['accuracy'] = engine.accuracy()
            entry['final_loss'] = losses[name]
        if hasattr(engine, 'compile_seconds'):
            entry['compile_seconds'] = engine.compile_seconds
        if name in differences:
            entry['max_grad_difference_vs_micrograd'] = differences[name]
        results[name] = entry
    return results


def gradient_differences(engines: dict) -> dict[str, float]:
    """Each engine's gradient at the initial weights against micrograd's: the largest difference.

    Every row must compute the same step: a faster row that computed a
    different gradient would measure nothing.
    """
    if 'micrograd' not in engines:
        return {}
    reference = engines['micrograd'].gradient()
    differences = {}
    for name, engine in engines.items():
        if callable(getattr(engine, 'gradient', None)) and name != 'micrograd':
            grads = engine.gradient()
            assert len(grads) == len(reference), name
            differences[name] = max(abs(a - b) for a, b in zip(grads, reference))
            if differences[name] > 1e-9:
                raise AssertionError(f"{name}: gradient differs from micrograd's by {differences[name]:.3g}")
    return differences


# ----------------------------------------------------------------------
# W2-W4: graph-building workloads for the scalar engines.
# ----------------------------------------------------------------------
def deep_chain(V, n: int) -> None:
    x = V(0.5)
    y = x
    for _ in range(n):
        y = (y * 1.0001 + 0.001).tanh()
    y.backward()


def torch_deep_chain(n: int) -> None:
    x = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    y = x
    for _ in range(n):
        y = torch.tanh(y * 1.0001 + 0.001)
    y.backward()


def wide_sum(V, n: int) -> None:
    rng = random.Random(0)
    level = [V(rng.random()) * V(rng.random()) for _ in range(n)]
    while len(level) > 1:
        level = [level[i] + level[i + 1] if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
    level[0].backward()


def torch_wide_sum(n: int) -> None:
    rng = random.Random(0)
    level = [torch.tensor(rng.random(), dtype=torch.float64, requires_grad=True)
             * torch.tensor(rng.random(), dtype=torch.float64, requires_grad=True) for _ in range(n)]
    while len(level) > 1:
        level = [level[i] + level[i + 1] if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
    level[0].backward()


def with_gc_paused(workload: Callable[[int], None]) -> Callable[[int], None]:
    """The workload inside ``gc_paused()``: the growing graph is not re-walked by the collector."""
    def run(n: int) -> None:
        with gc_paused():
            workload(n)
    return run


def graph_engines(limits: dict[str, int]) -> dict[str, tuple[Callable, Callable, int]]:
    """name -> (deep chain, wide sum, largest deep-chain n it runs)."""
    chain, wide = (lambda n: deep_chain(Value, n)), (lambda n: wide_sum(Value, n))
    engines = {'chainrule eager': (chain, wide, 10**7),
               'chainrule eager + gc_paused': (with_gc_paused(chain), with_gc_paused(wide), 10**7)}
    if micrograd:
        engines['micrograd'] = (lambda n: deep_chain(MicroValue, n), lambda n: wide_sum(MicroValue, n),
                                limits['micrograd'])
    if torch:
        engines['torch 0-dim tensors'] = (torch_deep_chain, torch_wide_sum, limits['torch'])
    return engines


def w2_w3_w4(sizes: list[int], wide: int, rounds: int, limits: dict[str, int]) -> dict:
    engines = graph_engines(limits)
    gc.collect()
    gc.freeze()
    w2 = {}
    for n in sizes:
        times = {name: [] for name, (_, _, cap) in engines.items() if n <= cap}
        for _ in range(rounds):
            for name in times:
                times[name].append(timed(lambda f=engines[name][0], n=n: f(n)))
        # Nodes per link: two constant leaves, a product, a sum and a tanh.
        nodes = 5 * n + 1
        w2[str(n)] = {name: 1e6 * statistics.median(t) / nodes for name, t in times.items()}
    # W3: 2n leaves, n products, n - 1 sums.
    nodes = 4 * wide - 1
    times = {name: [] for name in engines}
    for _ in range(rounds):
        for name, (_, wide_fn, _) in engines.items():
            times[name].append(timed(lambda f=wide_fn: f(wide)))
    w3 = {name: 1e6 * statistics.median(t) / nodes for name, t in times.items()}
    gc.unfreeze()
    w4 = {}
    for name in engines:
        if not name.endswith('gc_paused'):  # the same graph: the same bytes
            w4[name] = bytes_per_node(name, wide, nodes)
    w4b = {name: bytes_per_node(name, wide, nodes, backward=True) for name in w4
           if name != 'torch 0-dim tensors'}
    return {'W2': w2, 'W3': w3, 'W4': w4, 'W4b': w4b}


def bytes_per_node(name: str, n: int, nodes: int, backward: bool = False) -> float:
    """Traced memory held by the W3 graph per node: built (and, with ``backward``, differentiated)."""
    V = {'chainrule eager': Value, 'micrograd': MicroValue if micrograd else None}.get(name)
    rng = random.Random(0)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    if V is not None:
        level = [V(rng.random()) * V(rng.random()) for _ in range(n)]
    else:
        level = [torch.tensor(rng.random(), dtype=torch.float64, requires_grad=True)
                 * torch.tensor(rng.random(), dtype=torch.float64, requires_grad=True) for _ in range(n)]
    while len(level) > 1:
        level = [level[i] + level[i + 1] if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
    if backward:
        level[0].backward()  # leaves the gradients (what the pass kept besides them is freed)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del level
    gc.collect()
    return used / nodes


# ----------------------------------------------------------------------
# Report.
# ----------------------------------------------------------------------
def machine() -> dict:
    model = platform.processor() or ''
    try:
        lscpu = subprocess.run(['lscpu'], capture_output=True, text=True, check=False).stdout
        model = next((line.split(':', 1)[1].strip() for line in lscpu.splitlines()
                      if line.startswith('Model name')), model)
    except OSError:
        pass
    versions = {'python': platform.python_version()}
    for name, module in (('micrograd', micrograd), ('numpy', np), ('torch', torch)):
        if module is not None:
            versions[name] = getattr(module, '__version__', None) or importlib.metadata.version(name)
    return {'cpu': model, 'cores': os.cpu_count(), 'platform': platform.platform(), 'versions': versions}


def table(results: dict) -> str:
    out = io.StringIO()
    w1_results = results['W1']
    base = w1_results.get('micrograd', {}).get('ms_per_step')
    out.write('W1  micrograd demo step (MLP 2-16-16-1, 100 moons, full batch)\n')
    out.write(f"    {'engine':30} {'ms/step':>10} {'vs micrograd':>13} {'accuracy':>9} {'compile s':>10}\n")
    for name, r in w1_results.items():
        ratio = f"{base / r['ms_per_step']:.1f}x" if base else '-'
        acc = f"{r['accuracy']:.2f}" if 'accuracy' in r else '-'
        comp = f"{r['compile_seconds']:.2f}" if 'compile_seconds' in r else ''
        out.write(f"    {name:30} {r['ms_per_step']:10.3f} {ratio:>13} {acc:>9} {comp:>10}\n")
    names = list(results['W3'])
    out.write('W2  deep chain x -> tanh(1.0001 x + 0.001): µs per node (forward + backward + release)\n')
    width = max(len(name) for name in names) + 2
    out.write(f"    {'N':>9} " + ''.join(f"{n:>{width}}" for n in names) + '\n')
    for n, row in results['W2'].items():
        out.write(f"    {n:>9} " + ''.join(f"{row[name]:{width}.3f}" if name in row else f"{'-':>{width}}"
                                           for name in names) + '\n')
    for label, key, unit in (('W3  wide balanced sum of products', 'W3', 'µs/node'),
                             ('W4  memory of the W3 graph, tracemalloc (torch: its C++ tensors are '
                              'invisible to tracemalloc, not comparable)', 'W4', 'bytes/node'),
                             ('W4b the same graph after backward (leaves + forward + backward)', 'W4b',
                              'bytes/node')):
        base = results.get(key, {}).get('micrograd')
        out.write(f"{label} ({unit})\n")
        for name, v in results.get(key, {}).items():
            ratio = f"  ({base / v:.1f}x micrograd)" if base and key == 'W3' else (
                f"  ({v / base:.2f} of micrograd)" if base else '')
            out.write(f"    {name:30} {v:10.2f}{ratio}\n")
    return out.getvalue()


def profile_eager_step() -> str:
    X, Y = make_moons(100)
    random.seed(1337)
    engine = ScalarEngine(MLP(2, [16, 16, 1]), X, Y)
    engine.step(0, 100)
    gc.collect()
    gc.freeze()  # as in the timings: the collection sees this step's objects only
    profiler = cProfile.Profile()
    profiler.enable()
    engine.step(1, 100)
    gc.collect()
    profiler.disable()
    gc.unfreeze()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats('tottime').print_stats(10)
    return text.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='a smoke run: few steps, small graphs')
    parser.add_argument('--profile', action='store_true', help='print a cProfile of one eager W1 step')
    parser.add_argument('--output', default=str(ROOT / 'benchmarks' / 'results' / 'latest.json'))
    args = parser.parse_args()
    if args.quick:
        steps, torch_steps, sizes, wide, rounds = 3, 1, [10**3, 10**4], 10**4, 1
    else:
        steps, torch_steps, sizes, wide, rounds = 100, 2, [10**3, 10**4, 10**5, 10**6], 10**5, 3
    # micrograd's recursive graph sort and PyTorch's 0-dim tensors (~100x slower) stop early.
    limits = {'micrograd': 10**4, 'torch': 10**5}
    results = {'date': datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'), 'machine': machine(),
               'quick': args.quick}
    results['W1'] = w1(steps, torch_steps)
    results.update(w2_w3_w4(sizes, wide, rounds, limits))
    print(table(results))
    if args.profile:
        results['eager_profile'] = profile_eager_step()
        print(results['eager_profile'])
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(results, indent=2) + '\n')
    print(f"wrote {path}")


if __name__ == '__main__':
    main()
