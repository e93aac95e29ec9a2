"""The Synthesized view: live intermediate images, latest wins, cancel, cache, settings remembered, export like the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import all_predicted
from PIL import Image

from explorer.cli import main as cli_main
from explorer.core import maximize
from explorer.core.checkpoint import save_model
from explorer.core.synthesis import MaximizeSettings
from explorer.export.maximize_figure import images_rgb8
from explorer.gui import dialogs
from explorer.gui import worker as worker_module
from explorer.gui.messages import ExportDone, SynthesisImages, SynthesisRequest, SynthesisStopped
from explorer.gui.synthesis_wiring import SETTINGS_KEY, SynthesisWiring


def open_view(window, qtbot, steps: int = 16) -> SynthesisWiring:
    wiring = window.synthesis_wiring
    wiring.pane.steps.setValue(steps)  # remembered, and asked for once the view is open
    window.menu_actions["open_synthesis"].trigger()
    assert wiring.dock.isVisible()
    return wiring


def final(result) -> bool:
    return isinstance(result, SynthesisImages) and result.done


def test_the_view_shows_intermediate_images_then_the_final_one(window, qtbot, model):
    progressed: list[SynthesisImages] = []
    window.controller.synthesis_progressed.connect(progressed.append)
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


def test_a_new_feature_stops_the_running_synthesis_latest_wins(window, qtbot, monkeypatch):
    started: list[SynthesisRequest] = []
    real_synthesize = worker_module.synthesize

    def recorded_synthesize(worker, request: SynthesisRequest):
        started.append(request)
        return real_synthesize(worker, request)

    monkeypatch.setattr(worker_module, "synthesize", recorded_synthesize)
    wiring = open_view(window, qtbot, steps=3000)
    qtbot.waitUntil(lambda: len(started) == 1)
    stopped = lambda r: isinstance(r, SynthesisStopped)  # noqa: E731
    with (
        qtbot.waitSignal(window.controller.result_ready, check_params_cb=final) as got,
        qtbot.waitSignal(window.controller.result_ready, check_params_cb=stopped),
    ):
        wiring.pane.steps.setValue(5)  # r2 replaces r1 (stopped) ...
        window.set_feature(7)  # ... and r3 replaces r2 while it waits
    assert got.args[0].features == (7,) and got.args[0].steps == 5
    assert [(r.features, r.settings.steps) for r in started] == [((0,), 3000), ((7,), 5)]
    assert wiring.pane.view.title_text().startswith("conv1 feature 7: step 5/5")


def test_cancel_stops_and_says_so(window, qtbot):
    wiring = open_view(window, qtbot, steps=3000)
    qtbot.waitUntil(lambda: wiring.pane.progress.value() >= 8)
    with qtbot.waitSignal(window.controller.result_ready, check_params_cb=lambda r: isinstance(r, SynthesisStopped)):
        wiring.pane.cancel.click()
    assert wiring.pane.status.text().startswith("Stopped after") and not wiring.pane.cancel.isEnabled()


def test_results_are_cached_per_feature_and_settings(window, qtbot):
    with qtbot.waitSignal(window.controller.result_ready, check_params_cb=final):
        wiring = open_view(window, qtbot, steps=6)
    with qtbot.waitSignal(window.controller.result_ready, check_params_cb=final):
        window.set_feature(3)
    progressed: list[SynthesisImages] = []
    window.controller.synthesis_progressed.connect(progressed.append)
    with qtbot.waitSignal(window.controller.result_ready, check_params_cb=final) as got:
        window.set_feature(0)
    assert got.args[0].cached == 1 and not progressed  # nothing optimized again
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
    w.synthesis_wiring.pane.jitter.setValue(5)
    w.synthesis_wiring.pane.param.setCurrentText("fourier")
    assert '"jitter": 5' in str(settings.value(SETTINGS_KEY))
    again = make_window(images=images)
    assert again.synthesis_wiring.settings == MaximizeSettings(param="fourier", jitter=5)
    assert again.synthesis_wiring.pane.param.currentText() == "fourier"


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
    qtbot.waitUntil(lambda: w.images is not None and w.shown is not None and all_predicted(w))
    w.set_layer("conv2")
    w.set_feature(9)
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
