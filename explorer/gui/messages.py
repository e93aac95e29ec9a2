"""What crosses the thread boundary: frozen request and result dataclasses of numpy arrays and plain values.

Every request carries an increasing id; a view ignores a result older than the one it shows.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field

import numpy as np

from explorer.core.images import ImageSet
from explorer.core.projection import METHODS
from explorer.core.scan import TopK
from explorer.core.synthesis import MaximizeSettings
from explorer.export.backprop_figure import BackpropFigure, BackpropRequest
from explorer.export.experiments import ExperimentFigure, ExperimentRequest
from explorer.export.maximize_figure import MaximizeRequest
from explorer.export.request import FigureRequest
from explorer.export.write import DEFAULT_DPI

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


# Requests ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ViewRequest:
    """What the main views show for one image, layer and feature: maps, probabilities, projection(s)."""

    images: ImageSet
    index: int
    layer: str
    feature: int
    options: ProjectionOptions = ProjectionOptions()
    id: int = field(default_factory=next_request_id)


@dataclass(frozen=True, eq=False)
class PageRequest:
    """The feature's projection for a page of images (Feature across images); runs after the views."""

    images: ImageSet
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
class BackpropViewRequest:
    """One conv input element's delta counted on fingers, for images[request.image] (the Backpropagation view)."""

    images: ImageSet
    figure: BackpropRequest
    model_name: str
    id: int = field(default_factory=next_request_id)


@dataclass(frozen=True, eq=False)
class SynthesisRequest:
    """Synthesize `features` of `layer` (the Synthesized view); intermediate images every `every` steps.

    A newer SynthesisRequest stops a running one at its next step (latest wins).
    """

    layer: str
    features: tuple[int, ...]
    settings: MaximizeSettings = field(default_factory=MaximizeSettings)
    every: int = 8
    id: int = field(default_factory=next_request_id)


@dataclass(frozen=True, eq=False)
class ExperimentViewRequest:
    """Occlusion, feature evolution or invariance for the window's images (a view of the Analyse menu); long."""

    images: ImageSet
    figure: ExperimentRequest
    model_name: str
    id: int = field(default_factory=next_request_id)


@dataclass(frozen=True, eq=False)
class ExportRequest:
    """Compute `figure` and write it to `path` (compute_figure + export_figure, as the command line does)."""

    images: ImageSet
    figure: FigureRequest | BackpropRequest | MaximizeRequest | ExperimentRequest
    path: str
    model_name: str
    top_k: TopK | None = None  # the window's scan of the layer, for topk
    dpi: int = DEFAULT_DPI
    id: int = field(default_factory=next_request_id)


@dataclass(frozen=True, eq=False)
class ModelRequest:
    """Open a model (explorer.core.load_model's arguments); on success the worker switches to it."""

    spec: str = "seednet"
    checkpoint: str | None = None
    num_classes: int | None = None
    input_size: int | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    weights: str | None = None  # a torchvision weight set, or "random"
    resize: int | None = None
    classes: str | None = None  # a file of class names
    id: int = field(default_factory=next_request_id)

    @classmethod
    def reopening(cls, info) -> ModelRequest:
        """The request that opens again the model `info` (a ModelInfo) describes: its weights and preprocessing too."""
        weights = info.weights if info.weights not in (None, "checkpoint", "pretrained") else None
        return cls(
            info.spec,
            info.checkpoint,
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


Request = (
    ViewRequest
    | PageRequest
    | PredictRequest
    | LoadRequest
    | TopPatchesRequest
    | ExportRequest
    | BackpropViewRequest
    | SynthesisRequest
    | ExperimentViewRequest
    | ModelRequest
)


# Results -----------------------------------------------------------------------------------------


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
    elapsed_ms: float
    unreadable: str = ""  # why the image's file could not be read ("" when it was): it gets no prediction


@dataclass(frozen=True, eq=False)
class PageResult:
    request_id: int
    layer: str
    feature: int
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
    unreadable: tuple[tuple[int, str], ...] = ()  # (image, reason) of the files in the batch that could not be read


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
    projections: np.ndarray  # float32 [k, side, side, 3]: deconvnet, keep="max", as the topk figure's tiles
    elapsed_ms: float


@dataclass(frozen=True, eq=False)
class BackpropViewResult:
    request_id: int
    figure: BackpropFigure  # numpy arrays and plain values only
    elapsed_ms: float


@dataclass(frozen=True, eq=False)
class SynthesisImages:
    """Synthesized images of a SynthesisRequest: intermediate (step < steps) or final (`done`).

    images: uint8 [F, H, W, 3]; values: float32 [F], the post-ReLU response each image reached
    (final only; NaN while optimizing); cached: how many features came from the cache.
    """

    request_id: int
    layer: str
    features: tuple[int, ...]
    settings: MaximizeSettings
    step: int
    steps: int
    images: np.ndarray
    values: np.ndarray
    done: bool
    cached: int = 0
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class SynthesisStopped:
    """A synthesis stopped before its last step (a newer one, or Cancel); nothing was cached."""

    request_id: int
    step: int


@dataclass(frozen=True, eq=False)
class ExperimentViewResult:
    request_id: int
    figure: ExperimentFigure  # numpy arrays and plain values only
    elapsed_ms: float


@dataclass(frozen=True)
class ExperimentProgress:
    """How far a running experiment is (sent by the worker while it runs)."""

    request_id: int
    done: int
    total: int


@dataclass(frozen=True, eq=False)
class ModelLoaded:
    """The worker now runs `opened.model` (the scan thread makes its own copy when it first scans with it)."""

    request_id: int
    opened: object  # explorer.gui.window_state.OpenModel
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
