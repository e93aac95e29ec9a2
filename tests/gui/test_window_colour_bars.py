"""The colour bars beside the window's pictures: the scale they state is the scale the pictures use."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QPointF

from explorer.analyses.colours import maps_rgb8, to_rgb8
from explorer.gui.colour_bars import signed_grey, viridis
from explorer.gui.panes.colour_bar import nice_ticks
from explorer.gui.panes.fitted_text import FittedPlot
from explorer.gui.panes.pixel_view import PixelView


@pytest.fixture
def view(qtbot) -> PixelView:
    v = PixelView("picture")
    qtbot.addWidget(v)
    v.resize(420, 300)
    v.set_image(np.random.default_rng(0).random((32, 32, 3), dtype=np.float32))
    v.show()
    return v


def strip_colour(view: PixelView, y: float) -> tuple[np.ndarray, float]:
    """The painted RGB at the middle of the bar's strip at the bar's own y, moved 2 px inside the strip at
    its ends (its frame is drawn there), and how many of 256 levels that move is worth."""
    bar = view.colour_bar
    assert bar is not None
    strip = bar.strip()
    inside = min(max(y, strip.top() + 2), strip.bottom() - 2)
    at = view.mapFromScene(bar.mapToScene(QPointF(strip.center().x(), inside)))
    c = view.grab().toImage().pixelColor(at)
    return np.array([c.red(), c.green(), c.blue()]), abs(inside - y) / strip.height() * 255


def nearest_level(colour: np.ndarray, table: np.ndarray) -> int:
    return int(np.abs(table.astype(int) - colour).sum(axis=1).argmin())


@pytest.mark.parametrize("vmax", [0.881, 7.5, 640.0])
def test_activation_bar_shows_each_tick_in_the_colour_the_maps_give_that_value(view, qtbot, vmax):
    view.set_colour_bar(viridis(), 0.0, vmax, "activation (post-ReLU)")
    qtbot.waitUntil(lambda: len(view.colour_bar.ticks()) >= 3)
    table = maps_rgb8(np.arange(256, dtype=np.float32), 255.0)  # the maps' own 256 levels
    for value, text, y in view.colour_bar.ticks():
        assert float(text) == pytest.approx(value, abs=1e-9)
        colour, moved = strip_colour(view, y)
        level = nearest_level(colour, table)
        assert abs(level - min(255, value / vmax * 255)) <= 3 + moved, (value, level)


def test_projection_bar_shows_each_tick_in_the_grey_the_projection_gives_that_value(view, qtbot):
    top = 0.23
    view.set_colour_bar(signed_grey(), -top, top, "projection")
    qtbot.waitUntil(lambda: len(view.colour_bar.ticks()) >= 3)
    values = [v for v, _, _ in view.colour_bar.ticks()]
    assert min(values) < 0 < max(values) and 0.0 in values
    for value, _, y in view.colour_bar.ticks():
        grey = int(to_rgb8(np.array(0.5 + value / (2 * top))))  # projection_to_rgb's rule
        colour, moved = strip_colour(view, y)
        assert np.abs(colour - grey).max() <= 3 + moved, value


def test_a_new_scale_redraws_the_bar_and_leaves_the_picture_where_it_was(view, qtbot):
    view.set_colour_bar(viridis(), 0.0, 0.881, "activation (post-ReLU)")
    qtbot.wait(20)
    picture = view.view_box.sceneBoundingRect()
    for low, high in ((0.0, 7.5), (-0.2, 0.2), (0.0, 640.0), (-3.5, 3.5), (0.0, 0.05)):
        view.set_colour_bar(viridis(), low, high, "activation (post-ReLU)")
        qtbot.wait(10)
        assert view.colour_bar.levels() == (low, high)
        assert view.view_box.sceneBoundingRect() == picture, (low, high)


def test_tiny_scales_are_stated_not_rounded_away(view, qtbot):
    # The bar once keyed its scale rounded to 6 decimals: a projection of max 3e-7, then 4e-7, kept 3e-7.
    for top in (3e-7, 4e-7, 4.5e-7):
        view.set_colour_bar(signed_grey(), -top, top, "projection")
        assert view.colour_bar.levels() == (-top, top)
        texts = [t for _, t, _ in view.colour_bar.ticks()]
        assert all(math.isclose(abs(float(t)), top, rel_tol=0.3) or abs(float(t)) < top for t in texts)


@pytest.mark.parametrize("low, high", [(0.0, 0.0), (0.0, math.inf), (math.nan, math.nan), (1.0, -1.0)])
def test_a_degenerate_scale_paints_one_label_and_no_error(view, qtbot, low, high):
    view.set_colour_bar(viridis(), low, high, "activation (post-ReLU)")
    view.grab()  # paints
    assert len(view.colour_bar.ticks()) == 1


@settings(max_examples=300, deadline=None)
@given(
    low=st.floats(-1e7, 1e7, allow_nan=False),
    width=st.floats(1e-9, 1e7, allow_nan=False),
    most=st.integers(2, 12),
)
def test_ticks_are_round_values_inside_the_scale_each_printed_distinctly(low, width, most):
    high = low + width
    assume(width >= 1e-6 * max(1.0, abs(low)))  # narrower than a millionth of its size: past float64's round values
    values, form = nice_ticks(low, high, most)
    texts = [form.format(v) for v in values]
    eps = 1e-9 * max(1.0, abs(low), abs(high))
    assert 2 <= len(values) <= max(2, most)
    assert all(low - eps <= v <= high + eps for v in values)
    assert len(set(texts)) == len(texts), texts
    gaps = np.diff(values)
    assert np.all(gaps > 0)
    for v, t in zip(values, texts, strict=True):
        assert abs(float(t) - v) <= 0.51 * gaps.min(), (v, t)
    if values != [low, high]:  # round values: one spacing of 1, 2 or 5 x 10^k
        step = gaps.mean()
        np.testing.assert_allclose(gaps, step, rtol=1e-6)
        mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
        assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-6, step


@pytest.mark.parametrize(
    "title", ["", "conv1: features 0–31 (max activation 0.881)", "layer4.1.relu_1: features 0–511 (max 12.3)"]
)
def test_the_bar_and_its_numbers_stay_inside_a_narrow_view(qtbot, title):
    # At 1024x640 the title's width once pushed the activation bars' numbers out past the view's edge.
    v = PixelView(title)
    qtbot.addWidget(v)
    v.resize(250, 220)
    v.set_image(np.zeros((32, 32, 3), dtype=np.float32))
    v.set_colour_bar(viridis(), 0.0, 0.881, "activation (post-ReLU)")
    v.show()
    qtbot.wait(20)
    shown = v.mapFromScene(v.colour_bar.sceneBoundingRect()).boundingRect()
    assert v.viewport().rect().contains(shown), (shown, v.viewport().rect())
    assert v.title_text() == title  # shown shortened where it does not fit, kept whole


def test_a_plot_title_is_shortened_to_a_narrow_plot_and_whole_again_when_wide(qtbot):
    title = "layer output distance to the original (each / its max)"
    plot = FittedPlot(title)
    qtbot.addWidget(plot)
    plot.resize(200, 180)
    plot.show()
    qtbot.wait(20)
    item = plot.getPlotItem()
    assert item.titleLabel.text.endswith("…") and plot.title_text() == title
    assert item.geometry().width() <= plot.width()  # the axes and curves stay inside the plot
    plot.resize(700, 180)
    qtbot.waitUntil(lambda: item.titleLabel.text == title)
