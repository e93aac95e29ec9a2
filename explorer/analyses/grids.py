"""The grid figures of one layer: activation maps, projections, a feature across images, maximum activations.

Pure apart from the torch work: the same model, images and request give the same GridFigure.
(The top-k grid, which needs a scan, is explorer.analyses.topk.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from explorer.analyses.colours import IMAGE_RULE, MAPS_RULE, PROJECTION_RULE, maps_rgb8, maps_scale, projection_rgb8
from explorer.analyses.grid import ACTIVATION_SCALE_LABEL, RELATIVE_SCALE, ColourScale, GridFigure
from explorer.analyses.grid_base import BATCH, GridRequest, default_images, project_pixels
from explorer.analyses.layers import layer_of
from explorer.analyses.names import image_label
from explorer.analyses.selection import check_indices, describe_indices
from explorer.core.images import ImageSet
from explorer.core.projection import activations, model_device


def _one_image(dataset: ImageSet, request: GridRequest) -> tuple[int, str]:
    (index,) = check_indices([request.image], len(dataset), "image")
    return index, image_label(dataset, index)


@dataclass(frozen=True)
class MapsRequest(GridRequest):
    """Every activation map of `layer` for dataset image `image`, on one viridis scale."""

    kind: ClassVar[str] = "maps"

    @property
    def file_stem(self) -> str:
        return f"{self.layer}-maps-image{self.image}"

    def cell_count(self, dataset: ImageSet, channels: int) -> int:
        return channels

    def grid(self, model: nn.Module, dataset: ImageSet, model_name: str) -> GridFigure:
        index, label = _one_image(dataset, self)
        maps = activations(model, dataset.tensor([index], model_device(model)), self.layer)[0].cpu().numpy()
        vmax = maps_scale(maps)
        channels, h, w = maps.shape
        return GridFigure(
            title=f"{model_name}, {self.layer}: activation maps of image {label} ({dataset.name})",
            caption=(
                f"The {channels} feature maps of {self.layer} after the ReLU, {h}x{w} each, labelled by feature "
                f"index. {MAPS_RULE[0].upper()}{MAPS_RULE[1:]}; here the top is {vmax:.4g}."
            ),
            tiles=tuple(maps_rgb8(maps, vmax)),
            labels=tuple(f"f{c}" for c in range(channels)),
            columns=self.columns or 8,
            scale=ColourScale("viridis", 0.0, vmax, ACTIVATION_SCALE_LABEL),
            request=self,
        )


@dataclass(frozen=True)
class ProjectionsRequest(GridRequest):
    """The projections of `features` (None: all) of `layer` for dataset image `image`."""

    kind: ClassVar[str] = "projections"

    @property
    def file_stem(self) -> str:
        return f"{self.layer}-projections-image{self.image}"

    def grid(self, model: nn.Module, dataset: ImageSet, model_name: str) -> GridFigure:
        index, label = _one_image(dataset, self)
        feats = check_indices(
            self.features if self.features is not None else range(layer_of(model, self.layer).channels),
            layer_of(model, self.layer).channels,
            "feature",
        )
        p = project_pixels(model, dataset.images([index]), self, feats)[0]
        return GridFigure(
            title=f"{model_name}, {self.layer}: {self.projection_words(layer_of(model, self.layer))}, image {label} ({dataset.name})",
            caption=(
                f"{len(feats)} features of {self.layer} ({describe_indices(feats)}), each projected to pixel space, "
                f"labelled by feature index; {PROJECTION_RULE}."
            ),
            tiles=tuple(projection_rgb8(p)),
            labels=tuple(f"f{f}" for f in feats),
            columns=self.columns or 8,
            scale=RELATIVE_SCALE,
            request=self,
        )


@dataclass(frozen=True)
class FeatureRequest(GridRequest):
    """Feature `feature` of `layer` across dataset images `images` (none: the first 16), each beside its image."""

    kind: ClassVar[str] = "feature"
    fewer: ClassVar[str] = "images (--images)"

    @property
    def file_stem(self) -> str:
        return f"{self.layer}-feature{self.feature}-across-{len(self.images)}"

    def cell_count(self, dataset: ImageSet, channels: int) -> int:
        return len(self.images or default_images(dataset, "feature"))

    def grid(self, model: nn.Module, dataset: ImageSet, model_name: str) -> GridFigure:
        (feature,) = check_indices([self.feature], layer_of(model, self.layer).channels, "feature")
        images = check_indices(self.images or default_images(dataset, "feature"), len(dataset), "image")
        tiles: list[np.ndarray] = []
        for start in range(0, len(images), BATCH):
            pixels = dataset.images(images[start : start + BATCH])
            rgb = projection_rgb8(project_pixels(model, pixels, self, [feature])[:, 0])
            for image, projection in zip(pixels, rgb, strict=True):
                tiles += [image, projection]
        return GridFigure(
            title=(
                f"{model_name}, {self.layer}: feature {feature} across {len(images)} images ({dataset.name}); "
                f"{self.projection_words(layer_of(model, self.layer))}"
            ),
            caption=(
                f"Images {describe_indices(images)}. Each pair: the image, then feature {feature}'s projection for it; "
                f"labelled by image index and class. Projections: {PROJECTION_RULE}; {IMAGE_RULE}."
            ),
            tiles=tuple(tiles),
            labels=tuple(image_label(dataset, i) for i in images),
            group=2,
            columns=self.columns or 4,
            scale=RELATIVE_SCALE,
            request=self,
        )


@dataclass(frozen=True)
class MaxActRequest(GridRequest):
    """For each of `features`, the image of `images` (none: the first 256) where it is strongest, and its projection."""

    kind: ClassVar[str] = "maxact"

    def grid(self, model: nn.Module, dataset: ImageSet, model_name: str) -> GridFigure:
        feats = check_indices(
            self.features if self.features is not None else range(layer_of(model, self.layer).channels),
            layer_of(model, self.layer).channels,
            "feature",
        )
        images = check_indices(self.images or default_images(dataset, "maxact"), len(dataset), "image")
        best = strongest_images(model, dataset, images, self.layer, feats)
        tiles: list[np.ndarray] = []
        for f, index in zip(feats, best, strict=True):
            pixels = dataset.images([index])
            tiles += [pixels[0], projection_rgb8(project_pixels(model, pixels, self, [f])[0, 0])]
        return GridFigure(
            title=(
                f"{model_name}, {self.layer}: maximum activations of {len(feats)} features over "
                f"{len(images)} images ({dataset.name}); {self.projection_words(layer_of(model, self.layer))}"
            ),
            caption=(
                f"For each feature, the image among images {describe_indices(images)} with its highest activation "
                f"(the largest value anywhere in its map; ties go to the first image), then the feature's projection "
                f"for that image; labelled by feature, image index and class. Projections: {PROJECTION_RULE}; {IMAGE_RULE}."
            ),
            tiles=tuple(tiles),
            labels=tuple(f"f{f}\n{image_label(dataset, i)}" for f, i in zip(feats, best, strict=True)),
            group=2,
            columns=self.columns or 4,
            scale=RELATIVE_SCALE,
            request=self,
        )


def strongest_images(
    model: nn.Module, dataset: ImageSet, images: Sequence[int], layer: str, features: Sequence[int]
) -> list[int]:
    """For each feature, the image of `images` where it reaches its largest activation (the first on ties)."""
    best_value = torch.full((len(features),), -torch.inf)
    best_pos = torch.zeros(len(features), dtype=torch.long)
    for start in range(0, len(images), BATCH):
        chunk = images[start : start + BATCH]
        a = activations(model, dataset.tensor(chunk, model_device(model)), layer)[:, list(features)]
        peak = a.amax(dim=(2, 3)).float().cpu()  # [b, F]
        value = peak.max(0).values
        # Chunk winners replace the running best only when strictly higher: earlier images win ties.
        first = (peak == value).float().argmax(0)
        better = value > best_value
        best_value = torch.where(better, value, best_value)
        best_pos = torch.where(better, first + start, best_pos)
    return [int(images[int(i)]) for i in best_pos]
