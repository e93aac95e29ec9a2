"""The data of Zeiler & Fergus's other experiments as figures: occlusion, feature evolution, invariance.

Each request is what the window holds and `cnn-explorer export KIND` parses; compute_experiment
runs the engine on the dataset's images and returns a figure of numpy arrays and plain values,
which both the window's views and the exported files draw (experiments_render).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from explorer.core.feature_evolution import evolution
from explorer.core.graph import model_graph
from explorer.core.images import ImageSet
from explorer.core.invariance_curves import TRANSFORMS, invariance
from explorer.core.labels import model_label
from explorer.core.model_meta import model_info
from explorer.core.occlusion_sensitivity import occlusion
from explorer.core.projection import model_device, project
from explorer.export.errors import ExportError
from explorer.export.normalise import projection_rgb8
from explorer.export.selection import check_indices, describe_indices
from explorer.export.tiles import image_label

Progress = Callable[[int, int], None]

DEFAULT_VALUES = {
    "translate": tuple(float(v) for v in range(-8, 9)),
    "scale": tuple(round(0.6 + 0.05 * i, 2) for i in range(17)),
    "rotate": tuple(float(v) for v in range(-45, 46, 5)),
}
SPREAD = 256  # images evolution searches by default, taken evenly from the whole split
TOP_CLASSES = 3  # classes drawn besides the true one in the invariance figure


def spread(count: int, n: int = SPREAD) -> tuple[int, ...]:
    """`n` indices spread evenly over `count` images (all of them when fewer): class-sorted folders mix."""
    if count <= n:
        return tuple(range(count))
    return tuple(int(i) for i in (np.arange(n) * count) // n)


@dataclass(frozen=True)
class OcclusionRequest:
    image: int
    layer: str
    feature: int
    size: int = 8
    stride: int = 2
    fill: float = 0.5
    target: int | None = None  # the class whose probability is mapped (None: the true class, else the predicted)
    kind: str = "occlusion"


@dataclass(frozen=True)
class EvolutionRequest:
    layer: str
    features: tuple[int, ...]
    images: tuple[int, ...]  # the set searched for each feature's strongest activation
    snapshots: str | None = None  # a snapshot file (None: the bundled model's)
    kind: str = "evolution"


@dataclass(frozen=True)
class InvarianceRequest:
    image: int
    transform: str
    layers: tuple[str, ...]
    values: tuple[float, ...] = ()  # () : DEFAULT_VALUES[transform]
    fill: float = 0.5
    kind: str = "invariance"


ExperimentRequest = OcclusionRequest | EvolutionRequest | InvarianceRequest
EXPERIMENT_KINDS = ("occlusion", "evolution", "invariance")


@dataclass(frozen=True, eq=False)
class OcclusionFigure:
    request: OcclusionRequest
    index: int
    image: np.ndarray  # uint8 [H, W, 3]
    image_label: str
    projection: np.ndarray  # uint8 [H, W, 3]: the feature's projection (deconvnet, whole map)
    target: int
    target_name: str
    target_probs: np.ndarray  # [ny, nx] p(target) with the square at each position
    activation: np.ndarray  # [ny, nx] sum of the feature's map
    top_class: np.ndarray  # [ny, nx] int
    base_prob: float
    base_activation: float
    ys: tuple[int, ...]
    xs: tuple[int, ...]
    classes: tuple[str, ...]
    model_name: str

    @property
    def title(self) -> str:
        r = self.request
        return (
            f"Occlusion: {self.model_name}, image {self.image_label}, {r.layer} feature {r.feature}, "
            f"{r.size}x{r.size} square of grey {r.fill:g}, stride {r.stride}"
        )


def file_stem(request: ExperimentRequest) -> str:
    """What a file of the figure is called by default, e.g. "conv2-occlusion-image5-f7"."""
    if isinstance(request, OcclusionRequest):
        return f"{request.layer}-occlusion-image{request.image}-f{request.feature}"
    if isinstance(request, EvolutionRequest):
        return f"{request.layer}-evolution-{describe_indices(request.features).replace(', ', '_')}"
    return f"invariance-{request.transform}-image{request.image}"


@dataclass(frozen=True, eq=False)
class EvolutionFigure:
    request: EvolutionRequest
    epochs: tuple[int, ...]
    indices: np.ndarray  # [E, F] dataset index of each strongest image
    values: np.ndarray  # [E, F]
    tiles: np.ndarray  # uint8 [E, F, H, W, 3] projections
    labels: tuple[tuple[str, ...], ...]  # [E][F] "#index class"
    model_name: str

    @property
    def title(self) -> str:
        r = self.request
        return (
            f"Feature evolution: {self.model_name}, {r.layer} features {describe_indices(r.features)}, "
            f"strongest of images {describe_indices(r.images)} per snapshot"
        )


@dataclass(frozen=True, eq=False)
class InvarianceFigure:
    request: InvarianceRequest
    index: int
    image_label: str
    values: tuple[float, ...]
    distance: np.ndarray  # [L, V]
    probs: np.ndarray  # [V, classes]
    label: int  # the true class (-1 when unknown)
    shown: tuple[int, ...]  # classes drawn: the true one first, then the top ones
    classes: tuple[str, ...]
    thumbs: np.ndarray  # uint8 [T, H, W, 3] a few of the transformed images
    thumb_values: tuple[float, ...]
    model_name: str

    @property
    def title(self) -> str:
        r = self.request
        return f"Invariance to {r.transform}: {self.model_name}, image {self.image_label}, {', '.join(r.layers)}"


ExperimentFigure = OcclusionFigure | EvolutionFigure | InvarianceFigure


def _rgb8(x: torch.Tensor) -> np.ndarray:
    return np.clip(np.rint(x.permute(1, 2, 0).numpy() * 255), 0, 255).astype(np.uint8)


def _layer(model: torch.nn.Module, layer: str) -> int:
    try:
        return model_graph(model).layer(layer).channels
    except ValueError as exc:
        raise ExportError(str(exc)) from None


def _class_name(model: nn.Module, c: int) -> str:
    """The model's name for its class `c` (a data set's own numbering may differ: see explorer.core.labels)."""
    classes = model_info(model).classes
    return classes[c] if 0 <= c < len(classes) else f"class {c}"


def compute_occlusion(
    model: torch.nn.Module,
    dataset: ImageSet,
    request: OcclusionRequest,
    *,
    model_name: str,
    progress: Progress | None = None,
) -> OcclusionFigure:
    (index,) = check_indices([request.image], len(dataset), "image")
    channels = _layer(model, request.layer)
    if not 0 <= request.feature < channels:
        raise ExportError(f"feature {request.feature}: {request.layer} has features 0..{channels - 1}")
    x = dataset.tensor([index])
    try:
        r = occlusion(model, x, size=request.size, stride=request.stride, fill=request.fill,
                      layer=request.layer, feature=request.feature, progress=progress)  # fmt: skip
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    label = model_label(model, dataset, index)
    target = request.target if request.target is not None else label if label >= 0 else int(r.base_probs[0].argmax())
    if not 0 <= target < r.probs.shape[1]:
        raise ExportError(f"class {target}: the model has classes 0..{r.probs.shape[1] - 1}")
    proj = project(model, x.to(model_device(model)), request.layer, request.feature)[0, 0].cpu().numpy()
    assert r.activation is not None and r.base_activation is not None
    return OcclusionFigure(
        request, index, dataset.image(index), image_label(dataset, index), projection_rgb8(proj), target,
        _class_name(model, target), r.probs[0, target].numpy(), r.activation[0].numpy(), r.top_class[0].numpy(),
        float(r.base_probs[0, target]), float(r.base_activation[0]), r.ys, r.xs,
        tuple(_class_name(model, c) for c in range(r.probs.shape[1])), model_name,
    )  # fmt: skip


def compute_evolution(
    model: torch.nn.Module,
    dataset: ImageSet,
    request: EvolutionRequest,
    *,
    model_name: str,
    snapshots: dict[int, dict[str, torch.Tensor]],
    progress: Progress | None = None,
) -> EvolutionFigure:
    channels = _layer(model, request.layer)
    feats = check_indices(request.features, channels, "feature")
    images = check_indices(request.images, len(dataset), "image")
    try:
        steps = evolution(model, snapshots, dataset.tensor(list(images)), request.layer, list(feats), progress=progress)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    indices = np.array([[images[int(i)] for i in s.indices] for s in steps], dtype=np.int64).reshape(len(steps), -1)
    return EvolutionFigure(
        request,
        tuple(s.epoch for s in steps),
        indices,
        np.stack([s.values.numpy() for s in steps]),
        np.stack([projection_rgb8(s.projections.numpy()) for s in steps]),
        tuple(tuple(image_label(dataset, int(i)) for i in row) for row in indices),
        model_name,
    )


def compute_invariance(
    model: torch.nn.Module,
    dataset: ImageSet,
    request: InvarianceRequest,
    *,
    model_name: str,
    progress: Progress | None = None,
) -> InvarianceFigure:
    if request.transform not in TRANSFORMS:
        raise ExportError(f"transform {request.transform}: unknown (use {', '.join(TRANSFORMS)})")
    if not request.layers:
        raise ExportError("no layer given")
    for layer in request.layers:
        _layer(model, layer)
    (index,) = check_indices([request.image], len(dataset), "image")
    values = request.values or DEFAULT_VALUES[request.transform]
    try:
        r = invariance(
            model, dataset.tensor([index]), request.transform, values, layer=list(request.layers), fill=request.fill
        )
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    if progress is not None:
        progress(1, 1)
    label = model_label(model, dataset, index)
    probs = r.probs.numpy()
    order = [int(c) for c in np.argsort(-probs.max(0), kind="stable") if int(c) != label]
    shown = ((label,) if label >= 0 else ()) + tuple(order[:TOP_CLASSES])
    picks = sorted({0, len(values) // 4, len(values) // 2, (3 * len(values)) // 4, len(values) - 1})
    return InvarianceFigure(
        request, index, image_label(dataset, index), tuple(values), r.distance.numpy(), probs, label, shown,
        tuple(_class_name(model, c) for c in range(probs.shape[1])),
        np.stack([_rgb8(r.images[i]) for i in picks]), tuple(values[i] for i in picks), model_name,
    )  # fmt: skip


def compute_experiment(
    model: torch.nn.Module,
    dataset: ImageSet,
    request: ExperimentRequest,
    *,
    model_name: str,
    progress: Progress | None = None,
) -> ExperimentFigure:
    """The figure of any experiment request; evolution loads its snapshots (the bundled model's by default)."""
    if isinstance(request, OcclusionRequest):
        return compute_occlusion(model, dataset, request, model_name=model_name, progress=progress)
    if isinstance(request, InvarianceRequest):
        return compute_invariance(model, dataset, request, model_name=model_name, progress=progress)
    from explorer.core.checkpoint import load_snapshots
    from explorer.core.errors import CheckpointError

    name = (model_info(model).spec or "seednet") if request.snapshots is None else "seednet"
    try:
        snapshots = load_snapshots(request.snapshots, model=name)
    except CheckpointError as exc:
        raise ExportError(str(exc)) from None
    return compute_evolution(model, dataset, request, model_name=model_name, snapshots=snapshots, progress=progress)
