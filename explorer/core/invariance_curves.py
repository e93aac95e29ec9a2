"""Invariance (Zeiler & Fergus, Fig. 5): how far a layer's output and the prediction move as the image is transformed.

The image is translated vertically (whole pixels), scaled or rotated about its centre with
torchvision's `affine`, the uncovered pixels filled with `fill`. For each amount the distance is
the Euclidean norm between the layer's whole post-ReLU output (flattened) for the transformed and
for the original image. The identity amount reuses the original image's own pass, so it gives
distance 0 and exactly `predict(model, image)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from explorer.core.projection import layer_outputs, predict

TRANSFORMS = ("translate", "scale", "rotate")
IDENTITY = {"translate": 0.0, "scale": 1.0, "rotate": 0.0}
UNITS = {"translate": "pixels down", "scale": "factor", "rotate": "degrees anticlockwise"}
_CHUNK = 256


@dataclass(frozen=True, eq=False)
class Invariance:
    """Distances and probabilities per amount of the transform, on the CPU."""

    transform: str
    values: tuple[float, ...]
    layers: tuple[str, ...]
    distance: torch.Tensor  # [V] for one layer (a str), [L, V] for a list of layers
    probs: torch.Tensor  # [V, classes]
    images: torch.Tensor  # [V, 3, H, W] the transformed images


def transformed(image: torch.Tensor, transform: str, value: float, fill: float = 0.5) -> torch.Tensor:
    """`image` [3, H, W] after one transform; the identity amount gives the image itself."""
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform {transform!r}: choose one of {', '.join(TRANSFORMS)}")
    if value == IDENTITY[transform]:
        return image
    # Imported here: torchvision's transforms are slow to import, and the window starts without them.
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as TF

    if transform == "translate":
        if value != int(value):
            raise ValueError(f"translate {value}: whole pixels only")
        # Whole pixels with nearest sampling: every pixel is copied, not interpolated.
        return TF.affine(image, angle=0.0, translate=[0, int(value)], scale=1.0, shear=[0.0, 0.0],
                         interpolation=InterpolationMode.NEAREST, fill=fill)  # fmt: skip
    if transform == "scale":
        if value <= 0:
            raise ValueError(f"scale {value}: the factor must be positive")
        return TF.affine(image, angle=0.0, translate=[0, 0], scale=float(value), shear=[0.0, 0.0],
                         interpolation=InterpolationMode.BILINEAR, fill=fill)  # fmt: skip
    return TF.affine(image, angle=float(value), translate=[0, 0], scale=1.0, shear=[0.0, 0.0],
                     interpolation=InterpolationMode.BILINEAR, fill=fill)  # fmt: skip


@torch.no_grad()
def invariance(
    model: nn.Module,
    image: torch.Tensor,
    transform: str,
    values: Sequence[float],
    *,
    layer: str | Sequence[str],
    fill: float = 0.5,
) -> Invariance:
    """Transform `image` ([3, H, W] or [1, 3, H, W], in [0, 1]) by each of `values`; see the module docstring.

    translate: whole pixels, positive moves the content down; scale: factor about the centre;
    rotate: degrees about the centre (positive turns anticlockwise).
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform {transform!r}: choose one of {', '.join(TRANSFORMS)}")
    x = image[0] if image.dim() == 4 and image.shape[0] == 1 else image
    if x.dim() != 3 or x.shape[0] != 3:
        raise ValueError(f"image must be [3, H, W] or [1, 3, H, W], got {tuple(image.shape)}")
    if not 0.0 <= fill <= 1.0:
        raise ValueError(f"fill {fill}: must be in [0, 1]")
    names = [layer] if isinstance(layer, str) else list(layer)
    if not names:
        raise ValueError("no layer given")
    vals = tuple(float(v) for v in values)
    if not vals:
        raise ValueError("no transform values given")
    # The reference pass takes the caller's tensor as it is: its memory layout can change the last bits.
    x4 = image if image.dim() == 4 else image[None]
    reference = layer_outputs(model, x4, names)
    ref_probs = predict(model, x4).cpu().float()
    x = x.cpu().float()
    images = torch.stack([transformed(x, transform, v, fill) for v in vals])
    ident = torch.tensor([v == IDENTITY[transform] for v in vals])
    dist = torch.zeros(len(names), len(vals))
    probs = ref_probs.expand(len(vals), -1).clone()
    moved = (~ident).nonzero().flatten().tolist()
    for start in range(0, len(moved), _CHUNK):
        rows = moved[start : start + _CHUNK]
        batch = images[rows]
        outs = layer_outputs(model, batch, names)
        for i, name in enumerate(names):
            dist[i, rows] = (outs[name] - reference[name]).flatten(1).norm(dim=1).cpu().float()
        probs[rows] = predict(model, batch).float()
    return Invariance(
        transform,
        vals,
        tuple(names),
        dist[0] if isinstance(layer, str) else dist,
        probs,
        images,
    )
