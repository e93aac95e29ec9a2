"""The pass for the selection: one job computes the maps, the probabilities and the projection(s) of the selected
image, layer and feature, and the state holds its answer for the views that draw it (maps, projection,
prediction, input image). One pass instead of one job per view: the forward is shared, and a scrub step costs
one round trip to the worker.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from explorer.gui.host import Host
from explorer.gui.messages import Failure, ViewRequest, ViewResult


class SelectionPass(QObject):
    """Asks for the selection's pass whenever the selection or the options change (latest wins)."""

    def __init__(self, host: Host) -> None:
        super().__init__(host.widget)
        self.host = host
        self.state = host.state
        self.state.selection_changed.connect(self.request)
        self.state.options_changed.connect(self.request)

    def request(self, *_args: object) -> None:
        s = self.state
        if s.images is None:
            return
        self.host.submit(ViewRequest(s.images, s.image, s.layer, s.feature, s.layer_options()), self)  # type: ignore[arg-type]

    def on_result(self, result: object) -> None:
        assert isinstance(result, ViewResult)
        self.state.show(result)
        self.host.show_timing(result.elapsed_ms)

    def on_failure(self, failure: Failure) -> None:
        self.host.fail(failure.message)

    def on_progress(self, progress: object) -> None:
        pass
