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
from explorer.core.paths import file_kind, show
from explorer.core.pixel_cache import PixelCache
from explorer.core.preprocessing import Preprocessing

SPLITS = ("train", "test")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")
BATCH_FILES = ("data_batch_1", "test_batch", "batches.meta")
MAX_IMAGES = 2_000_000  # image files one folder walk collects (ImageNet's training set is 1.28 million)


def cache_dir() -> Path:
    """Where downloads, scans and decoded pixels go: $CNN_EXPLORER_CACHE, else
    $XDG_CACHE_HOME/cnn-explorer, else ~/.cache/cnn-explorer."""
    env = os.environ.get("CNN_EXPLORER_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnn-explorer"


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: use train or test")


def open_dataset(
    source: str, split: str = "test", *, download: bool = False, prepare: Preprocessing | None = None
) -> ImageSet:
    """Open one split of `source`, its images prepared by `prepare` (a model's preprocessing; None: the
    32-pixel rule); raise DataError (or DataUnavailable) with a clear message."""
    _check_split(split)
    if source == "cifar10":
        return open_cifar10(cache_dir(), split, download=download).for_model(prepare)
    if source == "probes":
        from explorer.core.probes import probe_patterns

        return probe_patterns().for_model(prepare)
    path = Path(source).expanduser()
    try:
        # Path.exists() and is_dir() raise PermissionError (not False) inside a folder that cannot be searched.
        if not path.exists():
            raise DataError(f"{source}: no such file or folder (use cifar10, probes, or a folder of images)")
        if not path.is_dir():
            raise DataError(f"{source}: not a folder (use cifar10, probes, or a folder of images)")
        batches = next((p for p in (path, path / "cifar-10-batches-py") if _is_batches_folder(p)), None)
        splits = [s for s in SPLITS if (path / s).is_dir()]
    except OSError as exc:
        raise DataError(f"{show(source)}: folder cannot be read ({exc.strerror or exc})") from None
    if batches is not None:
        return _open_batches(batches, split).for_model(prepare)
    if not splits:  # a folder of class folders, or of images: the same images for either split
        return open_folder(path, prepare=prepare)
    if split not in splits:
        raise DataError(f"{show(source)}: has no {split}/ split folder (it has: {', '.join(splits)})")
    return open_folder(path / split, name=f"{path.name}/{split}", prepare=prepare, root=path)


def splits_of(images: ImageSet) -> tuple[str, ...]:
    """The splits of the source `images` was opened from, as open_dataset opens them: both for CIFAR-10 (downloaded
    or a batches folder), the split folders a folder has (its set named "folder/split"), none for anything else
    (the probes, a list of files, a folder without train/ and test/ folders, a set made in code)."""
    kind = images.source_key.partition(":")[0]
    if kind in ("cifar10", "batches"):
        return SPLITS
    head, _, split = images.name.rpartition("/")
    if kind != "files" or not head or split not in SPLITS or not images.paths:
        return ()
    root = next((p.parent for p in Path(images.paths[0]).parents if p.name == split and p.parent.name == head), None)
    if root is None:
        return ()
    try:
        return tuple(s for s in SPLITS if s == split or (root / s).is_dir())
    except OSError:
        return (split,)


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
    except OSError as exc:
        raise DataError(f"{show(exc.filename or path)}: cannot be read ({exc.strerror or exc})") from None
    return ImageSet(
        f"CIFAR-10 {split} ({path})",
        ds.classes,
        np.asarray(ds.targets),
        pixels=np.ascontiguousarray(ds.data),
        source_key=f"batches:{path.resolve()}:{split}",
    )


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


class _Listing:
    """What a folder walk found: image files, and what it skipped with the reason.

    The walk stays inside its roots: a link to a folder elsewhere (a link to / would walk the whole
    machine) is named in `skipped` and not followed. MAX_IMAGES bounds what one walk collects.
    """

    def __init__(self, *roots: str | os.PathLike[str]) -> None:
        self.skipped: list[tuple[str, str]] = []
        self._seen: set[tuple[int, int]] = set()
        self._roots = [os.path.realpath(r) for r in roots]
        self._shown = os.fspath(roots[0]) if roots else ""
        self._images = 0
        self.classes: dict[str, str] = {}  # class -> the real path of its folder, while class folders are walked
        self.walking = ""  # the class whose folder is being walked

    def scan(self, folder: str) -> tuple[list[str], list[str]] | None:
        """(sub-folders, image files) of `folder`, or None when it was walked already, cannot be read, or
        is a link out of the roots.

        Entries are classified without opening them: links are followed, and anything that is not a
        regular file (a FIFO, a device, a socket, a dangling link) is never taken for an image.
        """
        if os.path.islink(folder) and not self._inside(os.path.realpath(folder)):
            self.skipped.append((folder, f"{show(folder)}: link to a folder outside {show(self._shown)}, not followed"))
            return None
        try:
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in self._seen:  # a symlink loop, or a folder reached twice
                return None
            if os.path.islink(folder):
                other = self._other_class(os.path.realpath(folder))
                if other is not None:
                    self.skipped.append(
                        (
                            folder,
                            f"{show(folder)}: link into the class folder {other!r}, not followed (its images are that class's)",
                        )
                    )
                    return None
            self._seen.add((st.st_dev, st.st_ino))
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            self.skipped.append((folder, f"{show(folder)}: folder cannot be read ({exc.strerror or exc})"))
            return None
        dirs, files = [], []
        for e in entries:
            try:
                is_dir = e.is_dir()
                is_file = not is_dir and e.is_file()
            except OSError:
                is_dir = is_file = False
            if is_dir:
                dirs.append(e.name)
            elif e.name.lower().endswith(IMAGE_EXTENSIONS):
                if is_file:
                    files.append(e.name)
                else:
                    path = os.path.join(folder, e.name)
                    self.skipped.append((path, f"{show(path)}: {_not_regular(path)}, skipped"))
        self._images += len(files)
        if self._images > MAX_IMAGES:
            raise DataError(
                f"{show(self._shown or folder)}: more than {MAX_IMAGES:,} image files; open a smaller folder"
            )
        return dirs, files

    def _other_class(self, real: str) -> str | None:
        """The class folder other than the one being walked that `real` lies in or holds, if any."""
        for cls, folder in self.classes.items():
            if cls != self.walking and (_within(real, folder) or _within(folder, real)):
                return cls
        return None

    def _inside(self, real: str) -> bool:
        return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in self._roots)

    def walk(self, top: str) -> list[tuple[str, list[str]]]:
        """(folder, image files) for `top` and every folder below it, each folder once."""
        out = []
        stack = [top]
        while stack:
            folder = stack.pop()
            found = self.scan(folder)
            if found is None:
                continue
            dirs, files = found
            out.append((folder, files))
            stack.extend(os.path.join(folder, d) for d in reversed(dirs))
        return out


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _not_regular(path: str) -> str:
    try:
        return f"is {file_kind(os.stat(path).st_mode)}, not an image file"
    except OSError as exc:
        return f"cannot be opened ({exc.strerror or exc})"


def _class_samples(path: Path, class_to_idx: dict[str, int], listing: _Listing) -> list[tuple[str, int]]:
    """(file, label) in the order of torchvision's ImageFolder (make_dataset), which is not imported:
    importing torchvision costs a second at start-up. Classes sorted; each class folder walked
    recursively, following links that stay inside the data folder (each folder once, so a link loop
    ends) and do not lead into another class's folder (or to a folder holding one), folders and files
    sorted; files kept by extension."""
    samples = []
    listing.classes = {cls: os.path.realpath(os.path.join(path, cls)) for cls in class_to_idx}
    for cls in sorted(class_to_idx):
        listing.walking = cls
        for root, names in sorted(listing.walk(os.path.join(path, cls))):
            samples += [(os.path.join(root, f), class_to_idx[cls]) for f in names]
    return samples


def open_folder(
    path: Path, name: str | None = None, prepare: Preprocessing | None = None, root: Path | None = None
) -> ImageSet:
    """Class folders in torchvision's ImageFolder order, or the images of a flat folder, sorted.

    Unreadable sub-folders, links to folders outside `path` (or `root`, the folder holding the split),
    and entries that are not regular files are listed in `skipped`."""
    path = Path(path)
    listing = _Listing(*([root] if root is not None else []), path)
    top = listing.scan(str(path))
    if top is None:
        raise DataError(listing.skipped[-1][1] if listing.skipped else f"{show(path)}: folder cannot be read")
    dirs, files = top
    subdirs = [d for d in dirs if not d.startswith(".")]
    samples: list[tuple[str, int]] = []
    classes: list[str] = []
    if subdirs:
        classes = subdirs
        to_idx = {c: i for i, c in enumerate(classes)}
        samples = _class_samples(path, to_idx, listing)
    samples += [(str(path / f), -1) for f in files if not f.startswith(".")]
    if not samples:
        why = f"; skipped: {listing.skipped[0][1]}" if listing.skipped else ""
        raise DataError(f"{show(path)}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)}){why}")
    if classes and set(classes) <= set(CLASSES) and len(classes) == len(CLASSES):
        classes = list(CLASSES)
    ds = files_dataset([s for s, _ in samples], [lbl for _, lbl in samples], classes, name or path.name, prepare)
    ds.skipped = listing.skipped
    return ds


def files_dataset(
    paths: Sequence[str],
    labels: Sequence[int] | None = None,
    classes: Sequence[str] = (),
    name: str = "files",
    prepare: Preprocessing | None = None,
) -> ImageSet:
    """An image set over the given files, decoded lazily, or at once from the pixel cache when these
    files were decoded in full before and have not changed since."""
    labels_arr = np.full(len(paths), -1, dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    key = f"files:{common_path(paths)}:{len(paths)}"
    if prepare is not None and not prepare.is_cifar_rule:
        key += f" @ {prepare.describe()}"
    cache = PixelCache(cache_dir() / "pixels")
    return ImageSet(name, classes, labels_arr, paths=list(paths), source_key=key, pixel_cache=cache, prepare=prepare)


def common_path(paths: Sequence[str], chunk: int = 8192) -> str:
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
