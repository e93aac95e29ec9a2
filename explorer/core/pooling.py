"""Facts about a model's layer stack that the views need: is there max-pooling below a layer?"""

from __future__ import annotations

from torch import nn


def pooled_below(model: nn.Module, layer: str) -> bool:
    """Whether a MaxPool2d comes before `layer` in the model's module order (its way down has switches).

    Where none does, unpooling by the switches and by fill give the same pixels.
    """
    for name, module in model.named_modules():
        if name == layer:
            return False
        if isinstance(module, nn.MaxPool2d):
            return True
    raise KeyError(f"the model has no layer {layer!r}")
