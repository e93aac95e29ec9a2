"""Small photos of mixed sizes and modes, and a torch hub cache laid out with random weights (all offline)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

# (width, height, mode, format): landscape, portrait, square, tiny, grey, palette, RGBA, CMYK.
PHOTOS = (
    (640, 480, "RGB", "JPEG"),
    (480, 640, "RGB", "JPEG"),
    (300, 200, "RGB", "PNG"),
    (150, 150, "RGB", "PNG"),
    (512, 600, "L", "JPEG"),
    (333, 500, "P", "PNG"),
    (400, 300, "RGBA", "PNG"),
    (360, 240, "CMYK", "JPEG"),
)


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """A smooth RGB picture with some texture: gradients, a disc and noise (resampling shows on it)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    disc = ((x - width * 0.4) ** 2 + (y - height * 0.6) ** 2) < (min(width, height) * 0.25) ** 2
    rgb = np.stack([x / width * 255, y / height * 255, 128 + 100 * np.sin(x / 7.0) * np.cos(y / 11.0)], -1)
    rgb[disc] = (230, 40, 60)
    rgb += rng.normal(0, 12, rgb.shape)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def make_photos(folder: Path, specs=PHOTOS) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (w, h, mode, fmt) in enumerate(specs):
        img = photo(w, h, seed=i)
        if mode == "RGBA":
            img = img.convert("RGBA")
            img.putalpha(255)
        elif mode != "RGB":
            img = img.convert(mode)
        path = folder / f"photo{i}.{'jpg' if fmt == 'JPEG' else 'png'}"
        img.save(path, fmt, quality=92) if fmt == "JPEG" else img.save(path, fmt)
        paths.append(path)
    return paths


def lay_weights(torch_home: Path, name: str, weights: str = "DEFAULT") -> dict[str, torch.Tensor]:
    """Random weights for `torchvision:name` under the file name torchvision looks for in `torch_home`."""
    from explorer.core.torchvision_models import build, hub_file, pick_weights

    member = pick_weights(name, None if weights == "DEFAULT" else weights)
    old = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(torch_home)
    try:
        path = Path(hub_file(member))
    finally:
        if old is None:
            os.environ.pop("TORCH_HOME")
        else:
            os.environ["TORCH_HOME"] = old
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    state = build(name, member, len(member.meta["categories"]), aux=name in ("inception_v3", "googlenet")).state_dict()
    torch.save(state, path)
    return state
