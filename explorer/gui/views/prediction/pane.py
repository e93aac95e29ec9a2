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


BARS = 10  # a model with more classes shows its ten most probable (and the true class)


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
        """The open model's classes: one bar each, or the BARS most probable of a model with more (a new model may
        have others)."""
        self.classes = tuple(classes)
        n = min(len(self.classes), BARS)
        self.plot.setYRange(-0.5, n - 0.5, padding=0)
        self.plot.getAxis("left").setTicks([list(enumerate(self.classes[:n])) if len(self.classes) <= BARS else []])
        self.bars.setOpts(x0=np.zeros(n), y=np.arange(n), width=np.zeros(n), brushes=None, brush=BAR)
        self.shown = np.arange(n)  # the class of each bar, top to bottom
        self.summary.setText("no image yet")

    def show_probs(self, probs: np.ndarray, true_class: int) -> None:
        """Bars for `probs` (the BARS most probable classes, the true one last if it is not among them, when the model
        has more); the predicted class in orange, the true class (if known, -1 if not) in green."""
        top = int(np.argmax(probs))
        shown = np.arange(len(self.classes))
        if len(self.classes) > BARS:
            shown = np.argsort(-np.asarray(probs), kind="stable")[:BARS]
            if 0 <= true_class < len(self.classes) and true_class not in shown:
                shown[-1] = true_class
            self.plot.getAxis("left").setTicks([[(i, self.classes[c]) for i, c in enumerate(shown)]])
        self.shown = shown
        brushes = [pg.mkBrush(BAR) for _ in shown]
        for i, c in enumerate(shown):
            if c == true_class:
                brushes[i] = pg.mkBrush(TRUE)
            elif c == top:
                brushes[i] = pg.mkBrush(PREDICTED)
        self.bars.setOpts(width=np.asarray(probs, dtype=float)[shown], brushes=brushes)
        text = f"predicted <b>{self.classes[top]}</b> ({100 * probs[top]:.1f}%)"
        if 0 <= true_class < len(self.classes):
            verdict = "right" if top == true_class else "wrong"
            text += f" · true {self.classes[true_class]} · <b>{verdict}</b>"
        many = f" · the {BARS} most probable of {len(self.classes):,} classes" if len(self.classes) > BARS else ""
        self.summary.setText(text + f"<br><small>orange: predicted · green: true class{many}</small>")

    def show_unreadable(self, reason: str) -> None:
        """No bars for an image whose file could not be read: the model never saw it."""
        self.bars.setOpts(width=np.zeros(len(self.shown)))
        self.summary.setText(
            f"⚠ this file could not be read, so there is no prediction<br><small>{html.escape(reason)}</small>"
        )
