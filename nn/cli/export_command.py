"""``chainrule export``: a saved model as a PyTorch checkpoint, certified to match.

::

    chainrule export model.json --to torch model.pt

reads a model written by `Module.save` (``chainrule train`` writes one),
builds the same network in PyTorch, checks outputs and gradients on seeded
inputs (the certificate of `nn.torch_bridge.export_checkpoint`) and writes
the checkpoint only if they agree.  PyTorch is optional: without it the
command says so in one line and exits with code 1, as it does for a model
file that is missing or not a model.

>>> parser = argparse.ArgumentParser(prog='chainrule export')
>>> add_arguments(parser)
>>> args = parser.parse_args(['model.json', '--to', 'torch', 'model.pt'])
>>> args.model, args.to, args.out
('model.json', 'torch', 'model.pt')
"""

from __future__ import annotations

import argparse
import os

from nn.cli.reporting import fail
from nn.modules import read_model_file

#: The formats ``--to`` accepts.
TARGETS = ('torch',)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``chainrule export``'s arguments: the model file, ``--to`` and the file to write.

    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> parser.parse_args(['m.json', 'm.pt', '--to', 'torch']).out
    'm.pt'
    """
    parser.add_argument('model', metavar='MODEL.json', help='a model file written by chainrule train '
                        '(or Module.save)')
    parser.add_argument('--to', choices=TARGETS, required=True, help='the format to write: torch')
    parser.add_argument('out', metavar='OUT.pt', help='the checkpoint to write (read it with '
                        'nn.torch_bridge.load_checkpoint, or torch.load(path, weights_only=True))')


def run(args: argparse.Namespace) -> int:
    """Export ``args.model`` to ``args.out``, print the certificate; returns the exit code."""
    if not os.path.isfile(args.model):
        return fail(f"no model file {args.model!r}: chainrule train writes one (model.json in its --out)")
    try:
        read_model_file(args.model)  # a bad file is named before PyTorch is even needed
    except ValueError as error:
        return fail(_one_line(error))
    except OSError as error:
        return fail(f"cannot read {args.model}: {error.strerror or error}")
    try:
        # torch_bridge imports torch only when a function runs, so this import always works.
        from nn.torch_bridge import export_checkpoint

        certificate = export_checkpoint(args.model, args.out)
    except ImportError as error:  # PyTorch is not installed
        return fail(_one_line(error))
    except ValueError as error:  # not a model file, or PyTorch's numbers differ (the certificate failed)
        return fail(f"cannot export {args.model}: {_one_line(error)}")
    except OSError as error:
        return fail(f"cannot export {args.model} to {args.out}: {error.strerror or error}")
    print(certificate)
    print(f"wrote {args.out}")
    return 0


def _one_line(error: BaseException) -> str:
    return ' '.join(str(error).split())
