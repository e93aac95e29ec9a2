"""Occlusion sensitivity as a figure (Zeiler & Fergus Fig. 7): a grey square slid over one image.

For each position of the square: the probability of the target class, the sum of one feature's
map, and the most probable class; beside them the image and the feature's projection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from torch import nn

from explorer.analyses.colours import projection_rgb8
from explorer.analyses.errors import AnalysisError
from explorer.analyses.layers import layer_channels
from explorer.analyses.names import class_name, image_label
from explorer.analyses.protocol import Progress, ShouldStop
from explorer.analyses.selection import check_indices
from explorer.core.images import ImageSet
from explorer.core.labels import model_label
from explorer.core.occlusion_sensitivity import occlusion
from explorer.core.projection import model_device, project
from explorer.core.scan import CPU_PIXELS_PER_BATCH


def default_square(size: int) -> tuple[int, int]:
    """The grey square's side and stride for images of `size` pixels: a quarter and a sixteenth of the side (8 and
    2 at 32 px, 56 and 14 at 224: 13 x 13 positions either way), as the window and the command line default."""
    return max(1, size // 4), max(1, size // 16)


@dataclass(frozen=True)
class OcclusionRequest:
    """A `size` x `size` square of grey `fill` slid by `stride` over dataset image `image`; `feature` of `layer` summed."""

    kind: ClassVar[str] = "occlusion"

    image: int
    layer: str
    feature: int
    size: int = 8
    stride: int = 2
    fill: float = 0.5
    target: int | None = None  # the class whose probability is mapped (None: the true class, else the predicted)

    @property
    def file_stem(self) -> str:
        return f"{self.layer}-occlusion-image{self.image}-f{self.feature}"

    def compute(
        self,
        model: nn.Module,
        images: ImageSet,
        *,
        model_name: str = "",
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> OcclusionFigure:
        """The maps on `images`; `progress` is called per batch of positions (should_stop is ignored)."""
        (index,) = check_indices([self.image], len(images), "image")
        channels = layer_channels(model, self.layer)
        if not 0 <= self.feature < channels:
            raise AnalysisError(f"feature {self.feature}: {self.layer} has features 0..{channels - 1}")
        x = images.tensor([index])
        # Photo-size inputs go in small batches: progress and Cancel every few positions, and 169 copies of a
        # 224-px image are not all in memory at once (256 at 32 px, 8 at 224).
        batch = max(8, CPU_PIXELS_PER_BATCH // (x.shape[2] * x.shape[3]))
        try:
            r = occlusion(model, x, size=self.size, stride=self.stride, fill=self.fill,
                          layer=self.layer, feature=self.feature, batch=batch, progress=progress)  # fmt: skip
        except ValueError as exc:
            raise AnalysisError(str(exc)) from None
        label = model_label(model, images, index)
        target = self.target if self.target is not None else label if label >= 0 else int(r.base_probs[0].argmax())
        if not 0 <= target < r.probs.shape[1]:
            raise AnalysisError(f"class {target}: the model has classes 0..{r.probs.shape[1] - 1}")
        proj = project(model, x.to(model_device(model)), self.layer, self.feature)[0, 0].cpu().numpy()
        assert r.activation is not None and r.base_activation is not None
        return OcclusionFigure(
            self, index, images.image(index), image_label(images, index), projection_rgb8(proj), target,
            class_name(model, target), r.probs[0, target].numpy(), r.activation[0].numpy(), r.top_class[0].numpy(),
            float(r.base_probs[0, target]), float(r.base_activation[0]), r.ys, r.xs,
            tuple(class_name(model, c) for c in range(r.probs.shape[1])), model_name,
        )  # fmt: skip


@dataclass(frozen=True, eq=False)
class OcclusionFigure:
    request: OcclusionRequest
    index: int
    image: np.ndarray  # uint8 [H, W, 3]
    image_label: str
    projection: np.ndarray  # uint8 [H, W, 3]: the feature's projection (deconvnet, whole map)
    target: int
    target_name: str
    target_probs: np.ndarray  # [ny, nx] p(target) with the square at each position
    activation: np.ndarray  # [ny, nx] sum of the feature's map
    top_class: np.ndarray  # [ny, nx] int
    base_prob: float
    base_activation: float
    ys: tuple[int, ...]
    xs: tuple[int, ...]
    classes: tuple[str, ...]
    model_name: str

    @property
    def title(self) -> str:
        r = self.request
        return (
            f"Occlusion: {self.model_name}, image {self.image_label}, {r.layer} feature {r.feature}, "
            f"{r.size}x{r.size} square of grey {r.fill:g}, stride {r.stride}"
        )
