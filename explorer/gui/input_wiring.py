"""Wires the Input image pane: the image the views show, with the selected feature's receptive field or the
Occlusion view's map for that image laid over it.

Nothing stale is shown as fresh. The receptive field is drawn only from a view result for the window's
current image, layer and feature; an occlusion map only from a result for the current image (and, for the
feature's map, the current layer and feature) asked after the model and the image set last changed.
Otherwise the overlay is cleared and the caption says what it waits for, or how to get it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject

from explorer.core.graph import Layer
from explorer.core.receptive import layer_box
from explorer.export.experiments import OcclusionFigure
from explorer.gui.colour_bars import named
from explorer.gui.imaging import image_to_rgb
from explorer.gui.messages import ExperimentViewResult, ViewResult, next_request_id
from explorer.gui.panes.experiment_controls import cells_rect

if TYPE_CHECKING:
    from explorer.gui.main_window import MainWindow


def strongest_field(
    layer: Layer, amap: np.ndarray, size: tuple[int, int]
) -> tuple[int, int, tuple[int, int, int, int]]:
    """(row, col, box): the first maximum of the map [h, w] (top-left on ties, as the scan takes it) and its
    receptive field in an image of `size` (height, width), clipped to it."""
    row, col = (int(i) for i in np.unravel_index(int(np.argmax(amap)), amap.shape))
    return row, col, layer_box(layer, row, col, size)


class InputImageWiring(QObject):
    """Keeps the Input image pane on the window's shown view and the newest occlusion result."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.pane = window.input_image
        self.occlusion: OcclusionFigure | None = None  # the newest occlusion result, whatever its image
        self._occlusion_id = 0
        self._boundary = next_request_id()  # results asked before the last model or image-set change are stale
        self._drawn: tuple[int, int] | None = None  # (image index, boundary) of the picture on show
        # Connected after the window's own slot, so window.shown is already the newest view when this runs.
        window.controller.result_ready.connect(self._on_controller_result_ready)
        state = window.window_state
        state.selection_changed.connect(self.refresh)
        state.model_changed.connect(self._on_window_state_replaced)
        state.images_changed.connect(self._on_window_state_replaced)
        self.pane.overlay_changed.connect(self.refresh)
        self.refresh()

    def _on_window_state_replaced(self, _value: object) -> None:
        self._boundary = next_request_id()
        self.occlusion = None
        self.refresh()

    def _on_controller_result_ready(self, result: object) -> None:
        if isinstance(result, ViewResult):
            self.refresh()
        elif (
            isinstance(result, ExperimentViewResult)
            and isinstance(result.figure, OcclusionFigure)
            and result.request_id > max(self._occlusion_id, self._boundary)
        ):
            self._occlusion_id = result.request_id
            self.occlusion = result.figure
            self.refresh()

    def refresh(self, *_args: object) -> None:
        """Draw the pane again from the window's state as it is now."""
        r, s, pane = self.window.shown, self.window.state, self.pane
        if r is None or r.request_id <= self._boundary:
            self._drawn = None
            pane.clear_image("input image")
            pane.clear_overlay()
            off = self.window.window_state.opened.unsupported()
            pane.caption.setText(
                "Off for this model: see the notice above the views." if off else "Waiting for the image…"
            )
            return
        if self._drawn != (r.index, self._boundary):  # a new feature of the same image keeps its picture
            self._drawn = (r.index, self._boundary)
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
        s, pane = self.window.state, self.pane
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
        layer = self.window.window_state.opened.layer(r.layer)
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
        s, pane, f = self.window.state, self.pane, self.occlusion
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
