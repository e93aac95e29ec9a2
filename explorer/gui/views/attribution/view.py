"""The Attribution view (Analyse > Attribution): the class activation map of the chosen class, method and layer
for the selected image, beside the class's gradient, guided and deconvnet pictures. It follows the image;
its export is `cnn-explorer export cam`'s request."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from explorer.analyses.attribution import AttributionRequest
from explorer.gui.actions import ActionInfo
from explorer.gui.analysis_view import AnalysisView
from explorer.gui.host import Host
from explorer.gui.views.attribution.pane import AttributionPane


class AttributionView(AnalysisView):
    name = "attribution"
    title = "Attribution"
    open_action = "open_attribution"
    room = (0.6, 0.0)  # five pictures, each with its colour bar, in two rows
    priority = 6  # it follows the image: before the pages and the long analyses
    actions = (
        ActionInfo(
            "open_attribution", "&Attribution (class activation maps)", "&Analyse", "Ctrl+G",
            "The chosen class's Grad-CAM (or a variant) over the image, beside its gradient, guided and deconvnet "
            "pictures", 30,
        ),
    )  # fmt: skip

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self._show_choices()

    def make_pane(self) -> QWidget:
        return AttributionPane()

    def _show_choices(self) -> None:
        s = self.state
        self.pane.set_choices(s.opened.names, s.opened.info.classes)  # type: ignore[attr-defined]

    def figure_request(self) -> AttributionRequest:
        method, layer, target = self.pane.choices()  # type: ignore[attr-defined]
        return AttributionRequest(self.state.image, layer, method, target)

    def clear(self) -> None:
        super().clear()
        self._show_choices()

    def export(self) -> None:
        if self.shown is None or self.state.images is None:
            self.host.say(f"{self.title}: nothing computed yet")
            return
        self.host.export(self.shown.figure.cam.request, "class activation map")
