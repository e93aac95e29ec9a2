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


class FittedTitle:
    """For a pyqtgraph view with a title label: shows `_title` shortened to the room it has, refitted on
    resize, the whole title in its tooltip. Mixed in before the view class."""

    _title: str = ""

    def title_text(self) -> str:
        """The whole title, as set (it may show shortened with "…" when the view is narrow)."""
        return self._title

    def set_title(self, text: str) -> None:
        if text != self._title:  # a label's layout is dear: scrubbing often repeats the title
            self._title = text
            self._fit_title()

    def _title_label(self) -> pg.LabelItem:
        raise NotImplementedError

    def _title_room(self) -> int:
        return self.width()  # type: ignore[attr-defined]

    def _fit_title(self) -> None:
        label = self._title_label()
        shown = elided(self._title, self, self._title_room())  # type: ignore[arg-type]
        if shown != label.text:
            label.setText(shown, size=f"{TITLE_PT}pt")
            central = self.centralWidget  # type: ignore[attr-defined]
            if central.geometry().width() > self.range.width():  # type: ignore[attr-defined]
                central.setGeometry(self.range)  # type: ignore[attr-defined]  # the width a longer title forced
        tip = self._title if shown != self._title else ""
        if label.toolTip() != tip:
            label.setToolTip(tip)

    def resizeEvent(self, ev: QResizeEvent) -> None:
        if self._title_label_ready() and not self.closed:  # type: ignore[attr-defined]  # not while built, nor once closed
            self._fit_title()
        super().resizeEvent(ev)  # type: ignore[misc]

    def _title_label_ready(self) -> bool:
        try:
            self._title_label()
        except AttributeError:
            return False
        return True


class FittedPlot(FittedTitle, pg.PlotWidget):
    """A plot whose title is shortened to its plot area's width."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.getPlotItem().setTitle("", size=f"{TITLE_PT}pt")  # shows the title row
        self.set_title(title)

    def _title_label(self) -> pg.LabelItem:
        return self.getPlotItem().titleLabel

    def _title_room(self) -> int:
        item = self.getPlotItem()
        axes = sum(item.getAxis(side).width() for side in ("left", "right") if item.getAxis(side).isVisible())
        return self.width() - int(axes)  # the title spans the plot area only
