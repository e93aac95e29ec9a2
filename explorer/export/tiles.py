"""What every figure kind shares: projections of uint8 pictures as numpy, and how images and models are named."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from torch import nn

from explorer.core.images import ImageSet, to_tensor
from explorer.core.model_meta import model_info
from explorer.core.projection import model_device, project
from explorer.export.request import FigureRequest


def model_label(model: nn.Module | str | os.PathLike[str] | None) -> str:
    """How titles name the model: its name from `load_model` ("SeedNet (bundled)", "resnet18 (my.pt)").

    A checkpoint path (or None) instead of a model names SeedNet weights, as before.
    """
    if isinstance(model, nn.Module):
        return model_info(model).name
    return "SeedNet (bundled)" if model is None else f"SeedNet ({os.path.basename(os.fspath(model))})"


def image_label(dataset: ImageSet, index: int) -> str:
    """ "#index class": the class name when the image has one, else its caption, shortened."""
    label = int(dataset.labels[index])
    name = dataset.classes[label] if 0 <= label < len(dataset.classes) else dataset.caption(index)
    return f"#{index} {name if len(name) <= 16 else name[:15] + '~'}"


def project_pixels(
    model: nn.Module, pixels: np.ndarray, request: FigureRequest, features: Sequence[int], keep: str | None = None
) -> np.ndarray:
    """float32 [n, F, 3, H, W]: the request's projection of `features` for uint8 [n, H, W, 3] pictures."""
    x = to_tensor(pixels, model_device(model))
    out = project(
        model, x, request.layer, list(features), method=request.method, unpool=request.unpool, keep=keep or request.keep
    )
    return out.float().cpu().numpy()
