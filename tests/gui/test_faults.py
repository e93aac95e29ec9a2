"""Faults the window must survive: no GPU, a GPU out of memory, a flood of scrubbing, a view cleared."""

from __future__ import annotations

import gc
import os
import threading

import numpy as np
import torch
from conftest import all_predicted
from PySide6.QtWidgets import QApplication

from explorer.core.images import ImageSet
from explorer.core.projection import project
from explorer.gui.forward_cache import PROBS, PROJECTORS
from explorer.gui.imaging import projection_to_rgb
from explorer.gui.messages import ViewResult
from explorer.gui.panes.pixel_view import PixelView
from explorer.gui.worker import CPU_FALLBACK


def test_cuda_without_a_gpu_runs_on_the_cpu_and_says_so(run_app_window, monkeypatch, threads_stopped):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, window, path = run_app_window(device="cuda")
    assert code == 0
    try:
        assert window.status.device.text() == "device: cpu"
        assert "CPU" in window.statusBar().currentMessage() and "no CUDA GPU" in window.statusBar().currentMessage()
        assert window.device_notice.isVisible() and "CPU" in window.device_notice.text.text()
        assert not window.device_notice.download.isVisible()  # nothing to download here
        # The model opened is the checkpoint given: exports refuse to overwrite that file.
        assert window.exporting.checkpoint == str(path) and window.state.opened.info.checkpoint == str(path)
    finally:
        window.close()


def test_out_of_memory_in_a_view_moves_the_model_and_views_to_the_cpu_and_says_so(
    make_window, model, images, qtbot, monkeypatch
):
    # A fake GPU that is full: every tensor the worker asks for on it runs out of memory.
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda _device=None: "Fake GPU")
    gate = threading.Event()  # holds the first request until the window has been seen on the GPU
    on_gpu: list[str] = []
    on_cpu: list[str] = []
    real_tensor = ImageSet.tensor

    def tensor_on_a_full_gpu(self, indices, device="cpu"):
        if torch.device(device).type != "cpu":
            gate.wait(30)
            on_gpu.append(torch.device(device).type)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        on_cpu.append("cpu")
        return real_tensor(self, indices, device)

    monkeypatch.setattr(ImageSet, "tensor", tensor_on_a_full_gpu)
    try:
        window = make_window(images=images, device=torch.device("cuda"))
        worker = window.controller.worker
        assert worker.device.type == "cuda" and window.status.device.text() == "device: cuda (Fake GPU)"
        moves: list[str] = []

        def recording_to(*args, **kwargs):
            moves.append(str(args[0] if args else kwargs.get("device")))
            return torch.nn.Module.to(model, *args, **kwargs)

        monkeypatch.setattr(model, "to", recording_to)
    finally:
        gate.set()
    qtbot.waitUntil(
        lambda: (
            window.state.shown is not None
            and window.views["feature_across_images"].shown is not None
            and all_predicted(window)
        )
    )
    assert on_gpu == ["cuda"]  # one request failed on the GPU; the retry and all that followed ran on the CPU
    assert moves == ["cpu"] and all(p.device.type == "cpu" for p in model.parameters())
    assert worker.device.type == "cpu" and worker.cache.device.type == "cpu"
    assert window.status.device.text() == "device: cpu (out of gpu memory)"
    assert window.statusBar().currentMessage() == f"⚠ {CPU_FALLBACK}"
    on_cpu.clear()
    window.state.select(feature=4)
    with qtbot.waitSignal(
        window.controller.result_ready,
        check_params_cb=lambda r: isinstance(r, ViewResult) and (r.index, r.feature) == (1, 4),
    ):
        window.state.select(image=1)  # a new forward pass: its images go to the CPU, not the GPU
    assert on_cpu and on_gpu == ["cuda"]
    expected = projection_to_rgb(project(model, real_tensor(images, [1]), "conv1", 4)[0, 0].numpy())
    np.testing.assert_allclose(window.views["projection"].pane.views[0].image_item.image, expected, atol=1e-6)


def _rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_10000_scrubs_build_no_backlog_keep_memory_flat_and_end_right(window, model, images, qtbot):
    window.state.select(layer="conv2")
    qtbot.waitUntil(lambda: window.state.shown.layer == "conv2" and window.controller.running is None)
    controller = window.controller
    gc.collect()
    before = _rss_bytes()
    most_waiting = 0
    for i in range(10000):
        window.views["layer_and_feature"].pane.feature.setValue(i % 64)
        kinds = [type(r) for r in controller.pending()]
        assert len(kinds) == len(set(kinds))  # at most one waiting per kind, at every moment
        most_waiting = max(most_waiting, len(kinds))
        if i % 10 == 0:
            QApplication.processEvents()  # let results in, so the worker keeps running while the flood goes on
    final = 9999 % 64
    qtbot.waitUntil(
        lambda: (
            window.state.shown.feature == final
            and window.views["feature_across_images"].shown is not None
            and window.views["feature_across_images"].shown.feature == final
            and controller.running is None
        )
    )
    gc.collect()
    grown = _rss_bytes() - before
    assert most_waiting <= 3, most_waiting  # a view, a page and a prediction batch at most
    assert grown < 50 * 2**20, f"resident memory grew {grown / 2**20:.0f} MB"
    assert len(controller.worker.cache) <= PROJECTORS + PROBS
    expected = projection_to_rgb(project(model, images.tensor([0]), "conv2", final)[0, 0].numpy())
    np.testing.assert_allclose(window.views["projection"].pane.views[0].image_item.image, expected, atol=1e-6)
    page = project(model, images.tensor(list(range(16))), "conv2", final)[:, 0].numpy()
    np.testing.assert_allclose(window.views["feature_across_images"].shown.page_projections, page, atol=1e-6)


def test_clearing_a_picture_view_keeps_it_usable(qtbot):
    view = PixelView("title")
    qtbot.addWidget(view)
    assert "clear" not in PixelView.__dict__  # pyqtgraph's layout clear is not shadowed
    view.set_image(np.zeros((4, 4, 3), np.float32))
    view.clear_picture()
    assert view.image_item.image is None and view.title_text() == "title"
    view.set_image(np.ones((2, 3, 3), np.float32))
    assert view.image_item.image.shape == (2, 3, 3)
    assert view.image_item in view.view_box.addedItems and view.view_box.viewRange()[0] == [0, 3]


def test_a_model_that_exits_or_raises_a_base_exception_fails_its_job_not_the_window(qapp, model):
    """A model's forward may call sys.exit() or raise a BaseException of its own: the job fails in one line."""
    from dataclasses import dataclass

    from explorer.gui.messages import Job
    from explorer.gui.worker import Worker

    class Odd(BaseException):
        pass

    @dataclass(frozen=True, eq=False)
    class Raises(Job):
        what: BaseException | None = None

        def run(self, worker):
            raise self.what

    worker = Worker(model, torch.device("cpu"))
    failures, results = [], []
    worker.request_failed.connect(failures.append)
    worker.result_ready.connect(results.append)
    worker.run(Raises(what=SystemExit(0)))
    worker.run(Raises(what=Odd("in forward")))
    assert not results and len(failures) == 2
    assert "sys.exit(0)" in failures[0].message and "\n" not in failures[0].message
    assert "Odd" in failures[1].message and "in forward" in failures[1].message
