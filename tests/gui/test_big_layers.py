"""Big layers in the Activation maps grid: every map readable, the grid scrolling to the selected one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication
from torch import nn

from explorer.core.model import CLASSES
from explorer.gui.imaging import fit_columns
from explorer.gui.views.maps.pane import COLS, MIN_MAP_PX, PAD


class WideNet(nn.Module):
    """conv 3x3 512 -> ReLU at 32x32, pool to 4x4, conv 1x1 2048 -> ReLU, average, fc 10: 512 and 2,048 maps."""

    input_size = 32
    classes = CLASSES
    layer_aliases = {"relu1": "conv1", "relu2": "conv2"}  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 512, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(8)
        self.conv2 = nn.Conv2d(512, 2048, 1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(2048, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        return self.fc(self.flatten(self.pool2(self.relu2(self.conv2(x)))))


def shows(window, layer: str, feature: int | None = None) -> bool:
    r = window.state.shown
    return r is not None and r.layer == layer and (feature is None or r.feature == feature)


@pytest.fixture
def wide_model() -> WideNet:
    torch.manual_seed(0)
    return WideNet().eval()


@pytest.fixture
def wide_window(make_window, images, wide_model, qtbot):
    w = make_window(images=images, model=wide_model)
    w.resize(1024, 640)
    qtbot.waitUntil(lambda: shows(w, "conv1"))
    qtbot.wait(50)  # the resize reaches the grid's view
    return w


def on_screen(grid, rect: QRectF) -> QRectF:
    """A rectangle of the grid's picture in the grid widget's pixels."""
    top_left = grid.mapFromScene(grid.image_item.mapToScene(rect.topLeft()))
    bottom_right = grid.mapFromScene(grid.image_item.mapToScene(rect.bottomRight()))
    return QRectF(QPointF(top_left), QPointF(bottom_right))


def in_view(pane, feature: int) -> bool:
    """Whether map `feature` lies wholly inside the grid's visible range (and so on screen)."""
    (x0, x1), (y0, y1) = pane.grid.view_box.viewRange()
    r = pane.cell_rect(feature).adjusted(1e-6, 1e-6, -1e-6, -1e-6)  # a scrolled range is exact only to rounding
    return x0 <= r.left() and r.right() <= x1 and y0 <= r.top() and r.bottom() <= y1


def map_px(pane) -> float:
    """The on-screen side of one map (widget pixels)."""
    return on_screen(pane.grid, pane.cell_rect(0)).width()


def wheel_notch_down(view) -> None:
    """One notch of the mouse wheel, towards the user, over the middle of `view`."""
    centre = QPointF(view.viewport().rect().center())
    notch = QPoint(0, -120)
    none = Qt.KeyboardModifier.NoModifier
    event = QWheelEvent(
        centre,
        view.mapToGlobal(centre),
        QPoint(),
        notch,
        Qt.MouseButton.NoButton,
        none,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(view.viewport(), event)


def count_grid_draws(pane, monkeypatch) -> list[int]:
    draws: list[int] = []
    real = pane.grid.set_image
    monkeypatch.setattr(pane.grid, "set_image", lambda rgb: (draws.append(1), real(rgb)))
    return draws


@pytest.mark.parametrize(("layer", "count", "side"), [("conv1", 512, 32), ("conv2", 2048, 4)])
def test_every_map_of_a_big_layer_is_drawn_at_a_readable_size(wide_window, qtbot, layer, count, side):
    pane = wide_window.views["maps"].pane
    wide_window.state.select(layer=layer)
    qtbot.waitUntil(lambda: shows(wide_window, layer))
    qtbot.waitUntil(lambda: map_px(pane) >= MIN_MAP_PX)  # once painted
    rows = -(-count // pane.columns)
    assert pane.grid.image_item.image.shape == (rows * (side + PAD) - PAD, pane.columns * (side + PAD) - PAD, 3)
    # As wide as the view holds and taller than it: the grid scrolls, and the bar beside it says so.
    assert pane.scrolls and pane.scroll_bar.isVisible()
    assert on_screen(pane.grid, QRectF(0, 0, *pane.grid.image_item.image.shape[1::-1])).width() <= pane.grid.width()
    assert pane.grid.colour_bar is not None and pane.grid.colour_bar.isVisible()  # the shared scale stays beside it


def test_selecting_a_far_feature_scrolls_its_map_into_view(wide_window, qtbot):
    pane = wide_window.views["maps"].pane
    assert in_view(pane, 0) and not in_view(pane, 400)
    wide_window.state.select(feature=400)  # as the spin box, the keyboard or another view does
    assert in_view(pane, 400)  # at once, with the frame: no worker is waited for
    assert pane._highlight.rect().contains(pane.cell_rect(400))
    (_, _), (y0, y1) = pane.grid.view_box.viewRange()  # a jump puts it in the middle, rows above and below
    assert abs(pane.cell_rect(400).center().y() - (y0 + y1) / 2) <= pane.cell_rect(0).height()
    viewport = pane.grid.viewport().rect()  # and on screen once painted
    qtbot.waitUntil(lambda: viewport.contains(on_screen(pane.grid, pane.cell_rect(400)).toAlignedRect()))
    wide_window.state.select(feature=3)
    assert in_view(pane, 3)


def test_the_wheel_over_the_grid_steps_the_feature_and_keeps_it_in_view(wide_window, qtbot):
    pane = wide_window.views["maps"].pane
    wide_window.state.select(feature=100)
    start = pane.grid.view_box.viewRange()[1][0]
    for _ in range(6 * pane.columns):  # six rows down, a notch at a time; each new row scrolls in by one row
        before = pane.grid.view_box.viewRange()[1][0]
        wheel_notch_down(pane.grid)
        assert in_view(pane, wide_window.state.feature)
        assert pane.grid.view_box.viewRange()[1][0] - before <= pane.cell_rect(0).height() + PAD + 1e-6
    assert wide_window.state.feature == 100 + 6 * pane.columns
    assert pane.grid.view_box.viewRange()[1][0] > start  # past the bottom of the view it had


def test_clicking_a_map_in_the_scrolled_grid_selects_it(wide_window, qtbot):
    pane = wide_window.views["maps"].pane
    wide_window.state.select(feature=400)
    target = 400 - 1 if 400 % pane.columns else 400 + 1  # a neighbour in the same row, in view too
    assert in_view(pane, target)
    centre = on_screen(pane.grid, pane.cell_rect(target)).center().toPoint()
    qtbot.mouseClick(pane.grid.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    qtbot.waitUntil(lambda: wide_window.state.feature == target)
    assert pane._highlight.rect().contains(pane.cell_rect(target))


def test_the_scroll_bar_scrolls_the_grid_without_drawing_it_again(wide_window, qtbot, monkeypatch):
    pane = wide_window.views["maps"].pane
    draws = count_grid_draws(pane, monkeypatch)
    top = pane.grid.view_box.viewRange()[1][0]
    pane.scroll_bar.setValue(pane.scroll_bar.maximum())
    assert pane.grid.view_box.viewRange()[1][0] > top + 100
    assert in_view(pane, 511) and not in_view(pane, 0)
    assert draws == []


def test_a_feature_change_moves_the_frame_and_draws_the_grid_no_more(wide_window, qtbot, monkeypatch):
    pane = wide_window.views["maps"].pane
    draws = count_grid_draws(pane, monkeypatch)
    for feature in (1, 400, 511, 2, 300):
        wide_window.state.select(feature=feature)
        assert pane._highlight.rect().contains(pane.cell_rect(feature))  # at once
    qtbot.waitUntil(lambda: shows(wide_window, "conv1", 300) and wide_window.controller.running is None)
    assert draws == []
    wide_window.state.select(image=7)  # a new image draws the grid once
    qtbot.waitUntil(lambda: wide_window.state.shown.index == 7 and wide_window.controller.running is None)
    assert draws == [1]
    assert in_view(pane, 300)
    wide_window.state.select(layer="conv2", feature=1500)  # and so does a new layer
    qtbot.waitUntil(lambda: shows(wide_window, "conv2", 1500) and wide_window.controller.running is None)
    qtbot.wait(50)  # any re-fit the new picture brings about
    assert draws == [1, 1]
    assert in_view(pane, 1500)


def test_a_bigger_window_gets_more_columns_and_keeps_the_selected_map_in_view(wide_window, qtbot):
    pane = wide_window.views["maps"].pane
    wide_window.state.select(feature=450)
    narrow = pane.columns
    wide_window.resize(1920, 1080)
    qtbot.waitUntil(lambda: pane.columns > narrow)
    qtbot.waitUntil(lambda: in_view(pane, 450))
    qtbot.waitUntil(lambda: map_px(pane) >= MIN_MAP_PX)  # once painted


def test_small_layers_keep_their_whole_eight_wide_grid(make_window, images, qtbot):
    w = make_window(images=images)
    w.resize(1024, 640)
    qtbot.waitUntil(lambda: shows(w, "conv1"))
    pane = w.views["maps"].pane
    qtbot.waitUntil(lambda: pane.grid.view_box.width() < 400)
    assert (pane.columns, pane.scrolls, pane.scroll_bar.isVisible()) == (COLS, False, False)
    assert pane.grid.image_item.image.shape == (4 * 33 - 1, 8 * 33 - 1, 3)
    qtbot.waitUntil(lambda: map_px(pane) >= MIN_MAP_PX)  # once painted
    w.state.select(layer="conv2")  # 64 maps of 16 pixels
    qtbot.waitUntil(lambda: shows(w, "conv2"))
    assert not pane.scrolls and in_view(pane, 0) and in_view(pane, 63)
    qtbot.waitUntil(lambda: map_px(pane) >= MIN_MAP_PX)  # once painted


# The rule itself ----------------------------------------------------------------------------------


def test_fit_columns_keeps_eight_where_they_fill_the_width():
    # SeedNet's 32 maps in the narrow view of the test window: as they always were.
    assert fit_columns(32, (32, 32), (326, 154), COLS, MIN_MAP_PX, PAD) == (8, False)
    # ...and wherever eight columns do not fill the height either.
    assert fit_columns(32, (32, 32), (194, 270), COLS, MIN_MAP_PX, PAD) == (8, False)


def test_fit_columns_widens_a_tall_strip_and_scrolls_only_when_it_must():
    # zfnet's 192 conv5 maps (8x8) in a wide view fit whole, far wider than eight columns.
    cols, scrolls = fit_columns(192, (8, 8), (641, 807), COLS, MIN_MAP_PX, PAD)
    rows = -(-192 // cols)
    scale = min(807 / (cols * 9 - 1), 641 / (rows * 9 - 1))
    assert cols > COLS and not scrolls and scale * 8 >= MIN_MAP_PX
    # ...and in a small view scroll at a readable size, as wide as the view allows.
    cols, scrolls = fit_columns(192, (8, 8), (194, 270), COLS, MIN_MAP_PX, PAD)
    assert scrolls and 270 / (cols * 9 - 1) * 8 >= MIN_MAP_PX
    assert 270 / ((cols + 1) * 9 - 1) * 8 < MIN_MAP_PX  # one more column would be too small
    # No size yet (a hidden pane): the familiar grid.
    assert fit_columns(512, (7, 7), (0, 0), COLS, MIN_MAP_PX, PAD) == (COLS, False)
    assert fit_columns(3, (7, 7), (0, 0), COLS, MIN_MAP_PX, PAD) == (3, False)


def test_the_maps_drawn_equal_the_layers_activations(wide_window, wide_model, images):
    from explorer.core.projection import activations
    from explorer.gui.imaging import activation_grid

    pane = wide_window.views["maps"].pane
    r = wide_window.state.shown
    maps = activations(wide_model, images.tensor([r.index]), "conv1")[0].numpy()
    np.testing.assert_allclose(pane.grid.image_item.image, activation_grid(maps, pane.columns, PAD)[0], atol=1e-6)
