"""Occlusion sensitivity (Zeiler & Fergus, Fig. 7): a grey square slides over the image.

For each position of the square the model sees the occluded copy; what it records there is the
probability of every class, the most probable class and, for a chosen feature, the sum of that
feature's post-ReLU map. All copies of an image go through the model as batches of `batch`
occluded images, so memory stays bounded and no Python loop runs one pass per position.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from explorer.core.graph import model_graph
from explorer.core.projection import model_device

Progress = Callable[[int, int], None]


@dataclass(frozen=True, eq=False)
class Occlusion:
    """What the sliding square did, on the CPU. Position (i, j) has its top-left corner at (ys[i], xs[j])."""

    probs: torch.Tensor  # [B, classes, ny, nx] class probabilities with the square there
    top_class: torch.Tensor  # [B, ny, nx] most probable class there (int64)
    activation: torch.Tensor | None  # [B, ny, nx] sum of the feature's post-ReLU map, when asked for
    base_probs: torch.Tensor  # [B, classes] without any square
    base_activation: torch.Tensor | None  # [B] the feature's sum without any square
    ys: tuple[int, ...]
    xs: tuple[int, ...]
    size: int
    stride: int
    fill: float
    layer: str | None = None
    feature: int | None = None


def positions(length: int, size: int, stride: int) -> tuple[int, ...]:
    """Top-left corners along one side: 0, stride, 2 * stride, ... up to length - size inclusive."""
    return tuple(range(0, length - size + 1, stride))


def occluded(image: torch.Tensor, corners: torch.Tensor, size: int, fill: float) -> torch.Tensor:
    """[N, C, H, W]: copies of `image` [C, H, W], copy k with a `size` square of `fill` at corners[k] = (y, x)."""
    h, w = image.shape[1:]
    rows = torch.arange(h, device=image.device)
    cols = torch.arange(w, device=image.device)
    y0, x0 = corners[:, :1].to(image.device), corners[:, 1:].to(image.device)
    in_rows = (rows >= y0) & (rows < y0 + size)  # [N, H]
    in_cols = (cols >= x0) & (cols < x0 + size)  # [N, W]
    mask = (in_rows[:, :, None] & in_cols[:, None, :]).unsqueeze(1)  # [N, 1, H, W]
    return torch.where(mask, torch.tensor(fill, dtype=image.dtype, device=image.device), image.unsqueeze(0))


def corner_grid(ys: tuple[int, ...], xs: tuple[int, ...]) -> torch.Tensor:
    """[len(ys) * len(xs), 2] of (y, x), row-major: position (i, j) is row i * len(xs) + j."""
    return torch.cartesian_prod(torch.tensor(ys), torch.tensor(xs)).reshape(-1, 2)


@torch.no_grad()
def occlusion(
    model: nn.Module,
    images: torch.Tensor,
    *,
    size: int = 8,
    stride: int = 2,
    fill: float = 0.5,
    layer: str | None = None,
    feature: int | None = None,
    batch: int = 256,
    progress: Progress | None = None,
) -> Occlusion:
    """Slide a `size` square filled with `fill` over each of `images` [B, 3, H, W] in [0, 1], every `stride` pixels.

    With `layer` and `feature`, also the sum of that feature's post-ReLU map at every position.
    `progress(done, total)` is called after each batch of occluded copies; an exception it raises
    (a cancel) stops the work.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be [B, 3, H, W], got {tuple(images.shape)}")
    h, w = images.shape[2:]
    if not 1 <= size <= min(h, w):
        raise ValueError(f"size {size}: must be between 1 and {min(h, w)} (the image is {h}x{w})")
    if stride < 1:
        raise ValueError(f"stride {stride}: must be at least 1")
    if not 0.0 <= fill <= 1.0:
        raise ValueError(f"fill {fill}: must be in [0, 1]")
    if batch < 1:
        raise ValueError(f"batch {batch}: must be at least 1")
    if (layer is None) != (feature is None):
        raise ValueError("layer and feature go together: give both or neither")
    run = _runner(model, layer, feature)
    device = model_device(model)
    dtype = next(iter(model.parameters()), torch.zeros(())).dtype
    ys, xs = positions(h, size, stride), positions(w, size, stride)
    n = len(ys) * len(xs)
    probs, acts, base_p, base_a = [], [], [], []
    was_training = model.training
    model.eval()
    try:
        x_all = images.to(device=device, dtype=dtype)
        p0, a0 = run(x_all)
        base_p.append(p0.cpu())
        base_a.append(a0.cpu() if a0 is not None else None)
        total = images.shape[0] * n
        corners = corner_grid(ys, xs)
        for b in range(images.shape[0]):
            p_parts, a_parts = [], []
            for start in range(0, n, batch):
                p, a = run(occluded(x_all[b], corners[start : start + batch], size, fill))
                p_parts.append(p.cpu())
                if a is not None:
                    a_parts.append(a.cpu())
                if progress is not None:
                    progress(b * n + min(start + batch, n), total)
            probs.append(torch.cat(p_parts).T.reshape(-1, len(ys), len(xs)))
            if a_parts:
                acts.append(torch.cat(a_parts).reshape(len(ys), len(xs)))
    finally:
        model.train(was_training)
    p_all = torch.stack(probs)
    return Occlusion(
        probs=p_all,
        top_class=p_all.argmax(1),
        activation=torch.stack(acts) if acts else None,
        base_probs=base_p[0],
        base_activation=base_a[0],
        ys=ys,
        xs=xs,
        size=size,
        stride=stride,
        fill=fill,
        layer=layer,
        feature=feature,
    )


def _runner(
    model: nn.Module, layer: str | None, feature: int | None
) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]:
    """A function x -> (softmax probs [N, classes], the feature's map summed [N] or None), one pass each."""
    if layer is None or feature is None:
        return lambda x: (model(x).softmax(1), None)
    graph = model_graph(model)
    info = graph.layer(layer)
    if not 0 <= feature < info.channels:
        raise ValueError(f"feature {feature}: {layer} has features 0..{info.channels - 1}")
    node = graph.by_name[info.node]
    output = next(n for n in graph.gm.graph.nodes if n.op == "output")
    logits_node = output.args[0]

    def run(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        env = graph.run(x, [node, logits_node], switches=False)
        return env[logits_node].softmax(1), env[node][:, feature].sum((1, 2))

    return run
