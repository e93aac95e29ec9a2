"""Synthesized: what the selected feature wants to see (activation maximization), live, and the whole layer.

The top view shows the selected feature's image as it optimizes; the bottom one every feature of
the layer in a grid (asked for with "Whole layer"; click one to select it). The regularizer
settings sit in a small panel; the pane only shows state and emits intent.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from explorer.core.synthesis import OBJECTIVES, PARAMS, MaximizeSettings
from explorer.gui.imaging import PAD, cell_at, enlarge, framed_grid
from explorer.gui.panes.export_button import export_button, footer
from explorer.gui.panes.pixel_view import PixelView

ZOOM = 3  # overview tiles are enlarged by whole pixels
OVERVIEW_COLS = 8


def _spin(lo: float, hi: float, value: float, decimals: int = 0, step: float = 1.0) -> QSpinBox | QDoubleSpinBox:
    box: QSpinBox | QDoubleSpinBox
    if decimals:
        box = QDoubleSpinBox()
        box.setDecimals(decimals)
        box.setSingleStep(step)
    else:
        box = QSpinBox()
    box.setRange(lo, hi)  # type: ignore[arg-type]
    box.setValue(value)  # type: ignore[arg-type]
    box.setKeyboardTracking(False)  # one change when typing ends, not one per digit
    return box


class SynthesisPane(QWidget):
    settings_changed = Signal(object)  # MaximizeSettings
    cancel_requested = Signal()
    layer_requested = Signal()  # synthesize every feature of the layer
    feature_selected = Signal(int)
    export_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        d = MaximizeSettings()
        self.objective = QComboBox()
        self.objective.addItems(OBJECTIVES)
        self.objective.setToolTip("unit: the centre of the feature's map; channel: the whole map's mean")
        self.param = QComboBox()
        self.param.addItems(PARAMS)
        self.param.setToolTip("pixel: the image itself; fourier: a 1/f-scaled spectrum with decorrelated colours")
        self.steps = _spin(1, 5000, d.steps)
        self.lr = _spin(0.001, 5.0, d.lr, 3, 0.01)
        self.l2 = _spin(0.0, 0.5, d.l2, 4, 0.0005)
        self.blur_every = _spin(0, 1000, d.blur_every)
        self.blur_sigma = _spin(0.0, 10.0, d.blur_sigma, 2, 0.1)
        self.jitter = _spin(0, 16, d.jitter)
        self.seed = _spin(0, 1_000_000, d.seed)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        for text, box in (
            ("objective", self.objective), ("param", self.param), ("steps", self.steps), ("lr", self.lr),
            ("L2 decay", self.l2), ("blur every", self.blur_every), ("blur sigma", self.blur_sigma),
            ("jitter", self.jitter), ("seed", self.seed),
        ):  # fmt: skip
            form.addRow(text, box)
        self.whole = QPushButton("Whole layer")
        self.whole.setToolTip("Synthesize every feature of the layer (one batch) into the grid below")
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setFormat("step %v / %m")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        panel = QVBoxLayout()
        panel.addLayout(form)
        panel.addWidget(self.whole)
        panel.addWidget(self.progress)
        panel.addWidget(self.cancel)
        panel.addWidget(self.status)
        panel.addStretch(1)
        side = QWidget()
        side.setLayout(panel)

        self.view = PixelView("Synthesized")
        self.overview = PixelView("")
        self.overview.setToolTip("Click a feature to select it")
        views = QSplitter(Qt.Orientation.Vertical)
        for v in (self.view, self.overview):
            v.setMinimumHeight(40)
            views.addWidget(v)
        body = QHBoxLayout()
        body.addWidget(side)
        body.addWidget(views, 1)
        rule = QLabel("An input optimized to drive the feature hardest, from seeded noise.")
        rule.setWordWrap(True)
        self.export = export_button("Export the synthesized images shown (PNG, SVG or PDF), as the command line does")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(body, 1)
        layout.addLayout(footer(rule, self.export))

        for box in (self.objective, self.param):
            box.currentTextChanged.connect(self._on_setting_changed)
        for box in (self.steps, self.lr, self.l2, self.blur_every, self.blur_sigma, self.jitter, self.seed):
            box.valueChanged.connect(self._on_setting_changed)
        self.whole.clicked.connect(self.layer_requested)
        self.cancel.clicked.connect(self.cancel_requested)
        self.export.clicked.connect(self.export_requested)
        self.overview.clicked.connect(self._on_overview_clicked)
        self._cells = np.zeros((0, 1, 1, 3), np.float32)
        self.overview_features: tuple[int, ...] = ()
        self._showing_settings = False

    # Settings ----------------------------------------------------------------------------------

    def settings(self) -> MaximizeSettings:
        return MaximizeSettings(
            self.objective.currentText(), self.steps.value(), self.seed.value(), self.lr.value(),
            self.param.currentText(), self.l2.value(), self.blur_every.value(), self.blur_sigma.value(),
            self.jitter.value(),
        )  # fmt: skip

    def show_settings(self, s: MaximizeSettings) -> None:
        self._showing_settings = True
        try:
            self.objective.setCurrentText(s.objective)
            self.param.setCurrentText(s.param)
            for box, value in (
                (self.steps, s.steps), (self.lr, s.lr), (self.l2, s.l2), (self.blur_every, s.blur_every),
                (self.blur_sigma, s.blur_sigma), (self.jitter, s.jitter), (self.seed, s.seed),
            ):  # fmt: skip
                box.setValue(value)  # type: ignore[arg-type]
        finally:
            self._showing_settings = False

    def _on_setting_changed(self, *_args: object) -> None:
        if not self._showing_settings:
            self.settings_changed.emit(self.settings())

    # Pictures ----------------------------------------------------------------------------------

    def set_running(self, running: bool) -> None:
        self.cancel.setEnabled(running)

    def show_step(self, step: int, steps: int) -> None:
        self.progress.setRange(0, steps)
        self.progress.setValue(step)

    def show_feature(self, title: str, picture: np.ndarray) -> None:
        """The selected feature's image, uint8 [H, W, 3]."""
        self.view.set_title(title)
        self.view.set_image(picture.astype(np.float32) / 255.0)

    def show_overview(self, title: str, features: tuple[int, ...], pictures: np.ndarray, selected: int | None) -> None:
        """Every feature's image (uint8 [F, H, W, 3]) in a grid, the selected one framed."""
        self.overview_features = features
        self._cells = enlarge(pictures.astype(np.float32) / 255.0, ZOOM)
        self.overview.set_title(title)
        self.select(selected)

    def select(self, feature: int | None) -> None:
        if not len(self._cells):
            return
        i = self.overview_features.index(feature) if feature in self.overview_features else None
        self.overview.set_image(framed_grid(self._cells, OVERVIEW_COLS, i))

    def clear_overview(self) -> None:
        self._cells = self._cells[:0]
        self.overview_features = ()
        self.overview.clear_picture()
        self.overview.set_title("")

    def show_message(self, text: str) -> None:
        self.status.setText(text)

    def _on_overview_clicked(self, x: float, y: float) -> None:
        hit = cell_at(x - PAD, y - PAD, self._cells.shape[1:3], OVERVIEW_COLS, len(self._cells), PAD)
        if hit is not None:
            self.feature_selected.emit(self.overview_features[hit])
