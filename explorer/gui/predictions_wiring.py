"""Wires the browser's predictions: the open images are predicted in batches on the worker, each batch
asked for when the one before it is in, and held back while the user scrubs.

A view asked for while a batch runs waits for it on the one worker (about 40 ms for 64 images on one CPU
thread), so the next batch starts only once the views have not been asked for PREDICT_PAUSE_MS.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from explorer.core.images import ImageSet
from explorer.gui.messages import PredictionsReady, PredictRequest
from explorer.gui.unreadable import unreadable_lines, unreadable_notice

if TYPE_CHECKING:
    from explorer.gui.main_window import MainWindow

PREDICT_BATCH = 64  # images per prediction request: a view asked for meanwhile waits at most one batch
PREDICT_PAUSE_MS = 150  # the next batch starts once the views have not been asked for this long


class PredictionsWiring(QObject):
    """Asks for the open images' predictions batch by batch and shows them in the browser."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self._last_view_asked = -math.inf  # time.monotonic() of the last view asked for
        self._waiting: tuple[ImageSet, int] | None = None  # the next batch, held while views are asked for
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self._predict_when_idle)
        window.controller.result_ready.connect(self._on_controller_result_ready)

    def view_asked(self) -> None:
        """The window asked for a view: the next batch waits until the views go quiet."""
        self._last_view_asked = time.monotonic()

    def predict_from(self, start: int) -> None:
        """Ask for the batch of the open images that starts at `start` (now, or once the views are quiet)."""
        w = self.window
        assert w.images is not None
        self._waiting = None
        if start >= len(w.images) or w.window_state.opened.unsupported():
            return
        quiet_ms = (time.monotonic() - self._last_view_asked) * 1000
        if quiet_ms < PREDICT_PAUSE_MS:
            self._waiting = (w.images, start)
            self._timer.start(max(1, math.ceil(PREDICT_PAUSE_MS - quiet_ms)))
            return
        w.controller.submit(PredictRequest(w.images, start, min(start + PREDICT_BATCH, len(w.images))))

    def show_unreadable(self) -> None:
        """Name the files of this set that could not be read, and why, above the views."""
        w = self.window
        assert w.images is not None
        lines = unreadable_lines(w.browser.model.reasons, w.images.paths, w.images.skipped)
        text, tip = unreadable_notice(lines)
        w.unreadable_notice.show_notice(text)
        w.unreadable_notice.setToolTip(tip)

    def _predict_when_idle(self) -> None:
        waiting, self._waiting = self._waiting, None
        if waiting is not None and waiting[0] is self.window.images:  # not for images closed since
            self.predict_from(waiting[1])

    def _on_controller_result_ready(self, result: object) -> None:
        w = self.window
        if (
            not isinstance(result, PredictionsReady)
            or w.images is None
            or result.source_key != w.images.source_key
            or len(w.browser.model.predicted) != len(w.images)
        ):
            return
        w.browser.set_predictions(result.start, result.predicted, result.unreadable)
        if result.unreadable:
            self.show_unreadable()
        self.predict_from(result.start + len(result.predicted))
