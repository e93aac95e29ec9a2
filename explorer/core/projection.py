"""Projecting features back to pixel space: deconvnet (Zeiler & Fergus), guided backprop, gradient.

One forward pass records what the way down needs (pre-activations and max-pool switches); every
selected feature then goes down at once. The first step down touches only the selected feature's
filter (a grouped transposed convolution), so no work is spent on the zeroed maps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from explorer.core.model import LAYERS, SeedNet

METHODS = ("deconvnet", "guided", "gradient")
UNPOOLS = ("switches", "fill")
KEEPS = ("map", "max")

# Cap on the elements of the widest tensor on the way down; larger requests go in feature chunks.
_CHUNK_ELEMENTS = 1 << 25


@dataclass
class ForwardRecord:
    """What one forward pass up to `layer` leaves for the way down."""

    z1: torch.Tensor
    a1: torch.Tensor
    switches1: torch.Tensor | None = None
    p1: torch.Tensor | None = None
    z2: torch.Tensor | None = None
    a2: torch.Tensor | None = None

    def top(self, layer: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(pre-activation, post-ReLU features) of `layer`."""
        if layer == "conv1":
            return self.z1, self.a1
        assert self.z2 is not None and self.a2 is not None
        return self.z2, self.a2


def check_layer(layer: str) -> None:
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}: choose one of {', '.join(LAYERS)}")


def forward_record(model: SeedNet, x: torch.Tensor, layer: str) -> ForwardRecord:
    """Run the conv stack up to `layer`, keeping pre-activations and the pool-1 switches."""
    check_layer(layer)
    z1 = model.conv1(x)
    a1 = F.relu(z1)
    if layer == "conv1":
        return ForwardRecord(z1, a1)
    p1, switches1 = F.max_pool2d(a1, 2, return_indices=True)
    z2 = model.conv2(p1)
    return ForwardRecord(z1, a1, switches1, p1, z2, F.relu(z2))


def _feature_list(features: int | Sequence[int] | None, channels: int) -> list[int]:
    if features is None:
        return list(range(channels))
    feats = [int(features)] if isinstance(features, int) else [int(f) for f in features]
    bad = [f for f in feats if not 0 <= f < channels]
    if bad:
        raise ValueError(f"feature index {bad[0]} out of range 0..{channels - 1}")
    return feats


def top_signal(maps: torch.Tensor, keep: str) -> torch.Tensor:
    """The signal sent down from [N, h, w] feature maps: the whole map, or only its strongest value."""
    if keep == "map":
        return maps
    flat = maps.flatten(1)
    # argmax takes the first of equal maxima, so ties resolve to the top-left position.
    idx = flat.argmax(1, keepdim=True)
    return torch.zeros_like(flat).scatter_(1, idx, flat.gather(1, idx)).view_as(maps)


def _rectify(g: torch.Tensor, z: torch.Tensor, method: str) -> torch.Tensor:
    """The way back through a ReLU whose forward input was `z`."""
    if method == "deconvnet":
        return F.relu(g)
    if method == "guided":
        return F.relu(g) * (z > 0)
    return g * (z > 0)


def _through_own_filter(sig: torch.Tensor, weight: torch.Tensor, padding: int) -> torch.Tensor:
    """Each map of `sig` [B, F, h, w] through the transposed filter of its own feature: [B * F, Cin, h, w].

    A transposed conv is a correlation with the kernel turned 180 degrees; as one batched matrix
    product over the features (5x5 patches of the map times each feature's own filter), it costs
    F filters, not F x all filters, and no work is spent on the zeroed maps.
    """
    b, nf, h, w = sig.shape
    k = weight.shape[-1]
    cols = F.unfold(sig.reshape(b * nf, 1, h, w), k, padding=padding)  # [B*F, k*k, h*w]
    kernels = weight.flip(2, 3).reshape(nf, weight.shape[1], k * k)  # [F, Cin, k*k]
    kernels = kernels.repeat(b, 1, 1)  # row b * F + f holds feature f's filter
    return torch.bmm(kernels, cols).view(b * nf, weight.shape[1], h, w)


def _unpool(g: torch.Tensor, switches: torch.Tensor, unpool: str, nf: int, size: tuple[int, int]) -> torch.Tensor:
    """[N, C, h, w] -> [N, C, *size]: values back to their switches, or filling each 2x2 square.

    `size` is the pooled map's own: an odd row or column, which the pooling dropped, gets nothing.
    """
    n, c, h, w = g.shape
    if unpool == "fill":
        filled = g[:, :, :, None, :, None].expand(n, c, h, 2, w, 2).reshape(n, c, 2 * h, 2 * w)
        return F.pad(filled, (0, size[1] - 2 * w, 0, size[0] - 2 * h))
    sw = switches.repeat_interleave(nf, dim=0).view(n, c, h * w)  # indices into the flattened size
    return g.new_zeros(n, c, size[0] * size[1]).scatter_(2, sw, g.view(n, c, h * w)).view(n, c, *size)


def _down(
    model: SeedNet, rec: ForwardRecord, layer: str, feats: list[int], keep: str, method: str, unpool: str
) -> torch.Tensor:
    """[B, F, 3, H, W]: the selected features of `layer` taken down to the input."""
    _, a_top = rec.top(layer)
    b, nf = a_top.shape[0], len(feats)
    conv = model.conv1 if layer == "conv1" else model.conv2
    pad = LAYERS[layer].padding
    sig = top_signal(a_top[:, feats].flatten(0, 1), keep).view(b, nf, *a_top.shape[2:])
    # Rectifying the top signal is the identity (it is a post-ReLU map), so the first step is the
    # transposed filter of each feature.
    g = _through_own_filter(sig, conv.weight[feats], pad)
    if layer == "conv2":
        assert rec.switches1 is not None and rec.p1 is not None
        # Unpooling only places values, so the ReLU can be passed before it, on 4x fewer values:
        # at a switch, z1 > 0 exactly when the pooled maximum p1 > 0.
        g = _rectify(g, rec.p1.repeat_interleave(nf, dim=0), method)
        g = _unpool(g, rec.switches1, unpool, nf, (rec.a1.shape[-2], rec.a1.shape[-1]))
        g = F.conv_transpose2d(g, model.conv1.weight, padding=LAYERS["conv1"].padding)
    return g.view(b, nf, *g.shape[1:])


def _check_options(method: str, unpool: str, keep: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    if unpool not in UNPOOLS:
        raise ValueError(f"unknown unpool {unpool!r}: choose one of {', '.join(UNPOOLS)}")
    if keep not in KEEPS:
        raise ValueError(f"unknown keep {keep!r}: choose one of {', '.join(KEEPS)}")
    if unpool == "fill" and method != "deconvnet":
        raise ValueError(f"unpool='fill' belongs to the deconvnet; {method} follows the switches")


class Projector:
    """One forward pass of a batch of images up to a layer, then any features down, as often as asked.

    Scrubbing through features of the same images reuses the forward pass; `project` below is
    the one-shot form.
    """

    @torch.no_grad()
    def __init__(self, model: SeedNet, images: torch.Tensor, layer: str) -> None:
        check_layer(layer)
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be [B, 3, H, W], got {tuple(images.shape)}")
        self.model = model
        self.layer = layer
        self.out_device = images.device
        param = model.conv1.weight
        x = images.to(device=param.device, dtype=param.dtype)
        self.record = forward_record(model, x, layer)
        b, _, h, w = x.shape
        # The widest tensor on the way down is [B * F, conv1 channels, H, W].
        self._step = max(1, _CHUNK_ELEMENTS // max(b * model.conv1.out_channels * h * w, 1))

    @property
    def activations(self) -> torch.Tensor:
        """The post-ReLU maps of the layer, [B, C, h, w], on the model's device."""
        return self.record.top(self.layer)[1]

    @torch.no_grad()
    def project(
        self,
        features: int | Sequence[int] | None = None,
        *,
        method: str = "deconvnet",
        unpool: str = "switches",
        keep: str = "map",
    ) -> torch.Tensor:
        """[B, F, 3, H, W] on the images' device; see `project` for the options."""
        _check_options(method, unpool, keep)
        feats = _feature_list(features, LAYERS[self.layer].channels)
        if not feats:
            b, _, h, w = self.record.z1.shape
            return self.record.z1.new_zeros(b, 0, 3, h, w).to(self.out_device)
        parts = [
            _down(self.model, self.record, self.layer, feats[i : i + self._step], keep, method, unpool)
            for i in range(0, len(feats), self._step)
        ]
        out = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        return out.to(self.out_device)


def project(
    model: SeedNet,
    images: torch.Tensor,
    layer: str,
    features: int | Sequence[int] | None = None,
    *,
    method: str = "deconvnet",
    unpool: str = "switches",
    keep: str = "map",
) -> torch.Tensor:
    """Project features of `layer` for each image to pixel space: [B, F, 3, H, W] on the images' device.

    method: "deconvnet" (Zeiler & Fergus: unpool, rectify, transposed filters, no biases), "guided"
    (guided backpropagation) or "gradient" (d/dx of 0.5 * sum(map^2)). unpool: "switches" (back to
    where each max was found) or "fill" (the seed's: the whole 2x2 square; deconvnet only).
    keep: "map" (the whole feature map) or "max" (only its strongest activation).
    """
    _check_options(method, unpool, keep)
    return Projector(model, images, layer).project(features, method=method, unpool=unpool, keep=keep)


@torch.no_grad()
def activations(model: SeedNet, images: torch.Tensor, layer: str) -> torch.Tensor:
    """The post-ReLU feature maps of `layer`: [B, C, h, w] on the images' device."""
    param = model.conv1.weight
    rec = forward_record(model, images.to(device=param.device, dtype=param.dtype), layer)
    return rec.top(layer)[1].to(images.device)


@torch.no_grad()
def predict(model: SeedNet, images: torch.Tensor) -> torch.Tensor:
    """Class probabilities (softmax of the logits, dropout off): [B, classes] on the images' device."""
    param = model.conv1.weight
    was_training = model.training
    model.eval()
    try:
        logits = model(images.to(device=param.device, dtype=param.dtype))
    finally:
        model.train(was_training)
    return logits.softmax(1).to(images.device)
