"""The Layer and feature view: selects the layer and the feature, and switches and opens models.

A model loads on the worker (a ModelRequest); only once it has loaded does the state switch to it, so a
model that fails leaves the open one on screen, with one message. The switcher lists the bundled models,
then those opened this session.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from PySide6.QtWidgets import QMessageBox

from explorer.gui.actions import ActionInfo
from explorer.gui.host import Host, View
from explorer.gui.messages import Failure, ModelLoaded, ModelRequest, next_request_id
from explorer.gui.views.choices import open_model_dialog
from explorer.gui.views.choices.pane import LayerSelectPane

BUNDLED_MODELS = (("SeedNet", "seednet"), ("ZFNet (CIFAR)", "zfnet-cifar"))  # the switcher's (label, spec)
BUNDLED_SPECS = tuple(spec for _label, spec in BUNDLED_MODELS)


class ChoicesView(View):
    name = "layer_and_feature"
    title = "Layer and feature"
    actions = (
        ActionInfo(
            "open_model", "Open &model…", "&File", "Ctrl+M",
            "Open a model: a checkpoint plus its architecture (bundled, torchvision:NAME, FILE.py:CLASS) or a model card",
            10,
        ),
        ActionInfo("next_feature", "Next feature", "&Navigate", "Right", order=10),
        ActionInfo("previous_feature", "Previous feature", "&Navigate", "Left", order=11),
        ActionInfo("previous_layer", "Previous layer", "&Navigate", "Up", order=20),
        ActionInfo("next_layer", "Next layer", "&Navigate", "Down", order=21),
    )  # fmt: skip

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.pane = LayerSelectPane()
        self.dock = host.add_dock(self, self.pane, area="right")
        self.models: dict[str, ModelRequest | None] = {}  # the switcher's own entries: key -> how to open it again
        self.asked: dict[int, ModelRequest] = {}  # loads sent to the worker and not yet answered
        self.key = self._remember_started()
        self.pane.set_models(self.entries(), self.key)
        self._show_model()
        self.pane.layer_selected.connect(lambda layer: self.state.select(layer=layer))
        self.pane.feature_selected.connect(lambda feature: self.state.select(feature=feature))
        self.pane.model_selected.connect(self._on_pane_model_selected)
        self.state.selection_changed.connect(self._on_state_selection_changed)
        self.state.model_changed.connect(self._show_model)

    def handlers(self) -> dict[str, Callable[[], None]]:
        s = self.state
        return {
            "open_model": self.open_dialog,
            "next_feature": lambda: s.select(feature=s.feature + 1),
            "previous_feature": lambda: s.select(feature=max(0, s.feature - 1)),
            "next_layer": lambda: self._step_layer(1),
            "previous_layer": lambda: self._step_layer(-1),
        }

    def _step_layer(self, delta: int) -> None:
        names = self.state.opened.names
        i = names.index(self.state.layer) + delta
        if 0 <= i < len(names):
            self.state.select(layer=names[i])

    def _show_model(self, *_args: object) -> None:
        self.pane.set_layers(self.state.opened.layers)
        self._on_state_selection_changed()

    def _on_state_selection_changed(self) -> None:
        self.pane.show_state(self.state.layer, self.state.feature)

    # Models --------------------------------------------------------------------------------------

    def _remember_started(self) -> str:
        """The switcher's key for the model the window started with."""
        info = self.state.opened.info
        if info.spec in BUNDLED_SPECS and info.checkpoint is None:
            return info.spec
        request = ModelRequest.reopening(info) if info.spec else None
        key = model_key(request) if request is not None else f"{self.state.opened.label} (as started)"
        self.models[key] = request
        return key

    def entries(self) -> list[tuple[str, str]]:
        """(label, key) of every model the switcher offers."""
        return list(BUNDLED_MODELS) + [(key, key) for key in self.models]

    def open_dialog(self) -> None:
        """File > Open model…"""
        request = open_model_dialog.ask_model(self.host.widget)
        if request is not None:
            self.open_model(request)

    def open_model(self, request: ModelRequest) -> None:
        """Load a model on the worker; the state switches to it once it has loaded (the open one stays until then)."""
        self.asked[request.id] = request
        self.host.submit(request, self)

    def _on_pane_model_selected(self, key: str) -> None:
        request = self.models.get(key, ModelRequest(key) if key in BUNDLED_SPECS else None)
        if request is not None and key != self.key:
            self.open_model(replace(request, id=next_request_id()))

    def on_result(self, result: object) -> None:
        if not isinstance(result, ModelLoaded):
            return
        asked = self.asked.pop(result.request_id, None)
        if asked is None:
            return
        if asked.spec in BUNDLED_SPECS and asked.checkpoint is None:
            self.key = asked.spec
        else:
            self.key = model_key(asked)
            self.models[self.key] = asked
        self.pane.set_models(self.entries(), self.key)
        self.state.set_model(result.opened)

    def on_failure(self, failure: Failure) -> None:
        request = self.asked.pop(failure.request_id, None)
        if request is None:
            return
        self.pane.set_models(self.entries(), self.key)  # the switcher shows the open model again
        self.host.fail(failure.message)
        still = self.state.opened.label
        QMessageBox.warning(
            self.host.widget,
            "Open model",
            f"{request.describe()} could not be opened:\n{failure.message}\n\n{still} stays open.",
        )


def model_key(request: ModelRequest) -> str:
    """The switcher's name for `request`: as a person named it, and whether its weights are random (the same
    architecture with its trained weights is another entry)."""
    return request.describe() + (" (random weights)" if request.weights == "random" else "")
