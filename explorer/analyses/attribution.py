"""What the window's faithfulness views compute: a class's CAM beside its gradient, guided and deconvnet pictures
(the Attribution view), and the sanity cascade with RISE's deletion and insertion curves (the Sanity view).

Both are compositions of analyses that export on their own (`CamRequest`, `SanityRequest`: `cnn-explorer export
cam` and `export sanity`) with the engine's saliency and RISE functions; the views export those requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from torch import nn

from explorer.analyses.cam import CamFigure, CamRequest
from explorer.analyses.errors import AnalysisError
from explorer.analyses.names import class_name
from explorer.analyses.protocol import Progress, ShouldStop
from explorer.analyses.sanity import SanityFigure, SanityRequest
from explorer.analyses.selection import check_indices
from explorer.core.errors import OptionError
from explorer.core.images import ImageSet
from explorer.core.projection import model_device
from explorer.core.rise_curves import DeletionInsertion, deletion_insertion
from explorer.core.saliency import SALIENCY_METHODS, logit_attribution, saliency_maps
from explorer.core.sanity_checks import RandomLabelCheck, random_label_check

PICTURES = ("gradient", "guided", "deconvnet")  # the attributions drawn beside the CAM, as the engine's way down


@dataclass(frozen=True)
class AttributionRequest:
    """The CAM of `layer` (None: the last) by `method` for class `target` (None: the predicted) of image `image`,
    and that class's gradient, guided and deconvnet pictures."""

    kind: ClassVar[str] = "attribution"

    image: int
    layer: str | None = None
    method: str = "gradcam"
    target: int | None = None

    @property
    def cam_request(self) -> CamRequest:
        return CamRequest(self.layer, self.image, self.method, self.target)

    @property
    def file_stem(self) -> str:
        return self.cam_request.file_stem

    def compute(
        self,
        model: nn.Module,
        images: ImageSet,
        *,
        model_name: str = "",
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> AttributionFigure:
        cam = self.cam_request.compute(model, images, model_name=model_name)
        x = images.tensor([cam.request.image], model_device(model))
        pictures = []
        for i, method in enumerate(PICTURES):
            if progress is not None:
                progress(i, len(PICTURES))
            found = logit_attribution(model, x, cam.target, method=method)[0]
            pictures.append((method, found.float().cpu().numpy()))
        return AttributionFigure(self, cam, tuple(pictures))


@dataclass(frozen=True, eq=False)
class AttributionFigure:
    request: AttributionRequest
    cam: CamFigure  # the map, its overlay, the class and its probability
    pictures: tuple[tuple[str, np.ndarray], ...]  # (method, float32 [3, H, W]) for the CAM's class

    @property
    def title(self) -> str:
        return self.cam.title


@dataclass(frozen=True)
class FaithfulnessRequest:
    """For image `image`: the cascading randomization (explorer.core.sanity_checks) of every method's picture of the
    predicted class, and RISE's deletion and insertion curves of each trained picture (`steps` points each)."""

    kind: ClassVar[str] = "faithfulness"

    image: int
    seed: int = 0
    depth: int | None = None
    methods: tuple[str, ...] = SALIENCY_METHODS
    steps: int = 32

    @property
    def sanity_request(self) -> SanityRequest:
        return SanityRequest((self.image,), self.seed, self.depth, self.methods)

    @property
    def file_stem(self) -> str:
        return self.sanity_request.file_stem

    def compute(
        self,
        model: nn.Module,
        images: ImageSet,
        *,
        model_name: str = "",
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> FaithfulnessFigure:
        """The cascade, then each method's curves: `progress` after every randomized layer and every method's
        curves (a window's progress callback is also where a Cancel stops the work)."""
        (index,) = check_indices([self.image], len(images), "image")
        more = len(self.methods)
        steps = [0]

        def cascade_progress(done: int, total: int) -> None:
            steps[0] = total
            if progress is not None:
                progress(done, total + more)

        sanity = self.sanity_request.compute(model, images, model_name=model_name, progress=cascade_progress)
        x = images.tensor([index], model_device(model))
        target = int(sanity.result.targets[0])
        curves = {}
        random_label = {}
        try:
            for i, method in enumerate(self.methods):
                saliency = saliency_maps(model, x, target, method=method)[0]
                curves[method] = deletion_insertion(model, x[0], saliency, target, steps=self.steps)
                random_label[method] = random_label_check(model, x, method=method, seed=self.seed)
                if progress is not None:
                    progress(steps[0] + i + 1, steps[0] + more)
        except OptionError as exc:
            raise AnalysisError(str(exc)) from None
        drawn = next(iter(random_label.values()), None)
        drawn_name = class_name(model, int(drawn.other[0])) if drawn is not None else ""
        return FaithfulnessFigure(self, sanity, curves, random_label, drawn_name)


@dataclass(frozen=True, eq=False)
class FaithfulnessFigure:
    request: FaithfulnessRequest
    sanity: SanityFigure  # the cascade: layers, rank correlations, SSIMs, the pictures at each step
    curves: dict[str, DeletionInsertion]  # method -> RISE's curves of its trained picture
    # method -> the picture for the predicted class against one for a class drawn at random (Adebayo et al.'s
    # random-label check, one image): a rank correlation near 1 says the picture hardly depends on the class.
    random_label: dict[str, RandomLabelCheck] = field(default_factory=dict)
    random_class: str = ""  # the name of the class drawn

    @property
    def title(self) -> str:
        return self.sanity.title
