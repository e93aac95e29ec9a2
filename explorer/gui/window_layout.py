"""Where the panes go: the central view, the docks around it, and their default sizes."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QVBoxLayout, QWidget

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


def _dock(window: QMainWindow, title: str, pane: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(title.lower().replace(" ", "_"))
    dock.setWidget(pane)
    dock.setFeatures(
        QDockWidget.DockWidgetFeature.DockWidgetMovable
        | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        | QDockWidget.DockWidgetFeature.DockWidgetClosable
    )
    window.addDockWidget(area, dock)
    return dock


def default_sizes(window: QMainWindow, docks: list[QDockWidget]) -> None:
    screen = window.screen().availableGeometry()
    window.resize(
        min(screen.width(), max(1280, screen.width() * 3 // 4)),
        min(screen.height(), max(800, screen.height() * 3 // 4)),
    )
    window.resizeDocks(docks[:1], [330], Qt.Orientation.Horizontal)
    window.resizeDocks(docks[1:3], [150, 250], Qt.Orientation.Vertical)
    window.resizeDocks(docks[1:2], [290], Qt.Orientation.Horizontal)
    window.resizeDocks(docks[3:4], [340], Qt.Orientation.Vertical)
    window.resizeDocks(docks[3:5], [430, 520], Qt.Orientation.Horizontal)
