"""File > Open model… and the model switcher: the window follows the open model, and a model that
fails to load leaves the previous one open with one message."""

from __future__ import annotations

import textwrap
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import all_predicted
from PySide6.QtWidgets import QMessageBox

from explorer.gui.messages import ModelRequest
from explorer.gui.scan_job import ScanFinished
from explorer.gui.views.choices import open_model_dialog
from explorer.gui.views.choices.open_model_dialog import OpenModelDialog

USER_MODEL = textwrap.dedent(
    """
    import torch
    from torch import nn

    class TinyNet(nn.Module):
        input_size = 32

        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 8, 3, padding=1)
            self.r1 = nn.ReLU()
            self.p1 = nn.MaxPool2d(2)
            self.c2 = nn.Conv2d(8, 12, 3, padding=1)
            self.r2 = nn.ReLU()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(12, 10)

        def forward(self, x):
            x = self.p1(self.r1(self.c1(x)))
            x = self.pool(self.r2(self.c2(x)))
            return self.fc(torch.flatten(x, 1))
    """
)


@pytest.fixture
def user_model(tmp_path):
    """(spec, checkpoint) of a user's model class in a file, with random weights saved beside it."""
    path = tmp_path / "tiny.py"
    path.write_text(USER_MODEL)
    namespace: dict = {}
    exec(compile(USER_MODEL, str(path), "exec"), namespace)
    torch.manual_seed(1)
    checkpoint = tmp_path / "tiny.pt"
    torch.save(namespace["TinyNet"]().state_dict(), checkpoint)
    return f"{path}:TinyNet", str(checkpoint)


def _layer_items(w) -> list[str]:
    return [
        w.views["layer_and_feature"].pane.layer.itemData(i)
        for i in range(w.views["layer_and_feature"].pane.layer.count())
    ]


def _open_from_dialog(w, monkeypatch, request: ModelRequest) -> None:
    monkeypatch.setattr(open_model_dialog, "ask_model", lambda parent: request)
    w.menu_actions["open_model"].trigger()


def test_a_user_model_from_a_file_opens_and_the_views_follow_it(window, user_model, monkeypatch, qtbot):
    w = window
    spec, checkpoint = user_model
    assert _layer_items(w) == ["conv1", "conv2"]
    opened: list[object] = []
    w.state.model_changed.connect(opened.append)
    _open_from_dialog(w, monkeypatch, ModelRequest(spec, checkpoint))
    qtbot.waitUntil(lambda: _layer_items(w) == ["r1", "r2"])
    assert opened == [w.state.opened]  # the new model, once
    assert w.status.model_name.text() == "model: TinyNet (tiny.pt)"
    assert w.views["layer_and_feature"].pane.model.currentText() == "tiny.py:TinyNet with tiny.pt"
    # The views come back for the new model's layer, computed by that model.
    qtbot.waitUntil(lambda: w.state.shown is not None and w.state.shown.layer == "r1")
    assert w.state.shown.activations.shape == (8, 32, 32)
    _title, projection = w.state.shown.projections[0]
    assert projection.shape == (3, 32, 32) and np.abs(projection).sum() > 0
    model = w.state.model
    x = w.state.images.tensor([w.state.shown.index], torch.device("cpu"))
    with torch.no_grad():
        expected = torch.relu(model.c1(x))[0].numpy()
    np.testing.assert_allclose(w.state.shown.activations, expected, rtol=1e-5, atol=1e-6)
    assert w.views["layer_and_feature"].pane.feature.maximum() == 7
    w.state.select(layer="r2")
    qtbot.waitUntil(lambda: w.state.shown.layer == "r2" and w.state.shown.activations.shape == (12, 16, 16))
    qtbot.waitUntil(lambda: all_predicted(w))


def test_a_broken_model_file_keeps_the_previous_model_and_says_why(window, tmp_path, monkeypatch, qtbot):
    w = window
    broken = tmp_path / "broken.py"
    broken.write_text("from torch import nn\n\nclass Other(nn.Module):\n    pass\n")
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: warnings.append(a[2]))
    model = w.state.model
    shown = w.state.shown
    _open_from_dialog(w, monkeypatch, ModelRequest(f"{broken}:TinyNet"))
    qtbot.waitUntil(lambda: len(warnings) == 1)
    assert "broken.py:TinyNet could not be opened" in warnings[0] and "TinyNet" in warnings[0]
    assert "stays open" in warnings[0]
    assert w.state.model is model and w.controller.worker.model is model
    assert _layer_items(w) == ["conv1", "conv2"]
    w.state.select(feature=3)  # the views still work on the previous model
    qtbot.waitUntil(
        lambda: w.state.shown is not shown and w.state.shown.feature == 3 and w.state.shown.layer in ("conv1", "conv2")
    )


def test_switching_back_to_seednet_restores_its_layers(window, user_model, monkeypatch, qtbot):
    w = window
    _open_from_dialog(w, monkeypatch, ModelRequest(*user_model))
    qtbot.waitUntil(lambda: _layer_items(w) == ["r1", "r2"])
    switcher = w.views["layer_and_feature"].pane.model
    switcher.setCurrentIndex(switcher.findData("seednet"))
    switcher.activated.emit(switcher.currentIndex())
    qtbot.waitUntil(lambda: _layer_items(w) == ["conv1", "conv2"])
    assert w.status.model_name.text() == "model: SeedNet (bundled)"
    qtbot.waitUntil(lambda: w.state.shown is not None and w.state.shown.layer in ("conv1", "conv2"), timeout=60000)
    assert w.state.shown.activations.shape[0] in (32, 64)


def test_a_model_of_another_input_size_is_shown_at_its_size_with_a_message(window, user_model, monkeypatch, qtbot):
    """The views follow a model of any input size: the status bar says its size, the images are prepared at it,
    and nothing of the previous model is left on screen as if it were this one's."""
    w = window
    spec, checkpoint = user_model
    at_change: list = []
    w.state.model_changed.connect(lambda _opened: at_change.append(w.state.shown))
    _open_from_dialog(w, monkeypatch, ModelRequest(spec, checkpoint, input_size=64))
    qtbot.waitUntil(lambda: _layer_items(w) == ["r1", "r2"])
    assert at_change == [None]  # SeedNet's pass was gone the moment the model changed
    assert "64×64 input" in w.statusBar().currentMessage()
    assert not w.device_notice.isVisible()  # no view is turned off
    qtbot.waitUntil(lambda: w.state.shown is not None and w.state.shown.layer == "r1")
    shown = w.state.shown
    assert shown.image.shape == (64, 64, 3) and shown.activations.shape == (8, 64, 64)
    assert shown.projections[0][1].shape == (3, 64, 64)


def test_the_dialog_builds_the_request_from_its_fields(qtbot, user_model):
    dialog = OpenModelDialog()
    qtbot.addWidget(dialog)
    dialog.architecture.setEditText("torchvision:vgg11_bn")
    dialog.checkpoint.setText("/x/vgg.pt")
    dialog.num_classes.setValue(10)
    dialog.input_size.setValue(32)
    r = dialog.request()
    assert (r.spec, r.checkpoint, r.num_classes, r.input_size) == ("torchvision:vgg11_bn", "/x/vgg.pt", 10, 32)
    assert open_model_dialog._only_class(user_model[0].split(":")[0]) == "TinyNet"


def test_analyse_views_drop_what_the_previous_model_computed(window, user_model, monkeypatch, qtbot):
    w = window
    occlusion, synthesis = w.views["occlusion"], w.views["synthesized"]
    occlusion.pane.size_box.setValue(16)
    occlusion.pane.stride_box.setValue(8)  # 3 x 3 positions: quick
    synthesis.pane.show_settings(replace(synthesis.settings, steps=4))
    synthesis.pane.settings_changed.emit(synthesis.pane.settings())  # as editing a setting says
    occlusion.open()
    qtbot.waitUntil(lambda: occlusion.shown is not None, timeout=60_000)  # before a tab in front would pause it
    synthesis.open()
    qtbot.waitUntil(lambda: synthesis.shown is not None, timeout=60_000)
    assert occlusion.shown.figure.request.layer == "conv1" and synthesis.shown.layer == "conv1"
    at_change: list[tuple] = []  # connected after the views' own slots, so it sees what they left on show
    w.state.model_changed.connect(
        lambda _opened: at_change.append(
            (occlusion.shown, occlusion.pane.figure, synthesis.shown, synthesis.pane.view.image_item.image)
        )
    )
    _open_from_dialog(w, monkeypatch, ModelRequest(*user_model))
    qtbot.waitUntil(lambda: _layer_items(w) == ["r1", "r2"])
    # The moment the model changed, nothing computed by SeedNet is shown any more...
    assert at_change == [(None, None, None, None)]
    # ...and the open views compute again, with the new model: the one in front at once, the one in the tab behind
    # it once its tab is in front.
    qtbot.waitUntil(lambda: synthesis.shown is not None, timeout=60_000)
    assert occlusion.shown is None and not occlusion.on_screen
    occlusion.dock.raise_()
    qtbot.waitUntil(lambda: occlusion.shown is not None, timeout=60_000)
    assert occlusion.shown.figure.request.layer == "r1" and synthesis.shown.layer == "r1"
    assert occlusion.shown.figure.target_probs.shape == (3, 3)


def test_synthesized_images_of_a_same_named_layer_are_not_served_from_the_previous_model(window, qtbot):
    # SeedNet and zfnet-cifar both have a conv1: the worker's synthesized-image cache was keyed by the
    # fingerprint of the first model it saw, so after a switch it served SeedNet's images as zfnet-cifar's.
    w, synthesis = window, window.views["synthesized"]
    synthesis.pane.show_settings(replace(synthesis.settings, steps=4))
    synthesis.pane.settings_changed.emit(synthesis.pane.settings())  # as editing a setting says
    synthesis.open()
    qtbot.waitUntil(lambda: synthesis.shown is not None and synthesis.shown.layer == "conv1", timeout=60_000)
    before = synthesis.shown.images[0].copy()
    w.views["layer_and_feature"].open_model(ModelRequest("zfnet-cifar", None))
    qtbot.waitUntil(lambda: w.state.opened.info.name.startswith("zfnet"), timeout=60_000)
    qtbot.waitUntil(lambda: synthesis.shown is not None and synthesis.shown.layer == "conv1", timeout=60_000)
    assert synthesis.shown.cached == 0  # computed with the new model, not found under the old one's key
    assert not np.array_equal(synthesis.shown.images[0], before)


def test_a_scan_after_a_model_switch_runs_on_a_private_copy_of_the_new_model(window, user_model, monkeypatch, qtbot):
    w = window
    spec, checkpoint = user_model
    _open_from_dialog(w, monkeypatch, ModelRequest(spec, checkpoint))
    qtbot.waitUntil(lambda: _layer_items(w) == ["r1", "r2"])
    w.views["top_images"].batch_size = 8
    with qtbot.waitSignal(w.controller.scan_ended, check_params_cb=lambda r: isinstance(r, ScanFinished)) as blocker:
        w.views["top_images"].start_scan(3)
    assert set(blocker.args[0].results) == {"r1", "r2"}
    # The scan thread's model is its own copy of the open model: same weights, no tensor shared.
    open_model = w.state.model
    (copy,) = w.controller.scan_job._copies.values()
    assert copy is not open_model and type(copy).__name__ == "TinyNet"
    for (name, mine), theirs in zip(copy.state_dict().items(), open_model.state_dict().values(), strict=True):
        assert torch.equal(mine, theirs) and mine.data_ptr() != theirs.data_ptr(), name


def test_the_window_opens_a_torchvision_model_with_the_flags_given(tmp_path, qapp):
    """--weights, --resize and --classes reach the window's model, and a model reopened from the switcher
    comes back with the same weights and preprocessing (the window asked for the pretrained weights of a
    model started with --weights random, and failed without a network)."""
    import argparse

    import torch

    from explorer.core.model_meta import model_info
    from explorer.gui.app import load_for_window
    from explorer.gui.worker import Worker

    names = tmp_path / "names.txt"
    names.write_text("\n".join(f"thing {i}" for i in range(1000)))
    args = argparse.Namespace(
        model="torchvision:resnet18", checkpoint=None, device="cpu", weights="random", resize=240, classes=str(names)
    )
    loaded = load_for_window(args, lambda _text: None)
    info = model_info(loaded.model)
    assert "random weights" in info.name and info.resize == 240 and info.classes[7] == "thing 7"
    request = ModelRequest.reopening(info)
    assert (request.weights, request.resize, request.input_size) == ("random", 240, 224)
    worker = Worker(loaded.model, torch.device("cpu"))
    request.run(worker)  # on the caller's thread: what the worker thread runs
    reopened = model_info(worker.model)
    assert worker.model is not loaded.model
    assert (reopened.resize, reopened.weights, reopened.mean, reopened.input_size) == (
        info.resize, info.weights, info.mean, info.input_size,
    )  # fmt: skip
