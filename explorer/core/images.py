"""Image sets: square RGB uint8 pictures at a model's input size with labels, decoded lazily and kept once decoded.

The stated conversion rule for any image file (`explorer.core.conversion`): EXIF orientation
applied; converted to RGB (transparent pixels become black, 16-bit and float images scaled to 8
bits); the short side resized to 32 pixels (bilinear, antialiased); the centre 32x32 square
cropped. A set made for another model prepares each image by that model's preprocessing instead
(`explorer.core.preprocessing`): the same steps at its resize, crop and interpolation, and JPEGs
are decoded reduced (Pillow's `draft`) where that keeps the short side at least the resize.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np
import PIL
import torch
from PIL import Image

# The 32-pixel rule lives in explorer.core.conversion, which explorer.core.preprocessing uses too;
# its names stay importable from here.
from explorer.core.conversion import SIZE, SMALL_JPEG_BYTES, convert_image, decode_cifar_jpeg
from explorer.core.conversion import to_rgb as to_rgb
from explorer.core.errors import DataError
from explorer.core.paths import open_regular
from explorer.core.pixel_cache import PixelCache
from explorer.core.preprocessing import Preprocessing

# Bump when the rule or its code changes what a file decodes to: cached pixels of the old rule are then ignored.
CONVERSION_VERSION = 1
# A file modified this close to the set's opening is never cached: a second write within the same
# timestamp tick (seconds on some file systems) would leave its name, size and time unchanged.
RECENT_NS = 2_000_000_000


def read_image(path: str | os.PathLike[str], prepare: Preprocessing | None = None) -> np.ndarray:
    """Decode one file by the conversion rule (or the model's preprocessing `prepare`), or raise DataError
    naming the file and the problem."""
    name = os.fspath(path)
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its pixel limit; refuse those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open_regular(name, "an image file", DataError) as fh:
                if prepare is None or prepare.is_cifar_rule:
                    head = fh.read(SMALL_JPEG_BYTES + 1)
                    small = decode_cifar_jpeg(head) if len(head) <= SMALL_JPEG_BYTES else None
                    if small is not None:
                        return small
                    fh.seek(0)
                with Image.open(fh) as img:
                    return _prepared(img, prepare)
    except DataError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise DataError(f"{name}: refused, {exc}") from None
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except Image.UnidentifiedImageError:
        raise DataError(f"{name}: cannot be read as an image (not a format Pillow knows, or damaged)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{name}: cannot be read as an image ({exc})") from None
    except Exception as exc:  # a hostile file can trip a decoder in other ways (struct.error, IndexError, ...)
        raise DataError(f"{name}: cannot be read as an image ({type(exc).__name__}: {exc})") from None


def _prepared(img: Image.Image, prepare: Preprocessing | None) -> np.ndarray:
    """An opened image by the conversion rule, or by the model's preprocessing `prepare`."""
    if prepare is None or prepare.is_cifar_rule:
        return convert_image(img)
    if img.format == "JPEG" and img.mode in ("RGB", "L"):
        # JPEG decodes at 1/2, 1/4 or 1/8 scale for a fraction of the time and memory; the
        # short side stays at least the resize, so the crop is still made by resizing down.
        img.draft(img.mode, (prepare.resize, prepare.resize))
    return prepare.pixels(img)


class ImageSet:
    """A split of images: uint8 [S, S, 3] pictures (S = `size`: 32, or the model's input size), integer labels (-1 when unknown) and captions.

    File-backed sets decode an image the first time it is asked for and keep it; nothing is
    decoded ahead of need. A file that cannot be decoded shows as black and is listed in
    `failures` with the reason. With a `pixel_cache`, a set opens decoded when its files are as
    they were when it was last decoded in full, and is saved there once every image is decoded.
    """

    def __init__(
        self,
        name: str,
        classes: Sequence[str],
        labels: np.ndarray,
        *,
        pixels: np.ndarray | None = None,
        paths: Sequence[str] | None = None,
        captions: Sequence[str] | None = None,
        skipped: Sequence[tuple[str, str]] = (),
        source_key: str | None = None,
        pixel_cache: PixelCache | None = None,
        prepare: Preprocessing | None = None,
        source_pixels: np.ndarray | None = None,
    ) -> None:
        n = len(labels)
        if prepare is not None and prepare.is_cifar_rule:
            prepare = None
        self.prepare = prepare  # None: the 32-pixel conversion rule
        self.size = SIZE if prepare is None else prepare.crop
        self._source_pixels = source_pixels  # pictures prepared for the model one by one, on first use
        self.name = name
        self.classes = tuple(classes)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.paths = list(paths) if paths is not None else None
        self._captions = list(captions) if captions is not None else None
        self.skipped = list(skipped)
        self.failures: dict[int, str] = {}
        self.source_key = source_key or name
        self._lock = threading.Lock()
        if pixels is not None:
            if pixels.ndim != 4 or pixels.shape[0] != n or pixels.shape[1] != pixels.shape[2] or pixels.shape[3] != 3:
                raise ValueError(f"pixels must be uint8 [{n}, S, S, 3], got {pixels.dtype} {pixels.shape}")
            if pixels.dtype != np.uint8:
                raise ValueError(f"pixels must be uint8 [{n}, S, S, 3], got {pixels.dtype} {pixels.shape}")
            self._pixels = pixels
            self.size = int(pixels.shape[1])
            self._ready = None
        else:
            if source_pixels is None and (self.paths is None or len(self.paths) != n):
                raise ValueError("a lazy image set needs one path per label")
            # Zeroed pages cost no memory until an image is decoded into them.
            self._pixels = np.zeros((n, self.size, self.size, 3), dtype=np.uint8)
            self._ready = np.zeros(n, dtype=bool)
        self._undecoded = n if self._ready is not None else 0
        self._cache = pixel_cache if self._ready is not None and n else None
        self._cache_claimed = False  # set by the one thread that saves the entry
        self._cache_missing: set[int] | None = None  # the indices the loaded entry lacks
        if self._cache is not None:
            self._open_cache(self._cache)

    def _open_cache(self, cache: PixelCache) -> None:
        self._opened_ns = time.time_ns()  # before the key: a file changed after it looks recent
        self._opened_key = self._pixel_key()
        found = cache.load(self.source_key, self._opened_key, len(self), (self.size, self.size, 3))
        if found is not None:
            self._pixels, self._ready = found
            self._cache_missing = {int(i) for i in np.flatnonzero(~self._ready)}
            self._undecoded = len(self._cache_missing)

    def _pixel_key(self) -> str:
        """What the decoded pixels depend on: the files (content_key), the rule and the decoder."""
        rule = f"rule{CONVERSION_VERSION}" if self.prepare is None else self.prepare.describe()
        return f"{rule}|Pillow {PIL.__version__}|{self.content_key()}"

    def _save_cache(self) -> None:
        """Store the decoded set, unless a file changed since the set was opened. Failed and recently
        modified files are left out: they are decoded again (and fail again) on the next open."""
        assert self._cache is not None and self.paths is not None
        if self._pixel_key() != self._opened_key:
            return
        missing = set(self.failures)
        for i, path in enumerate(self.paths):
            try:
                if os.stat(path).st_mtime_ns > self._opened_ns - RECENT_NS:
                    missing.add(i)
            except OSError:
                missing.add(i)
        if missing == self._cache_missing or len(missing) == len(self):
            return  # the entry it was opened from holds the same, or there is nothing to store
        self._cache.save(self.source_key, self._opened_key, self._pixels, sorted(missing))

    def __len__(self) -> int:
        return len(self.labels)

    def caption(self, index: int) -> str:
        """A short text for the image: its caption, else its class name, else its file name."""
        if self._captions is not None:
            return self._captions[index]
        label = int(self.labels[index])
        if 0 <= label < len(self.classes):
            return self.classes[label]
        if self.paths is not None:
            return os.path.basename(self.paths[index])
        return f"#{index}"

    def _decode(self, indices: np.ndarray) -> None:
        """Decode the images of `indices` not yet decoded: the files are read outside the lock (a view
        asking for decoded images, or for other files, never waits behind a batch), the pixels and
        failures published under it. Two threads asking for the same new image may both decode it;
        the first to publish wins and the pictures are the same. The thread that publishes the last
        image saves the pixel cache entry."""
        assert self._ready is not None
        todo = np.unique(indices[~self._ready[indices]])
        if not todo.size:
            return
        decoded: list[tuple[int, np.ndarray | None, str]] = []
        for i in todo:
            try:
                decoded.append((int(i), self._read(int(i)), ""))
            except DataError as exc:
                decoded.append((int(i), None, str(exc)))
        with self._lock:
            for i, pixels, failure in decoded:
                if self._ready[i]:
                    continue
                if pixels is None:
                    self._pixels[i] = 0
                    self.failures[i] = failure
                else:
                    self._pixels[i] = pixels
                self._ready[i] = True  # last: a reader that sees it set sees the pixels
                self._undecoded -= 1
            save = self._cache is not None and self._undecoded == 0 and not self._cache_claimed
            self._cache_claimed |= save
        if save:
            self._save_cache()  # outside the lock: other threads read and decode meanwhile

    def _read(self, index: int) -> np.ndarray:
        if self._source_pixels is not None:
            assert self.prepare is not None
            return self.prepare.pixels(Image.fromarray(self._source_pixels[index]))
        assert self.paths is not None
        if self.prepare is None:
            return read_image(self.paths[index])
        return read_image(self.paths[index], self.prepare)

    def for_model(self, prepare: Preprocessing | None) -> ImageSet:
        """The same images prepared by a model's preprocessing (`self` when that is this set's rule):
        files are decoded again from the start, pictures given as pixels are resized on first use."""
        if prepare is not None and prepare.is_cifar_rule:
            prepare = None
        if prepare == self.prepare:
            return self
        common = dict(captions=self._captions, skipped=self.skipped, prepare=prepare)
        suffix = "" if prepare is None else f" @ {prepare.describe()}"
        if self.paths is not None:
            return ImageSet(
                self.name,
                self.classes,
                self.labels,
                paths=self.paths,
                source_key=self.source_key.split(" @ ")[0] + suffix,
                pixel_cache=self._cache,
                **common,  # type: ignore[arg-type]
            )
        if prepare is None:
            raise ValueError("pictures given as pixels at another size cannot be turned back into 32-pixel ones")
        return ImageSet(
            self.name,
            self.classes,
            self.labels,
            source_pixels=self._pixels,
            source_key=self.source_key + suffix,
            **common,  # type: ignore[arg-type]
        )

    def is_decoded(self, index: int) -> bool:
        """Whether image `index` is in memory already (asking for it then reads no file)."""
        return self._ready is None or bool(self._ready[index])

    def content_key(self) -> str:
        """A hash of what the pictures depend on: every file's name, size, modification and change time for a
        file-backed set (a file replaced under the same name changes it), the pixels themselves otherwise."""
        h = hashlib.sha256()
        if self._ready is None or self._source_pixels is not None:
            h.update(np.ascontiguousarray(self._pixels if self._ready is None else self._source_pixels).data)
            if self.prepare is not None:
                h.update(self.prepare.describe().encode())
            return "pixels:" + h.hexdigest()[:32]
        assert self.paths is not None
        for path in self.paths:
            try:
                st = os.stat(path)
                # The change time too: a rewrite in place that sets the old modification time back moves it.
                stamp = f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\n"
                h.update(stamp.encode(errors="surrogateescape"))
            except OSError as exc:
                h.update(f"{path}\0{type(exc).__name__}\n".encode(errors="surrogateescape"))
        return "files:" + h.hexdigest()[:32]

    def images(self, indices: Sequence[int] | np.ndarray | slice) -> np.ndarray:
        """uint8 [n, S, S, 3] for the given indices (decoded on first use)."""
        if isinstance(indices, slice):
            indices = np.arange(len(self))[indices]
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise IndexError(f"image index out of range 0..{len(self) - 1}")
        idx = idx % max(len(self), 1)
        if self._ready is not None:
            self._decode(idx)  # no lock for decoded images; new ones decode outside it
        return self._pixels[idx]

    def image(self, index: int) -> np.ndarray:
        """uint8 [S, S, 3] for one image."""
        return self.images([index])[0]

    def tensor(self, indices: Sequence[int] | np.ndarray | slice, device: str | torch.device = "cpu") -> torch.Tensor:
        """float32 [n, 3, S, S] in [0, 1] on `device`."""
        return to_tensor(self.images(indices), device)

    def all_pixels(self, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Every image decoded, uint8 [N, S, S, 3] (decodes in chunks, reporting progress)."""
        n = len(self)
        if self._ready is not None:
            step = 1024
            for start in range(0, n, step):
                self.images(np.arange(start, min(n, start + step)))
                if progress is not None:
                    progress(min(n, start + step), n)
        return self._pixels


def to_tensor(pixels: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 [n, H, W, 3] -> float32 [n, 3, H, W] in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(pixels)).to(device)
    return t.permute(0, 3, 1, 2).float().div_(255.0)
