"""Invariance as a figure (Zeiler & Fergus Fig. 5): layer distances and class probabilities as one image is
shifted, scaled or rotated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from explorer.analyses.errors import AnalysisError
from explorer.analyses.layers import layer_channels
from explorer.analyses.names import class_name, image_label
from explorer.analyses.protocol import Progress, ShouldStop
from explorer.analyses.selection import check_indices
from explorer.core.images import ImageSet
from explorer.core.invariance_curves import TRANSFORMS, invariance
from explorer.core.labels import model_label

DEFAULT_VALUES = {
    "translate": tuple(float(v) for v in range(-8, 9)),
    "scale": tuple(round(0.6 + 0.05 * i, 2) for i in range(17)),
    "rotate": tuple(float(v) for v in range(-45, 46, 5)),
}
TOP_CLASSES = 3  # classes drawn besides the true one in the invariance figure


def _rgb8(x: torch.Tensor) -> np.ndarray:
    return np.clip(np.rint(x.permute(1, 2, 0).numpy() * 255), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class InvarianceRequest:
    """Dataset image `image` transformed by `transform` at each of `values`; the distance of each of `layers`."""

    kind: ClassVar[str] = "invariance"

    image: int
    transform: str
    layers: tuple[str, ...]
    values: tuple[float, ...] = ()  # () : DEFAULT_VALUES[transform]
    fill: float = 0.5

    @property
    def file_stem(self) -> str:
        return f"invariance-{self.transform}-image{self.image}"

    def compute(
        self,
        model: nn.Module,
        images: ImageSet,
        *,
        model_name: str = "",
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> InvarianceFigure:
        """The curves on `images`; `progress(1, 1)` when done (should_stop is ignored)."""
        if self.transform not in TRANSFORMS:
            raise AnalysisError(f"transform {self.transform}: unknown (use {', '.join(TRANSFORMS)})")
        if not self.layers:
            raise AnalysisError("no layer given")
        for layer in self.layers:
            layer_channels(model, layer)
        (index,) = check_indices([self.image], len(images), "image")
        values = self.values or DEFAULT_VALUES[self.transform]
        try:
            r = invariance(
                model, images.tensor([index]), self.transform, values, layer=list(self.layers), fill=self.fill
            )
        except ValueError as exc:
            raise AnalysisError(str(exc)) from None
        if progress is not None:
            progress(1, 1)
        label = model_label(model, images, index)
        probs = r.probs.numpy()
        order = [int(c) for c in np.argsort(-probs.max(0), kind="stable") if int(c) != label]
        shown = ((label,) if label >= 0 else ()) + tuple(order[:TOP_CLASSES])
        picks = sorted({0, len(values) // 4, len(values) // 2, (3 * len(values)) // 4, len(values) - 1})
        return InvarianceFigure(
            self, index, image_label(images, index), tuple(values), r.distance.numpy(), probs, label, shown,
            tuple(class_name(model, c) for c in range(probs.shape[1])),
            np.stack([_rgb8(r.images[i]) for i in picks]), tuple(values[i] for i in picks), model_name,
        )  # fmt: skip


@dataclass(frozen=True, eq=False)
class InvarianceFigure:
    request: InvarianceRequest
    index: int
    image_label: str
    values: tuple[float, ...]
    distance: np.ndarray  # [L, V]
    probs: np.ndarray  # [V, classes]
    label: int  # the true class (-1 when unknown)
    shown: tuple[int, ...]  # classes drawn: the true one first, then the top ones
    classes: tuple[str, ...]
    thumbs: np.ndarray  # uint8 [T, H, W, 3] a few of the transformed images
    thumb_values: tuple[float, ...]
    model_name: str

    @property
    def title(self) -> str:
        r = self.request
        return f"Invariance to {r.transform}: {self.model_name}, image {self.image_label}, {', '.join(r.layers)}"
