"""The Synthesized view (Analyse > Synthesized images): what a feature wants to see, optimized live.

The selected feature's synthesis runs on the worker as a SynthesisRequest, latest wins: a new feature or
setting stops the running one at its next step. Intermediate images arrive every few steps. Settings are
remembered in QSettings; results are cached on the worker per model, layer, feature and settings. The
export holds the same MaximizeRequest the command line builds, so both write the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields

from explorer.analyses.maximize import MaximizeRequest
from explorer.core.synthesis import MaximizeSettings
from explorer.gui.actions import ActionInfo
from explorer.gui.analysis_view import export_action
from explorer.gui.host import Host, View
from explorer.gui.messages import Failure
from explorer.gui.views.synthesis.job import SynthesisImages, SynthesisRequest, SynthesisStopped
from explorer.gui.views.synthesis.pane import SynthesisPane

SETTINGS_KEY = "synthesis/settings"


def read_settings(store) -> MaximizeSettings:
    """The remembered settings; the defaults when there are none or they do not read."""
    try:
        saved = json.loads(str(store.value(SETTINGS_KEY, "{}")))
        known = {f.name for f in fields(MaximizeSettings)}
        return MaximizeSettings(**{k: v for k, v in saved.items() if k in known})
    except (ValueError, TypeError, AttributeError):
        return MaximizeSettings()


class SynthesisView(View):
    """Asks the worker for the selected feature (or the whole layer); shows the newest images."""

    name = "synthesized"
    title = "Synthesized"
    actions = (
        ActionInfo(
            "open_synthesis", "&Synthesized images (what a feature wants to see)", "&Analyse", "Ctrl+Y",
            "Optimize an input to drive the selected feature hardest, live; and every feature of the layer", 21,
        ),
        export_action("synthesized", "Synthesized images", 121),  # after its Analyse entry's order, as AnalysisView
    )  # fmt: skip

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.pane = SynthesisPane()
        self.dock = host.add_dock(self, self.pane, area="bottom", hidden=True)
        self.settings = read_settings(host.settings)
        self.pane.show_settings(self.settings)
        self.shown: SynthesisImages | None = None  # the selected feature's newest final images
        self.layer_shown: SynthesisImages | None = None  # the whole layer's
        self._asked: SynthesisRequest | None = None
        self._cancelled = 0  # the id of the request Cancel stopped: its answer says after how many steps
        self.pane.settings_changed.connect(self._on_pane_settings_changed)
        self.pane.layer_requested.connect(self.request_layer)
        self.pane.cancel_requested.connect(self._on_pane_cancel_requested)
        self.pane.feature_selected.connect(lambda feature: self.state.select(feature=feature))
        self.pane.export_requested.connect(self.export)
        self.on_screen = False  # shown and, where it is a tab, in front (its dock says when its tab is (un)selected)
        self.dock.visibilityChanged.connect(self._on_dock_visibility_changed)
        self.state.model_changed.connect(self._on_state_model_changed)
        self.state.selection_changed.connect(self.request)

    def handlers(self) -> dict[str, Callable[[], None]]:
        return {"open_synthesis": self.open, "export_synthesized": self.export}

    def open(self) -> None:
        self.host.open_dock(self.dock)
        self.on_screen = True
        self.request()

    # Asking ------------------------------------------------------------------------------------

    def _submit(self, features: tuple[int, ...]) -> None:
        request = SynthesisRequest(self.state.layer, features, self.settings)
        self._asked = request
        self.pane.set_running(True)
        self.pane.show_message("")
        self.host.submit(request, self)

    def request(self) -> None:
        """Synthesize the window's feature, unless it is shown or asked for already."""
        s = self.state
        if not self.on_screen:
            return
        if self.layer_shown is not None and self._current(self.layer_shown) and s.feature in self.layer_shown.features:
            self.pane.select(s.feature)
        want = (s.layer, (s.feature,), self.settings)
        for have in (self._asked, self.shown):
            if have is not None and (have.layer, have.features, have.settings) == want:
                return
        self._submit((s.feature,))

    def request_layer(self) -> None:
        self._submit(tuple(range(self.state.channels())))

    def _current(self, images: SynthesisImages) -> bool:
        return images.layer == self.state.layer and images.settings == self.settings

    # Showing -----------------------------------------------------------------------------------

    def _show(self, images: SynthesisImages) -> None:
        s = self.state
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

    def _on_state_model_changed(self, _opened: object) -> None:
        """A new model: nothing the previous one synthesized stays shown (a late answer of it never comes), and
        an open view synthesizes again with the new one (the state's selection signal follows this one)."""
        self.host.cancel(SynthesisRequest, self)
        self._asked = self.shown = self.layer_shown = None
        self.pane.set_running(False)
        self.pane.clear_overview()
        self.pane.view.clear_picture()
        self.pane.view.set_title("")
        self.pane.show_message("")

    def on_progress(self, progress: object) -> None:
        if isinstance(progress, SynthesisImages) and self._asked is not None and progress.request_id == self._asked.id:
            self._show(progress)

    def on_result(self, result: object) -> None:
        if isinstance(result, SynthesisImages):
            if len(result.features) > 1:
                self.layer_shown = result
            else:
                self.shown = result
            self._show(result)
            if self._asked is not None and result.request_id == self._asked.id:
                self._asked = None
                self.pane.set_running(False)
                self.host.show_timing(result.elapsed_ms)
        elif isinstance(result, SynthesisStopped) and (
            result.request_id == self._cancelled or (self._asked is not None and result.request_id == self._asked.id)
        ):
            self._asked = None
            self.pane.set_running(False)
            self.pane.show_message(f"Stopped after {result.step} steps.")

    def on_failure(self, failure: Failure) -> None:
        if self._asked is not None and failure.request_id == self._asked.id:
            self._asked = None
            self.pane.set_running(False)
            self.pane.show_message(f"Not synthesized: {failure.message}")

    def _on_pane_settings_changed(self, settings: MaximizeSettings) -> None:
        self.settings = settings
        self.host.settings.setValue(SETTINGS_KEY, json.dumps(settings.as_dict()))
        self.pane.clear_overview()
        self.layer_shown = None
        self.request()

    def _on_pane_cancel_requested(self) -> None:
        """Stop the running synthesis (its answer then says after how many steps) or forget the waiting one (no
        answer comes): either way it is no longer asked for, and the pane says so now."""
        if self._asked is None:
            return
        self.host.cancel(SynthesisRequest, self)
        self._cancelled, self._asked = self._asked.id, None
        self.pane.set_running(False)
        self.pane.show_message("Cancelled.")

    def _on_dock_visibility_changed(self, visible: bool) -> None:
        self.on_screen = visible
        if visible:
            self.request()

    # Export ------------------------------------------------------------------------------------

    def export_figure(self) -> MaximizeRequest | None:
        """The whole layer when its grid is shown for these settings, else the selected feature."""
        s = self.state
        if s.images is None:
            return None
        whole = self.layer_shown is not None and self._current(self.layer_shown)
        features = None if whole else (s.feature,)
        return MaximizeRequest(s.layer, features, self.settings)

    def export(self) -> None:
        figure = self.export_figure()
        if figure is None:
            self.host.say("Synthesized: no images open yet")
            return
        if not self._showing():
            self.host.say("Synthesized: nothing computed yet")
            return
        self.host.export(figure, "synthesized images")

    def _showing(self) -> bool:
        """Whether the pane shows finished images of the selection (the feature, or the whole layer) as now set."""
        s, one, whole = self.state, self.shown, self.layer_shown
        return (whole is not None and self._current(whole)) or (
            one is not None and self._current(one) and s.feature in one.features
        )
