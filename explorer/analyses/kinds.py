"""Every analysis by its kind: the one list the command line, the window and the tests walk."""

from __future__ import annotations

from typing import Any

from explorer.analyses.backprop import BackpropRequest
from explorer.analyses.cam import CamRequest
from explorer.analyses.errors import AnalysisError
from explorer.analyses.evolution import EvolutionRequest
from explorer.analyses.grid_base import GridRequest
from explorer.analyses.grids import FeatureRequest, MapsRequest, MaxActRequest, ProjectionsRequest
from explorer.analyses.invariance import InvarianceRequest
from explorer.analyses.maximize import MaximizeRequest
from explorer.analyses.occlusion import OcclusionRequest
from explorer.analyses.protocol import Analysis
from explorer.analyses.sanity import SanityRequest
from explorer.analyses.topk import TopKRequest

GRID_REQUESTS: dict[str, type[GridRequest]] = {
    r.kind: r for r in (MapsRequest, ProjectionsRequest, FeatureRequest, TopKRequest, MaxActRequest)
}
EXPERIMENT_REQUESTS: dict[str, type[Analysis]] = {
    r.kind: r for r in (OcclusionRequest, EvolutionRequest, InvarianceRequest)
}
ANALYSES: dict[str, type[Analysis]] = {  # mypy holds every class to the protocol
    **GRID_REQUESTS,
    **EXPERIMENT_REQUESTS,
    BackpropRequest.kind: BackpropRequest,
    MaximizeRequest.kind: MaximizeRequest,
    CamRequest.kind: CamRequest,
    SanityRequest.kind: SanityRequest,
}


def grid_request(kind: str, layer: str = "conv1", **fields: Any) -> GridRequest:
    """The grid request of `kind` ("maps", "projections", "feature", "topk", "maxact") with `fields`."""
    if kind not in GRID_REQUESTS:
        raise AnalysisError(f"unknown figure {kind!r}: choose one of {', '.join(GRID_REQUESTS)}")
    return GRID_REQUESTS[kind](layer, **fields)
