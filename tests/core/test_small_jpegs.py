"""The quick way to a CIFAR-size JPEG's pixels gives exactly what the whole conversion rule gives, or steps aside."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from explorer.core.conversion import convert_image, decode_cifar_jpeg
from explorer.core.errors import DataError
from explorer.core.images import read_image


def whole_path(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        return convert_image(img)


def jpeg(pixels: np.ndarray, mode: str = "RGB", exif: Image.Exif | None = None, **options: object) -> bytes:
    out = io.BytesIO()
    img = Image.fromarray(pixels).convert(mode)
    if exif is not None:
        options["exif"] = exif.tobytes()
    img.save(out, "JPEG", **options)
    return out.getvalue()


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    side=st.sampled_from([32, 32, 32, 31, 33, 64]),
    quality=st.integers(5, 100),
    subsampling=st.sampled_from([0, 1, 2]),
    progressive=st.booleans(),
    optimize=st.booleans(),
    mode=st.sampled_from(["RGB", "RGB", "L", "CMYK"]),
    smooth=st.booleans(),
)
def test_the_quick_decode_equals_the_whole_rule_or_steps_aside(
    seed, side, quality, subsampling, progressive, optimize, mode, smooth
):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    if smooth:  # photographs are smooth, noise is not: both kinds of blocks
        pixels = np.cumsum(pixels.astype(np.int64), axis=0).astype(np.uint8)
    data = jpeg(pixels, mode, quality=quality, subsampling=subsampling, progressive=progressive, optimize=optimize)
    quick = decode_cifar_jpeg(data)
    if quick is not None:
        np.testing.assert_array_equal(quick, whole_path(data))
    if (side, mode, progressive) == (32, "RGB", False):
        assert quick is not None  # the CIFAR case takes the quick way
    else:
        assert quick is None or quick.shape == (32, 32, 3)


def test_an_exif_turn_a_cut_or_damaged_file_and_other_formats_take_the_whole_way(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    pixels[:8] = 255  # a white top band: turned, it is somewhere else
    exif = Image.Exif()
    exif[0x0112] = 3  # rotated by 180 degrees
    turned = jpeg(pixels, exif=exif, quality=95)
    assert decode_cifar_jpeg(turned) is None
    path = tmp_path / "turned.jpg"
    path.write_bytes(turned)
    np.testing.assert_array_equal(read_image(path), whole_path(turned))
    assert read_image(path)[-8:].mean() > 200  # the band is at the bottom now
    whole = jpeg(pixels, quality=95)
    for cut in (len(whole) // 2, len(whole) - 2, 20, 3):
        assert decode_cifar_jpeg(whole[:cut]) is None
    damaged = whole[:200] + bytes(len(whole) - 200)
    assert decode_cifar_jpeg(damaged) is None
    png = io.BytesIO()
    Image.fromarray(pixels).save(png, "PNG")
    assert decode_cifar_jpeg(png.getvalue()) is None
    cut_path = tmp_path / "cut.jpg"
    cut_path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"cut\.jpg"):
        read_image(cut_path)


def test_a_file_larger_than_a_small_jpeg_is_read_the_whole_way(tmp_path, monkeypatch):
    from explorer.core import images

    pixels = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    path = tmp_path / "padded.jpg"
    path.write_bytes(jpeg(pixels, quality=100) + bytes(70_000))  # trailing bytes after the image's end
    called: list[bytes] = []
    monkeypatch.setattr(images, "decode_cifar_jpeg", lambda data: called.append(data))
    np.testing.assert_array_equal(read_image(path), whole_path(path.read_bytes()))
    assert called == []  # never handed a head of the file: it is longer than a small JPEG
