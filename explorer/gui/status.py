"""The status bar: device, model, data and last pass time always shown; failures as messages."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QWidget


class ExplorerStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # indeterminate: downloads and loads report no fraction
        self.busy.setMaximumWidth(120)
        self.busy.hide()
        self.busy_text = QLabel()
        self.device = QLabel()
        self.model_name = QLabel()
        self.data = QLabel()
        self.timing = QLabel("last pass: –")
        for w in (self.busy_text, self.busy, self.device, self.model_name, self.data, self.timing):
            self.addPermanentWidget(w)

    def show_device(self, text: str) -> None:
        self.device.setText(f"device: {text}")

    def show_model(self, text: str) -> None:
        self.model_name.setText(f"model: {text}")

    def show_data(self, name: str, count: int) -> None:
        self.data.setText(f"data: {name} ({count:,} images)")

    def show_timing(self, ms: float) -> None:
        self.timing.setText(f"last pass: {ms:.0f} ms")

    def set_busy(self, text: str | None) -> None:
        """Show an indeterminate progress bar with `text`, or hide it when None."""
        self.busy.setVisible(text is not None)
        self.busy_text.setText(text or "")

    def show_failure(self, message: str) -> None:
        self.showMessage(f"⚠ {message}")
