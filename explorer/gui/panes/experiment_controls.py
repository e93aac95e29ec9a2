"""What every experiment pane carries: Run, Cancel, a progress bar, a status line and Export figure…"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from explorer.gui.panes.export_button import export_button


class ExperimentControls(QWidget):
    run_requested = Signal()
    cancel_requested = Signal()
    export_requested = Signal()

    def __init__(self, what: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run = QPushButton("Run")
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.message = QLabel("")
        self.stale = QLabel("stale")
        self.stale.setStyleSheet("color: #b35c00; font-weight: bold")
        self.stale.setToolTip(
            "The figure shown was computed for an earlier selection or earlier options; "
            "it is replaced when the run for the present ones ends (Run starts it)"
        )
        self.stale.hide()
        self.export = export_button(
            f"Write the {what} figure as PNG, SVG or PDF (the same file as cnn-explorer export)"
        )
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for w in (self.run, self.cancel, self.progress, self.stale):
            row.addWidget(w)
        row.addWidget(self.message, 1)
        row.addWidget(self.export)
        self.run.clicked.connect(self.run_requested)
        self.cancel.clicked.connect(self.cancel_requested)
        self.export.clicked.connect(self.export_requested)

    def started(self) -> None:
        self.cancel.setEnabled(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.message.setText("running…")

    def progressed(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)

    def ended(self, text: str) -> None:
        self.cancel.setEnabled(False)
        self.message.setText(text)

    def set_stale(self, stale: bool) -> None:
        """Mark the figure shown as one for an earlier selection (or unmark it)."""
        self.stale.setVisible(stale)


def heat_rgb(values: np.ndarray, lo: float, hi: float, cmap: str = "viridis") -> np.ndarray:
    """[h, w] values -> float RGB [h, w, 3] in [0, 1] through a pyqtgraph colour map, lo..hi."""
    t = np.clip((values - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.zeros_like(values, dtype=float)
    lut = pg.colormap.get(cmap).getLookupTable(0.0, 1.0, 256, alpha=False)
    return lut[np.rint(t * 255).astype(int)].astype(np.float32) / 255.0


def over_image(
    image: np.ndarray, heat: np.ndarray, ys: tuple[int, ...], xs: tuple[int, ...], size: int, stride: int
) -> np.ndarray:
    """uint8 image [H, W, 3] with RGB heat [ny, nx, 3] laid over it: each cell a stride-wide block at its square's centre."""
    out = image.astype(np.float32) / 255.0
    h, w = out.shape[:2]
    x0, y0, _, _ = cells_rect(ys, xs, size, stride)
    rows = np.clip(((np.arange(h) - y0) // stride).astype(int), -1, len(ys))
    cols = np.clip(((np.arange(w) - x0) // stride).astype(int), -1, len(xs))
    inside = ((rows >= 0) & (rows < len(ys)))[:, None] & ((cols >= 0) & (cols < len(xs)))[None, :]
    r, c = np.clip(rows, 0, len(ys) - 1), np.clip(cols, 0, len(xs) - 1)
    blended = 0.25 * out + 0.75 * heat[r[:, None], c[None, :]]
    return np.where(inside[..., None], blended, out)


def cells_rect(ys: tuple[int, ...], xs: tuple[int, ...], size: int, stride: int) -> tuple[float, float, float, float]:
    """(x, y, width, height) in image pixels of an occlusion map's cells: each a stride-wide block at its square's centre."""
    return xs[0] + size / 2 - stride / 2, ys[0] + size / 2 - stride / 2, len(xs) * stride, len(ys) * stride
