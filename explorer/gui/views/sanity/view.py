"""The Sanity view (Analyse > Sanity checks): for the selected image, the cascading randomization of each method's
picture and RISE's deletion and insertion curves, computed in the background with progress, stopped when the
image changes (latest wins); its export is `cnn-explorer export sanity`'s request."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from explorer.analyses.attribution import FaithfulnessRequest
from explorer.gui.actions import ActionInfo
from explorer.gui.analysis_view import AnalysisView
from explorer.gui.views.sanity.pane import SanityPane


class SanityView(AnalysisView):
    name = "sanity"
    title = "Sanity checks"
    open_action = "open_sanity"
    room = (0.6, 0.0)  # two plots and the strip side by side
    actions = (
        ActionInfo(
            "open_sanity", "Sanity &checks (do the pictures depend on the weights?)", "&Analyse", None,
            "Randomize the model's layers from the top down and watch each method's picture: guided backprop and "
            "the deconvnet barely change (Adebayo et al., 2018); with RISE's deletion and insertion curves", 31,
        ),
    )  # fmt: skip

    def make_pane(self) -> QWidget:
        return SanityPane()

    def figure_request(self) -> FaithfulnessRequest:
        return FaithfulnessRequest(self.state.image)

    def export(self) -> None:
        if self.shown is None or self.state.images is None:
            self.host.say(f"{self.title}: nothing computed yet")
            return
        self.host.export(self.shown.figure.sanity.request, "sanity checks")
