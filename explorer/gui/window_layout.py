"""Where the panes go: the central view, the docks around it, and their default sizes."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QDockWidget, QFrame, QMainWindow, QScrollArea, QVBoxLayout, QWidget

from explorer.gui.settings import read_bytes

Area = Qt.DockWidgetArea
# Dock titles and areas, in the order of MainWindow.docks.
DOCKS = (
    ("Images", Area.LeftDockWidgetArea),
    ("Layer and feature", Area.RightDockWidgetArea),
    ("Prediction", Area.RightDockWidgetArea),
    ("Projection", Area.BottomDockWidgetArea),
    ("Feature across images", Area.BottomDockWidgetArea),
    ("Top images", Area.BottomDockWidgetArea),
    ("Input image", Area.BottomDockWidgetArea),
)
WIDE = 1360  # pixels: the window width from which Input image gets a column of its own (see default_layout)


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
    window.splitDockWidget(docks[3], docks[6], Qt.Orientation.Horizontal)  # between Projection and the tabs
    window.tabifyDockWidget(docks[4], docks[5])
    docks[4].raise_()
    return docks


class FitScrollArea(QScrollArea):
    """Gives its pane the whole viewport, or the pane's minimum size where the viewport is smaller (then scrolls).

    Not widgetResizable: that sizes a pane holding word-wrapped labels to its preferred height for the width,
    which is far taller than the dock, and the views inside drift out of sight.
    """

    def __init__(self, pane: QWidget) -> None:
        super().__init__()
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidget(pane)
        pane.installEventFilter(self)

    def fit(self) -> None:
        pane, view, need = self.widget(), self.viewport().size(), self.widget().minimumSizeHint()
        pane.resize(max(view.width(), need.width()), max(view.height(), need.height()))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit()

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:  # a scroll bar came or went
            self.fit()
        return super().viewportEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:
            self.fit()
        return False


def scrolling(pane: QWidget) -> QScrollArea:
    """`pane` in a scroll area: squeezed below its minimum size, it scrolls instead of being cut off or overlapped."""
    return FitScrollArea(pane)


def analyse_dock(window: QMainWindow, title: str, name: str, pane: QWidget) -> QDockWidget:
    """A hidden dock for an Analyse view (opened from its menu, tabbed beside Projection); `name` keys it in
    the saved window state."""
    dock = _dock(window, title, pane, Area.BottomDockWidgetArea, name)
    dock.hide()
    return dock


def _dock(window: QMainWindow, title: str, pane: QWidget, area: Qt.DockWidgetArea, name: str = "") -> QDockWidget:
    dock = QDockWidget(title, window)
    dock.setObjectName(name or title.lower().replace(" ", "_"))
    dock.setWidget(scrolling(pane))
    dock.setFeatures(
        QDockWidget.DockWidgetFeature.DockWidgetMovable
        | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        | QDockWidget.DockWidgetFeature.DockWidgetClosable
    )
    window.addDockWidget(area, dock)
    return dock


def default_window_size(window: QMainWindow) -> None:
    """A first start fills the screen: every pane gets the most room (the layout holds from 1024x640 up)."""
    screen = window.screen().availableGeometry()
    window.setGeometry(screen)


def default_layout(window: QMainWindow, docks: list[QDockWidget]) -> None:
    """Fit the docks to the window's present width, then size them (first start, and View > Reset layout).

    From WIDE pixels up, Input image has a column of its own between Projection and the tabs; below that a
    third column would squeeze all three, so it is a tab beside Feature across images and Top images.
    """
    if window.width() < WIDE:
        window.tabifyDockWidget(docks[4], docks[6])
        docks[4].raise_()
    default_sizes(window, docks)


def default_sizes(window: QMainWindow, docks: list[QDockWidget]) -> None:
    """Share the window's present size among the docks: images left, choices right, the views below."""
    w, h = window.width(), window.height()
    window.resizeDocks(docks[:1], [max(230, min(330, w * 26 // 100))], Qt.Orientation.Horizontal)
    window.resizeDocks(docks[1:2], [max(230, min(300, w * 22 // 100))], Qt.Orientation.Horizontal)
    window.resizeDocks(docks[1:3], [h * 20 // 100, h * 45 // 100], Qt.Orientation.Vertical)
    window.resizeDocks(docks[3:4], [max(250, h * 40 // 100)], Qt.Orientation.Vertical)
    bottom = w - docks[0].width()
    if window.tabifiedDockWidgets(docks[6]):
        window.resizeDocks(docks[3:5], [bottom * 48 // 100, bottom * 52 // 100], Qt.Orientation.Horizontal)
        return
    projection = bottom * 36 // 100
    input_image = (bottom - projection) * 40 // 100
    shares = [projection, input_image, bottom - projection - input_image]  # Projection, Input image, the tabs
    window.resizeDocks([docks[3], docks[6], docks[4]], shares, Qt.Orientation.Horizontal)


class WindowLayoutMixin:
    """The main window's docks: built, restored from the settings, and reset; mixed into MainWindow."""

    def _build_layout(self) -> None:
        panes = [
            self.browser, self.layer_select, self.prediction, self.projection, self.across, self.top_images,
            self.input_image,
        ]  # fmt: skip
        self.docks = build_layout(
            self, [self.device_notice, self.notice, self.unreadable_notice, self.activations], panes
        )
        self._default_state = self.saveState()

    def _restore_layout(self) -> None:
        geometry = read_bytes(self.settings, "window/geometry")
        state = read_bytes(self.settings, "window/state")
        if geometry is None or not self.restoreGeometry(geometry):
            default_window_size(self)
        if state is None or not self.restoreState(state):
            QTimer.singleShot(0, self, lambda: default_layout(self, self.docks))  # once the window has its size

    def _on_reset_layout_triggered(self) -> None:
        """Every dock back in its place, shown and docked, sized to the window as it is now."""
        for dock in self.docks:
            dock.setFloating(False)
        self.restoreState(self._default_state)
        for dock in self.docks:
            dock.show()
        self.docks[4].raise_()
        default_layout(self, self.docks)
