"""The Occlusion view (Analyse > Occlusion sensitivity); it publishes its result for the Input image's overlay."""

from __future__ import annotations

from explorer.analyses.occlusion import OcclusionRequest
from explorer.gui.actions import ActionInfo
from explorer.gui.analysis_view import AnalysisView
from explorer.gui.messages import AnalysisResult
from explorer.gui.views.occlusion.pane import OcclusionPane


class OcclusionView(AnalysisView):
    name = "occlusion"
    title = "Occlusion"
    open_action = "open_occlusion"
    actions = (
        ActionInfo(
            "open_occlusion", "&Occlusion sensitivity", "&Analyse", None,
            "Slide a grey square over the image: p(class), the feature's map sum and the top class at each position", 40,
        ),
    )  # fmt: skip

    def make_pane(self) -> OcclusionPane:
        pane = OcclusionPane()
        pane.fit_to(self.state.opened.info.input_size)
        return pane

    def clear(self) -> None:
        super().clear()
        size = self.state.opened.info.input_size
        if self.pane.size_box.maximum() != size:  # type: ignore[attr-defined]  (another model's input size)
            self.pane.fit_to(size)  # type: ignore[attr-defined]

    def figure_request(self) -> OcclusionRequest:
        s = self.state
        size, stride = self.pane.options()  # type: ignore[attr-defined]
        return OcclusionRequest(s.image, s.layer, s.feature, size, stride)

    def show(self, result: AnalysisResult) -> None:
        super().show(result)
        self.state.publish("occlusion", result.figure)
