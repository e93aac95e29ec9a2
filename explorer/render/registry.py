"""Which renderer draws which figure: one table from the figure's type, nothing else decides."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from matplotlib.figure import Figure

from explorer.analyses.backprop import BackpropFigure
from explorer.analyses.cam import CamFigure
from explorer.analyses.evolution import EvolutionFigure
from explorer.analyses.grid import GridFigure
from explorer.analyses.invariance import InvarianceFigure
from explorer.analyses.occlusion import OcclusionFigure
from explorer.analyses.sanity import SanityFigure
from explorer.render.attribution_render import render_cam, render_sanity
from explorer.render.backprop_render import render_backprop
from explorer.render.experiments_render import render_evolution, render_invariance, render_occlusion
from explorer.render.grid_render import check_page, render_grid


@dataclass(frozen=True)
class Renderer:
    """`draw(figure)` makes the matplotlib Figure; `check(figure, path, dpi, fmt)`, if any, refuses a file before."""

    draw: Callable[[Any], Figure]
    check: Callable[[Any, str | os.PathLike[str], int, str], None] | None = None


RENDERERS: dict[type, Renderer] = {
    GridFigure: Renderer(render_grid, check_page),
    OcclusionFigure: Renderer(render_occlusion),
    EvolutionFigure: Renderer(render_evolution),
    InvarianceFigure: Renderer(render_invariance),
    BackpropFigure: Renderer(render_backprop),
    CamFigure: Renderer(render_cam),
    SanityFigure: Renderer(render_sanity),
}


def renderer_for(figure: object) -> Renderer:
    """The renderer of `figure`'s type; TypeError for an object no renderer draws."""
    try:
        return RENDERERS[type(figure)]
    except KeyError:
        raise TypeError(f"no renderer draws a {type(figure).__name__}") from None
