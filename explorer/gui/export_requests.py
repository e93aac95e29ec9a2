"""The window's state as an analysis request: the one mapping behind every "Export figure…" of a grid view.

Pure: the same state gives the request `cnn-explorer export KIND ...` builds for it, so both
write the same bytes (see docs/figures.md).
"""

from __future__ import annotations

from explorer.analyses.grid_base import GridRequest
from explorer.analyses.grids import FeatureRequest, MapsRequest, ProjectionsRequest
from explorer.analyses.topk import TopKRequest
from explorer.core.scan import TopK
from explorer.gui.state import Choices

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
    kind: str,
    state: Choices,
    *,
    page: tuple[int, ...] = (),
    k: int = 9,
    channels: int | None = None,
    top_k: TopK | None = None,
) -> GridRequest:
    """The figure of the view `kind` for `state`; `page` is the images the across view shows, `k` the scan's,
    `channels` the features of the state's layer in the open model and `top_k` the layer's scan (for topk)."""
    o = state.options.normalised()
    projection = {"method": o.method, "unpool": o.unpool}
    if kind == "maps":
        return MapsRequest(state.layer, image=state.image)
    if kind == "projections":
        return ProjectionsRequest(state.layer, image=state.image, keep=o.keep, **projection)
    if kind == "feature":
        return FeatureRequest(state.layer, feature=state.feature, images=page, keep=o.keep, **projection)
    if kind == "topk":
        if channels is None:
            raise ValueError("a topk figure needs the layer's channel count")
        # As the Top images pane shows them: deconvnet through the switches, whatever the projection pane says.
        return TopKRequest(state.layer, features=topk_features(channels, state.feature), k=k, top_k=top_k)
    raise ValueError(f"no view exports {kind!r}")


def default_file_name(request: object, fmt: str) -> str:
    """A name that says what the figure holds, e.g. "conv2-feature7-across-16.png"."""
    return f"{request.file_stem}.{fmt}"  # type: ignore[attr-defined]
