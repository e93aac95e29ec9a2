"""The Input image pane: the current image large, with the feature's receptive field or an occlusion map over it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.core.receptive import receptive_box


def conv_maps(model, images, index: int, layer: str) -> np.ndarray:
    """The layer's post-ReLU maps [C, h, w] for one image, by SeedNet's modules one after the other."""
    x = images.tensor([index])
    with torch.no_grad():
        a = model.relu1(model.conv1(x))
        if layer == "conv2":
            a = model.relu2(model.conv2(model.pool1(a)))
    return a[0].numpy()


def expected_box(model, images, index: int, layer: str, feature: int) -> tuple[int, int, int, int]:
    """The receptive field of the feature's strongest position, worked out apart from the window."""
    amap = conv_maps(model, images, index, layer)[feature]
    row, col = np.unravel_index(int(np.argmax(amap)), amap.shape)
    return receptive_box(model, layer, int(row), int(col), 32)


def clear_features(model, images, index: int, layer: str, count: int) -> list[int]:
    """Features that respond to the image with one clear strongest position (no near-tie a float could flip)."""
    maps = conv_maps(model, images, index, layer)
    found = []
    for f, amap in enumerate(maps):
        top2 = np.sort(amap.ravel())[-2:]
        if top2[1] > 0 and top2[1] - top2[0] > 1e-3:
            found.append(f)
    assert len(found) >= count
    return found[:count]


def show(window, qtbot, *, layer: str | None = None, feature: int | None = None, image: int | None = None) -> None:
    if layer is not None:
        window.state.select(layer=layer)
    if feature is not None:
        window.state.select(feature=feature)
    if image is not None:
        window.state.select(image=image)
    s = window.state
    qtbot.waitUntil(lambda: window.state.shown is not None and (window.state.shown.index, window.state.shown.layer, window.state.shown.feature)
                    == (s.image, s.layer, s.feature))  # fmt: skip


def test_the_pane_shows_the_current_image(window, qtbot, images):
    pane = window.views["input_image"].pane
    show(window, qtbot, image=5)
    assert pane.view.title_text() == "image #5"
    np.testing.assert_allclose(pane.view.image_item.image, images.images([5])[0] / 255.0, atol=1e-6)
    assert window.views["input_image"].pane is pane and pane.overlay_key() == "field"


def test_the_box_is_the_cores_receptive_field_of_the_strongest_position_and_follows_the_choices(
    window, qtbot, model, images
):
    pane = window.views["input_image"].pane
    first, second = clear_features(model, images, 4, "conv2", 2)
    show(window, qtbot, layer="conv2", feature=first, image=4)
    box = expected_box(model, images, 4, "conv2", first)
    assert pane.box_shown() == box
    top, left, bottom, right = box
    assert f"rows {top}–{bottom - 1}, cols {left}–{right - 1}" in pane.caption.text()

    window.state.select(feature=second)  # until the new view arrives, no box: the old one would be stale
    assert pane.box_shown() is None and "Waiting for conv2 feature" in pane.caption.text()
    qtbot.waitUntil(lambda: pane.box_shown() == expected_box(model, images, 4, "conv2", second))

    (other,) = clear_features(model, images, 9, "conv2", 1)
    window.state.select(feature=other)
    window.state.select(image=9)
    assert pane.box_shown() is None
    qtbot.waitUntil(lambda: pane.box_shown() == expected_box(model, images, 9, "conv2", other))
    assert pane.view.title_text() == "image #9"

    (low,) = clear_features(model, images, 9, "conv1", 1)
    show(window, qtbot, layer="conv1", feature=low)
    assert pane.box_shown() == expected_box(model, images, 9, "conv1", low)


def test_a_feature_silent_on_the_image_gets_no_box(window, qtbot, model, images):
    maps = conv_maps(model, images, 2, "conv2")
    silent = [f for f in range(len(maps)) if maps[f].max() <= 0]
    if not silent:
        pytest.skip("every conv2 feature responds to this image")
    show(window, qtbot, layer="conv2", feature=silent[0], image=2)
    assert (
        window.views["input_image"].pane.box_shown() is None
        and "does not respond" in window.views["input_image"].pane.caption.text()
    )


def choose(window, overlay: str) -> None:
    pane = window.views["input_image"].pane
    pane.overlay.setCurrentIndex(pane.overlay.findData(overlay))


def test_the_occlusion_map_shows_for_its_image_only(window, qtbot):
    pane = window.views["input_image"].pane
    show(window, qtbot, image=6)
    choose(window, "occlusion_prob")
    assert not pane.heat.isVisible() and pane.box_shown() is None
    assert "No occlusion result for image #6" in pane.caption.text() and "Analyse > Occlusion" in pane.caption.text()

    wiring = window.views["occlusion"]
    window.menu_actions["open_occlusion"].trigger()
    qtbot.waitUntil(lambda: pane.heat.isVisible())
    f = wiring.shown.figure
    assert f.index == 6
    np.testing.assert_array_equal(pane.heat.image, f.target_probs)
    r = pane.heat.mapRectToParent(pane.heat.boundingRect())  # 13 cells of 2 px, centred on the 8 px squares
    assert (r.left(), r.top(), r.width(), r.height()) == (3.0, 3.0, 26.0, 26.0)
    assert pane.view.colour_bar is not None and f"p({f.target_name})" in pane.caption.text()

    window.state.select(image=7)  # the map is of image 6: cleared at once, before anything new arrives
    assert not pane.heat.isVisible() and "Waiting for image #7" in pane.caption.text()
    qtbot.waitUntil(lambda: pane.heat.isVisible() and wiring.shown.figure.index == 7)  # the view follows the image

    wiring.dock.hide()  # no longer following: a new image has no map, and says how to get one
    show(window, qtbot, image=8)
    assert not pane.heat.isVisible() and pane.view.colour_bar is None
    assert "No occlusion result for image #8" in pane.caption.text()
    show(window, qtbot, image=7)  # the map of image 7 is still true of image 7
    assert pane.heat.isVisible()


def test_the_feature_occlusion_map_needs_the_same_feature(window, qtbot):
    pane = window.views["input_image"].pane
    show(window, qtbot, layer="conv2", feature=3, image=1)
    choose(window, "occlusion_feature")
    wiring = window.views["occlusion"]
    window.menu_actions["open_occlusion"].trigger()
    qtbot.waitUntil(lambda: pane.heat.isVisible())
    np.testing.assert_array_equal(pane.heat.image, wiring.shown.figure.activation)
    wiring.dock.hide()
    show(window, qtbot, feature=4)
    assert not pane.heat.isVisible() and "is for conv2 feature 3" in pane.caption.text()
    choose(window, "occlusion_prob")  # p(class) does not depend on the feature
    assert pane.heat.isVisible()
    choose(window, "none")
    assert not pane.heat.isVisible() and pane.box_shown() is None


def test_a_new_image_set_drops_the_occlusion_map(window, qtbot):
    pane = window.views["input_image"].pane
    show(window, qtbot, image=0)
    choose(window, "occlusion_prob")
    window.menu_actions["open_occlusion"].trigger()
    qtbot.waitUntil(lambda: pane.heat.isVisible())
    window.views["occlusion"].dock.hide()
    before = window.state.shown
    window.sources.open_source("probes")
    qtbot.waitUntil(lambda: window.state.images.name != "random")
    assert not pane.heat.isVisible()  # dropped at once, before the new images' first pass
    # The state forgot the old pass when the images changed, and the controller drops any answer asked before.
    qtbot.waitUntil(lambda: window.state.shown is not None and window.state.shown is not before)
    assert window.state.image == 0 and not pane.heat.isVisible()  # same index, another picture
    assert "No occlusion result for image #0" in pane.caption.text()


@pytest.mark.parametrize(("size", "tabbed"), [((1024, 640), True), ((1920, 1080), False)])
def test_the_default_layout_keeps_the_pane_usable(window, qtbot, size, tabbed):
    window.resize(*size)
    qtbot.waitUntil(lambda: window.size().toTuple() == size)
    window.menu_actions["reset_layout"].trigger()
    dock = window.docks["input_image"]
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    assert dock.windowTitle() == "Input image" and dock.toggleViewAction() in view_menu.actions()
    assert bool(window.tabifiedDockWidgets(dock)) == tabbed  # narrow: a tab beside Feature across images
    dock.raise_()
    qtbot.waitUntil(lambda: dock.isVisible() and not dock.visibleRegion().isEmpty())
    view = window.views["input_image"].pane.view
    assert view.width() >= 150 and view.height() >= 120
    if not tabbed:  # a column of its own, as large as a picture needs
        assert view.width() >= 250 and view.height() >= 250
