"""Fault tests for `nn` (issue 11): hostile model files, lost writes, and bad arguments.

* Hostile files (item 6): a small file must be refused in milliseconds,
  whatever sizes it claims, before anything is built.
* Lost data (item 9): `Module.save` replaces a file whole or not at all,
  under a failing ``os.replace``, a full disk and a killed writer, and it
  never writes weights that `load` would refuse.
* Bad arguments (item 11): models, losses and data makers refuse them with
  one line that names the argument.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest

from nn import MLP, Layer, Neuron, load_model
from nn.data import make_blobs, make_circles, make_moons, make_regression, make_spiral, standardize
from nn.losses import cross_entropy

REPO = Path(__file__).resolve().parents[1]
NAN, INF = float('nan'), float('inf')

# ----------------------------------------------------------------------
# Hostile model files (item 6, and item 11's malformed files)
# ----------------------------------------------------------------------
HEAD = '{"format": "chainrule.nn", "version": 1, "model": "MLP", '
ONE_NEURON = '{"layers.0.neurons.0.w.0": 1.0, "layers.0.neurons.0.b": 0.0}'


def _model_file(config: str, parameters: str = ONE_NEURON) -> str:
    """A model file's text from its config's and its parameters' JSON text."""
    return HEAD + f'"config": {config}, "parameters": {parameters}}}'


def _one_weight(value: str) -> str:
    """The parameters of MLP(1, [1]) with ``value`` as the weight's JSON text."""
    return '{"layers.0.neurons.0.w.0": ' + value + ', "layers.0.neurons.0.b": 0.0}'


def _hostile_files():
    """(name, file text, a word the error must contain)."""
    one = '{"nin": 1, "nouts": [1]}'
    yield 'huge nin', _model_file('{"nin": 100000, "nouts": [1000]}', '{}'), 'parameters'
    yield 'huge nout', _model_file('{"nin": 2, "nouts": [10000000000]}', '{}'), 'parameters'
    many_layers = '{"nin": 2, "nouts": [' + ', '.join(['2'] * 3000) + ']}'
    yield 'many layers', _model_file(many_layers, '{}'), 'parameters'
    yield '400-digit size', _model_file('{"nin": 1' + '0' * 400 + ', "nouts": [1]}'), 'digits'
    yield '5000-digit size', _model_file('{"nin": 1' + '0' * 5000 + ', "nouts": [1]}'), 'digits'
    yield '400-digit weight', _model_file(one, _one_weight('1' + '0' * 400)), 'digits'
    yield '400-digit float weight', _model_file(one, _one_weight('1' + '0' * 400 + '.5')), 'w.0'
    yield 'deeply nested config', _model_file('[' * 100_000 + ']' * 100_000, '{}'), 'nested'
    nested = '{"a": ' * 50_000 + '1' + '}' * 50_000
    yield 'deeply nested weight', _model_file(one, _one_weight(nested)), 'nested'
    yield 'NaN weight', _model_file(one, _one_weight('NaN')), 'w.0'
    yield 'infinite weight', _model_file(one, _one_weight('-Infinity')), 'w.0'
    yield 'nouts a number', _model_file('{"nin": 1, "nouts": 1}'), 'nouts'
    yield 'nouts a string', _model_file('{"nin": 1, "nouts": "1"}'), 'nouts'
    yield 'nin a bool', _model_file('{"nin": true, "nouts": [1]}'), 'nin'
    yield 'negative size', _model_file('{"nin": 1, "nouts": [-1]}'), 'nouts'
    yield 'no nin', _model_file('{"nouts": [1]}'), 'nin'
    yield 'bogus activation', _model_file('{"nin": 1, "nouts": [1], "activation": "bogus"}'), 'activation'
    yield 'activation a list', _model_file('{"nin": 1, "nouts": [1], "activation": ["relu"]}'), 'activation'
    yield 'unknown config key', _model_file('{"nin": 1, "nouts": [1], "seed": 3}'), 'seed'


HOSTILE = list(_hostile_files())


@contextlib.contextmanager
def _deadline(seconds: float):
    """Fail the test (instead of hanging it) if the block runs longer than ``seconds``."""
    def give_up(signum, frame):
        raise AssertionError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, give_up)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _measured_refusal(path: Path) -> tuple[str, float, int]:
    """load_model(path)'s error message, the seconds it took and tracemalloc's peak in bytes."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with _deadline(5.0), pytest.raises(ValueError) as error:
            load_model(path)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return str(error.value), elapsed, peak


@pytest.mark.parametrize('name, text, word', HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_model_file_is_refused_fast_naming_the_file(tmp_path, name, text, word):
    path = tmp_path / 'hostile.json'
    path.write_text(text)
    message, elapsed, peak = _measured_refusal(path)
    assert str(path) in message, message
    assert word in message, message
    assert '\n' not in message
    assert elapsed < 1.0, f"{name}: {elapsed:.2f} s"
    # Refused from the file's text alone: a few times its size, never a built model.
    assert peak < 20 * len(text) + 2_000_000, f"{name}: {peak / 1e6:.1f} MB"


def test_the_118_byte_file_of_the_issue(tmp_path):
    """The issue's file took > 30 s and > 3 GB; now it is refused in milliseconds."""
    text = _model_file('{"nin": 100000, "nouts": [1000]}', '{}')
    assert len(text) == 118
    path = tmp_path / 'model.json'
    path.write_text(text)
    message, elapsed, peak = _measured_refusal(path)
    # 1000 neurons of 100000 weights and a bias: the count is worked out, not built.
    assert f"{1000 * (100000 + 1):,}" in message, message
    assert elapsed < 0.1 and peak < 1_000_000, (elapsed, peak)


def _document(model) -> dict:
    return {'format': 'chainrule.nn', 'version': 1, 'model': 'MLP', 'config': model.config(),
            'parameters': model.state_dict()}


def test_load_model_refuses_a_config_that_disagrees_with_the_parameters(tmp_path):
    path = tmp_path / 'model.json'
    document = _document(MLP(3, [2, 1], seed=0))           # 11 parameters
    document['config']['nin'] = 2                          # claims 9
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"config .* 9 parameters.* holds 11") as error:
        load_model(path)
    assert str(path) in str(error.value)


def test_load_refuses_a_file_whose_config_disagrees_with_the_model(tmp_path):
    # Same parameter names, so only the config tells the two apart: loading
    # tanh weights into a relu model would give silently wrong predictions.
    path = tmp_path / 'model.json'
    MLP(2, [3, 1], activation='tanh', seed=0).save(path)
    model = MLP(2, [3, 1], seed=1)
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"activation.*'tanh'.*'relu'") as error:
        model.load(path)
    assert str(path) in str(error.value)
    assert model.state_dict() == before
    # A file whose config claims a shape its own parameters do not have.
    document = _document(MLP(2, [3, 1], seed=0))
    document['config']['nin'] = 5
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="nin"):
        MLP(2, [3, 1], seed=0).load(path)


def test_a_well_formed_file_still_loads_exactly(tmp_path):
    path = tmp_path / 'model.json'
    model = MLP(3, [4, 4, 2], activation='tanh', output_activation='sigmoid', init='xavier', seed=3)
    model.save(path)
    rebuilt = load_model(path)
    assert rebuilt.config() == model.config()
    assert rebuilt.state_dict() == model.state_dict()
    x = [0.3, -1.2, 2.0]
    assert [v.data for v in rebuilt(x)] == [v.data for v in model(x)]


# ----------------------------------------------------------------------
# Saving: atomic, and never a file load cannot read back (item 9)
# ----------------------------------------------------------------------
@pytest.mark.parametrize('bad', [NAN, INF, -INF], ids=['nan', 'inf', '-inf'])
def test_save_refuses_non_finite_weights_and_keeps_the_old_file(tmp_path, bad):
    path = tmp_path / 'model.json'
    model = MLP(2, [3, 1], seed=0)
    model.save(path)
    old = path.read_bytes()
    model.layers[1].neurons[0].w[2].data = bad
    with pytest.raises(ValueError) as error:
        model.save(path)
    message = str(error.value)
    assert "'layers.1.neurons.0.w.2'" in message and 'diverged' in message, message
    assert repr(bad) in message and '\n' not in message
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model.json']


def test_a_failing_replace_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / 'model.json'
    MLP(2, [3, 1], seed=0).save(path)
    old = path.read_bytes()

    def replace_fails(src, dst):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(os, 'replace', replace_fails)
    with pytest.raises(OSError, match='No space left'):
        MLP(2, [3, 1], seed=1).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ['model.json']  # no temporary file left


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs: only as root, and only where mounting works."""
    if not hasattr(os, 'geteuid') or os.geteuid() != 0:
        pytest.skip('mounting a tmpfs needs root')
    folder = tmp_path / 'disk'
    folder.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield folder
    finally:
        subprocess.run(['umount', str(folder)], check=True)


def test_a_full_disk_leaves_the_old_model_intact(tiny_disk):
    path = tiny_disk / 'model.json'
    small = MLP(2, [3, 1], seed=0)
    small.save(path)
    with pytest.raises(OSError):
        MLP(10, [40, 40, 1], seed=0).save(path)  # 2,121 parameters: about 110 KB, the disk holds 64 KiB
    assert load_model(path).state_dict() == small.state_dict()
    assert sorted(p.name for p in tiny_disk.iterdir()) == ['model.json']


WRITER = textwrap.dedent('''
    import sys
    sys.path.insert(0, sys.argv[2])
    from nn import MLP
    model = MLP(100, [250, 250, 1], seed=0)   # 88,501 parameters: a 4.7 MB file
    model.save(sys.argv[1])
    print('saved once', flush=True)
    while True:                               # then the same save, again and again, until killed
        model.save(sys.argv[1])
''')


def test_a_killed_writer_never_leaves_a_corrupt_model(tmp_path):
    path = tmp_path / 'model.json'
    expected = MLP(100, [250, 250, 1], seed=0).state_dict()
    rng = random.Random(11)
    outcomes = []
    for _ in range(5):
        writer = subprocess.Popen([sys.executable, '-c', WRITER, str(path), str(REPO)],
                                  stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == 'saved once'
        time.sleep(rng.uniform(0.05, 0.7))  # one save takes about 0.6 s: anywhere inside one
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        try:
            outcomes.append('whole' if load_model(path).state_dict() == expected else 'different')
        except ValueError as error:
            outcomes.append(f"corrupt ({str(error).rsplit('(', 1)[-1]}")
    assert outcomes == ['whole'] * 5, outcomes


# ----------------------------------------------------------------------
# Bad arguments (item 11)
# ----------------------------------------------------------------------
def _refusal(make) -> str:
    with pytest.raises(ValueError) as error:
        make()
    message = str(error.value)
    assert '\n' not in message
    return message


@pytest.mark.parametrize('make, word', [
    (lambda: MLP(2, [1], activation='bogus'), "activation must be one of"),
    (lambda: MLP(2, [3, 1], activation='bogus'), "activation must be one of"),
    (lambda: MLP(2, [3, 1], output_activation='bogus'), "output_activation must be one of"),
    (lambda: MLP(2, [3, 1], activation=['relu']), "activation must be one of"),
    (lambda: MLP(2, [3, 1], init='bogus'), "init must be one of"),
    (lambda: MLP(2, 3), "nouts must be a list"),
    (lambda: MLP(2, '31'), "nouts must be a list"),
    (lambda: MLP(2, []), "nouts"),
    (lambda: MLP(2, [3, 0]), "nouts[1] must be a positive integer"),
    (lambda: MLP(0, [3]), "nin must be a positive integer"),
    (lambda: Neuron(0), "nin must be a positive integer"),
    (lambda: Neuron(2.0), "nin must be a positive integer"),
    (lambda: Neuron(True), "nin must be a positive integer"),
    (lambda: Neuron(2, init='xavier', fan_out=-2), "fan_out must be a positive integer"),
    (lambda: Neuron(2, activation={'relu'}), "activation must be one of"),
    (lambda: Layer(2, 0), "nout must be a positive integer"),
    (lambda: Layer(0, 2), "nin must be a positive integer"),
    (lambda: Layer(2, 2.5), "nout must be a positive integer"),
], ids=lambda v: v.split(' must')[0] if isinstance(v, str) else '')
def test_bad_model_arguments_are_refused_naming_them(make, word):
    assert word in _refusal(make)


def test_sizes_may_be_any_integral_type():
    numpy = pytest.importorskip('numpy')
    model = MLP(numpy.int64(2), [numpy.int32(3), 1], seed=0)
    assert model.config() == {'nin': 2, 'nouts': [3, 1], 'activation': 'relu',
                              'output_activation': 'linear', 'init': 'uniform'}
    assert type(model.config()['nin']) is int and len(model.parameters()) == 13


@pytest.mark.parametrize('logits, targets, word', [
    ([[1.0, 2.0], [1.0, 2.0, 3.0]], [0, 2], "row 1 has 3 logits, row 0 has 2"),
    ([[1.0, 2.0], [1.0]], [0, 0], "row 1 has 1 logits, row 0 has 2"),
    ([[1.0, 2.0]], [2], "target 2 of row 0 is out of range for 2 classes"),
    ([[1.0, 2.0]], [-1], "target -1 of row 0 is out of range for 2 classes"),
    ([[]], [0], "row 0 has no logits"),
    ([1.0, 2.0], [0, 1], "row 0 is 1.0"),
    ([[1.0, 2.0]], [0.0], "class indices"),
])
def test_bad_cross_entropy_input_is_refused(logits, targets, word):
    message = _refusal(lambda: cross_entropy(logits, targets))
    assert message.startswith('cross_entropy: ') and word in message, message


@pytest.mark.parametrize('make, word', [
    (lambda: make_blobs(10, cluster_std=NAN), 'cluster_std'),
    (lambda: make_blobs(10, cluster_std=INF), 'cluster_std'),
    (lambda: make_blobs(10, cluster_std=-1.0), 'cluster_std'),
    (lambda: make_blobs(10, cluster_std='1'), 'cluster_std'),
    (lambda: make_blobs(10, center_box=(NAN, 1.0)), 'center_box'),
    (lambda: make_blobs(10, center_box=(-INF, 1.0)), 'center_box'),
    (lambda: make_blobs(10, center_box=(5.0, -5.0)), 'center_box'),
    (lambda: make_blobs(10, center_box=3), 'center_box'),
    (lambda: make_blobs(10, centers=[[NAN, 0.0], [1.0, 1.0]]), 'centers'),
    (lambda: make_blobs(10, centers=2.5), 'centers'),
    (lambda: make_moons(10, noise=INF), 'noise'),
    (lambda: make_moons(10, noise=-0.1), 'noise'),
    (lambda: make_circles(10, factor='0.5'), 'factor'),
    (lambda: make_spiral(10, turns=NAN), 'turns'),
    (lambda: make_spiral(10, turns=INF), 'turns'),
    (lambda: make_spiral(10, noise=NAN), 'noise'),
    (lambda: make_regression(10, noise=INF), 'noise'),
    (lambda: standardize([[1.0], [2.0]], [0.0], [NAN]), 'std'),
    (lambda: standardize([[1.0], [2.0]], [0.0], [0.0]), 'std'),
    (lambda: standardize([[1.0], [2.0]], [NAN], [1.0]), 'mean'),
], ids=lambda v: v if isinstance(v, str) else '')
def test_bad_data_maker_arguments_are_refused_naming_them(make, word):
    message = _refusal(make)
    assert message.startswith(word), message


def test_legitimate_data_maker_edges_still_work():
    X, y = make_blobs(6, centers=[[0.0, 0.0], [3.0, 3.0]], cluster_std=0.0, shuffle=False)
    assert X == [[0.0, 0.0]] * 3 + [[3.0, 3.0]] * 3 and y == [0, 0, 0, 1, 1, 1]
    X, _ = make_blobs(4, centers=2, center_box=(2.0, 2.0), cluster_std=0.0, random_state=0)
    assert X == [[2.0, 2.0]] * 4
    # A negative number of turns winds the spiral the other way: the mirror image.
    forward, _ = make_spiral(6, n_classes=2, turns=1.0, shuffle=False)
    backward, _ = make_spiral(6, n_classes=2, turns=-1.0, shuffle=False)
    assert all(math.isclose(a[0], b[0], abs_tol=1e-12) and math.isclose(a[1], -b[1], abs_tol=1e-12)
               for a, b in zip(forward, backward))
