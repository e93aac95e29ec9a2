"""Draw a GridFigure as a matplotlib Figure (object API, no pyplot): title, labelled tile grid, caption.

Every position is computed here in inches, so the page size, and with it the PNG size at a given
DPI, follows from the data alone. Tiles are drawn with interpolation "none": vector files embed
each tile at its native resolution, raster output enlarges it by nearest neighbour.
"""

from __future__ import annotations

import math
import os
import textwrap
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from explorer.analyses.colours import scale_colours
from explorer.analyses.grid import ColourScale, GridFigure
from explorer.render.files import WriteError
from explorer.render.style import figure_style

TITLE_PT, LABEL_PT, CAPTION_PT = 9.0, 5.5, 6.5
LINE = 1.3  # line height, in font sizes
MARGIN = 0.2  # page margin, inches
CELL_GAP, PAIR_GAP, ROW_GAP = 0.12, 0.03, 0.06  # between cells, between tiles of a cell, between rows
TEXT_GAP = 0.1  # between the title or caption and the grid
PAGE_WIDTH = 7.0  # the grid's width budget when choosing the tile size
TILE_RANGE = (0.3, 0.75)  # the tile side, inches
QUANTUM = 64  # page sizes are whole multiples of 1/64 inch: exact in binary, so size x DPI is exact
BAR_W, BAR_H = 2.5, 0.1  # the colour bar, inches (narrower where the grid is)
BAR_BLOCK = BAR_H + 2 * LABEL_PT * LINE / 72 + TEXT_GAP  # the bar, its tick values and its label
MAX_PIXELS = 150_000_000  # a PNG page larger than this is refused before drawing (matplotlib would need GBs)


@dataclass(frozen=True)
class Layout:
    """Where everything goes, in inches from the bottom-left corner."""

    width: float
    height: float
    tile: float
    columns: int
    title_lines: tuple[str, ...]
    caption_lines: tuple[str, ...]
    label_height: float


def _wrap(text: str, width_in: float, points: float, em: float = 0.56) -> tuple[str, ...]:
    chars = max(20, int(width_in * 72 / (points * em)))  # em: a character's average width in font sizes
    return tuple(textwrap.wrap(text, chars)) or ("",)


def _text_height(lines: int, points: float) -> float:
    return lines * points * LINE / 72


def choose_tile(data: GridFigure, columns: int) -> float:
    """The tile side that fits `columns` cells in PAGE_WIDTH, kept within TILE_RANGE, in 1/64 inch."""
    gaps = (columns - 1) * CELL_GAP + columns * (data.group - 1) * PAIR_GAP
    side = (PAGE_WIDTH - gaps) / (columns * data.group)
    side = min(max(side, TILE_RANGE[0]), TILE_RANGE[1])
    return math.floor(side * QUANTUM) / QUANTUM


def layout(data: GridFigure, tile_inches: float | None = None) -> Layout:
    """The page size and text blocks for `data` (tile side chosen by choose_tile unless given)."""
    columns = min(data.columns, data.cells)
    tile = tile_inches if tile_inches is not None else choose_tile(data, columns)
    if tile <= 0:
        raise ValueError(f"tile size must be positive, got {tile}")
    cell = data.group * tile + (data.group - 1) * PAIR_GAP
    grid_w = columns * cell + (columns - 1) * CELL_GAP
    label_lines = max(label.count("\n") + 1 for label in data.labels)
    label_h = _text_height(label_lines, LABEL_PT)
    grid_h = data.rows * (label_h + tile) + (data.rows - 1) * ROW_GAP
    text_w = max(grid_w, 3.0)
    title = _wrap(data.title, text_w, TITLE_PT, em=0.66)  # bold is wider
    caption = _wrap(data.caption, text_w, CAPTION_PT)
    width = text_w + 2 * MARGIN
    height = (
        2 * MARGIN
        + _text_height(len(title), TITLE_PT)
        + TEXT_GAP
        + grid_h
        + TEXT_GAP
        + (BAR_BLOCK if data.scale is not None else 0.0)
        + _text_height(len(caption), CAPTION_PT)
    )
    return Layout(
        width=math.ceil(width * QUANTUM) / QUANTUM,
        height=math.ceil(height * QUANTUM) / QUANTUM,
        tile=tile,
        columns=columns,
        title_lines=title,
        caption_lines=caption,
        label_height=label_h,
    )


def check_page(data: GridFigure, path: str | os.PathLike[str], dpi: int, fmt: str) -> None:
    """WriteError, before drawing, for a PNG page of more than MAX_PIXELS pixels."""
    if fmt != "png":
        return
    page = layout(data)
    pixels = round(page.width * dpi) * round(page.height * dpi)
    if pixels > MAX_PIXELS:
        raise WriteError(
            f"{os.fspath(path)}: a {page.width:.1f} x {page.height:.1f} inch page at {dpi} dpi is {pixels / 1e6:,.0f} "
            f"megapixels, more than {MAX_PIXELS / 1e6:,.0f}; lower --dpi or use .svg or .pdf"
        )


def render_grid(data: GridFigure, *, tile_inches: float | None = None) -> Figure:
    """A new Figure (with an Agg canvas) showing `data`; explorer.render.write saves it."""
    lay = layout(data, tile_inches)
    with figure_style():
        fig = Figure(figsize=(lay.width, lay.height))
        FigureCanvasAgg(fig)
        inches = fig.dpi_scale_trans
        top = lay.height - MARGIN
        fig.text(
            MARGIN,
            top,
            "\n".join(lay.title_lines),
            transform=inches,
            fontsize=TITLE_PT,
            va="top",
            ha="left",
            fontweight="bold",
            linespacing=LINE,
        )
        fig.text(
            MARGIN,
            MARGIN,
            "\n".join(lay.caption_lines),
            transform=inches,
            fontsize=CAPTION_PT,
            va="bottom",
            ha="left",
            linespacing=LINE,
        )
        cell_w = data.group * lay.tile + (data.group - 1) * PAIR_GAP
        grid_w = lay.columns * cell_w + (lay.columns - 1) * CELL_GAP
        left0 = (lay.width - grid_w) / 2
        grid_top = top - _text_height(len(lay.title_lines), TITLE_PT) - TEXT_GAP
        for cell, label in enumerate(data.labels):
            row, col = divmod(cell, lay.columns)
            x = left0 + col * (cell_w + CELL_GAP)
            y_label = grid_top - row * (lay.label_height + lay.tile + ROW_GAP)
            y = y_label - lay.label_height - lay.tile
            fig.text(
                x + cell_w / 2,
                y_label,
                label,
                transform=inches,
                fontsize=LABEL_PT,
                ha="center",
                va="top",
                linespacing=LINE * 0.9,
            )
            for j, tile in enumerate(data.cell_tiles(cell)):
                tx = x + j * (lay.tile + PAIR_GAP)
                ax = fig.add_axes((tx / lay.width, y / lay.height, lay.tile / lay.width, lay.tile / lay.height))
                ax.imshow(tile, interpolation="none", aspect="equal")
                ax.set_axis_off()
        if data.scale is not None:
            bar_top = MARGIN + _text_height(len(lay.caption_lines), CAPTION_PT) + BAR_BLOCK
            _colour_bar(fig, lay, data.scale, min(BAR_W, grid_w), bar_top)
    return fig


def _colour_bar(fig: Figure, lay: Layout, scale: ColourScale, width: float, top: float) -> None:
    """The bar centred under the grid, its ends and middle valued, its label below."""
    left = (lay.width - width) / 2
    y = top - BAR_H
    ax = fig.add_axes((left / lay.width, y / lay.height, width / lay.width, BAR_H / lay.height))
    ax.imshow(scale_colours(scale.kind), interpolation="none", aspect="auto")
    ax.set_axis_off()
    inches = fig.dpi_scale_trans
    values = (scale.low, (scale.low + scale.high) / 2, scale.high)
    for frac, value in zip((0.0, 0.5, 1.0), values, strict=True):
        ha = {0.0: "left", 0.5: "center", 1.0: "right"}[frac]
        fig.text(left + frac * width, y - 0.02, f"{value:.3g}", transform=inches, fontsize=LABEL_PT, ha=ha, va="top")
    fig.text(
        lay.width / 2, y - 0.02 - LABEL_PT * LINE / 72, scale.label, transform=inches, fontsize=LABEL_PT,
        ha="center", va="top",
    )  # fmt: skip
