"""Wires the Backpropagation pane (a dock, opened from Analyse > Backpropagation) to the window and the worker.

The counting runs on the worker as a BackpropViewRequest, latest wins, for the window's current
image; the result is a BackpropFigure of numpy arrays. The view follows the image shown, and its
export is an ExportRequest like every other view's: the same BackpropRequest the command line
builds, so both write the same bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer

from explorer.core.delta_terms import conv_layers
from explorer.export.backprop_figure import BackpropRequest
from explorer.gui.messages import (
    BackpropViewRequest,
    BackpropViewResult,
    ExportRequest,
    Failure,
    ViewResult,
    next_request_id,
)
from explorer.gui.panes.backprop import BackpropPane
from explorer.gui.window_layout import analyse_dock

if TYPE_CHECKING:
    from explorer.gui.main_window import MainWindow

TITLE = "Backpropagation"
START = (0, 8, 8)  # input channel, row, col first shown


class BackpropWiring(QObject):
    """Asks the worker for the pane's element on the window's image; shows the newest answer."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.pane = BackpropPane()
        self.dock = analyse_dock(window, TITLE, "backpropagation", self.pane)
        self.shown: BackpropViewResult | None = None
        self._shown_id = 0
        self._asked_id = 0
        self._image: tuple[object, int] | None = None  # (image set, index) of the last counting asked for
        self._clamp = False
        self._placed = False  # the dock has been shown once, where the user may have moved it since
        self._show_layers(window.window_state.model)
        window.window_state.model_changed.connect(self._on_window_state_model_changed)
        c = window.controller
        c.result_ready.connect(self._on_controller_result_ready)
        c.failed.connect(self._on_controller_failed)
        self.pane.element_selected.connect(self._on_pane_element_selected)
        self.pane.export_requested.connect(self.export)
        self.dock.visibilityChanged.connect(self._on_dock_visibility_changed)

    def _show_layers(self, model: object) -> None:
        layers = conv_layers(model)  # type: ignore[arg-type]
        self.pane.set_layers(layers, "conv2" if "conv2" in layers else layers[0])
        self.pane.select(self.pane.layer.currentText(), *START)

    def _on_window_state_model_changed(self, opened: object) -> None:
        """A new model: its conv layers, and nothing counted on the previous one is shown."""
        self._shown_id = self._asked_id = next_request_id()
        self._image = None
        self._show_layers(self.window.window_state.model)
        self.request()

    def open(self) -> None:
        """Show the dock in front and count for the current choices."""
        if not self._placed:  # first time: a tab beside Projection (tabbed only now, so that a window
            # that never opens the view restores to exactly the size it was saved with)
            self.window.tabifyDockWidget(self.window.docks[3], self.dock)
        self.dock.show()
        self.dock.raise_()
        # The counting needs room: at least 60% of the window's height for the bottom docks.
        QTimer.singleShot(0, self._make_room)
        self.request()

    def _make_room(self) -> None:
        self.window.resizeDocks([self.dock], [int(self.window.height() * 0.6)], Qt.Orientation.Vertical)

    def request(self) -> None:
        """Ask the worker for the pane's element on the window's image (latest wins)."""
        w = self.window
        if w.images is None or not self.dock.isVisible():
            return
        layer, channel, row, col = self.pane.element()
        figure = BackpropRequest(layer, w.state.image, channel, row, col, clamp=self._clamp)
        request = BackpropViewRequest(w.images, figure, w.window_state.opened.label)
        self._asked_id, self._image = request.id, (w.images, w.state.image)
        w.controller.submit(request)

    def export_request(self) -> ExportRequest | None:
        """The export of what the pane shows: its element, image and output channel."""
        if self.shown is None or self.window.images is None:
            return None
        f = self.shown.figure
        e = f.explanation
        figure = BackpropRequest(e.layer, f.index, e.channel, e.row, e.col, self.pane.out_channel.value())
        return ExportRequest(self.window.images, figure, "", self.window.window_state.opened.label)

    def export(self) -> None:
        request = self.export_request()
        if request is None:
            self.window.status.showMessage("Backpropagation: nothing counted yet")
            return
        self.window.export_wiring.export_request(request, "backpropagation")

    def _on_pane_element_selected(self, layer: str, _channel: int, _row: int, _col: int) -> None:
        shown = self.shown.figure.explanation.layer if self.shown is not None else None
        self._clamp = layer != shown  # a new layer: the position may lie outside its map
        self.request()

    def _on_dock_visibility_changed(self, visible: bool) -> None:
        self._placed = self._placed or visible
        if visible and (self.shown is None or self._image != (self.window.images, self.window.state.image)):
            self.request()

    def _on_controller_result_ready(self, result: object) -> None:
        if isinstance(result, BackpropViewResult):
            if result.request_id <= self._shown_id:
                return
            self._shown_id = result.request_id
            self.shown = result
            self._clamp = False
            self.pane.show_figure(result.figure)
            self.window.status.show_timing(result.elapsed_ms)
        elif isinstance(result, ViewResult) and (self.window.images, result.index) != self._image:
            self.request()  # the window moved to another image

    def _on_controller_failed(self, failure: Failure) -> None:
        if failure.request_id == self._asked_id:
            self.pane.show_message(f"Not counted: {failure.message}")
