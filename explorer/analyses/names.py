"""How titles and labels name things: the model, a dataset image, a class."""

from __future__ import annotations

import os

from torch import nn

from explorer.core.images import ImageSet
from explorer.core.model_meta import model_info


def model_label(model: nn.Module | str | os.PathLike[str] | None) -> str:
    """How titles name the model: its name from `load_model` ("SeedNet (bundled)", "resnet18 (my.pt)").

    A checkpoint path (or None) instead of a model names SeedNet weights, as before.
    """
    if isinstance(model, nn.Module):
        return model_info(model).name
    return "SeedNet (bundled)" if model is None else f"SeedNet ({os.path.basename(os.fspath(model))})"


def image_label(dataset: ImageSet, index: int) -> str:
    """ "#index class": the class name when the image has one, else its caption, shortened."""
    label = int(dataset.labels[index])
    name = dataset.classes[label] if 0 <= label < len(dataset.classes) else dataset.caption(index)
    return f"#{index} {name if len(name) <= 16 else name[:15] + '~'}"


def class_name(model: nn.Module, c: int) -> str:
    """The model's name for its class `c` (a data set's own numbering may differ: see explorer.core.labels)."""
    classes = model_info(model).classes
    return classes[c] if 0 <= c < len(classes) else f"class {c}"
