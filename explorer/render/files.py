"""Write a matplotlib Figure to .png, .svg or .pdf atomically: a temporary file beside the target, then a rename.

A failed write leaves the previous file as it was and no temporary file behind, and raises
WriteError("PATH: reason"). Everything about the target that can be checked before any work is
checked by check_target, which needs no matplotlib.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from explorer.core.atomic import atomic_write, reason
from explorer.core.errors import ExplorerError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
DPI_RANGE = (10, 2400)
DEFAULT_DPI = 200


class WriteError(ExplorerError):
    """A figure that cannot be written (format, folder, DPI, disk); the message starts with the path or value."""


def figure_format(path: str | os.PathLike[str]) -> str:
    """ "png", "svg" or "pdf" from the file name, or WriteError naming the path."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        found = f"'{suffix}'" if suffix else "no extension"
        raise WriteError(f"{os.fspath(path)}: unknown figure format ({found}); use .png, .svg or .pdf")
    return FORMATS[suffix]


def check_target(path: str | os.PathLike[str], dpi: int = DEFAULT_DPI) -> str:
    """Everything about the destination that can be checked before any work: format, folder, DPI."""
    fmt = figure_format(path)
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise WriteError(f"{target}: folder {folder} does not exist")
    if target.is_dir():
        raise WriteError(f"{target}: is a folder, not a file name")
    if not DPI_RANGE[0] <= dpi <= DPI_RANGE[1]:
        raise WriteError(f"dpi {dpi}: must be between {DPI_RANGE[0]} and {DPI_RANGE[1]}")
    return fmt


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = DEFAULT_DPI, title: str | None = None) -> Path:
    """Save `fig` to `path` (format from the extension) at `dpi`, atomically and without dates: same input, same bytes."""
    fmt = check_target(path, dpi)
    target = Path(path)

    from explorer.render.style import figure_style, save_metadata  # matplotlib: only when drawing

    def save(fh: BinaryIO) -> None:
        with figure_style():
            fig.savefig(fh, format=fmt, dpi=dpi, metadata=save_metadata(fmt, title))

    try:
        atomic_write(target, save)
    except (OSError, ValueError, RuntimeError) as exc:
        raise WriteError(f"{target}: cannot write {fmt.upper()} ({reason(exc)})") from exc
    return target
