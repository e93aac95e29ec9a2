"""A class activation map over its image, as a figure: the map at the layer's size and upsampled over the image.

CamRequest is what `cnn-explorer export cam` parses (and what a view will hold); CamFigure is what
the figure (explorer.render.attribution_render) draws: plain numpy and values only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from torch import nn

from explorer.analyses.errors import AnalysisError
from explorer.analyses.names import image_label
from explorer.analyses.protocol import Progress, ShouldStop
from explorer.analyses.selection import check_indices
from explorer.core.class_activation import METHODS, cam, resolve_targets, upsample_cam
from explorer.core.errors import OptionError
from explorer.core.graph import model_graph
from explorer.core.images import ImageSet
from explorer.core.model_meta import model_info
from explorer.core.projection import model_device, predict

ATTRIBUTION_NAMES = {  # how titles and legends name the attribution methods
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

    kind: ClassVar[str] = "cam"

    layer: str | None
    image: int
    method: str = "gradcam"
    target: int | None = None

    @property
    def file_stem(self) -> str:
        return f"{self.layer or 'last'}-{self.method}-image{self.image}"

    def compute(
        self,
        model: nn.Module,
        images: ImageSet,
        *,
        model_name: str = "",
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> CamFigure:
        """The CAM of the request's image; AnalysisError for a layer, class or image the model or data lack."""
        if self.method not in METHODS:
            raise AnalysisError(f"--method {self.method}: unknown (use {', '.join(METHODS)})")
        graph = model_graph(model)
        if not graph.layers:
            raise AnalysisError(f"{model_name}: no layer to map (no rectified spatial maps)")
        layer = graph.layers[-1].name if self.layer is None else self.layer
        (index,) = check_indices([self.image], len(images), "image")
        x = images.tensor([index], model_device(model))
        probs = predict(model, x)[0]
        try:
            target = int(resolve_targets(self.target, probs[None])[0])
            maps = cam(model, x, layer, target, method=self.method)
        except OptionError as exc:
            raise AnalysisError(str(exc)) from None
        names = model_info(model).classes
        return CamFigure(
            self,
            images.image(index),
            maps[0].float().cpu().numpy(),
            upsample_cam(maps, (x.shape[2], x.shape[3]))[0].float().cpu().numpy(),
            image_label(images, index),
            layer,
            self.method,
            target,
            names[target] if target < len(names) else str(target),
            float(probs[target]),
            model_name,
        )


@dataclass(frozen=True, eq=False)
class CamFigure:
    request: CamRequest
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
            f"{ATTRIBUTION_NAMES[self.method]} of {self.layer} for class {self.target} ({self.target_name}, "
            f"p = {self.probability:.3f}): {self.model_name}, image {self.image_label}"
        )
