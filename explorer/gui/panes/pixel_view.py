"""A picture view: nearest-neighbour pixels, aspect locked; reports clicks and wheel steps.

The wheel scrubs (the window turns it into feature steps); with Ctrl held it zooms about the
mouse, Ctrl+drag pans, and a right click shows the whole picture again. An optional colour bar
beside the picture states its scale.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QGraphicsView, QWidget

from explorer.gui.panes.colour_bar import ColourBar
from explorer.gui.panes.fitted_text import TITLE_PT, FittedTitle

ZOOM_STEP = 1.25  # per wheel notch with Ctrl held
ZOOM_MODIFIER = Qt.KeyboardModifier.ControlModifier


class PixelView(FittedTitle, pg.GraphicsLayoutWidget):
    """Shows one float RGB [H, W, 3] picture in [0, 1] with fixed levels, under an optional title."""

    clicked = Signal(float, float)  # picture coordinates (x right, y down)
    wheel_scrolled = Signal(int)  # +1 / -1 per wheel notch

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ci.layout.setContentsMargins(2, 2, 2, 2)
        # One rectangle around what changed, not the exact region: a new picture and a new scale are two
        # areas apart, and painting both through a two-part clip measured slower than their bounding box.
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)
        self.title = self.addLabel("", row=0, col=0, colspan=2, size=f"{TITLE_PT}pt")  # over picture and bar
        self.set_title(title)  # shortened to the view's width (FittedTitle)
        self.view_box = self.addViewBox(
            row=1, col=0, lockAspect=True, invertY=True, enableMouse=False, enableMenu=False, defaultPadding=0
        )
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.view_box.addItem(self.image_item)
        self.colour_bar: ColourBar | None = None
        self._bar_key: tuple[object, ...] = ()
        self._shape: tuple[int, ...] = ()
        self._pan_from: QPointF | None = None
        self.scene().sigMouseClicked.connect(self._on_scene_clicked)

    def _title_label(self) -> pg.LabelItem:
        return self.title

    def set_image(self, rgb: np.ndarray) -> None:
        self.image_item.setImage(rgb, levels=(0.0, 1.0), autoLevels=False)
        if rgb.shape != self._shape:
            self._shape = rgb.shape
            self.reset_zoom()

    def reset_zoom(self) -> None:
        """Show the whole picture."""
        if len(self._shape) >= 2:
            self.view_box.setRange(xRange=(0, self._shape[1]), yRange=(0, self._shape[0]), padding=0)

    def set_colour_bar(self, colour_map: pg.ColorMap, low: float, high: float, label: str) -> None:
        """A bar beside the picture from `low` to `high` in `colour_map`, labelled with what it measures."""
        key = (id(colour_map), low, high, label)  # exact: a rounded key hid changes of tiny scales
        if key == self._bar_key:
            return
        previous, self._bar_key = self._bar_key, key
        if self.colour_bar is None:
            self.colour_bar = ColourBar(colour_map, low, high, label)
            self.addItem(self.colour_bar, row=1, col=1)
            return
        # Only what changed: a new scale redraws the bar's own column, nothing else of the view.
        if previous[0] != id(colour_map):
            self.colour_bar.set_colour_map(colour_map)
        if previous[1:3] != key[1:3]:
            self.colour_bar.set_levels(low, high)
        if previous[3] != label:
            self.colour_bar.set_label(label)

    def remove_colour_bar(self) -> None:
        """Take the colour bar out, giving its room back to the picture (the next set_colour_bar adds one)."""
        if self.colour_bar is not None:
            self.removeItem(self.colour_bar)
            self.colour_bar = None
            self._bar_key = ()

    def clear_picture(self) -> None:
        """Take the picture out (the title stays); the next set_image shows again.

        Not named `clear`: that is GraphicsLayoutWidget.clear, which empties the layout for good.
        """
        self.image_item.clear()
        self._shape = ()

    def wheelEvent(self, ev: QWheelEvent) -> None:
        dy = ev.angleDelta().y()
        if dy and ev.modifiers() & ZOOM_MODIFIER:
            centre = self.view_box.mapSceneToView(self.mapToScene(ev.position().toPoint()))
            factor = ZOOM_STEP ** (-dy / 120)  # towards the user (dy > 0) zooms in, one step per notch
            self.view_box.scaleBy((factor, factor), center=centre)
        elif dy:
            self.wheel_scrolled.emit(1 if dy < 0 else -1)
        ev.accept()

    def mousePressEvent(self, ev: QMouseEvent) -> None:
        if ev.button() == Qt.MouseButton.RightButton:
            self.reset_zoom()
            ev.accept()
            return
        if ev.button() == Qt.MouseButton.LeftButton and ev.modifiers() & ZOOM_MODIFIER:
            self._pan_from = ev.position()
            ev.accept()
            return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev: QMouseEvent) -> None:
        if self._pan_from is not None:
            here = self.view_box.mapSceneToView(self.mapToScene(ev.position().toPoint()))
            before = self.view_box.mapSceneToView(self.mapToScene(self._pan_from.toPoint()))
            self.view_box.translateBy(x=before.x() - here.x(), y=before.y() - here.y())
            self._pan_from = ev.position()
            ev.accept()
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            ev.accept()
            return
        super().mouseReleaseEvent(ev)

    def _on_scene_clicked(self, ev: object) -> None:
        if self.image_item.image is None or ev.button() != Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            return
        pos: QPointF = self.image_item.mapFromScene(ev.scenePos())  # type: ignore[attr-defined]
        self.clicked.emit(pos.x(), pos.y())
