"""The Zeiler & Fergus grid: each feature's top-k image patches beside the projections of their strongest activation.

Patch and projection are cut to the same receptive-field box; a box that leaves the image keeps
its full size, padded with a fine light-grey checkerboard (the usual sign for "no pixels here", which
no white or grey image content can be mistaken for) so every tile shows the same field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from torch import nn

from explorer.analyses.colours import PROJECTION_RULE, projection_rgb8
from explorer.analyses.errors import AnalysisError
from explorer.analyses.grid import GridFigure
from explorer.analyses.grid_base import GridRequest, project_pixels
from explorer.analyses.layers import layer_of
from explorer.analyses.names import image_label
from explorer.analyses.selection import check_indices, describe_indices
from explorer.core.images import ImageSet
from explorer.core.receptive import field_size
from explorer.core.scan import TopK, scan_top_k

PAD_LEVELS = (200, 235)  # the checkerboard's two greys, alternating pixel by pixel


def crop_field(picture: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """[H, W, 3] -> [size, size, 3]: the box (top, left, bottom, right, clipped to the picture) in place in its full field.

    A box shorter than `size` lost rows or columns at a picture edge: at the start when it begins
    at 0, else at the end; those are padded with the PAD_LEVELS checkerboard.
    """
    top, left, bottom, right = (int(v) for v in box)
    checker = (np.add.outer(np.arange(size), np.arange(size)) % 2).astype(bool)
    out = np.where(checker[..., None], PAD_LEVELS[1], PAD_LEVELS[0]).astype(picture.dtype)
    out = np.repeat(out, picture.shape[2], axis=2)
    h, w = bottom - top, right - left
    r0 = size - h if top == 0 and bottom < picture.shape[0] else 0
    c0 = size - w if left == 0 and right < picture.shape[1] else 0
    if h > size or w > size:
        raise ValueError(f"box {tuple(box)} is larger than the receptive field ({size})")
    out[r0 : r0 + h, c0 : c0 + w] = picture[top:bottom, left:right]
    return out


@dataclass(frozen=True)
class TopKRequest(GridRequest):
    """Row by row, each of `features`' (None: all) top-k pairs (patch, projection with keep="max"), strongest first.

    top_k: the layer's scan of the same images (explorer.core.scan.TopK); None scans them first.
    """

    kind: ClassVar[str] = "topk"
    fewer: ClassVar[str] = "features x k"

    top_k: TopK | None = field(default=None, compare=False, repr=False)

    @property
    def file_stem(self) -> str:
        return f"{self.layer}-top{self.k}"

    def cell_count(self, dataset: ImageSet, channels: int) -> int:
        features = len(self.features) if self.features is not None else channels
        return features * min(self.k, len(dataset))

    def grid(self, model: nn.Module, dataset: ImageSet, model_name: str) -> GridFigure:
        layer = self.layer
        feats = check_indices(
            self.features if self.features is not None else range(layer_of(model, self.layer).channels),
            layer_of(model, self.layer).channels,
            "feature",
        )
        top_k = self.top_k
        if top_k is None:
            top_k = scan_top_k(model, dataset, [layer], self.k)[layer]
        if top_k.indices.shape[0] != layer_of(model, self.layer).channels:
            raise AnalysisError(
                f"the scan has {top_k.indices.shape[0]} features, {layer} has {layer_of(model, self.layer).channels}"
            )
        available = top_k.indices.shape[1]
        if self.k > available:
            raise AnalysisError(f"k {self.k}: the scan holds only the top {available} images per feature")
        k = self.k
        size = field_size(model, layer)
        tiles: list[np.ndarray] = []
        labels: list[str] = []
        for f in feats:
            indices = [int(i) for i in top_k.indices[f, :k]]
            pixels = dataset.images(indices)
            projections = projection_rgb8(project_pixels(model, pixels, self, [f], keep="max")[:, 0])
            for j, index in enumerate(indices):
                box = top_k.boxes[f, j]
                tiles += [crop_field(pixels[j], box, size), crop_field(projections[j], box, size)]
                labels.append(f"f{f}\n{image_label(dataset, index)}")
        return GridFigure(
            title=(
                f"{model_name}, {layer}: top {k} images of features {describe_indices(feats)} over "
                f"{len(dataset)} images ({dataset.name}); {self.projection_words(layer_of(model, self.layer), keep='max')}"
            ),
            caption=(
                f"One row per feature, its {k} strongest images first to last. Each pair: the image patch under the "
                f"receptive field ({size}x{size} px) of the feature's strongest activation in that image, then the "
                f"projection of that single activation cropped to the same box (checkered: outside the image); "
                f"labelled by feature, image index and class. Projections: {PROJECTION_RULE}."
            ),
            tiles=tuple(tiles),
            labels=tuple(labels),
            group=2,
            columns=self.columns or k,
            request=self,
        )
