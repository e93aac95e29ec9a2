"""One table picks the renderer from the figure's type, for write and render alike."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from explorer.render import render, write
from explorer.render.files import WriteError
from explorer.render.registry import RENDERERS, renderer_for


def test_render_and_write_take_the_renderer_of_the_figures_type(grid_figure, tmp_path):
    assert renderer_for(grid_figure) is RENDERERS[type(grid_figure)]
    fig = render(grid_figure)
    assert isinstance(fig, Figure) and len(fig.axes) == len(grid_figure.tiles) + 1  # the tiles, the colour bar
    assert write(grid_figure, tmp_path / "grid.svg").read_text().count("<image") == len(grid_figure.tiles) + 1


def test_an_object_no_renderer_draws_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(TypeError, match="no renderer draws a str"):
        write("not a figure", tmp_path / "x.png")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_a_png_page_too_large_is_refused_before_drawing(grid_figure, tmp_path):
    import dataclasses

    huge = dataclasses.replace(grid_figure, tiles=grid_figure.tiles * 200, labels=grid_figure.labels * 200)
    with pytest.raises(WriteError, match=r"megapixels, more than 150; lower --dpi or use \.svg or \.pdf"):
        write(huge, tmp_path / "huge.png", dpi=2400)
    assert list(tmp_path.iterdir()) == []
