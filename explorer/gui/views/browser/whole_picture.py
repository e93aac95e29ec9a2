"""What a thumbnail shows: the whole picture as it was taken, not the square the model sees.

A model's preprocessing (and the 32-pixel rule) crops the centre square; a browser of photos that showed only
that would hide half of a panorama. A file is read again small for its thumbnail (a JPEG decoded reduced,
Pillow's `draft`), oriented and converted to RGB by the stated rule; a set without files shows its pictures
as they were given.
"""

from __future__ import annotations

import os
import stat
import warnings

import numpy as np
from PIL import Image, ImageOps

from explorer.core.conversion import to_rgb
from explorer.core.images import ImageSet


def read_whole(path: str, side: int) -> np.ndarray:
    """uint8 [h, w, 3], the long side at most `side`: the whole picture in the file, EXIF-oriented, in RGB
    (transparent pixels black) and shrunk keeping its aspect ratio. Raises whatever reading the file raises."""
    # Opened without blocking and checked on the descriptor, as the image sets open files: a FIFO never hangs.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with fh, Image.open(fh) as img:
            if img.format == "JPEG" and img.mode in ("RGB", "L"):
                img.draft(img.mode, (side, side))  # decoded at 1/2, 1/4 or 1/8 scale, still at least `side`
            picture = to_rgb(ImageOps.exif_transpose(img) or img)
            picture.thumbnail((side, side), Image.Resampling.BILINEAR)
            return np.asarray(picture, dtype=np.uint8).copy()


def whole_picture(images: ImageSet, pictures: ImageSet | None, index: int, side: int) -> np.ndarray:
    """uint8 [h, w, 3]: image `index` of `images` whole, for its thumbnail. Its file read small where the set has
    files; else its picture in `pictures` (the set as opened, when `images` is that set prepared for a model);
    else, or where the file cannot be read again, the picture the model sees."""
    if images.paths is not None:
        try:
            return read_whole(images.paths[index], side)
        except Exception:  # a file that changed or broke since: the model's picture (its failure is recorded there)
            return images.image(index)
    if pictures is not None and len(pictures) == len(images):
        return pictures.image(index)
    return images.image(index)
