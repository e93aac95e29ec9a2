"""The fixed matplotlib settings every figure is drawn and saved under, whatever the user's matplotlibrc says."""

from __future__ import annotations

import contextlib
import textwrap
from collections.abc import Iterator

import matplotlib
import matplotlib.style
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import explorer

CREATOR = f"cnn-feature-explorer {explorer.__version__}"

FIGURE_RC = {
    "font.family": "DejaVu Sans",  # shipped with matplotlib: the same glyphs on every machine
    "text.usetex": False,
    "svg.fonttype": "none",  # real <text> in SVG
    "svg.hashsalt": "cnn-feature-explorer",  # fixed element ids: same input, same bytes
    "svg.image_inline": True,
    "pdf.fonttype": 42,  # TrueType in PDF: real, searchable text
    "pdf.use14corefonts": False,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.edgecolor": "white",
    "savefig.transparent": False,
    "savefig.bbox": "standard",  # the page is the laid-out size, so the PNG size follows from the DPI
    "image.interpolation": "none",
}


TITLE_PT = 9.0  # a figure's title, bold
PANEL_PT = 7.0  # the titles of a figure's panels
SMALL_PT = 5.5  # ticks, legends, colour bars


def figure_title(fig: Figure, text: str) -> None:
    """`text` in bold at the top left, wrapped to the figure's width."""
    chars = int(fig.get_figwidth() * 12.5)  # bold 9 pt DejaVu Sans: about 12.5 characters an inch
    fig.text(0.015, 0.985, "\n".join(textwrap.wrap(text, chars)), fontsize=TITLE_PT, fontweight="bold", va="top")


def panel(fig: Figure, box: tuple[float, float, float, float], title: str) -> Axes:
    """An axes at `box` (figure fractions) titled `title`, without ticks: one picture of a composite figure."""
    ax = fig.add_axes(box)
    ax.set_title(title, fontsize=PANEL_PT, pad=3)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """matplotlib's defaults plus FIGURE_RC, for the duration of the block."""
    with matplotlib.style.context(["default", FIGURE_RC]):
        yield


def save_metadata(fmt: str, title: str | None) -> dict[str, str | None]:
    """Metadata without dates, so the same figure always gives the same bytes."""
    if fmt == "png":
        return {"Software": CREATOR, **({"Title": title} if title else {})}
    if fmt == "svg":
        return {"Date": None, "Creator": CREATOR, **({"Title": title} if title else {})}
    return {
        "CreationDate": None,
        "ModDate": None,
        "Creator": CREATOR,
        "Producer": CREATOR,
        **({"Title": title} if title else {}),
    }
