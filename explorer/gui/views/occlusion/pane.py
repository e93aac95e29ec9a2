"""Occlusion pane: p(class), the feature's map sum and the top class as heat maps over the image, beside the projection."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import QFormLayout, QGridLayout, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from explorer.analyses.colours import ACTIVATION_CMAP, PROBABILITY_CMAP, class_rgb8
from explorer.analyses.occlusion import OcclusionFigure, default_square
from explorer.gui.colour_bars import named, viridis
from explorer.gui.panes.experiment_controls import ExperimentControls, heat_rgb, over_image
from explorer.gui.panes.pixel_view import PixelView

VIEW_MIN = 80  # pixels: the smallest side of each picture


class OcclusionPane(QWidget):
    options_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure: OcclusionFigure | None = None
        self.size_box, self.stride_box = QSpinBox(), QSpinBox()
        self.size_box.setRange(1, 64)
        self.size_box.setValue(8)
        self.stride_box.setRange(1, 32)
        self.stride_box.setValue(2)
        form = QFormLayout()
        form.addRow("square", self.size_box)
        form.addRow("stride", self.stride_box)
        # The five views are built when the pane is first shown (or first given a figure): the dock starts
        # hidden, and building them cost every start-up about 50 ms.
        self._views: list[PixelView] | None = None
        self._grid = QGridLayout()
        self.controls = ExperimentControls("occlusion")
        self.legend = QLabel()  # the most probable class's colours, as the figure lists them
        self.legend.setWordWrap(True)
        top = QHBoxLayout()
        top.addLayout(form)
        top.addLayout(self._grid, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addWidget(self.legend)
        layout.addWidget(self.controls)
        self.size_box.valueChanged.connect(lambda _v: self.options_changed.emit())
        self.stride_box.valueChanged.connect(lambda _v: self.options_changed.emit())

    @property
    def views(self) -> list[PixelView]:
        if self._views is None:
            self._views = [
                PixelView(t) for t in ("image", "projection", "p(class)", "feature map sum", "most probable class")
            ]
            for i, v in enumerate(self._views):
                v.setMinimumSize(VIEW_MIN, VIEW_MIN)  # a squeezed view would crop its picture
                self._grid.addWidget(v, i // 3, i % 3)
        return self._views

    def showEvent(self, event: QShowEvent) -> None:
        self.views  # noqa: B018  (built now, on first show)
        super().showEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        for view in self._views or ():  # a view resized after its picture was set would show a crop of it
            if view.image_item.image is not None:
                h, w = view.image_item.image.shape[:2]
                view.view_box.setRange(xRange=(0, w), yRange=(0, h), padding=0)

    def fit_to(self, size: int) -> None:
        """Square and stride for images of `size` pixels (explorer.analyses.occlusion.default_square); no intent
        emitted."""
        square, stride = default_square(size)
        for box, top, value in ((self.size_box, size, square), (self.stride_box, size, stride)):
            box.blockSignals(True)
            box.setRange(1, top)
            box.setValue(value)
            box.blockSignals(False)

    def options(self) -> tuple[int, int]:
        return self.size_box.value(), self.stride_box.value()

    def clear(self) -> None:
        """Nothing shown (the figure was computed by a model that is no longer open)."""
        self.figure = None
        self.legend.clear()
        for view in self._views or ():
            view.clear_picture()

    def show_figure(self, f: OcclusionFigure) -> None:
        """The figure's five panels in its colours: p(class) in magma from 0 to 1, the map sum in viridis from 0 to
        its largest, each with its colour bar, and the most probable class in the figure's class colours, named
        below."""
        self.figure = f
        r = f.request
        args = (f.ys, f.xs, r.size, r.stride)
        top = float(max(f.activation.max(), f.base_activation, 1e-12))
        n = len(f.classes)
        pictures = (
            (f"image {f.image_label}", f.image.astype(np.float32) / 255),
            (f"{r.layer} feature {r.feature}: projection", f.projection.astype(np.float32) / 255),
            (f"p({f.target_name}) occluded (plain {f.base_prob:.2f})",
             over_image(f.image, heat_rgb(f.target_probs, 0.0, 1.0, PROBABILITY_CMAP), *args)),
            (f"feature {r.feature} map sum (plain {f.base_activation:.3g})",
             over_image(f.image, heat_rgb(f.activation, 0.0, top, ACTIVATION_CMAP), *args)),
            ("most probable class",
             over_image(f.image, class_rgb8(f.top_class, n).astype(np.float32) / 255, *args)),
        )  # fmt: skip
        for view, (title, rgb) in zip(self.views, pictures, strict=True):
            view.set_title(title)
            view.set_image(rgb)
        self.views[2].set_colour_bar(named(PROBABILITY_CMAP), 0.0, 1.0, f"p({f.target_name})")
        self.views[3].set_colour_bar(viridis(), 0.0, top, "map sum")
        present = sorted({int(c) for c in np.unique(f.top_class)})
        colours = class_rgb8(np.array(present), n)
        self.legend.setText(
            "most probable class: "
            + " ".join(
                f'<span style="color: #{c[0]:02x}{c[1]:02x}{c[2]:02x}">&#9632;</span> {f.classes[k]}'
                for k, c in zip(present, colours, strict=True)
            )
        )
