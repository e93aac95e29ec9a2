"""Layer and feature selection: the layers with their shapes, and the feature by spin box and slider."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QSlider, QSpinBox, QVBoxLayout, QWidget

from explorer.core.graph import Layer

KEYS_HINT = "← → feature · ↑ ↓ layer\nPgUp PgDn image · F1: all keys"  # two fixed lines: a wrapped label
# in the dock's scroll area was given one line's height at narrow widths and printed its second line over it


class LayerSelectPane(QWidget):
    layer_selected = Signal(str)
    feature_selected = Signal(int)
    model_selected = Signal(str)  # the spec of a model in the switcher

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = QComboBox()  # the model switcher: the bundled models, and the one opened from a file
        self.model.setToolTip("Switch the model (File > Open model… opens your own)")
        self.layer = QComboBox()
        self.channels: dict[str, int] = {}
        for combo in (self.model, self.layer):  # long names elide instead of widening a narrow pane
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
        self.feature = QSpinBox()
        self.feature.setMinimumWidth(self.feature.fontMetrics().horizontalAdvance("0000") + 36)  # 3 digits + arrows
        self.feature.setKeyboardTracking(False)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        hint = QLabel(KEYS_HINT)
        hint.setToolTip("The mouse wheel over a view scrubs features; Ctrl+wheel zooms. Help > Keyboard shortcuts")
        feature_row = QHBoxLayout()
        feature_row.addWidget(self.feature)
        feature_row.addWidget(self.slider, 1)
        form = QFormLayout()
        form.addRow("model", self.model)
        form.addRow("layer", self.layer)
        form.addRow("feature", feature_row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addStretch(1)
        self.layer.currentIndexChanged.connect(self._on_layer_current_index_changed)
        self.model.activated.connect(self._on_model_activated)
        self.feature.valueChanged.connect(self.feature_selected)
        self.slider.valueChanged.connect(self.feature_selected)

    def set_models(self, models: Sequence[tuple[str, str]], current: str) -> None:
        """The switcher's entries, (label, spec) each, with `current` (a spec) selected; no intent emitted."""
        self.model.blockSignals(True)
        self.model.clear()
        for label, spec in models:
            self.model.addItem(label, spec)
        self.model.setCurrentIndex(max(0, self.model.findData(current)))
        self.model.blockSignals(False)

    def set_layers(self, layers: Sequence[Layer]) -> None:
        """The open model's layers, with their shapes; no intent emitted."""
        self.layer.blockSignals(True)
        self.layer.clear()
        for lay in layers:
            h, w = lay.size
            self.layer.addItem(f"{lay.name}  ({lay.channels}×{h}×{w})", lay.name)
        self.layer.blockSignals(False)
        self.channels = {lay.name: lay.channels for lay in layers}

    def show_state(self, layer: str, feature: int) -> None:
        """Mirror the window's layer and feature without emitting intent."""
        top = self.channels[layer] - 1
        for widget in (self.layer, self.feature, self.slider):
            widget.blockSignals(True)
        self.layer.setCurrentIndex(self.layer.findData(layer))
        self.feature.setRange(0, top)
        self.slider.setRange(0, top)
        self.feature.setValue(feature)
        self.slider.setValue(feature)
        for widget in (self.layer, self.feature, self.slider):
            widget.blockSignals(False)

    def _on_layer_current_index_changed(self, _index: int) -> None:
        if self.layer.currentData() is not None:
            self.layer_selected.emit(self.layer.currentData())

    def _on_model_activated(self, _index: int) -> None:
        self.model_selected.emit(self.model.currentData())
