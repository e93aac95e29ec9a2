"""The Input image view: the image the views show, with the selected feature's receptive field or the Occlusion
view's map for that image laid over it.

Nothing stale is shown as fresh. The receptive field is drawn only from a pass for the current image, layer
and feature; an occlusion map only from a result the Occlusion view published for the current image (and, for
the feature's map, the current layer and feature) since the model and the images last changed (the state
forgets published results then). Otherwise the overlay is cleared and the caption says what it waits for,
or how to get it.
"""

from __future__ import annotations

import numpy as np

from explorer.analyses.occlusion import OcclusionFigure
from explorer.core.graph import Layer
from explorer.core.receptive import layer_box
from explorer.gui.colour_bars import named
from explorer.gui.host import Host, View
from explorer.gui.imaging import image_to_rgb
from explorer.gui.messages import ViewResult
from explorer.gui.panes.experiment_controls import cells_rect
from explorer.gui.views.input_image.pane import InputImagePane


def strongest_field(
    layer: Layer, amap: np.ndarray, size: tuple[int, int]
) -> tuple[int, int, tuple[int, int, int, int]]:
    """(row, col, box): the first maximum of the map [h, w] (top-left on ties, as the scan takes it) and its
    receptive field in an image of `size` (height, width), clipped to it."""
    row, col = (int(i) for i in np.unravel_index(int(np.argmax(amap)), amap.shape))
    return row, col, layer_box(layer, row, col, size)


class InputImageView(View):
    name = "input_image"
    title = "Input image"

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self.pane = InputImagePane()
        self.dock = host.add_dock(self, self.pane, area="bottom")
        self._drawn: int | None = None  # the pass whose picture is on show
        self.pane.wheel_scrolled.connect(lambda steps: self.state.select(feature=max(0, self.state.feature + steps)))
        for signal in (self.state.shown_changed, self.state.published, self.pane.overlay_changed):
            signal.connect(self.refresh)
        self.state.selection_changed.connect(self.refresh)
        self.refresh()

    @property
    def occlusion(self) -> OcclusionFigure | None:
        figure = self.state.figures.get("occlusion")
        return figure if isinstance(figure, OcclusionFigure) else None

    def refresh(self, *_args: object) -> None:
        """Draw the pane again from the state as it is now."""
        r, s, pane = self.state.shown, self.state, self.pane
        if r is None:
            self._drawn = None
            pane.clear_image("input image")
            pane.clear_overlay()
            pane.caption.setText("Waiting for the image…")
            return
        if self._drawn != r.index:  # a new feature of the same image keeps its picture
            self._drawn = r.index
            pane.show_image(f"image #{r.index}", image_to_rgb(r.image))
        key = pane.overlay_key()
        if key == "none":
            pane.clear_overlay()
            pane.caption.setText("Choose an overlay: the feature's receptive field, or an occlusion map.")
        elif r.index != s.image:
            pane.clear_overlay()
            pane.caption.setText(f"Waiting for image #{s.image}…")
        elif key == "field":
            self._show_field(r)
        else:
            self._show_occlusion(key == "occlusion_feature")

    def _show_field(self, r: ViewResult) -> None:
        s, pane = self.state, self.pane
        if (r.layer, r.feature) != (s.layer, s.feature):
            pane.clear_overlay()
            pane.caption.setText(f"Waiting for {s.layer} feature {s.feature}…")
            return
        amap = r.activations[r.feature]
        if not float(amap.max()) > 0:
            pane.clear_overlay()
            pane.caption.setText(
                f"{r.layer} feature {r.feature} does not respond to image #{r.index} (0 everywhere after ReLU): "
                "it has no strongest position here."
            )
            return
        layer = self.state.opened.layer(r.layer)
        row, col, box = strongest_field(layer, amap, r.image.shape[:2])
        top, left, bottom, right = box
        pane.show_box(box)
        height, width = bottom - top, right - left
        side = layer.field
        clipped = f" (its {side}×{side} clipped to the image)" if (height, width) != (side, side) else ""
        pane.caption.setText(
            f"{r.layer} feature {r.feature}: strongest at row {row}, col {col} of its {amap.shape[0]}×{amap.shape[1]} "
            f"map ({float(amap[row, col]):.3g}). Receptive field: rows {top}–{bottom - 1}, cols {left}–{right - 1}, "
            f"{height}×{width} px{clipped}."
        )

    def _show_occlusion(self, of_feature: bool) -> None:
        s, pane, f = self.state, self.pane, self.occlusion
        if f is None or f.index != s.image:
            pane.clear_overlay()
            pane.caption.setText(
                f"No occlusion result for image #{s.image}: Analyse > Occlusion computes one "
                "(its view follows the image while it is open)."
            )
            return
        q = f.request
        if of_feature and (q.layer, q.feature) != (s.layer, s.feature):
            pane.clear_overlay()
            pane.caption.setText(
                f"The occlusion result for image #{s.image} is for {q.layer} feature {q.feature}: Analyse > Occlusion "
                f"computes it for {s.layer} feature {s.feature} (its view follows the feature while it is open)."
            )
            return
        square = f"a {q.size}×{q.size} grey square centred on each point (stride {q.stride})"
        if of_feature:
            top = float(max(f.activation.max(), f.base_activation, 1e-12))  # the Occlusion view's scale
            pane.show_heat(f.activation, cells_rect(f.ys, f.xs, q.size, q.stride), named("viridis"), 0.0, top,
                           "feature map sum")  # fmt: skip
            pane.caption.setText(
                f"{q.layer} feature {q.feature}: the sum of its map with {square}; {f.base_activation:.3g} without. "
                "Dark: the square hides what the feature responds to."
            )
        else:
            pane.show_heat(f.target_probs, cells_rect(f.ys, f.xs, q.size, q.stride), named("magma"), 0.0, 1.0,
                           f"p({f.target_name})")  # fmt: skip
            pane.caption.setText(
                f"p({f.target_name}) with {square}; {f.base_prob:.2f} without. "
                "Dark: the square hides what the class needs."
            )
