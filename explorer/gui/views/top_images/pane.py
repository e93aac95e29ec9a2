"""Top images: the selected feature's top-k patches beside their projections, and every feature's best patches.

As in Zeiler & Fergus's Figure 2: each patch is the image under the receptive field of the
feature's strongest activation, beside the deconvnet projection of that one activation, cut to
the same box; patches are enlarged by whole pixels (nearest neighbour).
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from explorer.gui.imaging import PAD, PROJECTION_TEXT, best_cols, cell_at, enlarge, framed_grid
from explorer.gui.panes.export_button import export_button, footer
from explorer.gui.panes.pixel_view import PixelView

TILE = 28  # patches are enlarged to about this many pixels a side before the layout
OVERVIEW_COLS = 8  # until the view has a size to fit
MIN_PATCH_PX = 24  # the overview's patches are never drawn smaller than this on screen: it scrolls instead
TITLE_PX = 24  # room for a PixelView's title and margins
RULE = (
    "Each pair: the patch under the receptive field of the feature's strongest activation in that image, then "
    "the deconvnet projection (through the max-pool switches) of that one activation, as Zeiler & Fergus show "
    "them. The Projection pane's options do not apply here."
)


class ResizingScrollArea(QScrollArea):
    resized = Signal()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.resized.emit()


def zoom_for(side: int) -> int:
    return max(1, TILE // max(side, 1))


def side_by_side(tiles: np.ndarray) -> np.ndarray:
    """[n, m, h, w, 3] -> [n, h, m*w + (m-1), 3]: each row of m tiles in a line, 1 white pixel apart."""
    n, m, h, w = tiles.shape[:4]
    out = np.ones((n, h, m * (w + 1) - 1, 3), np.float32)
    for j in range(m):
        out[:, :, j * (w + 1) : j * (w + 1) + w] = tiles[:, j]
    return out


class TopImagesPane(QWidget):
    scan_requested = Signal(int)  # k
    cancel_requested = Signal()
    k_changed = Signal(int)
    image_selected = Signal(int)
    feature_selected = Signal(int)
    wheel_scrolled = Signal(int)
    export_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.k = QSpinBox()
        self.k.setRange(1, 64)
        self.k.setValue(9)
        self.k.setPrefix("k = ")
        self.k.setToolTip("How many top images to keep per feature")
        self.find = QPushButton("Find top images")
        self.find.setToolTip("Scan the whole data set for each feature's top k images, both layers at once")
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m")
        self.progress.setMinimumWidth(140)
        self.progress.hide()
        self.cancel = QPushButton("Cancel")
        self.cancel.hide()
        self.note = QLabel("No scan yet for these images and this model: press Find top images.")
        self.note.setWordWrap(True)
        self.feature_view = PixelView()
        self.overview = PixelView()
        self.feature_view.setToolTip("Click a pair to open its image")
        self.overview.setToolTip("Click a feature to select it")
        self.rule = rule = QLabel(RULE)
        rule.setToolTip(PROJECTION_TEXT)
        rule.setWordWrap(True)

        controls = QHBoxLayout()
        for w in (self.k, self.find, self.progress, self.cancel):
            controls.addWidget(w)
        controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.note)
        self.overview_scroll = ResizingScrollArea()
        self.overview_scroll.setWidgetResizable(True)
        self.overview_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.overview_scroll.setWidget(self.overview)
        views = QSplitter(Qt.Orientation.Vertical)
        views.addWidget(self.feature_view)
        views.addWidget(self.overview_scroll)
        self.feature_view.setMinimumHeight(100)  # the selected feature's pairs: never squeezed out by the overview
        self.overview_scroll.setMinimumHeight(40)  # the pane shares a dock tab: it must not make the window taller
        views.setStretchFactor(0, 1)
        views.setStretchFactor(1, 1)
        layout.addWidget(views, 1)
        self.export = export_button("Export the top images of 16 features from the selected one (PNG, SVG or PDF)")
        layout.addLayout(footer(rule, self.export))

        self.find.clicked.connect(lambda: self.scan_requested.emit(self.k.value()))
        self.cancel.clicked.connect(self.cancel_requested)
        self.export.clicked.connect(self.export_requested)
        self.k.valueChanged.connect(self.k_changed)
        self.feature_view.clicked.connect(self._on_feature_view_clicked)
        self.overview.clicked.connect(self._on_overview_clicked)
        self.feature_view.wheel_scrolled.connect(self.wheel_scrolled)
        self.overview.wheel_scrolled.connect(self.wheel_scrolled)
        self.feature_view.view_box.sigResized.connect(self._draw_pairs)
        self.overview_scroll.resized.connect(self._draw_overview)
        self.indices: tuple[int, ...] = ()  # the images of the pairs shown
        self.patches = np.zeros((0, 1, 1, 3), np.float32)
        self.projections = np.zeros((0, 1, 1, 3), np.float32)
        self.pair_cols = 1  # as laid out now: the grids re-flow to fill their views
        self.overview_cols = OVERVIEW_COLS
        self._pairs = np.zeros((0, 1, 1, 3), np.float32)  # each pair enlarged, patch then projection
        self._cells = np.zeros((0, 1, 1, 3), np.float32)  # each feature's best patches enlarged, in a line
        self._selected = 0

    # Scanning ------------------------------------------------------------------------------------

    def set_scanning(self, scanning: bool) -> None:
        self.find.setEnabled(not scanning)
        self.k.setEnabled(not scanning)
        self.cancel.setVisible(scanning)
        self.cancel.setEnabled(scanning)
        self.progress.setVisible(scanning)
        if scanning:
            self.progress.setRange(0, 0)  # unknown until the first batch reports
            self.show_note("Scanning every image; the other panes keep working meanwhile.")

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def show_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    # Pictures ------------------------------------------------------------------------------------

    def show_pairs(self, title: str, indices: tuple[int, ...], patches: np.ndarray, projections: np.ndarray) -> None:
        """Show each patch ([k, s, s, 3] in [0, 1]) beside its projection."""
        self.indices, self.patches, self.projections = indices, patches, projections
        self._pairs = side_by_side(enlarge(np.stack([patches, projections], axis=1), zoom_for(patches.shape[1])))
        self.feature_view.set_title(title)
        self._draw_pairs(force=True)

    def show_overview(self, title: str, patches: np.ndarray, selected: int) -> None:
        """Every feature's best patches ([C, n, s, s, 3]) in a line, features in a grid; click one to select it."""
        self._cells = side_by_side(enlarge(patches, zoom_for(patches.shape[2])))
        self.overview.set_title(title)
        self.select(selected)

    def select(self, feature: int) -> None:
        """Frame `feature` in the overview."""
        self._selected = feature
        self._draw_overview(force=True)

    def clear(self) -> None:
        self.indices = ()
        self.patches, self.projections = self.patches[:0], self.projections[:0]
        self._pairs = self._pairs[:0]
        self._cells = self._cells[:0]
        for view in (self.feature_view, self.overview):
            view.clear_picture()
            view.set_title("")

    def _draw_pairs(self, *_args: object, force: bool = False) -> None:
        cols = _fit(self.feature_view, self._pairs, math.ceil(math.sqrt(max(len(self._pairs), 1))))
        if len(self._pairs) and (force or cols != self.pair_cols):
            self.pair_cols = cols
            self.feature_view.set_image(framed_grid(self._pairs, cols))

    def _draw_overview(self, *_args: object, force: bool = False) -> None:
        """Fill the visible area if the patches stay readable there; else fit the width and scroll down."""
        if not len(self._cells):
            return
        area = self.overview_scroll.viewport()
        h, w = self._cells.shape[1:3]
        area_h, area_w = max(area.height() - TITLE_PX, 1), max(area.width() - 4, 1)
        cols = best_cols(len(self._cells), (h, w), (area_h, area_w), OVERVIEW_COLS)
        height = 0  # fill the area
        if area_w >= 10 and _scale(len(self._cells), (h, w), cols, (area_h, area_w)) * h < MIN_PATCH_PX:
            scale = MIN_PATCH_PX / h
            cols = max(1, min(len(self._cells), int(area_w / scale - PAD) // (w + PAD)))
            rows = -(-len(self._cells) // cols)
            height = math.ceil((rows * (h + PAD) + PAD) * scale) + TITLE_PX
        self.overview.setMinimumHeight(height)
        if force or cols != self.overview_cols:
            self.overview_cols = cols
            self.overview.set_image(framed_grid(self._cells, cols, self._selected))

    def _on_feature_view_clicked(self, x: float, y: float) -> None:
        hit = cell_at(x - PAD, y - PAD, self._pairs.shape[1:3], self.pair_cols, len(self._pairs), PAD)
        if hit is not None and hit < len(self.indices):
            self.image_selected.emit(self.indices[hit])

    def _on_overview_clicked(self, x: float, y: float) -> None:
        hit = cell_at(x - PAD, y - PAD, self._cells.shape[1:3], self.overview_cols, len(self._cells), PAD)
        if hit is not None:
            self.feature_selected.emit(hit)


def _scale(count: int, cell: tuple[int, int], cols: int, area: tuple[float, float]) -> float:
    """Screen pixels per picture pixel of a framed_grid of `count` cells in `cols` columns shown in `area` (h, w)."""
    rows = -(-count // cols)
    return min(area[1] / (cols * (cell[1] + PAD) + PAD), area[0] / (rows * (cell[0] + PAD) + PAD))


def _fit(view: PixelView, cells: np.ndarray, fallback: int) -> int:
    size = view.view_box.size()
    return best_cols(len(cells), cells.shape[1:3], (size.height(), size.width()), fallback)
