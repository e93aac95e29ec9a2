"""Wires the Top images pane to the window's choices and to the controller's scan and worker.

The scan runs on the controller's scan thread (see explorer.gui.scan_job) and leaves results for
both layers; the patches and projections of the selected feature come from the worker as
TopPatchesRequests, latest wins, so scrubbing features updates the pane live, during a scan too.
A scan only starts when asked (Find top images).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QDockWidget

from explorer.core.images import ImageSet
from explorer.gui import dialogs
from explorer.gui.messages import Failure, TopPatchesRequest, TopPatchesResult, ViewResult, next_request_id
from explorer.gui.panes.top_images import TopImagesPane
from explorer.gui.scan_job import ScanFinished, ScanRequest, ScanStopped

if TYPE_CHECKING:
    from explorer.gui.main_window import MainWindow


class TopImagesWiring(QObject):
    """Starts, cancels and shows scans; asks the worker for the selected feature's patches."""

    def __init__(self, window: MainWindow, pane: TopImagesPane, dock: QDockWidget) -> None:
        super().__init__(window)
        self.window = window
        self.pane = pane
        self.dock = dock
        self.batch_size = 256  # images per scan batch (tests make it small)
        self.scan: ScanFinished | None = None  # the results shown, for the images shown
        self.shown: TopPatchesResult | None = None  # the patches on screen
        self._scan_id = 0  # the newest scan asked for; other outcomes are stale
        self._shown_id = 0  # the newest patches on screen; older ones are dropped
        self._asked: tuple[str, int] | None = None  # (layer, feature) last asked of the worker
        self._file_request = 0  # the newest scan-file request: its failure is said in the pane
        # The look-up of an earlier scan (it stats every file and hashes the weights) waits for the next
        # view, so that it does not compete with the window's first picture for the CPU.
        self._lookup_waiting: ScanRequest | None = None
        state = window.window_state  # observed: new images or a new model make the scan stale
        state.images_changed.connect(self.images_changed)
        state.model_changed.connect(self._on_window_state_model_changed)
        c = window.controller
        c.scan_progressed.connect(self._on_controller_scan_progressed)
        c.scan_ended.connect(self._on_controller_scan_ended)
        c.result_ready.connect(self._on_controller_result_ready)
        c.failed.connect(self._on_controller_failed)
        c.scan_job.scan_noticed.connect(self._on_scan_job_scan_noticed)  # queued: a slot of this GUI-thread object
        pane.scan_requested.connect(self.start_scan)
        pane.cancel_requested.connect(self.cancel_scan)
        pane.k_changed.connect(self._on_pane_k_changed)
        pane.image_selected.connect(window.set_image)
        pane.feature_selected.connect(window.set_feature)
        pane.wheel_scrolled.connect(lambda steps: window.set_feature(window.state.feature + steps))
        self._set_scanning(False)

    def _set_scanning(self, scanning: bool) -> None:
        """The pane's controls and Analyse > Cancel scan follow whether a scan runs."""
        self.pane.set_scanning(scanning)
        cancel = self.window.menu_actions.get("cancel_scan")
        if cancel is not None:
            cancel.setEnabled(scanning)

    # Scans ---------------------------------------------------------------------------------------

    def start_scan(self, k: int | None = None) -> None:
        """Scan the shown images for each feature's top k (the pane's k when None), every layer at once."""
        state = self.window.window_state
        if state.images is None:
            return
        if state.opened.unsupported():
            self.window.status.showMessage(f"scan: {state.opened.unsupported()}")
            return
        k = self.pane.k.value() if k is None else k
        self._ask_scan(ScanRequest(state.images, k, state.opened.names, batch_size=self.batch_size))
        self._set_scanning(True)
        self.dock.show()
        self.dock.raise_()
        self.window.status.showMessage(f"scan: {len(state.images):,} images…")

    def open_scan_file(self, path: str | None = None) -> None:
        """Show a scan file made elsewhere (asks for it when `path` is None) if it fits the open model and images."""
        if path is None:
            path = dialogs.get_open_file_name(self.window, "Open scan results", "Scan results (*.npz)")
        if not path or self.window.images is None:
            return
        request = ScanRequest(self.window.images, self.pane.k.value(), from_file=path)
        self._file_request = request.id
        self._ask_scan(request)
        self.dock.show()
        self.dock.raise_()

    def cancel_scan(self) -> None:
        self.window.controller.cancel_scan()

    def _on_window_state_model_changed(self, _opened: object) -> None:
        if self.window.window_state.images is not None:
            self.images_changed(self.window.window_state.images)

    def images_changed(self, images: ImageSet) -> None:
        """New images or a new model: stop any scan, and load an earlier scan of these with this model, if any."""
        self.scan = self.shown = None
        self._lookup_waiting = None
        self.window.window_state.set_scan(None)
        self._asked = None
        self._shown_id = next_request_id()
        self.window.controller.cancel(TopPatchesRequest)
        self.pane.clear()
        self._set_scanning(False)
        self.pane.show_note("No scan yet for these images and this model: press Find top images.")
        if self.window.status.currentMessage().startswith("scan"):
            self.window.status.clearMessage()  # it spoke of the images before these
        if self.window.controller.scanning is not None:
            self.window.controller.cancel_scan()
        if not self.window.window_state.opened.unsupported():
            self._lookup_waiting = self._cached_request(images, self.pane.k.value())

    def _cached_request(self, images: ImageSet, k: int) -> ScanRequest:
        return ScanRequest(images, k, self.window.window_state.opened.names, cached_only=True)

    def _ask_scan(self, request: ScanRequest) -> None:
        self._scan_id = request.id
        self.window.controller.start_scan(request)

    def _on_pane_k_changed(self, k: int) -> None:
        if self.window.images is not None and self.window.controller.scanning is None:
            self._ask_scan(self._cached_request(self.window.images, k))

    def _on_scan_job_scan_noticed(self, message: str) -> None:
        self.window.status.showMessage(f"scan: {message}")

    def _on_controller_scan_progressed(self, done: int, total: int) -> None:
        if self.window.controller.scanning is not None and self.window.controller.scanning.id == self._scan_id:
            self.pane.show_progress(done, total)

    def _on_controller_scan_ended(self, outcome: object) -> None:
        if getattr(outcome, "request_id", None) != self._scan_id:
            return  # a scan replaced or made stale by newer images
        self._set_scanning(False)
        status = self.window.status
        if isinstance(outcome, ScanFinished):
            if outcome.from_file:
                status.showMessage(f"scan: {outcome.count:,} images, from {os.path.basename(outcome.from_file)}")
            elif outcome.from_cache:
                status.showMessage(f"scan: {outcome.count:,} images, loaded from the cache")
            else:
                status.showMessage(f"scan: {outcome.count:,} images in {outcome.elapsed_s:.1f} s")
            self.scan = outcome
            self.window.window_state.set_scan(outcome)
            self._shown_id = next_request_id()  # patches cut from an earlier scan are stale
            self.pane.show_note("")
            self._asked = None
            self.follow()
        elif isinstance(outcome, ScanStopped) and not outcome.cached_only:
            status.showMessage("scan cancelled")
            shown = "The results above are from the earlier scan. " if self.scan is not None else ""
            self.pane.show_note(f"Scan cancelled; nothing was kept. {shown}Press Find top images to scan again.")
        elif isinstance(outcome, Failure):
            status.showMessage(f"⚠ {outcome.message}")
            if outcome.request_id == self._file_request:
                self.pane.show_note(outcome.message)  # why the file is not shown
            else:
                self.pane.show_note(f"The scan failed: {outcome.message}")

    # The selected feature ------------------------------------------------------------------------

    def follow(self) -> None:
        """Show the window's layer and feature: frame it in the overview and ask for its patches."""
        s, scan, images = self.window.state, self.scan, self.window.images
        if scan is None or images is None or (s.layer, s.feature) == self._asked or s.layer not in scan.results:
            return
        if self._asked is None or self._asked[0] != s.layer:
            self.pane.show_overview(
                f"{s.layer}: each feature's best {scan.overview[s.layer].shape[1]} (click one to select it)",
                scan.overview[s.layer],
                s.feature,
            )
        else:
            self.pane.select(s.feature)
        self._asked = (s.layer, s.feature)
        top = scan.results[s.layer]
        indices = tuple(int(i) for i in top.indices[s.feature])
        request = TopPatchesRequest(images, s.layer, s.feature, indices, top.boxes[s.feature], scan.sides[s.layer])
        self.window.controller.submit(request)

    def _ask_waiting_lookup(self) -> None:
        request, self._lookup_waiting = self._lookup_waiting, None
        if request is not None and request.images is self.window.images and self.window.controller.scanning is None:
            self._ask_scan(request)

    def _on_controller_failed(self, failure: Failure) -> None:
        if failure.kind == "ViewRequest":
            self._ask_waiting_lookup()

    def _on_controller_result_ready(self, result: object) -> None:
        if isinstance(result, ViewResult):
            self._ask_waiting_lookup()
            return
        if not isinstance(result, TopPatchesResult) or result.request_id <= self._shown_id or self.scan is None:
            return
        self._shown_id = result.request_id
        self.shown = result
        title = f"{result.layer} feature {result.feature}: top {len(result.indices)} of {self.scan.count:,} images"
        self.pane.show_pairs(title, result.indices, result.patches, result.projections)
