"""A photo of any size and mode, prepared as a model's own preprocessing feeds it (before normalisation).

For a torchvision or timm model that is its weights' transform: the shorter side resized to
`resize` (with the weights' interpolation, antialiased), then the centre `crop` x `crop` square,
computed by torchvision's own `ImageClassification` preset with the normalisation left out. Images
already at the model's input size pass through unchanged. The CIFAR-size models keep the
explorer's 32-pixel rule (`explorer.core.conversion.convert_image`), which gives the same crop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageOps

from explorer.core.conversion import MAX_RESIZED_SIDE, convert_image, to_rgb

if TYPE_CHECKING:
    from torch import nn

INTERPOLATIONS = ("nearest", "bilinear", "bicubic")


@dataclass(frozen=True)
class Preprocessing:
    """Resize the shorter side to `resize`, then crop the centre `crop` x `crop` square."""

    crop: int
    resize: int
    interpolation: str = "bilinear"

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation {self.interpolation!r}: choose one of {', '.join(INTERPOLATIONS)}")
        if not 1 <= self.crop <= self.resize:
            raise ValueError(f"crop {self.crop} must be between 1 and the resize {self.resize}")

    @property
    def is_cifar_rule(self) -> bool:
        """The explorer's 32-pixel rule: bilinear resize of the short side to 32, centre 32x32."""
        return (self.crop, self.resize, self.interpolation) == (32, 32, "bilinear")

    def describe(self) -> str:
        """One line for captions and cache keys."""
        return f"resize {self.resize} ({self.interpolation}), centre crop {self.crop}"

    def pixels(self, img: Image.Image) -> np.ndarray:
        """uint8 [crop, crop, 3]: the image oriented by its EXIF tag, in RGB, resized and cropped."""
        if self.is_cifar_rule:
            return convert_image(img)
        img = to_rgb(ImageOps.exif_transpose(img) or img)
        if img.size == (self.crop, self.crop):
            return np.asarray(img, dtype=np.uint8).copy()
        img = self._centre_region(img)
        out = self._transform()(img)  # float in [0, 1], exactly k / 255 for the crop's uint8 values
        return out.mul(255).round_().to(torch.uint8).permute(1, 2, 0).numpy().copy()

    def __call__(self, img: Image.Image) -> torch.Tensor:
        """float32 [3, crop, crop] in [0, 1]: what the model's preprocessing gives before normalising."""
        return torch.from_numpy(self.pixels(img)).permute(2, 0, 1).float().div_(255.0)

    def _transform(self):
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms._presets import ImageClassification

        return ImageClassification(
            crop_size=self.crop,
            resize_size=self.resize,
            mean=(0.0, 0.0, 0.0),
            std=(1.0, 1.0, 1.0),
            interpolation=InterpolationMode(self.interpolation),
            antialias=True,
        )

    def _centre_region(self, img: Image.Image) -> Image.Image:
        """For an extreme aspect ratio, the centre part of the long side with a margin, else `img` itself."""
        w, h = img.size
        short, long = min(w, h), max(w, h)
        if long * self.resize <= MAX_RESIZED_SIDE * short:
            return img
        keep = min(long, short * MAX_RESIZED_SIDE // self.resize)
        cut = (long - keep) // 2
        box = (cut, 0, cut + keep, h) if w > h else (0, cut, w, cut + keep)
        return img.crop(box)


def draft_size(prep: Preprocessing | None) -> int:
    """The short side a JPEG may be decoded down to (by Pillow's `draft`) without changing the result's size."""
    return 32 if prep is None else prep.resize


def preprocessing_of(model: nn.Module) -> Preprocessing:
    """The model's preprocessing from its ModelInfo (what `load_model` found in its weights, card or flags)."""
    from explorer.core.model_meta import model_info

    info = model_info(model)
    return Preprocessing(info.input_size, info.resize or info.input_size, info.interpolation)


def preprocess(model: nn.Module) -> Preprocessing:
    """A callable: a PIL image of any size and mode in, float32 [3, S, S] in [0, 1] out, as `model` expects it
    before normalisation (which the engine applies itself)."""
    return preprocessing_of(model)
