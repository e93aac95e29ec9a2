"""The worker: a QObject on its own QThread that owns the model and runs every torch call.

It runs one job at a time by calling the job's own `run(worker)` (explorer.gui.messages.Job): the
jobs say what they compute, the worker holds what they compute with (the model, the device, the
forward cache, the stop flags). Results hold numpy arrays and plain values only (a DataLoaded result
hands over the opened ImageSet, a read-only, thread-safe data source). Out of GPU memory, the worker
moves to the CPU for good and runs the job again there.
"""

from __future__ import annotations

import threading

import torch
from PySide6.QtCore import QObject, Signal, Slot
from torch import nn

from explorer.core.errors import ExplorerError
from explorer.gui.forward_cache import ForwardCache
from explorer.gui.messages import Failure, Job

CPU_FALLBACK = "Out of GPU memory: the views now run on the CPU"
# Jobs of a few images run on one CPU thread (Job.one_thread): measured on a loaded 2-core machine, a
# one-image projection takes 0.3-0.6 ms on one thread and 1-56 ms on two (threads wait on each other);
# predictions and exports, which are batches, keep torch's thread count. Synthesis too: all 64 SeedNet
# conv2 features took 5.4 s on one thread and 40 s on two (loaded machine).


def foreign_exit(exc: BaseException) -> str:
    """One line for a BaseException that user code raised (sys.exit() in a model's forward, say)."""
    if isinstance(exc, SystemExit):
        return f"the model's code called sys.exit({exc.code!r}); the window goes on without that result"
    return f"the model's code raised {type(exc).__name__}: {exc}".rstrip(": ")


class Stopped(ExplorerError):
    """A job asked to stop (Cancel, a newer one of its view, the window closing): its Failure says so in one line."""


class Worker(QObject):
    """Runs one job at a time in its thread; every exception comes back as a Failure."""

    result_ready = Signal(object)
    request_failed = Signal(object)
    device_fell_back = Signal(str)  # the worker left the GPU for the CPU, and why
    progressed = Signal(object)  # what a running job says on the way (Progress, intermediate images); has request_id

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.model = model
        self.device = device
        self.cache = ForwardCache(model, device)
        self.closing = threading.Event()  # set from the GUI thread: jobs stop at their next step, exports unwritten
        self.stopped: set[int] = set()  # ids of jobs to stop at their next step (added from the GUI thread)
        self.threads = torch.get_num_threads()
        self.memo: dict[str, object] = {}  # what jobs keep between runs, by name (e.g. synthesized images)

    def should_stop(self, request_id: int) -> bool:
        return request_id in self.stopped or self.closing.is_set()

    def check_stop(self, request_id: int, message: str) -> None:
        """Raise Stopped with `message` if job `request_id` was asked to stop."""
        if self.should_stop(request_id):
            raise Stopped(message)

    def switch_to(self, model: nn.Module) -> None:
        """Run every job from now on with `model` (its forward cache is its own)."""
        self.model = model
        self.cache = ForwardCache(model, self.device)

    @Slot(object)
    def run(self, job: Job) -> None:
        try:
            torch.set_num_threads(1 if job.one_thread else self.threads)  # this thread's only
            result = self._run_anywhere(job)
        except Exception as exc:  # the thread must survive anything a job does
            message = str(exc) if isinstance(exc, ExplorerError) else f"{type(exc).__name__}: {exc}"
            self.request_failed.emit(Failure(job.id, type(job).__name__, message))
        except BaseException as exc:
            # A model's own code may call sys.exit() or raise a BaseException: that ends its job, not the window.
            self.request_failed.emit(Failure(job.id, type(job).__name__, foreign_exit(exc)))
        else:
            self.result_ready.emit(result)
        finally:
            self.stopped.discard(job.id)

    def _run_anywhere(self, job: Job) -> object:
        """Run the job; out of memory, drop the cached passes, move to the CPU, and run it once more."""
        try:
            return job.run(self)
        except torch.OutOfMemoryError:
            self._fall_back_to_cpu()
            return job.run(self)

    def _fall_back_to_cpu(self) -> None:
        self.cache.clear()
        if self.device.type != "cpu":
            self.model.to("cpu")
            self.device = torch.device("cpu")
            torch.cuda.empty_cache()
        self.cache = ForwardCache(self.model, self.device)
        self.device_fell_back.emit(CPU_FALLBACK)
