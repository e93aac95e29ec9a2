"""The worker: a QObject on its own QThread that owns the model and runs every torch call.

Requests and results are frozen dataclasses. Results hold numpy arrays and plain values only
(a DataLoaded result hands over the opened ImageSet, a read-only, thread-safe data source).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal, Slot

from explorer.core.datasets import files_dataset, open_dataset
from explorer.core.errors import DataError, ExplorerError
from explorer.core.images import ImageSet
from explorer.core.model import SeedNet
from explorer.core.projection import METHODS, activations, predict, project
from explorer.gui.imaging import image_to_rgb, projection_to_rgb

_ids = itertools.count(1)


def next_request_id() -> int:
    """A process-wide increasing id: a larger id is a newer request."""
    return next(_ids)


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


def projection_variants(options: ProjectionOptions) -> tuple[tuple[str, str, str], ...]:
    """(title, method, unpool) of each projection to show for `options`."""
    if options.compare == "unpooling":
        return (("deconvnet, switches", "deconvnet", "switches"), ("deconvnet, fill", "deconvnet", "fill"))
    if options.compare == "methods":
        return tuple((m, m, options.unpool if m == "deconvnet" else "switches") for m in METHODS)
    o = options.normalised()
    return ((f"{o.method}, {o.unpool}", o.method, o.unpool),)


@dataclass(frozen=True, eq=False)
class ViewRequest:
    """Everything the views show for one image, layer and feature (and a page of other images)."""

    images: ImageSet
    index: int
    layer: str
    feature: int
    options: ProjectionOptions = ProjectionOptions()
    page: tuple[int, ...] = ()
    id: int = field(default_factory=next_request_id)


@dataclass(frozen=True, eq=False)
class PredictRequest:
    """The predicted class of images[start:stop]."""

    images: ImageSet
    start: int
    stop: int
    id: int = field(default_factory=next_request_id)


@dataclass(frozen=True, eq=False)
class LoadRequest:
    """Open a source (or a list of files); on a DataError, `fallback` opens the probe patterns instead."""

    source: str | tuple[str, ...]
    split: str = "test"
    download: bool = False
    fallback: bool = False
    id: int = field(default_factory=next_request_id)


@dataclass(frozen=True, eq=False)
class TopPatchesRequest:
    """One feature's top images (from a scan) cut to their receptive-field boxes, with projections."""

    images: ImageSet
    layer: str
    feature: int
    indices: tuple[int, ...]
    boxes: np.ndarray  # int64 [k, 4] (top, left, bottom, right), exclusive ends
    side: int  # the side of the layer's receptive field in pixels
    id: int = field(default_factory=next_request_id)


@dataclass(frozen=True, eq=False)
class ViewResult:
    request_id: int
    index: int
    layer: str
    feature: int
    image: np.ndarray  # uint8 [32, 32, 3]
    activations: np.ndarray  # float32 [C, h, w]
    probs: np.ndarray  # float32 [classes]
    projections: tuple[tuple[str, np.ndarray], ...]  # (title, [3, H, W])
    page: tuple[int, ...]
    page_images: np.ndarray  # uint8 [n, 32, 32, 3]
    page_projections: np.ndarray  # float32 [n, 3, H, W]
    elapsed_ms: float


@dataclass(frozen=True, eq=False)
class PredictionsReady:
    request_id: int
    source_key: str
    start: int
    predicted: np.ndarray  # int64 [stop - start]
    elapsed_ms: float


@dataclass(frozen=True, eq=False)
class DataLoaded:
    request_id: int
    images: ImageSet
    source: str | tuple[str, ...]  # what was opened (the probes when a fallback happened)
    notice: str  # why the fallback happened; "" when the requested source opened
    elapsed_ms: float


@dataclass(frozen=True, eq=False)
class TopPatchesResult:
    request_id: int
    layer: str
    feature: int
    indices: tuple[int, ...]
    patches: np.ndarray  # float32 [k, side, side, 3]: the image under each box, in [0, 1]
    projections: np.ndarray  # float32 [k, side, side, 3]: deconvnet, keep="max", by projection_to_rgb
    elapsed_ms: float


@dataclass(frozen=True)
class Failure:
    request_id: int
    kind: str
    message: str


Request = ViewRequest | PredictRequest | LoadRequest | TopPatchesRequest

# The two greys of the checkerboard where a receptive field leaves the picture (as explorer.export.topk).
FIELD_PAD = (200 / 255, 235 / 255)


def _ms(t0: float) -> float:
    return 1000.0 * (time.perf_counter() - t0)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def field_crop(picture: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Float [H, W, 3] -> [size, size, 3]: the clipped box in place in its full receptive field.

    Rows or columns the box lost at a picture edge (at the start when it begins at 0, else at the
    end) show a light checkerboard, so every tile shows the same field.
    """
    top, left, bottom, right = (int(v) for v in box)
    checker = np.add.outer(np.arange(size), np.arange(size)) % 2 == 1
    out = np.repeat(np.where(checker, FIELD_PAD[1], FIELD_PAD[0])[..., None], 3, axis=2).astype(np.float32)
    h, w = bottom - top, right - left
    r0 = size - h if top == 0 and bottom < picture.shape[0] else 0
    c0 = size - w if left == 0 and right < picture.shape[1] else 0
    out[r0 : r0 + h, c0 : c0 + w] = picture[top:bottom, left:right]
    return out


class Worker(QObject):
    """Runs one request at a time in its thread; every exception comes back as a Failure."""

    result_ready = Signal(object)
    request_failed = Signal(object)

    def __init__(self, model: SeedNet, device: torch.device) -> None:
        super().__init__()
        self.model = model
        self.device = device
        # Tests set this to block or break the worker; it runs in the worker thread before each request.
        self.before_run: Callable[[Request], None] | None = None

    @Slot(object)
    def run(self, request: Request) -> None:
        try:
            if self.before_run is not None:
                self.before_run(request)
            result = self._handle(request)
        except Exception as exc:  # the thread must survive anything a request does
            message = str(exc) if isinstance(exc, ExplorerError) else f"{type(exc).__name__}: {exc}"
            self.request_failed.emit(Failure(request.id, type(request).__name__, message))
        else:
            self.result_ready.emit(result)

    def _handle(self, request: Request) -> ViewResult | PredictionsReady | DataLoaded | TopPatchesResult:
        if isinstance(request, ViewRequest):
            return self._view(request)
        if isinstance(request, PredictRequest):
            return self._predict(request)
        if isinstance(request, TopPatchesRequest):
            return self._top_patches(request)
        return self._load(request)

    def _view(self, req: ViewRequest) -> ViewResult:
        t0 = time.perf_counter()
        x = req.images.tensor([req.index], self.device)
        acts = activations(self.model, x, req.layer)[0]
        probs = predict(self.model, x)[0]
        keep = req.options.keep
        projections = tuple(
            (title, _numpy(project(self.model, x, req.layer, req.feature, method=m, unpool=u, keep=keep)[0, 0]))
            for title, m, u in projection_variants(req.options)
        )
        page = list(req.page)
        page_images = req.images.images(page) if page else np.zeros((0, 32, 32, 3), np.uint8)
        if page:
            o = req.options.normalised()
            xs = req.images.tensor(page, self.device)
            page_proj = _numpy(
                project(self.model, xs, req.layer, req.feature, method=o.method, unpool=o.unpool, keep=keep)[:, 0]
            )
        else:
            page_proj = np.zeros((0, 3, 32, 32), np.float32)
        return ViewResult(
            req.id, req.index, req.layer, req.feature, req.images.image(req.index), _numpy(acts), _numpy(probs),
            projections, tuple(page), page_images, page_proj, _ms(t0),
        )  # fmt: skip

    def _top_patches(self, req: TopPatchesRequest) -> TopPatchesResult:
        t0 = time.perf_counter()
        empty = np.zeros((0, req.side, req.side, 3), np.float32)
        if not req.indices:
            return TopPatchesResult(req.id, req.layer, req.feature, (), empty, empty, _ms(t0))
        x = req.images.tensor(list(req.indices), self.device)
        p = _numpy(project(self.model, x, req.layer, req.feature, method="deconvnet", keep="max")[:, 0])
        pixels = req.images.images(list(req.indices))
        patches = np.stack([field_crop(image_to_rgb(im), b, req.side) for im, b in zip(pixels, req.boxes, strict=True)])
        projections = np.stack(
            [field_crop(projection_to_rgb(q), b, req.side) for q, b in zip(p, req.boxes, strict=True)]
        )
        return TopPatchesResult(req.id, req.layer, req.feature, req.indices, patches, projections, _ms(t0))

    def _predict(self, req: PredictRequest) -> PredictionsReady:
        t0 = time.perf_counter()
        x = req.images.tensor(np.arange(req.start, req.stop), self.device)
        predicted = _numpy(predict(self.model, x).argmax(1)).astype(np.int64)
        return PredictionsReady(req.id, req.images.source_key, req.start, predicted, _ms(t0))

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
