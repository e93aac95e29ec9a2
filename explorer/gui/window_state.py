"""The window's state, apart from its views: the open model, the images, the selection, the scan.

Panes and wiring modules observe these signals instead of reaching into MainWindow (as napari and
ndv keep a model apart from their views). The state only holds values and says what changed; it
never computes. `generation` grows with each model: a result asked for under an older model is
stale, whatever its request id.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal
from torch import nn

from explorer.core.graph import Layer, layers
from explorer.core.images import ImageSet
from explorer.core.model_meta import ModelInfo, model_info
from explorer.export import model_label
from explorer.gui.scan_job import ScanFinished

BUNDLED_MODELS = (("SeedNet", "seednet"), ("ZFNet (CIFAR)", "zfnet-cifar"))  # the switcher's (label, spec)
VIEW_SIZE = 32  # the side of the images the views show (the data sets' images)


def figure_label(model: nn.Module, checkpoint: str | None = None) -> str:
    """How figure titles name the model: its name from load_model, or SeedNet's checkpoint for a bare module."""
    return model_label(model) if hasattr(model, "explorer_info") else model_label(checkpoint)


@dataclass(frozen=True)
class OpenModel:
    """A model the window has open, with what the views need to know about it (computed once)."""

    model: nn.Module
    info: ModelInfo
    layers: tuple[Layer, ...]
    label: str  # as the status bar and figure titles name it

    @classmethod
    def of(cls, model: nn.Module, label: str | None = None) -> OpenModel:
        info = model_info(model)
        return cls(model, info, tuple(layers(model)), label or info.name)

    def layer(self, name: str) -> Layer:
        return next(lay for lay in self.layers if lay.name == name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(lay.name for lay in self.layers)

    @property
    def channels(self) -> dict[str, int]:
        return {lay.name: lay.channels for lay in self.layers}

    def unsupported(self) -> str:
        """Why the views cannot show this model on the data sets' 32x32 images ("" when they can)."""
        size = self.info.input_size
        if size == VIEW_SIZE:
            return ""
        return (
            f"{self.label} takes {size}×{size} input; the views show the data sets' {VIEW_SIZE}×{VIEW_SIZE} images, "
            f"so they are off for this model. Open it with --input-size {VIEW_SIZE} if it accepts that size."
        )


class WindowState(QObject):
    """The open model, images, selection and scan; the model, images and selection each with a change signal."""

    model_changed = Signal(object)  # OpenModel
    images_changed = Signal(object)  # ImageSet
    selection_changed = Signal(str, int, int)  # layer, feature, image

    def __init__(self, opened: OpenModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.opened = opened
        self.images: ImageSet | None = None
        self.layer, self.feature, self.image = opened.layers[0].name, 0, 0
        self.scan: ScanFinished | None = None

    @property
    def model(self) -> nn.Module:
        return self.opened.model

    def set_model(self, opened: OpenModel) -> None:
        """A new model: the scan is dropped, the selection is fitted to its layers."""
        self.opened = opened
        self.set_scan(None)
        layer = self.layer if self.layer in opened.names else opened.layers[0].name
        self.layer, self.feature = layer, min(self.feature, opened.layer(layer).channels - 1)
        self.model_changed.emit(opened)

    def set_images(self, images: ImageSet) -> None:
        self.images = images
        self.set_scan(None)
        self.images_changed.emit(images)

    def select(self, layer: str, feature: int, image: int) -> None:
        if (layer, feature, image) != (self.layer, self.feature, self.image):
            self.layer, self.feature, self.image = layer, feature, image
            self.selection_changed.emit(layer, feature, image)

    def set_scan(self, scan: ScanFinished | None) -> None:
        self.scan = scan
