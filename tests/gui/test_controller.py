"""The worker thread and the latest-wins controller."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest
import torch

from explorer.gui.controller import Controller
from explorer.gui.messages import PredictRequest, ViewRequest, ViewResult
from explorer.gui.worker import Worker


def test_latest_wins_r1_and_r3_run_r2_never(window, images, qtbot, monkeypatch):
    controller = window.controller
    gate = threading.Event()
    ran: list[int] = []
    real_view = Worker._view

    def blocked_view(worker: Worker, request: ViewRequest) -> ViewResult:
        ran.append(request.id)
        gate.wait(10)
        return real_view(worker, request)

    monkeypatch.setattr(Worker, "_view", blocked_view)
    r1, r2, r3 = (ViewRequest(images, i, "conv1", 0) for i in (1, 2, 3))
    for r in (r1, r2, r3):
        controller.submit(r)
    assert controller.running is r1
    assert controller.waiting(ViewRequest) is r3
    with qtbot.waitSignal(controller.result_ready, check_params_cb=lambda r: r.request_id == r3.id):
        gate.set()
    assert ran == [r1.id, r3.id]
    assert window.shown.request_id == r3.id


def test_a_stale_result_is_not_shown(window, images, qtbot):
    newer = window.shown
    old = ViewResult(
        newer.request_id - 1,
        7,
        "conv1",
        0,
        newer.image,
        newer.activations,
        newer.probs,
        newer.projections,
        1.0,
    )
    window.controller.result_ready.emit(old)
    assert window.shown is newer


def test_a_worker_exception_reaches_the_status_bar_and_the_next_request_runs(window, qtbot, monkeypatch):
    real_view = Worker._view

    def exploding_view(worker: Worker, request: ViewRequest) -> ViewResult:
        if request.feature == 3:
            raise RuntimeError("worker exploded on purpose")
        return real_view(worker, request)

    monkeypatch.setattr(Worker, "_view", exploding_view)
    with qtbot.waitSignal(window.controller.failed, check_params_cb=lambda f: "exploded" in f.message):
        window.set_feature(3)
    assert "worker exploded on purpose" in window.statusBar().currentMessage()
    with qtbot.waitSignal(
        window.controller.result_ready, check_params_cb=lambda r: isinstance(r, ViewResult) and r.feature == 4
    ):
        window.set_feature(4)


def test_a_bad_request_fails_cleanly(window, images, qtbot):
    with qtbot.waitSignal(window.controller.failed, check_params_cb=lambda f: "out of range" in f.message):
        window.controller.submit(ViewRequest(images, 0, "conv1", 999))
    assert "out of range" in window.statusBar().currentMessage()


def test_predictions_arrive_in_batches(qtbot, model, images, threads_stopped):
    controller = Controller(model, torch.device("cpu"))
    try:
        with qtbot.waitSignal(controller.result_ready) as blocker:
            controller.submit(PredictRequest(images, 10, 30))
        r = blocker.args[0]
        assert r.start == 10 and r.predicted.shape == (20,) and r.predicted.dtype.kind == "i"
        assert r.source_key == images.source_key
    finally:
        controller.shutdown()


def test_closing_mid_work_stops_the_thread(make_window, images, qtbot, threads_stopped, monkeypatch):
    w = make_window(images=images)
    gate = threading.Event()
    real_view = Worker._view

    def slow_view(worker: Worker, request: ViewRequest) -> ViewResult:
        gate.wait(0.5)
        return real_view(worker, request)

    monkeypatch.setattr(Worker, "_view", slow_view)
    w.set_feature(5)
    w.close()
    assert not any(t.isRunning() for t in threads_stopped)


@pytest.mark.gpu
def test_the_worker_on_cuda_sends_back_numpy_equal_to_the_cpu(qtbot, model, images, threads_stopped):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    request = ViewRequest(images, 3, "conv2", 5)
    results = []
    for device in ("cpu", "cuda"):
        controller = Controller(copy.deepcopy(model).to(device), torch.device(device))
        try:
            with qtbot.waitSignal(controller.result_ready, timeout=30000) as blocker:
                controller.submit(request)
            results.append(blocker.args[0])
        finally:
            controller.shutdown()
    cpu, cuda = results
    assert isinstance(cuda.activations, np.ndarray) and isinstance(cuda.projections[0][1], np.ndarray)
    np.testing.assert_allclose(cuda.projections[0][1], cpu.projections[0][1], atol=1e-4)
    np.testing.assert_allclose(cuda.probs, cpu.probs, atol=1e-5)
