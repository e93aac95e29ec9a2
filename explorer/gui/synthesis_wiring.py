"""Wires the Synthesized pane (a dock beside Projection, opened from Analyse) to the window and the worker.

The selected feature's synthesis runs on the worker as a SynthesisRequest, latest wins: a new
feature or setting stops the running one at its next step. Intermediate images arrive every few
steps as SynthesisImages. Settings are remembered in QSettings; results are cached on the worker
per model, layer, feature and settings. The export is an ExportRequest holding the same
MaximizeRequest the command line builds, so both write the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from explorer.core.graph import model_graph
from explorer.core.synthesis import MaximizeSettings
from explorer.export.maximize_figure import MaximizeRequest
from explorer.gui.messages import (
    ExportRequest,
    Failure,
    SynthesisImages,
    SynthesisRequest,
    SynthesisStopped,
    next_request_id,
)
from explorer.gui.panes.synthesis import SynthesisPane
from explorer.gui.window_layout import analyse_dock

if TYPE_CHECKING:
    from explorer.gui.main_window import MainWindow

TITLE = "Synthesized"
SETTINGS_KEY = "synthesis/settings"


def read_settings(store) -> MaximizeSettings:
    """The remembered settings; the defaults when there are none or they do not read."""
    try:
        saved = json.loads(str(store.value(SETTINGS_KEY, "{}")))
        known = {f.name for f in fields(MaximizeSettings)}
        return MaximizeSettings(**{k: v for k, v in saved.items() if k in known})
    except (ValueError, TypeError, AttributeError):
        return MaximizeSettings()


class SynthesisWiring(QObject):
    """Asks the worker for the window's feature (or the whole layer); shows the newest images."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.pane = SynthesisPane()
        self.dock = analyse_dock(window, TITLE, "synthesized", self.pane)
        self.settings = read_settings(window.settings)
        self.pane.show_settings(self.settings)
        self.shown: SynthesisImages | None = None  # the selected feature's newest final images
        self.layer_shown: SynthesisImages | None = None  # the whole layer's
        self._asked: SynthesisRequest | None = None
        self._placed = False
        self._first_id = 0  # results of requests older than this were made by a model no longer open
        c = window.controller
        c.result_ready.connect(self._on_controller_result_ready)
        c.synthesis_progressed.connect(self._on_controller_synthesis_progressed)
        c.failed.connect(self._on_controller_failed)
        self.pane.settings_changed.connect(self._on_pane_settings_changed)
        self.pane.layer_requested.connect(self.request_layer)
        self.pane.cancel_requested.connect(self._on_pane_cancel_requested)
        self.pane.feature_selected.connect(window.set_feature)
        self.pane.export_requested.connect(self.export)
        self.dock.visibilityChanged.connect(self._on_dock_visibility_changed)
        window.window_state.model_changed.connect(self._on_window_state_model_changed)

    def open(self) -> None:
        if not self._placed:  # a tab beside Projection, made only now (see BackpropWiring.open)
            self.window.tabifyDockWidget(self.window.docks[3], self.dock)
        self.dock.show()
        self.dock.raise_()
        self.request()

    # Asking ------------------------------------------------------------------------------------

    def _submit(self, features: tuple[int, ...]) -> None:
        request = SynthesisRequest(self.window.state.layer, features, self.settings)
        self._asked = request
        self.pane.set_running(True)
        self.pane.show_message("")
        self.window.controller.submit(request)

    def request(self) -> None:
        """Synthesize the window's feature, unless it is shown or asked for already."""
        s = self.window.state
        if not self.dock.isVisible():
            return
        if self.layer_shown is not None and self._current(self.layer_shown) and s.feature in self.layer_shown.features:
            self.pane.select(s.feature)
        want = (s.layer, (s.feature,), self.settings)
        for have in (self._asked, self.shown):
            if have is not None and (have.layer, have.features, have.settings) == want:
                return
        self._submit((s.feature,))

    def request_layer(self) -> None:
        layer = self.window.state.layer
        channels = model_graph(self.window.controller.worker.model).layer(layer).channels
        self._submit(tuple(range(channels)))

    def _current(self, images: SynthesisImages) -> bool:
        return images.layer == self.window.state.layer and images.settings == self.settings

    # Showing -----------------------------------------------------------------------------------

    def _show(self, images: SynthesisImages) -> None:
        s = self.window.state
        if images.layer != s.layer:
            return
        if len(images.features) > 1:
            state = "" if images.done else f", step {images.step}/{images.steps}"
            self.pane.show_overview(f"{images.layer}: every feature{state}", images.features, images.images, s.feature)
        if s.feature in images.features:
            i = images.features.index(s.feature)
            value = "" if not images.done else f", reaches {float(images.values[i]):.2f}"
            self.pane.show_feature(
                f"{images.layer} feature {s.feature}: step {images.step}/{images.steps}{value}", images.images[i]
            )
        self.pane.show_step(images.step, images.steps)

    def _on_window_state_model_changed(self, _opened: object) -> None:
        """A new model: nothing the previous one synthesized stays shown (a late answer of it is dropped), and
        an open view synthesizes again with the new one."""
        if self._asked is not None:
            self.window.controller.cancel_synthesis()
        self._asked = self.shown = self.layer_shown = None
        self._first_id = next_request_id()
        self.pane.set_running(False)
        self.pane.clear_overview()
        self.pane.view.clear_picture()
        self.pane.view.set_title("")
        self.pane.show_message("")
        # No request here: the window's selection is fitted to the new model after this signal, and its
        # request_view asks this view again with it.

    def _on_controller_synthesis_progressed(self, images: SynthesisImages) -> None:
        if self._asked is not None and images.request_id == self._asked.id:
            self._show(images)

    def _on_controller_result_ready(self, result: object) -> None:
        if isinstance(result, (SynthesisImages, SynthesisStopped)) and result.request_id < self._first_id:
            return
        if isinstance(result, SynthesisImages):
            if len(result.features) > 1:
                self.layer_shown = result
            else:
                self.shown = result
            self._show(result)
            if self._asked is not None and result.request_id == self._asked.id:
                self._asked = None
                self.pane.set_running(False)
                self.window.status.show_timing(result.elapsed_ms)
        elif isinstance(result, SynthesisStopped) and self._asked is not None and result.request_id == self._asked.id:
            self._asked = None
            self.pane.set_running(False)
            self.pane.show_message(f"Stopped after {result.step} steps.")

    def _on_controller_failed(self, failure: Failure) -> None:
        if self._asked is not None and failure.request_id == self._asked.id:
            self._asked = None
            self.pane.set_running(False)
            self.pane.show_message(f"Not synthesized: {failure.message}")

    def _on_pane_settings_changed(self, settings: MaximizeSettings) -> None:
        self.settings = settings
        self.window.settings.setValue(SETTINGS_KEY, json.dumps(settings.as_dict()))
        self.pane.clear_overview()
        self.layer_shown = None
        self.request()

    def _on_pane_cancel_requested(self) -> None:
        self.window.controller.cancel_synthesis()

    def _on_dock_visibility_changed(self, visible: bool) -> None:
        self._placed = self._placed or visible
        if visible:
            self.request()

    # Export ------------------------------------------------------------------------------------

    def export_request(self) -> ExportRequest | None:
        """The whole layer when its grid is shown for these settings, else the selected feature."""
        w = self.window
        if w.images is None:
            return None
        whole = self.layer_shown is not None and self._current(self.layer_shown)
        features = None if whole else (w.state.feature,)
        figure = MaximizeRequest(w.state.layer, features, self.settings)
        return ExportRequest(w.images, figure, "", w.window_state.opened.label)  # as the command line names it

    def export(self) -> None:
        request = self.export_request()
        if request is None:
            self.window.status.showMessage("Synthesized: no images open yet")
            return
        self.window.export_wiring.export_request(request, "synthesized images")
