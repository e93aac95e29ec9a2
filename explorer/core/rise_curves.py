"""RISE's deletion and insertion metrics (Petsiuk et al., 2018): does the saliency order the pixels the model needs?

Deletion removes the image's pixels (sets them to black, 0) in order of decreasing saliency and
follows the target's probability down; insertion starts from a blurred copy (Gaussian, 11 x 11
taps, sigma 5, zero padding, as RISE's code) and puts the original pixels back in the same order.
Each curve has `steps + 1` points at the fractions 0, 1/steps, ..., 1 of the pixels; its area is
the trapezoid rule over those fractions. A good map gives a low deletion and a high insertion area.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from explorer.core.class_activation import upsample_cam
from explorer.core.errors import OptionError
from explorer.core.projection import model_device

BLUR_TAPS, BLUR_SIGMA = 11, 5.0
_BATCH_ELEMENTS = 1 << 24


@dataclass(frozen=True)
class DeletionInsertion:
    """The two probability curves of one image's target, at `fractions` of its pixels, and their areas."""

    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray
    deletion_auc: float
    insertion_auc: float


def blurred(image: torch.Tensor, taps: int = BLUR_TAPS, sigma: float = BLUR_SIGMA) -> torch.Tensor:
    """Each channel of [B, 3, H, W] convolved with a normalised taps x taps Gaussian, zero padded (RISE's substrate)."""
    t = torch.arange(taps, dtype=torch.float64) - (taps - 1) / 2
    g = torch.exp(-(t * t) / (2 * sigma * sigma))
    kernel = torch.outer(g, g)
    kernel = (kernel / kernel.sum()).to(image.dtype).to(image.device)
    weight = kernel.expand(image.shape[1], 1, taps, taps)
    return F.conv2d(image, weight, padding=taps // 2, groups=image.shape[1])


@torch.no_grad()
def deletion_insertion(
    model: nn.Module, image: torch.Tensor, saliency: torch.Tensor, target: int, *, steps: int = 32
) -> DeletionInsertion:
    """RISE's curves for one image [3, H, W] (or [1, 3, H, W]) in [0, 1] and its saliency [h, w] (upsampled if smaller)."""
    x = image.unsqueeze(0) if image.dim() == 3 else image
    if x.dim() != 4 or x.shape[:2] != (1, 3):
        raise ValueError(f"one image [3, H, W], got {tuple(image.shape)}")
    if steps < 1:
        raise OptionError(f"steps {steps}: must be at least 1")
    param = next(iter(model.parameters()), None)
    x = x.to(model_device(model), param.dtype if param is not None else torch.float32)
    h, w = x.shape[2:]
    s = saliency.reshape(1, *saliency.shape[-2:]).to(x.device, x.dtype)
    if tuple(s.shape[1:]) != (h, w):
        s = upsample_cam(s, (h, w))
    n = h * w
    # Stable, so equally salient pixels go in reading order.
    order = torch.argsort(-s.flatten(), stable=True)
    counts = [round(k * n / steps) for k in range(steps + 1)]
    rank = torch.empty(n, dtype=torch.long, device=x.device)
    rank[order] = torch.arange(n, device=x.device)
    # Row k of `taken`: the pixels among the first counts[k] in saliency order.
    taken = (rank.unsqueeze(0) < torch.tensor(counts, device=x.device).unsqueeze(1)).view(-1, 1, h, w).to(x.dtype)
    deleted = x * (1 - taken)
    inserted = blurred(x) * (1 - taken) + x * taken
    probs = _probabilities(model, torch.cat([deleted, inserted]), target)
    fractions = np.array(counts, dtype=np.float64) / n
    deletion, insertion = probs[: steps + 1], probs[steps + 1 :]
    return DeletionInsertion(fractions, deletion, insertion, _area(fractions, deletion), _area(fractions, insertion))


def _probabilities(model: nn.Module, batch: torch.Tensor, target: int) -> np.ndarray:
    was_training = model.training
    model.eval()
    try:
        step = max(1, _BATCH_ELEMENTS // batch[0].numel())
        parts = [model(batch[i : i + step]).softmax(1) for i in range(0, batch.shape[0], step)]
    finally:
        model.train(was_training)
    probs = torch.cat(parts)
    if not 0 <= target < probs.shape[1]:
        raise OptionError(f"class {target} out of range 0..{probs.shape[1] - 1}")
    return probs[:, target].double().cpu().numpy()


def _area(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))
