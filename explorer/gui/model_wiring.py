"""Wires File > Open model… and the model switcher to the worker: which models the switcher lists,
which model loads are in flight, and what the window says when one fails.

A model loads on the worker (a ModelRequest); only once it has loaded does the window switch to it
(MainWindow.show_model), so a model that fails leaves the open one on screen, with one message.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox

from explorer.gui import open_model_dialog
from explorer.gui.messages import (
    Failure,
    ModelLoaded,
    ModelRequest,
    PageRequest,
    PredictRequest,
    ViewRequest,
    next_request_id,
)
from explorer.gui.window_state import BUNDLED_MODELS, OpenModel

if TYPE_CHECKING:
    from explorer.gui.main_window import MainWindow

BUNDLED_SPECS = tuple(spec for _label, spec in BUNDLED_MODELS)


class ModelWiring(QObject):
    """The switcher's entries (bundled models, then those opened this session) and the loads asked for."""

    def __init__(self, window: MainWindow, model_name: str) -> None:
        super().__init__(window)
        self.window = window
        self.models: dict[str, ModelRequest | None] = {}  # the switcher's own entries: key -> how to open it again
        self.asked: dict[int, ModelRequest] = {}  # loads sent to the worker and not yet answered
        self.key = self._remember_started(model_name)
        window.layer_select.set_models(self.entries(), self.key)
        window.layer_select.model_selected.connect(self._on_layer_select_model_selected)
        window.controller.result_ready.connect(self._on_controller_result_ready)
        window.controller.failed.connect(self._on_controller_failed)

    def _remember_started(self, name: str) -> str:
        """The switcher's key for the model the window started with."""
        info = self.window.window_state.opened.info
        if info.spec in BUNDLED_SPECS and info.checkpoint is None:
            return info.spec
        request = ModelRequest.reopening(info) if info.spec else None
        key = request.describe() if request is not None else f"{name} (as started)"
        self.models[key] = request
        return key

    def entries(self) -> list[tuple[str, str]]:
        """(label, key) of every model the switcher offers."""
        return list(BUNDLED_MODELS) + [(key, key) for key in self.models]

    def open_dialog(self) -> None:
        """File > Open model…"""
        request = open_model_dialog.ask_model(self.window)
        if request is not None:
            self.open_model(request)

    def open_model(self, request: ModelRequest) -> None:
        """Load a model on the worker; the window switches to it once it has loaded (the open one stays until then)."""
        self.asked[request.id] = request
        for kind in (ViewRequest, PageRequest, PredictRequest):
            self.window.controller.cancel(kind)
        self.window.controller.submit(request)

    def _on_layer_select_model_selected(self, key: str) -> None:
        request = self.models.get(key, ModelRequest(key) if key in BUNDLED_SPECS else None)
        if request is not None and key != self.key:
            self.open_model(replace(request, id=next_request_id()))

    def _on_controller_result_ready(self, result: object) -> None:
        if not isinstance(result, ModelLoaded):
            return
        asked = self.asked.pop(result.request_id, None)
        if asked is None:
            return
        if asked.spec in BUNDLED_SPECS and asked.checkpoint is None:
            self.key = asked.spec
        else:
            self.key = asked.describe()
            self.models[self.key] = asked
        self.window.layer_select.set_models(self.entries(), self.key)
        assert isinstance(result.opened, OpenModel)
        self.window.show_model(result.opened)

    def _on_controller_failed(self, failure: Failure) -> None:
        request = self.asked.pop(failure.request_id, None)
        if request is None:
            return
        w = self.window
        w.layer_select.set_models(self.entries(), self.key)  # the switcher shows the open model again
        w.status.show_failure(failure.message)
        still = w.window_state.opened.label
        QMessageBox.warning(
            w, "Open model", f"{request.describe()} could not be opened:\n{failure.message}\n\n{still} stays open."
        )
