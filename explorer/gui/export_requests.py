"""The window's state as a FigureRequest: the one mapping behind every "Export figure…" action.

Pure: the same state gives the request `cnn-explorer export KIND ...` builds for it, so both
write the same bytes (see docs/figures.md).
"""

from __future__ import annotations

from explorer.export.backprop_figure import BackpropRequest
from explorer.export.experiments import (
    EvolutionRequest,
    ExperimentRequest,
    InvarianceRequest,
    OcclusionRequest,
    file_stem,
)
from explorer.export.maximize_figure import MaximizeRequest
from explorer.export.request import FigureRequest
from explorer.gui.settings import ExplorerState

VIEW_KINDS = {  # figure kind -> the view it exports, as menus name it
    "maps": "Activation maps",
    "projections": "Projections",
    "feature": "Feature across images",
    "topk": "Top images",
}
TOPK_FEATURES = 16  # rows of a topk figure: this many features, from the selected one


def topk_features(channels: int, feature: int, count: int = TOPK_FEATURES) -> tuple[int, ...]:
    """`count` consecutive features of a layer of `channels` from `feature` (moved back at its end to keep `count`)."""
    start = max(0, min(feature, channels - count))
    return tuple(range(start, min(start + count, channels)))


def figure_request(
    kind: str, state: ExplorerState, *, page: tuple[int, ...] = (), k: int = 9, channels: int | None = None
) -> FigureRequest:
    """The figure of the view `kind` for `state`; `page` is the images the across view shows, `k` the scan's,
    `channels` the features of the state's layer in the open model (for topk)."""
    o = state.options.normalised()
    projection = {"method": o.method, "unpool": o.unpool}
    if kind == "maps":
        return FigureRequest("maps", state.layer, image=state.image)
    if kind == "projections":
        return FigureRequest("projections", state.layer, image=state.image, keep=o.keep, **projection)
    if kind == "feature":
        return FigureRequest("feature", state.layer, feature=state.feature, images=page, keep=o.keep, **projection)
    if kind == "topk":
        if channels is None:
            raise ValueError("a topk figure needs the layer's channel count")
        # As the Top images pane shows them: deconvnet through the switches, whatever the projection pane says.
        return FigureRequest("topk", state.layer, features=topk_features(channels, state.feature), k=k)
    raise ValueError(f"no view exports {kind!r}")


def default_file_name(request: FigureRequest | BackpropRequest | MaximizeRequest | ExperimentRequest, fmt: str) -> str:
    """A name that says what the figure holds, e.g. "conv2-feature7-across-16.png"."""
    if isinstance(request, MaximizeRequest):
        which = "all" if request.features is None or len(request.features) > 1 else f"feature{request.features[0]}"
        return f"{request.layer}-synthesized-{which}.{fmt}"
    if isinstance(request, (OcclusionRequest, EvolutionRequest, InvarianceRequest)):
        return f"{file_stem(request)}.{fmt}"
    if isinstance(request, BackpropRequest):
        r = request
        return f"{r.layer}-backprop-image{r.image}-c{r.channel}-r{r.row}-c{r.col}.{fmt}"
    stem = {
        "maps": f"{request.layer}-maps-image{request.image}",
        "projections": f"{request.layer}-projections-image{request.image}",
        "feature": f"{request.layer}-feature{request.feature}-across-{len(request.images)}",
        "topk": f"{request.layer}-top{request.k}",
    }.get(request.kind, f"{request.layer}-{request.kind}")
    return f"{stem}.{fmt}"
