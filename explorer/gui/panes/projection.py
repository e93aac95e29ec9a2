"""Projection pane: the selected feature in pixel space, with method, unpooling, keep and comparison controls."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from explorer.core.projection import METHODS, UNPOOLS
from explorer.gui.imaging import PROJECTION_TEXT, projection_to_rgb
from explorer.gui.messages import ProjectionOptions
from explorer.gui.panes.export_button import export_button, footer
from explorer.gui.panes.pixel_view import PixelView

COMPARE_LABELS = {"single": "one projection", "unpooling": "switches vs fill", "methods": "the three methods"}
KEEP_LABELS = {"map": "whole map", "max": "strongest activation only"}
MAX_VIEWS = 3


class ProjectionPane(QWidget):
    options_changed = Signal(object)  # ProjectionOptions
    wheel_scrolled = Signal(int)
    export_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.method = _combo({m: m for m in METHODS})
        self.unpool = _combo({u: u for u in UNPOOLS})
        self.keep = _combo(KEEP_LABELS)
        self.compare = _combo(COMPARE_LABELS)
        self.views = [PixelView() for _ in range(MAX_VIEWS)]
        self.header = QLabel()
        rule = QLabel(PROJECTION_TEXT)
        rule.setWordWrap(True)

        controls = QGridLayout()
        for i, (name, box) in enumerate(
            (("method", self.method), ("unpooling", self.unpool), ("keep", self.keep), ("show", self.compare))
        ):
            r, c = divmod(i, 2)
            controls.addWidget(QLabel(name), r, 2 * c)
            controls.addWidget(box, r, 2 * c + 1)
        controls.setColumnStretch(1, 1)
        controls.setColumnStretch(3, 1)
        row = QHBoxLayout()
        for view in self.views:
            row.addWidget(view, 1)
            view.wheel_scrolled.connect(self.wheel_scrolled)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.header)
        layout.addLayout(row, 1)
        self.export = export_button("Export every feature's projection for this image (PNG, SVG or PDF)")
        layout.addLayout(footer(rule, self.export))
        self.export.clicked.connect(self.export_requested)
        for box in (self.method, self.unpool, self.keep, self.compare):
            box.currentIndexChanged.connect(self._on_control_changed)
        self.show_options(ProjectionOptions())

    def options(self) -> ProjectionOptions:
        return ProjectionOptions(
            self.method.currentData(), self.unpool.currentData(), self.keep.currentData(), self.compare.currentData()
        ).normalised()

    def show_options(self, options: ProjectionOptions) -> None:
        for box, value in (
            (self.method, options.method),
            (self.unpool, options.unpool),
            (self.keep, options.keep),
            (self.compare, options.compare),
        ):
            box.blockSignals(True)
            box.setCurrentIndex(box.findData(value))
            box.blockSignals(False)
        self._enable_controls(options)

    def show_projections(self, title: str, projections: tuple[tuple[str, np.ndarray], ...]) -> None:
        """Show each (title, [3, H, W]) projection by the stated rule; hide the unused views."""
        self.header.setText(title)
        for i, view in enumerate(self.views):
            view.setVisible(i < len(projections))
            if i < len(projections):
                name, p = projections[i]
                view.set_title(name)
                view.set_image(projection_to_rgb(p))

    def _enable_controls(self, options: ProjectionOptions) -> None:
        self.unpool.setEnabled(options.method == "deconvnet" and options.compare != "unpooling")
        self.method.setEnabled(options.compare == "single")

    def _on_control_changed(self, _index: int) -> None:
        options = self.options()
        self.show_options(options)
        self.options_changed.emit(options)


def _combo(items: dict[str, str]) -> QComboBox:
    box = QComboBox()
    for value, label in items.items():
        box.addItem(label, value)
    return box
