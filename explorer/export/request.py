"""FigureRequest: what to draw, as the plain values the window holds and the command line parses."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from explorer.core.graph import Layer, model_graph
from explorer.core.projection import KEEPS, METHODS, UNPOOLS
from explorer.export.errors import ExportError

KINDS = ("maps", "projections", "feature", "topk", "maxact")

METHOD_NAMES = {"deconvnet": "deconvnet", "guided": "guided backpropagation", "gradient": "gradient"}
UNPOOL_NAMES = {"switches": "switches unpooling", "fill": "fill unpooling (whole 2x2 square)"}
KEEP_NAMES = {"map": "whole feature map", "max": "strongest activation only"}


@dataclass(frozen=True)
class FigureRequest:
    """One figure. Fields a kind does not use are ignored:

    maps:        layer, image (all features' activation maps of one image)
    projections: layer, image, features, method, unpool, keep
    feature:     layer, feature, images, method, unpool, keep (each image beside its projection)
    topk:        layer, features, k, method, unpool (patch beside projection with keep="max", both cropped)
    maxact:      layer, images, features, method, unpool, keep (per feature, the image with its highest activation)

    features None means every feature of the layer; columns None means the kind's default.
    """

    kind: str
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
        if self.kind not in KINDS:
            raise ExportError(f"unknown figure {self.kind!r}: choose one of {', '.join(KINDS)}")
        if not self.layer:
            raise ExportError("layer: none given")
        check_projection(self.method, self.unpool, self.keep)
        if self.features is not None:
            object.__setattr__(self, "features", tuple(int(f) for f in self.features))
        object.__setattr__(self, "images", tuple(int(i) for i in self.images))
        if self.k < 1:
            raise ExportError(f"k {self.k}: must be at least 1")
        if self.columns is not None and self.columns < 1:
            raise ExportError(f"columns {self.columns}: must be at least 1")

    def projection_words(self, layer: Layer, keep: str | None = None) -> str:
        """The method, the unpooling and what is kept, as a title says them."""
        unpool = UNPOOL_NAMES[self.unpool] if layer.pooled else f"no pooling below {layer.name}"
        return f"{METHOD_NAMES[self.method]} projections, {unpool}, {KEEP_NAMES[keep or self.keep]}"


def layer_of(model: nn.Module, layer: str) -> Layer:
    """The model's layer named `layer`; ExportError listing the valid names otherwise."""
    try:
        return model_graph(model).layer(layer)
    except ValueError as exc:
        raise ExportError(f"layer {str(exc).removeprefix('unknown layer ')}") from None


def check_projection(method: str, unpool: str, keep: str) -> None:
    """ExportError for a method, unpooling or keep the projection does not know, or fill without deconvnet."""
    for name, value, allowed in (("method", method, METHODS), ("unpool", unpool, UNPOOLS), ("keep", keep, KEEPS)):
        if value not in allowed:
            raise ExportError(f"{name} {value!r}: unknown (use {', '.join(allowed)})")
    if unpool == "fill" and method != "deconvnet":
        raise ExportError(f"unpool 'fill' belongs to the deconvnet; {method} follows the switches")
