"""The data of two attribution figures: a class activation map over its image, and the sanity cascade.

CamRequest and SanityRequest are what `cnn-explorer export cam | sanity` parse (and what a view
will hold); compute_cam and compute_sanity run the engine on dataset images; CamFigure and
SanityFigure are what the figures draw (explorer.export.attribution_render). Plain numpy and
values only, so a view can draw them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from explorer.core.class_activation import METHODS, cam, resolve_targets, upsample_cam
from explorer.core.errors import OptionError
from explorer.core.graph import model_graph
from explorer.core.images import ImageSet
from explorer.core.model_meta import model_info
from explorer.core.projection import model_device, predict
from explorer.core.saliency import SALIENCY_METHODS
from explorer.core.sanity_checks import Sanity, sanity
from explorer.export.errors import ExportError
from explorer.export.selection import check_indices
from explorer.export.tiles import image_label

METHOD_NAMES = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "layercam": "LayerCAM",
    "scorecam": "Score-CAM",
    "hirescam": "HiResCAM",
    "gradient": "gradient",
    "guided": "guided backprop",
    "deconvnet": "deconvnet",
}


@dataclass(frozen=True)
class CamRequest:
    """The CAM of `layer` (None: the last layer) for dataset image `image` and class `target` (None: the predicted)."""

    layer: str | None
    image: int
    method: str = "gradcam"
    target: int | None = None
    kind: str = "cam"


@dataclass(frozen=True, eq=False)
class CamFigure:
    image: np.ndarray  # uint8 [H, W, 3]
    cam: np.ndarray  # float32 [h, w] in [0, 1], at the layer's map size
    overlay: np.ndarray  # float32 [H, W]: the map upsampled (bilinear) to the image
    image_label: str
    layer: str
    method: str
    target: int
    target_name: str
    probability: float  # of the target class
    model_name: str

    @property
    def title(self) -> str:
        return (
            f"{METHOD_NAMES[self.method]} of {self.layer} for class {self.target} ({self.target_name}, "
            f"p = {self.probability:.3f}): {self.model_name}, image {self.image_label}"
        )


def compute_cam(model: nn.Module, dataset: ImageSet, request: CamRequest, *, model_name: str) -> CamFigure:
    """The CAM of the request's image; ExportError for a layer, class or image the model or data lack."""
    if request.method not in METHODS:
        raise ExportError(f"--method {request.method}: unknown (use {', '.join(METHODS)})")
    graph = model_graph(model)
    if not graph.layers:
        raise ExportError(f"{model_name}: no layer to map (no rectified spatial maps)")
    layer = graph.layers[-1].name if request.layer is None else request.layer
    (index,) = check_indices([request.image], len(dataset), "image")
    x = dataset.tensor([index], model_device(model))
    probs = predict(model, x)[0]
    try:
        target = int(resolve_targets(request.target, probs[None])[0])
        maps = cam(model, x, layer, target, method=request.method)
    except OptionError as exc:
        raise ExportError(str(exc)) from None
    names = model_info(model).classes
    return CamFigure(
        dataset.image(index),
        maps[0].float().cpu().numpy(),
        upsample_cam(maps, (x.shape[2], x.shape[3]))[0].float().cpu().numpy(),
        image_label(dataset, index),
        layer,
        request.method,
        target,
        names[target] if target < len(names) else str(target),
        float(probs[target]),
        model_name,
    )


@dataclass(frozen=True)
class SanityRequest:
    """Adebayo et al.'s cascade on dataset images `images`, re-initialised under `seed`, `depth` layers deep (None: all)."""

    images: tuple[int, ...]
    seed: int = 0
    depth: int | None = None
    methods: tuple[str, ...] = SALIENCY_METHODS
    kind: str = "sanity"


@dataclass(frozen=True, eq=False)
class SanityFigure:
    result: Sanity
    images: np.ndarray  # uint8 [B, H, W, 3]
    image_labels: tuple[str, ...]
    model_name: str

    @property
    def title(self) -> str:
        shown = ", ".join(self.image_labels[:4]) + (" ..." if len(self.image_labels) > 4 else "")
        return (
            f"Sanity check, cascading randomization (seed {self.result.seed}): {self.model_name}, "
            f"{len(self.image_labels)} image(s): {shown}"
        )


def compute_sanity(
    model: nn.Module, dataset: ImageSet, request: SanityRequest, *, model_name: str, progress=None
) -> SanityFigure:
    """The cascade on the request's images (the model itself is never changed)."""
    indices = check_indices(request.images, len(dataset), "image")
    if not indices:
        raise ExportError("--image: choose at least one image")
    x = dataset.tensor(list(indices), model_device(model))
    try:
        result = sanity(model, x, methods=request.methods, seed=request.seed, depth=request.depth, progress=progress)
    except OptionError as exc:
        raise ExportError(str(exc)) from None
    labels = tuple(image_label(dataset, i) for i in indices)
    return SanityFigure(result, dataset.images(list(indices)), labels, model_name)
