"""The controller: lives on the GUI thread, owns the worker and scan threads, and delivers each answer to the
view that asked for it.

Each job is submitted by an owner (a view, or one of the window's services) and keeps, per owner and kind,
one waiting slot: a newer job replaces the waiting one (latest wins) unless its kind queues (exports).
When the worker frees up, the waiting job of the lowest priority runs next. An answer goes to its owner
only if it answers the owner's newest job of that kind (or its kind queues): nothing stale reaches a
view, and no view filters answers by type. `forget_stale("model")` (or "images") drops everything
asked before that the change makes stale.

One scan runs at a time on the scan thread (explorer.gui.scan_job), at most one waits, and views never
queue behind a scan.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Protocol

import torch
from PySide6.QtCore import QDeadlineTimer, QObject, QThread, Signal
from torch import nn

from explorer.core.device import interactive_threads
from explorer.gui.messages import Failure, Job, ModelLoaded, Progress
from explorer.gui.scan_job import ScanJob, ScanNotice, ScanRequest
from explorer.gui.worker import Worker

SHUTDOWN_WAIT_MS = 800  # how long closing the window waits for the threads, in all
_STILL_RUNNING: list[tuple[QThread, QObject, QObject]] = []  # threads shutdown stopped waiting for


class Owner(Protocol):
    """Who asks: it gets the answers to its own newest jobs."""

    def on_result(self, result: object) -> None: ...
    def on_failure(self, failure: Failure) -> None: ...
    def on_progress(self, progress: object) -> None: ...


def still_running() -> list[QThread]:
    """Threads a shutdown gave up waiting for that have not ended yet."""
    _STILL_RUNNING[:] = [entry for entry in _STILL_RUNNING if entry[0].isRunning()]
    return [entry[0] for entry in _STILL_RUNNING]


Slot = tuple[type, int]  # (the job's kind, id() of its owner)


class Controller(QObject):
    """At most one job running; per owner and kind one waiting (or a line, for kinds that queue)."""

    result_ready = Signal(object)  # every answer delivered to its owner, after it (for observers: tests, bench)
    failed = Signal(object)  # every failure delivered to its owner, after it
    busy_changed = Signal(object)  # the running job, or None when idle
    device_fell_back = Signal(str)  # the worker moved to the CPU, and why
    scan_ended = Signal(object)  # ScanFinished, ScanStopped or Failure, after its owner got it
    _dispatch = Signal(object)
    _dispatch_scan = Signal(object)

    def __init__(self, model: nn.Module, device: torch.device, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: Job | None = None
        self._waiting: dict[Slot, deque[Job]] = {}
        self._owners: dict[int, tuple[Slot, Owner]] = {}  # job id -> (its slot, its owner), until answered
        self._newest: dict[Slot, int] = {}  # the newest job id of each slot: only its answer is delivered
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
        self.worker.progressed.connect(self._on_worker_progressed)
        self._thread.start()

        self._scanning: ScanRequest | None = None
        self._scan_waiting: ScanRequest | None = None
        self._scan_owner: Owner | None = None
        self._scan_thread = QThread()
        self._scan_thread.setObjectName("explorer-scan")
        # Scans run on the model open when they were asked for; the scan thread makes its own copy of it.
        self.scan_model = model
        self.scan_job = ScanJob(model)
        self.scan_job.moveToThread(self._scan_thread)
        self._dispatch_scan.connect(self.scan_job.run)
        self.scan_job.scan_progressed.connect(self._on_scan_job_progressed)
        self.scan_job.scan_noticed.connect(self._on_scan_job_noticed)
        for signal in (self.scan_job.scan_finished, self.scan_job.scan_stopped, self.scan_job.scan_failed):
            signal.connect(self._on_scan_job_ended)
        self._scan_thread.start()

    @property
    def running(self) -> Job | None:
        return self._running

    def pending(self) -> tuple[Job, ...]:
        """Every waiting job, in the order they would run."""
        return tuple(sorted((j for line in self._waiting.values() for j in line), key=lambda j: (j.priority, j.id)))

    def waiting(self, kind: type) -> Job | None:
        """The job of `kind` that runs next among its kind (any owner), if any."""
        return next((j for j in self.pending() if isinstance(j, kind)), None)

    def submit(self, job: Job, owner: Owner) -> None:
        """Run `job` now if the worker is free, else keep it as the owner's waiting one of its kind."""
        if self._closed:
            return
        slot = (type(job), id(owner))
        if job.stops_running and self._running is not None and self._slot_of(self._running) == slot:
            self.worker.stopped.add(self._running.id)  # latest wins: the running one stops at its next step
        self._owners[job.id] = (slot, owner)
        self._newest[slot] = job.id
        if self._running is None:
            self._start(job)
        elif job.queues:
            self._waiting.setdefault(slot, deque()).append(job)
        else:
            for old in self._waiting.get(slot, ()):
                self._owners.pop(old.id, None)
            self._waiting[slot] = deque([job])

    def cancel(self, kind: type, owner: Owner) -> None:
        """Forget the owner's waiting job of `kind` and stop its running one at its next step: the owner hears how
        that one ended (stopped, or done if it was past its last step)."""
        slot = (kind, id(owner))
        for old in self._waiting.pop(slot, ()):
            self._owners.pop(old.id, None)
        if self._running is not None and self._slot_of(self._running) == slot:
            self.worker.stopped.add(self._running.id)

    def forget_stale(self, changed: str) -> None:
        """The model or the images (`changed`) changed: no job asked before that depends on it is run or answered
        (opening images and models and exports depend on neither, a synthesis on the model only)."""
        for slot in [s for s in self._waiting if changed in s[0].depends_on]:
            for old in self._waiting.pop(slot):
                self._owners.pop(old.id, None)
        for slot in [s for s in self._newest if changed in s[0].depends_on]:
            del self._newest[slot]

    def _slot_of(self, job: Job) -> Slot | None:
        entry = self._owners.get(job.id)
        return entry[0] if entry else None

    # Scans ---------------------------------------------------------------------------------------

    @property
    def scanning(self) -> ScanRequest | None:
        return self._scanning

    def start_scan(self, request: ScanRequest, owner: Owner) -> None:
        """Run the scan now if none runs, else keep it as the waiting scan (replacing any other)."""
        if self._closed:
            return
        self._scan_owner = owner
        request = replace(request, model=self.scan_model)  # the model open when the scan was asked for
        if self._scanning is None:
            self._start_scan(request)
        else:
            self._scan_waiting = request

    def cancel_scan(self) -> None:
        """Forget the waiting scan and stop the running one at its next batch."""
        self._scan_waiting = None
        self.scan_job.stop.set()

    def _start_scan(self, request: ScanRequest) -> None:
        self._scanning = request
        self.scan_job.stop.clear()  # the previous scan has ended: its stop is spent
        self._dispatch_scan.emit(request)

    def _on_scan_job_progressed(self, done: int, total: int) -> None:
        if not self._closed and self._scanning is not None and self._scan_owner is not None:
            self._scan_owner.on_progress(Progress(self._scanning.id, done, total))

    def _on_scan_job_noticed(self, message: str) -> None:
        if not self._closed and self._scanning is not None and self._scan_owner is not None:
            self._scan_owner.on_progress(ScanNotice(self._scanning.id, message))

    def _on_scan_job_ended(self, outcome: object) -> None:
        if self._closed:
            return
        self._scanning, waiting, self._scan_waiting = None, self._scan_waiting, None
        if waiting is not None:
            self._start_scan(waiting)
        if self._scan_owner is not None:
            if isinstance(outcome, Failure):
                self._scan_owner.on_failure(outcome)
            else:
                self._scan_owner.on_result(outcome)
        self.scan_ended.emit(outcome)

    # Closing -------------------------------------------------------------------------------------

    def shutdown(self, wait_ms: int = SHUTDOWN_WAIT_MS) -> bool:
        """Drop waiting work, stop a scan at its next batch, ask the threads to stop (a running export stops
        before it writes) and wait for them at most `wait_ms` in all: the window closes within a second
        whatever runs. Returns whether both threads stopped; the ones that did not are kept (see
        `still_running`) so they are never destroyed while they run."""
        self._closed = True
        self._waiting.clear()
        self._owners.clear()
        self.worker.closing.set()
        self.cancel_scan()
        threads = (self._thread, self._scan_thread)
        for thread in threads:
            thread.quit()
        deadline = QDeadlineTimer(wait_ms)
        for thread in threads:
            thread.wait(deadline)
        running = [t for t in threads if t.isRunning()]
        if running:
            # A job that ignores the stop (a decoder stuck in a system call) finishes on its own; until
            # then its thread and objects stay referenced, and the app ends the process without waiting.
            _STILL_RUNNING.extend((t, self.worker, self.scan_job) for t in running)
        return not running

    # The worker ----------------------------------------------------------------------------------

    def _start(self, job: Job) -> None:
        self._running = job
        self.busy_changed.emit(job)
        self._dispatch.emit(job)

    def _next(self) -> None:
        self._running = None
        if self._closed:
            return
        line = self.pending()
        if line:
            job = line[0]
            slot = (type(job), id(self._owners[job.id][1]))
            self._waiting[slot].popleft()
            if not self._waiting[slot]:
                del self._waiting[slot]
            self._start(job)
            return
        self.busy_changed.emit(None)

    def _owner_of(self, request_id: int, *, done: bool) -> Owner | None:
        """The owner of job `request_id` if its answer is still wanted (`done`: the job has ended)."""
        entry = self._owners.pop(request_id, None) if done else self._owners.get(request_id)
        if entry is None:
            return None
        slot, owner = entry
        if self._newest.get(slot) != request_id and not slot[0].queues:
            return None  # a newer job of the same owner and kind, or a change since, made it stale
        return owner

    def _on_worker_result_ready(self, result: object) -> None:
        if self._closed:
            return
        if isinstance(result, ModelLoaded):
            self.scan_model = result.opened.model  # scans asked for from now on run on the new model
        request_id = result.request_id  # type: ignore[attr-defined]
        owner = self._owner_of(request_id, done=True)
        self._next()
        if owner is not None:
            owner.on_result(result)
            self.result_ready.emit(result)

    def _on_worker_request_failed(self, failure: Failure) -> None:
        if self._closed:
            return
        owner = self._owner_of(failure.request_id, done=True)
        self._next()
        if owner is not None:
            owner.on_failure(failure)
            self.failed.emit(failure)

    def _on_worker_progressed(self, progress: object) -> None:
        if not self._closed:
            owner = self._owner_of(progress.request_id, done=False)  # type: ignore[attr-defined]
            if owner is not None:
                owner.on_progress(progress)
