"""Figures for reports: grids of feature maps, projections and top images, as PNG, SVG or PDF.

Two pure steps, shared by the window and `cnn-explorer export`:
    compute_figure(model, dataset, FigureRequest(...)) -> FigureData   (the torch work)
    export_figure(data, path, dpi=...)                                 (render and write atomically)
render_figure(data) gives the matplotlib Figure for a preview; explorer.export.normalise holds the
tile scaling rules (normalise_projection, maps_rgb8) the window shows too.
"""

from importlib import import_module
from typing import Any

# Attributes load their module on first use, so the window starts without matplotlib.
_WHERE = {
    "compute_figure": "compute",
    "ExportError": "errors",
    "FigureData": "figure_data",
    "PROJECTION_RULE": "normalise",
    "normalise_projection": "normalise",
    "projection_rgb8": "normalise",
    "render_figure": "render",
    "KINDS": "request",
    "FigureRequest": "request",
    "model_label": "tiles",
    "check_target": "write",
    "export_figure": "write",
    "figure_format": "write",
    "write_figure": "write",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"explorer.export.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'explorer.export' has no attribute {name!r}")


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
