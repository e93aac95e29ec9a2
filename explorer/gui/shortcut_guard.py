"""Keys a focused editor needs win over the window's single-key shortcuts.

The Navigate menu binds the bare arrows and PgUp/PgDn window-wide; without this, Up in the
feature spin box changed the layer instead of the value.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit

EDITING_KEYS = {
    Qt.Key.Key_Up,
    Qt.Key.Key_Down,
    Qt.Key.Key_Left,
    Qt.Key.Key_Right,
    Qt.Key.Key_PageUp,
    Qt.Key.Key_PageDown,
}


class ShortcutGuard(QObject):
    """Installed on the application: a spin box or line edit with focus keeps its arrow and page keys."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            focus = QApplication.focusWidget()
            editor = isinstance(focus, QAbstractSpinBox | QLineEdit)
            plain = event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)
            if editor and plain and event.key() in EDITING_KEYS:
                event.accept()  # the key goes to the widget as a key press, not to the shortcut
                return True
        return False
