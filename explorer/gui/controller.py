"""The controller: lives on the GUI thread, owns the worker thread, and keeps requests latest-wins."""

from __future__ import annotations

import torch
from PySide6.QtCore import QObject, QThread, Signal

from explorer.core.model import SeedNet
from explorer.gui.worker import Failure, LoadRequest, PredictRequest, Request, ViewRequest, Worker

# When the worker frees up, the waiting request of the first kind here runs next.
PRIORITY = (LoadRequest, ViewRequest, PredictRequest)


class Controller(QObject):
    """At most one request running and one waiting per kind; a new request replaces the waiting one."""

    result_ready = Signal(object)
    failed = Signal(object)
    busy_changed = Signal(object)  # the running request, or None when idle
    _dispatch = Signal(object)

    def __init__(self, model: SeedNet, device: torch.device, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: Request | None = None
        self._waiting: dict[type, Request] = {}
        self._closed = False
        self._thread = QThread()
        self._thread.setObjectName("explorer-worker")
        self.worker = Worker(model, device)
        self.worker.moveToThread(self._thread)
        self._dispatch.connect(self.worker.run)
        self.worker.result_ready.connect(self._on_worker_result_ready)
        self.worker.request_failed.connect(self._on_worker_request_failed)
        self._thread.start()

    @property
    def running(self) -> Request | None:
        return self._running

    def waiting(self, kind: type) -> Request | None:
        return self._waiting.get(kind)

    def submit(self, request: Request) -> None:
        """Run `request` now if the worker is free, else keep it as the waiting one of its kind."""
        if self._closed:
            return
        if self._running is None:
            self._start(request)
        else:
            self._waiting[type(request)] = request

    def cancel(self, kind: type) -> None:
        """Forget the waiting request of `kind` (a running one still finishes)."""
        self._waiting.pop(kind, None)

    def shutdown(self) -> None:
        """Drop waiting work, let the running request finish, and stop the thread."""
        self._closed = True
        self._waiting.clear()
        self._thread.quit()
        self._thread.wait()

    def _start(self, request: Request) -> None:
        self._running = request
        self.busy_changed.emit(request)
        self._dispatch.emit(request)

    def _next(self) -> None:
        self._running = None
        if self._closed:
            return
        for kind in PRIORITY:
            request = self._waiting.pop(kind, None)
            if request is not None:
                self._start(request)
                return
        self.busy_changed.emit(None)

    def _on_worker_result_ready(self, result: object) -> None:
        if self._closed:
            return
        self._next()
        self.result_ready.emit(result)

    def _on_worker_request_failed(self, failure: Failure) -> None:
        if self._closed:
            return
        self._next()
        self.failed.emit(failure)
