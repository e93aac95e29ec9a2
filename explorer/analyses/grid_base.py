"""GridRequest: what every grid figure of a layer shares (maps, projections, feature, topk, maxact).

Each kind is its own request class (explorer.analyses.grids, explorer.analyses.topk) with the same
fields, the plain values the window holds and the command line parses; fields a kind does not
use are ignored:

    MapsRequest:        layer, image (all features' activation maps of one image)
    ProjectionsRequest: layer, image, features, method, unpool, keep
    FeatureRequest:     layer, feature, images, method, unpool, keep (each image beside its projection)
    TopKRequest:        layer, features, k, method, unpool, top_k (patch beside projection with keep="max")
    MaxActRequest:      layer, images, features, method, unpool, keep (per feature, the image with its highest activation)

features None means every feature of the layer; columns None means the kind's default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from torch import nn

from explorer.analyses.errors import AnalysisError
from explorer.analyses.grid import GridFigure
from explorer.analyses.layers import layer_of
from explorer.analyses.protocol import Progress, ShouldStop
from explorer.core.graph import Layer
from explorer.core.images import ImageSet, to_tensor
from explorer.core.projection import KEEPS, METHODS, UNPOOLS, model_device, project

METHOD_NAMES = {"deconvnet": "deconvnet", "guided": "guided backpropagation", "gradient": "gradient"}
UNPOOL_NAMES = {"switches": "switches unpooling", "fill": "fill unpooling (whole 2x2 square)"}
KEEP_NAMES = {"map": "whole feature map", "max": "strongest activation only"}

BATCH = 256  # images per forward pass, so long selections never hold every activation at once
DEFAULT_IMAGES = {"feature": 16, "maxact": 256}
MAX_CELLS = 512  # cells in one figure: time and memory stay bounded, and the tiles stay big enough to see


@dataclass(frozen=True)
class GridRequest:
    """One grid figure of `layer`; a subclass per kind sets `kind` and builds the grid (see the module's table)."""

    kind: ClassVar[str]
    fewer: ClassVar[str] = "features"  # what to choose fewer of when the figure is too big

    layer: str = "conv1"
    image: int = 0
    feature: int = 0
    features: tuple[int, ...] | None = None
    images: tuple[int, ...] = ()
    method: str = "deconvnet"
    unpool: str = "switches"
    keep: str = "map"
    k: int = 9
    columns: int | None = None

    def __post_init__(self) -> None:
        if not hasattr(type(self), "kind"):
            raise TypeError("GridRequest is the base of the grid kinds: use MapsRequest, ProjectionsRequest, ...")
        if not self.layer:
            raise AnalysisError("layer: none given")
        check_projection(self.method, self.unpool, self.keep)
        if self.features is not None:
            object.__setattr__(self, "features", tuple(int(f) for f in self.features))
        object.__setattr__(self, "images", tuple(int(i) for i in self.images))
        if self.k < 1:
            raise AnalysisError(f"k {self.k}: must be at least 1")
        if self.columns is not None and self.columns < 1:
            raise AnalysisError(f"columns {self.columns}: must be at least 1")

    @property
    def file_stem(self) -> str:
        return f"{self.layer}-{self.kind}"

    def compute(
        self,
        model: nn.Module,
        images: ImageSet,
        *,
        model_name: str = "",
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> GridFigure:
        """The grid on `images` (progress and should_stop are ignored: a grid takes seconds)."""
        if len(images) == 0:
            raise AnalysisError(f"{images.name}: no images to draw")
        self.check_size(images, layer_of(model, self.layer).channels)
        return self.grid(model, images, model_name)

    def grid(self, model: nn.Module, dataset: ImageSet, model_name: str) -> GridFigure:
        """The kind's figure, once the request has been checked against the dataset's size."""
        raise NotImplementedError

    def cell_count(self, dataset: ImageSet, channels: int) -> int:
        """How many cells the figure would draw (`channels`: the layer's): one per feature unless a kind says."""
        return len(self.features) if self.features is not None else channels

    def check_size(self, dataset: ImageSet, channels: int) -> None:
        """AnalysisError, before any work, when the figure would hold more than MAX_CELLS cells."""
        n = self.cell_count(dataset, channels)
        if n > MAX_CELLS:
            raise AnalysisError(
                f"{self.kind} figure of {n:,} cells: more than the {MAX_CELLS} one figure holds; "
                f"choose fewer {self.fewer}, e.g. every STEP-th with A:B:STEP"
            )

    def projection_words(self, layer: Layer, keep: str | None = None) -> str:
        """The method, the unpooling and what is kept, as a title says them."""
        unpool = UNPOOL_NAMES[self.unpool] if layer.pooled else f"no pooling below {layer.name}"
        return f"{METHOD_NAMES[self.method]} projections, {unpool}, {KEEP_NAMES[keep or self.keep]}"


def check_projection(method: str, unpool: str, keep: str) -> None:
    """AnalysisError for a method, unpooling or keep the projection does not know, or fill without deconvnet."""
    for name, value, allowed in (("method", method, METHODS), ("unpool", unpool, UNPOOLS), ("keep", keep, KEEPS)):
        if value not in allowed:
            raise AnalysisError(f"{name} {value!r}: unknown (use {', '.join(allowed)})")
    if unpool == "fill" and method != "deconvnet":
        raise AnalysisError(f"unpool 'fill' belongs to the deconvnet; {method} follows the switches")


def default_images(dataset: ImageSet, kind: str) -> tuple[int, ...]:
    """The images a kind uses when none are chosen: the first 16 (feature) or 256 (maxact), or all there are."""
    return tuple(range(min(DEFAULT_IMAGES.get(kind, 1), len(dataset))))


def project_pixels(
    model: nn.Module, pixels: np.ndarray, request: GridRequest, features: Sequence[int], keep: str | None = None
) -> np.ndarray:
    """float32 [n, F, 3, H, W]: the request's projection of `features` for uint8 [n, H, W, 3] pictures."""
    x = to_tensor(pixels, model_device(model))
    out = project(
        model, x, request.layer, list(features), method=request.method, unpool=request.unpool, keep=keep or request.keep
    )
    return out.float().cpu().numpy()
