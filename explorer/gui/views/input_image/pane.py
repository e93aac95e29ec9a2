"""Input image pane: the current image large, with the selected feature's receptive field or an occlusion map over it."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QComboBox, QGraphicsRectItem, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from explorer.gui.panes.pixel_view import PixelView

# The overlay choices, by key: what the combo box lists.
OVERLAYS = {
    "none": "none",
    "field": "receptive field",
    "occlusion_prob": "occlusion: p(class)",
    "occlusion_feature": "occlusion: feature map sum",
}
HEAT_OPACITY = 0.65  # the image stays visible under the occlusion map


class InputImagePane(QWidget):
    overlay_changed = Signal(str)  # a key of OVERLAYS
    wheel_scrolled = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = PixelView("input image")
        self.view.setMinimumSize(120, 120)
        self.overlay = QComboBox()
        for key, text in OVERLAYS.items():
            self.overlay.addItem(text, key)
        self.overlay.setCurrentIndex(self.overlay.findData("field"))
        self.overlay.setToolTip("What to draw over the image")
        # Sized to a short text, not the longest choice: the pane must fit beside Projection at 1024 pixels.
        self.overlay.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.overlay.setMinimumContentsLength(12)
        # The box twice, a dark frame under a bright one, so it shows on light and dark pictures alike.
        self.box_frames = [QGraphicsRectItem(), QGraphicsRectItem()]
        for z, (colour, width) in enumerate((("k", 4), ("y", 2))):
            self.box_frames[z].setPen(pg.mkPen(colour, width=width))
            self.box_frames[z].setZValue(20 + z)
            self.box_frames[z].hide()
            self.view.view_box.addItem(self.box_frames[z])
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat.setOpacity(HEAT_OPACITY)
        self.heat.setZValue(10)
        self.heat.hide()
        self.view.view_box.addItem(self.heat)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        # Room for four lines whatever it says: a caption that grew or shrank by a line with every feature
        # resized the picture above it, the costliest part of a scrub step's painting here.
        self.caption.setMinimumHeight(4 * self.caption.fontMetrics().lineSpacing() + 2)

        row = QHBoxLayout()
        row.addWidget(QLabel("overlay"))
        row.addWidget(self.overlay, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.caption)
        self.overlay.currentIndexChanged.connect(lambda _i: self.overlay_changed.emit(self.overlay_key()))
        self.view.wheel_scrolled.connect(self.wheel_scrolled)

    def overlay_key(self) -> str:
        return str(self.overlay.currentData())

    def show_image(self, title: str, rgb: np.ndarray) -> None:
        """The picture (float RGB [H, W, 3] in [0, 1]) under `title`."""
        self.view.set_title(title)
        self.view.set_image(rgb)

    def clear_image(self, title: str) -> None:
        self.view.set_title(title)
        self.view.clear_picture()

    def show_box(self, box: tuple[int, int, int, int]) -> None:
        """Frame (top, left, bottom, right) in image pixels, ends exclusive."""
        self.heat.hide()
        self.view.remove_colour_bar()
        top, left, bottom, right = box
        for frame in self.box_frames:
            frame.setRect(QRectF(left, top, right - left, bottom - top))
            frame.show()

    def show_heat(
        self, values: np.ndarray, rect: tuple[float, float, float, float], colour_map: pg.ColorMap,
        low: float, high: float, label: str,
    ) -> None:  # fmt: skip
        """`values` [h, w] in `colour_map` from `low` to `high`, laid over the image at rect (x, y, width, height)."""
        for frame in self.box_frames:
            frame.hide()
        self.heat.setImage(values, levels=(low, high if high > low else low + 1e-9), autoLevels=False)
        self.heat.setColorMap(colour_map)
        self.heat.setRect(QRectF(*rect))
        self.heat.show()
        self.view.set_colour_bar(colour_map, low, high, label)

    def clear_overlay(self) -> None:
        """No box, no heat map and no colour bar (the caption says why)."""
        for frame in self.box_frames:
            frame.hide()
        self.heat.hide()
        self.view.remove_colour_bar()

    def box_shown(self) -> tuple[int, int, int, int] | None:
        """The framed box as (top, left, bottom, right), or None when none is shown."""
        frame = self.box_frames[1]
        if not frame.isVisible():
            return None
        r = frame.rect()
        return round(r.top()), round(r.left()), round(r.bottom()), round(r.right())
