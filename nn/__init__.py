"""chainrule's nn: neural networks built on `autodiff`.

Models (`MLP`, `Layer`, `Neuron`), losses (:mod:`nn.losses`), optimizers
(:mod:`nn.optim`), toy data sets and batching (:mod:`nn.data`), the training
loop (:mod:`nn.training`, compiled steps in :mod:`nn.compiled_training`, what it
records in :mod:`nn.history`), plots (:mod:`nn.plot`, needs matplotlib) and the
``chainrule`` command (:mod:`nn.cli`).

>>> from nn import MLP, SGD, fit, make_moons, to_signs
>>> X, y = make_moons(n_samples=20, noise=0.1, random_state=0)
>>> model = MLP(2, [8, 1], seed=0)
>>> history = fit(model, X, to_signs(y), loss='hinge', optimizer=SGD(model.parameters(), lr=0.1),
...               epochs=3, progress=False)
>>> len(history.loss)
3
"""

from nn.compiled_training import NotCompilable, compile_step
from nn.data import (
    batches,
    make_blobs,
    make_circles,
    make_moons,
    make_regression,
    make_spiral,
    standardize,
    to_binary,
    to_signs,
    train_test_split,
)
from nn.history import History
from nn.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    hinge_loss,
    l2_penalty,
    mse_loss,
)
from nn.modules import MLP, Layer, Module, Neuron, Parameter, load_model
from nn.optim import SGD, Adam, constant, linear_decay, step_decay
from nn.torch_bridge import from_torch, to_torch, verify_torch  # torch is imported only when called
from nn.training import TrainingDiverged, TrainingInputError, evaluate, fit, predict

__all__ = [
    'Module', 'Neuron', 'Layer', 'MLP', 'Parameter', 'load_model',
    'mse_loss', 'binary_cross_entropy', 'binary_cross_entropy_with_logits', 'hinge_loss',
    'cross_entropy', 'l2_penalty',
    'SGD', 'Adam', 'constant', 'linear_decay', 'step_decay',
    'make_moons', 'make_circles', 'make_blobs', 'make_spiral', 'make_regression',
    'train_test_split', 'standardize', 'batches', 'to_signs', 'to_binary',
    'fit', 'evaluate', 'predict', 'History', 'TrainingDiverged', 'TrainingInputError',
    'compile_step', 'NotCompilable',
    'to_torch', 'from_torch', 'verify_torch',
]
