"""The controller: lives on the GUI thread, owns the worker thread, and keeps requests latest-wins.

Exports are the one kind that queues: each is a file someone asked for, so none replaces another.

It also owns the scan thread (see explorer.gui.scan_job): one scan runs at a time, at most one
waits, and views never queue behind a scan.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

import torch
from PySide6.QtCore import QDeadlineTimer, QObject, QThread, Signal
from torch import nn

from explorer.core.device import interactive_threads
from explorer.gui.messages import (
    BackpropViewRequest,
    ExperimentViewRequest,
    ExportRequest,
    Failure,
    LoadRequest,
    ModelLoaded,
    ModelRequest,
    PageRequest,
    PredictRequest,
    Request,
    SynthesisRequest,
    TopPatchesRequest,
    ViewRequest,
)
from explorer.gui.scan_job import ScanJob, ScanRequest
from explorer.gui.worker import Worker

# When the worker frees up, the waiting request of the first kind here runs next.
PRIORITY = (
    ModelRequest, LoadRequest, ViewRequest, BackpropViewRequest, SynthesisRequest, ExportRequest, TopPatchesRequest,
    PageRequest, PredictRequest, ExperimentViewRequest,
)  # fmt: skip
QUEUED = (ExportRequest,)  # kinds that wait in line instead of replacing the waiting one
SHUTDOWN_WAIT_MS = 800  # how long closing the window waits for the threads, in all
_STILL_RUNNING: list[tuple[QThread, QObject, QObject]] = []  # threads shutdown stopped waiting for


def still_running() -> list[QThread]:
    """Threads a shutdown gave up waiting for that have not ended yet."""
    _STILL_RUNNING[:] = [entry for entry in _STILL_RUNNING if entry[0].isRunning()]
    return [entry[0] for entry in _STILL_RUNNING]


class Controller(QObject):
    """At most one request running and one waiting per kind; a new request replaces the waiting one (exports queue)."""

    result_ready = Signal(object)
    failed = Signal(object)
    busy_changed = Signal(object)  # the running request, or None when idle
    device_fell_back = Signal(str)  # the worker moved to the CPU, and why
    synthesis_progressed = Signal(object)  # SynthesisImages of a running synthesis, every few steps
    scan_progressed = Signal(int, int)  # images done, images in all
    scan_ended = Signal(object)  # ScanFinished, ScanStopped or Failure
    _dispatch = Signal(object)
    _dispatch_scan = Signal(object)

    def __init__(self, model: nn.Module, device: torch.device, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: Request | None = None
        self._waiting: dict[type, deque[Request]] = {}
        self._closed = False
        interactive_threads()  # one intra-op thread for the worker and one for the scan: see the function
        self._thread = QThread()
        self._thread.setObjectName("explorer-worker")
        self.worker = Worker(model, device)
        self.worker.moveToThread(self._thread)
        self._dispatch.connect(self.worker.run)
        self.worker.result_ready.connect(self._on_worker_result_ready)
        self.worker.request_failed.connect(self._on_worker_request_failed)
        self.worker.device_fell_back.connect(self.device_fell_back)
        self.worker.synthesis_progressed.connect(self._on_worker_synthesis_progressed)
        self._thread.start()

        self._scanning: ScanRequest | None = None
        self._scan_waiting: ScanRequest | None = None
        self._scan_thread = QThread()
        self._scan_thread.setObjectName("explorer-scan")
        # Scans run on the model open when they were asked for; the scan thread makes its own copy of it.
        self.scan_model = model
        self.scan_job = ScanJob(model)
        self.scan_job.moveToThread(self._scan_thread)
        self._dispatch_scan.connect(self.scan_job.run)
        self.scan_job.scan_progressed.connect(self.scan_progressed)
        for signal in (self.scan_job.scan_finished, self.scan_job.scan_stopped, self.scan_job.scan_failed):
            signal.connect(self._on_scan_job_ended)
        self._scan_thread.start()

    @property
    def running(self) -> Request | None:
        return self._running

    def waiting(self, kind: type) -> Request | None:
        """The request of `kind` that runs next among its kind, if any."""
        line = self._waiting.get(kind)
        return line[0] if line else None

    def pending(self) -> tuple[Request, ...]:
        """Every waiting request, in the order they would run."""
        return tuple(r for kind in PRIORITY for r in self._waiting.get(kind, ()))

    def submit(self, request: Request) -> None:
        """Run `request` now if the worker is free, else keep it as the waiting one of its kind."""
        if self._closed:
            return
        if isinstance(request, SynthesisRequest) and isinstance(self._running, SynthesisRequest):
            self.worker.stop_synthesis.set()  # latest wins: the running synthesis stops at its next step
        if self._running is None:
            self._start(request)
        elif isinstance(request, QUEUED):
            self._waiting.setdefault(type(request), deque()).append(request)
        else:
            self._waiting[type(request)] = deque([request])

    def cancel(self, kind: type) -> None:
        """Forget the waiting request of `kind` (a running one still finishes)."""
        self._waiting.pop(kind, None)

    def cancel_synthesis(self) -> None:
        """Forget a waiting synthesis and stop the running one at its next step."""
        self.cancel(SynthesisRequest)
        if isinstance(self._running, SynthesisRequest):
            self.worker.stop_synthesis.set()

    def cancel_experiment(self, request_id: int) -> None:
        """Stop the experiment `request_id` at its next step if it runs, forget it if it waits."""
        line = self._waiting.get(ExperimentViewRequest)
        if line and line[0].id == request_id:
            self._waiting.pop(ExperimentViewRequest)
        self.worker.cancelled.add(request_id)

    @property
    def scanning(self) -> ScanRequest | None:
        return self._scanning

    def start_scan(self, request: ScanRequest) -> None:
        """Run the scan now if none runs, else keep it as the waiting scan (replacing any other)."""
        if self._closed:
            return
        request = replace(request, model=self.scan_model)  # the model open when the scan was asked for
        if self._scanning is None:
            self._start_scan(request)
        else:
            self._scan_waiting = request

    def cancel_scan(self) -> None:
        """Forget the waiting scan and stop the running one at its next batch."""
        self._scan_waiting = None
        self.scan_job.stop.set()

    def shutdown(self, wait_ms: int = SHUTDOWN_WAIT_MS) -> bool:
        """Drop waiting work, stop a scan at its next batch, ask the threads to stop (a running export stops
        before it writes) and wait for them at most `wait_ms` in all: the window closes within a second
        whatever runs. Returns whether both threads stopped; the ones that did not are kept (see
        `still_running`) so they are never destroyed while they run."""
        self._closed = True
        self._waiting.clear()
        self.worker.closing.set()
        self.worker.stop_synthesis.set()
        self.cancel_scan()
        threads = (self._thread, self._scan_thread)
        for thread in threads:
            thread.quit()
        deadline = QDeadlineTimer(wait_ms)
        for thread in threads:
            thread.wait(deadline)
        running = [t for t in threads if t.isRunning()]
        if running:
            # A request that ignores the stop (a decoder stuck in a system call) finishes on its own; until
            # then its thread and objects stay referenced, and the app ends the process without waiting.
            _STILL_RUNNING.extend((t, self.worker, self.scan_job) for t in running)
        return not running

    def _start_scan(self, request: ScanRequest) -> None:
        self._scanning = request
        self.scan_job.stop.clear()  # the previous scan has ended: its stop is spent
        self._dispatch_scan.emit(request)

    def _on_scan_job_ended(self, outcome: object) -> None:
        if self._closed:
            return
        self._scanning, waiting, self._scan_waiting = None, self._scan_waiting, None
        if waiting is not None:
            self._start_scan(waiting)
        self.scan_ended.emit(outcome)

    def _start(self, request: Request) -> None:
        if isinstance(request, SynthesisRequest):
            self.worker.stop_synthesis.clear()  # a stop was meant for the synthesis before this one
        self._running = request
        self.busy_changed.emit(request)
        self._dispatch.emit(request)

    def _next(self) -> None:
        self._running = None
        if self._closed:
            return
        for kind in PRIORITY:
            line = self._waiting.get(kind)
            if line:
                self._start(line.popleft())
                return
        self.busy_changed.emit(None)

    def _on_worker_result_ready(self, result: object) -> None:
        if self._closed:
            return
        if isinstance(result, ModelLoaded):
            self.scan_model = result.opened.model  # scans asked for from now on run on the new model
        self._next()
        self.result_ready.emit(result)

    def _on_worker_synthesis_progressed(self, images: object) -> None:
        if not self._closed:
            self.synthesis_progressed.emit(images)

    def _on_worker_request_failed(self, failure: Failure) -> None:
        if self._closed:
            return
        self._next()
        self.failed.emit(failure)
