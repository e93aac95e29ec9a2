"""What a researcher making figures needs from the window: colour bars, zoom and pan, copy, help."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
import torch
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QCursor, QGuiApplication, QWheelEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from explorer.gui.panes.pixel_view import PixelView


def wheel(view: PixelView, steps: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    centre = QPointF(view.width() / 2, view.height() / 2)
    event = QWheelEvent(
        centre, view.mapToGlobal(centre), QPoint(), QPoint(0, -120 * steps), Qt.MouseButton.NoButton,
        modifiers, Qt.ScrollPhase.NoScrollPhase, False,
    )  # fmt: skip
    QApplication.sendEvent(view.viewport(), event)


def width_shown(view: PixelView) -> float:
    (x0, x1), _ = view.view_box.viewRange()
    return x1 - x0


def test_scaled_views_carry_colour_bars_with_their_scale(window, qtbot):
    r = window.state.shown
    vmax = float(r.activations.max())
    for view in (window.views["maps"].pane.grid, window.views["maps"].pane.large):
        assert view.colour_bar is not None
        np.testing.assert_allclose(view.colour_bar.levels(), (0.0, vmax), rtol=1e-5)
    top = float(np.abs(r.projections[0][1]).max())
    np.testing.assert_allclose(window.views["projection"].pane.views[0].colour_bar.levels(), (-top, top), rtol=1e-5)
    assert window.views["feature_across_images"].pane.view.colour_bar is not None


def test_a_colour_bar_says_its_label_once_at_any_scale(window, qtbot):
    # pyqtgraph's automatic SI prefix printed the label a second time with "(x0.001)" on a 0-700 scale.
    view = window.views["projection"].pane.views[0]
    for low, high in ((0.0, 700.0), (-0.002, 0.002), (0.0, 1.0)):
        view.set_colour_bar(pg.colormap.get("viridis"), low, high, "activation (post-ReLU)")
        qtbot.wait(10)
        assert view.colour_bar.label() == "activation (post-ReLU)"
        for value, text, _ in view.colour_bar.ticks():  # plain numbers, no prefix or multiplier
            assert float(text) == pytest.approx(value, abs=1e-12), text


def test_ctrl_wheel_zooms_plain_wheel_scrubs_right_click_resets(window, qtbot):
    view = window.views["projection"].pane.views[0]
    full = width_shown(view)
    wheel(view, -2, Qt.KeyboardModifier.ControlModifier)  # towards the user: zoom in
    assert width_shown(view) < 0.8 * full and window.state.feature == 0
    wheel(view, 1)
    assert window.state.feature == 1
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.RightButton, pos=view.rect().center())
    assert abs(width_shown(view) - full) < 1e-6 or width_shown(view) >= full


def test_ctrl_c_copies_the_view_under_the_mouse(window, qtbot):
    QGuiApplication.clipboard().clear()
    grid = window.views["maps"].pane.grid
    QCursor.setPos(grid.mapToGlobal(grid.rect().center()))
    qtbot.waitUntil(lambda: QApplication.widgetAt(QCursor.pos()) is not None)
    window.menu_actions["copy_view"].trigger()
    copied = QGuiApplication.clipboard().image()
    assert not copied.isNull() and copied.width() >= grid.width() - 1
    assert "Copied" in window.statusBar().currentMessage()


def test_help_lists_the_shortcuts_and_about_names_versions_device_model_and_data(window, monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: shown.append(a[2]))
    monkeypatch.setattr(QMessageBox, "about", lambda *a, **k: shown.append(a[2]))
    window.menu_actions["shortcuts"].trigger()
    for keys in ("PgDown", "Ctrl+T", "Ctrl+C", "Ctrl + wheel"):
        assert keys in shown[0]
    window.menu_actions["about"].trigger()
    for fact in (torch.__version__.split("+")[0], "cpu", "test model", "random (40 images)"):
        assert fact in shown[1]
    import pyqtgraph
    import PySide6

    # PySide6 is installed as PySide6-Essentials: its version comes from the module, never "not installed".
    assert f"PySide6 {PySide6.__version__}" in shown[1] and f"pyqtgraph {pyqtgraph.__version__}" in shown[1]
    assert "not installed" not in shown[1]


def test_the_status_bar_names_what_it_abbreviates(window):
    assert "where the model runs" in window.status.device.toolTip()
    assert "how long the worker took" in window.status.timing.toolTip()
