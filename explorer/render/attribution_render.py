"""Draw the attribution figures (class activation map, sanity check) with matplotlib's object API.

The CAM figure: the image, the map at the layer's size, and the upsampled map over the image.
The sanity figure: one rank-correlation curve per method against the layer randomized last
(SSIM dashed), and below it each method's picture of the first image at every step. All text is
real text, and the same data always gives the same bytes.
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from explorer.analyses.cam import ATTRIBUTION_NAMES, CamFigure
from explorer.analyses.colours import CAM_CMAP, SALIENCY_CMAP
from explorer.analyses.sanity import SanityFigure
from explorer.render.style import PANEL_PT, SMALL_PT, figure_style, figure_title, panel

CELL = 0.8  # inches: one picture of the sanity strip


def render_cam(data: CamFigure) -> Figure:
    width, height = 7.5, 3.0
    with figure_style():
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        figure_title(fig, data.title)
        side = 2.0  # inches
        boxes = [((0.25 + i * 2.45) / width, 0.25 / height, side / width, side / height) for i in range(3)]
        ax = panel(fig, boxes[0], f"image {data.image_label}")
        ax.imshow(data.image, interpolation="none")
        h, w = data.cam.shape
        ax = panel(fig, boxes[1], f"{data.layer}: {h} x {w} map, scaled to [0, 1]")
        ax.imshow(data.cam, cmap=CAM_CMAP, vmin=0.0, vmax=1.0, interpolation="none")
        ax = panel(fig, boxes[2], f"over the image (bilinear), class {data.target_name}")
        ax.imshow(data.image, interpolation="none")
        im = ax.imshow(data.overlay, cmap=CAM_CMAP, vmin=0.0, vmax=1.0, alpha=0.5, interpolation="none")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=SMALL_PT)
    return fig


def render_sanity(data: SanityFigure) -> Figure:
    r = data.result
    methods = list(r.spearman)
    steps = ["trained", *r.layers]
    columns = len(steps) + 1  # the image, then a picture per step
    width = max(7.5, 0.4 + columns * CELL)
    curves_h, strip_h = 2.6, len(methods) * (CELL + 0.15)
    height = 0.55 + curves_h + 0.9 + strip_h
    with figure_style():
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        figure_title(fig, data.title)
        ax = fig.add_axes(
            (0.6 / width, (height - 0.55 - curves_h) / height, min(6.5, width - 2.6) / width, (curves_h - 0.3) / height)
        )
        x = np.arange(1, len(steps))
        for i, m in enumerate(methods):
            colour = f"C{i}"
            ax.plot(x, r.spearman[m], "-o", color=colour, markersize=2.5, linewidth=1.2, label=ATTRIBUTION_NAMES[m])
            ax.plot(x, r.ssim[m], "--", color=colour, linewidth=0.8, alpha=0.7)
        ax.axhline(0.0, color="#999999", linewidth=0.5)
        ax.set_xticks(x, list(r.layers), rotation=60, ha="right", fontsize=SMALL_PT)
        ax.set_ylim(-1.02, 1.02)
        ax.set_xlabel("randomized down to this layer (top first)", fontsize=PANEL_PT)
        ax.set_ylabel("similarity to the trained model's picture", fontsize=PANEL_PT)
        ax.set_title("Spearman rank correlation (solid), SSIM (dashed), mean over the images", fontsize=PANEL_PT)
        ax.tick_params(labelsize=SMALL_PT)
        ax.legend(fontsize=SMALL_PT, loc="lower left")
        top = height - 0.55 - curves_h - 0.9
        for row, m in enumerate(methods):
            y = (top - (row + 1) * (CELL + 0.15)) / height
            name = ATTRIBUTION_NAMES[m]
            for col in range(columns):
                box = ((0.2 + col * CELL) / width, y, (CELL - 0.08) / width, CELL / height)
                if col == 0:
                    ax = panel(fig, box, f"{name}: {data.image_labels[0]}" if row == 0 else name)
                    ax.imshow(data.images[0], interpolation="none")
                    continue
                ax = panel(fig, box, steps[col - 1] if row == 0 else "")
                ax.imshow(r.pictures[m][col - 1, 0], cmap=SALIENCY_CMAP, interpolation="none")
    return fig
