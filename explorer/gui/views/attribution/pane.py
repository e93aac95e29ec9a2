"""Attribution pane: method, layer and class chosen above; the image with the CAM over it, the CAM at the layer's
size, and the class's gradient, guided and deconvnet pictures, each with its colour bar."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from explorer.analyses.attribution import AttributionFigure
from explorer.analyses.cam import ATTRIBUTION_NAMES
from explorer.analyses.colours import cam_rgb8
from explorer.core.class_activation import METHODS
from explorer.gui.colour_bars import PROJECTION_LABEL, signed_grey
from explorer.gui.imaging import projection_to_rgb
from explorer.gui.panes.experiment_controls import ExperimentControls
from explorer.gui.panes.pixel_view import PixelView

VIEW_MIN = (130, 100)  # pixels: each picture with its colour bar (the bar takes about 50 of the width)
OVERLAY_ALPHA = 0.5  # the CAM over the image, as the exported figure lays it


def cam_over_image(image: np.ndarray, overlay: np.ndarray) -> np.ndarray:
    """float32 [H, W, 3]: the uint8 image with the CAM [H, W] in [0, 1] laid over it in jet at OVERLAY_ALPHA."""
    heat = cam_rgb8(overlay).astype(np.float32) / 255.0
    return (1 - OVERLAY_ALPHA) * image.astype(np.float32) / 255.0 + OVERLAY_ALPHA * heat


def jet() -> pg.ColorMap:
    return pg.ColorMap(np.linspace(0.0, 1.0, 256), cam_rgb8(np.arange(256) / 256.0))


class AttributionPane(QWidget):
    options_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure: AttributionFigure | None = None
        self.method = QComboBox()
        for m in METHODS:
            self.method.addItem(ATTRIBUTION_NAMES[m], m)
        self.layer = QComboBox()
        self.target = QComboBox()
        for box in (self.method, self.layer, self.target):
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(10)
        self.method.setToolTip("How the class's gradient weighs the layer's maps (Grad-CAM and its variants)")
        self.layer.setToolTip("The layer whose maps are weighed (default: the last one)")
        self.target.setToolTip("The class explained (default: the predicted one)")
        choices = QHBoxLayout()  # one row above the pictures: a narrow dock keeps its width for them
        for label, box in (("method", self.method), ("layer", self.layer), ("class", self.target)):
            choices.addWidget(QLabel(label))
            choices.addWidget(box, 1)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self._grid = QGridLayout()
        self._views: list[PixelView] | None = None  # built on first show: the dock starts hidden
        self.controls = ExperimentControls("attribution")
        layout = QVBoxLayout(self)
        layout.addLayout(choices)
        layout.addLayout(self._grid, 1)
        layout.addWidget(self.controls)
        for box in (self.method, self.layer, self.target):
            box.activated.connect(lambda _i: self.options_changed.emit())

    @property
    def views(self) -> list[PixelView]:
        if self._views is None:
            titles = ("CAM over the image", "CAM at the layer", "gradient", "guided backprop", "deconvnet")
            self._views = [PixelView(t) for t in titles]
            for i, v in enumerate(self._views):
                v.setMinimumSize(*VIEW_MIN)
                self._grid.addWidget(v, i // 3, i % 3)
            self._grid.addWidget(self.note, 1, 2)  # the sixth cell: what the class is, and how to read the pictures
        return self._views

    def showEvent(self, event: QShowEvent) -> None:
        self.views  # noqa: B018  (built now, on first show)
        super().showEvent(event)

    def set_choices(self, layers: Sequence[str], classes: Sequence[str]) -> None:
        """The open model's layers (the last one chosen) and classes ("predicted" first); no intent emitted."""
        for box in (self.layer, self.target):
            box.blockSignals(True)
            box.clear()
        for name in layers:
            self.layer.addItem(name, name)
        self.layer.setCurrentIndex(len(layers) - 1)
        self.target.addItem("predicted", None)
        for i, name in enumerate(classes):
            self.target.addItem(f"{i}: {name}", i)
        for box in (self.layer, self.target):
            box.blockSignals(False)

    def choices(self) -> tuple[str, str | None, int | None]:
        """(method, layer, class) as chosen (None: the default)."""
        return self.method.currentData(), self.layer.currentData(), self.target.currentData()

    def clear(self) -> None:
        self.figure = None
        for view in self._views or ():
            view.clear_picture()
            view.remove_colour_bar()
        self.note.setText("")

    def show_figure(self, f: AttributionFigure) -> None:
        self.figure = f
        c = f.cam
        views = self.views
        views[0].set_title(f"{ATTRIBUTION_NAMES[c.method]} over image {c.image_label}")
        views[0].set_image(cam_over_image(c.image, c.overlay))
        views[1].set_title(f"{c.layer}: {c.cam.shape[0]}×{c.cam.shape[1]}")
        views[1].set_image(cam_rgb8(c.cam).astype(np.float32) / 255.0)
        for view in views[:2]:
            view.set_colour_bar(jet(), 0.0, 1.0, "CAM (scaled to 0–1)")
        for view, (method, p) in zip(views[2:], f.pictures, strict=True):
            view.set_title(ATTRIBUTION_NAMES[method])
            view.set_image(projection_to_rgb(p))
            top = float(np.abs(p).max()) if p.size else 0.0
            view.set_colour_bar(signed_grey(), -top, top, PROJECTION_LABEL)
        self.note.setText(
            f"Class {c.target} ({c.target_name}), p = {c.probability:.3f}. The pictures beside it send the same "
            "class score down to the pixels; the Sanity view shows which of them depend on the weights."
        )
