"""Draw a BackpropFigure with matplotlib's object API: the maps, the counted terms as numbers, the check.

Numbers are real text (SVG <text>, PDF TrueType), so they stay legible at any zoom; maps are drawn
with interpolation "none" at native resolution. explorer.render.write writes it atomically, without
dates, so the same data always gives the same bytes.
"""

from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from explorer.analyses.backprop import BackpropFigure, check_lines, finger_grid, number
from explorer.analyses.colours import grey_rgb8, signed_rgb8
from explorer.render.style import figure_style, panel

WIDTH, HEIGHT = 11.0, 7.5  # inches: whole multiples of 1/64, so size x DPI is exact
TITLE_PT, NUMBER_PT, TEXT_PT, CAPTION_PT = 9.0, 5.5, 7.0, 6.5
MARK = "#00a000"  # the chosen element and the outputs it fed


def _mark(ax, row: int, col: int, color: str = MARK, lw: float = 1.2) -> None:
    ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor=color, linewidth=lw))


def _numbers(ax, values: list[list[str]], shades: np.ndarray | None = None) -> None:
    """A grid of numbers as text, one cell per value, optionally on a signed background."""
    rows, cols = len(values), len(values[0])
    if shades is not None:
        ax.imshow(signed_rgb8(shades), interpolation="none", extent=(-0.5, cols - 0.5, rows - 0.5, -0.5))
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    for i in range(rows + 1):
        ax.axhline(i - 0.5, color="#999999", linewidth=0.3)
    for j in range(cols + 1):
        ax.axvline(j - 0.5, color="#999999", linewidth=0.3)
    for i, row in enumerate(values):
        for j, text in enumerate(row):
            ax.text(j, i, text, ha="center", va="center", fontsize=NUMBER_PT)


def render_backprop(data: BackpropFigure) -> Figure:
    """A new Figure (with an Agg canvas) showing `data`; explorer.render.write saves it."""
    e, o = data.explanation, data.out_channel
    kh, kw = e.kernel.shape[1:]
    grid = finger_grid(e, o)
    fed = [(t.out_row, t.out_col) for t in e.channel_terms(o)]
    with figure_style():
        fig = Figure(figsize=(WIDTH, HEIGHT))
        FigureCanvasAgg(fig)
        fig.text(0.015, 0.985, "\n".join(textwrap.wrap(data.title, 150)), fontsize=TITLE_PT, fontweight="bold",
                 va="top", ha="left")  # fmt: skip
        top, side = 0.71, 0.215
        boxes = [(0.02 + i * 0.245, top, side * HEIGHT / WIDTH * 1.0, side) for i in range(4)]
        ax = panel(fig, boxes[0], f"image {data.image_label}")
        ax.imshow(data.image, interpolation="none")
        ax = panel(fig, boxes[1], f"{e.layer} input, channel {e.channel}: x at ({e.row}, {e.col})")
        ax.imshow(grey_rgb8(e.input_map), interpolation="none")
        _mark(ax, e.row, e.col)
        ax = panel(fig, boxes[2], f"delta at {e.layer} output, channel {o}: the {len(fed)} outputs x fed")
        ax.imshow(signed_rgb8(e.delta_out[o]), interpolation="none")
        for r, c in fed:
            _mark(ax, r, c, lw=0.6)
        ax = panel(fig, boxes[3], f"dC/dx, channel {e.channel}: conv2(delta, rot180(k), 'full')")
        ax.imshow(signed_rgb8(e.input_delta), interpolation="none")
        _mark(ax, e.row, e.col)

        k = e.kernel[o]
        rot = k[::-1, ::-1]
        deltas = [[number(c[0]) if c else "pad" for c in row] for row in grid]
        products = [[number(c[0] * c[1]) if c else "0" for c in row] for row in grid]
        shade = np.array([[c[0] if c else 0.0 for c in row] for row in grid])
        prod_shade = np.array([[c[0] * c[1] if c else 0.0 for c in row] for row in grid])
        tables = (
            (f"kernel k[{o}, {e.channel}]", [[number(v) for v in r] for r in k], k),
            ("rot180(k): the weight each delta meets", [[number(v) for v in r] for r in rot], rot),
            ("delta at the outputs, around x", deltas, shade),
            (f"delta * rot180(k): sum = {number(e.channel_sum(o))}", products, prod_shade),
        )
        tw = 0.225
        th = tw * WIDTH / HEIGHT * kh / kw
        th = min(th, 0.30)
        for i, (title, values, shades) in enumerate(tables):
            ax = panel(fig, (0.02 + i * 0.245, 0.645 - th, tw, th), title)
            _numbers(ax, values, shades)
        y = 0.645 - th - 0.03
        for line in check_lines(data):
            fig.text(0.02, y, line, fontsize=TEXT_PT, family="DejaVu Sans Mono", va="top")
            y -= TEXT_PT * 1.45 / 72 / HEIGHT
        caption = "\n".join(textwrap.wrap(data.caption, 185))
        fig.text(0.015, 0.015, caption, fontsize=CAPTION_PT, va="bottom", ha="left", linespacing=1.3)
    return fig
