"""run_app: the window's entry point for `cnn-explorer` with no subcommand.

Start-up paints a small window with a busy bar as soon as Qt is up (a fraction of a second), then imports
torch and loads the model on a background thread while that window says what it is doing; the main window
opens when the model is ready. Importing torch and tracing the model take seconds, and a user who sees
nothing for that long starts the program twice.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEventLoop, QObject, Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QProgressBar, QPushButton, QVBoxLayout, QWidget

from explorer.core.errors import ExplorerError
from explorer.gui.identity import APPLICATION, ORGANIZATION

if TYPE_CHECKING:
    import torch

    from explorer.gui.main_window import MainWindow

EXIT_FATAL = 2
TITLE = APPLICATION


class StartupWindow(QWidget):
    """What the user sees while torch is imported and the model loaded: what is happening, a busy bar, Quit."""

    closed = Signal()

    def __init__(self, model: str) -> None:
        super().__init__()
        self.setWindowTitle(TITLE)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        title = QLabel(f"<b>{TITLE}</b>")
        self.step = QLabel(f"Starting: loading the model {model}...")
        self.step.setWordWrap(True)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # no known end: Qt animates it on its own, with no Python code per frame
        self.busy.setTextVisible(False)
        quit_button = QPushButton("Quit")
        quit_button.clicked.connect(self.close)
        layout = QVBoxLayout(self)
        for widget in (title, self.step, self.busy):
            layout.addWidget(widget)
        layout.addWidget(quit_button, alignment=Qt.AlignmentFlag.AlignRight)
        self.setMinimumWidth(420)
        self.user_closed = False

    @Slot(str)
    def say(self, text: str) -> None:
        self.step.setText(text)

    def finish(self) -> None:
        """Close without counting it as the user's Quit."""
        self.blockSignals(True)
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.signalsBlocked():
            self.user_closed = True
            self.closed.emit()
        super().closeEvent(event)


class _Relay(QObject):
    """Carries the background thread's steps and result to the GUI thread (queued signals)."""

    step = Signal(str)
    done = Signal(object)


@dataclass
class Loaded:
    model: Any  # torch.nn.Module
    device: torch.device
    device_notice: str
    model_name: str


def show_startup_window(args: argparse.Namespace) -> StartupWindow:
    """The start-up window, painted now (synchronously): on screen when this returns."""
    spec = getattr(args, "model", None) or "seednet"
    splash = StartupWindow(os.path.basename(args.checkpoint) if args.checkpoint else spec)
    splash.adjustSize()
    screen = splash.screen().availableGeometry()
    splash.move(screen.center() - splash.rect().center())
    splash.show()
    splash.repaint()
    return splash


def in_background(job: Callable[[Callable[[str], None]], object], splash: StartupWindow) -> tuple[bool, object] | None:
    """Run job(say) on a daemon thread while the event loop keeps the start-up window alive; `say(text)` shows
    a step. (True, result) or (False, exception); None when the user closed the window first."""
    relay = _Relay()
    relay.step.connect(splash.say)
    loop = QEventLoop()
    box: list[tuple[bool, object]] = []

    def keep(outcome: object) -> None:
        box.append(outcome)  # type: ignore[arg-type]
        loop.quit()

    relay.done.connect(keep)
    splash.closed.connect(loop.quit)

    def run() -> None:
        try:
            outcome: tuple[bool, object] = (True, job(relay.step.emit))
        except BaseException as exc:  # (handed to the GUI thread, which reports it)
            outcome = (False, exc)
        relay.done.emit(outcome)

    threading.Thread(target=run, name="explorer-startup", daemon=True).start()
    while not box and not splash.user_closed:
        loop.exec()
    splash.closed.disconnect(loop.quit)
    return box[0] if box else None


def load_for_window(args: argparse.Namespace, say: Callable[[str], None]) -> Loaded:
    """Import torch and the explorer, load the model of add_model_args on args.device (runs off the GUI thread)."""
    spec = getattr(args, "model", None) or "seednet"
    say("Starting: importing PyTorch...")
    import torch  # noqa: F401  (the largest import: named to the user)

    say(f"Starting: loading the model {spec}...")
    from explorer.core.loading import load_model
    from explorer.core.model_meta import model_info

    device, device_notice = gui_device(args.device)
    model = load_model(
        spec, args.checkpoint, device,
        num_classes=getattr(args, "num_classes", None), input_size=getattr(args, "input_size", None),
        mean=getattr(args, "mean", None), std=getattr(args, "std", None), weights=getattr(args, "weights", None),
        resize=getattr(args, "resize", None), classes=getattr(args, "classes", None),
    )  # fmt: skip
    from explorer.core.graph import require_layers

    require_layers(model, spec)
    name = model_info(model).name
    say("Starting: opening the window...")
    import explorer.gui.main_window  # noqa: F401  (pyqtgraph and the panes: imported here, built on the GUI thread)

    return Loaded(model, device, device_notice, name)


def run_app(args: argparse.Namespace) -> int:
    """Open the window on args.data/split (None: the last used), the model of add_model_args, args.device; exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    splash = show_startup_window(args)
    outcome = in_background(lambda say: load_for_window(args, say), splash)
    if outcome is None:  # the user quit while it loaded: the loading thread is left behind, not waited for
        return _exit_now(0)
    ok, value = outcome
    splash.finish()
    if not ok:
        if not isinstance(value, ExplorerError):
            raise value  # type: ignore[misc]  (a bug, not bad input: the traceback is wanted)
        hint = (
            ""
            if args.checkpoint or getattr(args, "model", None)
            else "\n\nTrain one with `cnn-explorer train --out FILE`, then pass --checkpoint FILE."
        )
        QMessageBox.critical(None, TITLE, f"The model could not be loaded:\n{value}{hint}")
        return EXIT_FATAL
    window = open_main_window(value, args)  # type: ignore[arg-type]
    window.show()
    code = app.exec()
    from explorer.gui.controller import still_running

    if still_running():
        # A thread that ignored the stop (blocked in a system call) must not hold the exit up, and Qt
        # aborts when a running QThread is destroyed: end the process here, files and streams flushed.
        return _exit_now(code)
    return code


def open_main_window(loaded: Loaded, args: argparse.Namespace) -> MainWindow:
    from explorer.gui.main_window import MainWindow
    from explorer.gui.settings import open_settings

    return MainWindow(
        loaded.model, loaded.device, open_settings(), model_name=loaded.model_name, checkpoint=args.checkpoint,
        source=args.data, split=args.split, device_notice=loaded.device_notice,
    )  # fmt: skip


def _exit_now(code: int) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def gui_device(choice: str) -> tuple[torch.device, str]:
    """The device to run on and a notice to show: asked for CUDA without a GPU, the window runs on the CPU."""
    import torch

    from explorer.core.device import resolve_device

    try:
        return resolve_device(choice), ""
    except ExplorerError as exc:
        return torch.device("cpu"), f"Running on the CPU: {str(exc).split(': ', 1)[-1].split(' (')[0]}."
