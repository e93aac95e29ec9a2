"""A light vertical colour bar: a colour map from low (bottom) to high (top), round values, a label.

pyqtgraph's ColorBarItem is a whole plot (a view box, four axes) whose value axis re-runs its generic
tick layout on every new scale; the window relabels up to three bars per feature step, and that was
the biggest part of a scrub step's painting. This item draws the same things from a cached picture
of itself and redraws only its own column when its scale changes.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFontMetricsF, QImage, QPainter, QPixmap, QStaticText
from PySide6.QtWidgets import QGraphicsItem, QGraphicsSceneResizeEvent, QSizePolicy

BAR_W = 12  # the coloured strip, px
TICK_LEN = 4
GAP = 3
MIN_TICK_GAP = 2.5  # tick labels at least this many text heights apart


def nice_ticks(low: float, high: float, most: int) -> tuple[list[float], str]:
    """Round values in [low, high], at most `most` (>= 2) of them, spaced 1, 2 or 5 x 10^k (the ends
    themselves where fewer than two fit inside), and a format that prints each distinctly."""
    span = high - low
    if not (span > 0 and math.isfinite(span)):
        return [low], "{:.3g}"
    raw = span / max(1, most - 1)
    unit = 10.0 ** math.floor(math.log10(raw))
    step = next(m * unit for m in (1, 2, 5, 10) if m * unit >= raw * (1 - 1e-9))
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    values = [i * step for i in range(first, last + 1)]
    if len(values) < 2:  # no two round values inside (e.g. 0.11 to 0.19): label the ends themselves
        values, step = [low, high], span
    return values, _format(max(abs(low), abs(high)), step)


def _format(biggest: float, step: float) -> str:
    """Fixed decimals down to the spacing's leading digit for everyday scales, else as many significant
    digits as reach from the largest value down to it: neighbours never print alike."""
    places = -math.floor(math.log10(step))
    if places <= 4 and biggest < 1e5:
        return f"{{:.{max(0, places)}f}}"
    return f"{{:.{max(1, math.floor(math.log10(biggest)) + places + 1)}g}}"


class ColourBar(pg.GraphicsWidget):
    """The scale of a picture beside it: `colour_map` from `low` (bottom) to `high` (top), labelled."""

    def __init__(self, colour_map: pg.ColorMap, low: float, high: float, label: str) -> None:
        super().__init__()
        # Painted once per scale: moving or repainting the picture beside it replays the cached pixels.
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self._pen = pg.mkPen(pg.getConfigOption("foreground"))
        self._fm = QFontMetricsF(self.font())
        self._low, self._high, self._label = low, high, label
        self._text_w = self._fm.horizontalAdvance("-0.000")  # grows, never shrinks
        self._texts: dict[str, QStaticText] = {}  # laid-out tick labels, by text
        self._strip = QPixmap()
        self._ticks: list[tuple[float, str, float]] = []
        self.set_colour_map(colour_map)
        self.setMinimumHeight(3 * self._fm.height())
        self._relayout()

    def levels(self) -> tuple[float, float]:
        return self._low, self._high

    def label(self) -> str:
        return self._label

    def set_colour_map(self, colour_map: pg.ColorMap) -> None:
        lut = np.ascontiguousarray(colour_map.getLookupTable(nPts=256, alpha=True)[::-1, None, :])  # top row: high
        image = QImage(lut.data, 1, 256, 4, QImage.Format.Format_RGBA8888)
        self._strip = QPixmap.fromImage(image.copy())
        self.update()

    def set_levels(self, low: float, high: float) -> None:
        self._low, self._high = low, high
        self._relayout()

    def set_label(self, label: str) -> None:
        self._label = label
        self._relayout()

    def strip(self) -> QRectF:
        """The coloured strip, in this item's coordinates: `high` at its top edge, `low` at its bottom."""
        half = self._fm.height() / 2  # room for the end labels' halves
        bottom = max(half + 1, self.size().height() - half)
        return QRectF(self._fm.height() + GAP, half, BAR_W, bottom - half)  # the rotated label's line at left

    def ticks(self) -> list[tuple[float, str, float]]:
        """(value, text, y in this item) of each labelled tick, for the current size."""
        return list(self._ticks)

    def _relayout(self) -> None:
        """Ticks, their labels and this item's width for the current scale and height; then a repaint."""
        strip = self.strip()
        top, bottom = strip.top(), strip.bottom()
        most = max(2, int((bottom - top) / (MIN_TICK_GAP * self._fm.height())) + 1)
        values, form = nice_ticks(self._low, self._high, most)
        span = self._high - self._low
        self._ticks = []
        for v in values:
            y = bottom - (v - self._low) / span * (bottom - top) if span > 0 else bottom
            text = form.format(v)
            self._ticks.append((v, "0" if float(text) == 0 else text, y))
        widest = max(self._fm.horizontalAdvance(text) for _, text, _ in self._ticks)
        self._text_w = max(self._text_w, widest)
        self._shown_label = self._fm.elidedText(self._label, Qt.TextElideMode.ElideRight, bottom - top)
        width = math.ceil(strip.right() + TICK_LEN + GAP + self._text_w + 1)
        if width != self.minimumWidth():
            self.setMinimumWidth(width)
            self.setMaximumWidth(width)
        self.update()

    def resizeEvent(self, ev: QGraphicsSceneResizeEvent) -> None:
        super().resizeEvent(ev)
        self._relayout()  # more height can mean more ticks, and wider labels

    def _static(self, text: str) -> QStaticText:
        if text not in self._texts:
            if len(self._texts) > 256:
                self._texts.clear()
            self._texts[text] = QStaticText(text)
        return self._texts[text]

    def paint(self, p: QPainter, *_args: object) -> None:
        bar = self.strip()
        p.drawPixmap(bar, self._strip, QRectF(self._strip.rect()))
        p.setPen(self._pen)
        p.setFont(self.font())
        p.drawRect(bar)
        half = self._fm.height() / 2
        for _, text, y in self._ticks:
            p.drawLine(QPointF(bar.right(), y), QPointF(bar.right() + TICK_LEN, y))
            p.drawStaticText(QPointF(bar.right() + TICK_LEN + GAP, y - half), self._static(text))
        p.save()
        p.translate(0, bar.center().y())
        p.rotate(-90)
        box = QRectF(-bar.height() / 2, 0, bar.height(), self._fm.height())
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, self._shown_label)
        p.restore()
