"""Activations pane: every feature map of the layer as a grid, and the selected map large."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from explorer.gui.colour_bars import ACTIVATION_LABEL, viridis
from explorer.gui.imaging import ACTIVATION_TEXT, activation_grid, cell_at, colorize, grid_shape, overlay
from explorer.gui.panes.export_button import export_button, footer
from explorer.gui.panes.pixel_view import PixelView

COLS = 8
PAD = 1


class ActivationsPane(QWidget):
    feature_selected = Signal(int)
    wheel_scrolled = Signal(int)
    export_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = PixelView("feature maps")
        self.large = PixelView("selected feature")
        self.grid.setMinimumSize(240, 150)
        self.large.setMinimumSize(120, 120)
        self.overlay_box = QCheckBox("overlay on image")
        rule = QLabel(ACTIVATION_TEXT + " Click a map to select it.")
        rule.setWordWrap(True)
        self._highlight = pg.QtWidgets.QGraphicsRectItem()
        self._highlight.setPen(pg.mkPen("r", width=0))
        self._highlight.setZValue(10)
        self.grid.view_box.addItem(self._highlight)
        # The grid stays while scrubbing moves the frame: keep it drawn at screen size, not redrawn each time.
        self.grid.image_item.setCacheMode(pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._maps: np.ndarray | None = None
        self._image: np.ndarray | None = None
        self._vmax = 0.0
        self._layer = ""
        self._feature = 0
        self._drawn = False  # the large view shows self._feature of the maps held

        views = QHBoxLayout()
        views.addWidget(self.grid, 3)
        right = QVBoxLayout()
        right.addWidget(self.large, 1)
        right.addWidget(self.overlay_box)
        views.addLayout(right, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(views, 1)
        self.export = export_button("Export every activation map of this image (PNG, SVG or PDF)")
        layout.addLayout(footer(rule, self.export))
        self.export.clicked.connect(self.export_requested)

        self.grid.clicked.connect(self._on_grid_clicked)
        self.grid.wheel_scrolled.connect(self.wheel_scrolled)
        self.large.wheel_scrolled.connect(self.wheel_scrolled)
        self.overlay_box.toggled.connect(self._on_overlay_box_toggled)

    def show_maps(self, layer: str, maps: np.ndarray, image: np.ndarray) -> None:
        """Show the layer's maps [C, h, w] for `image` (uint8 [32, 32, 3])."""
        self._layer, self._maps, self._image = layer, maps, image
        rgb, self._vmax = activation_grid(maps, COLS, PAD)
        self.grid.set_image(rgb)
        self.grid.set_colour_bar(viridis(), 0.0, self._vmax, ACTIVATION_LABEL)
        self.large.set_colour_bar(viridis(), 0.0, self._vmax, ACTIVATION_LABEL)
        self.grid.set_title(f"{layer}: features 0–{len(maps) - 1} (max activation {self._vmax:.3g})")
        self._drawn = False
        self.select(self._feature)

    def select(self, feature: int) -> None:
        """Highlight `feature` in the grid and show its map large (nothing to do when it already is)."""
        if feature == self._feature and self._drawn:
            return
        self._feature = feature
        self._drawn = False
        if self._maps is None or not 0 <= feature < len(self._maps):
            self._highlight.hide()
            return
        h, w = self._maps.shape[1:]
        _, cols = grid_shape(len(self._maps), COLS)
        r, c = divmod(feature, cols)
        self._highlight.setRect(QRectF(c * (w + PAD) - 0.5, r * (h + PAD) - 0.5, w + 1, h + 1))
        self._highlight.show()
        self._show_large()
        self._drawn = True

    def _show_large(self) -> None:
        assert self._maps is not None and self._image is not None
        amap = self._maps[self._feature]
        if self.overlay_box.isChecked():
            self.large.set_image(overlay(self._image, amap, self._vmax))
        else:
            self.large.set_image(colorize(amap, self._vmax))
        self.large.set_title(f"{self._layer} feature {self._feature}: max {float(amap.max()):.3g}")

    def _on_grid_clicked(self, x: float, y: float) -> None:
        if self._maps is None:
            return
        hit = cell_at(x, y, self._maps.shape[1:], COLS, len(self._maps), PAD)
        if hit is not None:
            self.feature_selected.emit(hit)

    def _on_overlay_box_toggled(self, _checked: bool) -> None:
        if self._maps is not None:
            self._show_large()
