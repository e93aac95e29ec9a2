"""Open a split of images from any source the explorer accepts.

Sources: "cifar10" (torchvision's CIFAR-10, downloaded into a cache folder on request), "probes"
(patterns made in code), a folder with train/ and test/ class folders, a cifar-10-batches-py
folder, or any folder of images (flat or in class folders).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from http.client import HTTPException
from pathlib import Path

import numpy as np

from explorer.core.errors import DataError, DataUnavailable
from explorer.core.images import ImageSet
from explorer.core.model import CLASSES

SPLITS = ("train", "test")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")
BATCH_FILES = ("data_batch_1", "test_batch", "batches.meta")


def cache_dir() -> Path:
    """Where downloads go: $CNN_EXPLORER_CACHE, else $XDG_CACHE_HOME/cnn-explorer, else ~/.cache."""
    env = os.environ.get("CNN_EXPLORER_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnn-explorer"


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: use train or test")


def open_dataset(source: str, split: str = "test", *, download: bool = False) -> ImageSet:
    """Open one split of `source`; raise DataError (or DataUnavailable) with a clear message."""
    _check_split(split)
    if source == "cifar10":
        return open_cifar10(cache_dir(), split, download=download)
    if source == "probes":
        from explorer.core.probes import probe_patterns

        return probe_patterns()
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"{source}: no such file or folder (use cifar10, probes, or a folder of images)")
    if not path.is_dir():
        raise DataError(f"{source}: not a folder (use cifar10, probes, or a folder of images)")
    if _is_batches_folder(path):
        return _open_batches(path, split)
    if _is_batches_folder(path / "cifar-10-batches-py"):
        return _open_batches(path / "cifar-10-batches-py", split)
    if (path / split).is_dir() and any((path / s).is_dir() for s in SPLITS):
        return open_folder(path / split, name=f"{path.name}/{split}")
    return open_folder(path)


def _is_batches_folder(path: Path) -> bool:
    return path.is_dir() and all((path / f).exists() for f in BATCH_FILES)


def open_cifar10(root: Path, split: str, *, download: bool = False) -> ImageSet:
    """torchvision's CIFAR-10 in `root`; downloads (with torchvision's progress) only when asked."""
    from torchvision.datasets import CIFAR10

    batches = root / "cifar-10-batches-py"
    if not download and not batches.is_dir():
        raise DataUnavailable(
            f"CIFAR-10 is not downloaded yet (looked in {batches}); "
            "download it (File > Download CIFAR-10 in the window, or add --download to a command) "
            "or open a folder of images"
        )
    try:
        ds = CIFAR10(str(root), train=split == "train", download=download)
    except BaseException as exc:
        if download:
            _remove_partial_archive(root / CIFAR10.filename, CIFAR10.tgz_md5)
        if isinstance(exc, RuntimeError) and download:  # torchvision's md5 check of the archive failed
            raise DataUnavailable(
                f"CIFAR-10 download into {root} is incomplete or corrupt ({exc}); try again, or open a folder of images"
            ) from None
        if isinstance(exc, RuntimeError):
            raise DataError(
                f"{batches}: CIFAR-10 files missing or corrupt ({exc}); delete the folder and download again"
            ) from None
        if isinstance(exc, (OSError, HTTPException)):
            raise DataUnavailable(
                f"CIFAR-10 download into {root} failed ({exc}); check the network and try again, or open a folder of images"
            ) from None
        raise
    return ImageSet(
        f"CIFAR-10 {split}",
        ds.classes,
        np.asarray(ds.targets),
        pixels=np.ascontiguousarray(ds.data),
        source_key=f"cifar10:{split}",
    )


def _remove_partial_archive(archive: Path, md5: str) -> None:
    # torchvision writes the download straight to its final name, so a failure leaves part of it.
    from torchvision.datasets.utils import check_integrity

    if archive.is_file() and not check_integrity(str(archive), md5):
        archive.unlink(missing_ok=True)


def _open_batches(path: Path, split: str) -> ImageSet:
    # torchvision checks every batch file's md5, so a corrupt file is never taken for a valid one.
    from torchvision.datasets import CIFAR10

    class _BatchesFolder(CIFAR10):
        base_folder = path.name  # the folder may be renamed; torchvision assumes cifar-10-batches-py

    try:
        ds = _BatchesFolder(str(path.parent), train=split == "train", download=False)
    except RuntimeError:
        raise DataError(f"{path}: a CIFAR-10 batch file is missing or corrupt (checksum mismatch)") from None
    return ImageSet(
        f"CIFAR-10 {split} ({path})",
        ds.classes,
        np.asarray(ds.targets),
        pixels=np.ascontiguousarray(ds.data),
        source_key=f"batches:{path.resolve()}:{split}",
    )


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def _class_samples(path: Path, class_to_idx: dict[str, int]) -> list[tuple[str, int]]:
    """(file, label) in the order of torchvision's ImageFolder (make_dataset), which is not imported:
    importing torchvision costs a second at start-up. Classes sorted; each class folder walked
    recursively, following links, folders and files sorted; files kept by extension."""
    samples = []
    for cls in sorted(class_to_idx):
        for root, _, names in sorted(os.walk(path / cls, followlinks=True)):
            samples += [
                (os.path.join(root, f), class_to_idx[cls])
                for f in sorted(names)
                if f.lower().endswith(IMAGE_EXTENSIONS)
            ]
    return samples


def open_folder(path: Path, name: str | None = None) -> ImageSet:
    """Class folders in torchvision's ImageFolder order, or the images of a flat folder, sorted."""
    path = Path(path)
    subdirs = sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))
    samples: list[tuple[str, int]] = []
    classes: list[str] = []
    if subdirs:
        classes = subdirs
        to_idx = {c: i for i, c in enumerate(classes)}
        samples = _class_samples(path, to_idx)
    flat = sorted(e.name for e in os.scandir(path) if e.is_file() and _is_image(e.name))
    samples += [(str(path / f), -1) for f in flat]
    if not samples:
        raise DataError(f"{path}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
    if classes and set(classes) <= set(CLASSES) and len(classes) == len(CLASSES):
        classes = list(CLASSES)
    return files_dataset([s for s, _ in samples], [lbl for _, lbl in samples], classes, name or path.name)


def files_dataset(
    paths: Sequence[str], labels: Sequence[int] | None = None, classes: Sequence[str] = (), name: str = "files"
) -> ImageSet:
    """An image set over the given files, decoded lazily."""
    labels_arr = np.full(len(paths), -1, dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    key = f"files:{_common_path(paths)}:{len(paths)}"
    return ImageSet(name, classes, labels_arr, paths=list(paths), source_key=key)


def _common_path(paths: Sequence[str], chunk: int = 8192) -> str:
    """os.path.commonpath of the absolute paths, a chunk at a time: for a million files the one-list
    form takes half a minute and peaks near a gigabyte. The same answer, found from strings."""
    common: str | None = None
    for start in range(0, len(paths), chunk):
        part = [os.path.abspath(p) for p in paths[start : start + chunk]]
        if common is not None:
            part.append(common)
        # POSIX keeps a leading "//" that commonpath drops: such rare paths take the slow road.
        fast = os.sep == "/" and not any(p.startswith("//") for p in part)
        common = _common_components(part) if fast else os.path.commonpath(part)
    return common or ""


def _common_components(paths: list[str]) -> str:
    """The longest run of whole path components that normalised absolute POSIX paths share."""
    prefix = os.path.commonprefix([min(paths), max(paths)])  # noqa: RUF071 (characters on purpose)
    n = len(prefix)
    if all(len(p) == n or p[n] == "/" for p in paths):  # the shared characters end a component in each
        return prefix
    cut = prefix.rfind("/")
    return prefix[:cut] if cut > 0 else "/"
