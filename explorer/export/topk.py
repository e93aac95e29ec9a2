"""The Zeiler & Fergus grid: each feature's top-k image patches beside the projections of their strongest activation.

Patch and projection are cut to the same receptive-field box; a box that leaves the image keeps
its full size, padded with a fine light-grey checkerboard (the usual sign for "no pixels here", which
no white or grey image content can be mistaken for) so every tile shows the same field.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from explorer.core.images import ImageSet
from explorer.core.receptive import field_size
from explorer.core.scan import TopK, scan_top_k
from explorer.export.errors import ExportError
from explorer.export.figure_data import FigureData
from explorer.export.normalise import PROJECTION_RULE, projection_rgb8
from explorer.export.request import FigureRequest, layer_of
from explorer.export.selection import check_indices, describe_indices
from explorer.export.tiles import image_label, project_pixels

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


def compute_topk(
    model: nn.Module,
    dataset: ImageSet,
    request: FigureRequest,
    *,
    model_name: str = "SeedNet",
    top_k: TopK | None = None,
) -> FigureData:
    """Row by row, one feature's top-k pairs (patch, projection with keep="max"), strongest first."""
    layer = request.layer
    feats = check_indices(
        request.features if request.features is not None else range(layer_of(model, request.layer).channels),
        layer_of(model, request.layer).channels,
        "feature",
    )
    if top_k is None:
        top_k = scan_top_k(model, dataset, [layer], request.k)[layer]
    if top_k.indices.shape[0] != layer_of(model, request.layer).channels:
        raise ExportError(
            f"the scan has {top_k.indices.shape[0]} features, {layer} has {layer_of(model, request.layer).channels}"
        )
    available = top_k.indices.shape[1]
    if request.k > available:
        raise ExportError(f"k {request.k}: the scan holds only the top {available} images per feature")
    k = request.k
    size = field_size(model, layer)
    tiles: list[np.ndarray] = []
    labels: list[str] = []
    for f in feats:
        indices = [int(i) for i in top_k.indices[f, :k]]
        pixels = dataset.images(indices)
        projections = projection_rgb8(project_pixels(model, pixels, request, [f], keep="max")[:, 0])
        for j, index in enumerate(indices):
            box = top_k.boxes[f, j]
            tiles += [crop_field(pixels[j], box, size), crop_field(projections[j], box, size)]
            labels.append(f"f{f}\n{image_label(dataset, index)}")
    return FigureData(
        title=(
            f"{model_name}, {layer}: top {k} images of features {describe_indices(feats)} over "
            f"{len(dataset)} images ({dataset.name}); {request.projection_words(layer_of(model, request.layer), keep='max')}"
        ),
        caption=(
            f"One row per feature, its {k} strongest images first to last. Each pair: the image patch under the "
            f"receptive field ({size}x{size} px) of the feature's strongest activation in that image, then the "
            f"projection of that single activation cropped to the same box (checkered: outside the image); labelled by "
            f"feature, image index and class. Projections: {PROJECTION_RULE}."
        ),
        tiles=tuple(tiles),
        labels=tuple(labels),
        group=2,
        columns=request.columns or k,
    )
