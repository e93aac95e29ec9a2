"""The Backpropagation view (Analyse > Backpropagation through a conv layer): the pane's element counted on the
selected image, as the command line's BackpropRequest, so its export writes the same bytes."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from explorer.analyses.backprop import BackpropRequest
from explorer.core.delta_terms import conv_layers
from explorer.gui.actions import ActionInfo
from explorer.gui.analysis_view import AnalysisView
from explorer.gui.host import Host
from explorer.gui.messages import AnalysisResult
from explorer.gui.views.backprop.pane import BackpropPane

START = (0, 8, 8)  # input channel, row, col first shown


class BackpropView(AnalysisView):
    name = "backpropagation"
    title = "Backpropagation"
    open_action = "open_backprop"
    priority = 3  # it follows the image as the maps do: before the pages and the long analyses
    room = (0.0, 0.6)  # the counting needs room: 60% of the window's height
    actions = (
        ActionInfo(
            "open_backprop", "&Backpropagation through a conv layer", "&Analyse", "Ctrl+B",
            "Count one input element's delta on fingers: delta x weight over the outputs it fed, the kernel turned 180°",
            20,
        ),
    )  # fmt: skip

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self._clamp = False
        self._show_layers()
        self.pane.element_selected.connect(self._on_pane_element_selected)  # type: ignore[attr-defined]
        self.pane.export_requested.connect(self.export)  # type: ignore[attr-defined]

    def make_pane(self) -> QWidget:
        return BackpropPane()

    def _show_layers(self) -> None:
        layers = conv_layers(self.state.model)
        pane: BackpropPane = self.pane  # type: ignore[assignment]
        pane.set_layers(layers, "conv2" if "conv2" in layers else layers[0])
        pane.select(pane.layer.currentText(), *START)

    def figure_request(self) -> BackpropRequest:
        layer, channel, row, col = self.pane.element()  # type: ignore[attr-defined]
        return BackpropRequest(layer, self.state.image, channel, row, col, clamp=self._clamp)

    def _on_pane_element_selected(self, layer: str, _channel: int, _row: int, _col: int) -> None:
        shown = self.shown.figure.explanation.layer if self.shown is not None else None
        self._clamp = layer != shown  # a new layer: the position may lie outside its map
        self.request()

    def show(self, result: AnalysisResult) -> None:
        self._clamp = False
        self.pane.show_figure(result.figure)  # type: ignore[attr-defined]
        self.host.show_timing(result.elapsed_ms)

    def shows(self, figure: object) -> bool:
        """Whether the counting shown is for the image and the element asked (a clamped position is the one shown)."""
        if self.shown is None or not isinstance(figure, BackpropRequest):
            return False
        f = self.shown.figure
        e = f.explanation
        return (f.index, e.layer, e.channel, e.row, e.col) == (
            figure.image,
            figure.layer,
            figure.channel,
            figure.row,
            figure.col,
        )

    def mark_stale(self, stale: bool) -> None:
        self.pane.set_stale(stale)  # type: ignore[attr-defined]

    def said(self, message: str) -> None:
        if message:
            self.pane.show_message(f"Not counted: {message}")  # type: ignore[attr-defined]

    def clear(self) -> None:
        self._show_layers()

    def export(self) -> None:
        """The export of what the pane shows: its element, image and output channel."""
        if self.shown is None or self.state.images is None:
            self.host.say("Backpropagation: nothing counted yet")
            return
        f = self.shown.figure
        e = f.explanation
        figure = BackpropRequest(e.layer, f.index, e.channel, e.row, e.col, self.pane.out_channel.value())  # type: ignore[attr-defined]
        self.host.export(figure, "backpropagation")
