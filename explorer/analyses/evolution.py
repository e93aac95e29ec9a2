"""Feature evolution as a figure (Zeiler & Fergus Fig. 4): features' strongest images and projections per snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from explorer.analyses.colours import projection_rgb8
from explorer.analyses.errors import AnalysisError
from explorer.analyses.layers import layer_channels
from explorer.analyses.names import image_label
from explorer.analyses.protocol import Progress, ShouldStop
from explorer.analyses.selection import check_indices, describe_indices
from explorer.core.errors import CheckpointError
from explorer.core.feature_evolution import evolution
from explorer.core.images import ImageSet
from explorer.core.model_meta import model_info

SPREAD = 256  # images evolution searches by default, taken evenly from the whole split


def spread(count: int, n: int = SPREAD) -> tuple[int, ...]:
    """`n` indices spread evenly over `count` images (all of them when fewer): class-sorted folders mix."""
    if count <= n:
        return tuple(range(count))
    return tuple(int(i) for i in (np.arange(n) * count) // n)


@dataclass(frozen=True)
class EvolutionRequest:
    """`features` of `layer` at each training snapshot: the strongest of dataset images `images`, projected."""

    kind: ClassVar[str] = "evolution"

    layer: str
    features: tuple[int, ...]
    images: tuple[int, ...]  # the set searched for each feature's strongest activation
    snapshots: str | None = None  # a snapshot file (None: the bundled model's)

    @property
    def file_stem(self) -> str:
        return f"{self.layer}-evolution-{describe_indices(self.features).replace(', ', '_')}"

    def compute(
        self,
        model: nn.Module,
        images: ImageSet,
        *,
        model_name: str = "",
        progress: Progress | None = None,
        should_stop: ShouldStop | None = None,
    ) -> EvolutionFigure:
        """Loads the snapshots (the bundled model's by default), then runs them; `progress` per snapshot."""
        from explorer.core.checkpoint import load_snapshots

        name = (model_info(model).spec or "seednet") if self.snapshots is None else "seednet"
        try:
            snapshots = load_snapshots(self.snapshots, model=name)
        except CheckpointError as exc:
            raise AnalysisError(str(exc)) from None
        return self.compute_from(model, images, snapshots, model_name=model_name, progress=progress)

    def compute_from(
        self,
        model: nn.Module,
        images: ImageSet,
        snapshots: dict[int, dict[str, torch.Tensor]],
        *,
        model_name: str = "",
        progress: Progress | None = None,
    ) -> EvolutionFigure:
        """The figure from snapshots already loaded ({epoch: state dict})."""
        channels = layer_channels(model, self.layer)
        feats = check_indices(self.features, channels, "feature")
        chosen = check_indices(self.images, len(images), "image")
        try:
            steps = evolution(model, snapshots, images.tensor(list(chosen)), self.layer, list(feats), progress=progress)
        except ValueError as exc:
            raise AnalysisError(str(exc)) from None
        indices = np.array([[chosen[int(i)] for i in s.indices] for s in steps], dtype=np.int64).reshape(len(steps), -1)
        return EvolutionFigure(
            self,
            tuple(s.epoch for s in steps),
            indices,
            np.stack([s.values.numpy() for s in steps]),
            np.stack([projection_rgb8(s.projections.numpy()) for s in steps]),
            tuple(tuple(image_label(images, int(i)) for i in row) for row in indices),
            model_name,
        )


@dataclass(frozen=True, eq=False)
class EvolutionFigure:
    request: EvolutionRequest
    epochs: tuple[int, ...]
    indices: np.ndarray  # [E, F] dataset index of each strongest image
    values: np.ndarray  # [E, F]
    tiles: np.ndarray  # uint8 [E, F, H, W, 3] projections
    labels: tuple[tuple[str, ...], ...]  # [E][F] "#index class"
    model_name: str

    @property
    def title(self) -> str:
        r = self.request
        return (
            f"Feature evolution: {self.model_name}, {r.layer} features {describe_indices(r.features)}, "
            f"strongest of images {describe_indices(r.images)} per snapshot"
        )
