"""The Images view: selects the image, predicts the open images in batches, filters them by class and outcome.

The predictions run on the worker in batches, each asked for when the one before it is in, and held back
while the user scrubs: a view asked for while a batch runs waits for it on the one worker (about 40 ms for
64 images on one CPU thread), so the next batch starts only once the selection has not changed for
PREDICT_PAUSE_MS.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import QTimer

from explorer.core.images import ImageSet
from explorer.gui.actions import ActionInfo
from explorer.gui.host import Host, View
from explorer.gui.messages import PredictionsReady, PredictRequest
from explorer.gui.notice import NoticeBar
from explorer.gui.views.browser.pane import BrowserPane
from explorer.gui.views.browser.unreadable import unreadable_lines, unreadable_notice

PREDICT_BATCH = 64  # CIFAR-size images per prediction request: a view asked for meanwhile waits at most one batch


def predict_batch(side: int) -> int:
    """Images per prediction request at `side` pixels: as many pixels as 64 CIFAR-size images, at least one (at
    224 px one photo, so a scrub step waits at most one image's forward: 64 of them made ResNet-50's p95 1.9x it)."""
    return max(1, PREDICT_BATCH * 32 * 32 // (side * side))


PREDICT_PAUSE_MS = 150  # the next batch starts once the selection has not changed for this long


class BrowserView(View):
    name = "images"
    title = "Images"
    actions = (
        ActionInfo("next_image", "Next image", "&Navigate", "PgDown", order=30),
        ActionInfo("previous_image", "Previous image", "&Navigate", "PgUp", order=31),
    )

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.pane = BrowserPane(self.state.opened.info.classes)
        self.dock = host.add_dock(self, self.pane, area="left")
        self.unreadable = NoticeBar(offers=False)  # the files of the set that could not be read, and why
        host.add_central(self.unreadable)
        self._last_selected = -math.inf  # time.monotonic() of the last change of the selection
        self._waiting: tuple[ImageSet, int] | None = None  # the next batch, held while the selection changes
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self._predict_when_idle)
        self.pane.image_selected.connect(lambda image: self.state.select(image=image))
        self.pane.split_selected.connect(self._on_pane_split_selected)
        self.pane.page_changed.connect(self._publish_filter)
        for signal in (self.pane.model.rowsInserted, self.pane.model.modelReset):
            signal.connect(self._publish_filter)
        self.state.selection_changed.connect(self._on_state_selection_changed)
        self.state.image_changed.connect(self._show_current)
        self.state.images_changed.connect(self._on_state_images_changed)
        self.state.model_changed.connect(self._on_state_model_changed)

    def handlers(self) -> dict[str, Callable[[], None]]:
        return {"next_image": lambda: self.step(1), "previous_image": lambda: self.step(-1)}

    def step(self, delta: int) -> None:
        """Select the image `delta` rows away in the filtered list."""
        target = self.pane.step(self.state.image, delta)
        if target is not None:
            self.state.select(image=target)

    def _on_pane_split_selected(self, split: str) -> None:
        self.host.open_split(split)

    def _publish_filter(self, *_args: object) -> None:
        self.state.set_filtered(self.pane.model.rows)

    def _on_state_selection_changed(self) -> None:
        self._last_selected = time.monotonic()

    def _show_current(self) -> None:
        self.pane.show_current(self.state.image)  # not on every feature: it moves the list's selection

    def _show_images(self, images: ImageSet) -> None:
        """Thumbnails of `images` (each picture whole: from its file, or as opened) with no predictions yet."""
        self.pane.set_images(images, self.state.split)
        self.pane.model.set_pictures(self.state.source_images)

    def _on_state_images_changed(self, images: ImageSet) -> None:
        self._show_images(images)
        self._show_current()
        self.show_unreadable()
        self.predict_from(0)

    def _on_state_model_changed(self, _opened: object) -> None:
        self.pane.set_classes(self.state.opened.info.classes)
        if self.state.images is not None:
            self._show_images(self.state.images)  # the old model's predictions are gone
            self._show_current()
            self.predict_from(0)

    # Predictions ---------------------------------------------------------------------------------

    def predict_from(self, start: int) -> None:
        """Ask for the batch of the open images that starts at `start` (now, or once the selection is still)."""
        images = self.state.images
        self._waiting = None
        if images is None or start >= len(images):
            return
        quiet_ms = (time.monotonic() - self._last_selected) * 1000
        if quiet_ms < PREDICT_PAUSE_MS:
            self._waiting = (images, start)
            self._timer.start(max(1, math.ceil(PREDICT_PAUSE_MS - quiet_ms)))
            return
        self.host.submit(PredictRequest(images, start, min(start + predict_batch(images.size), len(images))), self)

    def _predict_when_idle(self) -> None:
        waiting, self._waiting = self._waiting, None
        if waiting is not None and waiting[0] is self.state.images:  # not for images closed since
            self.predict_from(waiting[1])

    def on_result(self, result: object) -> None:
        images = self.state.images
        if (
            not isinstance(result, PredictionsReady)
            or images is None
            or result.source_key != images.source_key
            or len(self.pane.model.predicted) != len(images)
        ):
            return
        self.pane.set_predictions(result.start, result.predicted, result.unreadable)
        if result.unreadable:
            self.show_unreadable()
        self.predict_from(result.start + len(result.predicted))

    def show_unreadable(self) -> None:
        """Name the files of this set that could not be read, and why, above the views."""
        images = self.state.images
        assert images is not None
        lines = unreadable_lines(self.pane.model.reasons, images.paths, images.skipped)
        text, tip = unreadable_notice(lines)
        self.unreadable.show_notice(text)
        self.unreadable.setToolTip(tip)
