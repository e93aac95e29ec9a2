"""Driving the real window: images, layers and features in; the pictures out equal the core's answers."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import all_predicted
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from explorer.core.projection import activations, project
from explorer.gui.imaging import activation_grid, projection_to_rgb
from explorer.gui.main_window import MainWindow
from explorer.gui.messages import ProjectionOptions, ViewResult
from explorer.gui.views.maps.pane import COLS, PAD


def expected_projection(model, images, index, layer, feature, options=ProjectionOptions()):  # noqa: B008
    p = project(
        model, images.tensor([index]), layer, feature, method=options.method, unpool=options.unpool, keep=options.keep
    )
    return projection_to_rgb(p[0, 0].numpy())


def shows(window: MainWindow, index: int, layer: str, feature: int) -> bool:
    """The views show this choice and the page has caught up: nothing more is on its way."""
    r, page = window.state.shown, window.views["feature_across_images"].shown
    return (
        r is not None
        and (r.index, r.layer, r.feature) == (index, layer, feature)
        and page is not None
        and (page.layer, page.feature) == (layer, feature)
        and window.controller.running is None
    )


def test_choosing_an_image_fills_the_activation_grid(window, model, images, qtbot):
    window.views["images"].pane.list.setCurrentIndex(window.views["images"].pane.model.index(5))
    qtbot.waitUntil(lambda: shows(window, 5, "conv1", 0))
    maps = activations(model, images.tensor([5]), "conv1")[0].numpy()
    np.testing.assert_allclose(
        window.views["maps"].pane.grid.image_item.image, activation_grid(maps, COLS, PAD)[0], atol=1e-6
    )
    assert window.views["maps"].pane.grid.image_item.image.shape == (4 * 33 - 1, 8 * 33 - 1, 3)
    assert window.views["images"].pane.jump.value() == 5


def test_clicking_a_map_selects_its_feature(window, qtbot):
    grid = window.views["maps"].pane.grid
    # The centre of map 10 (row 1, column 2 of the 8-wide grid of 32x32 maps).
    scene = grid.image_item.mapToScene(QPointF(2 * 33 + 16, 1 * 33 + 16))
    pos = grid.mapFromScene(scene)
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos.x(), pos.y()))
    qtbot.waitUntil(lambda: shows(window, 0, "conv1", 10))
    assert window.views["layer_and_feature"].pane.feature.value() == 10


@pytest.mark.parametrize(
    "options", [ProjectionOptions(), ProjectionOptions("guided", keep="max"), ProjectionOptions(unpool="fill")]
)
def test_scrubbing_features_shows_the_core_projection(window, model, images, qtbot, options):
    window.state.select(layer="conv2")
    window.views["projection"].pane.show_options(options)
    window.views["projection"].pane.options_changed.emit(options)
    for feature in (1, 2, 3):
        window.state.select(feature=feature)
        qtbot.waitUntil(lambda f=feature: shows(window, 0, "conv2", f))
        shown = window.views["projection"].pane.views[0].image_item.image
        np.testing.assert_allclose(shown, expected_projection(model, images, 0, "conv2", feature, options), atol=1e-6)


def test_side_by_side_shows_the_three_methods(window, model, images, qtbot):
    window.state.select(layer="conv2")
    with qtbot.waitSignal(
        window.controller.result_ready, check_params_cb=lambda r: isinstance(r, ViewResult) and len(r.projections) == 3
    ):
        window.views["projection"].pane.compare.setCurrentIndex(
            window.views["projection"].pane.compare.findData("methods")
        )
    for view, method in zip(window.views["projection"].pane.views, ("deconvnet", "guided", "gradient"), strict=True):
        assert view.isVisible()
        expected = expected_projection(model, images, 0, "conv2", 0, ProjectionOptions(method))
        np.testing.assert_allclose(view.image_item.image, expected, atol=1e-6)


def test_fill_is_only_offered_to_the_deconvnet(window):
    pane = window.views["projection"].pane
    pane.unpool.setCurrentIndex(pane.unpool.findData("fill"))
    pane.method.setCurrentIndex(pane.method.findData("guided"))
    assert not pane.unpool.isEnabled()
    assert pane.options().normalised() == ProjectionOptions("guided", "switches")


def test_page_of_images_shows_each_projection(window, model, images, qtbot):
    window.state.select(feature=4)
    qtbot.waitUntil(
        lambda: (
            window.views["feature_across_images"].shown is not None
            and window.views["feature_across_images"].shown.feature == 4
        )
    )
    r = window.views["feature_across_images"].shown
    assert (r.layer, r.feature, r.page) == ("conv1", 4, tuple(range(16)))
    expected = project(model, images.tensor(list(range(16))), "conv1", 4)[:, 0].numpy()
    np.testing.assert_allclose(r.page_projections, expected, atol=1e-6)


def test_5000_scrub_requests_end_on_the_right_picture(window, model, images, qtbot):
    window.state.select(layer="conv2")
    ran: list[int] = []
    window.controller.result_ready.connect(lambda r: ran.append(r.request_id))
    for i in range(5000):
        window.views["layer_and_feature"].pane.feature.setValue(i % 64)
    final = 4999 % 64
    qtbot.waitUntil(lambda: shows(window, 0, "conv2", final), timeout=20000)
    assert len(ran) < 100  # latest wins: no backlog of thousands
    np.testing.assert_allclose(
        window.views["projection"].pane.views[0].image_item.image,
        expected_projection(model, images, 0, "conv2", final),
        atol=1e-6,
    )


def test_keyboard_scrubs_features_layers_and_images(window, qtbot):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.views["images"].pane.list.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: shows(window, 0, "conv1", 2))
    qtbot.keyClick(window, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: shows(window, 0, "conv2", 2))
    qtbot.keyClick(window, Qt.Key.Key_Up)
    qtbot.waitUntil(lambda: shows(window, 0, "conv1", 2))
    qtbot.keyClick(window.views["images"].pane.list, Qt.Key.Key_PageDown)
    qtbot.waitUntil(lambda: shows(window, 1, "conv1", 2))
    qtbot.keyClick(window, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: shows(window, 1, "conv1", 1))
    assert window.views["layer_and_feature"].pane.layer.currentData() == "conv1"


def test_wheel_over_a_view_scrubs_features(window, qtbot):
    window.views["projection"].pane.views[0].wheel_scrolled.emit(1)
    qtbot.waitUntil(lambda: shows(window, 0, "conv1", 1))


def test_the_status_bar_names_device_model_data_and_timing(window):
    texts = [
        w.text() for w in (window.status.device, window.status.model_name, window.status.data, window.status.timing)
    ]
    assert texts[:3] == ["device: cpu", "model: test model", "data: random (40 images)"]
    assert texts[3].startswith("last pass: ") and texts[3].endswith(" ms")


def test_prediction_bars_show_the_probabilities(window, model, images):
    from explorer.core.projection import predict

    probs = predict(model, images.tensor([0]))[0].numpy()
    np.testing.assert_allclose(window.views["prediction"].pane.bars.opts["width"], probs, atol=1e-6)


def test_arrow_keys_inside_a_text_field_stay_there(window, qtbot):
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    edit = window.views["images"].pane.jump.lineEdit()
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus)
    with qtbot.assertNotEmitted(window.controller.busy_changed, wait=100):
        qtbot.keyClick(edit, Qt.Key.Key_Right)
        qtbot.keyClick(edit, Qt.Key.Key_Left)
    assert window.state.feature == 0


def test_a_real_wheel_turn_over_a_view_scrubs_features(window, qtbot):
    view = window.views["maps"].pane.large
    centre = QPointF(view.viewport().rect().center())
    event = QWheelEvent(
        centre, view.viewport().mapToGlobal(centre), QPoint(0, 0), QPoint(0, -120),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(view.viewport(), event)
    qtbot.waitUntil(lambda: shows(window, 0, "conv1", 1))
    assert view.view_box.viewRange()[0] == [0, 32]  # no zoom


def test_mirroring_state_emits_no_intent(window, qtbot):
    with (
        qtbot.assertNotEmitted(window.views["layer_and_feature"].pane.feature_selected),
        qtbot.assertNotEmitted(window.views["layer_and_feature"].pane.layer_selected),
    ):
        window.state.select(layer="conv2")
        window.state.select(feature=12)
    qtbot.waitUntil(lambda: shows(window, 0, "conv2", 12))
    with qtbot.assertNotEmitted(window.controller.busy_changed, wait=100):
        window.state.select(feature=12)  # no change, no request


def test_the_page_mosaic_puts_each_image_beside_its_projection(images):
    from explorer.gui.imaging import image_to_rgb, pair_mosaic

    p = np.random.default_rng(0).normal(size=(5, 3, 32, 32)).astype(np.float32)
    picture = pair_mosaic(images.images(range(5)), p, cols=4, pad=2)
    assert picture.shape == (2 * 34 - 2, 4 * 66 - 2, 3)
    np.testing.assert_allclose(picture[34:66, 0:32], image_to_rgb(images.image(4)))
    np.testing.assert_allclose(picture[34:66, 32:64], projection_to_rgb(p[4]), atol=1e-7)
    assert (picture[:32, 64:66] == 1.0).all()  # white lines between pairs...
    assert (picture[32:, 64:] == 0.0).all()  # ...but the cells no pair fills are background, not white blocks


def test_the_browsers_predictions_wait_while_the_user_scrubs(make_window, qtbot):
    """A view never queues behind a batch of predictions: batches start only after the views have not
    been asked for PREDICT_PAUSE_MS, and all of them still arrive once scrubbing stops."""
    import time

    from explorer.core.images import ImageSet
    from explorer.core.model import CLASSES
    from explorer.gui.messages import PredictRequest, ViewRequest
    from explorer.gui.views.browser import view as predictions_wiring

    rng = np.random.default_rng(3)
    n = 4 * predictions_wiring.PREDICT_BATCH
    images = ImageSet("random", CLASSES, rng.integers(0, 10, n), pixels=rng.integers(0, 256, (n, 32, 32, 3), np.uint8))
    w = make_window(images=images)
    submitted: list[tuple[float, type]] = []
    real_submit = w.controller.submit

    def logged(request, owner):
        submitted.append((time.monotonic(), type(request)))
        return real_submit(request, owner)

    w.controller.submit = logged
    qtbot.waitUntil(lambda: w.state.shown is not None)
    for _ in range(30):  # scrubbing: a feature every 20 ms for 0.6 s
        w.state.select(feature=(w.state.feature + 1) % 32)
        qtbot.wait(20)
    scrub_end = time.monotonic()
    qtbot.waitUntil(lambda: all_predicted(w), timeout=30000)
    views = [t for t, kind in submitted if kind is ViewRequest]
    predicts = [t for t, kind in submitted if kind is PredictRequest]
    assert len(views) >= 30 and predicts
    for t in predicts:
        last_view = max((v for v in views if v <= t), default=-1e9)
        assert (t - last_view) * 1000 >= predictions_wiring.PREDICT_PAUSE_MS - 1
    # Batches were held back while scrubbing, not dropped: the rest came after it stopped.
    assert any(t >= scrub_end for t in predicts)
