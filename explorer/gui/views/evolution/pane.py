"""Evolution pane: one strip per feature, epochs across; each cell the projection of its strongest activation."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from explorer.analyses.evolution import EvolutionFigure
from explorer.gui.panes.experiment_controls import ExperimentControls
from explorer.gui.panes.pixel_view import PixelView

CELL = 96  # pixels per strip cell


class EvolutionPane(QWidget):
    options_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure: EvolutionFigure | None = None
        self.features = QLineEdit("")
        self.features.setPlaceholderText("N, A:B or N,M,…  (empty: the selected feature and the next 3)")
        form = QFormLayout()
        form.addRow("features", self.features)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.grid_host)
        self.controls = ExperimentControls("evolution")
        self.cells: list[PixelView] = []
        top = QHBoxLayout()
        top.addLayout(form, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.controls)
        self.features.editingFinished.connect(self.options_changed)

    def clear(self) -> None:
        """Nothing shown (the figure was computed by a model that is no longer open)."""
        self.figure = None
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.cells = []

    def show_figure(self, f: EvolutionFigure) -> None:
        self.clear()
        self.figure = f
        for e, epoch in enumerate(f.epochs):
            self.grid.addWidget(QLabel(f"epoch {epoch}"), 0, e + 1)
        for k, feature in enumerate(f.request.features):
            self.grid.addWidget(QLabel(f"feature {feature}"), k + 1, 0)
            for e in range(len(f.epochs)):
                view = PixelView(f"{f.labels[e][k]} {f.values[e, k]:.2f}")
                view.setMinimumSize(CELL, CELL + 16)
                view.set_image(f.tiles[e, k].astype(np.float32) / 255)
                self.grid.addWidget(view, k + 1, e + 1)
                self.cells.append(view)
