"""The decoded-pixel cache: a second open of unchanged files decodes nothing; anything else decodes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import explorer.core.images as images_mod
import explorer.core.pixel_cache as pixel_cache_mod
from explorer.core.datasets import cache_dir, open_folder
from explorer.core.images import read_image
from explorer.core.pixel_cache import PixelCache

HOUR_NS = 3600 * 10**9


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """The files the set reads, in order."""
    calls: list[str] = []
    real = images_mod.read_image

    def counting(path):
        calls.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(images_mod, "read_image", counting)
    return calls


def _age(path: Path, ns: int = HOUR_NS) -> None:
    """Modified `ns` ago: older than the cache's window for recent files."""
    t = time.time_ns() - ns
    os.utime(path, ns=(t, t))


def _write(path: Path, seed: int) -> Path:
    """A 32x32 PPM of random colours: every seed gives a file of the same size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "pictures"
    for i in range(6):
        _age(_write(root / ("cat" if i < 3 else "dog") / f"{i}.ppm", i))
    return root


def _entries() -> list[Path]:
    d = cache_dir() / "pixels"
    return sorted(d.iterdir()) if d.is_dir() else []


def _decoded_once(folder: Path) -> np.ndarray:
    return open_folder(folder).all_pixels().copy()


def test_a_second_open_decodes_nothing_and_gives_the_same_pixels(folder, decodes):
    fresh = _decoded_once(folder)
    assert len(decodes) == 6 and len(_entries()) == 1
    decodes.clear()
    ds = open_folder(folder)
    assert all(ds.is_decoded(i) for i in range(6))
    np.testing.assert_array_equal(ds.all_pixels(), fresh)
    np.testing.assert_array_equal(ds.images([5, 0]), fresh[[5, 0]])
    assert decodes == [] and ds.failures == {}


def test_a_partly_decoded_set_is_not_cached(folder, decodes):
    open_folder(folder).images([0, 1, 2])
    assert _entries() == []
    open_folder(folder).images([0])
    assert len(decodes) == 4


@pytest.mark.parametrize("change", ["content and size", "content and time", "time only"])
def test_a_changed_file_is_decoded_again(folder, decodes, change):
    _decoded_once(folder)
    target = folder / "dog" / "4.ppm"
    if change == "content and size":
        Image.new("RGB", (40, 32), (0, 255, 0)).save(target)
        _age(target)
    elif change == "content and time":
        _write(target, 99)  # the same size, and the same inode: rewritten in place
        _age(target, 2 * HOUR_NS)
    else:
        _age(target, 3 * HOUR_NS)
    decodes.clear()
    ds = open_folder(folder)
    assert not ds.is_decoded(4)
    assert np.array_equal(ds.image(4), read_image(target))
    assert len(decodes) == 1


def test_a_recently_modified_file_is_never_cached(folder, decodes):
    recent = _write(folder / "cat" / "1.ppm", 50)  # modified now: a second write could keep its time
    fresh = _decoded_once(folder)
    decodes.clear()
    ds = open_folder(folder)
    assert [ds.is_decoded(i) for i in range(6)] == [True, False, True, True, True, True]
    np.testing.assert_array_equal(ds.all_pixels(), fresh)
    assert decodes == [str(recent)]


def test_a_file_changed_while_the_set_decodes_leaves_no_entry(folder):
    ds = open_folder(folder)
    ds.images([0, 1, 2])
    _age(folder / "dog" / "5.ppm", 2 * HOUR_NS)
    ds.all_pixels()
    assert _entries() == []


def _truncate(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 1)


def _flip_last_pixel_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _garble_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[20:40] = b"x" * 20
    path.write_bytes(bytes(data))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _folder_in_its_place(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _fifo_in_its_place(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


@pytest.mark.parametrize(
    "damage", [_truncate, _flip_last_pixel_byte, _garble_header, _empty, _folder_in_its_place, _fifo_in_its_place]
)
def test_a_damaged_entry_is_ignored_and_rebuilt(folder, decodes, damage):
    fresh = _decoded_once(folder)
    (entry,) = _entries()
    damage(entry)
    decodes.clear()
    ds = open_folder(folder)
    assert not any(ds.is_decoded(i) for i in range(6))
    np.testing.assert_array_equal(ds.all_pixels(), fresh)
    assert len(decodes) == 6
    if entry.is_file():  # rebuilt; a folder or FIFO in its place is left alone, and there is no cache
        decodes.clear()
        np.testing.assert_array_equal(open_folder(folder).all_pixels(), fresh)
        assert decodes == []


@pytest.mark.parametrize(
    "change",
    [(pixel_cache_mod, "FORMAT", 99), (images_mod, "CONVERSION_VERSION", 99), (images_mod.PIL, "__version__", "0")],
)
def test_an_entry_of_another_format_rule_or_decoder_is_ignored(folder, decodes, monkeypatch, change):
    _decoded_once(folder)
    monkeypatch.setattr(*change)
    decodes.clear()
    open_folder(folder).all_pixels()
    assert len(decodes) == 6


def test_an_entry_of_another_shape_is_ignored(tmp_path):
    cache = PixelCache(tmp_path)
    pixels = np.arange(3 * 32 * 32 * 3, dtype=np.uint32).astype(np.uint8).reshape(3, 32, 32, 3)
    assert cache.save("set", "key", pixels, missing=[1])
    got = cache.load("set", "key", 3)
    assert got is not None
    np.testing.assert_array_equal(got[0], pixels)
    assert got[1].tolist() == [True, False, True]
    assert cache.load("set", "key", 4) is None and cache.load("set", "other key", 3) is None
    assert cache.load("another set", "key", 3) is None


def test_an_unwritable_cache_folder_means_no_cache(folder, decodes, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    monkeypatch.setenv("CNN_EXPLORER_CACHE", str(blocker / "cache"))  # no folder can be made below a file
    fresh = _decoded_once(folder)
    decodes.clear()
    np.testing.assert_array_equal(_decoded_once(folder), fresh)
    assert len(decodes) == 6
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_failures_are_listed_the_same_on_a_cached_open(folder, decodes):
    broken = folder / "cat" / "2.ppm"
    broken.write_bytes(b"P6 not really")
    _age(broken)
    first = open_folder(folder)
    first.all_pixels()
    assert list(first.failures) == [2] and "2.ppm" in first.failures[2]
    decodes.clear()
    again = open_folder(folder)
    assert not again.is_decoded(2) and again.is_decoded(1)
    np.testing.assert_array_equal(again.all_pixels(), first.all_pixels())
    assert again.failures == first.failures
    assert decodes == [str(broken)]
