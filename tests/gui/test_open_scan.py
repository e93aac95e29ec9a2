"""File > Open scan results…: a scan made elsewhere is shown when it fits the open model and images, else the pane says why."""

from __future__ import annotations

import numpy as np
import torch

from explorer.core.images import ImageSet
from explorer.core.model import CLASSES, SeedNet
from explorer.core.scan import FIELDS, save_top_k, scan_top_k
from explorer.core.scan_file import describe, save_scan
from explorer.gui import dialogs
from explorer.gui.messages import Failure
from explorer.gui.scan_job import ScanFinished

LAYERS = ["conv1", "conv2"]


def scan_file(path, model, images, k=5):
    results = scan_top_k(model, images, LAYERS, k)
    save_scan(results, describe(model, images, LAYERS, k, "test model"), path)
    return results


def open_file(window, qtbot, monkeypatch, path):
    monkeypatch.setattr(dialogs, "get_open_file_name", lambda *a, **kw: str(path))
    with qtbot.waitSignal(window.controller.scan_ended, check_params_cb=lambda r: not hasattr(r, "cached_only")) as b:
        window.menu_actions["open_scan"].trigger()
    return b.args[0]


def test_a_matching_scan_file_is_shown(window, model, images, qtbot, monkeypatch, tmp_path):
    path = tmp_path / "from-the-cluster.npz"
    expected = scan_file(path, model, images, k=5)
    outcome = open_file(window, qtbot, monkeypatch, path)
    assert isinstance(outcome, ScanFinished), outcome
    assert outcome.from_file == str(path)
    for layer in LAYERS:
        for f in FIELDS:
            np.testing.assert_array_equal(getattr(outcome.results[layer], f), getattr(expected[layer], f))
    assert window.views["top_images"].scan is outcome
    assert "from-the-cluster.npz" in window.statusBar().currentMessage()
    qtbot.waitUntil(
        lambda: window.views["top_images"].shown is not None and window.views["top_images"].shown.layer == "conv1"
    )
    assert window.views["top_images"].shown.indices == tuple(int(i) for i in expected["conv1"].indices[0])
    assert not window.views["top_images"].pane.note.isVisibleTo(window.views["top_images"].pane)


def test_a_scan_file_of_other_images_or_weights_is_refused_with_the_reason(
    window, model, images, qtbot, monkeypatch, tmp_path
):
    rng = np.random.default_rng(1)
    others = ImageSet("others", CLASSES, np.zeros(40, np.int64), pixels=rng.integers(0, 256, (40, 32, 32, 3), np.uint8))
    torch.manual_seed(5)
    retrained = SeedNet().eval()
    cases = [
        (others, model, "it was made from other images: others (40 images), not the open random (40 images)"),
        (images, retrained, "it was made with other model weights (test model)"),
    ]
    for data, net, why in cases:
        path = tmp_path / "elsewhere.npz"
        scan_file(path, net, data)
        outcome = open_file(window, qtbot, monkeypatch, path)
        assert isinstance(outcome, Failure), outcome
        assert outcome.message == f"elsewhere.npz is not shown: {why}"
        assert window.views["top_images"].pane.note.text() == outcome.message
        assert window.views["top_images"].pane.note.isVisibleTo(window.views["top_images"].pane)
        assert window.views["top_images"].scan is None  # nothing from the file is shown
    old = tmp_path / "old.npz"
    save_top_k(scan_top_k(model, images, LAYERS, 3), old)  # a file with no record of what it was made from
    outcome = open_file(window, qtbot, monkeypatch, old)
    assert isinstance(outcome, Failure) and "no record of the model and images" in outcome.message
