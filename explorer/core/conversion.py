"""The stated conversion rule for any image file, the explorer's 32-pixel rule.

EXIF orientation applied; converted to RGB (transparent pixels become black, 16-bit and float images
scaled to 8 bits); the short side resized to 32 pixels (bilinear, antialiased); the centre 32x32
square cropped. Both the image sets (`explorer.core.images`) and a model's own preprocessing
(`explorer.core.preprocessing`, whose CIFAR-size case is this rule) use it; it imports neither.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

SIZE = 32
# Past this many pixels on the long side after resizing, only the centre region the crop reads is
# resized (a 1,000,000 x 1 picture would otherwise become hundreds of millions of pixels).
MAX_RESIZED_SIDE = 4 * 1024


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB, with transparency to black and 16-bit or float images scaled to 8 bits."""
    if img.mode.startswith("I") or img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = float(arr.max()) if arr.size else 0.0
        if img.mode.startswith("I;16") or (img.mode == "I" and top > 255):
            scale = 255.0 / 65535.0
        elif img.mode == "F" and top <= 1.0:
            scale = 255.0
        else:
            scale = 1.0
        img = Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8), "L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(black, rgba)
    return img.convert("RGB")


def _may_be_rotated(img: Image.Image) -> bool:
    # Parsing EXIF costs more than decoding a 32x32 JPEG; files without an EXIF block need no look.
    return "exif" in img.info or img.format not in ("JPEG", "PNG", "BMP", "PPM")


def convert_image(img: Image.Image) -> np.ndarray:
    """Apply the stated conversion rule; returns uint8 [32, 32, 3]."""
    if img.mode == "RGB" and img.size == (SIZE, SIZE) and not _may_be_rotated(img):
        return np.asarray(img, dtype=np.uint8).copy()  # CIFAR-sized already: the rule is the identity
    img = ImageOps.exif_transpose(img) or img
    img = to_rgb(img)
    w, h = img.size
    short = min(w, h)
    new_w = max(SIZE, round(w * SIZE / short))
    new_h = max(SIZE, round(h * SIZE / short))
    if max(new_w, new_h) > MAX_RESIZED_SIDE:
        # Extreme aspect ratio: resize only the source region the centre crop comes from.
        scale_x, scale_y = w / new_w, h / new_h
        left, top = (new_w - SIZE) // 2, (new_h - SIZE) // 2
        box = (left * scale_x, top * scale_y, (left + SIZE) * scale_x, (top + SIZE) * scale_y)
        return np.asarray(img.resize((SIZE, SIZE), Image.Resampling.BILINEAR, box=box), dtype=np.uint8).copy()
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left = (new_w - SIZE) // 2
    top = (new_h - SIZE) // 2
    img = img.crop((left, top, left + SIZE, top + SIZE))
    return np.asarray(img, dtype=np.uint8).copy()


# JPEG markers that start a frame other than baseline (progressive, lossless, arithmetic-coded, ...).
_OTHER_FRAMES = frozenset((0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))
SMALL_JPEG_BYTES = 1 << 16  # a 32x32 JPEG is a few kilobytes; larger files take Pillow's whole path


def decode_cifar_jpeg(data: bytes) -> np.ndarray | None:
    """uint8 [32, 32, 3] when `data` is a whole baseline three-component 32x32 JPEG without EXIF (the conversion
    rule is then the identity), decoded by Pillow's own JPEG decoder; None for anything else.

    Image.open parses a file's markers in Python, 70 us of the 110 of a CIFAR-10 image, holding the GIL the
    scan's forward pass needs; here a short walk to the frame header finds what the rule needs to know, and the
    same decoder then gives the same pixels. Only a decode that reports its end is taken: a truncated or damaged
    file, or anything this walk does not know, goes the whole way, where its error is named.
    """
    if len(data) < 4 or data[0] != 0xFF or data[1] != 0xD8 or b"Exif" in data:
        return None
    try:
        i = 2
        while i + 10 <= len(data):
            marker = data[i + 1]
            if data[i] != 0xFF or marker == 0xFF or marker < 0xC0 or 0xD0 <= marker <= 0xDA or marker == 0xE1:
                return None  # padding, a marker without a length, scan data before the frame, EXIF or XMP
            if marker in _OTHER_FRAMES:
                return None  # progressive, lossless, arithmetic-coded: Pillow's whole path
            if marker == 0xC0:
                size = (data[i + 5] << 8 | data[i + 6], data[i + 7] << 8 | data[i + 8])
                if size != (SIZE, SIZE) or data[i + 9] != 3 or b"Adobe" in data[:i]:
                    return None  # another size, grey or CMYK, or an Adobe colour transform Pillow reads its own way
                image = Image.core.new("RGB", (SIZE, SIZE))
                decoder = Image._getdecoder("RGB", "jpeg", ("RGB", ""))
                try:
                    decoder.setimage(image, (0, 0, SIZE, SIZE))
                    status = decoder.decode(data)
                finally:
                    decoder.cleanup()
                if tuple(status) != (-1, 0):
                    return None
                return np.asarray(Image.Image()._new(image), dtype=np.uint8).copy()
            i += 2 + (data[i + 2] << 8 | data[i + 3])
    except Exception:  # a Pillow whose internals moved, or bytes it refuses: the whole path says what is wrong
        return None
    return None
