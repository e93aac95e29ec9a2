"""The Prediction view: the probabilities of the selection's pass (explorer.gui.selection_pass), drawn when the
image changes; the true class matched to the model's classes by name."""

from __future__ import annotations

from explorer.core.labels import model_label
from explorer.gui.host import Host, View
from explorer.gui.messages import ViewResult
from explorer.gui.views.prediction.pane import PredictionPane


class PredictionView(View):
    name = "prediction"
    title = "Prediction"

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.pane = PredictionPane(self.state.opened.info.classes)
        self.dock = host.add_dock(self, self.pane, area="right")
        self._drawn: tuple[int, int] | None = None  # (pass id, image) on screen
        self.state.shown_changed.connect(self._on_state_shown_changed)
        self.state.model_changed.connect(lambda opened: self.pane.set_classes(opened.info.classes))

    def _on_state_shown_changed(self, r: ViewResult | None) -> None:
        if r is None:
            self._drawn = None
            return
        if self._drawn is not None and self._drawn[1] == r.index:
            return  # the same image: the bars have not changed
        self._drawn = (r.request_id, r.index)
        images = self.state.images
        if r.unreadable:
            self.pane.show_unreadable(r.unreadable)
        elif images is not None:
            self.pane.show_probs(r.probs, model_label(self.state.model, images, r.index))
