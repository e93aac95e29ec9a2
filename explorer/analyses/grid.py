"""GridFigure: a figure that is a grid of tiles, as plain values (uint8 tiles, labels, title, caption).

Computing it needs the model; drawing it needs only this, so the window and the command line
draw the same figure from the same data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from explorer.analyses.protocol import Analysis


def _frozen(tile: np.ndarray) -> np.ndarray:
    arr = np.array(tile, dtype=np.uint8, copy=True, order="C")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class ColourScale:
    """The colour bar under a figure's grid: `kind` "viridis" (activations) or "signed" (black, grey 0, white)."""

    kind: str
    low: float
    high: float
    label: str


ACTIVATION_SCALE_LABEL = "activation (post-ReLU), one scale for all maps"
RELATIVE_SCALE = ColourScale("signed", -1.0, 1.0, "projection p / max|p|, each tile on its own scale (grey = 0)")


@dataclass(frozen=True, eq=False)
class GridFigure:
    """A grid of cells; each cell is `group` tiles side by side (an image beside its projection) under one label.

    tiles: uint8 [h, w, 3] pictures at native resolution, cell by cell; len(tiles) == group * len(labels).
    columns: cells per row. request: the request it was computed for (None for a grid put together by hand).
    """

    title: str
    caption: str
    tiles: tuple[np.ndarray, ...]
    labels: tuple[str, ...]
    group: int = 1
    columns: int = 8
    scale: ColourScale | None = None  # the colour bar drawn under the grid, if the tiles are scaled
    request: Analysis | None = None

    def __post_init__(self) -> None:
        if self.group < 1:
            raise ValueError(f"group must be at least 1, got {self.group}")
        if self.columns < 1:
            raise ValueError(f"columns must be at least 1, got {self.columns}")
        if len(self.tiles) != self.group * len(self.labels):
            raise ValueError(f"{len(self.tiles)} tiles do not fill {len(self.labels)} cells of {self.group}")
        if not self.labels:
            raise ValueError("a figure needs at least one tile")
        tiles = tuple(_frozen(t) for t in self.tiles)
        for t in tiles:
            if t.ndim != 3 or t.shape[2] != 3 or 0 in t.shape:
                raise ValueError(f"a tile is uint8 [h, w, 3], got shape {t.shape}")
        object.__setattr__(self, "tiles", tiles)
        object.__setattr__(self, "labels", tuple(str(s) for s in self.labels))

    @property
    def cells(self) -> int:
        return len(self.labels)

    @property
    def rows(self) -> int:
        return -(-self.cells // self.columns)

    def cell_tiles(self, cell: int) -> tuple[np.ndarray, ...]:
        """The tiles of one cell, left to right."""
        return self.tiles[cell * self.group : (cell + 1) * self.group]
