"""Sanity pane: the cascade as curves (rank correlation with the trained model's picture against the steps of the
randomization, one curve per method), the pictures at each step as a strip, and RISE's deletion and insertion curves
of the trained pictures with their areas.

The cascade's x-axis (`StepAxis`) shows the layer names where they fit and thinned step numbers where they do not
(ResNet-18 has 21 steps); hovering the plot or its axis names the step's layer and gives each method's value."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtGui import QCursor, QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolTip, QVBoxLayout, QWidget

from explorer.analyses.attribution import FaithfulnessFigure
from explorer.analyses.cam import ATTRIBUTION_NAMES
from explorer.gui.imaging import mosaic
from explorer.gui.panes.experiment_controls import ExperimentControls
from explorer.gui.panes.fitted_text import FittedPlot
from explorer.gui.panes.pixel_view import PixelView
from explorer.gui.views.sanity.step_axis import StepAxis

PLOT_MIN = (140, 120)  # pixels: the smallest plot that keeps its axes readable
STRIP_MIN = (100, 100)
NOTE = (
    "Each method's picture of the predicted class as the model's layers are re-initialised from the top down "
    "(Adebayo et al., 2018): a picture that stays the same shows the image more than what the model learned. "
    "Step k has re-initialised the top k layers; hover a step for its layer and values."
)


def strip(pictures: dict[str, np.ndarray], methods: tuple[str, ...]) -> np.ndarray:
    """float32 [rows, cols, 3]: one row per method, the trained picture then one per step, each scaled to its max."""
    tiles = []
    for m in methods:
        for p in pictures[m][:, 0]:  # [steps + 1, H, W] of the first image
            top = float(p.max())
            grey = p / top if top > 0 else np.zeros_like(p)
            tiles.append(np.repeat(grey[..., None], 3, axis=-1))
    steps = pictures[methods[0]].shape[0]
    return mosaic(np.stack(tiles).astype(np.float32), steps, pad=1, fill=1.0)


class SanityPane(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure: FaithfulnessFigure | None = None
        self.note = QLabel("Does each picture depend on the weights? Hover for how to read this.")
        self.note.setToolTip(NOTE)
        self.areas = QLabel()  # the methods' colours (both plots' legend) and RISE's areas
        self._grid = QHBoxLayout()
        self._built: tuple[FittedPlot, FittedPlot, PixelView] | None = None  # on first show: the dock starts hidden
        self.controls = ExperimentControls("sanity")
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addLayout(self._grid, 1)
        layout.addWidget(self.areas)
        layout.addWidget(self.controls)

    def _views(self) -> tuple[FittedPlot, FittedPlot, PixelView]:
        if self._built is None:
            cascade = FittedPlot("rank correlation with the trained picture")
            rise = FittedPlot("RISE: p(class), pixels deleted (solid) or inserted (dashed)")
            for p in (cascade, rise):
                p.showGrid(x=True, y=True, alpha=0.3)
                p.setMinimumSize(*PLOT_MIN)
            cascade.setYRange(-0.2, 1.05)
            cascade.setLabel("left", "Spearman ρ")
            cascade.getPlotItem().setAxisItems({"bottom": StepAxis()})
            cascade.setLabel("bottom", "step (hover: layer)")
            cascade.scene().sigMouseMoved.connect(self._hovered)
            rise.setYRange(0, 1.05)
            rise.setLabel("bottom", "fraction of the pixels")
            pictures = PixelView("the pictures: trained, then each step (one row per method)")
            pictures.setMinimumSize(*STRIP_MIN)
            for widget in (cascade, rise, pictures):
                self._grid.addWidget(widget, 1)
            self._built = (cascade, rise, pictures)
        return self._built

    @property
    def cascade_plot(self) -> FittedPlot:
        return self._views()[0]

    @property
    def step_axis(self) -> StepAxis:
        axis = self.cascade_plot.getAxis("bottom")
        assert isinstance(axis, StepAxis)
        return axis

    @property
    def rise_plot(self) -> FittedPlot:
        return self._views()[1]

    @property
    def pictures(self) -> PixelView:
        return self._views()[2]

    def showEvent(self, event: QShowEvent) -> None:
        self._views()
        super().showEvent(event)

    def clear(self) -> None:
        self.figure = None
        self.areas.setText("")
        if self._built is not None:
            self.cascade_plot.clear()
            self.rise_plot.clear()
            self.pictures.clear_picture()

    def show_figure(self, f: FaithfulnessFigure) -> None:
        self.figure = f
        result = f.sanity.result
        methods = tuple(f.request.methods)
        steps = np.arange(1, len(result.layers) + 1)  # step k randomized result.layers[:k]
        cascade, rise = self.cascade_plot, self.rise_plot
        cascade.clear()
        rise.clear()
        self.step_axis.set_names(result.layers)
        cascade.setXRange(0.5, len(result.layers) + 0.5, padding=0)
        areas = []
        for i, m in enumerate(methods):
            pen = pg.mkPen(pg.intColor(i, len(methods)), width=2)
            cascade.plot(steps, result.spearman[m], pen=pen, symbol="o", symbolSize=5)
            c = f.curves[m]
            rise.plot(c.fractions, c.deletion, pen=pen)
            dashed = pg.mkPen(pg.intColor(i, len(methods)), width=2, style=pg.QtCore.Qt.PenStyle.DashLine)
            rise.plot(c.fractions, c.insertion, pen=dashed)
            colour = pg.intColor(i, len(methods)).name()
            name = ATTRIBUTION_NAMES[m]
            areas.append(f'<span style="color:{colour}">■</span> {name} {c.deletion_auc:.2f} / {c.insertion_auc:.2f}')
        # Two methods a line, no wrapping: a wrapped label's height is not reserved, and it ran over the plots.
        lines = [" · ".join(areas[i : i + 2]) for i in range(0, len(areas), 2)]
        self.areas.setText("<br>".join(lines) + "<br><small>colours: both plots · RISE's areas: deletion (lower is "
                           "better) / insertion (higher is better)</small>" + random_label_line(f))  # fmt: skip
        self.pictures.set_image(strip(result.pictures, methods))
        self.pictures.set_title(f"{', '.join(ATTRIBUTION_NAMES[m] for m in methods)} (rows); trained, then each step")

    def step_text(self, step: int) -> str:
        """What hovering step `step` (1..N) of the cascade says: the layers it randomized and each method's values."""
        if self.figure is None:
            return ""
        result = self.figure.sanity.result
        layers = result.layers
        if not 1 <= step <= len(layers):
            return ""
        done = layers[0] if step == 1 else f"{layers[0]} … {layers[step - 1]}"
        lines = [f"step {step} of {len(layers)}: randomized {done} ({step} layer{'s' if step > 1 else ''})"]
        for m in self.figure.request.methods:
            rho, ssim = float(result.spearman[m][step - 1]), float(result.ssim[m][step - 1])
            lines.append(f"{ATTRIBUTION_NAMES[m]}: Spearman ρ {rho:.2f}, SSIM {ssim:.2f}")
        return "\n".join(lines)

    def step_at(self, scene_pos: QPointF) -> int | None:
        """The cascade's step under a scene position over its plot area or its x-axis (None: elsewhere)."""
        if self._built is None or self.figure is None:
            return None
        item = self.cascade_plot.getPlotItem()
        over = item.vb.sceneBoundingRect().contains(scene_pos) or self.step_axis.sceneBoundingRect().contains(scene_pos)
        if not over:
            return None
        step = round(item.vb.mapSceneToView(scene_pos).x())
        return step if 1 <= step <= len(self.figure.sanity.result.layers) else None

    def _hovered(self, scene_pos: QPointF) -> None:
        step = self.step_at(scene_pos)
        if step is None:
            QToolTip.hideText()
        else:
            QToolTip.showText(QCursor.pos(), self.step_text(step), self.cascade_plot)


def random_label_line(f: FaithfulnessFigure) -> str:
    """The random-label check in one line: each method's rank correlation of the predicted class's picture with
    that of a class drawn at random (near 1: the picture hardly depends on the class)."""
    if not f.random_label:
        return ""
    checks = [(m, c) for m, c in f.random_label.items() if len(c.spearman)]
    if not checks:
        return ""
    values = [f"{ATTRIBUTION_NAMES[m]} {float(c.spearman[0]):.2f}" for m, c in checks]
    drawn = html.escape(f.random_class or f"class {int(checks[0][1].other[0])}")
    # Two methods a line, as the areas above: the label does not wrap, and a long line would widen the pane.
    rows = [" · ".join(values[i : i + 2]) for i in range(0, len(values), 2)]
    return (
        f"<br><small>random label ({drawn}), ρ with the predicted class's picture:<br>" + "<br>".join(rows) + "</small>"
    )
