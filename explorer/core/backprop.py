"""SeedNet's gradients by hand, with the seed's backprop equations and no autograd.

The seed writes the forward pass as a convolution, z^{l+1} = w * a^l + b, and derives the
backward pass as delta^l = (delta^{l+1} * rot180(w)) . sigma'(z^l): the same operation with the
kernel rotated 180 degrees and 'full' padding. PyTorch's conv2d is a cross-correlation, and
with it the statement keeps its shape: the forward correlates with w, the backward correlates
with rot180(w). docs/backprop.md has the derivation.

explain_delta (explorer.core.delta_terms) counts one input element's delta of any model's conv
layer term by term, as the seed counts it on fingers, beside autograd's value.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from explorer.core.delta_terms import DeltaExplanation, DeltaTerm, StepBelow, conv_layers, explain_delta
from explorer.core.model import LAYERS, SeedNet

__all__ = [
    "DeltaExplanation",
    "DeltaTerm",
    "StepBelow",
    "conv_delta",
    "conv_layers",
    "conv_weight_grad",
    "explain_delta",
    "manual_gradients",
    "rot180",
]


def rot180(weight: torch.Tensor) -> torch.Tensor:
    """The kernels of a conv weight [out, in, k, k] turned 180 degrees: w[a, b] -> w[-a, -b]."""
    return torch.flip(weight, dims=(2, 3))


def conv_delta(delta_next: torch.Tensor, weight: torch.Tensor, padding: int) -> torch.Tensor:
    """dC/d(input) of a stride-1 conv layer, given dC/d(output) `delta_next` [B, out, H', W'].

    Returns [B, in, H, W], the size of the forward input; multiply by sigma'(z) for delta^l.
    """
    k = weight.shape[-1]
    # Output z[x'] read input[x' + u] with weight w[u], so input[x] fed every z[x - u] and
    # collects delta[x - u] * w[u] = delta[x + v] * w[-v]: a correlation with rot180(w).
    # Each input position feeds up to k outputs on each side, so the delta is padded by k - 1
    # (a 'full' convolution); the forward padding then crops p of those, leaving k - 1 - p.
    pad = k - 1 - padding
    # The backward maps out-channels to in-channels, hence the transpose to [in, out, k, k].
    return F.conv2d(F.pad(delta_next, (pad, pad, pad, pad)), rot180(weight).transpose(0, 1))


def conv_weight_grad(inp: torch.Tensor, delta: torch.Tensor, kernel_size: int, padding: int) -> torch.Tensor:
    """dC/dw [out, in, k, k] of a stride-1 conv layer with input `inp` [B, in, H, W] and delta [B, out, H', W'].

    dC/dw[a, b] = sum over batch and (x, y) of delta[x, y] * inp_padded[x + a, y + b].
    """
    padded = F.pad(inp, (padding, padding, padding, padding))
    # The seed's delta * sigma(rot180(z^{l-1})) is a true convolution with the input rotated;
    # two rotations cancel, so with conv2d (a correlation) we correlate the input with delta.
    # Batch plays the role of channels here, summed over: [in, B, H, W] (x) [out, B, H', W'].
    grad = F.conv2d(padded.transpose(0, 1), delta.transpose(0, 1)).transpose(0, 1)
    if grad.shape[-2:] != (kernel_size, kernel_size):
        raise ValueError(
            f"delta {tuple(delta.shape)} does not fit a {kernel_size}x{kernel_size} kernel on {tuple(inp.shape)}"
        )
    return grad


def _conv_forward(conv: torch.nn.Conv2d, a: torch.Tensor, padding: int) -> torch.Tensor:
    return F.conv2d(a, conv.weight, conv.bias, padding=padding)


def manual_gradients(model: SeedNet, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Gradients of the mean cross-entropy of `model` on (images, labels), keyed as in named_parameters().

    The model is treated as in eval mode (dropout is the identity) whatever its training flag,
    which is left untouched; no autograd is used and no parameter's .grad is written.
    """
    conv1, conv2 = LAYERS["conv1"], LAYERS["conv2"]  # kernel and padding, typed as ints
    with torch.no_grad():
        # Forward, keeping z (pre-activation), a (post-activation) and the max-pool switches.
        z1 = _conv_forward(model.conv1, images, conv1.padding)
        p1, switches1 = F.max_pool2d(F.relu(z1), 2, return_indices=True)
        z2 = _conv_forward(model.conv2, p1, conv2.padding)
        p2, switches2 = F.max_pool2d(F.relu(z2), 2, return_indices=True)
        flat = p2.flatten(1)
        z3 = F.linear(flat, model.fc1.weight, model.fc1.bias)
        a3 = F.relu(z3)
        logits = F.linear(a3, model.fc2.weight, model.fc2.bias)

        # Output error of softmax + cross-entropy; the 1/B comes from taking the mean.
        onehot = F.one_hot(labels, logits.shape[1]).to(logits.dtype)
        delta4 = (torch.softmax(logits, dim=1) - onehot) / images.shape[0]

        # Fully connected layers as in an MLP: delta_l = (W^T delta_{l+1}) . sigma'(z_l).
        delta3 = (delta4 @ model.fc2.weight) * (z3 > 0)
        delta_flat = delta3 @ model.fc1.weight

        # Max-pool passes each delta to the position that won the max; the rest get zero.
        delta_p2 = delta_flat.view_as(p2)
        delta2 = F.max_unpool2d(delta_p2, switches2, (2, 2), output_size=z2.shape[-2:]) * (z2 > 0)
        delta_p1 = conv_delta(delta2, model.conv2.weight, conv2.padding)
        delta1 = F.max_unpool2d(delta_p1, switches1, (2, 2), output_size=z1.shape[-2:]) * (z1 > 0)

        grads = {
            "conv1.weight": conv_weight_grad(images, delta1, conv1.kernel, conv1.padding),
            "conv1.bias": delta1.sum(dim=(0, 2, 3)),
            "conv2.weight": conv_weight_grad(p1, delta2, conv2.kernel, conv2.padding),
            "conv2.bias": delta2.sum(dim=(0, 2, 3)),
            "fc1.weight": delta3.T @ flat,
            "fc1.bias": delta3.sum(dim=0),
            "fc2.weight": delta4.T @ a3,
            "fc2.bias": delta4.sum(dim=0),
        }
    return {name: grads[name] for name, _ in model.named_parameters()}
