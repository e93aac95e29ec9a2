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
        # Fixed to its widest text: it changes on every feature, and a label that changes width lays out
        # the whole window again (Qt skips that for a fixed-size widget).
        widest = self.timing.fontMetrics().horizontalAdvance("last pass: 00000 ms") + 8
        self.timing.setFixedSize(widest, self.timing.sizeHint().height())
        tips = {
            self.device: "device: where the model runs (cpu, or cuda and the GPU's name)",
            self.model_name: "model: the network's weights (bundled: the model shipped with the explorer, else the file)",
            self.data: "data: the image set open now and how many images it holds",
            self.timing: "last pass: how long the worker took to compute what the views show for the last choice",
        }
        for w in (self.busy_text, self.busy, self.device, self.model_name, self.data, self.timing):
            self.addPermanentWidget(w)
            if w in tips:  # the status line names what the bar abbreviates, on hover
                w.setToolTip(tips[w])
                w.setStatusTip(tips[w])

    def show_device(self, text: str) -> None:
        self.device.setText(f"device: {text}")

    def show_model(self, text: str) -> None:
        self.model_name.setText(f"model: {text}")

    def show_data(self, name: str, count: int) -> None:
        self.data.setText(f"data: {name} ({count:,} images)")

    def show_timing(self, ms: float) -> None:
        self.timing.setText(f"last pass: {ms:.0f} ms")

    def facts(self) -> tuple[str, str, str]:
        """(device, model, data) as shown, without their labels: for Help > About."""
        return tuple(w.text().split(": ", 1)[-1] for w in (self.device, self.model_name, self.data))  # type: ignore[return-value]

    def set_busy(self, text: str | None) -> None:
        """Show an indeterminate progress bar with `text`, or hide it when None."""
        self.busy.setVisible(text is not None)
        self.busy_text.setText(text or "")

    def show_failure(self, message: str) -> None:
        self.showMessage(f"⚠ {message}")
