"""Saliency of a class: the input-space picture of one logit per image, by the engine's way down or by Grad-CAM.

`logit_attribution` sends a one-hot signal at the logits down the traced graph with the engine's
own rules (`explorer.core.descent`: the gradient, guided backpropagation or the deconvnet), so
the pictures are those the projections use, carried from the class score instead of a layer's
maps. `saliency_maps` makes them comparable: the absolute value summed over the colour channels,
[B, H, W]; for "gradcam" the CAM of the last selectable layer upsampled to the input.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from explorer.core.class_activation import cam, resolve_targets, upsample_cam
from explorer.core.descent import Descent
from explorer.core.errors import OptionError
from explorer.core.graph import model_graph
from explorer.core.projection import model_device

SALIENCY_METHODS = ("gradient", "guided", "deconvnet", "gradcam")

Targets = int | Sequence[int] | torch.Tensor | None


@torch.no_grad()
def logit_attribution(
    model: nn.Module, images: torch.Tensor, target: Targets = None, *, method: str = "gradient"
) -> torch.Tensor:
    """The target logit of each image sent down to the input: [B, 3, H, W] on the images' device.

    method "gradient" is d(logit)/d(input); "guided" and "deconvnet" swap the way back through
    rectifiers as `explorer.core.project` does (everything else passes by its gradient).
    """
    if method not in SALIENCY_METHODS[:3]:
        raise OptionError(f"unknown method {method!r}: choose one of {', '.join(SALIENCY_METHODS[:3])}")
    graph = model_graph(model)
    out = next(n for n in graph.gm.graph.nodes if n.op == "output").args[0]
    x = _on_model(model, images)
    was_training = model.training
    model.eval()
    try:
        values = graph.run(x, [out])  # type: ignore[list-item]
        logits = values[out]
        targets = resolve_targets(target, logits)
        signal = torch.zeros_like(logits)
        signal[torch.arange(logits.shape[0], device=logits.device), targets] = 1
        found = Descent(graph, values, method, "switches").run(out, signal, 1)  # type: ignore[arg-type]
    finally:
        model.train(was_training)
    return found.to(images.device)


def saliency_maps(
    model: nn.Module, images: torch.Tensor, target: Targets = None, *, method: str = "gradient"
) -> torch.Tensor:
    """[B, H, W] >= 0 at the input size: |attribution| summed over colours, or the upsampled Grad-CAM of the last layer."""
    if method == "gradcam":
        found = model_graph(model).layers
        if not found:
            raise OptionError("Grad-CAM needs a layer of rectified spatial maps, and this model has none")
        last = found[-1].name
        return upsample_cam(cam(model, images, last, target, method="gradcam"), (images.shape[2], images.shape[3]))
    if method not in SALIENCY_METHODS:
        raise OptionError(f"unknown method {method!r}: choose one of {', '.join(SALIENCY_METHODS)}")
    return logit_attribution(model, images, target, method=method).abs().sum(1)


@torch.no_grad()
def predicted_classes(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The most probable class of each image (dropout off), int64 on the CPU."""
    was_training = model.training
    model.eval()
    try:
        return model(_on_model(model, images)).argmax(1).cpu()
    finally:
        model.train(was_training)


def _on_model(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be [B, 3, H, W], got {tuple(images.shape)}")
    param = next(iter(model.parameters()), None)
    return images.to(device=model_device(model), dtype=param.dtype if param is not None else torch.float32)
