"""A picture view: nearest-neighbour pixels, aspect locked, no pan or zoom; reports clicks and wheel steps."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QWidget


class PixelView(pg.GraphicsLayoutWidget):
    """Shows one float RGB [H, W, 3] picture in [0, 1] with fixed levels, under an optional title."""

    clicked = Signal(float, float)  # picture coordinates (x right, y down)
    wheel_scrolled = Signal(int)  # +1 / -1 per wheel notch

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ci.layout.setContentsMargins(2, 2, 2, 2)
        self.title = self.addLabel(title, row=0, col=0, size="9pt")
        self.view_box = self.addViewBox(
            row=1, col=0, lockAspect=True, invertY=True, enableMouse=False, enableMenu=False, defaultPadding=0
        )
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image_item)
        self._shape: tuple[int, ...] = ()
        self.scene().sigMouseClicked.connect(self._on_scene_clicked)

    def set_title(self, text: str) -> None:
        if text != self.title.text:  # a label's layout is dear: scrubbing often repeats the title
            self.title.setText(text, size="9pt")

    def set_image(self, rgb: np.ndarray) -> None:
        self.image_item.setImage(rgb, levels=(0.0, 1.0), autoLevels=False)
        if rgb.shape != self._shape:
            self._shape = rgb.shape
            self.view_box.setRange(xRange=(0, rgb.shape[1]), yRange=(0, rgb.shape[0]), padding=0)

    def clear_picture(self) -> None:
        """Take the picture out (the title stays); the next set_image shows again.

        Not named `clear`: that is GraphicsLayoutWidget.clear, which empties the layout for good.
        """
        self.image_item.clear()
        self._shape = ()

    def wheelEvent(self, ev: QWheelEvent) -> None:
        dy = ev.angleDelta().y()
        if dy:
            self.wheel_scrolled.emit(1 if dy < 0 else -1)
        ev.accept()

    def _on_scene_clicked(self, ev: object) -> None:
        if self.image_item.image is None:
            return
        pos: QPointF = self.image_item.mapFromScene(ev.scenePos())  # type: ignore[attr-defined]
        self.clicked.emit(pos.x(), pos.y())
