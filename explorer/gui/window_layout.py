"""Where the panes go: the central view, the docks around it, and their default sizes."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QFrame, QMainWindow, QScrollArea, QVBoxLayout, QWidget

Area = Qt.DockWidgetArea
# Dock titles and areas, in the order of MainWindow.docks.
DOCKS = (
    ("Images", Area.LeftDockWidgetArea),
    ("Layer and feature", Area.RightDockWidgetArea),
    ("Prediction", Area.RightDockWidgetArea),
    ("Projection", Area.BottomDockWidgetArea),
    ("Feature across images", Area.BottomDockWidgetArea),
    ("Top images", Area.BottomDockWidgetArea),
)


def build_layout(window: QMainWindow, central: list[QWidget], panes: list[QWidget]) -> list[QDockWidget]:
    """Stack `central` (the last one stretching) in the middle and dock `panes` as DOCKS says; the docks."""
    middle = QWidget()
    box = QVBoxLayout(middle)
    box.setContentsMargins(0, 0, 0, 0)
    for i, widget in enumerate(central):
        box.addWidget(widget, 1 if i == len(central) - 1 else 0)
    window.setCentralWidget(middle)
    window.setCorner(Qt.Corner.BottomLeftCorner, Area.LeftDockWidgetArea)
    window.setCorner(Qt.Corner.BottomRightCorner, Area.BottomDockWidgetArea)
    docks = [_dock(window, title, pane, area) for (title, area), pane in zip(DOCKS, panes, strict=True)]
    window.splitDockWidget(docks[3], docks[4], Qt.Orientation.Horizontal)
    window.tabifyDockWidget(docks[4], docks[5])
    docks[4].raise_()
    return docks


def scrolling(pane: QWidget) -> QScrollArea:
    """`pane` in a scroll area: squeezed below its minimum size, it scrolls instead of being cut off or overlapped."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(pane)
    return area


def pane_of(dock: QDockWidget) -> QWidget:
    """The pane a dock shows (inside its scroll area)."""
    widget = dock.widget()
    return widget.widget() if isinstance(widget, QScrollArea) else widget


def _dock(window: QMainWindow, title: str, pane: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(title.lower().replace(" ", "_"))
    dock.setWidget(scrolling(pane))
    dock.setFeatures(
        QDockWidget.DockWidgetFeature.DockWidgetMovable
        | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        | QDockWidget.DockWidgetFeature.DockWidgetClosable
    )
    window.addDockWidget(area, dock)
    return dock


def default_window_size(window: QMainWindow) -> None:
    """Three quarters of the screen, at least 1280x800 where the screen has room (a first start)."""
    screen = window.screen().availableGeometry()
    window.resize(
        min(screen.width(), max(1280, screen.width() * 3 // 4)),
        min(screen.height(), max(800, screen.height() * 3 // 4)),
    )


def default_sizes(window: QMainWindow, docks: list[QDockWidget]) -> None:
    """Share the window's present size among the docks: images left, choices right, the views below."""
    w, h = window.width(), window.height()
    window.resizeDocks(docks[:1], [max(230, min(330, w * 26 // 100))], Qt.Orientation.Horizontal)
    window.resizeDocks(docks[1:2], [max(230, min(300, w * 22 // 100))], Qt.Orientation.Horizontal)
    window.resizeDocks(docks[1:3], [h * 22 // 100, h * 40 // 100], Qt.Orientation.Vertical)
    window.resizeDocks(docks[3:4], [max(240, h * 42 // 100)], Qt.Orientation.Vertical)
    bottom = w - docks[0].width()
    window.resizeDocks(docks[3:5], [bottom * 45 // 100, bottom * 55 // 100], Qt.Orientation.Horizontal)
