"""Where the panes go: the central view, the docks around it, and their default sizes."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QApplication, QDockWidget, QFrame, QMainWindow, QScrollArea, QVBoxLayout, QWidget

Area = Qt.DockWidgetArea
AREAS = {"left": Area.LeftDockWidgetArea, "right": Area.RightDockWidgetArea, "bottom": Area.BottomDockWidgetArea}
WIDE = 1360  # pixels: the window width from which Input image gets a column of its own (see default_layout)
# The default arrangement names the docks it places (by the view's name); a view without a place here is docked in
# its area, or tabbed beside Projection when it opens.
IMAGES, CHOICES, PREDICTION, PROJECTION = "images", "layer_and_feature", "prediction", "projection"
ACROSS, TOP, INPUT = "feature_across_images", "top_images", "input_image"


def central_widget(window: QMainWindow, central: list[tuple[QWidget, bool]]) -> None:
    """Stack `central` (widget, stretches) in the middle of the window."""
    middle = QWidget()
    box = QVBoxLayout(middle)
    box.setContentsMargins(0, 0, 0, 0)
    for widget, stretch in central:
        box.addWidget(widget, 1 if stretch else 0)
    window.setCentralWidget(middle)
    window.setCorner(Qt.Corner.BottomLeftCorner, Area.LeftDockWidgetArea)
    window.setCorner(Qt.Corner.BottomRightCorner, Area.BottomDockWidgetArea)


def arrange(window: QMainWindow, docks: dict[str, QDockWidget]) -> None:
    """The docks' places: Projection, Input image and the tabs of Feature across images and Top images side by side."""
    if PROJECTION in docks and ACROSS in docks:
        window.splitDockWidget(docks[PROJECTION], docks[ACROSS], Qt.Orientation.Horizontal)
    if PROJECTION in docks and INPUT in docks:
        window.splitDockWidget(docks[PROJECTION], docks[INPUT], Qt.Orientation.Horizontal)
    if ACROSS in docks and TOP in docks:
        window.tabifyDockWidget(docks[ACROSS], docks[TOP])
        docks[ACROSS].raise_()


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


def make_dock(window: QMainWindow, name: str, title: str, pane: QWidget, area: str) -> QDockWidget:
    """`pane` in a dock (scrolling when squeezed) in `area`; `name` keys it in the saved window state."""
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    dock.setWidget(scrolling(pane))
    dock.setFeatures(
        QDockWidget.DockWidgetFeature.DockWidgetMovable
        | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        | QDockWidget.DockWidgetFeature.DockWidgetClosable
    )
    window.addDockWidget(AREAS[area], dock)
    dock.topLevelChanged.connect(lambda floating: floating and window.isVisible() and float_large(window, dock))
    return dock


FLOAT_SHARE = (0.6, 0.7)  # the shares of the main window's width and height a dock floated by the user gets at least


def float_large(window: QMainWindow, dock: QDockWidget) -> None:
    """A dock the user floats gets the room of a main view: at least FLOAT_SHARE of the window, within the screen,
    centred on the window (a floated analysis kept its tab's few hundred pixels). Dragged out, it grows where it is
    dropped."""
    screen = window.screen().availableGeometry()
    width = min(max(dock.width(), int(window.width() * FLOAT_SHARE[0])), screen.width())
    height = min(max(dock.height(), int(window.height() * FLOAT_SHARE[1])), screen.height())
    if QApplication.mouseButtons() != Qt.MouseButton.NoButton:
        dock.resize(width, height)  # being dragged: the drag places it
        return
    centre = window.geometry().center()
    x = min(max(centre.x() - width // 2, screen.left()), screen.right() - width + 1)
    y = min(max(centre.y() - height // 2, screen.top()), screen.bottom() - height + 1)
    dock.setGeometry(x, y, width, height)


def default_window_size(window: QMainWindow) -> None:
    """A first start fills the screen: every pane gets the most room (the layout holds from 1024x640 up)."""
    screen = window.screen().availableGeometry()
    window.setGeometry(screen)


def default_layout(window: QMainWindow, docks: dict[str, QDockWidget]) -> None:
    """Fit the docks to the window's present width, then size them (first start, and View > Reset layout).

    From WIDE pixels up, Input image has a column of its own between Projection and the tabs; below that a
    third column would squeeze all three, so it is a tab beside Feature across images and Top images.
    """
    if window.width() < WIDE and ACROSS in docks and INPUT in docks:
        window.tabifyDockWidget(docks[ACROSS], docks[INPUT])
        docks[ACROSS].raise_()
    default_sizes(window, docks)


def default_sizes(window: QMainWindow, docks: dict[str, QDockWidget]) -> None:
    """Share the window's present size among the docks: images left, choices right, the views below."""
    w, h = window.width(), window.height()
    if not all(name in docks for name in (IMAGES, CHOICES, PREDICTION, PROJECTION, ACROSS, INPUT)):
        return  # a window without the standard views keeps Qt's sizes
    window.resizeDocks([docks[IMAGES]], [max(230, min(330, w * 26 // 100))], Qt.Orientation.Horizontal)
    window.resizeDocks([docks[CHOICES]], [max(230, min(300, w * 22 // 100))], Qt.Orientation.Horizontal)
    window.resizeDocks([docks[CHOICES], docks[PREDICTION]], [h * 20 // 100, h * 45 // 100], Qt.Orientation.Vertical)
    window.resizeDocks([docks[PROJECTION]], [max(250, h * 40 // 100)], Qt.Orientation.Vertical)
    bottom = w - docks[IMAGES].width()
    if window.tabifiedDockWidgets(docks[INPUT]):
        window.resizeDocks(
            [docks[PROJECTION], docks[ACROSS]], [bottom * 48 // 100, bottom * 52 // 100], Qt.Orientation.Horizontal
        )
        return
    projection = bottom * 36 // 100
    input_image = (bottom - projection) * 40 // 100
    shares = [projection, input_image, bottom - projection - input_image]  # Projection, Input image, the tabs
    window.resizeDocks([docks[PROJECTION], docks[INPUT], docks[ACROSS]], shares, Qt.Orientation.Horizontal)
