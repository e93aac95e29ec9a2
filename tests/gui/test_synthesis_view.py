"""The Synthesized view: live intermediate images, latest wins, cancel, cache, settings remembered, export like the CLI."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import all_predicted
from PIL import Image

from explorer.analyses.maximize import images_rgb8
from explorer.cli import main as cli_main
from explorer.core import maximize
from explorer.core.checkpoint import save_model
from explorer.core.synthesis import MaximizeSettings
from explorer.gui import dialogs
from explorer.gui.messages import AnalysisRequest, ExportDone
from explorer.gui.views.synthesis import job as job_module
from explorer.gui.views.synthesis.job import SynthesisImages, SynthesisRequest, SynthesisStopped
from explorer.gui.views.synthesis.view import SETTINGS_KEY, SynthesisView


def open_view(window, qtbot, steps: int = 16) -> SynthesisView:
    wiring = window.views["synthesized"]
    wiring.pane.steps.setValue(steps)  # remembered, and asked for once the view is open
    window.menu_actions["open_synthesis"].trigger()
    assert wiring.dock.isVisible()
    return wiring


def final(result) -> bool:
    return isinstance(result, SynthesisImages) and result.done


def recording_progress(monkeypatch, view: SynthesisView) -> list[SynthesisImages]:
    """Every intermediate result the controller hands the view (it looks on_progress up on the view at each call)."""
    seen: list[SynthesisImages] = []
    real = view.on_progress

    def recording(progress: object) -> None:
        if isinstance(progress, SynthesisImages):
            seen.append(progress)
        real(progress)

    monkeypatch.setattr(view, "on_progress", recording)
    return seen


def test_the_view_shows_intermediate_images_then_the_final_one(window, qtbot, model, monkeypatch):
    progressed = recording_progress(monkeypatch, window.views["synthesized"])
    titles: list[str] = []  # what the picture's title said at each intermediate result
    pane_view = window.views["synthesized"].pane.view
    real_set_title = pane_view.set_title
    monkeypatch.setattr(pane_view, "set_title", lambda text: (titles.append(text), real_set_title(text))[1])
    with qtbot.waitSignal(window.controller.result_ready, check_params_cb=final) as got:
        wiring = open_view(window, qtbot, steps=24)
    result = got.args[0]
    assert result.features == (window.state.feature,) and result.layer == window.state.layer
    steps = [p.step for p in progressed if p.request_id == result.request_id]
    assert steps == [8, 16, 24] and all(not p.done for p in progressed)
    assert progressed[0].images.shape == (1, 32, 32, 3) and not progressed[0].images.flags.writeable
    assert not np.array_equal(progressed[0].images, result.images)  # the picture changed while it optimized
    expected = images_rgb8(maximize(model, window.state.layer, [window.state.feature], steps=24))
    assert np.array_equal(result.images, expected)
    shown = wiring.pane.view.image_item.image
    assert np.allclose(shown, result.images[0] / 255.0)
    assert wiring.pane.view.title_text().endswith(f"step 24/24, reaches {float(result.values[0]):.2f}")
    prefix = f"{result.layer} feature {window.state.feature}: step"
    assert [t for t in titles if t.startswith(prefix)][:2] == [f"{prefix} 8/24", f"{prefix} 16/24"]  # shown live


def test_a_new_feature_stops_the_running_synthesis_latest_wins(window, qtbot, monkeypatch):
    started: list[SynthesisRequest] = []
    outcomes: dict[int, object] = {}  # request id -> what its synthesis returned on the worker
    real_synthesize = job_module.synthesize

    def recorded_synthesize(worker, request: SynthesisRequest):
        started.append(request)
        outcomes[request.id] = real_synthesize(worker, request)
        return outcomes[request.id]

    monkeypatch.setattr(job_module, "synthesize", recorded_synthesize)
    answered: list[object] = []  # every answer delivered to a view
    window.controller.result_ready.connect(answered.append)
    wiring = open_view(window, qtbot, steps=3000)
    qtbot.waitUntil(lambda: len(started) == 1)
    with qtbot.waitSignal(window.controller.result_ready, check_params_cb=final) as got:
        wiring.pane.steps.setValue(5)  # r2 replaces r1 (stopped) ...
        window.state.select(feature=7)  # ... and r3 replaces r2 while it waits
    assert got.args[0].features == (7,) and got.args[0].steps == 5
    assert [(r.features, r.settings.steps) for r in started] == [((0,), 3000), ((7,), 5)]
    first = started[0].id
    assert isinstance(outcomes[first], SynthesisStopped)  # r1 stopped early, not after its 3000 steps
    assert outcomes[first].step < 3000
    assert all(a.request_id != first for a in answered)  # its stop is stale: the view was not told of it
    assert wiring.pane.view.title_text().startswith("conv1 feature 7: step 5/5")
    assert not wiring.pane.status.text().startswith("Stopped") and not wiring.pane.cancel.isEnabled()


def test_cancel_stops_and_says_so(window, qtbot):
    wiring = open_view(window, qtbot, steps=3000)
    qtbot.waitUntil(lambda: wiring.pane.progress.value() >= 8)
    with qtbot.waitSignal(window.controller.result_ready, check_params_cb=lambda r: isinstance(r, SynthesisStopped)):
        wiring.pane.cancel.click()
    assert wiring.pane.status.text().startswith("Stopped after") and not wiring.pane.cancel.isEnabled()


def test_results_are_cached_per_feature_and_settings(window, qtbot, monkeypatch):
    with qtbot.waitSignal(window.controller.result_ready, check_params_cb=final):
        wiring = open_view(window, qtbot, steps=6)
    with qtbot.waitSignal(window.controller.result_ready, check_params_cb=final):
        window.state.select(feature=3)
    progressed = recording_progress(monkeypatch, wiring)
    with qtbot.waitSignal(window.controller.result_ready, check_params_cb=final) as got:
        window.state.select(feature=0)
    assert got.args[0].cached == 1 and not progressed  # nothing optimized again
    assert wiring.pane.view.title_text().startswith("conv1 feature 0: step 6/6")
    with qtbot.waitSignal(window.controller.result_ready, check_params_cb=final) as got:
        wiring.pane.seed.setValue(4)  # other settings: computed anew
    assert got.args[0].cached == 0 and got.args[0].settings.seed == 4


def test_whole_layer_fills_the_grid_and_a_click_selects(window, qtbot):
    with qtbot.waitSignal(window.controller.result_ready, check_params_cb=final):
        wiring = open_view(window, qtbot, steps=4)
    with qtbot.waitSignal(window.controller.result_ready, check_params_cb=final) as got:
        wiring.pane.whole.click()
    assert got.args[0].features == tuple(range(32)) and got.args[0].cached == 1  # feature 0 was cached
    assert wiring.pane.overview_features == tuple(range(32))
    side = 32 * 3 + 3  # an enlarged tile and its gap
    wiring.pane.overview.clicked.emit(3 + 2 * side + 5, 3 + side + 5)  # row 1, column 2
    assert window.state.feature == 10


def test_settings_are_remembered(make_window, images, settings, qtbot):
    w = make_window(images=images)
    w.views["synthesized"].pane.jitter.setValue(5)
    w.views["synthesized"].pane.param.setCurrentText("fourier")
    assert '"jitter": 5' in str(settings.value(SETTINGS_KEY))
    again = make_window(images=images)
    assert again.views["synthesized"].settings == MaximizeSettings(param="fourier", jitter=5)
    assert again.views["synthesized"].pane.param.currentText() == "fourier"


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "data"
    rng = np.random.default_rng(5)
    (root / "test" / "cat").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / "test" / "cat" / f"{i}.png")
    return root


def test_export_writes_what_the_command_line_writes(make_window, model, data_dir, qtbot, monkeypatch, tmp_path):
    checkpoint = tmp_path / "seednet.pt"
    save_model(model, checkpoint)
    w = make_window(checkpoint=str(checkpoint), source=str(data_dir), split="test")
    qtbot.waitUntil(lambda: w.state.images is not None and w.state.shown is not None and all_predicted(w))
    w.state.select(layer="conv2")
    w.state.select(feature=9)
    with qtbot.waitSignal(w.controller.result_ready, check_params_cb=final):
        wiring = open_view(w, qtbot, steps=5)
    path = tmp_path / "window.png"
    monkeypatch.setattr(dialogs, "get_save_file_name", lambda *a, **k: (str(path), ""))
    with qtbot.waitSignal(w.controller.result_ready, check_params_cb=lambda r: isinstance(r, ExportDone)) as done:
        wiring.pane.export.click()
    assert done.args[0].kind == "maximize"
    out = tmp_path / "cli.png"
    argv = ["export", "maximize", "--layer", "conv2", "--features", "9", "--steps", "5",
            "--checkpoint", str(checkpoint), "--device", "cpu", "--out", str(out)]  # fmt: skip
    assert cli_main(argv) == 0
    assert path.read_bytes() == out.read_bytes()


def test_a_synthesis_waiting_while_new_images_open_still_runs(window, qtbot, monkeypatch):
    # Synthesis does not depend on the images: one asked for while the worker was busy, and overtaken in the line by
    # the opening of other images, must still run and end in its images (not leave the view waiting for ever).
    gate, entered = threading.Event(), threading.Event()
    real_run = AnalysisRequest.run

    def blocked_run(request, worker):
        entered.set()
        gate.wait(10)
        return real_run(request, worker)

    monkeypatch.setattr(AnalysisRequest, "run", blocked_run)
    window.menu_actions["open_occlusion"].trigger()  # keeps the worker busy until the gate opens
    qtbot.waitUntil(entered.is_set)
    try:
        wiring = open_view(window, qtbot, steps=6)  # waits behind the occlusion
        window.sources.open_source("probes")  # waits too, and runs first
        assert wiring.pane.cancel.isEnabled()
        with qtbot.waitSignal(window.controller.result_ready, check_params_cb=final) as got:
            gate.set()
    finally:
        gate.set()
    assert window.state.images.name != "random"
    assert got.args[0].features == (window.state.feature,) and wiring.shown is got.args[0]
    assert wiring.pane.view.title_text().startswith(f"conv1 feature {window.state.feature}: step 6/6")
    assert not wiring.pane.cancel.isEnabled()


def test_cancel_of_a_waiting_synthesis_says_so_and_the_feature_can_be_asked_again(window, qtbot, monkeypatch):
    # A synthesis waiting behind another job is forgotten by Cancel: no answer comes, so the view must say so itself.
    gate, entered = threading.Event(), threading.Event()
    real_run = AnalysisRequest.run

    def blocked_run(request, worker):
        entered.set()
        gate.wait(10)
        return real_run(request, worker)

    monkeypatch.setattr(AnalysisRequest, "run", blocked_run)
    started: list[SynthesisRequest] = []
    real_synthesize = job_module.synthesize
    monkeypatch.setattr(job_module, "synthesize", lambda w, r: (started.append(r), real_synthesize(w, r))[1])
    window.menu_actions["open_occlusion"].trigger()  # keeps the worker busy until the gate opens
    qtbot.waitUntil(entered.is_set)
    try:
        wiring = open_view(window, qtbot, steps=6)  # waits behind the occlusion
        assert wiring.pane.cancel.isEnabled()
        wiring.pane.cancel.click()
        assert not wiring.pane.cancel.isEnabled() and wiring.pane.status.text() == "Cancelled."
    finally:
        gate.set()
    occlusion = window.views["occlusion"]
    # The occlusion paused when the synthesis tab went in front of it (it runs again when shown): the worker ends idle.
    qtbot.waitUntil(lambda: window.controller.running is None and not occlusion.on_screen)
    assert not started  # it never ran
    feature = window.state.feature
    window.state.select(feature=feature + 1)
    with qtbot.waitSignal(window.controller.result_ready, check_params_cb=final) as got:
        window.state.select(feature=feature)  # asked again: it runs
    assert got.args[0].features == (feature,) and wiring.shown is got.args[0]
    assert not wiring.pane.cancel.isEnabled()
