"""Layer and feature selection: the layers with their shapes, and the feature by spin box and slider."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QSlider, QSpinBox, QVBoxLayout, QWidget

from explorer.core.model import LAYERS

KEYS_HINT = "← → feature · ↑ ↓ layer · PgUp PgDn image · wheel: feature · F1: all keys"


class LayerSelectPane(QWidget):
    layer_selected = Signal(str)
    feature_selected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.layer = QComboBox()
        for name, info in LAYERS.items():
            self.layer.addItem(f"{name}  ({info.channels}×{info.size}×{info.size})", name)
        self.feature = QSpinBox()
        self.feature.setKeyboardTracking(False)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        hint = QLabel(KEYS_HINT)
        hint.setWordWrap(True)
        feature_row = QHBoxLayout()
        feature_row.addWidget(self.feature)
        feature_row.addWidget(self.slider, 1)
        form = QFormLayout()
        form.addRow("layer", self.layer)
        form.addRow("feature", feature_row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addStretch(1)
        self.layer.currentIndexChanged.connect(self._on_layer_current_index_changed)
        self.feature.valueChanged.connect(self.feature_selected)
        self.slider.valueChanged.connect(self.feature_selected)
        self.show_state("conv1", 0)

    def show_state(self, layer: str, feature: int) -> None:
        """Mirror the window's layer and feature without emitting intent."""
        top = LAYERS[layer].channels - 1
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
        self.layer_selected.emit(self.layer.currentData())
