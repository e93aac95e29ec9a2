"""Figures drawn with matplotlib (object API, no pyplot, no Qt) and written atomically as PNG, SVG or PDF.

    figure = request.compute(model, images, model_name=...)    # explorer.analyses
    write(figure, "fig.pdf", dpi=200)                          # render it and write it
    render(figure)                                             # the matplotlib Figure, for a preview

Both pick the renderer from the figure's type (explorer.render.registry). Importing this package
does not import matplotlib: that happens on the first drawing, so the window starts without it.
explorer.render.files checks a target before any work (check_target) and holds the formats and DPIs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from explorer.render.files import DEFAULT_DPI, check_target, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure as MatplotlibFigure

    from explorer.analyses.protocol import Figure


def render(figure: Figure) -> MatplotlibFigure:
    """A new matplotlib Figure (with an Agg canvas) showing `figure`."""
    from explorer.render.registry import renderer_for  # matplotlib: only when drawing

    return renderer_for(figure).draw(figure)


def write(figure: Figure, path: str | os.PathLike[str], *, dpi: int = DEFAULT_DPI) -> Path:
    """Render `figure` and write it to `path` (format from the extension) at `dpi`, atomically: the previous
    file stays as it was on failure, and the same figure always gives the same bytes. Raises WriteError."""
    fmt = check_target(path, dpi)
    from explorer.render.registry import renderer_for  # matplotlib: only when drawing

    renderer = renderer_for(figure)
    if renderer.check is not None:
        renderer.check(figure, path, dpi, fmt)
    return save_figure(renderer.draw(figure), path, dpi=dpi, title=figure.title)


__all__ = ["render", "write"]
