"""Paths a person typed, checked before any work, and shown back to them safely.

One place for the rules every command and the window follow: an output is a regular file (or a
new name) in an existing folder, never one of the command's inputs however it is spelled (a
relative path, a symlink or a hard link: compared by device and inode), never a device, FIFO or
folder, and never a file the user made read-only. Paths are printed escaped, on one line, whatever
bytes they hold.
"""

from __future__ import annotations

import os
import stat
import tempfile
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from explorer.core.errors import ExplorerError

PathLike = str | os.PathLike[str]


class OutputError(ExplorerError):
    """An output path that must not be written."""


def show(text: object) -> str:
    """`text` (a path or a message holding paths) on one printable line.

    Bytes that were not valid UTF-8 in a file name (surrogate escapes) show as \\xNN, control
    characters (newlines, tabs, escapes) as \\n, \\t, \\x1b; everything else as it is.
    """
    s = os.fspath(text) if isinstance(text, os.PathLike) else str(text)
    if isinstance(s, bytes):
        s = os.fsdecode(s)
    out = []
    for ch in s:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        elif ch == "\\" or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            out.append({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch) or _escape(code))
        else:
            out.append(ch)
    return "".join(out)


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _identity(path: PathLike) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def file_kind(mode: int) -> str:
    """A word for what a non-regular file is."""
    for test, word in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return word
    return "not a regular file"


def open_regular(path: PathLike, what: str, error: type[ExplorerError] = ExplorerError, encoding: str | None = None):
    """`path` opened for reading (binary, or text in `encoding`), or `error("PATH: is a FIFO (named pipe), not
    WHAT")` when it is not a regular file: a FIFO, a device, a socket or a folder.

    Opened without blocking and checked on the open descriptor, so a FIFO never hangs the reader and nothing
    can be swapped in between the check and the read. Other failures (no such file, no permission) raise
    OSError, for the caller to word.
    """
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        raise error(f"{show(name)}: is a folder, not {what}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(f"{show(name)}: is {file_kind(mode)}, not {what}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb") if encoding is None else os.fdopen(fd, "r", encoding=encoding)
    except BaseException:
        os.close(fd)
        raise


def writable_target_problem(path: PathLike) -> str | None:
    """Why an existing `path` must not be replaced (not a regular file, or read-only), or None."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    if not stat.S_ISREG(st.st_mode):
        return f"is {file_kind(st.st_mode)}, not a regular file; refusing to replace it"
    if not st.st_mode & 0o222 or not os.access(path, os.W_OK):
        return "is read-only; refusing to replace it (make it writable or choose another name)"
    return None


def check_output(path: PathLike, inputs: dict[str, PathLike | None] | None = None, flag: str = "--out") -> Path:
    """`path` as a Path if it may be written, else OutputError naming it and why; `inputs` maps a name
    ("--checkpoint") to each file the command reads. Reads and writes nothing but a probe file."""
    target = Path(path)
    name = show(target)
    if not os.fspath(path) or os.fspath(path).endswith(os.sep):
        raise OutputError(f"{flag} {name}: not a file name")
    folder = target.parent
    _check_lengths(target, flag)
    try:
        exists = folder.is_dir()
    except OSError as exc:  # a name too long for the file system, a folder that cannot be searched, ...
        raise OutputError(f"{flag} {name}: folder {show(folder)} cannot be used ({exc.strerror or exc})") from None
    if not exists:
        raise OutputError(f"{name}: folder {show(folder)} does not exist")
    longest = name_max(folder)
    if len(os.fsencode(target.name)) > longest:
        raise OutputError(f"{flag} {name}: the file name is longer than the {longest} bytes this file system allows")
    problem = writable_target_problem(target)
    if problem:
        raise OutputError(f"{name}: {problem}")
    for label, source in (inputs or {}).items():
        if source is not None and same_file_as(target, [source]) is not None:
            raise OutputError(
                f"{flag} {name}: is the same file as {label} {show(source)}, which this command reads; refusing to overwrite it"
            )
    _probe_folder(target)
    return target


NAME_MAX = 255  # bytes in one file or folder name on the file systems in use (ext4, xfs, btrfs, APFS, NTFS)
PATH_MAX = 4096  # bytes in a path handed to the kernel, its closing NUL included (Linux)


def _check_lengths(target: Path, flag: str) -> None:
    """OutputError when a folder in `target`'s path has a name longer than NAME_MAX bytes, or the whole path is
    longer than PATH_MAX: the file system would refuse it, and every later look at the path would fail."""
    name = show(target)
    for part in target.parts[:-1]:
        if part != target.anchor and len(os.fsencode(part)) > NAME_MAX:
            raise OutputError(
                f"{flag} {name}: the folder name {show(_start(part))} is {len(os.fsencode(part))} bytes, longer "
                f"than the {NAME_MAX} bytes a file system allows"
            )
    size = len(os.fsencode(os.fspath(target)))  # as given: the kernel takes a relative path relative to the folder
    if size >= PATH_MAX:
        raise OutputError(f"{flag} {name}: the path is {size} bytes, longer than the {PATH_MAX - 1} bytes allowed")


def _start(name: str, keep: int = 24) -> str:
    return name if len(name) <= keep + 3 else name[:keep] + "..."


def name_max(folder: PathLike) -> int:
    """The longest file name (in bytes) the file system of `folder` takes (255 where it will not say)."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def temp_prefix(target: Path) -> str:
    """A hidden temporary name's prefix beside `target`, short enough that the whole name fits any file
    system even when `target`'s own name is as long as allowed."""
    stem = os.fsencode(target.name)[:120].decode(errors="ignore")
    return f".{stem}."


def _probe_folder(target: Path) -> None:
    """OutputError now, not after hours of work, when nothing can be written beside `target`."""
    try:
        fd, probe = tempfile.mkstemp(prefix=temp_prefix(target), suffix=".probe", dir=target.parent)
    except OSError as exc:
        raise OutputError(f"{show(target)}: cannot write ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def same_file_as(path: PathLike, others: Iterable[PathLike | None]) -> PathLike | None:
    """The first of `others` that is the same file as `path` (same device and inode), or None."""
    me = _identity(path)
    if me is None:
        return None
    for other in others:
        if other is not None and _identity(other) == me:
            return other
    return None


def check_distinct_outputs(outputs: dict[str, PathLike]) -> None:
    """OutputError when two output flags name the same file (by spelling, symlink or hard link)."""
    seen: list[tuple[str, PathLike]] = []
    for flag, path in outputs.items():
        for other_flag, other in seen:
            if os.path.realpath(path) == os.path.realpath(other) or same_file_as(path, [other]) is not None:
                raise OutputError(f"{flag} {show(path)}: the same file as {other_flag}; give each output its own name")
        seen.append((flag, path))
