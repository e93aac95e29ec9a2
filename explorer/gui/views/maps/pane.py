"""Activations pane: every feature map of the layer as a grid, and the selected map large.

The grid fits its columns to the pane (`fit_columns`): a layer whose maps all show at a readable size shows whole,
in COLS columns where they fill the width; a bigger layer shows at MIN_MAP_PX or more a map, as wide as the pane,
and scrolls (the bar beside it), keeping the selected map in view. A feature change moves the frame and, when the
map is out of view, the view: the grid's picture is drawn again only for a new image, layer or column count.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QScrollBar, QVBoxLayout, QWidget

from explorer.gui.colour_bars import ACTIVATION_LABEL, viridis
from explorer.gui.imaging import (
    ACTIVATION_TEXT,
    activation_tiles,
    cell_at,
    colorize,
    fit_columns,
    grid_shape,
    mosaic,
    overlay,
)
from explorer.gui.panes.export_button import export_button, footer
from explorer.gui.panes.pixel_view import PixelView

COLS = 8  # the grid's columns wherever they show every map across the pane's width
PAD = 1
MIN_MAP_PX = 24  # the smallest a map is drawn on screen before the grid scrolls instead


class GridView(PixelView):
    """The grid's view: showing "the whole picture" (a right click, a new shape) asks the pane what that is."""

    home_requested = Signal()

    def reset_zoom(self) -> None:
        super().reset_zoom()
        self.home_requested.emit()


class ActivationsPane(QWidget):
    feature_selected = Signal(int)
    wheel_scrolled = Signal(int)
    export_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = GridView("feature maps")
        self.scroll_bar = QScrollBar(Qt.Orientation.Vertical)
        self.scroll_bar.setToolTip("Scroll the feature maps (the wheel over the grid steps the selected feature)")
        self.scroll_bar.hide()  # shown only while the grid is taller than its view
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
        self._tiles: np.ndarray | None = None  # the maps coloured on their shared scale, [C, h, w, 3]
        self._image: np.ndarray | None = None
        self._vmax = 0.0
        self._layer = ""
        self._feature = 0
        self._drawn = False  # the large view shows self._feature of the maps held
        self.columns = COLS  # of the grid on screen
        self.scrolls = False  # whether the grid is taller than its view

        grid_row = QHBoxLayout()
        grid_row.setSpacing(0)  # the bar's width is all the grid gives up for it
        grid_row.addWidget(self.grid, 1)
        grid_row.addWidget(self.scroll_bar)
        views = QHBoxLayout()
        views.addLayout(grid_row, 3)
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
        self.grid.home_requested.connect(self._on_grid_home_requested)
        self.grid.view_box.sigResized.connect(self._on_grid_resized)
        self.grid.view_box.sigRangeChanged.connect(self._on_grid_range_changed)
        self.scroll_bar.valueChanged.connect(self._on_scroll_bar_value_changed)
        self.large.wheel_scrolled.connect(self.wheel_scrolled)
        self.overlay_box.toggled.connect(self._on_overlay_box_toggled)

    def show_maps(self, layer: str, maps: np.ndarray, image: np.ndarray) -> None:
        """Show the layer's maps [C, h, w] for `image` (uint8 [32, 32, 3])."""
        self._layer, self._maps, self._image = layer, maps, image
        self._tiles, self._vmax = activation_tiles(maps)
        self.grid.set_colour_bar(viridis(), 0.0, self._vmax, ACTIVATION_LABEL)
        self.large.set_colour_bar(viridis(), 0.0, self._vmax, ACTIVATION_LABEL)
        self.grid.set_title(f"{layer}: features 0–{len(maps) - 1} (max activation {self._vmax:.3g})")
        self._drawn = False
        self._fit(redraw=True)
        self.select(self._feature)

    def show_message(self, text: str) -> None:
        """No maps, and why (an image that could not be read, a new model's pass on its way)."""
        self._maps = self._tiles = self._image = None
        self._drawn = False
        for view in (self.grid, self.large):
            view.clear_picture()
            view.remove_colour_bar()
        self._highlight.hide()
        self.scroll_bar.hide()
        self.grid.set_title(text)
        self.large.set_title("selected feature")

    def select(self, feature: int) -> None:
        """Frame `feature` in the grid, scrolled into view, and show its map large (nothing to do when it is)."""
        if feature == self._feature and self._drawn:
            return
        self._feature = feature
        self._drawn = False
        if self._maps is None or not 0 <= feature < len(self._maps):
            self._highlight.hide()
            return
        self._place_frame()
        self._highlight.show()
        self._keep_in_view(self.cell_rect(self._feature))
        self._show_large()
        self._drawn = True

    def cell_rect(self, feature: int) -> QRectF:
        """Where map `feature` lies in the grid's picture (picture pixels, y down)."""
        assert self._maps is not None
        h, w = self._maps.shape[1:]
        r, c = divmod(feature, grid_shape(len(self._maps), self.columns)[1])
        return QRectF(c * (w + PAD), r * (h + PAD), w, h)

    def _fit(self, redraw: bool = False) -> None:
        """Fit the grid's columns to its view; draw the picture again only when they change (or `redraw`)."""
        if self._tiles is None:
            return
        count, h, w = self._tiles.shape[:3]
        box = self.grid.view_box
        # Decide as if the scroll bar were away, then take its width off where it will show.
        free_w = box.width() + (self.scroll_bar.width() if self.scroll_bar.isVisible() else 0)
        cols, scrolls = fit_columns(count, (h, w), (box.height(), free_w), COLS, MIN_MAP_PX, PAD)
        if scrolls:
            cols, scrolls = fit_columns(
                count, (h, w), (box.height(), free_w - self.scroll_bar.sizeHint().width()), COLS, MIN_MAP_PX, PAD
            )
        redraw = redraw or cols != self.columns
        self.columns, self.scrolls = cols, scrolls
        self.scroll_bar.setVisible(scrolls)
        if redraw:
            self.grid.set_image(mosaic(self._tiles, cols, PAD))  # a new shape asks for the home range itself
        self._show_home()
        if self._drawn:
            self._place_frame()

    def _picture_size(self) -> tuple[int, int]:
        assert self._tiles is not None
        count, h, w = self._tiles.shape[:3]
        rows, cols = grid_shape(count, self.columns)
        return rows * (h + PAD) - PAD, cols * (w + PAD) - PAD

    def _show_home(self) -> None:
        """The whole grid; or, where it scrolls, its full width at the scroll bar's place, the selection in view."""
        if self._tiles is None or not len(self._tiles):
            return
        box = self.grid.view_box
        pic_h, pic_w = self._picture_size()
        if not self.scrolls or box.width() < 1:
            box.setRange(xRange=(0, pic_w), yRange=(0, pic_h), padding=0)
            return
        span = pic_w * box.height() / box.width()  # picture rows the view holds at full width
        h = self._tiles.shape[1]
        with QSignalBlocker(self.scroll_bar):
            self.scroll_bar.setRange(0, max(0, math.ceil(pic_h - span)))
            self.scroll_bar.setPageStep(max(1, int(span)))
            self.scroll_bar.setSingleStep(h + PAD)
        top = min(max(0.0, float(self.scroll_bar.value())), max(0.0, pic_h - span))
        box.setRange(xRange=(0, pic_w), yRange=(top, top + span), padding=0)
        if self._drawn:
            self._keep_in_view(self.cell_rect(self._feature))

    def _place_frame(self) -> None:
        self._highlight.setRect(self.cell_rect(self._feature).adjusted(-0.5, -0.5, 0.5, 0.5))

    def _keep_in_view(self, rect: QRectF) -> None:
        """Bring `rect` (picture pixels) into the view: scrolled by a row for a step, to the middle for a jump."""
        (x0, x1), (y0, y1) = self.grid.view_box.viewRange()
        pic_h, pic_w = self._picture_size()
        dx = _shift(x0, x1, rect.left(), rect.right(), pic_w)
        dy = _shift(y0, y1, rect.top(), rect.bottom(), pic_h)
        if dx or dy:
            self.grid.view_box.translateBy(x=dx, y=dy)

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
        hit = cell_at(x, y, self._maps.shape[1:], self.columns, len(self._maps), PAD)
        if hit is not None:
            self.feature_selected.emit(hit)

    def _on_grid_home_requested(self) -> None:
        if self._tiles is not None and self._picture_size() == self.grid.image_item.image.shape[:2]:
            self._show_home()

    def _on_grid_resized(self) -> None:
        self._fit()

    def _on_grid_range_changed(self, _box: object, ranges: list[list[float]]) -> None:
        if self.scroll_bar.isVisible():
            with QSignalBlocker(self.scroll_bar):
                self.scroll_bar.setValue(round(ranges[1][0]))

    def _on_scroll_bar_value_changed(self, value: int) -> None:
        top = self.grid.view_box.viewRange()[1][0]
        self.grid.view_box.translateBy(y=value - top)

    def _on_overlay_box_toggled(self, _checked: bool) -> None:
        if self._maps is not None:
            self._show_large()


def _shift(low: float, high: float, start: float, end: float, size: float) -> float:
    """How far to move the span [low, high] of a picture `size` long so that it holds [start, end]: by as little as
    that takes for a step past its edge, to the middle for a jump; 0 when it holds it already (to rounding)."""
    if start >= low - 1e-6 and end <= high + 1e-6:
        return 0.0
    step = 2 * (end - start)
    if low - step <= start and end <= high + step:
        return start - low if start < low else end - high
    span = high - low
    middle = (start + end - span) / 2
    return min(max(middle, min(0.0, size - span)), max(0.0, size - span)) - low
