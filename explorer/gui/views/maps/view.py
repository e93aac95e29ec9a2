"""The Activation maps view, in the middle of the window: draws the selection's pass; the frame round the
selected feature follows the selection at once (it needs no worker)."""

from __future__ import annotations

from collections.abc import Callable

from explorer.gui.actions import EXPORT_MENU, ActionInfo
from explorer.gui.export_requests import VIEW_KINDS, figure_request
from explorer.gui.host import Host, View
from explorer.gui.messages import ViewResult
from explorer.gui.views.maps.pane import ActivationsPane


class MapsView(View):
    name = "maps"
    title = "Activation maps"
    actions = (ActionInfo("export_maps", "&Activation maps…", EXPORT_MENU, None,
                          "Every activation map of this image, as a figure", 10),)  # fmt: skip

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.pane = ActivationsPane()
        host.add_central(self.pane, stretch=True)
        self._drawn: tuple[int, str] | None = None  # (image, layer) of the maps on screen: redrawn only on change
        self.pane.feature_selected.connect(lambda feature: self.state.select(feature=feature))
        self.pane.wheel_scrolled.connect(lambda steps: self.state.select(feature=max(0, self.state.feature + steps)))
        self.pane.export_requested.connect(self.export)
        self.state.shown_changed.connect(self._on_state_shown_changed)
        self.state.selection_changed.connect(self._on_state_selection_changed)

    def handlers(self) -> dict[str, Callable[[], None]]:
        return {"export_maps": self.export}

    def export(self) -> None:
        if self.state.images is not None:
            self.host.export(figure_request("maps", self.state.as_shown()), VIEW_KINDS["maps"].lower())

    def _on_state_selection_changed(self) -> None:
        # The frame and the enlarged map follow at once; painting them while the worker computes the projection
        # measured 1.5-2 ms faster per step than after it.
        if self._drawn is not None and self._drawn[1] == self.state.layer:
            self.pane.select(self.state.feature)

    def _on_state_shown_changed(self, r: ViewResult | None) -> None:
        if r is None:
            self._drawn = None
            self.pane.show_message("waiting for the activation maps of the present model and images…")
            return
        if r.unreadable:
            self._drawn = None
            self.pane.show_message(
                f"⚠ image #{r.index} could not be read, so it has no activation maps: {r.unreadable}"
            )
            return
        if self._drawn != (r.index, r.layer):  # a feature change moves the grid's frame and nothing else there
            self._drawn = (r.index, r.layer)
            self.pane.show_maps(r.layer, r.activations, r.image)
        self.pane.select(self.state.feature if r.layer == self.state.layer else r.feature)
