"""fit(compile=...): generated code in place of the eager step, with the eager step's numbers.

Every loss of nn.losses, each batching mode and both backends are checked
against eager `fit` from the same seed (losses per epoch, accuracy, final
weights) to 1e-12; then what cannot be compiled and how it is refused.
"""

from __future__ import annotations

import pytest

from nn import MLP, SGD, Adam, make_blobs, make_moons, mse_loss, to_signs
from nn.compiled_training import NotCompilable, compile_step
from nn.training import fit


def close(a: float, b: float, tol: float = 1e-12) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def problem(loss: str):
    """A small data set, model shape and output activation that suit ``loss``."""
    if loss == 'cross_entropy':
        X, y = make_blobs(30, centers=3, cluster_std=1.0, random_state=0)
        return X, y, [6, 3], 'linear'
    X, y = make_moons(30, noise=0.1, random_state=0)
    if loss == 'hinge':
        return X, to_signs(y), [6, 1], 'linear'
    if loss == 'mse':
        return X, [row[0] - 0.5 * row[1] for row in X], [6, 1], 'linear'
    return X, y, [6, 1], 'sigmoid' if loss == 'bce' else 'linear'


def train(loss: str, batch_size, compile, optimizer: str = 'sgd'):
    X, y, nouts, output_activation = problem(loss)
    model = MLP(2, nouts, activation='tanh', output_activation=output_activation, seed=0)
    if optimizer == 'adam':
        opt = Adam(model.parameters(), lr=0.02)
    else:
        opt = SGD(model.parameters(), lr=0.05, momentum=0.5)
    history = fit(model, X, y, loss=loss, optimizer=opt, epochs=4, batch_size=batch_size, l2=1e-3,
                  progress=False, compile=compile)
    return history, [p.data for p in model.parameters()], model


@pytest.fixture(params=['python', 'numpy'])
def backend(request):
    if request.param == 'numpy':
        pytest.importorskip('numpy')
    return request.param


@pytest.mark.parametrize('loss', ['mse', 'bce', 'bce_logits', 'hinge', 'cross_entropy'])
@pytest.mark.parametrize('batch_size', [None, 1, 7], ids=['full', 'stochastic', 'mini'])
def test_compiled_fit_equals_eager_fit(loss, batch_size, backend):
    optimizer = 'adam' if batch_size == 7 else 'sgd'  # 30 = 4 x 7 + 2: the last batch is smaller
    eager, eager_weights, _ = train(loss, batch_size, False, optimizer)
    compiled, weights, model = train(loss, batch_size, backend, optimizer)
    assert len(compiled.loss) == len(eager.loss) == 4
    assert all(close(a, b) for a, b in zip(compiled.loss, eager.loss))
    assert compiled.accuracy == eager.accuracy and compiled.updates == eager.updates
    assert all(close(a, b) for a, b in zip(weights, eager_weights))
    assert all(isinstance(p.grad, float) and type(p.data) is float for p in model.parameters())


def test_compile_true_is_the_fastest_installed_backend():
    X, y = make_moons(10, random_state=0)
    step = compile_step(MLP(2, [3, 1], seed=0), X, y, loss='bce_logits')
    try:
        import numpy  # noqa: F401 - only asking whether it is installed
        assert step.backend == 'numpy'
    except ImportError:
        assert step.backend == 'python'
    assert 'def ' in step.source


def test_compiled_fit_with_validation_and_early_stopping(backend):
    X, y = make_moons(20, noise=0.1, random_state=0)
    Xv, yv = make_moons(10, noise=0.1, random_state=1)
    runs = []
    for compile in (False, backend):
        model = MLP(2, [4, 1], seed=0)
        history = fit(model, X, y, loss='bce_logits', optimizer=SGD(model.parameters(), lr=0.5), epochs=30,
                      batch_size=8, validation=(Xv, yv), patience=2, restore_best=True, progress=False,
                      compile=compile)
        runs.append((history.val_loss, len(history), model.state_dict()))
    (eager_val, eager_epochs, eager_state), (val, epochs, state) = runs
    assert epochs == eager_epochs and all(close(a, b) for a, b in zip(val, eager_val))
    assert all(close(state[k], eager_state[k]) for k in state)


# ----------------------------------------------------------------------
# What cannot be compiled is refused, with the reason and the way out.
# ----------------------------------------------------------------------
class Branchy(MLP):
    """An MLP whose Python code picks an operation by looking at a value."""

    def __call__(self, x):
        out = super().__call__(x)
        return out * 2 if out.data > 0 else out - 1


def test_a_model_that_branches_on_data_is_refused():
    X, y = make_moons(20, noise=0.1, random_state=0)
    model = Branchy(2, [4, 1], seed=0)
    with pytest.raises(NotCompilable, match=r'branches\s+on \.data.*compile=False'):
        fit(model, X, to_signs(y), loss='hinge', epochs=1, progress=False, compile='python')


def test_a_loss_that_is_not_a_mean_of_examples_is_refused():
    X, y = make_moons(20, noise=0.1, random_state=0)

    def summed(outputs, targets):
        return mse_loss(outputs, targets, reduction='sum')

    with pytest.raises(NotCompilable, match='not the mean of one term per example.*compile=False'):
        fit(MLP(2, [4, 1], seed=0), X, y, loss=summed, epochs=1, progress=False, compile='python')


def test_a_loss_that_cannot_be_traced_is_refused():
    X, y = make_moons(20, noise=0.1, random_state=0)

    def picks_by_index(outputs, targets):  # indexes with the target: a traced target is a Value
        return sum(row[t] for row, t in zip(outputs, targets)) * (1.0 / len(targets))

    with pytest.raises(NotCompilable, match='cannot trace MLP with picks_by_index.*compile=False'):
        fit(MLP(2, [4, 2], seed=0), X, y, loss=picks_by_index, epochs=1, progress=False, compile='python')


def test_targets_are_checked_as_the_eager_loss_checks_them():
    X, y = make_moons(10, random_state=0)
    with pytest.raises(ValueError, match='hinge_loss needs targets -1 or \\+1'):
        fit(MLP(2, [3, 1], seed=0), X, y, loss='hinge', epochs=1, progress=False, compile='python')


def test_a_custom_per_example_loss_compiles():
    X, y = make_moons(20, noise=0.1, random_state=0)

    def absolute_error(outputs, targets):
        terms = [abs(o - t) for o, t in zip(outputs, targets)]
        return sum(terms[1:], terms[0]) * (1.0 / len(terms))

    results = []
    for compile in (False, 'python'):
        model = MLP(2, [4, 1], seed=0)
        results.append(fit(model, X, y, loss=absolute_error, epochs=3, batch_size=5, progress=False,
                           compile=compile).loss)
    assert all(close(a, b) for a, b in zip(*results))


def test_bad_compile_argument():
    with pytest.raises(ValueError, match="compile must be True, False or a backend"):
        fit(MLP(1, [1]), [[0.0]], [0.0], epochs=1, progress=False, compile='fast')


def test_parameters_stay_the_models_own(backend):
    # The step reads .data and writes .grad of the very Parameters the optimizer holds.
    model = MLP(1, [1], seed=0)
    step = compile_step(model, [[1.0]], [3.0], loss='mse', backend=backend)
    w, b = model.parameters()
    w.data, b.data = 2.0, 0.5
    loss, outputs = step([[1.0]], [3.0])
    assert (loss, outputs) == (0.25, [2.5])
    assert w.grad == b.grad == -1.0  # 2 (2.5 - 3) x, with x = 1


def test_auto_runs_small_batches_in_python():
    pytest.importorskip('numpy')
    X, y = make_moons(10, random_state=0)
    model = MLP(2, [3, 1], seed=0)
    assert compile_step(model, X, y, loss='bce_logits', batch_size=1).backend == 'python'
    assert compile_step(model, X, y, loss='bce_logits', batch_size=8).backend == 'numpy'
    assert compile_step(model, X, y, loss='bce_logits', batch_size=1, backend='numpy').backend == 'numpy'


# ----------------------------------------------------------------------
# One place chooses the backend; the traced cross-entropy (nn.losses) equals the eager one
# ----------------------------------------------------------------------


def test_auto_follows_the_one_backend_rule(monkeypatch):
    pytest.importorskip('numpy')
    from autodiff.codegen import backends

    X, y = make_moons(10, random_state=0)
    model = MLP(2, [3, 1], seed=0)
    assert compile_step(model, X, y, loss='bce_logits', batch_size=4).backend == 'python'
    monkeypatch.setattr(backends, 'NUMPY_MIN_BATCH', 2)  # the rule changed in its one place ...
    assert compile_step(model, X, y, loss='bce_logits', batch_size=4).backend == 'numpy'  # ... is followed
    monkeypatch.setattr(backends, 'numpy_installed', lambda: False)
    with pytest.raises(NotCompilable, match="numpy backend is not available.*compile='python'"):
        compile_step(model, X, y, loss='bce_logits', backend='numpy')


@pytest.mark.parametrize('row', [[0.3, -1.2, 2.0], [1000.0, 0.0, -1000.0], [-5.0, -5.0, -5.0], [7.0]])
def test_one_hot_cross_entropy_equals_cross_entropy(row):
    import math

    from autodiff import Value
    from nn.losses import cross_entropy, one_hot_cross_entropy

    for target in range(len(row)):
        logits = [Value(z) for z in row]
        one_hot = [1.0 if k == target else 0.0 for k in range(len(row))]
        value = one_hot_cross_entropy(logits, one_hot)
        value.backward()
        largest = max(row)  # log Σ e^z - z_target, written out independently
        expected = largest + math.log(sum(math.exp(z - largest) for z in row)) - row[target]
        assert value.data == pytest.approx(expected, rel=1e-13, abs=1e-13)
        assert value.data == pytest.approx(cross_entropy([row], [target]).data, rel=1e-13, abs=1e-13)
        softmax = [math.exp(z - largest) / sum(math.exp(v - largest) for v in row) for z in row]
        for z, p, t in zip(logits, softmax, one_hot):  # ∂/∂z_k = softmax_k - one_hot_k
            assert z.grad == pytest.approx(p - t, abs=1e-12)


@pytest.mark.parametrize('optimizer', ['sgd', 'adam'])
def test_the_optimizers_state_after_compiled_fit_is_the_eager_one(optimizer, backend):
    # On NumPy the weights and the optimizer's state live in arrays during an epoch; after fit the
    # Values and the per-parameter lists hold them, so training can go on eagerly from there.
    X, y, nouts, _ = problem('hinge')
    runs = []
    for compile in (False, backend):
        model = MLP(2, nouts, activation='tanh', seed=0)
        opt = SGD(model.parameters(), lr=0.05, momentum=0.5) if optimizer == 'sgd' else \
            Adam(model.parameters(), lr=0.02)
        fit(model, X, y, loss='hinge', optimizer=opt, epochs=2, batch_size=10, progress=False,
            compile=compile)
        fit(model, X, y, loss='hinge', optimizer=opt, epochs=1, batch_size=10, progress=False, compile=False)
        state = opt.buffers if optimizer == 'sgd' else opt.m + opt.v
        runs.append(([p.data for p in model.parameters()], state, opt.steps))
    (eager_weights, eager_state, eager_steps), (weights, state, steps) = runs
    assert steps == eager_steps == 9
    assert all(close(a, b) for a, b in zip(weights, eager_weights))
    assert all(close(a, b) for a, b in zip(state, eager_state))


def test_as_targets_makes_number_targets_one_float_array_and_leaves_class_labels():
    np = pytest.importorskip('numpy')
    X, y = make_moons(12, noise=0.1, random_state=0)
    step = compile_step(MLP(2, [4, 1], seed=0), X, to_signs(y), loss='hinge', backend='numpy')
    targets = step.as_targets(to_signs(y))
    assert targets.dtype == np.float64 and targets.tolist() == [float(t) for t in to_signs(y)]
    blobs, labels = make_blobs(12, centers=3, random_state=0)
    classes = compile_step(MLP(2, [4, 3], seed=0), blobs, labels, loss='cross_entropy', backend='numpy')
    assert classes.as_targets(labels) is labels  # each batch makes its one-hot rows


def test_on_arrays_gives_the_same_bits_for_array_targets_as_for_a_list():
    pytest.importorskip('numpy')
    X, y = make_moons(20, noise=0.1, random_state=1)
    signs = to_signs(y)
    step = compile_step(MLP(2, [5, 1], seed=2), X, signs, loss='hinge', l2=1e-3, backend='numpy')
    rows = step.as_array(X)
    from_list = step.on_arrays(rows, signs), step.grads.copy()
    from_array = step.on_arrays(rows, step.as_targets(signs)), step.grads.copy()
    assert from_list[0] == from_array[0]
    assert from_list[1].tolist() == from_array[1].tolist()
