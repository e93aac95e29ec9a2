"""Every analysis the explorer draws, one shape (explorer.analyses.protocol): a frozen request computes its figure.

    figure = MapsRequest("conv2", image=3).compute(model, images, model_name=model_label(model))
    explorer.render.write(figure, "maps.pdf")    # matplotlib, in explorer.render

Requests and figures are plain values and numpy arrays: the window, the command line and the
renderers share them. explorer.analyses.colours holds the colour rules the window and the
renderers both apply. Nothing here imports matplotlib or Qt.
"""

from importlib import import_module
from typing import Any

# Attributes load their module on first use, so the window starts without loading every analysis.
_WHERE = {
    "ANALYSES": "kinds",
    "GRID_REQUESTS": "kinds",
    "grid_request": "kinds",
    "Analysis": "protocol",
    "Figure": "protocol",
    "AnalysisError": "errors",
    "GridFigure": "grid",
    "ColourScale": "grid",
    "GridRequest": "grid_base",
    "MapsRequest": "grids",
    "ProjectionsRequest": "grids",
    "FeatureRequest": "grids",
    "MaxActRequest": "grids",
    "TopKRequest": "topk",
    "OcclusionRequest": "occlusion",
    "OcclusionFigure": "occlusion",
    "EvolutionRequest": "evolution",
    "EvolutionFigure": "evolution",
    "InvarianceRequest": "invariance",
    "InvarianceFigure": "invariance",
    "BackpropRequest": "backprop",
    "BackpropFigure": "backprop",
    "MaximizeRequest": "maximize",
    "CamRequest": "cam",
    "CamFigure": "cam",
    "SanityRequest": "sanity",
    "SanityFigure": "sanity",
    "model_label": "names",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(f"explorer.analyses.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'explorer.analyses' has no attribute {name!r}")


__all__ = [
    "ANALYSES",
    "GRID_REQUESTS",
    "Analysis",
    "AnalysisError",
    "BackpropFigure",
    "BackpropRequest",
    "CamFigure",
    "CamRequest",
    "ColourScale",
    "EvolutionFigure",
    "EvolutionRequest",
    "FeatureRequest",
    "Figure",
    "GridFigure",
    "GridRequest",
    "InvarianceFigure",
    "InvarianceRequest",
    "MapsRequest",
    "MaxActRequest",
    "MaximizeRequest",
    "OcclusionFigure",
    "OcclusionRequest",
    "ProjectionsRequest",
    "SanityFigure",
    "SanityRequest",
    "TopKRequest",
    "grid_request",
    "model_label",
]
