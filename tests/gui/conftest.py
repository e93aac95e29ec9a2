"""GUI fixtures: a real MainWindow on a small seeded model and image set, with settings in a tmp ini."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QSettings, QThread
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from explorer.core.images import ImageSet
from explorer.core.model import CLASSES, SeedNet
from explorer.gui.main_window import MainWindow


class PatientQtBot(QtBot):
    """A qtbot whose waits default to 30 s: a loaded 2-core machine must not fail a correct test."""

    def waitUntil(self, callback, *, timeout: int = 30000) -> None:
        super().waitUntil(callback, timeout=timeout)

    def waitSignal(self, signal, *, timeout: int = 30000, **kwargs):
        return super().waitSignal(signal, timeout=timeout, **kwargs)


@pytest.fixture
def qtbot(qapp, request: pytest.FixtureRequest) -> QtBot:
    return PatientQtBot(request)


@pytest.fixture(autouse=True)
def threads_stopped(monkeypatch: pytest.MonkeyPatch) -> list[QThread]:
    """Fail any test that leaves a QThread running (records every QThread.start, as napari does)."""
    started: list[QThread] = []
    original = QThread.start

    def recording_start(self: QThread, *args: object) -> None:
        started.append(self)
        original(self, *args)

    monkeypatch.setattr(QThread, "start", recording_start)
    yield started
    running = [t for t in started if t.isRunning()]
    for t in running:
        t.quit()
        t.wait(5000)
    assert not running, f"{len(running)} QThread(s) left running: {[t.objectName() for t in running]}"


@pytest.fixture(autouse=True)
def no_modal_file_dialogs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file dialog a test did not answer fails the test at once instead of waiting for a click forever."""
    from explorer.gui import dialogs

    def unanswered(dialog) -> bool:
        raise AssertionError(f"a test opened the file dialog {dialog.windowTitle()!r} without answering it")

    monkeypatch.setattr(dialogs, "run_dialog", unanswered)


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads the user's settings or CIFAR-10 cache, and none can download anything."""
    monkeypatch.setenv("CNN_EXPLORER_SETTINGS", str(tmp_path_factory.mktemp("env") / "settings.ini"))
    monkeypatch.setenv("CNN_EXPLORER_CACHE", str(tmp_path_factory.mktemp("empty-cache")))


@pytest.fixture
def settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def model() -> SeedNet:
    torch.manual_seed(0)
    return SeedNet().eval()


@pytest.fixture
def images() -> ImageSet:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(40, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, len(CLASSES), size=40)
    return ImageSet("random", CLASSES, labels, pixels=pixels)


def all_predicted(window: MainWindow) -> bool:
    return bool((window.views["images"].pane.model.predicted != -1).all()) and window.controller.running is None


@pytest.fixture
def make_window(qtbot, model, settings, threads_stopped):
    """Build real windows (closed cleanly at teardown); `device` (default the CPU) and the other
    keyword arguments go to MainWindow."""
    made: list[MainWindow] = []

    def make(device: torch.device | None = None, **kwargs: object) -> MainWindow:
        kwargs.setdefault("model_name", "test model")
        device = device or torch.device("cpu")
        w = MainWindow(kwargs.pop("model", model), device, kwargs.pop("settings", settings), **kwargs)  # type: ignore[arg-type]
        made.append(w)
        w.show()
        qtbot.waitExposed(w)
        return w

    yield make
    for w in made:
        w.close()
        w.deleteLater()  # the window, its views, controller and worker go now, not at the end of the session
    made.clear()
    QApplication.processEvents()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


@pytest.fixture
def window(make_window, images, qtbot) -> MainWindow:
    """The window on the random image set, its first view and page shown and every image predicted."""
    w = make_window(images=images)
    qtbot.waitUntil(
        lambda: w.state.shown is not None and w.views["feature_across_images"].shown is not None and all_predicted(w)
    )
    return w


@pytest.fixture
def run_app_window(tmp_path, monkeypatch, qapp, model):
    """run_app(args) as the console script calls it, with exec() returning at once: (exit code, window).

    --checkpoint defaults to a saved copy of the `model` fixture; the caller closes the window.
    """
    from explorer.core.checkpoint import save_model
    from explorer.gui import app as gui_app
    from explorer.gui.main_window import MainWindow

    path = tmp_path / "model.pt"
    save_model(model, path)
    monkeypatch.setattr(type(qapp), "exec", lambda self: 0)
    opened: list = []
    real_show = MainWindow.show
    monkeypatch.setattr(MainWindow, "show", lambda self: (opened.append(self), real_show(self)))

    def launch(device: str = "cpu"):
        import argparse

        args = argparse.Namespace(data="probes", split=None, checkpoint=str(path), device=device)
        code = gui_app.run_app(args)
        return code, (opened[0] if opened else None), path

    return launch
