"""What a view gets instead of the main window: the narrow host protocol, and the View base class.

A view (a plug-in under explorer.gui.views) is built from the host alone: it reads and changes the
window's one state (explorer.gui.state), submits jobs and gets the answers to its own newest ones,
adds its dock, says things in the status bar, and exports figures. It never sees MainWindow, the
controller, the worker or another view (an import-linter contract checks that).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Protocol

from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QWidget

from explorer.gui.actions import ActionInfo
from explorer.gui.messages import Failure, Job

if TYPE_CHECKING:
    from explorer.core.images import ImageSet
    from explorer.gui.scan_job import ScanRequest
    from explorer.gui.state import WindowState


class Host(Protocol):
    """The window as a view sees it."""

    state: WindowState
    settings: QSettings  # where a view remembers its own choices (under a key of its name)

    @property
    def widget(self) -> QWidget:
        """The parent of the view's dialogs (the window)."""
        ...

    def submit(self, job: Job, owner: View) -> None:
        """Run `job` on the worker; the owner's on_result/on_failure/on_progress get the answer to its newest job of
        that kind only (latest wins, except for kinds that queue)."""
        ...

    def cancel(self, kind: type, owner: View) -> None:
        """Forget the owner's waiting job of `kind`, stop its running one at its next step (its answer still comes:
        how it ended)."""
        ...

    def start_scan(self, request: ScanRequest, owner: View) -> None: ...
    def cancel_scan(self) -> None: ...
    def scanning(self) -> ScanRequest | None: ...

    def add_dock(self, view: View, widget: QWidget, *, area: str = "bottom", hidden: bool = False) -> QDockWidget:
        """Dock `widget` under the view's title (area: left, right, bottom); a hidden one is opened with open_dock."""
        ...

    def add_central(self, widget: QWidget, *, stretch: bool = False) -> None:
        """Put `widget` in the middle column (notices above, the stretching view last)."""
        ...

    def open_dock(self, dock: QDockWidget, *, room: tuple[float, float] = (0.0, 0.0)) -> None:
        """Show `dock` in front: first time, as a tab beside Projection; `room` (width, height) > 0 gives it that share
        of the window's width or height."""
        ...

    def open_split(self, split: str) -> None:
        """Open the other split (train or test) of the open source, where it has splits."""
        ...

    def say(self, message: str) -> None: ...
    def fail(self, message: str) -> None: ...
    def show_timing(self, ms: float) -> None: ...
    def message(self) -> str:
        """What the status bar says now."""
        ...

    def export(self, figure: object, what: str, images: ImageSet | None = None) -> None:
        """Ask where to write the analysis request `figure` (of the open images), then write it on the worker."""
        ...

    def action(self, key: str) -> QAction | None:
        """The menu action `key` (e.g. to enable or disable it)."""
        ...


class View(QObject):
    """A plug-in: its pane, the way it follows the state, and its jobs; registered in explorer.gui.views.VIEWS.

    `name` keys its dock in the saved layout; `actions` are its menu entries, handled by `handlers()`.
    The answers to its jobs come to on_result, on_failure and on_progress (newest only).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    actions: ClassVar[tuple[ActionInfo, ...]] = ()

    def __init__(self, host: Host) -> None:
        super().__init__(host.widget)
        self.host = host
        self.state = host.state

    def handlers(self) -> dict[str, Callable[[], None]]:
        """The view's menu actions, by key."""
        return {}

    def on_result(self, result: object) -> None:
        """The answer to this view's newest job of some kind."""

    def on_failure(self, failure: Failure) -> None:
        """Why this view's newest job of some kind failed."""

    def on_progress(self, progress: object) -> None:
        """What this view's running job says on the way."""

    def close(self) -> None:
        """The window closes: save what the view remembers."""
