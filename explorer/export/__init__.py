"""Figures for reports: grids of feature maps, projections and top images, as PNG, SVG or PDF.

Two pure steps, shared by the window and `cnn-explorer export`:
    compute_figure(model, dataset, FigureRequest(...)) -> FigureData   (the torch work)
    export_figure(data, path, dpi=...)                                 (render and write atomically)
render_figure(data) gives the matplotlib Figure for a preview; explorer.export.normalise holds the
tile scaling rules (normalise_projection, maps_rgb8) the window shows too.
"""

from explorer.export.compute import compute_figure
from explorer.export.errors import ExportError
from explorer.export.figure_data import FigureData
from explorer.export.normalise import PROJECTION_RULE, normalise_projection, projection_rgb8
from explorer.export.render import render_figure
from explorer.export.request import KINDS, FigureRequest
from explorer.export.tiles import model_label
from explorer.export.write import check_target, export_figure, figure_format, write_figure

__all__ = [
    "KINDS",
    "PROJECTION_RULE",
    "ExportError",
    "FigureData",
    "FigureRequest",
    "check_target",
    "compute_figure",
    "export_figure",
    "figure_format",
    "model_label",
    "normalise_projection",
    "projection_rgb8",
    "render_figure",
    "write_figure",
]
