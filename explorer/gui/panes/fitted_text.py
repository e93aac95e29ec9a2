"""Titles shortened with "…" to the width they have: a pyqtgraph label wider than its view forces the
view's layout past the view's edge, which cuts off whatever sits beside or below it (colour bars,
axes), and the layout cannot shrink a label below its text."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics, QResizeEvent
from PySide6.QtWidgets import QWidget

TITLE_PT = 9
MARGIN = 16  # the layout's margins and the label's own


def elided(text: str, widget: QWidget, width: int, pt: float = TITLE_PT) -> str:
    """`text` as it fits in `width` pixels at `pt` points of `widget`'s font, cut with "…" if need be."""
    font = QFont(widget.font())
    font.setPointSizeF(pt)
    return QFontMetrics(font).elidedText(text, Qt.TextElideMode.ElideRight, max(24, width - MARGIN))


class FittedPlot(pg.PlotWidget):
    """A plot whose title is shortened to the plot's width; the whole title is its tooltip."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = title
        self._fit_title()

    def title_text(self) -> str:
        return self._title

    def _fit_title(self) -> None:
        item = self.getPlotItem()
        axes = sum(item.getAxis(side).width() for side in ("left", "right") if item.getAxis(side).isVisible())
        shown = elided(self._title, self, self.width() - int(axes))  # the title spans the plot area only
        if shown != item.titleLabel.text:
            item.setTitle(shown, size=f"{TITLE_PT}pt")
            item.setGeometry(self.range)  # the layout kept the width the longer title forced on it
        item.titleLabel.setToolTip(self._title if shown != self._title else "")

    def resizeEvent(self, ev: QResizeEvent) -> None:
        if hasattr(self, "_title") and not self.closed:  # not while the view is built, nor once closed
            self._fit_title()
        super().resizeEvent(ev)
