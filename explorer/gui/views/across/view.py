"""The Feature across images view: the selected feature on the page of the browser's filter around the image.

The page is a job of its own, of a lower priority than the selection's pass, asked for once scrubbing pauses
PAGE_DELAY_MS: a page computed on the way would hold up the next feature's pass on the one worker.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer

from explorer.core.errors import ExplorerError
from explorer.gui import image_choice
from explorer.gui.actions import EXPORT_MENU, ActionInfo
from explorer.gui.export_requests import VIEW_KINDS, figure_request
from explorer.gui.host import Host, View
from explorer.gui.views.across.jobs import PageRequest, PageResult
from explorer.gui.views.across.pane import AcrossImagesPane

PAGE_DELAY_MS = 100


class AcrossView(View):
    name = "feature_across_images"
    title = "Feature across images"
    actions = (ActionInfo("export_feature", "&Feature across images…", EXPORT_MENU, None,
                          "This feature across the page of images", 30),)  # fmt: skip

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.pane = AcrossImagesPane()
        self.dock = host.add_dock(self, self.pane, area="bottom")
        self.shown: PageResult | None = None
        self._timer = QTimer(self, singleShot=True, interval=PAGE_DELAY_MS)
        self._timer.timeout.connect(self.request)
        self.pane.image_selected.connect(lambda image: self.state.select(image=image))
        self.pane.wheel_scrolled.connect(lambda steps: self.state.select(feature=max(0, self.state.feature + steps)))
        self.pane.export_requested.connect(self.export)
        for signal in (self.state.selection_changed, self.state.options_changed, self.state.filter_changed):
            signal.connect(self._on_state_changed)
        self.state.model_changed.connect(self._forget)
        self.state.images_changed.connect(self._forget)

    def handlers(self) -> dict[str, Callable[[], None]]:
        return {"export_feature": self.export}

    def _on_state_changed(self, *_args: object) -> None:
        """The page shown or on its way is for an earlier selection: the running one stops at its next layer (a page
        of photos is a forward pass each, and the next feature's pass would wait behind it), a new one is asked
        once the selection rests."""
        self.host.cancel(PageRequest, self)
        self.pane.set_stale(self.shown is not None and not self._current(self.shown))
        self._timer.start()

    def _current(self, r: PageResult) -> bool:
        s = self.state
        return (r.layer, r.feature, tuple(r.page)) == (s.layer, s.feature, tuple(s.page()))

    def _forget(self, *_args: object) -> None:
        self.shown = None
        self.pane.show_waiting("waiting for this feature across the page of images…")

    def request(self) -> None:
        s = self.state
        if s.images is not None:
            self.host.submit(PageRequest(s.images, s.layer, s.feature, s.layer_options(), s.page()), self)

    def on_result(self, result: object) -> None:
        if isinstance(result, PageResult):
            self.shown = result
            r = result
            self.pane.show_page(f"{r.layer} feature {r.feature}", r.page, r.page_images, r.page_projections)
            self.pane.set_stale(not self._current(r))

    def export(self) -> None:
        """The page, the whole filter, or a range: the exact set the user chooses."""
        s = self.state
        if s.images is None:
            return
        page = s.page()
        if not page:
            self.host.say("Feature across images: the browser's filter shows no images")
            return
        try:
            chosen = image_choice.ask_images(self.host.widget, page, s.filtered, len(s.images))
        except ExplorerError as exc:
            self.host.fail(str(exc))
            return
        if chosen is not None:
            figure = figure_request("feature", s.as_shown(), page=chosen)
            self.host.export(figure, VIEW_KINDS["feature"].lower())
