"""Projection pane: the selected feature in pixel space, with method, unpooling, keep and comparison controls."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from explorer.core.projection import METHODS, UNPOOLS
from explorer.gui.colour_bars import PROJECTION_LABEL, signed_grey
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
        rule = QLabel("Each view on its own scale, grey = 0 (colour bar).")
        rule.setToolTip(PROJECTION_TEXT)
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
            view.setMinimumSize(100, 110)
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
        self._layer, self._pooled, self._fill = "", True, True  # the layer, max-pooling below it, all of it fillable
        self.show_options(ProjectionOptions())

    def options(self) -> ProjectionOptions:
        """The options as chosen, kept even where one does not apply now (fill under guided): see normalised()."""
        return ProjectionOptions(
            self.method.currentData(), self.unpool.currentData(), self.keep.currentData(), self.compare.currentData()
        )

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
                top = float(np.abs(p).max()) if p.size else 0.0
                view.set_colour_bar(signed_grey(), -top, top, PROJECTION_LABEL)

    def show_message(self, text: str) -> None:
        """No projection, and why (an image that could not be read, a new model's pass on its way)."""
        self.header.setText(text)
        for i, view in enumerate(self.views):
            view.setVisible(i == 0)
            view.clear_picture()
            view.remove_colour_bar()
            view.set_title("")

    def show_layer(self, layer: str, pooled: bool, fill: bool = True) -> None:
        """The layer shown, whether any max-pooling lies below it (without, unpooling changes nothing), and whether
        every such pooling is non-overlapping (else only the switches undo it)."""
        self._layer, self._pooled, self._fill = layer, pooled, fill
        self._enable_controls(self.options())

    def _enable_controls(self, options: ProjectionOptions) -> None:
        reason = unpool_disabled_reason(options, self._layer, self._pooled, self._fill)
        self.unpool.setEnabled(not reason)
        self.unpool.setToolTip(reason or UNPOOL_TIP)
        self.method.setEnabled(options.compare == "single")
        self.method.setToolTip("" if options.compare == "single" else "“show” compares methods or unpoolings")

    def _on_control_changed(self, _index: int) -> None:
        options = self.options()
        self.show_options(options)
        self.options_changed.emit(options)


UNPOOL_TIP = "How the deconvnet undoes max-pooling: back to where the max was (switches), or over the whole 2x2 (fill)"


def unpool_disabled_reason(options: ProjectionOptions, layer: str, pooled: bool, fill: bool = True) -> str:
    """Why the unpooling choice does not apply now ("" when it does); the choice itself is kept."""
    if not pooled:
        return f"{layer} has no max-pooling below it: switches and fill give the same pixels."
    if not fill:
        return (
            f"A max-pool below {layer} has overlapping windows: only its switches undo it, so {layer} is shown "
            "through the switches. Your choice is kept for layers where fill applies."
        )
    if options.compare == "unpooling":
        return "“show: switches vs fill” shows both."
    if options.method != "deconvnet" and options.compare != "methods":
        return (
            f"Unpooling by fill applies to the deconvnet only; {options.method} goes through the max-pool "
            "switches. Your choice is kept for when you switch back to deconvnet."
        )
    return ""


def _combo(items: dict[str, str]) -> QComboBox:
    box = QComboBox()
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(6)  # narrow docks: the combo shrinks rather than the pane being cut off
    for value, label in items.items():
        box.addItem(label, value)
    return box
