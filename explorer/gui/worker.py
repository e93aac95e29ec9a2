"""The worker: a QObject on its own QThread that owns the model and runs every torch call.

Requests and results are the frozen dataclasses of explorer.gui.messages. Results hold numpy
arrays and plain values only (a DataLoaded result hands over the opened ImageSet, a read-only,
thread-safe data source). Recent forward passes are kept (explorer.gui.forward_cache), so a
feature change costs only the way down. Out of GPU memory, the worker moves to the CPU for good
and runs the request again there.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal, Slot
from torch import nn

from explorer.core.datasets import files_dataset, open_dataset
from explorer.core.errors import DataError, ExplorerError
from explorer.core.loading import load_model
from explorer.core.projection import predict, project
from explorer.export import compute_figure, export_figure, projection_rgb8
from explorer.export.backprop_figure import BackpropRequest, compute_backprop
from explorer.export.errors import ExportError
from explorer.export.experiments import EXPERIMENT_KINDS, compute_experiment
from explorer.export.maximize_figure import MaximizeRequest, compute_maximize
from explorer.gui.forward_cache import ForwardCache
from explorer.gui.imaging import field_tiles
from explorer.gui.messages import (
    BackpropViewRequest,
    BackpropViewResult,
    DataLoaded,
    ExperimentProgress,
    ExperimentViewRequest,
    ExperimentViewResult,
    ExportDone,
    ExportRequest,
    Failure,
    LoadRequest,
    ModelLoaded,
    ModelRequest,
    PageRequest,
    PageResult,
    PredictionsReady,
    PredictRequest,
    Request,
    SynthesisRequest,
    TopPatchesRequest,
    TopPatchesResult,
    ViewRequest,
    ViewResult,
    projection_variants,
)
from explorer.gui.synthesis_job import synthesize
from explorer.gui.window_state import OpenModel

CPU_FALLBACK = "Out of GPU memory: the views now run on the CPU"
# Requests of a few images run on one CPU thread: measured on a loaded 2-core machine, a one-image
# projection takes 0.3-0.6 ms on one thread and 1-56 ms on two (threads wait on each other);
# predictions and exports, which are batches, keep torch's thread count.
# Synthesis too: all 64 SeedNet conv2 features took 5.4 s on one thread and 40 s on two (loaded machine).
SMALL_REQUESTS = (ViewRequest, PageRequest, TopPatchesRequest, BackpropViewRequest, SynthesisRequest)


class ExperimentCancelled(ExplorerError):
    """A cancelled experiment: its Failure says so in one line."""


def _ms(t0: float) -> float:
    return 1000.0 * (time.perf_counter() - t0)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


class Worker(QObject):
    """Runs one request at a time in its thread; every exception comes back as a Failure."""

    result_ready = Signal(object)
    request_failed = Signal(object)
    device_fell_back = Signal(str)  # the worker left the GPU for the CPU, and why
    synthesis_progressed = Signal(object)  # SynthesisImages while a synthesis optimizes
    experiment_progressed = Signal(object)  # ExperimentProgress, while an experiment runs

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.model = model
        self.device = device
        self.cache = ForwardCache(model, device)
        self.closing = threading.Event()  # set from the GUI thread: exports stop before writing
        self.threads = torch.get_num_threads()
        self.stop_synthesis = threading.Event()  # set from the GUI thread: the running synthesis stops
        # (model fingerprint, layer, feature, settings) -> (uint8 [H, W, 3], value reached)
        self.synthesized: dict[tuple[object, ...], tuple[np.ndarray, float]] = {}
        self._fingerprint: tuple[object, str] | None = None  # (the model it was taken of, the fingerprint)
        self.cancelled: set[int] = set()  # ids of experiments to stop at their next step (added from the GUI thread)

    @Slot(object)
    def run(self, request: Request) -> None:
        try:
            torch.set_num_threads(1 if isinstance(request, SMALL_REQUESTS) else self.threads)  # this thread's only
            result = self._handle_anywhere(request)
        except Exception as exc:  # the thread must survive anything a request does
            message = str(exc) if isinstance(exc, ExplorerError) else f"{type(exc).__name__}: {exc}"
            self.request_failed.emit(Failure(request.id, type(request).__name__, message))
        else:
            self.result_ready.emit(result)

    def _handle_anywhere(self, request: Request) -> object:
        """Run the request; out of memory, drop the cached passes, move to the CPU, and run it once more."""
        try:
            return self._handle(request)
        except torch.OutOfMemoryError:
            self._fall_back_to_cpu()
            return self._handle(request)

    def _fall_back_to_cpu(self) -> None:
        self.cache.clear()
        if self.device.type != "cpu":
            self.model.to("cpu")
            self.device = torch.device("cpu")
            torch.cuda.empty_cache()
        self.cache = ForwardCache(self.model, self.device)
        self.device_fell_back.emit(CPU_FALLBACK)

    def _handle(self, request: Request) -> object:
        if isinstance(request, ViewRequest):
            return self._view(request)
        if isinstance(request, PageRequest):
            return self._page(request)
        if isinstance(request, PredictRequest):
            return self._predict(request)
        if isinstance(request, TopPatchesRequest):
            return self._top_patches(request)
        if isinstance(request, ExportRequest):
            return self._export(request)
        if isinstance(request, BackpropViewRequest):
            return self._backprop(request)
        if isinstance(request, SynthesisRequest):
            return synthesize(self, request)
        if isinstance(request, ExperimentViewRequest):
            return self._experiment(request)
        if isinstance(request, ModelRequest):
            return self._open_model(request)
        return self._load(request)

    def fingerprint(self) -> str:
        """The open model's fingerprint (the synthesized-image cache's key), taken again whenever the model
        is another: kept from the previous model, a switch served that model's images as the new one's."""
        if self._fingerprint is None or self._fingerprint[0] is not self.model:
            from explorer.core.scan import model_fingerprint

            self._fingerprint = (self.model, model_fingerprint(self.model))
        return self._fingerprint[1]

    def _view(self, req: ViewRequest) -> ViewResult:
        t0 = time.perf_counter()
        projector = self.cache.projector(req.images, (req.index,), req.layer)
        keep = req.options.keep
        projections = tuple(
            (title, _numpy(projector.project(req.feature, method=m, unpool=u, keep=keep)[0, 0]))
            for title, m, u in projection_variants(req.options)
        )
        return ViewResult(
            req.id, req.index, req.layer, req.feature, req.images.image(req.index),
            _numpy(projector.activations[0]).copy(), self.cache.probs(req.images, req.index), projections, _ms(t0),
            req.images.failures.get(req.index, ""),
        )  # fmt: skip

    def _page(self, req: PageRequest) -> PageResult:
        t0 = time.perf_counter()
        if not req.page:
            empty = np.zeros((0, 3, 32, 32), np.float32)
            return PageResult(req.id, req.layer, req.feature, (), np.zeros((0, 32, 32, 3), np.uint8), empty, _ms(t0))
        o = req.options.normalised()
        projector = self.cache.projector(req.images, req.page, req.layer)
        p = _numpy(projector.project(req.feature, method=o.method, unpool=o.unpool, keep=o.keep)[:, 0])
        return PageResult(req.id, req.layer, req.feature, req.page, req.images.images(list(req.page)), p, _ms(t0))

    def _top_patches(self, req: TopPatchesRequest) -> TopPatchesResult:
        t0 = time.perf_counter()
        empty = np.zeros((0, req.side, req.side, 3), np.float32)
        if not req.indices:
            return TopPatchesResult(req.id, req.layer, req.feature, (), empty, empty, _ms(t0))
        x = req.images.tensor(list(req.indices), self.device)
        p = _numpy(project(self.model, x, req.layer, req.feature, method="deconvnet", keep="max")[:, 0])
        patches = field_tiles(req.images.images(list(req.indices)), req.boxes, req.side)
        projections = field_tiles(projection_rgb8(p), req.boxes, req.side)
        return TopPatchesResult(req.id, req.layer, req.feature, req.indices, patches, projections, _ms(t0))

    def _backprop(self, req: BackpropViewRequest) -> BackpropViewResult:
        t0 = time.perf_counter()
        figure = compute_backprop(self.model, req.images, req.figure, model_name=req.model_name)
        return BackpropViewResult(req.id, figure, _ms(t0))

    def _experiment(self, req: ExperimentViewRequest) -> ExperimentViewResult:
        t0 = time.perf_counter()

        def progress(done: int, total: int) -> None:
            if req.id in self.cancelled or self.closing.is_set():
                raise ExperimentCancelled(f"{req.figure.kind}: cancelled")
            self.experiment_progressed.emit(ExperimentProgress(req.id, done, total))

        try:
            progress(0, 1)
            figure = compute_experiment(
                self.model, req.images, req.figure, model_name=req.model_name, progress=progress
            )
        finally:
            self.cancelled.discard(req.id)
        return ExperimentViewResult(req.id, figure, _ms(t0))

    def _export(self, req: ExportRequest) -> ExportDone:
        t0 = time.perf_counter()
        self._check_open(req)
        if isinstance(req.figure, MaximizeRequest):
            data = compute_maximize(self.model, req.figure, model_name=req.model_name, should_stop=self.closing.is_set)
            self._check_open(req)
            return ExportDone(req.id, str(export_figure(data, req.path, dpi=req.dpi)), "maximize", _ms(t0))
        if req.figure.kind in EXPERIMENT_KINDS:
            from explorer.export.experiments_render import export_experiment  # matplotlib: only when drawing

            data = compute_experiment(self.model, req.images, req.figure, model_name=req.model_name)  # type: ignore[arg-type]
            self._check_open(req)
            return ExportDone(req.id, str(export_experiment(data, req.path, dpi=req.dpi)), req.figure.kind, _ms(t0))
        if isinstance(req.figure, BackpropRequest):
            from explorer.export.backprop_render import export_backprop  # matplotlib: only when drawing

            backprop = compute_backprop(self.model, req.images, req.figure, model_name=req.model_name)
            self._check_open(req)
            return ExportDone(req.id, str(export_backprop(backprop, req.path, dpi=req.dpi)), "backprop", _ms(t0))
        data = compute_figure(self.model, req.images, req.figure, model_name=req.model_name, top_k=req.top_k)
        self._check_open(req)  # the window closed while the figure was computed: write nothing
        path = export_figure(data, req.path, dpi=req.dpi)
        return ExportDone(req.id, str(path), req.figure.kind, _ms(t0))

    def _check_open(self, req: ExportRequest) -> None:
        if self.closing.is_set():
            raise ExportError(f"{req.path}: not written, the window closed")

    def _predict(self, req: PredictRequest) -> PredictionsReady:
        t0 = time.perf_counter()
        x = req.images.tensor(np.arange(req.start, req.stop), self.device)
        predicted = _numpy(predict(self.model, x).argmax(1)).astype(np.int64)
        failures = req.images.failures  # filled by the decode above, on this thread
        unreadable = tuple((i, failures[i]) for i in range(req.start, req.stop) if i in failures)
        return PredictionsReady(req.id, req.images.source_key, req.start, predicted, _ms(t0), unreadable)

    def _open_model(self, req: ModelRequest) -> ModelLoaded:
        """Load the model here, off the GUI thread; only a model that loaded replaces the open one."""
        t0 = time.perf_counter()
        model = load_model(
            req.spec, req.checkpoint, self.device, num_classes=req.num_classes, input_size=req.input_size,
            mean=req.mean, std=req.std, weights=req.weights, resize=req.resize, classes=req.classes,
        )  # fmt: skip
        opened = OpenModel.of(model)
        self.model = model
        self.cache = ForwardCache(model, self.device)  # the forward cache is per model
        return ModelLoaded(req.id, opened, _ms(t0))

    def _load(self, req: LoadRequest) -> DataLoaded:
        t0 = time.perf_counter()
        try:
            if isinstance(req.source, tuple):
                images = files_dataset(list(req.source), name=f"{len(req.source)} files")
            else:
                images = open_dataset(req.source, req.split, download=req.download)
        except DataError as exc:
            if not req.fallback:
                raise
            return DataLoaded(req.id, open_dataset("probes"), "probes", str(exc), _ms(t0))
        return DataLoaded(req.id, images, req.source, "", _ms(t0))
