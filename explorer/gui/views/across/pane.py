"""Feature across images: the selected feature's projection for a page of images, each beside its image."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from explorer.gui.colour_bars import RELATIVE_LABEL, signed_grey
from explorer.gui.imaging import cell_at, pair_mosaic
from explorer.gui.panes.export_button import export_button, footer
from explorer.gui.panes.pixel_view import PixelView

COLS = 4
PAD = 2


class AcrossImagesPane(QWidget):
    image_selected = Signal(int)
    wheel_scrolled = Signal(int)
    export_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = PixelView()
        self.view.setMinimumSize(200, 120)
        self.view.setToolTip("A page of the images the browser's filter shows, around the current image")
        self._page: tuple[int, ...] = ()
        self._tile: tuple[int, int] = (32, 64)
        note = QLabel(
            "Each pair: the image, then the feature's projection (same rule as the projection pane). Click a pair to open it."
        )
        note.setWordWrap(True)
        self.stale = QLabel("stale: this page is for an earlier feature; the present one's is on its way")
        self.stale.setStyleSheet("color: #b35c00; font-weight: bold")
        self.stale.setWordWrap(True)
        self.stale.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.stale)
        layout.addWidget(self.view, 1)
        self.export = export_button("Export this page of images with the feature's projections (PNG, SVG or PDF)")
        layout.addLayout(footer(note, self.export))
        self.export.clicked.connect(self.export_requested)
        self.view.clicked.connect(self._on_view_clicked)
        self.view.wheel_scrolled.connect(self.wheel_scrolled)

    def show_page(self, title: str, page: tuple[int, ...], images: np.ndarray, projections: np.ndarray) -> None:
        self._page = page
        self._tile = (images.shape[1], 2 * images.shape[2]) if len(images) else self._tile
        self.view.set_image(pair_mosaic(images, projections, COLS, PAD))
        self.view.set_colour_bar(signed_grey(), -1.0, 1.0, RELATIVE_LABEL)
        first, last = (page[0], page[-1]) if page else (0, 0)
        self.view.set_title(f"{title} in {len(page)} images (#{first}…#{last})" if page else "no images")

    def set_stale(self, stale: bool) -> None:
        """Mark the page shown as one for an earlier selection, filter or options (or unmark it)."""
        self.stale.setVisible(stale)

    def show_waiting(self, text: str) -> None:
        """No page: what was shown belonged to another model or other images."""
        self._page = ()
        self.view.clear_picture()
        self.view.remove_colour_bar()
        self.view.set_title(text)
        self.stale.hide()

    def _on_view_clicked(self, x: float, y: float) -> None:
        hit = cell_at(x, y, self._tile, COLS, len(self._page), PAD)
        if hit is not None:
            self.image_selected.emit(self._page[hit])
