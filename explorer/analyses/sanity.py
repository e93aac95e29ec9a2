"""Adebayo et al.'s sanity check as a figure: attributions as the model's layers are randomized from the top.

SanityRequest is what `cnn-explorer export sanity` parses; SanityFigure is what the figure
(explorer.render.attribution_render) draws: plain numpy and values only.
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
from explorer.core.errors import OptionError
from explorer.core.images import ImageSet
from explorer.core.projection import model_device
from explorer.core.saliency import SALIENCY_METHODS
from explorer.core.sanity_checks import Sanity, sanity


@dataclass(frozen=True)
class SanityRequest:
    """The cascade on dataset images `images`, re-initialised under `seed`, `depth` layers deep (None: all)."""

    kind: ClassVar[str] = "sanity"

    images: tuple[int, ...]
    seed: int = 0
    depth: int | None = None
    methods: tuple[str, ...] = SALIENCY_METHODS

    @property
    def file_stem(self) -> str:
        return f"sanity-seed{self.seed}"

    def compute(
        self,
        model: nn.Module,
        images: ImageSet,
        *,
        model_name: str = "",
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> SanityFigure:
        """The cascade on the request's images (the model itself is never changed); `progress` per layer."""
        indices = check_indices(self.images, len(images), "image")
        if not indices:
            raise AnalysisError("--image: choose at least one image")
        x = images.tensor(list(indices), model_device(model))
        try:
            result = sanity(model, x, methods=self.methods, seed=self.seed, depth=self.depth, progress=progress)
        except OptionError as exc:
            raise AnalysisError(str(exc)) from None
        labels = tuple(image_label(images, i) for i in indices)
        return SanityFigure(self, result, images.images(list(indices)), labels, model_name)


@dataclass(frozen=True, eq=False)
class SanityFigure:
    request: SanityRequest
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
