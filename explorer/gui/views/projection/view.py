"""The Projection view: the options (method, unpooling, keep, compare) are the state's; it draws the projections
of the selection's pass."""

from __future__ import annotations

from collections.abc import Callable

from explorer.gui.actions import EXPORT_MENU, ActionInfo
from explorer.gui.export_requests import VIEW_KINDS, figure_request
from explorer.gui.host import Host, View
from explorer.gui.messages import ProjectionOptions, ViewResult
from explorer.gui.views.projection.pane import ProjectionPane
from explorer.gui.views.projection.titles import computed_projections


class ProjectionView(View):
    name = "projection"
    title = "Projection"
    actions = (ActionInfo("export_projections", "&Projections…", EXPORT_MENU, None,
                          "Every feature's projection for this image", 20),)  # fmt: skip

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.pane = ProjectionPane()
        self.dock = host.add_dock(self, self.pane, area="bottom")
        self.pane.show_options(self.state.options)
        self._show_layer()
        self.pane.options_changed.connect(self._on_pane_options_changed)
        self.pane.wheel_scrolled.connect(lambda steps: self.state.select(feature=max(0, self.state.feature + steps)))
        self.pane.export_requested.connect(self.export)
        self.state.shown_changed.connect(self._on_state_shown_changed)
        self.state.options_changed.connect(self.pane.show_options)  # options set elsewhere (a restore, a plug-in)
        self.state.layer_changed.connect(self._show_layer)
        self.state.model_changed.connect(self._show_layer)

    def handlers(self) -> dict[str, Callable[[], None]]:
        return {"export_projections": self.export}

    def export(self) -> None:
        if self.state.images is not None:
            self.host.export(figure_request("projections", self.state.as_shown()), VIEW_KINDS["projections"].lower())

    def _show_layer(self) -> None:
        s = self.state
        layer = s.opened.layer(s.layer)
        self.pane.show_layer(s.layer, layer.pooled, layer.fill)

    def _on_pane_options_changed(self, options: ProjectionOptions) -> None:
        self.state.set_options(options)

    def _on_state_shown_changed(self, r: ViewResult | None) -> None:
        if r is None:
            self.pane.show_message("waiting for the projection of the present model and images…")
        elif r.unreadable:
            self.pane.show_message(f"⚠ image #{r.index} could not be read, so nothing is projected: {r.unreadable}")
        elif r.layer in self.state.opened.names:
            title = f"image #{r.index} · {r.layer} feature {r.feature} · projected to pixels"
            layer = self.state.opened.layer(r.layer)
            self.pane.show_projections(title, computed_projections(r.projections, self.state.options, layer))
