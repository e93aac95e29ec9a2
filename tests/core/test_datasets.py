import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torchvision.datasets.cifar as tv_cifar
from PIL import Image
from torchvision.datasets import ImageFolder

from explorer.core.datasets import open_dataset, open_folder
from explorer.core.errors import DataError, DataUnavailable
from explorer.core.images import read_image

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def _save(path: Path, colour=RED, size=(32, 32), mode="RGB", **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path, **kwargs)
    return path


def _near(pixel, colour, tol=40):
    return bool(np.all(np.abs(np.asarray(pixel, dtype=int) - np.asarray(colour)) <= tol))


# --- folders -------------------------------------------------------------------------------------


@pytest.fixture
def split_folder(tmp_path):
    root = tmp_path / "pets"
    for split in ("train", "test"):
        _save(root / split / "dog" / "b.png", BLUE)
        _save(root / split / "dog" / "a.png", BLUE)
        _save(root / split / "cat" / "z.png", RED)
        _save(root / split / "cat" / "c.jpg", RED)
    _save(root / "train" / "cat" / "extra.png", RED)
    return root


def test_train_test_folders_in_image_folder_order(split_folder):
    ds = open_dataset(str(split_folder), "train")
    assert ds.classes == ("cat", "dog")
    assert [os.path.basename(p) for p in ds.paths] == ["c.jpg", "extra.png", "z.png", "a.png", "b.png"]
    assert ds.labels.tolist() == [0, 0, 0, 1, 1]
    reference = ImageFolder(str(split_folder / "train"))
    assert ds.paths == [p for p, _ in reference.samples]
    assert ds.labels.tolist() == [lbl for _, lbl in reference.samples]
    px = ds.images(slice(None))
    assert all(_near(px[i, 16, 16], RED) for i in range(3))
    assert all(_near(px[i, 16, 16], BLUE) for i in range(3, 5))
    assert ds.caption(0) == "cat" and ds.caption(4) == "dog"


def test_test_split_is_its_own_folder(split_folder):
    ds = open_dataset(str(split_folder), "test")
    assert len(ds) == 4
    assert all(Path(p).parent.parent.name == "test" for p in ds.paths)
    assert ds.source_key != open_dataset(str(split_folder), "train").source_key


def test_flat_folder_has_unknown_labels(tmp_path):
    for name in ("b.png", "a.jpg", "c.bmp"):
        _save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    _save(tmp_path / ".hidden.png")
    ds = open_dataset(str(tmp_path))
    assert [os.path.basename(p) for p in ds.paths] == ["a.jpg", "b.png", "c.bmp"]
    assert ds.labels.tolist() == [-1, -1, -1]
    assert ds.classes == ()
    assert ds.caption(1) == "b.png"


def test_class_folders(tmp_path):
    _save(tmp_path / "zebra" / "1.png", BLUE)
    _save(tmp_path / "apple" / "2.png", RED)
    _save(tmp_path / "apple" / "1.png", RED)
    ds = open_dataset(str(tmp_path), "test")
    assert ds.classes == ("apple", "zebra")
    assert ds.labels.tolist() == [0, 0, 1]
    assert [Path(p).relative_to(tmp_path).as_posix() for p in ds.paths] == ["apple/1.png", "apple/2.png", "zebra/1.png"]


def test_unknown_path_names_it(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="nowhere"):
        open_dataset(str(missing))


def test_a_file_is_not_a_folder(tmp_path):
    path = _save(tmp_path / "one.png")
    with pytest.raises(DataError, match=r"one\.png"):
        open_dataset(str(path))


def test_empty_folder_names_it(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images")
    with pytest.raises(DataError, match="empty") as info:
        open_dataset(str(empty))
    assert str(empty) in str(info.value)


@pytest.mark.parametrize("split", ["val", "Train", ""])
def test_bad_split(split):
    with pytest.raises(DataError, match="split"):
        open_dataset("probes", split)


def test_spaces_and_non_ascii_paths(tmp_path):
    root = tmp_path / "my images ü"
    _save(root / "çlass ä" / "bild ö 1.png", GREEN)
    _save(root / "日本" / "写真 2.jpg", BLUE)
    ds = open_dataset(str(root))
    assert ds.classes == ("çlass ä", "日本")  # class folders sorted by code point, as ImageFolder does
    px = ds.images(slice(None))
    assert ds.failures == {}
    by_name = {os.path.basename(p): px[i] for i, p in enumerate(ds.paths)}
    assert _near(by_name["bild ö 1.png"][0, 0], GREEN)
    assert _near(by_name["写真 2.jpg"][0, 0], BLUE)


def test_opening_a_folder_decodes_nothing(tmp_path):
    for i in range(5):
        _save(tmp_path / f"{i}.png", GREEN)
    ds = open_folder(tmp_path)
    assert not ds._ready.any()
    assert (ds.image(3) == GREEN).all()
    assert ds._ready.tolist() == [False, False, False, True, False]
    ds.images(slice(None))
    assert ds._ready.all()


# --- CIFAR-10 batch folders ----------------------------------------------------------------------

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _write_batches(folder: Path, per_batch: int = 3) -> dict[str, tuple[np.ndarray, list[int]]]:
    """A cifar-10-batches-py folder in the real pickle layout: rows of 3072 bytes, R then G then B planes."""
    folder.mkdir(parents=True)
    written = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        hwc = np.zeros((per_batch, 32, 32, 3), dtype=np.uint8)
        for i in range(per_batch):
            hwc[i, ..., 0] = 10 * b + i  # red plane tells batch and index apart
            hwc[i, :16, :, 1] = 200  # green only in the top half: rows stay rows
            hwc[i, :, :8, 2] = 100  # blue only in the left quarter: columns stay columns
        labels = [(b + i) % 10 for i in range(per_batch)]
        data = hwc.transpose(0, 3, 1, 2).reshape(per_batch, 3072)
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "labels": labels, "data": data, "filenames": []}, f)
        written[name] = (hwc, labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": CIFAR_NAMES, "num_cases_per_batch": per_batch, "num_vis": 3072}, f)
    return written


@pytest.fixture
def trust_checksums(monkeypatch):
    """Hand-made batches cannot match CIFAR-10's md5s; accept any file that exists instead."""
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))


def test_hand_made_batches_are_reported_corrupt(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_batches(folder)
    for source in (folder, tmp_path):
        with pytest.raises(DataError, match="corrupt") as info:
            open_dataset(str(source), "test")
        assert str(folder) in str(info.value)


def test_batches_folder_is_read(tmp_path, trust_checksums):
    folder = tmp_path / "cifar-10-batches-py"
    written = _write_batches(folder)
    for source in (folder, tmp_path):
        test = open_dataset(str(source), "test")
        hwc, labels = written["test_batch"]
        np.testing.assert_array_equal(test.images(slice(None)), hwc)
        assert test.labels.tolist() == labels
        assert test.classes == tuple(CIFAR_NAMES)
    train = open_dataset(str(folder), "train")
    assert len(train) == 15
    expected = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    np.testing.assert_array_equal(train.images(slice(None)), expected)
    assert train.caption(0) == "airplane"


def test_batches_folder_under_another_name(tmp_path, trust_checksums):
    folder = tmp_path / "my cifar copy"
    written = _write_batches(folder)
    ds = open_dataset(str(folder), "test")
    np.testing.assert_array_equal(ds.images(slice(None)), written["test_batch"][0])


def test_missing_batch_names_the_folder(tmp_path, trust_checksums):
    folder = tmp_path / "cifar-10-batches-py"
    _write_batches(folder)
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataError) as info:
        open_dataset(str(folder), "train")
    assert str(folder) in str(info.value)


@pytest.fixture
def no_network(monkeypatch):
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise OSError("network disabled in tests")

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", refuse)
    return calls


def test_cifar10_not_downloaded_says_how_to_get_it(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("CNN_EXPLORER_CACHE", str(tmp_path))
    with pytest.raises(DataUnavailable) as info:
        open_dataset("cifar10", "test")
    message = str(info.value)
    assert "download" in message.lower() and str(tmp_path) in message
    assert no_network == []
    assert list(tmp_path.iterdir()) == []


def test_cifar10_download_failure_is_unavailable(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("CNN_EXPLORER_CACHE", str(tmp_path))
    with pytest.raises(DataUnavailable, match="failed"):
        open_dataset("cifar10", "test", download=True)
    assert len(no_network) == 1


def test_cifar10_corrupt_cache_says_to_download_again(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("CNN_EXPLORER_CACHE", str(tmp_path))
    _write_batches(tmp_path / "cifar-10-batches-py")
    with pytest.raises(DataError, match="download again") as info:
        open_dataset("cifar10", "train")
    assert not isinstance(info.value, DataUnavailable)
    assert no_network == []


# --- the conversion rule -------------------------------------------------------------------------


def _convert(tmp_path, img: Image.Image, name: str, **kwargs) -> np.ndarray:
    path = tmp_path / name
    img.save(path, **kwargs)
    out = read_image(path)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    return out


def test_rgba_transparency_becomes_black(tmp_path):
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[:, :16] = (255, 0, 0, 0)  # transparent red
    rgba[:, 16:] = (0, 255, 0, 255)  # opaque green
    rgba[:4, 16:] = (0, 255, 0, 128)  # half-transparent green
    out = _convert(tmp_path, Image.fromarray(rgba, "RGBA"), "rgba.png")
    assert (out[:, :16] == 0).all()
    assert (out[4:, 16:] == GREEN).all()
    assert _near(out[0, 20], (0, 128, 0), tol=2)


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (32, 32), 1)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * (256 * 3 - 6))
    img.paste(0, (0, 0, 32, 16))  # top half index 0: red, but transparent
    out = _convert(tmp_path, img, "palette.png", transparency=0)
    assert (out[:16] == 0).all()
    assert (out[16:] == BLUE).all()


def test_grayscale(tmp_path):
    out = _convert(tmp_path, Image.new("L", (32, 32), 100), "gray.png")
    assert (out == 100).all()


def test_sixteen_bit(tmp_path):
    arr = np.full((32, 32), 65535, dtype=np.uint16)
    arr[16:] = 32896  # 128 * 257
    img = Image.fromarray(arr)
    assert img.mode.startswith("I;16")
    out = _convert(tmp_path, img, "deep.png")
    assert (out[:16] == 255).all()
    assert (out[16:] == 128).all()


def test_cmyk(tmp_path):
    img = Image.new("CMYK", (32, 32), (255, 0, 0, 0))  # pure cyan ink
    img.paste((0, 0, 0, 0), (0, 0, 32, 16))  # no ink: white
    out = _convert(tmp_path, img, "print.tif")
    assert (out[:16] == 255).all()
    assert (out[16:] == (0, 255, 255)).all()


def test_exif_orientation_is_applied(tmp_path):
    # Stored 48 wide and 32 high with a red left third; orientation 6 means "rotate 90° clockwise
    # to display", so upright the picture is 32 wide, 48 high, red on top.
    stored = np.zeros((32, 48, 3), dtype=np.uint8)
    stored[:, :16] = RED
    stored[:, 16:] = BLUE
    exif = Image.Exif()
    exif[0x0112] = 6
    out = _convert(tmp_path, Image.fromarray(stored), "phone.jpg", exif=exif, quality=95)
    # Centre crop of the 48 rows keeps rows 8..40: the first 8 rows are red, the rest blue.
    assert _near(out[2, 16], RED) and _near(out[2, 2], RED) and _near(out[2, 29], RED)
    assert _near(out[20, 16], BLUE) and _near(out[31, 16], BLUE)
    assert _near(out[20, 2], BLUE), "red would be on the left if the tag were ignored"


@pytest.mark.parametrize("size", [(1, 1), (8, 8), (32, 32), (100, 100)])
def test_small_and_square(tmp_path, size):
    out = _convert(tmp_path, Image.new("RGB", size, (10, 200, 30)), "square.png")
    assert (out == (10, 200, 30)).all()


@pytest.mark.parametrize("size", [(4000, 16), (16, 4000)])
def test_extreme_aspect_keeps_the_centre(tmp_path, size):
    arr = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    arr[...] = RED
    if size[0] > size[1]:
        arr[:, 1992:2008] = GREEN  # the middle 16 columns, which become the 32-pixel crop
    else:
        arr[1992:2008] = GREEN
    out = _convert(tmp_path, Image.fromarray(arr), "strip.png")
    inner = out[2:30, 2:30]
    assert (np.abs(inner.astype(int) - GREEN) <= 2).all()


def test_short_side_resized_then_centre_cropped(tmp_path):
    # 64 x 48: the short side goes to 32 (x 2/3), keeping the centre 48 x 48 of the original.
    arr = np.zeros((48, 64, 3), dtype=np.uint8)
    arr[:] = BLUE
    arr[:, :8] = RED  # outside the centre square: cropped away
    arr[:, 56:] = RED
    arr[:6] = GREEN  # inside: every row is kept, so the top band survives (about 4 rows)
    out = _convert(tmp_path, Image.fromarray(arr), "wide.png")
    assert all(_near(out[r, c], BLUE) for r in range(6, 32) for c in range(2, 30))
    assert all(_near(out[r, c], GREEN) for r in range(0, 3) for c in range(2, 30))
    assert out[10:, :, 0].max() < 140, "no red: the sides were cropped, not squeezed in"


# --- files that cannot be decoded ----------------------------------------------------------------


def _broken_files(folder: Path) -> tuple[Path, Path]:
    fake = folder / "fake.jpg"
    fake.write_text("this is not a JPEG\n")
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    full = folder / "full.jpg"
    Image.fromarray(noise).save(full, quality=90)
    data = full.read_bytes()
    full.unlink()
    truncated = folder / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    return fake, truncated


def test_read_image_names_the_broken_file(tmp_path):
    fake, truncated = _broken_files(tmp_path)
    for path in (fake, truncated, tmp_path / "missing.png"):
        with pytest.raises(DataError) as info:
            read_image(path)
        assert str(path) in str(info.value)


def test_broken_files_show_black_in_a_lazy_folder(tmp_path):
    fake, truncated = _broken_files(tmp_path)
    _save(tmp_path / "good.png", GREEN)
    _save(tmp_path / "zz.png", BLUE)
    ds = open_dataset(str(tmp_path))
    names = [os.path.basename(p) for p in ds.paths]
    assert names == ["fake.jpg", "good.png", "truncated.jpg", "zz.png"]
    assert ds.failures == {}
    px = ds.images(slice(None))
    assert sorted(ds.failures) == [0, 2]
    assert str(fake) in ds.failures[0] and str(truncated) in ds.failures[2]
    assert (px[0] == 0).all() and (px[2] == 0).all()
    assert (px[1] == GREEN).all() and (px[3] == BLUE).all()


def test_common_path_in_chunks_is_commonpath():
    """The files key is computed a chunk at a time (a million paths at once peak near a gigabyte); same answer."""
    import os
    import random

    from explorer.core.datasets import common_path

    rng = random.Random(1)
    parts = ["a", "b", "ab", "a b", "ä", ".", "..", "x-y", "a/", "a!", "b-", "/", "a.b"]
    for _ in range(2000):
        paths = [
            rng.choice(["", "/", "//", "./"])
            + "/".join(rng.choice(parts) for _ in range(rng.randint(1, 5)))
            + rng.choice(["", "/q"])
            + ".png"
            for _ in range(rng.randint(1, 30))
        ]
        if rng.random() < 0.3:
            paths = ["/r/" + p for p in paths]
        if rng.random() < 0.2:
            paths = [paths[0]] * rng.randint(1, 3)
        expected = os.path.commonpath([os.path.abspath(p) for p in paths])
        for chunk in (1, 2, 3, 8192):
            assert common_path(paths, chunk) == expected, paths
