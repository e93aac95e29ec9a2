"""The Backpropagation view: opened from the menu, counted on the worker, clicked, scrubbed, exported like the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import all_predicted
from PIL import Image
from PySide6.QtCore import Qt

from explorer.cli import main as cli_main
from explorer.core.backprop import explain_delta
from explorer.core.checkpoint import save_model
from explorer.gui import dialogs
from explorer.gui.messages import AnalysisRequest, ExportDone
from explorer.gui.views.backprop import BackpropView


def open_view(window, qtbot) -> BackpropView:
    wiring = window.views["backpropagation"]
    assert not wiring.dock.isVisible()
    window.menu_actions["open_backprop"].trigger()
    qtbot.waitUntil(lambda: wiring.shown is not None)
    assert wiring.dock.isVisible()
    return wiring


def shown_element(wiring: BackpropView) -> tuple:
    e = wiring.shown.figure.explanation if wiring.shown is not None else None
    return (wiring.shown.figure.index, e.layer, e.channel, e.row, e.col) if e is not None else ()


def test_the_menu_opens_the_view_and_the_worker_counts(window, qtbot, model, images):
    wiring = open_view(window, qtbot)
    f = wiring.shown.figure
    e = f.explanation
    assert shown_element(wiring) == (window.state.image, "conv2", 0, 8, 8)
    reference = explain_delta(model, images.tensor([f.index]), int(images.labels[f.index]), "conv2", 0, 8, 8)
    assert e.total == pytest.approx(reference.total, rel=1e-6, abs=1e-12)
    assert abs(e.total - e.autograd) <= 1e-5 * max(abs(e.autograd), 1e-9)
    pane = wiring.pane
    assert pane.out_channel.value() == f.out_channel == reference.strongest_channel()
    assert pane.checks.text().splitlines()[2].startswith(f"autograd dC/dx = {e.autograd:.6e}")
    assert "rot180" in pane.caption.text() and "'full'" in pane.caption.text()
    assert pane.table_titles[3].text().endswith(f"sum = {pane.table_titles[3].text().split('= ')[1]}")


def test_a_click_in_the_input_map_counts_that_element(window, qtbot):
    wiring = open_view(window, qtbot)
    wiring.pane.views[1].clicked.emit(3.4, 11.7)  # x right, y down
    qtbot.waitUntil(lambda: shown_element(wiring)[3:] == (11, 3))
    assert wiring.pane.position.text().startswith("(11, 3)")
    wiring.pane.views[1].clicked.emit(40.0, 2.0)  # outside the 16x16 map: nothing asked
    qtbot.wait(200)
    assert shown_element(wiring)[3:] == (11, 3)


def test_keys_scrub_the_output_channel_without_the_worker(window, qtbot, monkeypatch):
    wiring = open_view(window, qtbot)
    pane = wiring.pane
    sent: list = []
    monkeypatch.setattr(window.controller, "submit", lambda job, owner: sent.append(job))
    start = pane.out_channel.value()
    step = 1 if start < 63 else -1
    pane.views[2].setFocus()
    qtbot.waitUntil(lambda: pane.views[2].hasFocus())
    qtbot.keyClick(pane.views[2], Qt.Key.Key_BracketRight if step == 1 else Qt.Key.Key_BracketLeft)
    assert pane.out_channel.value() == start + step
    assert pane.figure.out_channel == start + step
    assert pane.table_titles[0].text() == f"kernel k[{start + step}, 0]"
    assert not [r for r in sent if isinstance(r, AnalysisRequest)]


def test_a_new_layer_keeps_the_element_inside_its_input(window, qtbot):
    wiring = open_view(window, qtbot)
    pane = wiring.pane
    pane.channel.setValue(20)
    qtbot.waitUntil(lambda: shown_element(wiring)[2] == 20)
    pane.views[1].clicked.emit(15.5, 14.5)
    qtbot.waitUntil(lambda: shown_element(wiring)[3:] == (14, 15))
    pane.layer.setCurrentText("conv1")  # 3 input channels, 32x32: channel 20 moves to 2, the position stays
    qtbot.waitUntil(lambda: shown_element(wiring)[1:] == ("conv1", 2, 14, 15))
    assert wiring.shown.figure.explanation.below is None
    assert pane.checks.text().splitlines()[-1] == "conv1 reads the input: no f' below"
    pane.views[1].clicked.emit(31.0, 30.0)
    qtbot.waitUntil(lambda: shown_element(wiring)[3:] == (30, 31))
    pane.layer.setCurrentText("conv2")  # 16x16: clamped into the map
    qtbot.waitUntil(lambda: shown_element(wiring)[1:] == ("conv2", 2, 15, 15))


def test_the_view_follows_the_windows_image(window, qtbot):
    wiring = open_view(window, qtbot)
    window.state.select(image=7)
    qtbot.waitUntil(lambda: shown_element(wiring)[:1] == (7,))
    assert wiring.pane.views[0].title_text().startswith("#7")


# Export: the window's bytes are the command line's ------------------------------------------------


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


@pytest.mark.parametrize("ext", ["png", "svg"])
def test_export_writes_what_the_command_line_writes(make_window, model, data_dir, qtbot, monkeypatch, tmp_path, ext):
    checkpoint = tmp_path / "seednet.pt"
    save_model(model, checkpoint)
    w = make_window(checkpoint=str(checkpoint), source="probes")
    w.sources.open_source(str(data_dir), "test")
    qtbot.waitUntil(
        lambda: (
            w.state.images is not None and len(w.state.images) == 6 and w.state.shown is not None and all_predicted(w)
        )
    )
    w.state.select(image=4)
    wiring = open_view(w, qtbot)
    qtbot.waitUntil(lambda: shown_element(wiring)[:1] == (4,))
    wiring.pane.views[1].clicked.emit(0.2, 5.5)
    qtbot.waitUntil(lambda: shown_element(wiring)[3:] == (5, 0))
    wiring.pane.out_channel.setValue(11)
    path = tmp_path / f"window.{ext}"
    monkeypatch.setattr(dialogs, "get_save_file_name", lambda *a, **k: (str(path), ""))
    with qtbot.waitSignal(w.controller.result_ready, check_params_cb=lambda r: isinstance(r, ExportDone)) as done:
        wiring.pane.export.click()
    assert done.args[0].kind == "backprop" and done.args[0].path == str(path)
    out = tmp_path / f"cli.{ext}"
    argv = ["export", "backprop", "--layer", "conv2", "--image", "4", "--channel", "0", "--position", "5,0",
            "--out-channel", "11", "--checkpoint", str(checkpoint), "--data", str(data_dir), "--split", "test",
            "--device", "cpu", "--out", str(out)]  # fmt: skip
    assert cli_main(argv) == 0
    assert path.read_bytes() == out.read_bytes()


def test_opening_it_at_1024x640_leaves_the_prediction_its_ten_classes(window, qtbot):
    """The view asks for 60% of the height only as far as the docks on the right keep what their panes need."""
    window.resize(1024, 640)
    qtbot.wait(100)
    before = window.docks["prediction"].height()
    window.menu_actions["open_backprop"].trigger()
    qtbot.wait(200)  # the resize happens once the dock is shown
    assert window.docks["prediction"].height() >= before - 2  # not squeezed to three of its ten classes
    assert window.docks["backpropagation"].isVisible()
