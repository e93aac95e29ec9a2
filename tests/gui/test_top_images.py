"""The Top images pane: a scan started from the window, its patches equal to the core's, cancel, cache, clicks."""

from __future__ import annotations

import threading

import numpy as np
from conftest import all_predicted
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from scan_pacing import pace_scans, until_stopped

from explorer.analyses.colours import projection_rgb8
from explorer.analyses.topk import crop_field
from explorer.core.datasets import cache_dir, files_dataset
from explorer.core.projection import project
from explorer.core.receptive import field_size
from explorer.core.scan import scan_top_k
from explorer.gui.controller import Controller
from explorer.gui.imaging import PAD, best_cols, enlarge
from explorer.gui.main_window import MainWindow
from explorer.gui.messages import Progress, ViewResult
from explorer.gui.panes.pixel_view import PixelView
from explorer.gui.scan_job import ScanFinished, ScanStopped
from explorer.gui.views.top_images.pane import zoom_for

K = 9


def in_field(picture: np.ndarray, box: np.ndarray, side: int) -> np.ndarray:
    """The topk figure's tile (export's crop of a uint8 picture) on the [0, 1] scale the pane uses."""
    return crop_field(picture, box, side).astype(np.float32) / 255.0


def expected_pairs(model, images, layer, feature, k=K):
    """(indices, patches, projections) of `feature` worked out from the core alone."""
    top = scan_top_k(model, images, ["conv1", "conv2"], k)[layer]
    side = field_size(model, layer)
    indices = top.indices[feature]
    p = project(model, images.tensor(indices), layer, feature, method="deconvnet", keep="max")[:, 0].numpy()
    patches = [in_field(images.image(i), b, side) for i, b in zip(indices, top.boxes[feature], strict=True)]
    projections = [in_field(projection_rgb8(q), b, side) for q, b in zip(p, top.boxes[feature], strict=True)]
    return tuple(int(i) for i in indices), np.stack(patches), np.stack(projections)


def shows_patches(window: MainWindow, layer: str, feature: int) -> bool:
    r = window.views["top_images"].shown
    return r is not None and (r.layer, r.feature) == (layer, feature) and window.controller.running is None


def scanned_files() -> list:
    folder = cache_dir() / "scans"
    return sorted(folder.iterdir()) if folder.exists() else []


def run_scan(window: MainWindow, qtbot, batch_size: int = 8) -> ScanFinished:
    window.views["top_images"].batch_size = batch_size
    with qtbot.waitSignal(
        window.controller.scan_ended, check_params_cb=lambda r: isinstance(r, ScanFinished)
    ) as blocker:
        qtbot.mouseClick(window.views["top_images"].pane.find, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def click_picture(qtbot, view: PixelView, x: float, y: float) -> None:
    scene = view.image_item.mapToScene(QPointF(x, y))
    pos = view.mapFromScene(scene)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos.x(), pos.y()))


def test_a_scan_from_the_window_reports_progress_and_shows_the_cores_top_patches(
    window, model, images, qtbot, monkeypatch
):
    view = window.views["top_images"]
    assert view.pane.k.value() == K
    progress: list[tuple[int, int]] = []  # what the view was told
    bar: list[tuple[int, int]] = []  # what its progress bar showed then
    real_on_progress = view.on_progress

    def recording(p: object) -> None:
        real_on_progress(p)
        if isinstance(p, Progress):
            progress.append((p.done, p.total))
            bar.append((view.pane.progress.value(), view.pane.progress.maximum()))

    monkeypatch.setattr(view, "on_progress", recording)
    result = run_scan(window, qtbot, batch_size=8)
    assert not result.from_cache and set(result.results) == {"conv1", "conv2"}
    assert [d for d, _ in progress] == [8, 16, 24, 32, 40] and {t for _, t in progress} == {len(images)}
    assert bar == progress  # the pane showed each step as it came
    assert window.statusBar().currentMessage().startswith(f"scan: {len(images)} images in ")
    assert len(scanned_files()) == 1

    qtbot.waitUntil(lambda: shows_patches(window, "conv1", 0))
    shown = window.views["top_images"].shown
    indices, patches, projections = expected_pairs(model, images, "conv1", 0)
    assert shown.indices == indices == window.views["top_images"].pane.indices
    np.testing.assert_allclose(window.views["top_images"].pane.patches, patches, atol=1e-6)
    np.testing.assert_allclose(window.views["top_images"].pane.projections, projections, atol=1e-6)
    # The picture on screen starts with the first patch, enlarged by whole pixels.
    side = patches.shape[1] * zoom_for(patches.shape[1])
    picture = window.views["top_images"].pane.feature_view.image_item.image
    np.testing.assert_allclose(picture[PAD : PAD + side, PAD : PAD + side], enlarge(patches[0], zoom_for(5)), atol=1e-6)
    for view in (
        window.views["top_images"].pane.feature_view,
        window.views["top_images"].pane.overview,
    ):  # drawn, not only held
        shot = view.grab().toImage()
        assert shot.pixelColor(shot.width() // 2, shot.height() // 2).name() != "#000000"


def test_scrubbing_features_updates_the_patches(window, model, images, qtbot):
    run_scan(window, qtbot)
    window.state.select(layer="conv2")
    for feature in (3, 4):
        window.state.select(feature=feature)
        qtbot.waitUntil(lambda f=feature: shows_patches(window, "conv2", f))
        indices, patches, projections = expected_pairs(model, images, "conv2", feature)
        assert window.views["top_images"].pane.indices == indices
        np.testing.assert_allclose(window.views["top_images"].pane.patches, patches, atol=1e-6)
        np.testing.assert_allclose(window.views["top_images"].pane.projections, projections, atol=1e-5)


def test_cancel_stops_the_scan_promptly_and_caches_nothing(window, qtbot, monkeypatch):
    batches = pace_scans(monkeypatch, lambda done, should_stop: done >= 2 and until_stopped(should_stop))
    window.views["top_images"].batch_size = 1
    qtbot.mouseClick(window.views["top_images"].pane.find, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(batches) >= 2)
    assert window.views["top_images"].pane.cancel.isVisible()
    with qtbot.waitSignal(window.controller.scan_ended, check_params_cb=lambda r: isinstance(r, ScanStopped)):
        qtbot.mouseClick(window.views["top_images"].pane.cancel, Qt.MouseButton.LeftButton)
    assert len(batches) == 2  # of 40
    assert window.statusBar().currentMessage() == "scan cancelled"
    assert scanned_files() == []
    assert window.views["top_images"].pane.find.isEnabled() and not window.views["top_images"].pane.cancel.isVisible()
    with qtbot.waitSignal(
        window.controller.result_ready, check_params_cb=lambda r: isinstance(r, ViewResult) and r.feature == 7
    ):
        window.state.select(feature=7)


def test_views_keep_coming_while_a_scan_is_blocked(make_window, images, qtbot, tmp_path, monkeypatch):
    # Files decoded on demand, so a view needs the image set's decode lock, which the scan uses too.
    paths = []
    for i, picture in enumerate(images.images(slice(None))):
        paths.append(str(tmp_path / f"{i:02d}.png"))
        Image.fromarray(picture).save(paths[-1])
    on_disk = files_dataset(paths, images.labels, images.classes, name="files")
    assert on_disk.paths is not None
    window = make_window(images=on_disk)
    qtbot.waitUntil(
        lambda: (
            window.state.shown is not None
            and window.views["feature_across_images"].shown is not None
            and all_predicted(window)
        )
    )
    gate = threading.Event()
    batches = pace_scans(monkeypatch, lambda _done, _stop: gate.wait(60))  # blocked for longer than any wait below
    window.views["top_images"].batch_size = 4
    try:
        qtbot.mouseClick(window.views["top_images"].pane.find, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: len(batches) >= 1)
        with qtbot.waitSignal(
            window.controller.result_ready,
            check_params_cb=lambda r: isinstance(r, ViewResult) and (r.index, r.feature) == (1, 9),
        ):
            window.state.select(feature=9)
            window.state.select(image=1)
        assert window.controller.scanning is not None and len(batches) == 1
        with qtbot.waitSignal(window.controller.scan_ended, check_params_cb=lambda r: isinstance(r, ScanFinished)):
            gate.set()
    finally:
        gate.set()
    qtbot.waitUntil(lambda: shows_patches(window, "conv1", 9))


def test_a_second_scan_and_a_new_window_load_from_the_cache(window, make_window, images, qtbot):
    assert not run_scan(window, qtbot).from_cache
    again = run_scan(window, qtbot)
    assert again.from_cache
    assert window.statusBar().currentMessage() == f"scan: {len(images)} images, loaded from the cache"
    other = make_window(images=images)
    qtbot.waitUntil(lambda: other.views["top_images"].scan is not None)
    assert other.views["top_images"].scan.from_cache
    qtbot.waitUntil(lambda: shows_patches(other, other.state.layer, other.state.feature))


def test_the_look_up_of_an_earlier_scan_waits_for_the_first_view_and_copies_no_model(
    window, make_window, images, qtbot, monkeypatch
):
    """The look-up stats every file and hashes the weights: it must not compete with the first picture."""
    run_scan(window, qtbot)
    asked: list[tuple[object, bool]] = []  # each scan asked for: (its owner, whether a view was on screen then)
    real = Controller.start_scan

    def recording_start_scan(controller, request, owner):
        asked.append((owner, owner.state.shown is not None))
        real(controller, request, owner)

    monkeypatch.setattr(Controller, "start_scan", recording_start_scan)  # from the new window's first moment
    other = make_window(images=images)
    qtbot.waitUntil(lambda: other.views["top_images"].scan is not None)
    assert other.views["top_images"].scan.from_cache
    assert [shown for owner, shown in asked if owner is other.views["top_images"]] == [True]
    assert not other.controller.scan_job._copies  # nothing was scanned: the open model served the look-up


def cell_point(cell: tuple[int, int], cols: int, index: int) -> tuple[float, float]:
    """A point inside cell `index` of a framed grid of `cols` columns."""
    r, c = divmod(index, cols)
    return PAD + c * (cell[1] + PAD) + 2, PAD + r * (cell[0] + PAD) + 2


def test_clicking_a_top_image_opens_it_and_a_feature_in_the_overview_selects_it(window, qtbot):
    run_scan(window, qtbot)
    qtbot.waitUntil(lambda: shows_patches(window, "conv1", 0))
    pane = window.views["top_images"].pane
    target = pane.indices[1]
    assert target != window.state.image
    pair = (5 * zoom_for(5), 2 * 5 * zoom_for(5) + 1)
    click_picture(qtbot, pane.feature_view, *cell_point(pair, pane.pair_cols, 1))
    qtbot.waitUntil(lambda: window.state.image == target and window.state.shown.index == target)
    assert window.views["images"].pane.jump.value() == target
    cell = (5 * zoom_for(5), 3 * 5 * zoom_for(5) + 2)
    click_picture(qtbot, pane.overview, *cell_point(cell, pane.overview_cols, 2))
    qtbot.waitUntil(lambda: shows_patches(window, "conv1", 2))
    assert window.views["layer_and_feature"].pane.feature.value() == 2


def test_closing_during_a_scan_stops_it_and_caches_nothing(make_window, images, qtbot, threads_stopped, monkeypatch):
    w = make_window(images=images)
    batches = pace_scans(monkeypatch, lambda _done, should_stop: until_stopped(should_stop))
    w.views["top_images"].batch_size = 1
    w.menu_actions["find_top_images"].trigger()
    qtbot.waitUntil(lambda: len(batches) >= 1)
    w.close()
    assert not any(t.isRunning() for t in threads_stopped)
    assert len(batches) < len(images)
    assert scanned_files() == []


def test_the_grids_reflow_to_fill_their_view():
    assert best_cols(9, (28, 57), (100, 480), 3) == 5  # a wide, short view: two rows of pairs
    assert best_cols(9, (28, 57), (400, 130), 3) == 1  # a tall, narrow one: one column
    assert best_cols(64, (28, 86), (0, 0), 8) == 8  # no size yet: the fallback
