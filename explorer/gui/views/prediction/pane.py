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


ALL_UP_TO = 20  # a model with up to this many classes shows a bar for each
TOP = 5  # one with more shows its five most probable, with their probabilities (and the true class)
NAME_CHARS = 22  # a longer class name is shortened on its bar (the tooltip of the summary has it whole)


class PredictionPane(QWidget):
    def __init__(self, classes: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes = tuple(classes)
        self.summary = QLabel("no image yet")
        self.summary.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMenuEnabled(False)
        self.plot.setMinimumHeight(
            170
        )  # ten class names, one above the other, never printed over each other (more: set_classes)
        self.plot.hideButtons()
        self.plot.setXRange(0, 1, padding=0.02)
        # Three ticks: in a pane narrowed by long class names, pyqtgraph's 0.2 steps ran into "0.20.40.60.8".
        self.plot.getAxis("bottom").setTicks([[(0.0, "0"), (0.5, "0.5"), (1.0, "1")]])
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
        """The open model's classes: one bar each, or the TOP most probable of a model with more than ALL_UP_TO (a new
        model may have others)."""
        self.classes = tuple(classes)
        n = len(self.classes) if len(self.classes) <= ALL_UP_TO else TOP + 1
        self.plot.setMinimumHeight(max(170, 15 * n))  # a line of text a bar
        self.plot.setYRange(-0.5, n - 0.5, padding=0)
        many = len(self.classes) > ALL_UP_TO
        self.plot.getAxis("left").setTicks([[] if many else [(i, _short(c)) for i, c in enumerate(self.classes)]])
        self.bars.setOpts(x0=np.zeros(n), y=np.arange(n), width=np.zeros(n), brushes=None, brush=BAR)
        self.shown = np.arange(0 if many else n)  # the class of each bar, top to bottom
        self.summary.setText("no image yet")

    def show_probs(self, probs: np.ndarray, true_class: int) -> None:
        """Bars for `probs` (for a model of more than ALL_UP_TO classes, the TOP most probable with their
        probabilities, and the true class below them when it is not among them); the predicted class in orange, the
        true class (if known, -1 if not) in green."""
        probs = np.asarray(probs, dtype=float)
        top = int(np.argmax(probs))
        known = 0 <= true_class < len(self.classes)
        shown = np.arange(len(self.classes))
        if len(self.classes) > ALL_UP_TO:
            shown = np.argsort(-probs, kind="stable")[:TOP]
            if known and true_class not in shown:
                shown = np.append(shown, true_class)
            ticks = [(i, f"{_short(self.classes[c])}  {100 * probs[c]:.1f}%") for i, c in enumerate(shown)]
            self.plot.getAxis("left").setTicks([ticks])
        self.shown = shown
        brushes = [pg.mkBrush(BAR) for _ in shown]
        for i, c in enumerate(shown):
            if c == true_class:
                brushes[i] = pg.mkBrush(TRUE)
            elif c == top:
                brushes[i] = pg.mkBrush(PREDICTED)
        self.bars.setOpts(x0=np.zeros(len(shown)), y=np.arange(len(shown)), width=probs[shown], brushes=brushes)
        text = f"predicted <b>{html.escape(self.classes[top])}</b> ({100 * probs[top]:.1f}%)"
        if known:
            verdict = "right" if top == true_class else "wrong"
            text += f" · true {html.escape(self.classes[true_class])} · <b>{verdict}</b>"
        many = ""
        if len(self.classes) > ALL_UP_TO:
            many = f" · the {TOP} most probable of {len(self.classes):,} classes"
            if known and len(shown) > TOP:
                many += f", then the true class (rank {int((probs > probs[true_class]).sum()) + 1:,})"
        self.summary.setText(text + f"<br><small>orange: predicted · green: true class{many}</small>")

    def show_unreadable(self, reason: str) -> None:
        """No bars for an image whose file could not be read: the model never saw it."""
        self.bars.setOpts(width=np.zeros(len(np.atleast_1d(self.bars.opts["y"]))))
        if len(self.classes) > ALL_UP_TO:
            self.plot.getAxis("left").setTicks([[]])  # no names of another image's classes
        self.summary.setText(
            f"⚠ this file could not be read, so there is no prediction<br><small>{html.escape(reason)}</small>"
        )


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"
