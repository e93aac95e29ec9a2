"""A bar above the views that explains a fallback (no CIFAR-10 yet, no GPU) and offers the ways out, if any."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget


class NoticeBar(QFrame):
    download_requested = Signal()
    open_folder_requested = Signal()

    def __init__(self, parent: QWidget | None = None, *, offers: bool = True) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("NoticeBar { background: #fff4cc; } QLabel { color: #333; }")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.download = QPushButton("Download CIFAR-10")
        self.open_folder = QPushButton("Open folder…")
        close = QPushButton("✕")
        close.setFlat(True)
        close.setToolTip("Hide this notice")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 3, 6, 3)
        layout.addWidget(self.text, 1)
        for w in (self.download, self.open_folder, close):
            layout.addWidget(w)
        self.download.clicked.connect(self.download_requested)
        self.open_folder.clicked.connect(self.open_folder_requested)
        close.clicked.connect(self.hide)
        self.download.setVisible(offers)
        self.open_folder.setVisible(offers)
        self.hide()

    def show_notice(self, text: str) -> None:
        self.text.setText(text)
        self.setVisible(bool(text))
