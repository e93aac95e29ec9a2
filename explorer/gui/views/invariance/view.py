"""The Invariance view (Analyse > Invariance to shifts, scale and rotation)."""

from __future__ import annotations

from explorer.analyses.invariance import InvarianceRequest
from explorer.gui.actions import ActionInfo
from explorer.gui.analysis_view import AnalysisView
from explorer.gui.views.invariance.pane import InvariancePane


class InvarianceView(AnalysisView):
    name = "invariance"
    title = "Invariance"
    open_action = "open_invariance"
    actions = (
        ActionInfo(
            "open_invariance", "&Invariance to shifts, scale and rotation", "&Analyse", None,
            "How far each layer's output and the prediction move as the image is shifted, scaled or rotated", 42,
        ),
    )  # fmt: skip

    def make_pane(self) -> InvariancePane:
        return InvariancePane()

    def figure_request(self) -> InvarianceRequest:
        s = self.state
        pane = self.pane
        chosen = tuple(n.strip() for n in pane.layers.text().split(",") if n.strip())  # type: ignore[attr-defined]
        return InvarianceRequest(s.image, pane.transform.currentText(), chosen or s.opened.names)  # type: ignore[attr-defined]

    def clear(self) -> None:
        super().clear()
        self.pane.layers.clear()  # type: ignore[attr-defined]  (the previous model's names; empty means all of the new one's)
