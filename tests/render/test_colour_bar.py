"""Scaled grids carry a colour bar under the grid, drawn with the colours their tiles were drawn with."""

from __future__ import annotations

import numpy as np

from explorer.analyses.colours import maps_rgb8, scale_colours
from explorer.analyses.grid import ColourScale, GridFigure
from explorer.render import render
from explorer.render.grid_render import BAR_BLOCK, BAR_H, BAR_W, CAPTION_PT, MARGIN, _text_height, layout


def test_the_bar_is_drawn_with_the_tiles_colours():
    maps = np.random.default_rng(0).random((6, 8, 8)).astype(np.float32) * 3.0
    vmax = float(maps.max())
    data = GridFigure(
        "maps", "six maps on one scale", tuple(maps_rgb8(maps, vmax)), tuple(f"f{c}" for c in range(6)),
        scale=ColourScale("viridis", 0.0, vmax, "activation"),
    )  # fmt: skip
    fig = render(data)
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
