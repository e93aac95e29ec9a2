"""What the explorer needs to know about a model besides its modules: name, input size, preprocessing, classes."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ModelInfo:
    """How the model sees an image and what it answers.

    `input_size` (= `crop`) is the side of the square the model takes; a photo's shorter side is
    resized to `resize` with `interpolation` first, then its centre cropped (`explorer.core.preprocess`).
    `mean`/`std` are set when the model expects normalised input (the explorer normalises for it).
    `weights` names the torchvision or timm weights the model was opened with, if any.
    """

    name: str
    input_size: int
    classes: tuple[str, ...] = ()
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    spec: str = ""
    checkpoint: str | None = None
    resize: int = 0  # 0: the input size (no resize beyond the crop)
    interpolation: str = "bilinear"
    weights: str | None = None

    def __post_init__(self) -> None:
        if self.resize < self.input_size:
            object.__setattr__(self, "resize", self.input_size)

    @property
    def crop(self) -> int:
        return self.input_size


def model_info(model: nn.Module) -> ModelInfo:
    """The info `load_model` attached to `model`, or defaults read from its class (input size 224 otherwise)."""
    info = getattr(model, "explorer_info", None)
    if isinstance(info, ModelInfo):
        return info
    size = int(getattr(model, "input_size", 224))
    named = getattr(model, "classes", None)  # the bundled CIFAR-10 models name theirs
    if isinstance(named, tuple) and all(isinstance(c, str) for c in named):
        return ModelInfo(type(model).__name__, size, named)
    return ModelInfo(type(model).__name__, size, default_classes(_num_classes(model)))


def default_classes(n: int | None) -> tuple[str, ...]:
    """ "class 0" ... "class N-1": a model whose class names nobody gave."""
    return tuple(f"class {i}" for i in range(n or 0))


def has_class_names(info: ModelInfo) -> bool:
    """Whether the classes were named (by weights, a card, --classes, a data set), not numbered."""
    return info.classes != default_classes(len(info.classes))


def _num_classes(model: nn.Module) -> int | None:
    last = None
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            last = m
    if isinstance(last, nn.Linear):
        return last.out_features
    if isinstance(last, nn.Conv2d):  # SqueezeNet's classifier is a 1x1 conv
        return last.out_channels
    return None
