"""Draw the experiment figures (occlusion, evolution, invariance) with matplotlib's object API.

Heat maps lie over the image at the square's centres, curves are vector lines, and all text is
real text: the same data always gives the same bytes (explorer.render.write saves without dates).
"""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from explorer.analyses.colours import ACTIVATION_CMAP, PROBABILITY_CMAP, class_cmap
from explorer.analyses.evolution import EvolutionFigure
from explorer.analyses.invariance import InvarianceFigure
from explorer.analyses.occlusion import OcclusionFigure
from explorer.render.style import PANEL_PT, SMALL_PT, figure_style, figure_title, panel

UNITS = {"translate": "vertical shift (pixels, + moves down)", "scale": "scale factor", "rotate": "rotation (degrees)"}


def _over_image(ax, data: OcclusionFigure, values: np.ndarray, cmap: str, vmin: float, vmax: float):
    """`values` [ny, nx] drawn over the image, each cell centred on its square's centre."""
    r = data.request
    ax.imshow(data.image, interpolation="none")
    half = r.stride / 2
    c0y, c0x = data.ys[0] + r.size / 2 - 0.5, data.xs[0] + r.size / 2 - 0.5
    c1y, c1x = data.ys[-1] + r.size / 2 - 0.5, data.xs[-1] + r.size / 2 - 0.5
    im = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, alpha=0.75, interpolation="none",
                   extent=(c0x - half, c1x + half, c1y + half, c0y - half))  # fmt: skip
    h, w = data.image.shape[:2]
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    return im


def render_occlusion(data: OcclusionFigure) -> Figure:
    r = data.request
    with figure_style():
        fig = Figure(figsize=(11.0, 2.75))
        FigureCanvasAgg(fig)
        figure_title(fig, data.title)
        side = 0.15  # of the width; the panels are square
        boxes = [(0.02 + i * 0.196, 0.12, side, side * 11.0 / 2.75) for i in range(5)]
        ax = panel(fig, boxes[0], f"image {data.image_label}")
        ax.imshow(data.image, interpolation="none")
        ax = panel(fig, boxes[1], f"{r.layer} feature {r.feature}: projection")
        ax.imshow(data.projection, interpolation="none")
        ax = panel(fig, boxes[2], f"p({data.target_name}) occluded (plain {data.base_prob:.2f})")
        im = _over_image(ax, data, data.target_probs, PROBABILITY_CMAP, 0.0, 1.0)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=SMALL_PT)
        top = float(max(data.activation.max(), data.base_activation, 1e-12))
        ax = panel(fig, boxes[3], f"feature {r.feature} map sum (plain {data.base_activation:.3g})")
        im = _over_image(ax, data, data.activation, ACTIVATION_CMAP, 0.0, top)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=SMALL_PT)
        ax = panel(fig, boxes[4], "most probable class")
        n = len(data.classes)
        _over_image(ax, data, data.top_class.astype(float), class_cmap(n), -0.5, max(n, 10) - 0.5)
        present = sorted({int(c) for c in np.unique(data.top_class)})
        fig.text(boxes[4][0], 0.04, "  ".join(f"{c}={data.classes[c]}" for c in present), fontsize=SMALL_PT)
    return fig


def render_evolution(data: EvolutionFigure) -> Figure:
    r = data.request
    n_epochs, n_feats = data.tiles.shape[:2]
    cell = 0.9
    width, height = max(6.0, 1.2 + n_epochs * cell), 1.0 + n_feats * (cell + 0.2)
    with figure_style():
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        figure_title(fig, data.title)
        for e, epoch in enumerate(data.epochs):
            for k, feature in enumerate(r.features):
                left = (0.9 + e * cell) / width
                bottom = 1 - (0.85 + (k + 1) * (cell + 0.2)) / height
                ax = panel(fig, (left, bottom, 0.8 * cell / width, 0.8 * cell / height), "")
                ax.imshow(data.tiles[e, k], interpolation="none")
                ax.set_xlabel(f"{data.labels[e][k]}  {data.values[e, k]:.2f}", fontsize=SMALL_PT - 1, labelpad=1)
                if k == 0:
                    ax.set_title(f"epoch {epoch}", fontsize=PANEL_PT, pad=3)
                if e == 0:
                    ax.set_ylabel(f"feature {feature}", fontsize=PANEL_PT)
    return fig


def render_invariance(data: InvarianceFigure) -> Figure:
    r = data.request
    with figure_style():
        fig = Figure(figsize=(11.0, 4.0))
        FigureCanvasAgg(fig)
        figure_title(fig, data.title)
        x = np.asarray(data.values)
        ax = fig.add_axes((0.06, 0.14, 0.28, 0.66))
        for i, layer in enumerate(r.layers):
            d = data.distance[i]
            top = float(d.max())
            ax.plot(x, d / top if top > 0 else d, marker="o", markersize=2, linewidth=1, label=layer)
        ax.set_title("layer output distance to the original (each / its max)", fontsize=PANEL_PT)
        ax.set_xlabel(UNITS[r.transform], fontsize=PANEL_PT)
        ax.tick_params(labelsize=SMALL_PT)
        ax.legend(fontsize=SMALL_PT)
        ax = fig.add_axes((0.40, 0.14, 0.28, 0.66))
        for c in data.shown:
            style = "-" if c == data.label else "--"
            name = data.classes[c] + (" (true)" if c == data.label else "")
            ax.plot(x, data.probs[:, c], style, marker="o", markersize=2, linewidth=1, label=name)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title("class probability", fontsize=PANEL_PT)
        ax.set_xlabel(UNITS[r.transform], fontsize=PANEL_PT)
        ax.tick_params(labelsize=SMALL_PT)
        ax.legend(fontsize=SMALL_PT)
        for i, v in enumerate(data.thumb_values):
            ax = panel(fig, (0.72 + (i % 3) * 0.09, 0.5 - (i // 3) * 0.36, 0.08, 0.28), f"{v:g}")
            ax.imshow(data.thumbs[i], interpolation="none")
    return fig
