"""What training saw, one entry per epoch: `History`, and how it is written to JSON or CSV.

`nn.training.fit` fills a `History`; plots (:mod:`nn.plot`) and the
``chainrule train`` command read it.  Both writers go through
`autodiff.files.write_atomically`, so a reader never finds half a file.

>>> h = History()
>>> h.record(epoch=1, loss=0.5, accuracy=0.75)
>>> h.record(epoch=2, loss=0.25, accuracy=1.0)
>>> h.loss, h.best_epoch is None
([0.5, 0.25], True)
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field

from autodiff.files import write_atomically


@dataclass
class History:
    """What `nn.training.fit` saw, one entry per epoch.

    ``accuracy`` is None for regression; the ``val_`` columns are None
    without validation data.  ``seconds`` is each epoch's wall time,
    ``updates`` the number of parameter updates in it and ``lr`` the
    learning rate at its start.

    >>> h = History()
    >>> h.record(epoch=1, loss=0.5, accuracy=0.75, lr=0.1, updates=1, seconds=0.01)
    >>> h.to_dict()['loss'], len(h)
    ([0.5], 1)
    """

    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    updates: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    #: True when early stopping ended training before ``epochs``.
    stopped_early: bool = False
    #: The epoch with the lowest monitored loss (validation loss if given).
    best_epoch: int | None = None

    COLUMNS = ('epoch', 'loss', 'accuracy', 'val_loss', 'val_accuracy', 'lr', 'updates', 'seconds')

    def record(self, **row: float | int | None) -> None:
        """Append one epoch's figures (missing ones are None).

        >>> h = History()
        >>> h.record(epoch=1, loss=0.25)
        >>> h.loss, h.accuracy
        ([0.25], [None])
        """
        for name in self.COLUMNS:
            getattr(self, name).append(row.get(name))

    def __len__(self) -> int:
        return len(self.epoch)

    @property
    def wall_time(self) -> float:
        """Total training time in seconds.

        >>> h = History()
        >>> h.record(epoch=1, loss=1.0, seconds=0.5)
        >>> h.record(epoch=2, loss=0.5, seconds=0.25)
        >>> h.wall_time
        0.75
        """
        return sum(s for s in self.seconds if s is not None)

    def to_dict(self) -> dict:
        """Every column as a list, plus ``stopped_early``, ``best_epoch`` and ``wall_time``.

        >>> sorted(History().to_dict())[:3]
        ['accuracy', 'best_epoch', 'epoch']
        """
        out: dict[str, object] = {name: list(getattr(self, name)) for name in self.COLUMNS}
        out.update(stopped_early=self.stopped_early, best_epoch=self.best_epoch, wall_time=self.wall_time)
        return out

    def to_json(self, path: str | os.PathLike) -> None:
        """Write `to_dict` as JSON (missing figures are null), replacing ``path`` in one step.

        A nan or inf (which JSON cannot hold) is refused with a ``ValueError``
        naming it, before anything is written: see `json_text`.

        >>> import json, os, tempfile
        >>> h = History()
        >>> h.record(epoch=1, loss=0.5)
        >>> path = os.path.join(tempfile.mkdtemp(), 'history.json')
        >>> h.to_json(path)
        >>> json.load(open(path))['accuracy']
        [None]
        """
        write_atomically(path, json_text(self.to_dict()))

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write one row per epoch with a header (missing figures are empty cells), in one step.

        >>> import os, tempfile
        >>> h = History()
        >>> h.record(epoch=1, loss=0.5, lr=0.1)
        >>> path = os.path.join(tempfile.mkdtemp(), 'history.csv')
        >>> h.to_csv(path)
        >>> open(path).read().splitlines()
        ['epoch,loss,accuracy,val_loss,val_accuracy,lr,updates,seconds', '1,0.5,,,,0.1,,']
        """
        text = io.StringIO(newline='')  # csv writes its own line endings
        writer = csv.writer(text)
        writer.writerow(self.COLUMNS)
        for i in range(len(self)):
            writer.writerow(['' if getattr(self, name)[i] is None else getattr(self, name)[i]
                             for name in self.COLUMNS])
        write_atomically(path, text.getvalue())


def json_text(data: object) -> str:
    """``data`` as indented JSON text, refusing nan and ±inf, which JSON cannot hold.

    Python's ``json`` would write them as ``NaN``/``Infinity``, which no
    strict JSON reader accepts; the ``ValueError`` names where the number is.

    >>> json_text({'loss': [0.5, 0.25]})
    '{\\n "loss": [\\n  0.5,\\n  0.25\\n ]\\n}\\n'
    >>> json_text({'loss': [0.5, float('nan')]})
    Traceback (most recent call last):
    ...
    ValueError: cannot write nan as JSON (at loss[1]): JSON has no nan or inf
    """
    where = _non_finite_at(data, '')
    if where is not None:
        path, value = where
        raise ValueError(f"cannot write {value} as JSON (at {path or 'the top'}): JSON has no nan or inf")
    return json.dumps(data, indent=1, allow_nan=False) + '\n'


def _non_finite_at(data: object, path: str) -> tuple[str, float] | None:
    """Where the first nan or inf in nested dicts and lists is, as ``'key[1]'``, with its value."""
    if isinstance(data, float):
        return None if math.isfinite(data) else (path, data)
    if isinstance(data, dict):
        items = ((f"{path}.{key}" if path else str(key), value) for key, value in data.items())
    elif isinstance(data, (list, tuple)):
        items = ((f"{path}[{i}]", value) for i, value in enumerate(data))
    else:
        return None
    for inner_path, value in items:
        found = _non_finite_at(value, inner_path)
        if found is not None:
            return found
    return None
