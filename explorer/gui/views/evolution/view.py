"""The Feature evolution view (Analyse > Feature evolution over training)."""

from __future__ import annotations

from explorer.analyses.evolution import EvolutionRequest, spread
from explorer.analyses.selection import parse_indices
from explorer.gui.actions import ActionInfo
from explorer.gui.analysis_view import AnalysisView
from explorer.gui.views.evolution.pane import EvolutionPane

FEATURES = 4  # features shown when the pane names none: the selected one and the next


class EvolutionView(AnalysisView):
    name = "evolution"
    title = "Feature evolution"
    open_action = "open_evolution"
    actions = (
        ActionInfo(
            "open_evolution", "Feature &evolution over training", "&Analyse", None,
            "Each feature's strongest activation and its projection at every training snapshot", 41,
        ),
    )  # fmt: skip

    def make_pane(self) -> EvolutionPane:
        return EvolutionPane()

    def figure_request(self) -> EvolutionRequest | None:
        s = self.state
        if s.images is None:
            return None
        channels = s.channels()
        text = self.pane.features.text().strip()  # type: ignore[attr-defined]
        if text:
            features = parse_indices(text, channels, "features")
        else:
            start = max(0, min(s.feature, channels - FEATURES))
            features = tuple(range(start, min(start + FEATURES, channels)))
        return EvolutionRequest(s.layer, features, spread(len(s.images)))
