"""Prediction pane: the model's class probabilities for the current image as horizontal bars."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

BAR = (90, 130, 200)
PREDICTED = (230, 140, 40)
TRUE = (60, 170, 90)


class PredictionPane(QWidget):
    def __init__(self, classes: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes = tuple(classes)
        self.summary = QLabel("no image yet")
        self.summary.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMenuEnabled(False)
        self.plot.setMinimumHeight(170)  # ten class names, one above the other, never printed over each other
        self.plot.hideButtons()
        self.plot.setXRange(0, 1, padding=0.02)
        self.plot.getViewBox().invertY(True)
        # No axis label: at 1024x640 the dock had no room for it and cut it in half; the tooltip says it.
        self.plot.setToolTip("Each bar is the model's probability for that class (0 to 1) on the current image.")
        self.bars = pg.BarGraphItem(x0=[0], y=[0], height=0.7, width=[0], brush=BAR)
        self.plot.addItem(self.bars)
        self.set_classes(classes)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.plot, 1)

    def set_classes(self, classes: Sequence[str]) -> None:
        """The open model's classes, one bar each (a new model may have others)."""
        self.classes = tuple(classes)
        n = len(self.classes)
        self.plot.setYRange(-0.5, n - 0.5, padding=0)
        self.plot.getAxis("left").setTicks([list(enumerate(self.classes))])
        self.bars.setOpts(x0=np.zeros(n), y=np.arange(n), width=np.zeros(n), brushes=None, brush=BAR)
        self.summary.setText("no image yet")

    def show_probs(self, probs: np.ndarray, true_class: int) -> None:
        """Bars for `probs`; the predicted class in orange, the true class (if known, -1 if not) in green."""
        top = int(np.argmax(probs))
        brushes = [pg.mkBrush(BAR) for _ in self.classes]
        if 0 <= true_class < len(brushes):
            brushes[true_class] = pg.mkBrush(TRUE)
        brushes[top] = pg.mkBrush(PREDICTED if top != true_class else TRUE)
        self.bars.setOpts(width=np.asarray(probs, dtype=float), brushes=brushes)
        text = f"predicted <b>{self.classes[top]}</b> ({100 * probs[top]:.1f}%)"
        if 0 <= true_class < len(self.classes):
            verdict = "right" if top == true_class else "wrong"
            text += f" · true {self.classes[true_class]} · <b>{verdict}</b>"
        self.summary.setText(text + "<br><small>orange: predicted · green: true class</small>")

    def show_unreadable(self, reason: str) -> None:
        """No bars for an image whose file could not be read: the model never saw it."""
        self.bars.setOpts(width=np.zeros(len(self.classes)))
        self.summary.setText(
            f"⚠ this file could not be read, so there is no prediction<br><small>{html.escape(reason)}</small>"
        )
