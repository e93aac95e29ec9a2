"""The window's one state: the open model, the images, the selection, the projection options, the scan and
the pass shown for the selection, each with a change signal.

Views read it and follow its signals; nothing else keeps a copy (as napari's and ndv's views observe one
model). The state holds values and says what changed; it prepares nothing itself but the lazy view of the
images at the open model's size. What was asked before a change of model or images is made stale by the
controller (`forget_stale`), not here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, Signal
from torch import nn

from explorer.core.images import ImageSet
from explorer.core.preprocessing import preprocessing_of
from explorer.gui.messages import ProjectionOptions, ViewResult
from explorer.gui.open_model import OpenModel
from explorer.gui.scan_job import ScanFinished

PAGE = 16  # images on a page of the browser's filter (what Feature across images shows)


@dataclass(frozen=True)
class Choices:
    """The choices a person makes in the window, as they are remembered between runs (explorer.gui.settings)."""

    source: str = "cifar10"
    split: str = "test"
    layer: str = "conv1"
    feature: int = 0
    image: int = 0
    options: ProjectionOptions = field(default_factory=ProjectionOptions)


class WindowState(QObject):
    """The open model, images, selection, options, scan and shown pass; each change is a signal."""

    model_changed = Signal(object)  # OpenModel
    images_changed = Signal(object)  # ImageSet
    selection_changed = Signal()  # the layer, the feature or the image
    layer_changed = Signal()  # the layer (after selection_changed; not when a new model or images refit it)
    image_changed = Signal()  # the image (after selection_changed; not when new images or a model refit it)
    options_changed = Signal(object)  # ProjectionOptions
    scan_changed = Signal(object)  # ScanFinished or None
    shown_changed = Signal(object)  # ViewResult or None: the pass the maps, projection and prediction show
    published = Signal(str, object)  # (kind, figure): a view's newest result that other views may show
    filter_changed = Signal()  # the images the browser's filter shows

    def __init__(self, opened: OpenModel, choices: Choices, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.opened = opened
        self.images: ImageSet | None = None  # the open images prepared as the open model's weights expect them
        self.source_images: ImageSet | None = None  # the open images as opened (32 px, or the files themselves)
        self.source: str | tuple[str, ...] = choices.source
        self.split = choices.split
        self.options = choices.options
        self.layer, self.feature = self._fitted(choices.layer, choices.feature)
        self.image = choices.image
        self.scan: ScanFinished | None = None
        self.shown: ViewResult | None = None
        self.figures: dict[str, object] = {}  # kind -> the newest result a view published
        self.filtered = np.zeros(0, np.int64)  # the images the browser's filter shows, in order

    @property
    def model(self) -> nn.Module:
        return self.opened.model

    def choices(self) -> Choices:
        source = self.source if isinstance(self.source, str) and self.source != "probes" else Choices.source
        return Choices(source, self.split, self.layer, self.feature, self.image, self.options)

    def _fitted(self, layer: str, feature: int) -> tuple[str, int]:
        layer = layer if layer in self.opened.names else self.opened.layers[0].name
        return layer, max(0, min(feature, self.opened.layer(layer).channels - 1))

    def layer_options(self) -> ProjectionOptions:
        """The options the selected layer is shown with (see ProjectionOptions.for_layer)."""
        return self.options.for_layer(self.opened.layer(self.layer).fill)

    def as_shown(self) -> Choices:
        """The choices as the views show them now: the options fitted to the selected layer (for exports)."""
        c = self.choices()
        return Choices(c.source, c.split, c.layer, c.feature, c.image, self.layer_options())

    def channels(self, layer: str | None = None) -> int:
        """The features of `layer` (the selected one when None) in the open model."""
        return self.opened.layer(layer or self.layer).channels

    # Changes -------------------------------------------------------------------------------------

    def _for_model(self, images: ImageSet) -> ImageSet:
        """`images` prepared for the open model: at its input size, resized and cropped as its weights expect (lazily:
        each picture on first use); the images themselves for a 32-pixel model."""
        return images.for_model(preprocessing_of(self.opened.model))

    def set_model(self, opened: OpenModel) -> None:
        """A new model: what was computed under the old one goes; the images are prepared for it (at its input size);
        the selection is fitted to its layers."""
        self.opened = opened
        if self.source_images is not None:
            self.images = self._for_model(self.source_images)
        self.layer, self.feature = self._fitted(self.layer, self.feature)
        self._forget()
        self.model_changed.emit(opened)
        self.selection_changed.emit()

    def set_images(self, images: ImageSet, source: str | tuple[str, ...]) -> None:
        """New images: what was computed for the old ones goes; the image stays if the new set has it."""
        self.source_images, self.source = images, source
        self.images = images = self._for_model(images)
        self.image = self.image if self.image < len(images) else 0
        self._forget()
        self.images_changed.emit(images)
        self.selection_changed.emit()

    def _forget(self) -> None:
        self.scan = self.shown = None
        self.figures.clear()
        self.scan_changed.emit(None)
        self.shown_changed.emit(None)

    def select(self, *, layer: str | None = None, feature: int | None = None, image: int | None = None) -> None:
        """Change any of the layer, feature and image; out-of-range values are fitted (a feature) or ignored."""
        new_layer = self.layer if layer is None or layer not in self.opened.names else layer
        new_feature = self.feature if feature is None else feature
        new_layer, new_feature = self._fitted(new_layer, new_feature)
        new_image = self.image
        if image is not None and self.images is not None and 0 <= image < len(self.images):
            new_image = int(image)
        if (new_layer, new_feature, new_image) != (self.layer, self.feature, self.image):
            layer_changed, image_changed = new_layer != self.layer, new_image != self.image
            self.layer, self.feature, self.image = new_layer, new_feature, new_image
            self.selection_changed.emit()  # first: the selection's pass is asked for before anything is drawn
            if layer_changed:
                self.layer_changed.emit()
            if image_changed:
                self.image_changed.emit()

    def set_split(self, split: str) -> None:
        self.split = split

    def set_options(self, options: ProjectionOptions) -> None:
        if options != self.options:
            self.options = options
            self.options_changed.emit(options)

    def set_scan(self, scan: ScanFinished | None) -> None:
        self.scan = scan
        self.scan_changed.emit(scan)

    def show(self, result: ViewResult) -> None:
        """The newest pass for the selection (explorer.gui.selection_pass asks for it)."""
        self.shown = result
        self.shown_changed.emit(result)

    def set_filtered(self, rows: np.ndarray) -> None:
        """The images the browser's filter shows (ascending), as it says when they change."""
        self.filtered = rows
        self.filter_changed.emit()

    def page(self, image: int | None = None) -> tuple[int, ...]:
        """The PAGE images the filter shows in the block of rows around `image` (the selected one when None)."""
        rows = self.filtered
        image = self.image if image is None else image
        nearest = min(int(np.searchsorted(rows, image)), max(len(rows) - 1, 0))
        start = (nearest // PAGE) * PAGE
        return tuple(int(i) for i in rows[start : start + PAGE])

    def publish(self, kind: str, figure: object) -> None:
        """A view's newest result, for the views that draw on it (the input image shows occlusion's map)."""
        self.figures[kind] = figure
        self.published.emit(kind, figure)
