"""Remembered settings, startup without CIFAR-10, opening data, and fatal load errors."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading

import numpy as np
from PIL import Image
from PySide6.QtCore import QByteArray, QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from explorer.core import datasets
from explorer.core.errors import DataUnavailable
from explorer.gui import app as gui_app
from explorer.gui import dialogs
from explorer.gui.messages import ProjectionOptions
from explorer.gui.settings import read_choices
from explorer.gui.state import Choices


def test_settings_round_trip(make_window, images, settings, qtbot):
    w = make_window(images=images)
    qtbot.waitUntil(lambda: w.state.shown is not None)
    w.state.select(layer="conv2")
    w.state.select(feature=9)
    w.state.select(image=5)
    w.views["projection"].pane.keep.setCurrentIndex(w.views["projection"].pane.keep.findData("max"))
    w.docks["prediction"].hide()
    w.resize(w.minimumSizeHint().width(), 480)  # the offscreen screen is 800x600
    height = w.height()  # 480, or the layout's minimum where fonts make that taller
    assert height < 560  # well below the default (the screen's 600), so a restore is seen
    w.close()
    state = read_choices(settings)
    assert state == Choices("cifar10", "test", "conv2", 9, 5, ProjectionOptions(keep="max"))
    again = make_window(images=images)
    qtbot.waitUntil(lambda: again.state.shown is not None)
    assert (again.state.shown.layer, again.state.shown.feature, again.state.shown.index) == ("conv2", 9, 5)
    assert (
        again.views["layer_and_feature"].pane.feature.value() == 9
        and again.views["projection"].pane.keep.currentData() == "max"
    )
    assert not again.docks["prediction"].isVisible() and again.height() == height


def test_garbage_settings_give_defaults(make_window, images, settings, qtbot):
    for key, value in {"data/split": "sideways", "view/layer": "conv9", "view/feature": "many", "view/image": -4,
                       "projection/method": "magic", "projection/unpool": 7, "projection/keep": "",
                       "window/geometry": "not bytes", "window/state": QByteArray(b"\x00junk")}.items():  # fmt: skip
        settings.setValue(key, value)
    settings.sync()
    seednet = {"conv1": 32, "conv2": 64}  # the open model's layers
    assert read_choices(settings, seednet) == Choices()
    settings.setValue("view/feature", 40)  # conv1 has 32 features
    assert read_choices(settings, seednet).feature == 0
    w = make_window(images=images)
    qtbot.waitUntil(lambda: w.state.shown is not None)
    assert (w.state.shown.layer, w.state.shown.feature) == ("conv1", 0)


def test_fill_with_another_method_in_settings_is_kept_but_computed_with_switches(settings):
    settings.setValue("projection/method", "gradient")
    settings.setValue("projection/unpool", "fill")
    assert read_choices(settings).options == ProjectionOptions("gradient", "fill")
    assert read_choices(settings).options.normalised() == ProjectionOptions("gradient", "switches")


def test_without_cifar10_it_opens_the_probe_patterns_and_says_how_to_get_it(make_window, qtbot):
    w = make_window()  # source: the remembered one, by default cifar10, which is not in the empty cache
    qtbot.waitUntil(lambda: w.state.shown is not None and w.state.images is not None)
    assert w.state.source == "probes" and w.state.images.name == w.status.data.text().split("data: ")[1].split(" (")[0]
    assert w.sources.notice.isVisible() and "CIFAR-10" in w.sources.notice.text.text()
    assert w.menu_actions["download_cifar10"].isEnabled()


def test_a_failed_download_reports_and_keeps_the_probes(make_window, qtbot, monkeypatch):
    def offline(source, split="test", *, download=False):
        if source == "cifar10":
            assert download
            raise DataUnavailable("CIFAR-10 download failed (network unreachable)")
        return real_open(source, split, download=download)

    real_open = datasets.open_dataset
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: None)  # the dialog that explains it
    w = make_window(source="probes")
    qtbot.waitUntil(lambda: w.state.shown is not None)
    monkeypatch.setattr(datasets, "open_dataset", offline)  # what the load job opens sources with
    with qtbot.waitSignal(w.controller.failed):
        w.sources.notice.download.click()
    assert "network unreachable" in w.statusBar().currentMessage()
    assert w.state.source == "probes"


def _write_pngs(folder, n: int) -> list[str]:
    folder.mkdir()
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_open_folder_from_the_menu(make_window, images, qtbot, tmp_path, monkeypatch, settings):
    _write_pngs(tmp_path / "pics", 5)
    monkeypatch.setattr(dialogs, "get_existing_directory", lambda *a, **k: str(tmp_path / "pics"))
    w = make_window(images=images)
    w.menu_actions["open_folder"].trigger()
    qtbot.waitUntil(
        lambda: (
            w.state.images is not None
            and len(w.state.images) == 5
            and w.state.shown is not None
            and w.views["feature_across_images"].shown is not None
            and w.views["feature_across_images"].shown.page_images.shape[0] == 5
        )
    )
    w.close()
    assert read_choices(settings).source == str(tmp_path / "pics")


def test_drop_files_on_the_window(make_window, images, qtbot, tmp_path):
    paths = _write_pngs(tmp_path / "dropped", 3)
    w = make_window(images=images)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    event = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    w.dropEvent(event)
    qtbot.waitUntil(lambda: w.state.images is not None and len(w.state.images) == 3)


def test_a_checkpoint_that_fails_to_load_is_fatal(tmp_path, monkeypatch, qapp):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    shown = []
    monkeypatch.setattr(QMessageBox, "critical", lambda *a, **k: shown.append(a[2]))
    args = argparse.Namespace(data=None, split=None, checkpoint=str(bad), device="cpu")
    assert gui_app.run_app(args) == 2
    assert "bad.pt" in shown[0]


def test_run_app_opens_the_window_and_exits(run_app_window, threads_stopped):
    code, window, _ = run_app_window()
    assert code == 0
    assert window.status.model_name.text() == "model: SeedNet (model.pt)"
    window.close()


def _startup_windows() -> list[gui_app.StartupWindow]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, gui_app.StartupWindow) and w.isVisible()]


def test_a_busy_start_up_window_shows_while_the_model_loads(run_app_window, monkeypatch, threads_stopped):
    import explorer.core.loading as loading

    release = threading.Event()
    real_load = loading.load_model

    def slow_load(*args, **kwargs):
        assert release.wait(30), "the start-up window was never seen"
        return real_load(*args, **kwargs)

    monkeypatch.setattr(loading, "load_model", slow_load)
    seen: list[tuple[str, int, int]] = []

    def look() -> None:
        shown = _startup_windows()
        if shown and "loading the model" in shown[0].step.text():  # the loader has reached load_model
            bar = shown[0].busy
            seen.append((shown[0].step.text(), bar.minimum(), bar.maximum()))
            release.set()
        else:
            QTimer.singleShot(10, look)

    QTimer.singleShot(0, look)
    code, window, _ = run_app_window()
    try:
        assert code == 0 and window is not None
        assert seen and seen[0][1:] == (0, 0), seen  # a busy bar, with no pretended end
        assert not _startup_windows()  # gone once the main window is up
    finally:
        window.close()


def test_quitting_the_start_up_window_ends_without_opening_the_main_window(
    run_app_window, monkeypatch, threads_stopped
):
    import explorer.core.loading as loading

    release = threading.Event()
    real_load = loading.load_model
    monkeypatch.setattr(loading, "load_model", lambda *a, **k: (release.wait(30), real_load(*a, **k))[1])
    exits: list[int] = []
    monkeypatch.setattr(gui_app, "_exit_now", lambda code: exits.append(code) or code)

    def quit_when_shown() -> None:
        shown = _startup_windows()
        if shown:
            shown[0].close()  # as the Quit button or the title bar's close does
        else:
            QTimer.singleShot(10, quit_when_shown)

    QTimer.singleShot(0, quit_when_shown)
    code, window, _ = run_app_window()
    release.set()  # let the abandoned loader end
    assert (code, window, exits) == (0, None, [0])


def test_the_window_can_paint_before_torch_is_imported():
    # What lets the start-up window appear at once: the entry points import no torch until it is needed.
    check = "import sys, explorer.cli, explorer.gui.app; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"


def test_opening_a_bundled_model_imports_no_torchvision():
    # torchvision's import pulls in torch._dynamo (about 2 s here): the window's start-up path, from the
    # model's load to its first projection and the main window's modules, must do without it.
    check = (
        "import sys, torch\n"
        "from explorer.gui.app import load_for_window\n"
        "from explorer.core.projection import project\n"
        "import argparse\n"
        "args = argparse.Namespace(model='zfnet-cifar', checkpoint=None, device='cpu')\n"
        "loaded = load_for_window(args, lambda text: None)\n"
        "project(loaded.model, torch.rand(1, 3, 32, 32), 'conv2', [0])\n"
        "print(sorted(k for k in sys.modules if k == 'torchvision' or k == 'torch._dynamo'))"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
