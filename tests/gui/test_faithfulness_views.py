"""The faithfulness views: Attribution (a class's CAM beside its gradient, guided and deconvnet pictures) and Sanity
(the cascading randomization and RISE's curves), each checked against the engine's functions called directly."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pyqtgraph as pg
import pytest
from PIL import Image
from PySide6.QtCore import QPointF
from PySide6.QtGui import QFontMetricsF, QPainter, QPicture
from PySide6.QtWidgets import QApplication

import explorer.analyses.sanity as sanity_analysis
from explorer.analyses.attribution import FaithfulnessFigure, FaithfulnessRequest
from explorer.analyses.colours import cam_rgb8
from explorer.analyses.sanity import SanityFigure
from explorer.cli import main as cli_main
from explorer.core.checkpoint import save_model
from explorer.core.class_activation import cam, upsample_cam
from explorer.core.model_meta import model_info
from explorer.core.rise_curves import DeletionInsertion, deletion_insertion
from explorer.core.saliency import logit_attribution, saliency_maps
from explorer.core.sanity_checks import Sanity, sanity
from explorer.gui import dialogs
from explorer.gui.messages import AnalysisRequest, ExportDone, Failure
from explorer.gui.views.attribution.pane import cam_over_image
from explorer.gui.views.sanity.pane import SanityPane
from explorer.gui.views.sanity.step_axis import StepAxis


def open_view(window, qtbot, name: str):
    view = window.views[name]
    assert not view.dock.isVisible()
    window.menu_actions[f"open_{name}"].trigger()
    qtbot.waitUntil(lambda: view.shown is not None, timeout=60000)
    assert view.dock.isVisible()
    return view


def test_attribution_shows_the_cam_and_pictures_of_the_predicted_class(window, qtbot, model, images):
    window.state.select(image=5)
    view = open_view(window, qtbot, "attribution")
    f = view.shown.figure
    x = images.tensor([5])
    predicted = int(model(x).argmax(1)[0])
    assert f.cam.image_label.startswith("#5") and f.cam.target == predicted and f.cam.layer == "conv2"
    reference = cam(model, x, "conv2", predicted, method="gradcam")
    np.testing.assert_allclose(f.cam.cam, reference[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(f.cam.overlay, upsample_cam(reference, (32, 32))[0].numpy(), atol=1e-6)
    for method, picture in f.pictures:
        expected = logit_attribution(model, x, predicted, method=method)[0].numpy()
        np.testing.assert_allclose(picture, expected, atol=1e-6)
    shown = view.pane.views[0].image_item.image
    np.testing.assert_allclose(shown, cam_over_image(f.cam.image, f.cam.overlay), atol=1e-6)
    assert [v.title_text() for v in view.pane.views[2:]] == ["gradient", "guided backprop", "deconvnet"]


def test_attribution_follows_the_class_method_and_image_chosen(window, qtbot, model, images):
    view = open_view(window, qtbot, "attribution")
    pane = view.pane
    pane.target.setCurrentIndex(pane.target.findData(3))
    pane.method.setCurrentIndex(pane.method.findData("layercam"))
    pane.layer.setCurrentIndex(pane.layer.findData("conv1"))
    pane.options_changed.emit()
    qtbot.waitUntil(lambda: view.shown.figure.request.target == 3 and view.shown.figure.cam.layer == "conv1")
    f = view.shown.figure
    x = images.tensor([window.state.image])
    np.testing.assert_allclose(f.cam.cam, cam(model, x, "conv1", 3, method="layercam")[0].numpy(), atol=1e-6)
    window.state.select(image=9)
    qtbot.waitUntil(lambda: view.shown.figure.request.image == 9)
    assert view.shown.figure.cam.target == 3  # the class chosen stays chosen for the next image


def test_the_window_draws_a_cam_in_the_figures_colours():
    import matplotlib

    v = np.linspace(0.0, 1.0, 2001)
    expected = matplotlib.colormaps["jet"](v)[:, :3] * 255
    assert np.abs(cam_rgb8(v).astype(float) - expected).max() <= 0.5 + 1e-9  # rounding to whole levels only


def test_sanity_shows_the_cascade_and_the_rise_curves_of_the_image(window, qtbot, model, images):
    window.state.select(image=2)
    view = open_view(window, qtbot, "sanity")
    f = view.shown.figure
    x = images.tensor([2])
    expected = sanity(model, x, seed=0)
    result = f.sanity.result
    assert result.layers == expected.layers and len(result.layers) >= 3
    target = int(result.targets[0])
    for m in f.request.methods:
        np.testing.assert_allclose(result.spearman[m], expected.spearman[m], atol=1e-6)
        curves = deletion_insertion(model, x[0], saliency_maps(model, x, target, method=m)[0], target)
        np.testing.assert_allclose(f.curves[m].deletion, curves.deletion, atol=1e-6)
        assert f.curves[m].insertion_auc == pytest.approx(curves.insertion_auc, abs=1e-6)
    methods, steps = len(f.request.methods), len(result.layers) + 1
    strip = view.pane.pictures.image_item.image
    assert strip.shape[:2] == (methods * 33 - 1, steps * 33 - 1)  # 32 px pictures, 1 px apart
    assert len(view.pane.cascade_plot.listDataItems()) == methods


def test_a_new_image_stops_the_running_cascade_and_shows_only_the_new_one(window, qtbot, monkeypatch):
    asked: list[AnalysisRequest] = []
    failures: list[Failure] = []
    view = window.views["sanity"]
    real_submit = window.controller.submit

    def recorded(job, owner):
        if owner is view:
            asked.append(job)
        real_submit(job, owner)

    monkeypatch.setattr(window.controller, "submit", recorded)
    real_failure = view.on_failure
    monkeypatch.setattr(view, "on_failure", lambda f: (failures.append(f), real_failure(f)))
    window.menu_actions["open_sanity"].trigger()
    qtbot.waitUntil(lambda: bool(asked) and window.controller.running is asked[0])
    window.state.select(image=11)
    qtbot.waitUntil(lambda: view.shown is not None, timeout=60000)
    assert view.shown.figure.request.image == 11 and view.shown.request_id == asked[-1].id
    assert asked[-1].analysis.image == 11
    assert not any(f.request_id == asked[-1].id for f in failures)


# ResNet-18's cascade, top first (explorer.core.sanity_checks.cascade_steps): 21 steps at 224 px.
RESNET18_STEPS = (
    "fc", "layer4.1.conv2", "layer4.1.conv1", "layer4.0.downsample.0", "layer4.0.conv2", "layer4.0.conv1",
    "layer3.1.conv2", "layer3.1.conv1", "layer3.0.downsample.0", "layer3.0.conv2", "layer3.0.conv1",
    "layer2.1.conv2", "layer2.1.conv1", "layer2.0.downsample.0", "layer2.0.conv2", "layer2.0.conv1",
    "layer1.1.conv2", "layer1.1.conv1", "layer1.0.conv2", "layer1.0.conv1", "conv1",
)  # fmt: skip


def drawn_labels(axis: StepAxis) -> list[tuple[float, str]]:
    """(centre x, text) of each tick label the axis draws now, left to right, from pyqtgraph's own layout."""
    picture = QPicture()
    painter = QPainter(picture)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    assert specs is not None, "the axis is not on screen"
    return sorted((rect.center().x(), text) for rect, _flags, text in specs[2] if text)


def assert_apart(axis: StepAxis, labels: list[tuple[float, str]]) -> None:
    """No two labels overlap: the distance between neighbouring centres is at least half of both texts' widths,
    measured with QFontMetrics in the font the axis draws with."""
    metrics = QFontMetricsF(axis.style["tickFont"])
    for (xa, a), (xb, b) in itertools.pairwise(labels):
        room = (metrics.horizontalAdvance(a) + metrics.horizontalAdvance(b)) / 2
        assert xb - xa >= room, f"{a!r} at {xa:.1f} and {b!r} at {xb:.1f} overlap ({room:.1f} px needed)"


@pytest.mark.parametrize("width", [140, 200, 320, 640, 1200, 2400, 5000])
def test_the_cascade_axis_never_draws_overlapping_labels(qtbot, width):
    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    axis = StepAxis()
    plot.getPlotItem().setAxisItems({"bottom": axis})
    axis.set_names(RESNET18_STEPS)
    plot.setXRange(0.5, len(RESNET18_STEPS) + 0.5, padding=0)
    plot.resize(width, 160)
    plot.show()
    qtbot.waitUntil(lambda: plot.isVisible() and axis.geometry().width() > 0)
    QApplication.processEvents()
    labels = drawn_labels(axis)
    assert len(labels) >= 2
    assert_apart(axis, labels)
    metrics = QFontMetricsF(axis.style["tickFont"])
    every_name = sum(metrics.horizontalAdvance(n) for n in RESNET18_STEPS)
    texts = [t for _x, t in labels]
    if axis.showing_names:
        assert texts == list(RESNET18_STEPS)  # all of them, in order
    else:
        assert every_name > axis.geometry().width() / 2  # names at every step would have run into each other
        steps = [int(t) for t in texts]
        assert axis.stride == 1 or all(k % axis.stride == 0 for k in steps)  # the multiples of the stride
        assert all(b - a == axis.stride for a, b in itertools.pairwise(steps))  # none left out but at the ends
    if width <= 640:
        assert not axis.showing_names
    if width >= 5000:
        assert axis.showing_names


def synthetic_figure(layers: tuple[str, ...], methods: tuple[str, ...] = ("gradient", "guided")) -> FaithfulnessFigure:
    """A Sanity figure as the engine returns one, with made-up values for `layers` (no model needed)."""
    steps = len(layers)
    rho = {m: np.linspace(0.9 - 0.3 * i, 0.1, steps) for i, m in enumerate(methods)}
    result = Sanity(
        layers=layers,
        spearman=rho,
        ssim={m: v / 2 for m, v in rho.items()},
        pictures={m: np.random.default_rng(0).random((steps + 1, 1, 8, 8)).astype(np.float32) for m in methods},
        targets=np.array([3]),
        seed=0,
    )
    request = FaithfulnessRequest(0, methods=methods)
    figure = SanityFigure(request.sanity_request, result, np.zeros((1, 8, 8, 3), np.uint8), ("#0",), "resnet18")
    fractions = np.linspace(0, 1, 5)
    curve = DeletionInsertion(fractions, 1 - fractions, fractions, 0.5, 0.5)
    return FaithfulnessFigure(request, figure, dict.fromkeys(methods, curve))


def test_a_long_cascade_in_a_narrow_pane_numbers_its_steps_and_names_them_on_hover(qtbot):
    pane = SanityPane()
    qtbot.addWidget(pane)
    pane.resize(520, 320)  # three plots side by side: the cascade gets about a third
    pane.show()
    pane.show_figure(synthetic_figure(RESNET18_STEPS))
    axis = pane.step_axis
    qtbot.waitUntil(lambda: axis.geometry().width() > 0)
    QApplication.processEvents()
    labels = drawn_labels(axis)
    assert not axis.showing_names and len(labels) >= 2
    assert_apart(axis, labels)
    item = pane.cascade_plot.getPlotItem()
    assert item.vb.viewRange()[0] == pytest.approx([0.5, 21.5])
    assert [d.xData.tolist() for d in item.listDataItems()] == [list(range(1, 22))] * 2  # step k at x = k
    text = pane.step_text(7)
    assert text.startswith("step 7 of 21: randomized fc … layer3.1.conv2 (7 layers)")
    assert "gradient: Spearman ρ 0.66, SSIM 0.33" in text and "guided backprop: Spearman ρ" in text
    assert pane.step_text(1).startswith("step 1 of 21: randomized fc (1 layer)")
    assert pane.step_text(0) == pane.step_text(22) == ""
    # Hovering over step 7's point, or below it on the axis, names step 7; far left of the plot, nothing.
    over = item.vb.mapViewToScene(QPointF(7.2, 0.5))
    assert pane.step_at(over) == 7
    below = QPointF(over.x(), axis.sceneBoundingRect().center().y())
    assert pane.step_at(below) == 7
    assert pane.step_at(QPointF(1.0, 1.0)) is None
    pane._hovered(over)  # shows the tooltip without error
    # A short cascade in a wide pane shows the layer names themselves.
    pane.resize(2400, 320)
    pane.show_figure(synthetic_figure(("fc", "conv5", "conv4", "conv3", "conv2", "conv1")))
    QApplication.processEvents()
    labels = drawn_labels(axis)
    assert axis.showing_names and [t for _x, t in labels] == ["fc", "conv5", "conv4", "conv3", "conv2", "conv1"]
    assert_apart(axis, labels)


def test_the_cascade_reports_each_step_and_cancel_stops_it_at_the_next(window, qtbot, monkeypatch):
    real = sanity_analysis.sanity
    reported: list[tuple[int, int]] = []
    release = threading.Event()

    def held_after_the_first_step(model, x, *, progress=None, **kwargs):
        def step(done, total):
            reported.append((done, total))
            progress(done, total)  # the job's own: it raises once the job is asked to stop
            if done == 1:
                release.wait(30)

        return real(model, x, progress=step, **kwargs)

    monkeypatch.setattr(sanity_analysis, "sanity", held_after_the_first_step)
    view = window.views["sanity"]
    window.menu_actions["open_sanity"].trigger()
    controls = view.controls
    try:
        qtbot.waitUntil(lambda: bool(reported) and controls.progress.value() == 1)
        total = reported[0][1]
        assert total >= 3 and controls.progress.maximum() > total and controls.cancel.isEnabled()  # then the curves
        controls.cancel.click()
    finally:
        release.set()
    qtbot.waitUntil(lambda: window.controller.running is None and not controls.cancel.isEnabled())
    assert reported == [(1, total), (2, total)]  # stopped at the step after Cancel, never finished
    assert view.shown is None
    assert "cancelled" in controls.message.text()


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "data"
    rng = np.random.default_rng(7)
    for name in ("cat", "ship"):
        (root / "test" / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / "test" / name / f"{i}.png")
    return root


@pytest.mark.parametrize(
    ("name", "argv"), [("attribution", ["cam", "--image", "1"]), ("sanity", ["sanity", "--image", "1"])]
)
def test_the_views_export_what_the_command_line_writes(
    make_window, model, data_dir, qtbot, monkeypatch, tmp_path, name, argv
):
    checkpoint = tmp_path / "seednet.pt"
    save_model(model, checkpoint)
    w = make_window(checkpoint=str(checkpoint), source="probes")
    w.sources.open_source(str(data_dir), "test")
    qtbot.waitUntil(lambda: w.state.images is not None and len(w.state.images) == 4 and w.state.shown is not None)
    w.state.select(image=1)
    view = open_view(w, qtbot, name)
    qtbot.waitUntil(lambda: view.shown.figure.request.image == 1)
    path = tmp_path / "window.svg"
    monkeypatch.setattr(dialogs, "get_save_file_name", lambda *a, **k: (str(path), ""))
    with qtbot.waitSignal(w.controller.result_ready, check_params_cb=lambda r: isinstance(r, ExportDone)):
        view.controls.export.click()
    out = tmp_path / "cli.svg"
    common = ["--checkpoint", str(checkpoint), "--data", str(data_dir), "--split", "test", "--device", "cpu"]
    assert cli_main(["export", *argv, *common, "--out", str(out)]) == 0
    assert path.read_bytes() == out.read_bytes()


def test_the_curves_after_the_cascade_report_progress_and_stop_between_methods(model, images, qtbot):
    """RISE's curves come after the cascade: each method's is a step of the progress, where a Cancel stops it."""
    request = FaithfulnessRequest(0, depth=2, steps=4)
    seen: list[tuple[int, int]] = []
    figure = request.compute(model, images, progress=lambda done, total: seen.append((done, total)))
    cascade, methods = len(figure.sanity.result.layers), len(request.methods)
    assert seen == [(d, cascade + methods) for d in range(1, cascade + methods + 1)]
    assert set(figure.curves) == set(request.methods)
    # The random-label check of the same image, by method: the engine's own, shown under the curves.
    from explorer.core.sanity_checks import random_label_check

    x = images.tensor([0])
    for m in request.methods:
        expected = random_label_check(model, x, method=m, seed=request.seed)
        np.testing.assert_allclose(figure.random_label[m].spearman, expected.spearman)
    assert figure.random_class == model_info(model).classes[int(expected.other[0])]
    pane = SanityPane()
    qtbot.addWidget(pane)
    pane.show_figure(figure)
    assert f"random label ({figure.random_class})" in pane.areas.text()

    class Cancelled(Exception):
        pass

    def cancel_in_the_curves(done: int, total: int) -> None:
        if done == cascade + 1:
            raise Cancelled

    with pytest.raises(Cancelled):
        request.compute(model, images, progress=cancel_in_the_curves)
