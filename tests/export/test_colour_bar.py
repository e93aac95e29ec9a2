"""Scaled figures carry a colour bar under the grid, on the scale their tiles were drawn with."""

from __future__ import annotations

import numpy as np

from explorer.core.projection import activations
from explorer.export.compute import compute_figure
from explorer.export.figure_data import RELATIVE_SCALE, ColourScale
from explorer.export.render import (
    BAR_BLOCK,
    BAR_H,
    BAR_W,
    CAPTION_PT,
    MARGIN,
    _text_height,
    layout,
    render_figure,
    scale_colours,
)
from explorer.export.request import FigureRequest


def test_maps_carry_their_shared_scale_and_projections_their_relative_one(model, dataset):
    data = compute_figure(model, dataset, FigureRequest("maps", "conv1", image=0))
    vmax = float(activations(model, dataset.tensor([0]), "conv1").max())
    assert data.scale is not None and data.scale.kind == "viridis"
    np.testing.assert_allclose((data.scale.low, data.scale.high), (0.0, vmax), rtol=1e-6)
    assert compute_figure(model, dataset, FigureRequest("projections", "conv1", image=0)).scale == RELATIVE_SCALE


def test_the_bar_is_drawn_with_the_tiles_colours(model, dataset):
    data = compute_figure(model, dataset, FigureRequest("maps", "conv1", image=0))
    fig = render_figure(data)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    lay, dpi = layout(data), fig.dpi
    middle = MARGIN + _text_height(len(lay.caption_lines), CAPTION_PT) + BAR_BLOCK - BAR_H / 2  # inches from the bottom
    row = pixels[round((lay.height - middle) * dpi)]
    width = min(BAR_W, lay.width - 2 * MARGIN)
    left, right = (lay.width - width) / 2 * dpi, (lay.width + width) / 2 * dpi
    colours = scale_colours("viridis")[0]
    for frac, expected in ((0.01, colours[0]), (0.5, colours[128]), (0.99, colours[-1])):
        got = row[int(left + frac * (right - left))]
        assert np.abs(got - expected).sum() < 30, (frac, got, expected)
    assert isinstance(data.scale, ColourScale)
