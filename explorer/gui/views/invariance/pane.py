"""Invariance pane: layer distances and class probabilities against the amount of a transform, as pyqtgraph plots."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLineEdit, QVBoxLayout, QWidget

from explorer.analyses.invariance import InvarianceFigure
from explorer.core.invariance_curves import TRANSFORMS
from explorer.gui.panes.experiment_controls import ExperimentControls
from explorer.gui.panes.fitted_text import FittedPlot

# Shorter than the exported figure's (explorer.render.experiments_render): the plots here are narrow.
UNITS = {"translate": "vertical shift (px, + down)", "scale": "scale factor", "rotate": "rotation (degrees)"}


class InvariancePane(QWidget):
    options_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure: InvarianceFigure | None = None
        self.transform = QComboBox()
        self.transform.addItems(TRANSFORMS)
        self.layers = QLineEdit("")
        self.layers.setPlaceholderText("comma-separated layers (empty: all)")
        form = QFormLayout()
        form.addRow("transform", self.transform)
        form.addRow("layers", self.layers)
        # The two plots are built when the pane is first shown (or first given a figure): the dock starts
        # hidden, and building them cost every start-up about 0.1 s.
        self._plots: tuple[FittedPlot, FittedPlot] | None = None
        self.controls = ExperimentControls("invariance")
        self._row = QHBoxLayout()
        self._row.addLayout(form)
        layout = QVBoxLayout(self)
        layout.addLayout(self._row, 1)
        layout.addWidget(self.controls)
        self.transform.currentTextChanged.connect(lambda _t: self.options_changed.emit())
        self.layers.editingFinished.connect(self.options_changed)

    def _built(self) -> tuple[FittedPlot, FittedPlot]:
        if self._plots is None:
            distance = FittedPlot("layer output distance to the original (each / its max)")
            prob = FittedPlot("class probability")
            for p in (distance, prob):
                p.addLegend(offset=(5, 5))
                p.showGrid(x=True, y=True, alpha=0.3)
                self._row.addWidget(p, 1)
            prob.setYRange(0, 1)
            self._plots = (distance, prob)
        return self._plots

    @property
    def distance_plot(self) -> FittedPlot:
        return self._built()[0]

    @property
    def prob_plot(self) -> FittedPlot:
        return self._built()[1]

    def showEvent(self, event: QShowEvent) -> None:
        self._built()
        super().showEvent(event)

    def clear(self) -> None:
        """Nothing shown (the figure was computed by a model that is no longer open)."""
        self.figure = None
        for p in self._plots or ():
            p.clear()

    def show_figure(self, f: InvarianceFigure) -> None:
        self.figure = f
        for p in (self.distance_plot, self.prob_plot):
            p.clear()
            p.setLabel("bottom", UNITS[f.request.transform])
        for i, layer in enumerate(f.request.layers):
            d = f.distance[i]
            top = float(d.max())
            self.distance_plot.plot(f.values, d / top if top > 0 else d, pen=pg.mkPen(pg.intColor(i), width=2),
                                    symbol="o", symbolSize=4, name=layer)  # fmt: skip
        for i, c in enumerate(f.shown):
            name = f.classes[c] + (" (true)" if c == f.label else "")
            style = pg.QtCore.Qt.PenStyle.SolidLine if c == f.label else pg.QtCore.Qt.PenStyle.DashLine
            self.prob_plot.plot(f.values, f.probs[:, c], pen=pg.mkPen(pg.intColor(i), width=2, style=style),
                                symbol="o", symbolSize=4, name=name)  # fmt: skip
