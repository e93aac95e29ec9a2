"""What every figure kind shares: projections of uint8 pictures as numpy, and how images and models are named."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from explorer.core.images import ImageSet, to_tensor
from explorer.core.model import SeedNet
from explorer.core.projection import project
from explorer.export.request import FigureRequest


def model_label(checkpoint: str | os.PathLike[str] | None) -> str:
    """How titles name the model: "SeedNet (bundled)" or "SeedNet (<file name>)"."""
    return "SeedNet (bundled)" if checkpoint is None else f"SeedNet ({os.path.basename(os.fspath(checkpoint))})"


def image_label(dataset: ImageSet, index: int) -> str:
    """ "#index class": the class name when the image has one, else its caption, shortened."""
    label = int(dataset.labels[index])
    name = dataset.classes[label] if 0 <= label < len(dataset.classes) else dataset.caption(index)
    return f"#{index} {name if len(name) <= 16 else name[:15] + '~'}"


def project_pixels(
    model: SeedNet, pixels: np.ndarray, request: FigureRequest, features: Sequence[int], keep: str | None = None
) -> np.ndarray:
    """float32 [n, F, 3, H, W]: the request's projection of `features` for uint8 [n, H, W, 3] pictures."""
    x = to_tensor(pixels, model.conv1.weight.device)
    out = project(
        model, x, request.layer, list(features), method=request.method, unpool=request.unpool, keep=keep or request.keep
    )
    return out.float().cpu().numpy()
