"""Argument types for the ``chainrule`` command: each turns text into a value or refuses it in one line.

argparse calls them with the text typed after an option; an
``argparse.ArgumentTypeError`` becomes argparse's usual message naming the
option, and the command exits with code 2.

>>> parser = argparse.ArgumentParser(prog='chainrule train')
>>> _ = parser.add_argument('--hidden', type=layer_sizes)
>>> parser.parse_args(['--hidden', '16,8']).hidden
[16, 8]
>>> positive_int('0')
Traceback (most recent call last):
...
argparse.ArgumentTypeError: expected a positive integer, got '0'
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def positive_int(text: str) -> int:
    """An integer of at least 1.

    >>> positive_int('3')
    3
    """
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return number


def finite_float(text: str) -> float:
    """Any number but nan and ±inf.

    >>> finite_float('1e-3')
    0.001
    >>> finite_float('inf')
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a finite number, got 'inf'
    """
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return number


def positive_float(text: str) -> float:
    """A finite number above 0 (a learning rate, say).

    >>> positive_float('0.1')
    0.1
    """
    number = finite_float(text)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return number


def non_negative_float(text: str) -> float:
    """A finite number of at least 0 (momentum, an L2 penalty, noise).

    >>> non_negative_float('0')
    0.0
    """
    number = finite_float(text)
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return number


def fraction(text: str) -> float:
    """A number strictly between 0 and 1 (the share held out for testing).

    >>> fraction('0.2')
    0.2
    """
    number = finite_float(text)
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}")
    return number


def layer_sizes(text: str) -> list[int]:
    """Comma-separated positive layer sizes, as in ``16,16``; an empty size (``16,,16``) is refused.

    >>> layer_sizes('8, 4')
    [8, 4]
    >>> layer_sizes('16,,16')
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected layer sizes like 16,16, got '16,,16' (size 2 is empty)
    """
    sizes = []
    for position, part in enumerate(text.split(','), start=1):
        if not part.strip():
            raise argparse.ArgumentTypeError(f"expected layer sizes like 16,16, got {text!r} "
                                             f"(size {position} is empty)")
        try:
            sizes.append(int(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected layer sizes like 16,16, got {text!r}") from None
    if min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected layer sizes like 16,16, got {text!r} (sizes are >= 1)")
    return sizes


def at_most(largest: int) -> Callable[[str], int]:
    """A type for a positive integer no larger than ``largest`` (a count of examples, say).

    >>> at_most(10)('7')
    7
    >>> at_most(10)('11')
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a positive integer of at most 10, got '11'
    """
    def bounded_int(text: str) -> int:
        number = positive_int(text)
        if number > largest:
            raise argparse.ArgumentTypeError(
                f"expected a positive integer of at most {largest}, got {text!r}")
        return number

    bounded_int.__name__ = f"positive integer of at most {largest}"  # argparse names the type by it
    return bounded_int


def batch_size(text: str) -> int | None:
    """Examples per update: a positive integer, or ``full`` (also ``all``, ``none``) for the whole data.

    >>> batch_size('full') is None, batch_size('32')
    (True, 32)
    """
    if text.lower() in ('full', 'none', 'all'):
        return None
    return positive_int(text)
