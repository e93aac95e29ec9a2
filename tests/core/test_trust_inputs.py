"""Hostile checkpoints and images: a named one-line error or a listed failure, never code run (issue #7).

Covered elsewhere, not repeated here:
- checkpoints (tests/core/test_checkpoint.py): malicious __reduce__ never runs, zero bytes, truncated,
  random bytes, TorchScript, pickled module, safetensors without the package, another architecture's
  missing and unexpected keys, the `module.` prefix, a GPU-saved file on the CPU, atomic_save;
- images (tests/core/test_datasets.py): truncated JPEG, text named .jpg (alone and in a folder),
  palette with transparency, RGBA, grayscale, 16-bit, CMYK, EXIF rotation, 1x1, 8x8, 4000x16,
  spaces and non-ASCII paths, an empty folder, lazy opening of a small folder;
- data sources (tests/core/test_datasets.py): CIFAR-10 not downloaded, a corrupt batch file,
  a download that fails before writing anything;
- compute: out of GPU memory halves the batch then uses the CPU, cancel commits no cache
  (tests/core/test_scan.py); `--device cuda` without a GPU (tests/test_cli.py);
- exports: a full disk during a figure write (tests/export/test_atomic.py).
"""

import io
import os
import re
import shlex
import struct
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps, PngImagePlugin
from torch import nn
from trust_helpers import BLUE, GREEN, one_error_line, png

from explorer.cli import main, warn_unreadable
from explorer.core.checkpoint import save_model
from explorer.core.datasets import files_dataset, open_folder
from explorer.core.errors import CheckpointError, DataError
from explorer.core.images import read_image
from explorer.core.loading import load_model
from explorer.core.model import SeedNet

pytestmark = pytest.mark.usefixtures("private_cache")


# --- checkpoints ---------------------------------------------------------------------------------


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def _bad_checkpoint(kind: str, folder: Path, model: SeedNet, marker: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{kind} ü.pt"
    if kind == "exploit":
        torch.save({"conv1.weight": _Exploit(marker)}, path)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        save_model(model, path)
        path.write_bytes(path.read_bytes()[:1000])
    elif kind == "random":
        path.write_bytes(np.random.default_rng(5).bytes(4096))
    elif kind == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.script is deprecated in recent releases
            torch.jit.script(model).save(str(path))
    elif kind == "module":
        torch.save(model, path)
    elif kind == "other_arch":
        torch.save(nn.Sequential(nn.Flatten(), nn.Linear(3072, 10)).state_dict(), path)
    elif kind == "safetensors":
        path = folder / "weights ü.safetensors"
        path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    return path


BAD_KINDS = ["exploit", "empty", "truncated", "random", "torchscript", "module", "other_arch", "safetensors"]


def test_torch_load_is_only_ever_called_with_weights_only(tmp_path, monkeypatch, model):
    marker = tmp_path / "pwned"
    paths = [_bad_checkpoint(kind, tmp_path / "ckpts", model, marker) for kind in BAD_KINDS]
    good = tmp_path / "good.pt"
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, good)
    calls = []
    real_load = torch.load

    def spy(f, *args, **kwargs):
        calls.append((os.fspath(f), args, kwargs))
        return real_load(f, *args, **kwargs)

    def no_jit(*args, **kwargs):
        raise AssertionError("torch.jit.load must never be called")

    monkeypatch.setattr(torch, "load", spy)
    monkeypatch.setattr(torch.jit, "load", no_jit)
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    for path in paths:
        with pytest.raises(CheckpointError, match=re.escape(str(path))):
            load_model(path)
    load_model(good)
    assert not marker.exists()
    assert calls and all(not args and kwargs.get("weights_only") is True for _f, args, kwargs in calls)
    per_file = [f for f, _a, _k in calls]
    assert len(per_file) == len(set(per_file)), "a refused file was loaded a second time"


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_checkpoints_through_the_command_line(kind, tmp_path, monkeypatch, model, capsys):
    marker = tmp_path / "pwned"
    path = _bad_checkpoint(kind, tmp_path / "my checkpoints", model, marker)
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    assert main(["evaluate", "--data", "probes", "--checkpoint", str(path), "--device", "cpu"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    one_error_line(captured.err, str(path))
    if kind == "safetensors":
        assert "pip install safetensors" in captured.err
    assert not marker.exists()


def test_a_safetensors_file_loads_when_the_package_is_installed(tmp_path, model):
    st = pytest.importorskip("safetensors.torch")
    path = tmp_path / "weights.safetensors"
    st.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    loaded = load_model(path)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0)


# --- images and folders --------------------------------------------------------------------------


def _png_bytes(**kwargs) -> bytearray:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(buf, "PNG", **kwargs)
    return bytearray(buf.getvalue())


def _flip(data: bytearray, chunk: bytes, at_data: int | None = None) -> bytearray:
    """Flip a byte of the chunk's CRC, or of its data at `at_data`."""
    start = data.find(chunk) + 4
    length = struct.unpack(">I", data[start - 8 : start - 4])[0]
    data[start + (length if at_data is None else at_data)] ^= 0x55
    return data


def _broken(kind: str, folder: Path) -> Path:
    """One file that cannot be decoded, of the given kind."""
    if kind == "png_bad_header_crc":
        path, data = folder / "header.png", _flip(_png_bytes(), b"IHDR")
    elif kind == "png_bad_text_crc":
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "hello")
        path, data = folder / "text.png", _flip(_png_bytes(pnginfo=info), b"tEXt")
    elif kind == "png_corrupt_pixels":
        path, data = folder / "pixels.png", _flip(_png_bytes(), b"IDAT", 20)
    elif kind == "random_binary_tif":
        path, data = folder / "x.tif", bytearray(np.random.default_rng(3).bytes(2048))
    elif kind == "tiff_unknown_compression":
        path = folder / "odd.tif"
        Image.new("RGB", (16, 16), BLUE).save(path)
        data = bytearray(path.read_bytes())
        at = data.find(struct.pack("<HHI", 259, 3, 1))  # the Compression tag, one SHORT
        data[at + 8 : at + 10] = struct.pack("<H", 60000)
    elif kind == "zero_bytes_png":
        path, data = folder / "empty.png", bytearray()
    else:
        raise ValueError(kind)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    "kind",
    [
        "png_bad_header_crc",
        "png_bad_text_crc",
        "png_corrupt_pixels",
        "random_binary_tif",
        "tiff_unknown_compression",
        "zero_bytes_png",
    ],
)
def test_an_undecodable_file_is_listed_and_the_rest_load(kind, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    png(folder / "a good.png", GREEN)
    bad = _broken(kind, folder)
    png(folder / "z good.png", BLUE)
    with pytest.raises(DataError, match="cannot be read") as info:
        read_image(bad)
    assert str(bad) in str(info.value)
    ds = open_folder(folder)
    px = ds.images(slice(None))
    i = ds.paths.index(str(bad))
    assert list(ds.failures) == [i] and str(bad) in ds.failures[i] and "cannot be read" in ds.failures[i]
    assert (px[i] == 0).all()
    assert (px[ds.paths.index(str(folder / "a good.png"))] == GREEN).all()
    assert (px[ds.paths.index(str(folder / "z good.png"))] == BLUE).all()


def test_a_file_is_decoded_by_its_content_not_its_extension(tmp_path):
    path = tmp_path / "icon.tif"
    Image.new("RGB", (16, 16), BLUE).save(path, format="ICO")
    assert (read_image(path) == BLUE).all()


def test_decompression_bomb_is_refused_with_its_size(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    big = png(tmp_path / "bomb.png", size=(64, 64))  # 4096 pixels: over twice the limit, an error
    near = png(tmp_path / "near.png", size=(40, 40))  # 1600: between 1x and 2x, only a warning in Pillow
    small = png(tmp_path / "small.png", GREEN, size=(16, 16))
    for path, pixels in ((big, "4096"), (near, "1600")):
        with pytest.raises(DataError) as info:
            read_image(path)
        message = str(info.value)
        assert str(path) in message and "refused" in message and pixels in message
    ds = open_folder(tmp_path)
    px = ds.images(slice(None))
    assert sorted(ds.failures) == sorted(ds.paths.index(str(p)) for p in (big, near))
    assert (px[ds.paths.index(str(small))] == GREEN).all()


def test_a_decoder_crash_on_a_hostile_file_is_a_named_failure(tmp_path, monkeypatch):
    def crash(img, **kwargs):  # malformed metadata has made Pillow raise all sorts of errors
        raise struct.error("unpack requires a buffer of 4 bytes")

    path = png(tmp_path / "exif.png")
    monkeypatch.setattr(ImageOps, "exif_transpose", crash)
    with pytest.raises(DataError, match=r"cannot be read as an image .*unpack requires") as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_ten_thousand_files_open_without_decoding(tmp_path):
    folder = tmp_path / "many"
    one = png(tmp_path / "one.png", GREEN)
    folder.mkdir()
    for i in range(10_000):
        os.link(one, folder / f"{i:05d}.png")
    ds = open_folder(folder)
    assert len(ds) == 10_000 and ds._ready.sum() == 0
    assert (ds.image(9_999) == GREEN).all() and ds._ready.sum() == 1


def test_evaluate_skips_and_names_unreadable_files(tmp_path, ckpt, capsys):
    data = tmp_path / "pets"
    for cls in ("cat", "dog"):
        for i in range(3):
            png(data / cls / f"{i}.png", GREEN if cls == "cat" else BLUE)
    broken = [
        _broken("png_bad_header_crc", data / "cat"),
        _broken("random_binary_tif", data / "dog"),
        data / "dog" / "note.jpg",
    ]
    broken[2].write_text("not a JPEG")
    assert main(["evaluate", "--data", str(data), "--checkpoint", str(ckpt), "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "of 6 images" in captured.out
    assert "3 image(s) could not be read" in captured.err and "Traceback" not in captured.err
    for path in broken:
        assert str(path) in captured.err


def test_the_unreadable_list_is_capped_and_none_readable_is_an_error(tmp_path, ckpt, capsys):
    folder = tmp_path / "junk" / "cat"
    folder.mkdir(parents=True)
    for i in range(8):
        (folder / f"{i}.jpg").write_text("text")
    ds = files_dataset(sorted(str(p) for p in folder.iterdir()))
    ds.all_pixels()
    warn_unreadable(ds)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 7 and lines[0].startswith("warning: 8 image(s)") and lines[-1] == "  ... and 3 more"
    assert main(["evaluate", "--data", str(tmp_path / "junk"), "--checkpoint", str(ckpt), "--device", "cpu"]) == 2
    one_error_line(capsys.readouterr().err, f"error: {tmp_path / 'junk'}: none of its 8 images could be read")


def test_scan_names_unreadable_files(tmp_path, ckpt, capsys):
    folder = tmp_path / "photos"
    for i in range(3):
        png(folder / f"{i}.png")
    bad = _broken("png_corrupt_pixels", folder)
    out = tmp_path / "top.npz"
    argv = ["scan", "--data", str(folder), "--checkpoint", str(ckpt), "--device", "cpu", "-k", "2", "--out", str(out)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "1 image(s) could not be read and count as black images" in err and str(bad) in err
    assert out.is_file()
