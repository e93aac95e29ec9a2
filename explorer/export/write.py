"""Write a figure to .png, .svg or .pdf atomically: a temporary file beside the target, then a rename.

A failed write leaves the previous file as it was and no temporary file behind, and raises
ExportError("PATH: reason").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from explorer.core.atomic import atomic_write, reason
from explorer.export.errors import ExportError
from explorer.export.figure_data import FigureData

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
DPI_RANGE = (10, 2400)
DEFAULT_DPI = 200
MAX_PIXELS = 150_000_000  # a PNG page larger than this is refused before drawing (matplotlib would need GBs)


def figure_format(path: str | os.PathLike[str]) -> str:
    """ "png", "svg" or "pdf" from the file name, or ExportError naming the path."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        found = f"'{suffix}'" if suffix else "no extension"
        raise ExportError(f"{os.fspath(path)}: unknown figure format ({found}); use .png, .svg or .pdf")
    return FORMATS[suffix]


def check_target(path: str | os.PathLike[str], dpi: int = DEFAULT_DPI) -> str:
    """Everything about the destination that can be checked before any work: format, folder, DPI."""
    fmt = figure_format(path)
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise ExportError(f"{target}: folder {folder} does not exist")
    if target.is_dir():
        raise ExportError(f"{target}: is a folder, not a file name")
    if not DPI_RANGE[0] <= dpi <= DPI_RANGE[1]:
        raise ExportError(f"dpi {dpi}: must be between {DPI_RANGE[0]} and {DPI_RANGE[1]}")
    return fmt


def write_figure(
    fig: Figure, path: str | os.PathLike[str], *, dpi: int = DEFAULT_DPI, title: str | None = None
) -> Path:
    """Save `fig` to `path` (format from the extension) at `dpi`, atomically and without dates: same input, same bytes."""
    fmt = check_target(path, dpi)
    target = Path(path)

    from explorer.export.style import figure_style, save_metadata  # matplotlib: only when drawing

    def save(fh: BinaryIO) -> None:
        with figure_style():
            fig.savefig(fh, format=fmt, dpi=dpi, metadata=save_metadata(fmt, title))

    try:
        atomic_write(target, save)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ExportError(f"{target}: cannot write {fmt.upper()} ({reason(exc)})") from exc
    return target


def export_figure(
    data: FigureData, path: str | os.PathLike[str], *, dpi: int = DEFAULT_DPI, tile_inches: float | None = None
) -> Path:
    """Render `data` and write it to `path`: what both the window and the command line call."""
    fmt = check_target(path, dpi)
    from explorer.export.render import layout, render_figure

    if fmt == "png":
        page = layout(data, tile_inches)
        pixels = round(page.width * dpi) * round(page.height * dpi)
        if pixels > MAX_PIXELS:
            raise ExportError(
                f"{os.fspath(path)}: a {page.width:.1f} x {page.height:.1f} inch page at {dpi} dpi is {pixels / 1e6:,.0f} "
                f"megapixels, more than {MAX_PIXELS / 1e6:,.0f}; lower --dpi or use .svg or .pdf"
            )
    return write_figure(render_figure(data, tile_inches=tile_inches), path, dpi=dpi, title=data.title)
