"""The colour maps the window's colour bars show: the same scales explorer.analyses.colours applies."""

from __future__ import annotations

from functools import cache

import numpy as np
import pyqtgraph as pg

from explorer.analyses.colours import maps_rgb8

ACTIVATION_LABEL = "activation (post-ReLU)"
PROJECTION_LABEL = "projection"
RELATIVE_LABEL = "p / max|p|, per tile"


@cache
def viridis() -> pg.ColorMap:
    """The activation maps' viridis, from the very table the maps are coloured with."""
    lut = maps_rgb8(np.arange(256, dtype=np.float32), 255.0)
    return pg.ColorMap(np.linspace(0.0, 1.0, 256), lut)


@cache
def signed_grey() -> pg.ColorMap:
    """0.5 + p / (2 max|p|): -max|p| black, 0 grey, +max|p| white (each channel alike)."""
    return pg.ColorMap([0.0, 0.5, 1.0], [(0, 0, 0), (128, 128, 128), (255, 255, 255)])


@cache
def named(name: str) -> pg.ColorMap:
    """pyqtgraph's colour map `name` (e.g. "magma"), as the Occlusion view's heat maps use it, made once."""
    return pg.colormap.get(name)
