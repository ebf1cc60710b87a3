"""`Digraph`: a ``graphviz.Digraph`` that renders with or without the ``dot`` program.

This module imports ``graphviz`` at load, so the engine imports it only when
a picture is asked for (see :func:`autodiff.pictures.drawing.draw_graph`).

Everything a ``graphviz.Digraph`` does still works (``.source``, ``.node``,
``.edge``, ``.save``, ``.copy`` ...).  Four things change:

* ``.pipe`` and ``.render`` use :func:`autodiff.pictures.renderers.choose_renderer`, so SVG
  and PNG fall back to the WebAssembly build of Graphviz when ``dot`` is
  missing (or hidden by ``CHAINRULE_RENDERER=wasm``);
* ``.render`` writes its files atomically, whichever renderer draws;
* a missing renderer raises `RendererUnavailable` with a one-line install
  hint, never graphviz's ``ExecutableNotFound``;
* in Jupyter, a graph that cannot be rendered shows that hint as text
  instead of a traceback.

>>> g = Digraph(chainrule_renderer='wasm')
>>> g.edge('a', 'b')
>>> 'a -> b' in g.source
True
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, cast

import graphviz

from autodiff.files import write_atomically
from autodiff.pictures.renderers import DOT_HINT, RendererUnavailable, choose_renderer, render_source


class Digraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` with a renderer choice: ``'auto'``, ``'dot'`` or ``'wasm'``.

    ``chainrule_renderer=None`` follows the ``CHAINRULE_RENDERER`` environment
    variable, else ``'auto'`` (``dot`` when installed, else WebAssembly).

    >>> g = Digraph(chainrule_renderer='dot')
    >>> g.chainrule_renderer, g.copy().chainrule_renderer
    ('dot', 'dot')
    """

    def __init__(self, *args: Any, chainrule_renderer: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.chainrule_renderer = chainrule_renderer

    def _copy_kwargs(self, **kwargs):
        # graphviz's Dot._copy_kwargs drops keywords it does not know: add ours after.
        copied = super()._copy_kwargs(**kwargs)
        copied['chainrule_renderer'] = self.chainrule_renderer
        return copied

    def pipe(self, format: str | None = None, renderer: str | None = None,
             formatter: str | None = None, neato_no_op: bool | int | None = None,
             quiet: bool = False, *, engine: str | None = None,
             encoding: str | None = None) -> bytes | str:
        """The rendered picture as bytes (or text, given ``encoding``), as in graphviz.

        ``renderer``/``formatter`` are graphviz's output plug-ins (cairo, gd ...),
        honoured by ``dot`` only.
        """
        fmt = (format or self.format).lower()
        if choose_renderer(self.chainrule_renderer, fmt) == 'dot':
            try:
                return super().pipe(format=fmt, renderer=renderer, formatter=formatter,
                                    neato_no_op=neato_no_op, quiet=quiet, engine=engine,
                                    encoding=encoding)
            except graphviz.ExecutableNotFound as error:
                raise RendererUnavailable(f"Graphviz's `dot` program could not be run: {DOT_HINT}") from error
        data = render_source(self.source, fmt, 'wasm', engine or self.engine)
        return data.decode(encoding) if encoding else data

    def render(self, filename: str | os.PathLike | None = None,
               directory: str | os.PathLike | None = None, view: bool = False,
               cleanup: bool = False, format: str | None = None, renderer: str | None = None,
               formatter: str | None = None, neato_no_op: bool | int | None = None,
               quiet: bool = False, quiet_view: bool = False, *,
               outfile: str | os.PathLike | None = None, engine: str | None = None,
               raise_if_result_exists: bool = False, overwrite_source: bool = False) -> str:
        """Save the DOT source and write the picture next to it; returns the picture's path.

        As in graphviz, ``g.render('graph', format='png')`` writes ``graph``
        (the DOT source) and ``graph.png``; ``outfile='graph.svg'`` names the
        picture directly and takes its format from the suffix.  Both files
        are written whole or not at all (a temporary file, then a rename),
        by either renderer.  ``overwrite_source`` is accepted for graphviz's
        signature; the source is always rewritten.
        """
        if outfile is not None and directory is None:
            outfile = pathlib.Path(self.directory, outfile)
        fmt = format
        if fmt is None and outfile is not None and pathlib.Path(outfile).suffix:
            fmt = pathlib.Path(outfile).suffix[1:]
        fmt = (fmt or self.format).lower()
        picture = self.pipe(format=fmt, renderer=renderer, formatter=formatter,
                            neato_no_op=neato_no_op, quiet=quiet, engine=engine)
        if outfile is not None and filename is None:
            source_path = pathlib.Path(outfile).with_suffix('.gv')
        else:
            source_path = pathlib.Path(directory if directory is not None else self.directory,
                                       filename if filename is not None else self.filename)
        target = pathlib.Path(outfile) if outfile is not None else pathlib.Path(f"{source_path}.{fmt}")
        if raise_if_result_exists and target.exists():
            raise graphviz.FileExistsError(f"output file exists: {os.fspath(target)!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if not cleanup:  # cleanup=True: graphviz would write the source and delete it again
            source_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(source_path, self.source.encode(self.encoding))
        write_atomically(target, picture)
        if view or quiet_view:
            self._view(target, format=fmt, quiet=quiet_view)
        return os.fspath(target)

    def svg(self) -> str:
        """The picture as SVG text (``dot`` or the WebAssembly fallback)."""
        # Given an encoding, pipe returns text; its declared type covers both cases.
        return cast(str, self.pipe(format='svg', encoding='utf-8'))

    def _repr_mimebundle_(self, include=None, exclude=None, **_):
        # Jupyter calls this to show the graph inline.  Without a renderer the
        # cell shows the one-line install hint, not a traceback.
        try:
            return super()._repr_mimebundle_(include, exclude)
        except RendererUnavailable as error:
            return {'text/plain': f"{error}\n(the DOT source is in .source)"}

    def _repr_svg_(self) -> str | None:
        # For front-ends that ask for SVG by the older IPython protocol.
        try:
            return self.svg()
        except RendererUnavailable:
            return None
