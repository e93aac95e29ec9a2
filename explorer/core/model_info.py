"""What the explorer needs to know about a model besides its modules: name, input size, normalisation, classes."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from explorer.core.model import CLASSES


@dataclass(frozen=True)
class ModelInfo:
    """`mean`/`std` are set when the model expects normalised input (the explorer normalises for it)."""

    name: str
    input_size: int
    classes: tuple[str, ...] = CLASSES
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    spec: str = ""
    checkpoint: str | None = None


def model_info(model: nn.Module) -> ModelInfo:
    """The info `load_model` attached to `model`, or defaults read from its class (input size 224 otherwise)."""
    info = getattr(model, "explorer_info", None)
    if isinstance(info, ModelInfo):
        return info
    size = int(getattr(model, "input_size", 224))
    n = _num_classes(model)
    classes = CLASSES if n == len(CLASSES) else tuple(f"class {i}" for i in range(n or 0))
    return ModelInfo(type(model).__name__, size, classes)


def _num_classes(model: nn.Module) -> int | None:
    last = None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            last = m
    return last.out_features if last is not None else None
