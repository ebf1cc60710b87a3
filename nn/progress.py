"""The progress display of training: tqdm's bar, a plain line now and then, or nothing.

tqdm is optional (``pip install "chainrule[train]"``); without it the
display prints a line to stderr about every tenth epoch.

>>> with progress_bar(epochs=3, enabled=False) as bar:
...     bar.update({'epoch': 1, 'loss': 0.5})
>>> bar.tqdm is None
True
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


class ProgressBar:
    """Shows each epoch's loss and accuracy (and validation figures) as training goes.

    ``update(row)`` takes one `nn.history.History` row as a dict.

    >>> bar = ProgressBar(epochs=10, enabled=False)
    >>> bar.update({'epoch': 10, 'loss': 0.25})   # disabled: prints nothing
    >>> bar.close()
    """

    def __init__(self, epochs: int, enabled: bool):
        self.epochs, self.enabled, self.tqdm = epochs, enabled, None
        if enabled:
            try:
                from tqdm.auto import tqdm  # a widget in Jupyter, a text bar in a terminal
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self.tqdm = tqdm(total=epochs, desc='training', unit='epoch', leave=True)

    def update(self, row: dict) -> None:
        """Show the epoch just finished (tqdm's bar, or a plain line every tenth of the epochs)."""
        if not self.enabled:
            return
        figures = _figures(row)
        if self.tqdm is not None:
            self.tqdm.set_postfix(figures, refresh=False)
            self.tqdm.update(1)
        elif row['epoch'] % max(1, self.epochs // 10) == 0 or row['epoch'] == self.epochs:
            text = ', '.join(f"{name} {value}" for name, value in figures.items())
            print(f"epoch {row['epoch']}/{self.epochs}: {text}", file=sys.stderr)

    def close(self) -> None:
        """End the bar (tqdm leaves it on screen)."""
        if self.tqdm is not None:
            self.tqdm.close()


@contextmanager
def progress_bar(epochs: int, enabled: bool) -> Iterator[ProgressBar]:
    """A `ProgressBar` that is closed however training ends (an exception too).

    >>> with progress_bar(epochs=1, enabled=False) as bar:
    ...     bar.enabled
    False
    """
    bar = ProgressBar(epochs, enabled)
    try:
        yield bar
    finally:
        bar.close()


def _figures(row: dict) -> dict[str, str]:
    """The figures of one epoch, short and formatted, in the order they are shown."""
    figures = {'loss': f"{row['loss']:.4g}"}
    if row.get('accuracy') is not None:
        figures['acc'] = f"{row['accuracy']:.1%}"
    if row.get('val_loss') is not None:
        figures['val_loss'] = f"{row['val_loss']:.4g}"
    if row.get('val_accuracy') is not None:
        figures['val_acc'] = f"{row['val_accuracy']:.1%}"
    return figures
