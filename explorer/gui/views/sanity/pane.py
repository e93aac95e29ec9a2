"""Sanity pane: the cascade as curves (rank correlation with the trained model's picture against the layers
randomized, one curve per method), the pictures at each step as a strip, and RISE's deletion and insertion curves
of the trained pictures with their areas."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from explorer.analyses.attribution import FaithfulnessFigure
from explorer.analyses.cam import ATTRIBUTION_NAMES
from explorer.gui.imaging import mosaic
from explorer.gui.panes.experiment_controls import ExperimentControls
from explorer.gui.panes.fitted_text import FittedPlot
from explorer.gui.panes.pixel_view import PixelView

PLOT_MIN = (140, 120)  # pixels: the smallest plot that keeps its axes readable
STRIP_MIN = (100, 100)
NOTE = (
    "Each method's picture of the predicted class as the model's layers are re-initialised from the top down "
    "(Adebayo et al., 2018): a picture that stays the same shows the image more than what the model learned."
)


def strip(pictures: dict[str, np.ndarray], methods: tuple[str, ...]) -> np.ndarray:
    """float32 [rows, cols, 3]: one row per method, the trained picture then one per step, each scaled to its max."""
    tiles = []
    for m in methods:
        for p in pictures[m][:, 0]:  # [steps + 1, H, W] of the first image
            top = float(p.max())
            grey = p / top if top > 0 else np.zeros_like(p)
            tiles.append(np.repeat(grey[..., None], 3, axis=-1))
    steps = pictures[methods[0]].shape[0]
    return mosaic(np.stack(tiles).astype(np.float32), steps, pad=1, fill=1.0)


class SanityPane(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure: FaithfulnessFigure | None = None
        self.note = QLabel("Does each picture depend on the weights? Hover for how to read this.")
        self.note.setToolTip(NOTE)
        self.areas = QLabel()  # the methods' colours (both plots' legend) and RISE's areas
        self._grid = QHBoxLayout()
        self._built: tuple[FittedPlot, FittedPlot, PixelView] | None = None  # on first show: the dock starts hidden
        self.controls = ExperimentControls("sanity")
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addLayout(self._grid, 1)
        layout.addWidget(self.areas)
        layout.addWidget(self.controls)

    def _views(self) -> tuple[FittedPlot, FittedPlot, PixelView]:
        if self._built is None:
            cascade = FittedPlot("rank correlation with the trained picture")
            rise = FittedPlot("RISE: p(class), pixels deleted (solid) or inserted (dashed)")
            for p in (cascade, rise):
                p.showGrid(x=True, y=True, alpha=0.3)
                p.setMinimumSize(*PLOT_MIN)
            cascade.setYRange(-0.2, 1.05)
            cascade.setLabel("left", "Spearman ρ")
            rise.setYRange(0, 1.05)
            rise.setLabel("bottom", "fraction of the pixels")
            pictures = PixelView("the pictures: trained, then each step (one row per method)")
            pictures.setMinimumSize(*STRIP_MIN)
            for widget in (cascade, rise, pictures):
                self._grid.addWidget(widget, 1)
            self._built = (cascade, rise, pictures)
        return self._built

    @property
    def cascade_plot(self) -> FittedPlot:
        return self._views()[0]

    @property
    def rise_plot(self) -> FittedPlot:
        return self._views()[1]

    @property
    def pictures(self) -> PixelView:
        return self._views()[2]

    def showEvent(self, event: QShowEvent) -> None:
        self._views()
        super().showEvent(event)

    def clear(self) -> None:
        self.figure = None
        self.areas.setText("")
        if self._built is not None:
            self.cascade_plot.clear()
            self.rise_plot.clear()
            self.pictures.clear_picture()

    def show_figure(self, f: FaithfulnessFigure) -> None:
        self.figure = f
        result = f.sanity.result
        methods = tuple(f.request.methods)
        steps = np.arange(len(result.layers))
        cascade, rise = self.cascade_plot, self.rise_plot
        cascade.clear()
        rise.clear()
        axis = cascade.getAxis("bottom")
        axis.setTicks([[(float(i), name) for i, name in enumerate(result.layers)]])
        cascade.setLabel("bottom", "randomized down to (top first)")
        areas = []
        for i, m in enumerate(methods):
            pen = pg.mkPen(pg.intColor(i, len(methods)), width=2)
            cascade.plot(steps, result.spearman[m], pen=pen, symbol="o", symbolSize=5)
            c = f.curves[m]
            rise.plot(c.fractions, c.deletion, pen=pen)
            dashed = pg.mkPen(pg.intColor(i, len(methods)), width=2, style=pg.QtCore.Qt.PenStyle.DashLine)
            rise.plot(c.fractions, c.insertion, pen=dashed)
            colour = pg.intColor(i, len(methods)).name()
            name = ATTRIBUTION_NAMES[m]
            areas.append(f'<span style="color:{colour}">■</span> {name} {c.deletion_auc:.2f} / {c.insertion_auc:.2f}')
        # Two methods a line, no wrapping: a wrapped label's height is not reserved, and it ran over the plots.
        lines = [" · ".join(areas[i : i + 2]) for i in range(0, len(areas), 2)]
        self.areas.setText("<br>".join(lines) + "<br><small>colours: both plots · RISE's areas: deletion (lower is "
                           "better) / insertion (higher is better)</small>")  # fmt: skip
        self.pictures.set_image(strip(result.pictures, methods))
        self.pictures.set_title(f"{', '.join(ATTRIBUTION_NAMES[m] for m in methods)} (rows); trained, then each step")
