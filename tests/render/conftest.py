"""Figures put together by hand: the renderers need only a figure's values, never a model."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.analyses.grid import RELATIVE_SCALE, GridFigure


@pytest.fixture(scope="session")
def grid_figure() -> GridFigure:
    """Three cells of two 32x32 tiles (an image beside its projection) under two-line labels, with a colour bar."""
    rng = np.random.default_rng(3)
    tiles = tuple(rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8) for _ in range(6))
    return GridFigure(
        title="SeedNet (test), conv1: maximum activations of 3 features over 8 images (a folder of test images)",
        caption="For each feature, the image with its highest activation, then the feature's projection for it. "
        "Projections: each scaled to its own range, symmetric around 0, so grey is 0.",
        tiles=tiles,
        labels=("f0\n#3 cat", "f1\n#5 ship", "f2\n#0 cat"),
        group=2,
        columns=4,
        scale=RELATIVE_SCALE,
    )
