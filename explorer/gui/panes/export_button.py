"""The "Export figure…" button each view with a figure kind carries, and the row that holds it."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton

EXPORT_TEXT = "Export figure…"


def export_button(tip: str) -> QToolButton:
    button = QToolButton()
    button.setText(EXPORT_TEXT)
    button.setToolTip(tip)
    button.setAutoRaise(True)
    return button


def footer(label: QLabel, button: QToolButton) -> QHBoxLayout:
    """The pane's rule text, with the export button at its right."""
    row = QHBoxLayout()
    row.addWidget(label, 1)
    row.addWidget(button)
    return row
