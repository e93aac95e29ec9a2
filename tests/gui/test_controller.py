"""The worker thread and the controller: one job running, per owner and kind one waiting (latest wins), answers
delivered to their owner only when they answer its newest job."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest
import torch

from explorer.gui.controller import Controller
from explorer.gui.messages import Failure, PredictRequest, ViewRequest, ViewResult


class Owner:
    """Records what the controller delivers to it."""

    def __init__(self) -> None:
        self.results: list[object] = []
        self.failures: list[Failure] = []
        self.progress: list[object] = []

    def on_result(self, result: object) -> None:
        self.results.append(result)

    def on_failure(self, failure: Failure) -> None:
        self.failures.append(failure)

    def on_progress(self, progress: object) -> None:
        self.progress.append(progress)


@pytest.fixture
def controller(model, threads_stopped):
    c = Controller(model, torch.device("cpu"))
    yield c
    c.shutdown()


@pytest.fixture
def gated(monkeypatch):
    """ViewRequest.run waits for the gate; the ids it ran, in order."""
    gate = threading.Event()
    ran: list[int] = []
    real_run = ViewRequest.run

    def blocked_run(self: ViewRequest, worker: object) -> ViewResult:
        ran.append(self.id)
        gate.wait(10)
        return real_run(self, worker)  # type: ignore[arg-type]

    monkeypatch.setattr(ViewRequest, "run", blocked_run)
    return gate, ran


def test_latest_wins_r1_and_r3_run_r2_never(controller, images, qtbot, gated):
    gate, ran = gated
    owner = Owner()
    r1, r2, r3 = (ViewRequest(images, i, "conv1", 0) for i in (1, 2, 3))
    for r in (r1, r2, r3):
        controller.submit(r, owner)
    assert controller.running is r1
    assert controller.waiting(ViewRequest) is r3
    with qtbot.waitSignal(controller.result_ready, check_params_cb=lambda r: r.request_id == r3.id):
        gate.set()
    assert ran == [r1.id, r3.id]
    # r1 ran, but r3 had replaced it as the owner's newest: only r3's answer reached the owner.
    assert [r.request_id for r in owner.results] == [r3.id]


def test_each_owner_keeps_its_own_waiting_slot(controller, images, qtbot, gated):
    """Two views asking for the same kind do not replace each other's waiting job."""
    gate, _ = gated
    first, second = Owner(), Owner()
    blocker = ViewRequest(images, 0, "conv1", 0)
    controller.submit(blocker, first)
    a, b = ViewRequest(images, 1, "conv1", 0), ViewRequest(images, 2, "conv1", 0)
    controller.submit(a, first)
    controller.submit(b, second)
    assert set(controller.pending()) == {a, b}
    gate.set()
    qtbot.waitUntil(lambda: len(second.results) == 1 and len(first.results) == 1)
    assert [r.request_id for r in second.results] == [b.id]
    assert [r.request_id for r in first.results] == [a.id]  # a replaced the blocker as first's newest


def test_the_waiting_job_of_the_lowest_priority_runs_first(controller, images, qtbot, gated):
    gate, _ = gated
    owner = Owner()
    controller.submit(ViewRequest(images, 0, "conv1", 0), owner)
    predict = PredictRequest(images, 0, 8)
    view = ViewRequest(images, 1, "conv1", 0)
    controller.submit(predict, owner)
    controller.submit(view, owner)
    assert controller.pending() == (view, predict)  # ViewRequest.priority < PredictRequest.priority
    gate.set()
    qtbot.waitUntil(lambda: len(owner.results) == 2)
    assert [r.request_id for r in owner.results] == [view.id, predict.id]


def test_forget_stale_drops_waiting_and_running_answers(controller, images, qtbot, gated):
    gate, ran = gated
    owner = Owner()
    running, waiting = ViewRequest(images, 0, "conv1", 0), ViewRequest(images, 1, "conv1", 0)
    controller.submit(running, owner)
    controller.submit(waiting, owner)
    controller.forget_stale("images")
    assert controller.pending() == ()
    with qtbot.waitSignal(controller.busy_changed, check_params_cb=lambda job: job is None):
        gate.set()
    assert owner.results == [] and ran == [running.id]


def test_cancel_forgets_the_owners_waiting_job_only(controller, images, qtbot, gated):
    gate, _ = gated
    mine, other = Owner(), Owner()
    controller.submit(ViewRequest(images, 0, "conv1", 0), mine)
    controller.submit(ViewRequest(images, 1, "conv1", 0), mine)
    kept = ViewRequest(images, 2, "conv1", 0)
    controller.submit(kept, other)
    controller.cancel(ViewRequest, mine)
    assert controller.pending() == (kept,)
    gate.set()
    qtbot.waitUntil(lambda: len(other.results) == 1)
    assert mine.results == []


def test_a_stale_result_is_not_shown(window, images, qtbot):
    """An answer to a job that is not its owner's newest never reaches the window's state."""
    newer = window.state.shown
    with qtbot.waitSignal(window.controller.result_ready):
        window.state.select(feature=window.state.feature + 1)
    shown = window.state.shown
    window.controller._on_worker_result_ready(
        ViewResult(newer.request_id, 7, "conv1", 0, newer.image, newer.activations, newer.probs, newer.projections, 1.0)
    )
    assert window.state.shown is shown


def test_a_worker_exception_reaches_the_status_bar_and_the_next_request_runs(window, qtbot, monkeypatch):
    real_run = ViewRequest.run

    def exploding_run(self: ViewRequest, worker: object) -> ViewResult:
        if self.feature == 3:
            raise RuntimeError("worker exploded on purpose")
        return real_run(self, worker)  # type: ignore[arg-type]

    monkeypatch.setattr(ViewRequest, "run", exploding_run)
    with qtbot.waitSignal(window.controller.failed, check_params_cb=lambda f: "exploded" in f.message):
        window.state.select(feature=3)
    assert "worker exploded on purpose" in window.statusBar().currentMessage()
    with qtbot.waitSignal(
        window.controller.result_ready, check_params_cb=lambda r: isinstance(r, ViewResult) and r.feature == 4
    ):
        window.state.select(feature=4)


def test_a_bad_request_fails_cleanly(controller, images, qtbot):
    owner = Owner()
    with qtbot.waitSignal(controller.failed, check_params_cb=lambda f: "out of range" in f.message):
        controller.submit(ViewRequest(images, 0, "conv1", 999), owner)
    assert "out of range" in owner.failures[0].message


def test_predictions_arrive_in_batches(controller, qtbot, images):
    owner = Owner()
    with qtbot.waitSignal(controller.result_ready) as blocker:
        controller.submit(PredictRequest(images, 10, 30), owner)
    r = blocker.args[0]
    assert owner.results == [r]
    assert r.start == 10 and r.predicted.shape == (20,) and r.predicted.dtype.kind == "i"
    assert r.source_key == images.source_key


def test_closing_mid_work_stops_the_thread(make_window, images, qtbot, threads_stopped, monkeypatch):
    w = make_window(images=images)
    gate = threading.Event()
    real_run = ViewRequest.run

    def slow_run(self: ViewRequest, worker: object) -> ViewResult:
        gate.wait(0.5)
        return real_run(self, worker)  # type: ignore[arg-type]

    monkeypatch.setattr(ViewRequest, "run", slow_run)
    w.state.select(feature=5)
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
                controller.submit(request, Owner())
            results.append(blocker.args[0])
        finally:
            controller.shutdown()
    cpu, cuda = results
    assert isinstance(cuda.activations, np.ndarray) and isinstance(cuda.projections[0][1], np.ndarray)
    np.testing.assert_allclose(cuda.projections[0][1], cpu.projections[0][1], atol=1e-4)
    np.testing.assert_allclose(cuda.probs, cpu.probs, atol=1e-5)


def test_a_page_on_its_way_stops_at_its_next_layer_when_the_selection_moves_on(window, qtbot, monkeypatch):
    """A page of photos is a forward pass each: the next feature's pass must not wait behind a page for the last one."""
    from explorer.gui.views.across.jobs import PageRequest

    gate, started = threading.Event(), threading.Event()
    real = PageRequest.run
    ended: dict[int, str] = {}  # page id -> how its run ended on the worker

    def gated(job, worker):
        started.set()
        gate.wait(10)
        try:
            result = real(job, worker)
        except Exception as exc:
            ended[job.id] = str(exc)
            raise
        ended[job.id] = "done"
        return result

    monkeypatch.setattr(PageRequest, "run", gated)
    window.state.select(feature=window.state.feature + 1)
    qtbot.waitUntil(started.is_set)  # once the selection rested
    running = window.controller.running
    assert isinstance(running, PageRequest)
    window.state.select(feature=window.state.feature + 1)  # the page on its way is for the feature before
    assert running.id in window.controller.worker.stopped
    gate.set()
    qtbot.waitUntil(lambda: running.id in ended)
    assert ended[running.id] == "page: stopped"
    across = window.views["feature_across_images"]
    qtbot.waitUntil(lambda: across.shown is not None and across.shown.feature == window.state.feature)
