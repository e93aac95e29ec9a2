"""Help > Keyboard shortcuts and Help > About, and Ctrl+C's copy of the view under the mouse."""

from __future__ import annotations

import html
import platform
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

import pyqtgraph as pg
from PySide6.QtGui import QCursor, QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from explorer.gui.actions import ActionInfo, shortcut_rows

TITLE = "CNN Feature Explorer"


def shortcuts_html(infos: Sequence[ActionInfo]) -> str:
    rows = "".join(
        f"<tr><td><b>{html.escape(keys)}</b></td><td>&nbsp;&nbsp;{html.escape(what)}</td></tr>"
        for keys, what in shortcut_rows(infos)
    )
    return f"<table>{rows}</table><p>Arrow and page keys stay with a focused spin box or text field.</p>"


def show_shortcuts(parent: QWidget, infos: Sequence[ActionInfo]) -> None:
    QMessageBox.information(parent, f"{TITLE}: keyboard shortcuts", shortcuts_html(infos))


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def _module_version(name: str) -> str:
    """The version the running module says it is: a distribution's name can differ from its module's
    (PySide6 is installed as PySide6-Essentials), so asking the package metadata is not enough."""
    import importlib

    try:
        return str(importlib.import_module(name).__version__).split("+")[0]
    except (ImportError, AttributeError):
        return _version(name)


def about_html(device: str, model: str, data: str) -> str:
    versions = ", ".join(f"{name} {_module_version(name)}" for name in ("torch", "PySide6", "pyqtgraph", "numpy"))
    rows = (
        ("Explorer", _version("cnn-feature-explorer")),
        ("Python", platform.python_version()),
        ("Libraries", versions),
        ("Device", device),
        ("Model", model),
        ("Data", data),
    )
    body = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<p>A desktop tool for seeing what a convolutional network has learned.</p><table>{body}</table>"


def show_about(parent: QWidget, device: str, model: str, data: str) -> None:
    QMessageBox.about(parent, f"About {TITLE}", about_html(device, model, data))


def view_under_mouse(window: QWidget) -> pg.GraphicsView | None:
    """The picture or plot of `window` under the mouse pointer, if any."""
    widget = QApplication.widgetAt(QCursor.pos())
    while widget is not None and widget is not window:
        if isinstance(widget, pg.GraphicsView):
            return widget
        widget = widget.parentWidget()
    return None


def copy_view(window: QWidget) -> str:
    """Copy the view under the mouse to the clipboard as an image; what was copied, or why nothing was."""
    view = view_under_mouse(window)
    if view is None:
        return "Nothing to copy: point the mouse at a picture or plot, then press Ctrl+C"
    QGuiApplication.clipboard().setPixmap(view.grab())
    return f"Copied the view ({view.width()}x{view.height()} pixels) to the clipboard"
