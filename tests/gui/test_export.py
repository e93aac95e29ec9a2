"""Export figure… from every view: the same bytes as `cnn-explorer export` for the same state, and clean failures."""

from __future__ import annotations

import os
import tempfile
import threading

import numpy as np
import pytest
from conftest import all_predicted
from PIL import Image
from PySide6.QtWidgets import QMessageBox

from explorer.analyses import topk
from explorer.analyses.grids import ProjectionsRequest
from explorer.analyses.topk import TopKRequest
from explorer.cli import main as cli_main
from explorer.core.checkpoint import save_model
from explorer.core.errors import ExplorerError
from explorer.gui import dialogs, image_choice
from explorer.gui.export_requests import figure_request, topk_features
from explorer.gui.main_window import MainWindow
from explorer.gui.messages import ExportDone, ExportRequest, ProjectionOptions, ViewResult
from explorer.gui.scan_job import ScanFinished
from explorer.gui.state import Choices

CLASSES = ("cat", "ship")
PER_CLASS = 8


@pytest.fixture
def data_dir(tmp_path):
    """DIR/test/<class>/ with 8 PNGs of each of 2 classes (and an empty train/ beside it)."""
    root = tmp_path / "data"
    rng = np.random.default_rng(3)
    for name in CLASSES:
        folder = root / "test" / name
        folder.mkdir(parents=True)
        for i in range(PER_CLASS):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    (root / "train").mkdir()
    return root


@pytest.fixture
def checkpoint(tmp_path, model):
    path = tmp_path / "fixture-seednet.pt"
    save_model(model, path)
    return path


@pytest.fixture
def out_dir(tmp_path):
    folder = tmp_path / "figures"
    folder.mkdir()
    return folder


@pytest.fixture
def data_window(make_window, data_dir, checkpoint, qtbot) -> MainWindow:
    """The window on the PNG folder, opened as the command line opens it, with the checkpoint's model."""
    w = make_window(checkpoint=str(checkpoint), source="probes")
    w.sources.open_source(str(data_dir), "test")
    qtbot.waitUntil(
        lambda: w.state.images is not None and len(w.state.images) == 2 * PER_CLASS and w.state.shown is not None
    )
    qtbot.waitUntil(
        lambda: (
            all_predicted(w)
            and w.views["feature_across_images"].shown is not None
            and len(w.views["feature_across_images"].shown.page) == 2 * PER_CLASS
        )
    )
    return w


def choose_save_path(monkeypatch, path) -> list[tuple]:
    asked: list[tuple] = []

    def fake(*args, **kwargs):
        asked.append(args)
        return str(path), ""

    monkeypatch.setattr(dialogs, "get_save_file_name", fake)
    return asked


def export_through(window: MainWindow, qtbot, trigger) -> ExportDone:
    with qtbot.waitSignal(
        window.controller.result_ready, check_params_cb=lambda r: isinstance(r, ExportDone), timeout=120000
    ) as blocker:
        trigger()
    return blocker.args[0]


def cli_bytes(out_dir, data_dir, checkpoint, kind: str, ext: str, *args: str) -> bytes:
    out = out_dir / f"cli-{kind}.{ext}"
    common = ["--checkpoint", str(checkpoint), "--data", str(data_dir), "--split", "test", "--device", "cpu"]
    assert cli_main(["export", kind, *args, *common, "--out", str(out)]) == 0
    return out.read_bytes()


def settle(window: MainWindow, qtbot, image: int, layer: str, feature: int) -> None:
    window.state.select(image=image)
    window.state.select(layer=layer)
    window.state.select(feature=feature)
    qtbot.waitUntil(
        lambda: (
            window.state.shown is not None
            and (window.state.shown.index, window.state.shown.layer, window.state.shown.feature)
            == (image, layer, feature)
        )
    )


def test_maps_from_the_activations_pane(data_window, qtbot, monkeypatch, out_dir, data_dir, checkpoint):
    settle(data_window, qtbot, 3, "conv2", 5)
    path = out_dir / "window-maps.png"
    choose_save_path(monkeypatch, path)
    done = export_through(data_window, qtbot, data_window.views["maps"].pane.export.click)
    assert done.path == str(path) and done.kind == "maps"
    assert data_window.statusBar().currentMessage() == f"Exported {path}"
    expected = cli_bytes(out_dir, data_dir, checkpoint, "maps", "png", "--layer", "conv2", "--image", "3")
    assert path.read_bytes() == expected


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_projections_from_the_projection_pane(data_window, qtbot, monkeypatch, out_dir, data_dir, checkpoint, ext):
    settle(data_window, qtbot, 9, "conv2", 2)
    options = ProjectionOptions("guided", keep="max")
    data_window.views["projection"].pane.show_options(options)
    data_window.views["projection"].pane.options_changed.emit(options)
    path = out_dir / f"window-projections.{ext}"
    choose_save_path(monkeypatch, path)
    export_through(data_window, qtbot, data_window.views["projection"].pane.export.click)
    args = ("--layer", "conv2", "--image", "9", "--method", "guided", "--unpool", "switches", "--keep", "max")
    assert path.read_bytes() == cli_bytes(out_dir, data_dir, checkpoint, "projections", ext, *args)


def test_feature_across_images_from_the_file_menu(data_window, qtbot, monkeypatch, out_dir, data_dir, checkpoint):
    settle(data_window, qtbot, 0, "conv1", 7)
    data_window.views["projection"].pane.unpool.setCurrentIndex(
        data_window.views["projection"].pane.unpool.findData("fill")
    )
    path = out_dir / "window-feature.png"
    choose_save_path(monkeypatch, path)
    monkeypatch.setattr(image_choice, "ask_images", lambda _w, page, _rows, _n: page)
    export_through(data_window, qtbot, data_window.menu_actions["export_feature"].trigger)
    args = ("--layer", "conv1", "--feature", "7", "--images", "0:16", "--unpool", "fill")
    assert path.read_bytes() == cli_bytes(out_dir, data_dir, checkpoint, "feature", "png", *args)


def test_top_images_from_the_pane_use_the_windows_scan(data_window, qtbot, monkeypatch, out_dir, data_dir, checkpoint):
    settle(data_window, qtbot, 0, "conv2", 50)
    data_window.views["top_images"].pane.k.setValue(3)
    data_window.views["top_images"].batch_size = 8
    with qtbot.waitSignal(data_window.controller.scan_ended, check_params_cb=lambda r: isinstance(r, ScanFinished)):
        data_window.views["top_images"].start_scan()
    path = out_dir / "window-topk.png"
    choose_save_path(monkeypatch, path)
    drawn, rescanned = [], []
    real_grid = TopKRequest.grid
    monkeypatch.setattr(TopKRequest, "grid", lambda self, *a: drawn.append(self.top_k) or real_grid(self, *a))
    monkeypatch.setattr(topk, "scan_top_k", lambda *a, **k: rescanned.append(a) or real_scan(*a, **k))
    export_through(data_window, qtbot, data_window.views["top_images"].pane.export.click)
    assert drawn[0] is data_window.views["top_images"].scan.results["conv2"] and rescanned == []  # no second scan
    args = ("--layer", "conv2", "--features", "48:64", "-k", "3")
    assert path.read_bytes() == cli_bytes(out_dir, data_dir, checkpoint, "topk", "png", *args)


real_scan = topk.scan_top_k


def test_top_images_without_a_scan_say_so_and_ask_nothing(data_window, monkeypatch):
    asked = choose_save_path(monkeypatch, "never.png")
    data_window.menu_actions["export_topk"].trigger()
    assert asked == []
    assert "Find top images" in data_window.statusBar().currentMessage()


def test_the_file_menu_lists_every_view_and_remembers_folder_and_format(
    data_window, qtbot, monkeypatch, out_dir, settings
):
    menu = next(a.menu() for a in data_window.menuBar().actions() if a.text() == "&File")
    export_menu = next(a.menu() for a in menu.actions() if a.menu() is not None)
    assert [a.text() for a in export_menu.actions()] == [
        "&Activation maps…", "&Projections…", "&Feature across images…", "&Top images…", "Backpropagation…",
        "Synthesized images…", "Attribution…", "Sanity checks…", "Occlusion…", "Feature evolution…", "Invariance…",
    ]  # fmt: skip
    asked = choose_save_path(monkeypatch, out_dir / "first.svg")
    export_through(data_window, qtbot, data_window.menu_actions["export_maps"].trigger)
    export_through(data_window, qtbot, data_window.menu_actions["export_projections"].trigger)
    start, chosen = asked[1][2], asked[1][4]
    assert start.startswith(str(out_dir)) and start.endswith(".svg") and chosen.startswith("SVG")


def test_a_failed_write_warns_names_the_path_and_the_views_go_on(data_window, qtbot, monkeypatch, out_dir):
    path = out_dir / "denied.png"
    choose_save_path(monkeypatch, path)
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warnings.append(a[2]))

    def refuse(*_a, **_k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    data_window.views["maps"].pane.export.click()  # the folder is found unwritable before the figure is computed
    assert str(path) in data_window.statusBar().currentMessage()
    assert len(warnings) == 1 and str(path) in warnings[0] and "Permission denied" in warnings[0]
    assert not path.exists() and list(out_dir.iterdir()) == []
    with qtbot.waitSignal(
        data_window.controller.result_ready, check_params_cb=lambda r: isinstance(r, ViewResult) and r.feature == 6
    ):
        data_window.state.select(feature=6)


def test_a_bad_extension_is_refused_before_any_work(data_window, monkeypatch, out_dir, qtbot):
    choose_save_path(monkeypatch, out_dir / "figure.jpg")
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warnings.append(a[2]))
    submitted = []
    real_submit = data_window.controller.submit
    monkeypatch.setattr(
        data_window.controller, "submit", lambda job, owner: (submitted.append(job), real_submit(job, owner))
    )
    data_window.views["maps"].pane.export.click()
    assert not any(isinstance(r, ExportRequest) for r in submitted)
    assert "figure.jpg" in warnings[0] and "unknown figure format" in data_window.statusBar().currentMessage()


@pytest.mark.parametrize("target", ["checkpoint", "image", "read_only", "fifo"])
def test_an_export_onto_an_input_or_a_special_file_is_refused_before_any_work(
    target, data_window, monkeypatch, out_dir, data_dir, checkpoint
):
    if target == "checkpoint":
        path = out_dir / "model.png"
        os.link(checkpoint, path)  # the checkpoint under a figure's name
    elif target == "image":
        path = data_dir / "test" / "cat" / "00.png"
    elif target == "read_only":
        path = out_dir / "kept.png"
        path.write_bytes(b"kept")
        path.chmod(0o444)
    else:
        path = out_dir / "pipe.png"
        os.mkfifo(path)
    before = os.lstat(path)
    content = path.read_bytes() if target != "fifo" else b""
    choose_save_path(monkeypatch, path)
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warnings.append(a[2]))
    submitted = []
    real_submit = data_window.controller.submit
    monkeypatch.setattr(
        data_window.controller, "submit", lambda job, owner: (submitted.append(job), real_submit(job, owner))
    )
    data_window.views["maps"].pane.export.click()
    assert not any(isinstance(r, ExportRequest) for r in submitted)
    word = {"checkpoint": "checkpoint", "image": "image", "read_only": "read-only", "fifo": "FIFO"}[target]
    assert str(path) in warnings[0] and word in warnings[0]
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    if target != "fifo":
        assert path.read_bytes() == content


def test_closing_during_an_export_stops_cleanly_and_leaves_no_file(
    data_window, qtbot, monkeypatch, out_dir, threads_stopped
):
    path = out_dir / "interrupted.pdf"
    choose_save_path(monkeypatch, path)
    started = threading.Event()

    real_compute = ProjectionsRequest.compute

    def slow_compute(self, *args, **kwargs):
        started.set()
        data_window.controller.worker.closing.wait(10)  # as if computing until the window closes
        return real_compute(self, *args, **kwargs)

    monkeypatch.setattr(ProjectionsRequest, "compute", slow_compute)
    data_window.views["projection"].pane.export.click()
    qtbot.waitUntil(started.is_set)
    data_window.close()
    assert not any(t.isRunning() for t in threads_stopped)
    assert list(out_dir.iterdir()) == []  # neither the figure nor a temporary file


def test_the_state_maps_to_the_command_lines_request():
    state = Choices(layer="conv2", feature=60, image=4, options=ProjectionOptions("gradient", "fill", "max"))
    assert figure_request("maps", state).image == 4
    p = figure_request("projections", state)
    assert (p.kind, p.layer, p.image, p.features, p.method, p.unpool, p.keep) == (
        "projections", "conv2", 4, None, "gradient", "switches", "max",
    )  # fmt: skip
    f = figure_request("feature", state, page=(4, 5, 9))
    assert (f.feature, f.images, f.method) == (60, (4, 5, 9), "gradient")
    t = figure_request("topk", state, k=5, channels=64)
    assert (t.features, t.k, t.method, t.unpool) == (tuple(range(48, 64)), 5, "deconvnet", "switches")
    assert topk_features(32, 3) == tuple(range(3, 19)) and topk_features(32, 31) == tuple(range(16, 32))


def test_feature_across_images_exports_the_chosen_set(data_window, qtbot, monkeypatch, out_dir, data_dir, checkpoint):
    """A range (or the browser's whole filter), not only the page: the same bytes as the command line's --images."""
    settle(data_window, qtbot, 0, "conv1", 3)
    dialog = image_choice.QInputDialog
    monkeypatch.setattr(dialog, "getItem", lambda *a, **k: (a[3][2], True))  # "a range of images…"
    monkeypatch.setattr(dialog, "getText", lambda *a, **k: ("1:16:3", True))
    path = out_dir / "window-range.png"
    choose_save_path(monkeypatch, path)
    done = export_through(data_window, qtbot, data_window.menu_actions["export_feature"].trigger)
    assert done.path == str(path)
    args = ("--layer", "conv1", "--feature", "3", "--images", "1:16:3")
    assert path.read_bytes() == cli_bytes(out_dir, data_dir, checkpoint, "feature", "png", *args)
    page, shown = (0, 1), (0, 1, 2)
    assert image_choice.chosen_images(image_choice.FILTER, page, shown, 16) == shown
    with pytest.raises(ExplorerError, match="at most"):
        image_choice.chosen_images(image_choice.RANGE, page, shown, 5000, "0:5000")
