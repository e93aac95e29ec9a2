"""The Analyse menu's experiment views: computed on the worker with progress, cancelled, shown, exported like the CLI."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import all_predicted
from PIL import Image
from PySide6.QtCore import Qt

from explorer.cli import main as cli_main
from explorer.core.checkpoint import save_model
from explorer.core.errors import ExplorerError
from explorer.core.occlusion_sensitivity import occlusion
from explorer.gui import dialogs
from explorer.gui.messages import AnalysisRequest, ExportDone, Failure, Progress
from explorer.gui.worker import Worker


def open_view(window, qtbot, kind):
    wiring = window.views[kind]
    assert not wiring.dock.isVisible()
    window.menu_actions[f"open_{kind}"].trigger()
    qtbot.waitUntil(lambda: wiring.shown is not None)
    assert wiring.dock.isVisible()
    return wiring


def recording_progress(monkeypatch, view) -> list[Progress]:
    """Every Progress the controller hands the view (it looks on_progress up on the view at each call)."""
    seen: list[Progress] = []
    real = view.on_progress

    def recording(progress: object) -> None:
        if isinstance(progress, Progress):
            seen.append(progress)
        real(progress)

    monkeypatch.setattr(view, "on_progress", recording)
    return seen


def test_occlusion_reports_progress_and_shows_the_windows_feature(window, qtbot, model, images, monkeypatch):
    seen = recording_progress(monkeypatch, window.views["occlusion"])
    window.state.select(image=3)
    wiring = open_view(window, qtbot, "occlusion")
    f = wiring.shown.figure
    s = window.state
    assert (f.index, f.request.layer, f.request.feature, f.request.size, f.request.stride) == (
        3, s.layer, s.feature, 8, 2
    )  # fmt: skip
    r = occlusion(model, images.tensor([3]), size=8, stride=2, layer=s.layer, feature=s.feature)
    np.testing.assert_allclose(f.activation, r.activation[0].numpy(), rtol=1e-5)
    np.testing.assert_allclose(f.target_probs, r.probs[0, int(images.labels[3])].numpy(), rtol=1e-5)
    mine = [p for p in seen if p.request_id == wiring.shown.request_id]
    assert mine and mine[-1].done == mine[-1].total == 169  # 13 x 13 positions
    assert [p.done for p in mine] == sorted(p.done for p in mine)  # from its start to its end, never back
    bar = wiring.controls.progress
    assert bar.value() == bar.maximum()
    assert wiring.pane.views[2].title_text().startswith("p(")
    assert wiring.pane.views[2].image_item.image is not None


def test_occlusion_draws_in_its_figures_colours_with_colour_bars_and_a_class_legend(window, qtbot):
    """The window's panels take the exported figure's colours: magma and viridis with their bars, and the most
    probable class in the figure's class colours (airplane is blue in both), named in a legend."""
    from explorer.analyses.colours import class_rgb8

    pane = open_view(window, qtbot, "occlusion").pane
    f = pane.figure
    probability, activation = pane.views[2].colour_bar, pane.views[3].colour_bar
    assert probability is not None and probability.levels() == (0.0, 1.0)
    assert activation is not None and activation.levels() == (
        0.0,
        pytest.approx(max(f.activation.max(), f.base_activation)),
    )
    r = f.request
    y, x = f.ys[0] + r.size // 2, f.xs[0] + r.size // 2  # inside the first cell
    drawn = pane.views[4].image_item.image[y, x]
    expected = 0.25 * f.image[y, x] / 255 + 0.75 * class_rgb8(f.top_class[0, 0], len(f.classes)) / 255
    np.testing.assert_allclose(drawn, expected, atol=1e-6)
    legend = pane.legend.text()
    assert all(f.classes[int(c)] in legend for c in np.unique(f.top_class))


def test_the_view_follows_the_window_and_its_options(window, qtbot):
    wiring = open_view(window, qtbot, "occlusion")
    window.state.select(image=7)
    qtbot.waitUntil(lambda: wiring.shown.figure.index == 7)
    wiring.pane.stride_box.setValue(8)
    qtbot.waitUntil(lambda: wiring.shown.figure.request.stride == 8)
    assert wiring.shown.figure.activation.shape == (4, 4)


def test_cancel_stops_a_running_experiment(window, qtbot, monkeypatch):
    gate, entered = threading.Event(), threading.Event()
    real_run = AnalysisRequest.run

    def blocked_run(request: AnalysisRequest, worker: Worker):
        entered.set()
        gate.wait(10)
        return real_run(request, worker)

    monkeypatch.setattr(AnalysisRequest, "run", blocked_run)
    wiring = window.views["occlusion"]
    window.menu_actions["open_occlusion"].trigger()
    qtbot.waitUntil(entered.is_set)
    assert wiring.controls.cancel.isEnabled()
    with qtbot.waitSignal(window.controller.failed, check_params_cb=lambda f: isinstance(f, Failure)) as failed:
        wiring.controls.cancel.click()
        gate.set()
    assert "cancelled" in failed.args[0].message
    assert wiring.shown is None and "cancelled" in wiring.controls.message.text()
    assert not wiring.controls.cancel.isEnabled()
    monkeypatch.setattr(AnalysisRequest, "run", real_run)
    wiring.controls.run.click()  # the worker lives on: a new run shows a result
    qtbot.waitUntil(lambda: wiring.shown is not None)


def test_run_after_a_failure_asks_again(window, qtbot, monkeypatch):
    real_run = AnalysisRequest.run
    calls: list[int] = []

    def failing_once(request: AnalysisRequest, worker: Worker):
        calls.append(request.id)
        if len(calls) == 1:
            raise ExplorerError("the snapshot could not be read")
        return real_run(request, worker)

    monkeypatch.setattr(AnalysisRequest, "run", failing_once)
    wiring = window.views["occlusion"]
    with qtbot.waitSignal(window.controller.failed, check_params_cb=lambda f: f.request_id in calls):
        window.menu_actions["open_occlusion"].trigger()
    assert wiring.shown is None and wiring.controls.message.text() == "the snapshot could not be read"
    wiring.controls.run.click()  # the same analysis again: it runs and shows
    qtbot.waitUntil(lambda: wiring.shown is not None)
    assert len(calls) == 2 and wiring.shown.request_id == calls[1]


def test_latest_wins_a_replaced_experiment_is_cancelled(window, qtbot, monkeypatch):
    gate = threading.Event()
    ran: list[int] = []
    ids: dict[int, int] = {}  # stride -> its request's id
    ended: dict[int, str] = {}  # stride -> how its run ended on the worker
    real_run = AnalysisRequest.run

    def blocked_run(request: AnalysisRequest, worker: Worker):
        stride = request.analysis.stride
        ran.append(stride)
        ids[stride] = request.id
        gate.wait(10)
        try:
            result = real_run(request, worker)
        except Exception as exc:
            ended[stride] = str(exc)
            raise
        ended[stride] = "done"
        return result

    monkeypatch.setattr(AnalysisRequest, "run", blocked_run)
    wiring = window.views["occlusion"]
    answered: list[object] = []  # every answer the view was given
    window.controller.result_ready.connect(answered.append)
    window.controller.failed.connect(answered.append)
    wiring.pane.stride_box.setValue(4)
    window.menu_actions["open_occlusion"].trigger()  # stride 4 runs (blocked)
    qtbot.waitUntil(lambda: ran == [4])
    wiring.pane.stride_box.setValue(5)  # waits, then is replaced
    wiring.pane.stride_box.setValue(6)
    gate.set()
    qtbot.waitUntil(lambda: wiring.shown is not None and wiring.shown.figure.request.stride == 6)
    assert ran == [4, 6]  # 5 never ran
    assert ended == {4: "occlusion: cancelled", 6: "done"}  # 4 stopped at its first step when 5 replaced it ...
    assert [a.request_id for a in answered if a.request_id in ids.values()] == [ids[6]]  # only 6 reached the view
    bar = wiring.controls.progress
    assert "cancelled" not in wiring.controls.message.text() and bar.value() == bar.maximum()


def test_evolution_shows_a_strip_per_feature(window, qtbot):
    wiring = open_view(window, qtbot, "evolution")
    f = wiring.shown.figure
    assert f.epochs == (1, 2, 5, 10, 20, 30)
    assert len(f.request.features) == 4 and f.request.images == tuple(range(40))
    assert len(wiring.pane.cells) == 4 * 6
    wiring.pane.features.setText("2,9")
    wiring.pane.features.editingFinished.emit()
    qtbot.waitUntil(lambda: wiring.shown.figure.request.features == (2, 9))
    assert len(wiring.pane.cells) == 2 * 6


def test_invariance_plots_a_curve_per_layer_and_class(window, qtbot):
    wiring = open_view(window, qtbot, "invariance")
    f = wiring.shown.figure
    assert f.request.transform == "translate" and f.request.layers == ("conv1", "conv2")
    curves = wiring.pane.distance_plot.getPlotItem().listDataItems()
    assert len(curves) == 2
    x, y = curves[0].getData()
    assert list(x) == list(f.values) and y[list(x).index(0.0)] == 0.0
    assert len(wiring.pane.prob_plot.getPlotItem().listDataItems()) == len(f.shown)
    wiring.pane.transform.setCurrentText("rotate")
    qtbot.waitUntil(lambda: wiring.shown.figure.request.transform == "rotate")


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "data"
    rng = np.random.default_rng(5)
    for name in ("cat", "ship"):
        (root / "test" / name).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / "test" / name / f"{i}.png")
    (root / "train").mkdir()
    return root


@pytest.mark.parametrize(
    ("kind", "argv"),
    [
        ("occlusion", ["--image", "4", "--layer", "conv1", "--feature", "0"]),
        ("invariance", ["--image", "4", "--transform", "translate", "--layers", "conv1,conv2"]),
        ("evolution", ["--layer", "conv1", "--features", "0:4"]),
    ],
)
def test_export_writes_what_the_command_line_writes(
    make_window, model, data_dir, qtbot, monkeypatch, tmp_path, kind, argv
):
    checkpoint = tmp_path / "seednet.pt"
    save_model(model, checkpoint)
    w = make_window(checkpoint=str(checkpoint), source="probes")
    w.sources.open_source(str(data_dir), "test")
    qtbot.waitUntil(
        lambda: (
            w.state.images is not None and len(w.state.images) == 6 and w.state.shown is not None and all_predicted(w)
        )
    )
    w.state.select(layer="conv1")
    w.state.select(image=4)
    w.state.select(feature=0)
    qtbot.waitUntil(lambda: (w.state.image, w.state.feature) == (4, 0))
    wiring = open_view(w, qtbot, kind)
    qtbot.waitUntil(lambda: wiring.shown.figure.request.layer == "conv1" if kind != "invariance" else True)
    path = tmp_path / "window.svg"
    monkeypatch.setattr(dialogs, "get_save_file_name", lambda *a, **k: (str(path), ""))
    with qtbot.waitSignal(w.controller.result_ready, check_params_cb=lambda r: isinstance(r, ExportDone)) as done:
        wiring.controls.export.click()
    assert done.args[0].kind == kind and done.args[0].path == str(path)
    out = tmp_path / "cli.svg"
    common = ["--checkpoint", str(checkpoint), "--data", str(data_dir), "--split", "test", "--device", "cpu"]
    assert cli_main(["export", kind, *argv, *common, "--out", str(out)]) == 0
    assert path.read_bytes() == out.read_bytes()


def test_the_hidden_views_build_their_pictures_and_plots_only_when_opened(window, qtbot):
    # Their docks start hidden; building five pictures and two plots for them slowed every start-up.
    occlusion, invariance = window.views["occlusion"], window.views["invariance"]
    assert occlusion.pane._views is None and invariance.pane._plots is None
    open_view(window, qtbot, "invariance")
    assert invariance.pane._plots is not None and occlusion.pane._views is None
    curves = invariance.pane.distance_plot.getPlotItem().listDataItems()
    assert len(curves) == len(invariance.shown.figure.request.layers)
    open_view(window, qtbot, "occlusion")
    assert all(view.image_item.image is not None for view in occlusion.pane.views)


def test_a_hidden_view_marks_its_figure_stale_asks_nothing_and_catches_up_when_shown(window, qtbot):
    view = open_view(window, qtbot, "occlusion")
    stale = view.controls.stale
    assert stale.isHidden()  # the figure shown is for the selection
    window.docks["projection"].raise_()  # Occlusion's tab goes behind Projection
    qtbot.waitUntil(lambda: not view.on_screen)
    before = view.shown
    window.state.select(image=window.state.image + 1)
    assert not stale.isHidden()  # said: the figure is for an earlier selection
    jobs = [*window.controller.pending(), window.controller.running]
    assert not any(isinstance(j, AnalysisRequest) for j in jobs)  # hidden, it asks nothing
    qtbot.wait(200)
    assert view.shown is before
    view.dock.raise_()  # shown again: it asks, and the new figure replaces the stale one and its mark
    qtbot.waitUntil(lambda: view.shown is not before and stale.isHidden())
    assert view.shown.figure.request.image == window.state.image


def test_a_view_sent_behind_a_tab_while_it_runs_stops_and_runs_again_when_shown(window, qtbot, monkeypatch):
    """Its unfinished run would hold up the view in front of it on the one worker."""
    import time

    import explorer.analyses.occlusion as occlusion_analysis

    real = occlusion_analysis.occlusion
    slow = {"on": True}

    def slow_occlusion(*args, progress=None, **kwargs):
        while slow["on"]:  # a long run that reports its steps, as the real one does between batches
            progress(0, 10)
            time.sleep(0.02)
        return real(*args, progress=progress, **kwargs)

    view = open_view(window, qtbot, "occlusion")
    monkeypatch.setattr(occlusion_analysis, "occlusion", slow_occlusion)
    view.run()
    qtbot.waitUntil(lambda: isinstance(window.controller.running, AnalysisRequest))
    asked = window.controller.running
    window.docks["projection"].raise_()
    qtbot.waitUntil(lambda: not view.on_screen)
    qtbot.waitUntil(lambda: window.controller.running is not asked, timeout=30000)
    assert view._asked is None and "paused while hidden" in view.controls.message.text()
    slow["on"] = False
    before = view.shown
    view.dock.raise_()
    qtbot.waitUntil(lambda: view.shown is not before, timeout=60000)


def test_a_hidden_view_that_never_ran_says_nothing_about_changed_images(window, qtbot):
    """As after a restart with the tab restored behind another: nothing was computed, so nothing is out of date."""
    view = window.views["occlusion"]
    assert not view.on_screen and view.shown is None
    window.state.set_images(window.state.source_images, window.state.source)
    assert "changed" not in view.controls.message.text()
    opened = open_view(window, qtbot, "occlusion")
    window.docks["projection"].raise_()
    qtbot.waitUntil(lambda: not opened.on_screen)
    window.state.set_images(window.state.source_images, window.state.source)
    assert "the model or the images changed" in view.controls.message.text()  # this time something was shown


def test_run_always_runs_even_for_the_figure_shown(window, qtbot):
    view = open_view(window, qtbot, "occlusion")
    first = view.shown
    qtbot.mouseClick(view.controls.run, Qt.MouseButton.LeftButton)
    assert view.controls.message.text() == "running…"
    qtbot.waitUntil(lambda: view.shown is not first)
    assert view.shown.figure.request == first.figure.request and view.controls.stale.isHidden()


def test_backprop_marks_a_counting_for_an_earlier_image(window, qtbot):
    view = window.views["backpropagation"]
    window.menu_actions["open_backprop"].trigger()
    qtbot.waitUntil(lambda: view.shown is not None)
    assert view.pane.stale.isHidden()
    window.docks["projection"].raise_()
    qtbot.waitUntil(lambda: not view.on_screen)
    window.state.select(image=window.state.image + 1)
    assert not view.pane.stale.isHidden()
    view.dock.raise_()
    qtbot.waitUntil(lambda: view.shown.figure.index == window.state.image and view.pane.stale.isHidden())


def test_an_analysis_floated_gets_the_room_of_a_main_view(window, qtbot):
    window.resize(1024, 640)
    qtbot.waitUntil(lambda: window.size().toTuple() == (1024, 640))
    view = open_view(window, qtbot, "invariance")
    assert view.dock.height() < 0.6 * window.height()  # a tab of the bottom row
    view.dock.setFloating(True)
    qtbot.waitUntil(lambda: view.dock.width() >= 0.6 * 1024 - 1 and view.dock.height() >= 0.7 * 640 - 1)
    assert window.geometry().contains(view.dock.geometry().center())


def test_reset_layout_with_analyses_open_leaves_every_pane_usable(window, qtbot):
    from test_honest_states import clipped_panes

    window.resize(1024, 640)
    qtbot.waitUntil(lambda: window.size().toTuple() == (1024, 640))
    for kind in ("occlusion", "invariance"):
        open_view(window, qtbot, kind)
    window.menu_actions["open_backprop"].trigger()
    window.menu_actions["reset_layout"].trigger()
    qtbot.waitUntil(lambda: clipped_panes(window) == [])
    projection = window.views["projection"].pane
    assert projection.visibleRegion().boundingRect().height() >= min(projection.height(), 150)
    qtbot.waitUntil(lambda: window.controller.running is None, timeout=30000)
