"""What crosses the thread boundary: frozen requests (jobs) and results of numpy arrays and plain values.

Every request is a `Job`: it carries an increasing id, its own priority and queueing rule, and its
own `run(worker)`, which the worker calls on its thread (the worker never dispatches on types). A
view's own jobs live in its package under explorer.gui.views; the ones here are shared: the pass
for the selection, opening images and models, predictions, analyses and exports.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from explorer.core.images import ImageSet
from explorer.core.projection import METHODS
from explorer.render.files import DEFAULT_DPI

if TYPE_CHECKING:
    import threading

    import torch
    from torch import nn

    from explorer.gui.forward_cache import ForwardCache


class Worker(Protocol):
    """What a job runs with, on the worker thread (explorer.gui.worker.Worker is the one)."""

    model: nn.Module
    device: torch.device
    cache: ForwardCache
    closing: threading.Event
    memo: dict[str, object]  # what jobs keep between runs, by name

    @property
    def progressed(self) -> Any:
        """A signal: emit what a running job says on the way (it has a request_id)."""
        ...

    def should_stop(self, request_id: int) -> bool: ...
    def check_stop(self, request_id: int, message: str) -> None: ...
    def switch_to(self, model: nn.Module) -> None: ...


_ids = itertools.count(1)


def next_request_id() -> int:
    """A process-wide increasing id: a larger id is a newer request."""
    return next(_ids)


def ms_since(t0: float) -> float:
    return 1000.0 * (time.perf_counter() - t0)


def numpy_of(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy()


COMPARES = ("single", "unpooling", "methods")


@dataclass(frozen=True)
class ProjectionOptions:
    """How a feature goes down to pixels, and which variants are shown side by side."""

    method: str = "deconvnet"
    unpool: str = "switches"
    keep: str = "map"
    compare: str = "single"

    def normalised(self) -> ProjectionOptions:
        """The same options with unpool 'fill' dropped where the method cannot use it."""
        if self.unpool == "fill" and self.method != "deconvnet":
            return ProjectionOptions(self.method, "switches", self.keep, self.compare)
        return self

    def for_layer(self, fill: bool) -> ProjectionOptions:
        """The options a layer can be shown with: where a max-pool below it overlaps (`fill` False), only its switches
        undo it, so 'fill' and the switches-vs-fill comparison fall back to the switches (the choice is kept)."""
        if fill:
            return self
        compare = "single" if self.compare == "unpooling" else self.compare
        return ProjectionOptions(self.method, "switches", self.keep, compare)


def projection_variants(options: ProjectionOptions) -> tuple[tuple[str, str, str], ...]:
    """(title, method, unpool) of each projection to show for `options`."""
    if options.compare == "unpooling":
        return (("deconvnet, switches", "deconvnet", "switches"), ("deconvnet, fill", "deconvnet", "fill"))
    if options.compare == "methods":
        return tuple((m, m, options.unpool if m == "deconvnet" else "switches") for m in METHODS)
    o = options.normalised()
    return ((f"{o.method}, {o.unpool}", o.method, o.unpool),)


# Jobs --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, kw_only=True)
class Job:
    """A request for the worker. The controller keeps one running and, per view and kind, one waiting (the newest:
    latest wins), or a line of them where `queues`; when the worker frees up, the waiting job of the lowest
    `priority` runs next (the oldest among equals)."""

    # Plain class attributes (not ClassVar: a job may make one an instance field, as AnalysisRequest does).
    priority = 5
    queues: ClassVar[bool] = False  # wait in line instead of replacing the waiting one (each export is a file)
    stops_running: ClassVar[bool] = False  # a newer one asks the running one of its view to stop at its next step
    depends_on: ClassVar[frozenset[str]] = frozenset({"model", "images"})  # a change of which makes it stale
    one_thread = False  # runs on one CPU thread (small requests: see explorer.gui.worker)
    id: int = field(default_factory=next_request_id)

    def run(self, worker: Worker) -> object:
        """Compute the answer on the worker thread (`worker` holds the model, the device and the caches)."""
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class ViewRequest(Job):
    """The pass for one image, layer and feature: maps, probabilities, projection(s); what the main views show."""

    priority = 2
    one_thread = True
    images: ImageSet
    index: int
    layer: str
    feature: int
    options: ProjectionOptions = ProjectionOptions()

    def run(self, worker: Worker) -> ViewResult:
        t0 = time.perf_counter()
        projector = worker.cache.projector(self.images, (self.index,), self.layer)
        keep = self.options.keep
        projections = tuple(
            (title, numpy_of(projector.project(self.feature, method=m, unpool=u, keep=keep)[0, 0]))
            for title, m, u in projection_variants(self.options)
        )
        return ViewResult(
            self.id, self.index, self.layer, self.feature, self.images.image(self.index),
            numpy_of(projector.activations[0]).copy(), worker.cache.probs(self.images, self.index), projections,
            ms_since(t0), self.images.failures.get(self.index, ""),
        )  # fmt: skip


@dataclass(frozen=True, eq=False)
class PredictRequest(Job):
    """The predicted class of images[start:stop]."""

    priority = 8
    images: ImageSet
    start: int
    stop: int

    def run(self, worker: Worker) -> PredictionsReady:
        from explorer.core.projection import predict

        t0 = time.perf_counter()
        x = self.images.tensor(np.arange(self.start, self.stop), worker.device)
        predicted = numpy_of(predict(worker.model, x).argmax(1)).astype(np.int64)
        failures = self.images.failures  # filled by the decode above, on this thread
        unreadable = tuple((i, failures[i]) for i in range(self.start, self.stop) if i in failures)
        return PredictionsReady(self.id, self.images.source_key, self.start, predicted, ms_since(t0), unreadable)


@dataclass(frozen=True, eq=False)
class LoadRequest(Job):
    """Open a source (or a list of files); on a DataError, `fallback` opens the probe patterns instead."""

    priority = 1
    depends_on = frozenset()
    source: str | tuple[str, ...]
    split: str = "test"
    download: bool = False
    fallback: bool = False

    def run(self, worker: Worker) -> DataLoaded:
        from explorer.core.datasets import files_dataset, open_dataset
        from explorer.core.errors import DataError

        t0 = time.perf_counter()
        try:
            if isinstance(self.source, tuple):
                images = files_dataset(list(self.source), name=f"{len(self.source)} files")
            else:
                images = open_dataset(self.source, self.split, download=self.download)
        except DataError as exc:
            if not self.fallback:
                raise
            return DataLoaded(self.id, open_dataset("probes"), "probes", str(exc), ms_since(t0))
        return DataLoaded(self.id, images, self.source, "", ms_since(t0))


@dataclass(frozen=True, eq=False)
class ModelRequest(Job):
    """Open a model (explorer.core.load_model's arguments); on success the worker switches to it."""

    priority = 0
    depends_on = frozenset()
    spec: str = "seednet"
    checkpoint: str | None = None
    num_classes: int | None = None
    input_size: int | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    weights: str | None = None  # a torchvision weight set, or "random"
    resize: int | None = None
    classes: str | None = None  # a file of class names

    @classmethod
    def reopening(cls, info) -> ModelRequest:  # type: ignore[no-untyped-def]
        """The request that opens again the model `info` (a ModelInfo) describes: its weights and preprocessing too."""
        weights = info.weights if info.weights not in (None, "checkpoint", "pretrained") else None
        return cls(
            spec=info.spec,
            checkpoint=info.checkpoint,
            input_size=info.input_size,
            mean=info.mean,
            std=info.std,
            weights=weights,
            resize=info.resize,
        )

    def describe(self) -> str:
        """The model as a person named it, e.g. "torchvision:vgg11_bn with vgg.pt"."""
        name = os.path.basename(self.spec) if self.spec.endswith(".toml") or ".py:" in self.spec else self.spec
        return name + (f" with {os.path.basename(self.checkpoint)}" if self.checkpoint else "")

    def run(self, worker: Worker) -> ModelLoaded:
        """Load the model on the worker, off the GUI thread; only a model that loaded replaces the open one."""
        from explorer.core.loading import load_model
        from explorer.gui.open_model import OpenModel

        t0 = time.perf_counter()
        model = load_model(
            self.spec, self.checkpoint, worker.device, num_classes=self.num_classes, input_size=self.input_size,
            mean=self.mean, std=self.std, weights=self.weights, resize=self.resize, classes=self.classes,
        )  # fmt: skip
        from explorer.core.graph import require_layers

        require_layers(model, str(self.spec))
        opened = OpenModel.of(model)
        worker.switch_to(model)
        return ModelLoaded(self.id, opened, ms_since(t0))


@dataclass(frozen=True, eq=False)
class AnalysisRequest(Job):
    """One analysis (explorer.analyses: occlusion, evolution, invariance, backprop, ...) for the window's
    images. It reports its progress and stops at its next step when asked (a newer one, Cancel, closing)."""

    stops_running = True
    analysis: Any  # a request of the analysis protocol: analysis.compute(model, images, ...)
    images: ImageSet
    model_name: str
    priority: int = 9  # a view may give its analysis another place in line
    one_thread: bool = False

    def run(self, worker: Worker) -> AnalysisResult:
        t0 = time.perf_counter()

        def progress(done: int, total: int) -> None:
            worker.check_stop(self.id, f"{self.analysis.kind}: cancelled")
            worker.progressed.emit(Progress(self.id, done, total))

        progress(0, 1)
        figure = self.analysis.compute(worker.model, self.images, model_name=self.model_name, progress=progress)
        return AnalysisResult(self.id, figure, ms_since(t0))


@dataclass(frozen=True, eq=False)
class ExportRequest(Job):
    """Compute `figure` and write it to `path`, as the command line does; exports queue, none replaces another."""

    priority = 5
    queues = True
    depends_on = frozenset()
    images: ImageSet
    figure: Any  # a request of the analysis protocol
    path: str
    model_name: str
    dpi: int = DEFAULT_DPI

    def run(self, worker: Worker) -> ExportDone:
        from explorer.render import write  # matplotlib: on the first drawing only

        t0 = time.perf_counter()
        stop = f"{self.path}: not written, the window closed"
        worker.check_stop(self.id, stop)
        figure = self.figure.compute(
            worker.model, self.images, model_name=self.model_name, should_stop=lambda: worker.should_stop(self.id)
        )
        worker.check_stop(self.id, stop)  # the window closed while the figure was computed: write nothing
        path = write(figure, self.path, dpi=self.dpi)
        return ExportDone(self.id, str(path), self.figure.kind, ms_since(t0))


# Results -----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ViewResult:
    request_id: int
    index: int
    layer: str
    feature: int
    image: np.ndarray  # uint8 [S, S, 3] (S: the model's input size)
    activations: np.ndarray  # float32 [C, h, w]
    probs: np.ndarray  # float32 [classes]
    projections: tuple[tuple[str, np.ndarray], ...]  # (title, [3, H, W])
    elapsed_ms: float
    unreadable: str = ""  # why the image's file could not be read ("" when it was): it gets no prediction


@dataclass(frozen=True, eq=False)
class PredictionsReady:
    request_id: int
    source_key: str
    start: int
    predicted: np.ndarray  # int64 [stop - start]
    elapsed_ms: float
    unreadable: tuple[tuple[int, str], ...] = ()  # (image, reason) of the files in the batch that could not be read


@dataclass(frozen=True, eq=False)
class DataLoaded:
    request_id: int
    images: ImageSet
    source: str | tuple[str, ...]  # what was opened (the probes when a fallback happened)
    notice: str  # why the fallback happened; "" when the requested source opened
    elapsed_ms: float


@dataclass(frozen=True, eq=False)
class AnalysisResult:
    request_id: int
    figure: Any  # the analysis's figure: numpy arrays and plain values only
    elapsed_ms: float


@dataclass(frozen=True)
class Progress:
    """How far a running job is (sent by the worker while it runs)."""

    request_id: int
    done: int
    total: int


@dataclass(frozen=True, eq=False)
class ModelLoaded:
    """The worker now runs `opened.model` (the scan thread makes its own copy when it first scans with it)."""

    request_id: int
    opened: Any  # explorer.gui.state.OpenModel
    elapsed_ms: float


@dataclass(frozen=True)
class ExportDone:
    request_id: int
    path: str
    kind: str
    elapsed_ms: float


@dataclass(frozen=True)
class Failure:
    request_id: int
    kind: str
    message: str
