"""Wires the three experiment panes (Analyse > Occlusion, Feature evolution, Invariance) to the window and the worker.

Each view is a dock, tabbed beside Projection when first opened. It asks the worker for an
ExperimentViewRequest built from the window's image, layer and feature (and the pane's options),
latest wins: a newer request cancels the one it replaces. Progress comes from the worker while it
runs; Cancel stops it at its next step. Export writes the shown figure's request through the
window's export, the same request the command line builds, so both write the same bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from explorer.core.graph import layers
from explorer.export.errors import ExportError
from explorer.export.experiments import EvolutionRequest, ExperimentRequest, InvarianceRequest, OcclusionRequest, spread
from explorer.export.selection import parse_indices
from explorer.gui.messages import (
    ExperimentProgress,
    ExperimentViewRequest,
    ExperimentViewResult,
    ExportRequest,
    Failure,
    ViewResult,
    next_request_id,
)
from explorer.gui.panes.evolution import EvolutionPane
from explorer.gui.panes.invariance import InvariancePane
from explorer.gui.panes.occlusion import OcclusionPane
from explorer.gui.window_layout import analyse_dock

if TYPE_CHECKING:
    from explorer.gui.main_window import MainWindow

TITLES = {"occlusion": "Occlusion", "evolution": "Feature evolution", "invariance": "Invariance"}
PANES = {"occlusion": OcclusionPane, "evolution": EvolutionPane, "invariance": InvariancePane}
EVOLUTION_FEATURES = 4  # features shown when the pane names none: the selected one and the next


class ExperimentWiring(QObject):
    """One experiment view: asks the worker for the window's state, shows the newest answer."""

    def __init__(self, window: MainWindow, kind: str) -> None:
        super().__init__(window)
        self.window = window
        self.kind = kind
        self.pane = PANES[kind]()
        self.controls = self.pane.controls
        self.dock = analyse_dock(window, TITLES[kind], kind, self.pane)
        self.shown: ExperimentViewResult | None = None
        self._shown_id = 0
        self._asked: ExperimentViewRequest | None = None
        self._placed = False
        c = window.controller
        c.result_ready.connect(self._on_controller_result_ready)
        c.failed.connect(self._on_controller_failed)
        c.worker.experiment_progressed.connect(self._on_worker_experiment_progressed)
        window.window_state.model_changed.connect(self._on_window_state_model_changed)
        self.pane.options_changed.connect(self.request)
        self.controls.run_requested.connect(self.request)
        self.controls.cancel_requested.connect(self.cancel)
        self.controls.export_requested.connect(self.export)

    def open(self) -> None:
        """Show the dock in front and run the experiment for the window's state."""
        if not self._placed:
            self.window.tabifyDockWidget(self.window.docks[3], self.dock)
            self._placed = True
        self.dock.show()
        self.dock.raise_()
        self.request()

    def figure_request(self) -> ExperimentRequest | None:
        """The request for the window's image, layer and feature and the pane's options; None with no images."""
        w = self.window
        if w.images is None:
            return None
        s = w.state
        if isinstance(self.pane, OcclusionPane):
            size, stride = self.pane.options()
            return OcclusionRequest(s.image, s.layer, s.feature, size, stride)
        if isinstance(self.pane, EvolutionPane):
            channels = next(lay.channels for lay in layers(w.controller.worker.model) if lay.name == s.layer)
            text = self.pane.features.text().strip()
            if text:
                features = parse_indices(text, channels, "features")
            else:
                start = max(0, min(s.feature, channels - EVOLUTION_FEATURES))
                features = tuple(range(start, min(start + EVOLUTION_FEATURES, channels)))
            return EvolutionRequest(s.layer, features, spread(len(w.images)))
        assert isinstance(self.pane, InvariancePane)
        names = [lay.name for lay in layers(w.controller.worker.model)]
        chosen = tuple(n.strip() for n in self.pane.layers.text().split(",") if n.strip()) or tuple(names)
        return InvarianceRequest(s.image, self.pane.transform.currentText(), chosen)

    def request(self) -> None:
        """Ask the worker (latest wins: the request this one replaces is cancelled)."""
        w = self.window
        if not self.dock.isVisible():
            return
        try:
            figure = self.figure_request()
        except ExportError as exc:
            self.controls.ended(str(exc))
            return
        if figure is None:
            return
        if self._asked is not None and self._asked.figure == figure and self._asked.images is w.images:
            return  # the same experiment is running or shown already
        if self._asked is not None and self._asked.id > self._shown_id:
            w.controller.cancel_experiment(self._asked.id)
        self._asked = ExperimentViewRequest(w.images, figure, w.window_state.opened.label)
        self.controls.started()
        w.controller.submit(self._asked)

    def cancel(self) -> None:
        if self._asked is not None and self._asked.id > self._shown_id:
            self.window.controller.cancel_experiment(self._asked.id)
            asked, self._asked = self._asked, None
            self.controls.ended(f"{TITLES[self.kind]}: cancelled")
            del asked

    def export_request(self) -> ExportRequest | None:
        if self.shown is None or self.window.images is None:
            return None
        return ExportRequest(self.window.images, self.shown.figure.request, "", self.window.window_state.opened.label)

    def export(self) -> None:
        request = self.export_request()
        if request is None:
            self.window.status.showMessage(f"{TITLES[self.kind]}: nothing computed yet")
            return
        self.window.export_wiring.export_request(request, TITLES[self.kind].lower())

    def _on_window_state_model_changed(self, _opened: object) -> None:
        """A new model: nothing the previous one computed stays shown (a late answer of it is dropped), and an
        open view computes again with the new one."""
        if self._asked is not None and self._asked.id > self._shown_id:
            self.window.controller.cancel_experiment(self._asked.id)
        self._asked = self.shown = None
        self._shown_id = next_request_id()
        self.pane.clear()
        if isinstance(self.pane, InvariancePane):
            self.pane.layers.clear()  # the previous model's layer names; empty means all of the new one's
        self.controls.ended("the model changed: run again for it" if not self.dock.isVisible() else "")
        # No request here: the window's selection is fitted to the new model after this signal; its next
        # view result asks this view again with it.

    def _on_worker_experiment_progressed(self, progress: ExperimentProgress) -> None:
        if self._asked is not None and progress.request_id == self._asked.id:
            self.controls.progressed(progress.done, progress.total)

    def _on_controller_result_ready(self, result: object) -> None:
        if isinstance(result, ExperimentViewResult) and result.figure.request.kind == self.kind:
            if result.request_id <= self._shown_id:
                return
            self._shown_id = result.request_id
            self.shown = result
            self.pane.show_figure(result.figure)  # type: ignore[arg-type]
            self.controls.progressed(1, 1)
            self.controls.ended(f"{result.elapsed_ms / 1000:.1f} s")
        elif isinstance(result, ViewResult) and self.dock.isVisible():
            self.request()  # the window moved to another image, layer or feature

    def _on_controller_failed(self, failure: Failure) -> None:
        if self._asked is not None and failure.request_id == self._asked.id:
            self.controls.ended(failure.message)


def experiment_wirings(window: MainWindow) -> dict[str, ExperimentWiring]:
    """The three views, by kind, for the window's Analyse menu."""
    return {kind: ExperimentWiring(window, kind) for kind in TITLES}
