"""How training scores a batch: a loss given by name or function, and accuracy.

Shared by eager training (:mod:`nn.training`) and compiled training
(:mod:`nn.compiled_training`), so both read ``loss='hinge'`` and count a
correct prediction the same way.

>>> resolve_loss('hinge').__name__
'hinge_loss'
>>> count_correct([2.0, -0.5, 0.25], [1, 1, -1], threshold=0.0)     # right, wrong, wrong
1
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from autodiff import Value
from nn.losses import LOSSES, binary_cross_entropy, mse_loss

#: A loss: ``loss(outputs, targets) -> Value``, as in :mod:`nn.losses`.
LossFunction = Callable[[list, list], Value]


def resolve_loss(loss: str | LossFunction) -> LossFunction:
    """The loss function for ``loss``: a short name of `nn.losses.LOSSES`, or a function itself.

    >>> resolve_loss('mse') is mse_loss
    True
    >>> resolve_loss('l1')
    Traceback (most recent call last):
    ...
    ValueError: unknown loss 'l1'; known: mse, bce, bce_logits, hinge, cross_entropy
    """
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")
        return LOSSES[loss]
    if not callable(loss):
        raise ValueError(f"loss must be a function or one of {', '.join(LOSSES)}, got {loss!r}")
    return loss


def measures_accuracy(loss_fn: LossFunction, accuracy: bool | None) -> bool:
    """Whether to measure accuracy: as asked, or by default for every loss but mean squared error.

    >>> measures_accuracy(mse_loss, None), measures_accuracy(mse_loss, True)
    (False, True)
    """
    return loss_fn is not mse_loss if accuracy is None else accuracy


def default_threshold(loss_fn: LossFunction, threshold: float | None) -> float:
    """The score above which one output means the positive class: as given, else 0.5 or 0.

    0.5 for `binary_cross_entropy`, whose outputs are probabilities; 0 for
    scores and logits.

    >>> default_threshold(binary_cross_entropy, None), default_threshold(mse_loss, None)
    (0.5, 0.0)
    """
    if threshold is not None:
        return threshold
    return 0.5 if loss_fn is binary_cross_entropy else 0.0


def count_correct(outputs: list, targets: Sequence, threshold: float) -> int:
    """How many outputs (Values or floats) predict their target.

    One output: positive when above ``threshold``; a target is positive
    when > 0, so labels may be 0/1 or -1/+1.  Several outputs (a list per
    example): the largest is the predicted class.

    >>> count_correct([[0.1, 0.9], [0.8, 0.2]], [1, 1], threshold=0.0)
    1
    """
    correct = 0
    for out, target in zip(outputs, targets):
        if isinstance(out, list):  # class scores: the largest wins
            scores = [v.data if isinstance(v, Value) else v for v in out]
            correct += scores.index(max(scores)) == int(target)
        else:
            score = out.data if isinstance(out, Value) else out
            correct += (score > threshold) == (float(target) > 0)
    return correct
