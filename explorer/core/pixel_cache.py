"""Decoded pixels of a file-backed image set, kept on disk so that a later open decodes nothing.

One file per set: a short header (magic, JSON: format, the set's key, image count, the indices not
stored, the picture shape, a CRC-32 of the pixels), then uint8 [N, S, S, 3] from a page boundary, read back as a
copy-on-write memory map. The caller's key says what the pixels depend on (every file's name,
size, modification time and inode, the conversion rule, Pillow's version); an entry whose header,
size or checksum does not match is ignored, never trusted, and replaced at the next save.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from explorer.core.atomic import atomic_write

# Bump when the file's layout or meaning changes: older files are then ignored.
FORMAT = 2
MAGIC = b"CNNX-PIXELS\n"
SHAPE = (32, 32, 3)  # the pictures of the CIFAR-size models
_ALIGN = 4096
_CHUNK = 1024  # images per read or write: 3 MB
_MAX_HEADER = 64 << 20


class PixelCache:
    """Entries in `folder`, one per set name (a set whose files change replaces its entry)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def path(self, name: str) -> Path:
        digest = hashlib.sha256(name.encode(errors="surrogateescape")).hexdigest()[:32]
        return self.folder / f"pixels-{digest}.bin"

    def load(
        self, name: str, key: str, count: int, shape: tuple[int, int, int] = SHAPE
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(pixels uint8 [count, *shape], stored bool [count]) when `name`'s entry was made under `key`
        with pictures of `shape` and is whole; None otherwise (absent, damaged, another key, shape or
        format, unreadable)."""
        try:
            return _read(self.path(name), key, count, tuple(shape))
        except (OSError, ValueError, TypeError, KeyError, OverflowError, struct.error):
            return None

    def save(self, name: str, key: str, pixels: np.ndarray, missing: Sequence[int] = ()) -> bool:
        """Write `pixels` under `key` atomically, `missing` indices marked as not stored; False when
        the folder cannot be written (no cache then, not an error)."""
        n = len(pixels)
        crc = _crc(pixels)
        header = json.dumps(
            {
                "format": FORMAT,
                "key": key,
                "count": n,
                "shape": [int(v) for v in pixels.shape[1:]],
                "missing": sorted(int(i) for i in missing),
                "crc32": crc,
            }
        ).encode()
        offset = _offset(len(header))

        def write(fh) -> None:
            fh.write(MAGIC + struct.pack("<I", len(header)) + header)
            fh.write(b"\0" * (offset - len(MAGIC) - 4 - len(header)))
            for start in range(0, n, _CHUNK):
                fh.write(np.ascontiguousarray(pixels[start : start + _CHUNK]).data)

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path(name), write)
        except OSError:
            return False
        return True


def _offset(header_len: int) -> int:
    end = len(MAGIC) + 4 + header_len
    return -(-end // _ALIGN) * _ALIGN


def _crc(pixels: np.ndarray) -> int:
    crc = 0
    for start in range(0, len(pixels), _CHUNK):
        crc = zlib.crc32(np.ascontiguousarray(pixels[start : start + _CHUNK]).data, crc)
    return crc


def _read(path: Path, key: str, count: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    # Opened without blocking and checked on the descriptor: a FIFO or folder in its place is ignored.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        head = fh.read(len(MAGIC) + 4)
        if len(head) != len(MAGIC) + 4 or head[: len(MAGIC)] != MAGIC:
            return None
        (header_len,) = struct.unpack("<I", head[len(MAGIC) :])
        if header_len > _MAX_HEADER:
            return None
        meta = json.loads(fh.read(header_len).decode())
        if not _header_fits(meta, key, count) or meta.get("shape") != list(shape):
            return None
        offset = _offset(header_len)
        if st.st_size != offset + count * int(np.prod(shape)):
            return None  # truncated, or more than it says
        # Copy-on-write: the set may write over an index it decodes again; the file never changes.
        pixels = np.memmap(fh, dtype=np.uint8, mode="c", offset=offset, shape=(count, *shape))
    if _crc(pixels) != meta["crc32"]:
        return None
    stored = np.ones(count, dtype=bool)
    stored[meta["missing"]] = False
    return pixels.view(np.ndarray), stored


def _header_fits(meta: object, key: str, count: int) -> bool:
    if not isinstance(meta, dict) or count < 1:
        return False
    if (meta.get("format"), meta.get("key"), meta.get("count")) != (FORMAT, key, count):
        return False
    missing = meta.get("missing")
    if not isinstance(missing, list) or not all(type(i) is int and 0 <= i < count for i in missing):
        return False
    return type(meta.get("crc32")) is int
