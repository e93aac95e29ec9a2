"""Turn (model, image set, FigureRequest) into FigureData: the tiles, labels, title and caption of a figure.

Pure apart from the torch work: the same model, images and request give the same FigureData.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from explorer.core.images import ImageSet
from explorer.core.projection import activations, model_device
from explorer.core.scan import TopK
from explorer.export.errors import ExportError
from explorer.export.figure_data import ACTIVATION_SCALE_LABEL, RELATIVE_SCALE, ColourScale, FigureData
from explorer.export.normalise import IMAGE_RULE, MAPS_RULE, PROJECTION_RULE, maps_rgb8, maps_scale, projection_rgb8
from explorer.export.request import FigureRequest, layer_of
from explorer.export.selection import check_indices, describe_indices
from explorer.export.tiles import image_label, project_pixels
from explorer.export.topk import compute_topk

BATCH = 256  # images per forward pass, so long selections never hold every activation at once
DEFAULT_IMAGES = {"feature": 16, "maxact": 256}
MAX_CELLS = 512  # cells in one figure: time and memory stay bounded, and the tiles stay big enough to see


def cell_count(dataset: ImageSet, request: FigureRequest, channels: int) -> int:
    """How many cells the figure would draw (feature: one per image; topk: k per feature; others: per feature)."""
    if request.kind == "feature":
        return len(request.images or default_images(dataset, "feature"))
    if request.kind in ("maps",):
        return channels
    features = len(request.features) if request.features is not None else channels
    return features * min(request.k, len(dataset)) if request.kind == "topk" else features


def check_size(dataset: ImageSet, request: FigureRequest, channels: int) -> None:
    """ExportError, before any work, when the figure would hold more than MAX_CELLS cells (`channels`: the layer's)."""
    n = cell_count(dataset, request, channels)
    if n > MAX_CELLS:
        what = (
            "images (--images)"
            if request.kind == "feature"
            else "features x k"
            if request.kind == "topk"
            else "features"
        )
        raise ExportError(
            f"{request.kind} figure of {n:,} cells: more than the {MAX_CELLS} one figure holds; "
            f"choose fewer {what}, e.g. every STEP-th with A:B:STEP"
        )


def compute_figure(
    model: nn.Module,
    dataset: ImageSet,
    request: FigureRequest,
    *,
    model_name: str = "SeedNet",
    top_k: TopK | None = None,
) -> FigureData:
    """The figure `request` asks for. topk uses `top_k` (the layer's scan) when given, else scans `dataset`."""
    if len(dataset) == 0:
        raise ExportError(f"{dataset.name}: no images to draw")
    check_size(dataset, request, layer_of(model, request.layer).channels)
    if request.kind == "topk":
        return compute_topk(model, dataset, request, model_name=model_name, top_k=top_k)
    build = {"maps": _maps, "projections": _projections, "feature": _feature, "maxact": _maxact}[request.kind]
    return build(model, dataset, request, model_name)


def default_images(dataset: ImageSet, kind: str) -> tuple[int, ...]:
    """The images a kind uses when none are chosen: the first 16 (feature) or 256 (maxact), or all there are."""
    return tuple(range(min(DEFAULT_IMAGES.get(kind, 1), len(dataset))))


def _device(model: nn.Module) -> torch.device:
    return model_device(model)


def _one_image(dataset: ImageSet, request: FigureRequest) -> tuple[int, str]:
    (index,) = check_indices([request.image], len(dataset), "image")
    return index, image_label(dataset, index)


def _maps(model: nn.Module, dataset: ImageSet, request: FigureRequest, model_name: str) -> FigureData:
    index, label = _one_image(dataset, request)
    maps = activations(model, dataset.tensor([index], _device(model)), request.layer)[0].cpu().numpy()
    vmax = maps_scale(maps)
    channels, h, w = maps.shape
    return FigureData(
        title=f"{model_name}, {request.layer}: activation maps of image {label} ({dataset.name})",
        caption=(
            f"The {channels} feature maps of {request.layer} after the ReLU, {h}x{w} each, labelled by feature index. "
            f"{MAPS_RULE[0].upper()}{MAPS_RULE[1:]}; here the top is {vmax:.4g}."
        ),
        tiles=tuple(maps_rgb8(maps, vmax)),
        labels=tuple(f"f{c}" for c in range(channels)),
        columns=request.columns or 8,
        scale=ColourScale("viridis", 0.0, vmax, ACTIVATION_SCALE_LABEL),
    )


def _projections(model: nn.Module, dataset: ImageSet, request: FigureRequest, model_name: str) -> FigureData:
    index, label = _one_image(dataset, request)
    feats = check_indices(
        request.features if request.features is not None else range(layer_of(model, request.layer).channels),
        layer_of(model, request.layer).channels,
        "feature",
    )
    p = project_pixels(model, dataset.images([index]), request, feats)[0]
    return FigureData(
        title=f"{model_name}, {request.layer}: {request.projection_words(layer_of(model, request.layer))}, image {label} ({dataset.name})",
        caption=(
            f"{len(feats)} features of {request.layer} ({describe_indices(feats)}), each projected to pixel space, "
            f"labelled by feature index; {PROJECTION_RULE}."
        ),
        tiles=tuple(projection_rgb8(p)),
        labels=tuple(f"f{f}" for f in feats),
        columns=request.columns or 8,
        scale=RELATIVE_SCALE,
    )


def _feature(model: nn.Module, dataset: ImageSet, request: FigureRequest, model_name: str) -> FigureData:
    (feature,) = check_indices([request.feature], layer_of(model, request.layer).channels, "feature")
    images = check_indices(request.images or default_images(dataset, "feature"), len(dataset), "image")
    tiles: list[np.ndarray] = []
    for start in range(0, len(images), BATCH):
        pixels = dataset.images(images[start : start + BATCH])
        rgb = projection_rgb8(project_pixels(model, pixels, request, [feature])[:, 0])
        for image, projection in zip(pixels, rgb, strict=True):
            tiles += [image, projection]
    return FigureData(
        title=(
            f"{model_name}, {request.layer}: feature {feature} across {len(images)} images ({dataset.name}); "
            f"{request.projection_words(layer_of(model, request.layer))}"
        ),
        caption=(
            f"Images {describe_indices(images)}. Each pair: the image, then feature {feature}'s projection for it; "
            f"labelled by image index and class. Projections: {PROJECTION_RULE}; {IMAGE_RULE}."
        ),
        tiles=tuple(tiles),
        labels=tuple(image_label(dataset, i) for i in images),
        group=2,
        columns=request.columns or 4,
        scale=RELATIVE_SCALE,
    )


def _maxact(model: nn.Module, dataset: ImageSet, request: FigureRequest, model_name: str) -> FigureData:
    feats = check_indices(
        request.features if request.features is not None else range(layer_of(model, request.layer).channels),
        layer_of(model, request.layer).channels,
        "feature",
    )
    images = check_indices(request.images or default_images(dataset, "maxact"), len(dataset), "image")
    best = strongest_images(model, dataset, images, request.layer, feats)
    tiles: list[np.ndarray] = []
    for f, index in zip(feats, best, strict=True):
        pixels = dataset.images([index])
        tiles += [pixels[0], projection_rgb8(project_pixels(model, pixels, request, [f])[0, 0])]
    return FigureData(
        title=(
            f"{model_name}, {request.layer}: maximum activations of {len(feats)} features over "
            f"{len(images)} images ({dataset.name}); {request.projection_words(layer_of(model, request.layer))}"
        ),
        caption=(
            f"For each feature, the image among images {describe_indices(images)} with its highest activation "
            f"(the largest value anywhere in its map; ties go to the first image), then the feature's projection "
            f"for that image; labelled by feature, image index and class. Projections: {PROJECTION_RULE}; {IMAGE_RULE}."
        ),
        tiles=tuple(tiles),
        labels=tuple(f"f{f}\n{image_label(dataset, i)}" for f, i in zip(feats, best, strict=True)),
        group=2,
        columns=request.columns or 4,
        scale=RELATIVE_SCALE,
    )


def strongest_images(
    model: nn.Module, dataset: ImageSet, images: Sequence[int], layer: str, features: Sequence[int]
) -> list[int]:
    """For each feature, the image of `images` where it reaches its largest activation (the first on ties)."""
    best_value = torch.full((len(features),), -torch.inf)
    best_pos = torch.zeros(len(features), dtype=torch.long)
    for start in range(0, len(images), BATCH):
        chunk = images[start : start + BATCH]
        a = activations(model, dataset.tensor(chunk, _device(model)), layer)[:, list(features)]
        peak = a.amax(dim=(2, 3)).float().cpu()  # [b, F]
        value = peak.max(0).values
        # Chunk winners replace the running best only when strictly higher: earlier images win ties.
        first = (peak == value).float().argmax(0)
        better = value > best_value
        best_value = torch.where(better, value, best_value)
        best_pos = torch.where(better, first + start, best_pos)
    return [int(images[int(i)]) for i in best_pos]
