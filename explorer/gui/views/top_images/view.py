"""The Top images view: starts, cancels and shows scans; asks the worker for the selected feature's patches.

The scan runs on the scan thread (see explorer.gui.scan_job) and leaves results for every layer; the
patches and projections of the selected feature come from the worker as TopPatchesRequests, latest wins,
so scrubbing features updates the pane live, during a scan too. A scan only starts when asked (Find top
images); an earlier scan of the same images and model is loaded from the cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QTimer

from explorer.core.images import ImageSet
from explorer.gui import dialogs
from explorer.gui.actions import EXPORT_MENU, ActionInfo
from explorer.gui.export_requests import VIEW_KINDS, figure_request
from explorer.gui.host import Host, View
from explorer.gui.messages import Failure, Progress
from explorer.gui.scan_job import ScanFinished, ScanNotice, ScanRequest, ScanStopped
from explorer.gui.views.top_images.jobs import TopPatchesRequest, TopPatchesResult
from explorer.gui.views.top_images.pane import TopImagesPane

LOOKUP_DELAY_MS = 1000  # the look-up of an earlier scan waits for the first picture, or this long at most


class TopImagesView(View):
    name = "top_images"
    title = "Top images"
    actions = (
        ActionInfo(
            "open_scan", "Open &scan results…", "&File", None,
            "Show a top-images scan made elsewhere (cnn-explorer scan --out, e.g. with torchrun on a cluster)", 30,
        ),
        ActionInfo("export_topk", "&Top images…", EXPORT_MENU, None,
                   "The top images of 16 features from the selected one", 40),
        ActionInfo(
            "find_top_images", "Find &top images", "&Analyse", "Ctrl+T",
            "Scan the images for each feature's top k images, every layer at once (k in the Top images pane)", 10,
        ),
        ActionInfo("cancel_scan", "&Cancel scan", "&Analyse", None, "Stop the running scan; nothing is cached", 11),
    )  # fmt: skip

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.pane = TopImagesPane()
        self.dock = host.add_dock(self, self.pane, area="bottom")
        self.batch_size = 256  # images per scan batch (tests make it small)
        self.scan: ScanFinished | None = None  # the results shown, for the images shown
        self.shown: TopPatchesResult | None = None  # the patches on screen
        self._scan_id = 0  # the newest scan asked for; other outcomes are stale
        self._asked: tuple[str, int] | None = None  # (layer, feature) last asked of the worker
        self._file_request = 0  # the newest scan-file request: its failure is said in the pane
        # The look-up of an earlier scan (it stats every file and hashes the weights) waits for the first
        # picture, so that it does not compete with it for the CPU.
        self._lookup_waiting: ScanRequest | None = None
        self._lookup_timer = QTimer(self, singleShot=True, interval=LOOKUP_DELAY_MS)
        self._lookup_timer.timeout.connect(self._ask_waiting_lookup)
        self.state.images_changed.connect(self.images_changed)
        self.state.model_changed.connect(self._on_state_model_changed)
        self.state.selection_changed.connect(self.follow)
        self.state.shown_changed.connect(lambda shown: shown is not None and self._ask_waiting_lookup())
        self.pane.scan_requested.connect(self.start_scan)
        self.pane.cancel_requested.connect(self.cancel_scan)
        self.pane.k_changed.connect(self._on_pane_k_changed)
        self.pane.image_selected.connect(lambda image: self.state.select(image=image))
        self.pane.feature_selected.connect(lambda feature: self.state.select(feature=feature))
        self.pane.wheel_scrolled.connect(lambda steps: self.state.select(feature=max(0, self.state.feature + steps)))
        self.pane.export_requested.connect(self.export)
        self._set_scanning(False)

    def handlers(self) -> dict[str, Callable[[], None]]:
        return {
            "find_top_images": lambda: self.start_scan(),
            "cancel_scan": self.cancel_scan,
            "open_scan": lambda: self.open_scan_file(),
            "export_topk": self.export,
        }

    def export(self) -> None:
        s, scan = self.state, self.state.scan
        if s.images is None:
            return
        if scan is None or scan.source_key != s.images.source_key or s.layer not in scan.results:
            self.host.say("Top images: no scan of these images yet; press Find top images first")
            return
        figure = figure_request("topk", s.as_shown(), k=scan.k, channels=s.channels(), top_k=scan.results[s.layer])
        self.host.export(figure, VIEW_KINDS["topk"].lower())

    def _set_scanning(self, scanning: bool) -> None:
        """The pane's controls and Analyse > Cancel scan follow whether a scan runs."""
        self.pane.set_scanning(scanning)
        cancel = self.host.action("cancel_scan")
        if cancel is not None:
            cancel.setEnabled(scanning)

    # Scans ---------------------------------------------------------------------------------------

    def start_scan(self, k: int | None = None) -> None:
        """Scan the shown images for each feature's top k (the pane's k when None), every layer at once."""
        state = self.state
        if state.images is None:
            return
        k = self.pane.k.value() if k is None else k
        self._ask_scan(ScanRequest(state.images, k, state.opened.names, batch_size=self.batch_size))
        self._set_scanning(True)
        self.host.open_dock(self.dock)
        self.host.say(f"scan: {len(state.images):,} images…")

    def open_scan_file(self, path: str | None = None) -> None:
        """Show a scan file made elsewhere (asks for it when `path` is None) if it fits the open model and images."""
        if path is None:
            path = dialogs.get_open_file_name(self.host.widget, "Open scan results", "Scan results (*.npz)")
        if not path or self.state.images is None:
            return
        request = ScanRequest(self.state.images, self.pane.k.value(), from_file=path)
        self._file_request = request.id
        self._ask_scan(request)
        self.host.open_dock(self.dock)

    def cancel_scan(self) -> None:
        self.host.cancel_scan()

    def _on_state_model_changed(self, _opened: object) -> None:
        if self.state.images is not None:
            self.images_changed(self.state.images)

    def images_changed(self, images: ImageSet) -> None:
        """New images or a new model: stop any scan, and load an earlier scan of these with this model, if any."""
        self.scan = self.shown = None
        self._lookup_waiting = None
        self.state.set_scan(None)
        self._asked = None
        self.host.cancel(TopPatchesRequest, self)  # patches of the previous images or model are stale
        self.pane.clear()
        self._set_scanning(False)
        self.pane.show_note("No scan yet for these images and this model: press Find top images.")
        if self.host.message().startswith("scan"):
            self.host.say("")  # it spoke of the images before these
        if self.host.scanning() is not None:
            self.host.cancel_scan()
        self._lookup_waiting = self._cached_request(images, self.pane.k.value())
        self._lookup_timer.start()

    def _cached_request(self, images: ImageSet, k: int) -> ScanRequest:
        return ScanRequest(images, k, self.state.opened.names, cached_only=True)

    def _ask_scan(self, request: ScanRequest) -> None:
        self._scan_id = request.id
        self.host.start_scan(request, self)

    def _on_pane_k_changed(self, k: int) -> None:
        if self.state.images is not None and self.host.scanning() is None:
            self._ask_scan(self._cached_request(self.state.images, k))

    def on_progress(self, progress: object) -> None:
        scanning = self.host.scanning()
        if isinstance(progress, ScanNotice):
            self.host.say(f"scan: {progress.message}")
        elif isinstance(progress, Progress) and scanning is not None and scanning.id == self._scan_id:
            self.pane.show_progress(progress.done, progress.total)

    def _scan_ended(self, outcome: object) -> None:
        if getattr(outcome, "request_id", None) != self._scan_id:
            return  # a scan replaced or made stale by newer images
        self._set_scanning(False)
        status = self.host
        if isinstance(outcome, ScanFinished):
            if outcome.from_file:
                status.say(f"scan: {outcome.count:,} images, from {os.path.basename(outcome.from_file)}")
            elif outcome.from_cache:
                status.say(f"scan: {outcome.count:,} images, loaded from the cache")
            else:
                status.say(f"scan: {outcome.count:,} images in {outcome.elapsed_s:.1f} s")
            self.scan = outcome
            self.state.set_scan(outcome)
            self.host.cancel(TopPatchesRequest, self)  # patches cut from an earlier scan are stale
            self.pane.show_note("")
            self._asked = None
            self.follow()
        elif isinstance(outcome, ScanStopped) and not outcome.cached_only:
            status.say("scan cancelled")
            shown = "The results above are from the earlier scan. " if self.scan is not None else ""
            self.pane.show_note(f"Scan cancelled; nothing was kept. {shown}Press Find top images to scan again.")
        elif isinstance(outcome, Failure):
            status.say(f"⚠ {outcome.message}")
            if outcome.request_id == self._file_request:
                self.pane.show_note(outcome.message)  # why the file is not shown
            else:
                self.pane.show_note(f"The scan failed: {outcome.message}")

    # The selected feature ------------------------------------------------------------------------

    def follow(self) -> None:
        """Show the window's layer and feature: frame it in the overview and ask for its patches."""
        s, scan, images = self.state, self.scan, self.state.images
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
        self.host.submit(request, self)

    def _ask_waiting_lookup(self) -> None:
        request, self._lookup_waiting = self._lookup_waiting, None
        if request is not None and request.images is self.state.images and self.host.scanning() is None:
            self._ask_scan(request)

    def on_failure(self, failure: Failure) -> None:
        if failure.kind == "ScanRequest":
            self._scan_ended(failure)

    def on_result(self, result: object) -> None:
        if isinstance(result, (ScanFinished, ScanStopped)):
            self._scan_ended(result)
            return
        if not isinstance(result, TopPatchesResult) or self.scan is None:
            return
        self.shown = result
        title = f"{result.layer} feature {result.feature}: top {len(result.indices)} of {self.scan.count:,} images"
        self.pane.show_pairs(title, result.indices, result.patches, result.projections)
