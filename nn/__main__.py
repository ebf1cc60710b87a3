"""``python -m nn``: the ``chainrule`` command (see `nn.cli`)."""

import sys

from nn.cli import main

if __name__ == '__main__':
    sys.exit(main())
