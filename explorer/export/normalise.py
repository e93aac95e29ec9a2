"""How tiles become pixels: the one definition of each scaling rule, shared by the figures and the window.

Every rule is a pure numpy function with its wording beside it, so a figure's caption states exactly
what was done to its tiles.
"""

from __future__ import annotations

import sys
from functools import cache

import numpy as np

PROJECTION_RULE = "each projection scaled to its own range, symmetric around 0: 0.5 + p / (2 max|p|), so grey is 0"
MAPS_RULE = (
    "all maps share one scale, from 0 (dark violet) to the layer's largest activation on this image (yellow), viridis"
)
IMAGE_RULE = "images shown as stored (8-bit RGB)"


def normalise_projection(p: np.ndarray) -> np.ndarray:
    """float32 [..., 3, H, W] -> same shape in [0, 1]: 0.5 + p / (2 max|p|), max over each tile's channels and pixels.

    Each leading index is one tile with its own scale; an all-zero tile is uniform grey (0.5).
    """
    p = np.asarray(p, dtype=np.float32)
    if p.ndim < 3:
        raise ValueError(f"a projection is [..., 3, H, W], got shape {p.shape}")
    top = np.abs(p).max(axis=(-3, -2, -1), keepdims=True) if p.size else np.zeros((1, 1, 1), np.float32)
    safe = np.where(top > 0, top, 1.0).astype(np.float32)
    return (0.5 + p / (2 * safe)).astype(np.float32)


def projection_rgb8(p: np.ndarray) -> np.ndarray:
    """float [..., 3, H, W] projections -> uint8 [..., H, W, 3] tiles by normalise_projection."""
    return to_rgb8(np.moveaxis(normalise_projection(p), -3, -1))


def maps_scale(maps: np.ndarray) -> float:
    """The shared top of the maps' scale: the largest activation (0 when there is none above 0)."""
    return max(float(np.max(maps)), 0.0) if np.size(maps) else 0.0


@cache
def _viridis() -> np.ndarray:
    """matplotlib's viridis as 256 uint8 RGB colours. Where pyqtgraph is loaded (the window) and matplotlib
    is not, the same 256 colours come from pyqtgraph's copy of the table: importing matplotlib costs the
    window's start-up 0.2 s. tests/export/test_normalise.py holds the two tables equal."""
    if "pyqtgraph" in sys.modules and "matplotlib" not in sys.modules:
        return _viridis_pyqtgraph()
    return _viridis_matplotlib()


def _viridis_matplotlib() -> np.ndarray:
    from matplotlib import colormaps

    lut = colormaps["viridis"](np.linspace(0.0, 1.0, 256))[:, :3]
    return np.round(lut * 255).astype(np.uint8)


def _viridis_pyqtgraph() -> np.ndarray:
    from pyqtgraph import colormap

    return np.asarray(colormap.get("viridis").getLookupTable(nPts=256, alpha=False), dtype=np.uint8)


def maps_rgb8(maps: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """[..., h, w] feature maps -> uint8 [..., h, w, 3] viridis tiles on one scale, 0 .. vmax (default maps_scale).

    Values are binned as floor(255 * a / vmax), clipped to 0..255; vmax <= 0 maps everything to the bottom.
    """
    top = maps_scale(maps) if vmax is None else float(vmax)
    scale = 255.0 / top if top > 0 else 0.0
    idx = np.clip(np.asarray(maps, dtype=np.float32) * np.float32(scale), 0, 255).astype(np.int64)
    return _viridis()[idx]


def to_rgb8(x: np.ndarray) -> np.ndarray:
    """float values in [0, 1] -> uint8 by rounding to the nearest of 256 levels (out-of-range values clipped)."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
