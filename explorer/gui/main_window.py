"""The main window: the host of the views. It builds the one state, the controller and the views of the
registry (explorer.gui.views.VIEWS), docks them, builds the menus from their actions, and remembers the
layout and the choices. It is the only module that knows every view; a view knows only the host protocol
(explorer.gui.host).
"""

from __future__ import annotations

import torch
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QWidget
from torch import nn

from explorer.core.device import describe_device
from explorer.core.images import ImageSet
from explorer.gui.actions import ACTIONS, build_actions
from explorer.gui.controller import Controller
from explorer.gui.exporting import Exporting
from explorer.gui.help_dialogs import copy_view, show_about, show_shortcuts
from explorer.gui.host import View
from explorer.gui.messages import Job, LoadRequest, ModelRequest
from explorer.gui.notice import NoticeBar
from explorer.gui.open_model import OpenModel, figure_label
from explorer.gui.selection_pass import SelectionPass
from explorer.gui.settings import read_bytes, read_choices, write_choices
from explorer.gui.shortcut_guard import ShortcutGuard
from explorer.gui.sources import ImageSources, source_name
from explorer.gui.state import WindowState
from explorer.gui.status import ExplorerStatusBar
from explorer.gui.views import VIEWS
from explorer.gui.window_layout import (
    ACROSS,
    PROJECTION,
    arrange,
    central_widget,
    default_layout,
    default_window_size,
    make_dock,
)

TITLE_BAR = 24  # pixels: a dock's title above its pane


class MainWindow(QMainWindow):
    def __init__(
        self,
        model: nn.Module,
        device: torch.device,
        settings: QSettings,
        *,
        model_name: str = "bundled",
        checkpoint: str | None = None,
        source: str | None = None,
        split: str | None = None,
        images: ImageSet | None = None,
        device_notice: str = "",
    ) -> None:
        super().__init__()
        self.setWindowTitle("CNN Feature Explorer")
        self.setAcceptDrops(True)
        self.settings = settings
        opened = OpenModel.of(model, figure_label(model, checkpoint))
        self.state = WindowState(opened, read_choices(settings, opened.channels), self)
        if source:
            self.state.source = source
        if split:
            self.state.split = split
        self.controller = Controller(model, device, self)
        self.status = ExplorerStatusBar()
        self.setStatusBar(self.status)
        self.status.show_device(describe_device(device))
        self.device_notice = NoticeBar(offers=False)
        self._central: list[tuple[QWidget, bool]] = [(self.device_notice, False)]
        self.docks: dict[str, QDockWidget] = {}
        self._placed: set[str] = set()  # docks opened once (tabbed beside Projection the first time)
        self._on_demand: set[str] = set()  # docks opened from a menu, hidden at first
        # Connected before any view: stale work is forgotten before a view asks anew for the new model or images.
        self.state.model_changed.connect(self._on_state_model_changed)
        self.state.images_changed.connect(self._on_state_images_changed)
        self.exporting = Exporting(self, checkpoint)
        self.sources = ImageSources(self)
        self._central.append((self.sources.notice, False))
        self.selection_pass = SelectionPass(self)
        self.views: dict[str, View] = {}
        for view_class in VIEWS:
            self.views[view_class.name] = view_class(self)
        central_widget(self, self._central)
        arrange(self, self.docks)
        self._default_state = self.saveState()
        self.status.show_model(opened.label if model_name == "bundled" else model_name)
        handlers = {
            **self.sources.handlers(),
            "quit": self.close, "reset_layout": self.reset_layout,
            "copy_view": lambda: self.status.showMessage(copy_view(self)),
            "shortcuts": lambda: show_shortcuts(self, self._action_infos),
            "about": lambda: show_about(self, *self.status.facts()),
        }  # fmt: skip
        self._action_infos = list(ACTIONS)
        for view in self.views.values():
            self._action_infos.extend(view.actions)
            handlers.update(view.handlers())
        self.menu_actions, menus = build_actions(self, self._action_infos, handlers)  # type: ignore[arg-type]
        for dock in self.docks.values():
            menus["&View"].addAction(dock.toggleViewAction())
        self._shortcut_guard = ShortcutGuard(self)  # an editor with focus keeps its arrow keys
        QApplication.instance().installEventFilter(self._shortcut_guard)
        self.controller.busy_changed.connect(self._on_controller_busy_changed)
        self.controller.device_fell_back.connect(self._on_controller_device_fell_back)
        self._restore_layout()
        if device_notice:
            self.status.showMessage(device_notice)
            self.device_notice.show_notice(device_notice)
        if images is not None:
            self.sources.show(images, self.state.source)
        else:
            self.sources.open_source(self.state.source, self.state.split, fallback=True)

    # The host protocol (explorer.gui.host.Host) ---------------------------------------------------

    @property
    def widget(self) -> QWidget:
        return self

    def submit(self, job: Job, owner: View) -> None:
        self.controller.submit(job, owner)

    def cancel(self, kind: type, owner: View) -> None:
        self.controller.cancel(kind, owner)

    def start_scan(self, request: object, owner: View) -> None:
        self.controller.start_scan(request, owner)  # type: ignore[arg-type]

    def cancel_scan(self) -> None:
        self.controller.cancel_scan()

    def scanning(self) -> object:
        return self.controller.scanning

    def add_dock(self, view: View, widget: QWidget, *, area: str = "bottom", hidden: bool = False) -> QDockWidget:
        dock = make_dock(self, view.name, view.title, widget, area)
        if hidden:
            self._on_demand.add(view.name)
            dock.hide()
            dock.visibilityChanged.connect(lambda visible, name=view.name: visible and self._placed.add(name))
        self.docks[view.name] = dock
        return dock

    def add_central(self, widget: QWidget, *, stretch: bool = False) -> None:
        self._central.append((widget, stretch))

    def open_dock(self, dock: QDockWidget, *, room: tuple[float, float] = (0.0, 0.0)) -> None:
        name = dock.objectName()
        if name not in self._placed and PROJECTION in self.docks:
            # A tab beside Projection the first time, made only now: a window that never opens the view restores
            # to exactly the size it was saved with.
            self.tabifyDockWidget(self.docks[PROJECTION], dock)
        self._placed.add(name)
        dock.show()
        dock.raise_()
        width, height = room
        if width > 0:
            QTimer.singleShot(
                0, lambda: self.resizeDocks([dock], [int(self.width() * width)], Qt.Orientation.Horizontal)
            )
        if height > 0:
            QTimer.singleShot(0, lambda: self._grow_height(dock, height))
        QTimer.singleShot(0, lambda: self._fit_width(dock))

    def _fit_width(self, dock: QDockWidget) -> None:
        """Widen a docked view to its pane's least width, up to 60% of the window's (at 1024x640 an analysis opened in
        Projection's third of the bottom row, and Occlusion's panels scrolled sideways)."""
        if dock.isFloating() or not dock.isVisible():
            return
        need = dock.widget().widget().minimumSizeHint().width() + 8  # the scroll area's frame and margins
        if dock.width() < need:
            self.resizeDocks([dock], [min(need, int(self.width() * 0.6))], Qt.Orientation.Horizontal)

    def open_split(self, split: str) -> None:
        self.sources.open_split(split)

    def _grow_height(self, dock: QDockWidget, share: float) -> None:
        """Give `dock` `share` of the window's height, as far as the docks beside the middle keep the room their panes
        need (at 1024x640 the Backpropagation view took 60% and Prediction showed 3 of its 10 classes)."""
        right = Qt.DockWidgetArea.RightDockWidgetArea
        above = sum(
            d.widget().widget().minimumSizeHint().height() + TITLE_BAR
            for d in self.docks.values()
            if d.isVisible() and not d.isFloating() and self.dockWidgetArea(d) == right
        )
        chrome = self.menuBar().height() + self.statusBar().height()
        target = min(int(self.height() * share), self.height() - chrome - above)
        if target > dock.height():
            self.resizeDocks([dock], [target], Qt.Orientation.Vertical)

    def say(self, message: str) -> None:
        self.status.showMessage(message)

    def fail(self, message: str) -> None:
        self.status.show_failure(message)

    def show_timing(self, ms: float) -> None:
        self.status.show_timing(ms)

    def message(self) -> str:
        return self.status.currentMessage()

    def export(self, figure: object, what: str, images: ImageSet | None = None) -> None:
        self.exporting.export(figure, what, images)

    def action(self, key: str) -> QAction | None:
        return getattr(self, "menu_actions", {}).get(key)

    # Changes of the state ------------------------------------------------------------------------

    def _on_state_model_changed(self, opened: OpenModel) -> None:
        self.controller.forget_stale("model")  # whatever was asked under the previous model is stale
        self.status.show_model(opened.label)
        size = opened.info.input_size
        self.status.showMessage(f"Opened the model {opened.label} ({len(opened.layers)} layers, {size}×{size} input)")

    def _on_state_images_changed(self, images: ImageSet) -> None:
        self.controller.forget_stale("images")  # whatever was asked for the previous images is stale
        self.status.show_data(images.name, len(images))

    def _on_controller_device_fell_back(self, message: str) -> None:
        self.status.show_device(f"cpu ({message.split(':')[0].lower()})")
        self.status.show_failure(message)

    def _on_controller_busy_changed(self, job: object) -> None:
        if isinstance(job, LoadRequest):
            verb = "Downloading" if job.download else "Opening"
            self.status.set_busy(f"{verb} {source_name(job.source)}…")
        elif isinstance(job, ModelRequest):
            self.status.set_busy(f"Opening the model {job.describe()}…")
        else:
            self.status.set_busy(None)

    # Images dropped on the window ----------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        self.sources.open_dropped([u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()])
        event.acceptProposedAction()

    # Layout and closing --------------------------------------------------------------------------

    def _restore_layout(self) -> None:
        geometry = read_bytes(self.settings, "window/geometry")
        state = read_bytes(self.settings, "window/state")
        if geometry is None or not self.restoreGeometry(geometry):
            default_window_size(self)
        if state is None or not self.restoreState(state):
            QTimer.singleShot(0, self, lambda: default_layout(self, self.docks))  # once the window has its size
        else:
            self._placed.update(name for name, dock in self.docks.items() if not dock.isHidden())

    def reset_layout(self) -> None:
        """Every view's dock back in its place, shown and docked (those opened from a menu hidden), sized to the
        window as it is now."""
        for dock in self.docks.values():
            dock.setFloating(False)
        self.restoreState(self._default_state)
        for name, dock in self.docks.items():
            if name not in self._on_demand:
                dock.show()
        if ACROSS in self.docks:
            self.docks[ACROSS].raise_()
        default_layout(self, self.docks)

    def save_settings(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        write_choices(self.settings, self.state.choices())
        for view in self.views.values():
            view.close()
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self.controller.shutdown()
        super().closeEvent(event)
